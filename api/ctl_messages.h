// Contract: the messages between the dataplane's TLS workers and tunnelgate-controlplane.
//
// Every auth decision is made by the control plane. A worker sends a request on its own
// request ring (api/ctl_segment.h) and gets the answer on its own response ring:
//
//   type                 value  direction  payload               answer
//   auth_password         0x01  W -> C     AuthPasswordPayload   auth_result
//   auth_cert             0x02  W -> C     AuthCertPayload       auth_result
//   session_open          0x03  W -> C     SessionOpenPayload    session_params
//   session_close         0x04  W -> C     SessionClosePayload   session_close_ack
//   ping                  0x05  W -> C     PingPayload           pong
//   auth_token            0x06  W -> C     AuthTokenPayload      auth_result
//   session_resync        0x07  W -> C     SessionResyncPayload  session_resync_ack
//   auth_result           0x81  C -> W     AuthResultPayload     -
//   session_params        0x82  C -> W     SessionParamsPayload  -
//   session_close_ack     0x83  C -> W     SessionCloseAckPayload -
//   pong                  0x84  C -> W     PingPayload           -
//   session_terminate     0x85  C -> W     SessionTerminatePayload (unsolicited, request_id 0)
//   error                 0x86  C -> W     ErrorPayload          (the request was rejected)
//   config_reload         0x87  C -> W     ConfigReloadPayload   (unsolicited, request_id 0)
//   session_resync_ack    0x88  C -> W     SessionResyncAckPayload -
//
// Resync (docs/auth.md, "Control-plane crash and resync"): when a worker sees a control plane
// it has not served before (CtlServerBlock::start_ns changed), it reports every tunnel it
// holds with one SESSION_RESYNC each, then one with kResyncDone and no session; the control
// plane adopts each tunnel's session (same id and cookie) or refuses it, and the worker then
// closes a refused tunnel.
//
// Layout rules (the numbers are part of kCtlVersion): a message is a CtlHeader followed by
// exactly ctl_payload_size(type) payload bytes; integers are in the host's native byte
// order (both processes run on one machine) and IPv4 addresses in host byte order, as in
// api/stats_shm.h; every string is a fixed char array that must contain a NUL; reserved
// bytes are written as zero and ignored on read. Changing any of this bumps kCtlVersion.
//
// Trust: a message is copied out of shared memory and then checked by ctl_decode(), which
// validates magic, version, type, direction, length, every string's NUL and every count,
// enum and address family, and never reads past the bytes it is given. Semantic checks
// (user name syntax, cookie format, worker id matching the ring) are the receiver's job.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <span>
#include <string_view>
#include <type_traits>

namespace tg::ctl {

inline constexpr uint32_t kCtlMagic = 0x31434754;  // "TGC1" little-endian
inline constexpr uint16_t kCtlVersion = 3;  // 3: session_resync

/// Workers that may talk to the control plane (one pair of rings each).
inline constexpr uint32_t kCtlMaxWorkers = 16;

// Field sizes, in bytes, including the terminating NUL of strings.
inline constexpr size_t kCtlNameSize = 128;      ///< user, group, app: at most 127 characters
inline constexpr size_t kCtlPasswordSize = 256;  ///< at most 255 bytes
inline constexpr size_t kCtlReasonSize = 128;    ///< human-readable reason, for logs and clients
inline constexpr size_t kCtlCookieSize = 72;     ///< 64 hex digits + NUL, padded to 8
inline constexpr size_t kCtlCookieHexLen = 64;   ///< 32 random bytes, lower-case hex
inline constexpr size_t kCtlDomainSize = 256;    ///< DNS search domain
inline constexpr size_t kCtlMaxCertDer = 4096;   ///< client (leaf) certificate, DER
inline constexpr size_t kCtlMaxChainDer = 8192;  ///< intermediates, concatenated DER (optional)
inline constexpr size_t kCtlMaxRoutes = 64;      ///< split-include routes per session
inline constexpr size_t kCtlMaxDns = 4;          ///< DNS servers per session (openconnect uses 3)
inline constexpr size_t kCtlMaxToken = 8192;     ///< bearer token (JWT), compact serialisation

enum class CtlType : uint16_t {
  auth_password = 0x01,
  auth_cert = 0x02,
  session_open = 0x03,
  session_close = 0x04,
  ping = 0x05,
  auth_token = 0x06,
  session_resync = 0x07,
  auth_result = 0x81,
  session_params = 0x82,
  session_close_ack = 0x83,
  pong = 0x84,
  session_terminate = 0x85,
  error = 0x86,
  config_reload = 0x87,
  session_resync_ack = 0x88,
};
/// Bit set in every control-plane-to-worker type.
inline constexpr uint16_t kCtlResponseBit = 0x80;

enum class CtlDirection : uint8_t {
  to_control_plane,  ///< requests (worker -> control plane)
  to_worker,         ///< responses and notices (control plane -> worker)
};

/// Outcome of a request.
enum class CtlResult : uint8_t {
  ok = 0,
  denied = 1,     ///< final: wrong credentials, unknown cookie, policy
  try_again = 2,  ///< transient: control plane down or busy, limit reached; retry later
  error = 3,      ///< the request was malformed or the control plane failed internally
};
inline constexpr uint8_t kCtlResultCount = 4;

/// Why: a machine-readable reason next to every result (metric label, HTTP status choice).
/// Append only (the values are part of kCtlVersion).
#define TG_CTL_REASONS(X)                                                                   \
  X(none, "none")                             /* success */                                 \
  X(bad_credentials, "bad_credentials")       /* unknown user or wrong password */          \
  X(rate_limited, "rate_limited")             /* too many failures for this user name */    \
  X(group_not_allowed, "group_not_allowed")   /* the user may not use that auth group */   \
  X(method_disabled, "method_disabled")       /* auth method not in auth.methods */         \
  X(cert_unknown_ca, "cert_unknown_ca")       /* no chain to a configured CA */            \
  X(cert_expired, "cert_expired")             /* notAfter in the past */                    \
  X(cert_not_yet_valid, "cert_not_yet_valid") /* notBefore in the future */                 \
  X(cert_bad_signature, "cert_bad_signature") /* signature does not verify */               \
  X(cert_malformed, "cert_malformed")         /* not parseable DER */                       \
  X(cert_no_user, "cert_no_user")             /* no user name in the configured field */    \
  X(cookie_invalid, "cookie_invalid")         /* unknown, expired or logged-out cookie */   \
  X(session_limit, "session_limit")           /* limits.max_sessions reached */             \
  X(pool_exhausted, "pool_exhausted")         /* no free address in the app's pool */       \
  X(no_app, "no_app")                         /* no app for this client (default_app) */    \
  X(no_pool, "no_pool")                       /* the app has no usable pool */              \
  X(control_plane_down, "control_plane_down") /* worker-side: no heartbeat */               \
  X(timeout, "timeout")                       /* worker-side: no answer in time */          \
  X(overloaded, "overloaded")                 /* a ring was full */                         \
  X(malformed_request, "malformed_request")   /* ctl_decode() rejected the request */       \
  X(internal, "internal")                     /* control-plane failure (RNG, I/O) */        \
  X(stale_session, "stale_session")           /* close for a tunnel already replaced */    \
  X(unknown_app, "unknown_app")               /* the credential names an app not configured */ \
  X(token_malformed, "token_malformed")       /* not a JWS compact token we can parse */    \
  X(token_unknown_key, "token_unknown_key")   /* no JWKS key for its kid/alg */             \
  X(token_bad_signature, "token_bad_signature") /* signature does not verify */             \
  X(token_expired, "token_expired")           /* exp (plus skew) in the past */             \
  X(token_not_yet_valid, "token_not_yet_valid") /* nbf/iat (minus skew) in the future */    \
  X(token_bad_issuer, "token_bad_issuer")     /* iss is not auth.token_issuer */           \
  X(token_bad_audience, "token_bad_audience") /* aud does not hold auth.token_audience */  \
  X(token_no_user, "token_no_user")           /* no string user claim */                    \
  X(cert_revoked, "cert_revoked")             /* listed in the CRL (auth.crl) */           \
  X(crl_expired, "crl_expired")               /* CRL past nextUpdate, auth.crl_fail_open off */ \
  X(address_in_use, "address_in_use")         /* resync: another session holds the address */ \
  X(address_not_in_pool, "address_not_in_pool") /* resync: not a usable address of the app's pool */ \
  X(duplicate_session, "duplicate_session")   /* resync: the session id or cookie is taken */ \
  X(resync_in_progress, "resync_in_progress") /* workers still report their tunnels: retry */ \
  X(source_rate_limited, "source_rate_limited") /* too many failures from this address */

enum class CtlReason : uint16_t {
#define TG_X(e, label) e,
  TG_CTL_REASONS(TG_X)
#undef TG_X
      count
};
inline constexpr uint16_t kCtlReasonCount = static_cast<uint16_t>(CtlReason::count);

/// Why a tunnel ended (SESSION_CLOSE from the worker, SESSION_TERMINATE from the control plane).
enum class CtlCloseReason : uint8_t {
  client_logout = 0,      ///< CSTP BYE with reason 0xb0: the session and its cookie end now
  client_disconnect = 1,  ///< TCP closed or empty BYE: the session stays for reconnects
  dpd_timeout = 2,        ///< dead peer: the session stays for reconnects (network change)
  idle_timeout = 3,       ///< no traffic for the idle timeout: the session ends
  server_shutdown = 4,    ///< the dataplane is stopping: the session stays for reconnects
  replaced = 5,           ///< a newer CONNECT with the same cookie took the session over
  error = 6,              ///< worker-side failure: the session stays for reconnects
  admin = 7,              ///< disconnected by an operator: the session ends
};
inline constexpr uint8_t kCtlCloseReasonCount = 8;

/// A client's transport address. family 0 = not known.
struct CtlAddress {
  uint8_t family;     ///< 0, 4 or 6
  uint8_t reserved;
  uint16_t port;      ///< host byte order
  uint8_t bytes[16];  ///< network byte order; IPv4 uses bytes[0..3]
};
static_assert(sizeof(CtlAddress) == 20);

/// Common header of every message.
struct CtlHeader {
  uint32_t magic;        ///< kCtlMagic
  uint16_t version;      ///< kCtlVersion
  uint16_t type;         ///< CtlType
  uint32_t payload_len;  ///< == ctl_payload_size(type)
  uint32_t worker_id;    ///< sending/receiving worker, < kCtlMaxWorkers
  uint64_t request_id;   ///< chosen by the worker, echoed in the answer; 0 only in notices
  uint64_t session_id;   ///< session the message is about (0 before session_open)
};
static_assert(sizeof(CtlHeader) == 32);

/// AUTH_PASSWORD: a username/password login (PROTOCOL.md §3.4).
struct AuthPasswordPayload {
  char user[kCtlNameSize];
  char password[kCtlPasswordSize];
  char group[kCtlNameSize];  ///< auth group chosen by the client ("" = none)
  CtlAddress client;
  uint32_t reserved;
};
static_assert(sizeof(AuthPasswordPayload) == 536);

/// AUTH_CERT: a client certificate presented in the TLS handshake (PROTOCOL.md §3.8).
struct AuthCertPayload {
  CtlAddress client;
  uint32_t cert_len;   ///< 1..kCtlMaxCertDer
  uint32_t chain_len;  ///< 0..kCtlMaxChainDer
  uint32_t reserved;
  char group[kCtlNameSize];
  uint8_t cert_der[kCtlMaxCertDer];
  uint8_t chain_der[kCtlMaxChainDer];  ///< intermediates as concatenated DER, any order
};
static_assert(sizeof(AuthCertPayload) == 12448);

/// AUTH_RESULT: answer to AUTH_PASSWORD and AUTH_CERT.
struct AuthResultPayload {
  uint8_t result;   ///< CtlResult
  uint8_t reserved;
  uint16_t reason;  ///< CtlReason
  uint32_t reserved2;
  char reason_text[kCtlReasonSize];
  char cookie[kCtlCookieSize];  ///< the `webvpn` cookie when result is ok, else ""
  char user[kCtlNameSize];      ///< authenticated user name
  char group[kCtlNameSize];     ///< auth group the session belongs to
  char app[kCtlNameSize];       ///< app id whose policy the session gets ("" = none configured)
};
static_assert(sizeof(AuthResultPayload) == 592);

/// AUTH_TOKEN: a bearer token (JWT) from an `Authorization: Bearer` header or the password
/// field of the auth form (as Microsoft Tunnel's MAM SDK sends an Azure AD token).
struct AuthTokenPayload {
  CtlAddress client;
  uint32_t token_len;  ///< 1..kCtlMaxToken bytes of token (no NUL needed)
  char group[kCtlNameSize];  ///< auth group chosen by the client ("" = none)
  char token[kCtlMaxToken];
};
static_assert(sizeof(AuthTokenPayload) == 8344);

/// SESSION_OPEN: `CONNECT /CSCOSSLC/tunnel` with a cookie. The worker is the header's worker_id.
struct SessionOpenPayload {
  char cookie[kCtlCookieSize];
  CtlAddress client;
  uint32_t reserved;
};
static_assert(sizeof(SessionOpenPayload) == 96);

struct CtlRouteV4 {
  uint32_t network;    ///< host byte order, host bits zero
  uint8_t prefix_len;  ///< 0..32
  uint8_t reserved[3];
};
static_assert(sizeof(CtlRouteV4) == 8);

/// SESSION_PARAMS: answer to SESSION_OPEN; what the worker puts in the X-CSTP-* headers.
/// The header's session_id is the session; (session_id, attach_seq) names this tunnel.
struct SessionParamsPayload {
  uint8_t result;   ///< CtlResult
  uint8_t n_dns;    ///< 0..kCtlMaxDns
  uint16_t reason;  ///< CtlReason
  uint16_t n_routes;  ///< 0..kCtlMaxRoutes
  uint16_t mtu;       ///< tunnel MTU (X-CSTP-MTU upper bound)
  uint32_t attach_seq;  ///< increases with every CONNECT of this session
  uint32_t ipv4;        ///< client's tunnel address, host byte order
  uint32_t netmask;     ///< host byte order
  uint32_t dpd_s;
  uint32_t keepalive_s;
  uint32_t idle_timeout_s;      ///< 0 = none
  uint32_t lifetime_remaining_s;  ///< until the cookie expires (X-CSTP-Session-Timeout)
  uint32_t reserved;
  uint32_t dns[kCtlMaxDns];     ///< host byte order
  CtlRouteV4 routes[kCtlMaxRoutes];  ///< split-include
  char search_domain[kCtlDomainSize];
  char reason_text[kCtlReasonSize];
  char user[kCtlNameSize];
  char group[kCtlNameSize];
  char app[kCtlNameSize];
};
static_assert(sizeof(SessionParamsPayload) == 1336);

/// SESSION_CLOSE: a tunnel ended. The header's session_id is the session.
struct SessionClosePayload {
  uint8_t reason;  ///< CtlCloseReason
  uint8_t reserved[3];
  uint32_t attach_seq;  ///< from SESSION_PARAMS: a close of a replaced tunnel is ignored
  uint64_t rx_bytes;    ///< from the client
  uint64_t tx_bytes;    ///< to the client
  uint64_t rx_packets;
  uint64_t tx_packets;
};
static_assert(sizeof(SessionClosePayload) == 40);

struct SessionCloseAckPayload {
  uint8_t result;  ///< CtlResult (denied + stale_session for an unknown or replaced tunnel)
  uint8_t reserved;
  uint16_t reason;  ///< CtlReason
  uint32_t reserved2;
};
static_assert(sizeof(SessionCloseAckPayload) == 8);

/// PING / PONG: liveness round trip; the control plane echoes sent_ns.
struct PingPayload {
  uint64_t sent_ns;
};
static_assert(sizeof(PingPayload) == 8);

/// SESSION_TERMINATE: the control plane tells the worker holding (session_id, attach_seq) to
/// close that tunnel (a newer CONNECT reused the cookie). The worker answers nothing; it
/// closes the tunnel and sends SESSION_CLOSE with reason `replaced`.
struct SessionTerminatePayload {
  uint8_t reason;  ///< CtlCloseReason
  uint8_t reserved[3];
  uint32_t attach_seq;
  char reason_text[kCtlReasonSize];
};
static_assert(sizeof(SessionTerminatePayload) == 136);

/// CONFIG_RELOAD: the control plane loaded a new configuration (tunnelgatectl reload); the
/// dataplane does what SIGHUP does: re-reads services and apps from the same file and swaps
/// its policy tables, and re-reads the TLS certificate files. Sent to worker 0 only; the
/// dataplane reports the policy generation it runs in its stats segment.
struct ConfigReloadPayload {
  uint64_t generation;  ///< the control plane's reload counter (for logs)
};
static_assert(sizeof(ConfigReloadPayload) == 8);

/// SESSION_RESYNC: a tunnel the worker holds, reported to a control plane that attached after
/// the one that opened it (it knows no sessions). The header's session_id is the session (0
/// in the kResyncDone message, which carries nothing else). The control plane answers
/// SESSION_RESYNC_ACK: ok = adopted; denied + reason = refused (the worker closes the tunnel).
inline constexpr uint8_t kResyncDone = 0x01;  ///< flags: this worker has reported every tunnel
struct SessionResyncPayload {
  uint8_t flags;  ///< kResyncDone or 0; other bits are refused by the decoder
  uint8_t reserved[3];
  uint32_t attach_seq;  ///< from SESSION_PARAMS
  uint32_t ipv4;        ///< the tunnel address, host byte order
  uint32_t reserved2;
  uint64_t expires_ns;  ///< CLOCK_MONOTONIC ns when the session's lifetime ends (from
                        ///< SESSION_PARAMS' lifetime_remaining_s)
  CtlAddress client;    ///< the client's transport address
  uint32_t reserved3;
  char cookie[kCtlCookieSize];
  char user[kCtlNameSize];
  char group[kCtlNameSize];
  char app[kCtlNameSize];
};
static_assert(sizeof(SessionResyncPayload) == 504);

/// SESSION_RESYNC_ACK: answer to SESSION_RESYNC (session_id echoed).
struct SessionResyncAckPayload {
  uint8_t result;  ///< CtlResult: ok (adopted, or the done marker taken), denied (refused)
  uint8_t reserved;
  uint16_t reason;  ///< CtlReason
  uint32_t reserved2;
  char reason_text[kCtlReasonSize];
};
static_assert(sizeof(SessionResyncAckPayload) == 136);

/// ERROR: the request with this request_id was rejected before it reached a handler.
struct ErrorPayload {
  uint16_t decode_error;  ///< CtlDecodeError
  uint16_t reason;        ///< CtlReason
  uint32_t reserved;
  char reason_text[kCtlReasonSize];
};
static_assert(sizeof(ErrorPayload) == 136);

/// A whole message, as it is built and as ctl_decode() returns it. Only the first
/// sizeof(CtlHeader) + header.payload_len bytes travel.
struct CtlMessage {
  CtlHeader header;
  union Payload {
    AuthPasswordPayload auth_password;
    AuthCertPayload auth_cert;
    AuthTokenPayload auth_token;
    AuthResultPayload auth_result;
    SessionOpenPayload session_open;
    SessionParamsPayload session_params;
    SessionClosePayload session_close;
    SessionCloseAckPayload session_close_ack;
    PingPayload ping;  ///< also PONG
    SessionTerminatePayload session_terminate;
    ErrorPayload error;
    ConfigReloadPayload config_reload;
    SessionResyncPayload session_resync;
    SessionResyncAckPayload session_resync_ack;
    uint8_t raw[sizeof(AuthCertPayload)];
  } payload;
};
static_assert(offsetof(CtlMessage, payload) == sizeof(CtlHeader));
static_assert(std::is_trivially_copyable_v<CtlMessage> && std::is_standard_layout_v<CtlMessage>);
inline constexpr size_t kCtlMaxPayload = sizeof(CtlMessage::Payload);
inline constexpr size_t kCtlMaxRequestBytes = sizeof(CtlHeader) + sizeof(AuthCertPayload);
inline constexpr size_t kCtlMaxResponseBytes = sizeof(CtlHeader) + sizeof(SessionParamsPayload);
static_assert(kCtlMaxPayload == 12448 && kCtlMaxRequestBytes == 12480 &&
              kCtlMaxResponseBytes == 1368);

/// Every reason ctl_decode() rejects bytes. Append only.
#define TG_CTL_DECODE_ERRORS(X)                                                            \
  X(ok, "ok")                                                                              \
  X(truncated_header, "truncated_header")         /* fewer bytes than a CtlHeader */       \
  X(bad_magic, "bad_magic")                                                                \
  X(bad_version, "bad_version")                                                            \
  X(unknown_type, "unknown_type")                                                          \
  X(wrong_direction, "wrong_direction")           /* a response where a request belongs */ \
  X(bad_payload_length, "bad_payload_length")     /* payload_len != size of the type */    \
  X(truncated_payload, "truncated_payload")       /* fewer bytes than payload_len */       \
  X(trailing_bytes, "trailing_bytes")             /* more bytes than payload_len */        \
  X(bad_request_id, "bad_request_id")             /* 0 in a request or an answer */        \
  X(bad_worker_id, "bad_worker_id")               /* >= kCtlMaxWorkers */                  \
  X(unterminated_string, "unterminated_string")   /* a char array without NUL */           \
  X(bad_enum, "bad_enum")                /* result, reason, close reason, resync flags */ \
  X(bad_address_family, "bad_address_family")     /* not 0, 4 or 6 */                      \
  X(count_out_of_range, "count_out_of_range")     /* cert/chain length, routes, dns */

enum class CtlDecodeError : uint16_t {
#define TG_X(e, label) e,
  TG_CTL_DECODE_ERRORS(TG_X)
#undef TG_X
      count
};
inline constexpr uint16_t kCtlDecodeErrorCount = static_cast<uint16_t>(CtlDecodeError::count);

// ------------------------------------------------------------------------------- functions

/// Payload size of a known type; 0 for an unknown one.
constexpr size_t ctl_payload_size(CtlType type) {
  switch (type) {
    case CtlType::auth_password: return sizeof(AuthPasswordPayload);
    case CtlType::auth_cert: return sizeof(AuthCertPayload);
    case CtlType::session_open: return sizeof(SessionOpenPayload);
    case CtlType::session_close: return sizeof(SessionClosePayload);
    case CtlType::ping: return sizeof(PingPayload);
    case CtlType::auth_token: return sizeof(AuthTokenPayload);
    case CtlType::auth_result: return sizeof(AuthResultPayload);
    case CtlType::session_params: return sizeof(SessionParamsPayload);
    case CtlType::session_close_ack: return sizeof(SessionCloseAckPayload);
    case CtlType::pong: return sizeof(PingPayload);
    case CtlType::session_terminate: return sizeof(SessionTerminatePayload);
    case CtlType::error: return sizeof(ErrorPayload);
    case CtlType::config_reload: return sizeof(ConfigReloadPayload);
    case CtlType::session_resync: return sizeof(SessionResyncPayload);
    case CtlType::session_resync_ack: return sizeof(SessionResyncAckPayload);
  }
  return 0;
}

/// True for the values of CtlType.
constexpr bool ctl_type_is_known(uint16_t type) {
  return ctl_payload_size(static_cast<CtlType>(type)) != 0;
}

constexpr CtlDirection ctl_type_direction(CtlType type) {
  return (static_cast<uint16_t>(type) & kCtlResponseBit) != 0 ? CtlDirection::to_worker
                                                               : CtlDirection::to_control_plane;
}

/// Unsolicited control-plane messages (request_id 0): session_terminate, config_reload.
constexpr bool ctl_type_is_notice(CtlType type) {
  return type == CtlType::session_terminate || type == CtlType::config_reload;
}

/// The answer type of a request type (ERROR may replace any of them); the type itself for
/// types that are not requests.
constexpr CtlType ctl_answer_type(CtlType request) {
  switch (request) {
    case CtlType::auth_password:
    case CtlType::auth_cert:
    case CtlType::auth_token: return CtlType::auth_result;
    case CtlType::session_open: return CtlType::session_params;
    case CtlType::session_close: return CtlType::session_close_ack;
    case CtlType::ping: return CtlType::pong;
    case CtlType::session_resync: return CtlType::session_resync_ack;
    default: return request;
  }
}

/// Stable lower-case name of a type ("auth_password"), "unknown" otherwise (metric label).
inline const char* ctl_type_name(CtlType type) {
  switch (type) {
    case CtlType::auth_password: return "auth_password";
    case CtlType::auth_cert: return "auth_cert";
    case CtlType::session_open: return "session_open";
    case CtlType::session_close: return "session_close";
    case CtlType::ping: return "ping";
    case CtlType::auth_token: return "auth_token";
    case CtlType::auth_result: return "auth_result";
    case CtlType::session_params: return "session_params";
    case CtlType::session_close_ack: return "session_close_ack";
    case CtlType::pong: return "pong";
    case CtlType::session_terminate: return "session_terminate";
    case CtlType::error: return "error";
    case CtlType::config_reload: return "config_reload";
    case CtlType::session_resync: return "session_resync";
    case CtlType::session_resync_ack: return "session_resync_ack";
  }
  return "unknown";
}

/// Label of a reason ("bad_credentials"), "unknown" when out of range.
inline const char* ctl_reason_name(CtlReason reason) {
  static constexpr const char* kNames[] = {
#define TG_X(e, label) label,
      TG_CTL_REASONS(TG_X)
#undef TG_X
  };
  const auto i = static_cast<uint16_t>(reason);
  return i < kCtlReasonCount ? kNames[i] : "unknown";
}

/// Label of a result ("ok", "denied", "try_again", "error"), "unknown" when out of range.
inline const char* ctl_result_name(CtlResult result) {
  static constexpr const char* kNames[] = {"ok", "denied", "try_again", "error"};
  static_assert(std::size(kNames) == kCtlResultCount);
  const auto i = static_cast<uint8_t>(result);
  return i < kCtlResultCount ? kNames[i] : "unknown";
}

/// Label of a decode error, "unknown" when out of range.
inline const char* ctl_decode_error_name(CtlDecodeError e) {
  static constexpr const char* kNames[] = {
#define TG_X(e, label) label,
      TG_CTL_DECODE_ERRORS(TG_X)
#undef TG_X
  };
  const auto i = static_cast<uint16_t>(e);
  return i < kCtlDecodeErrorCount ? kNames[i] : "unknown";
}

/// Start a message: zero everything, set magic, version, type and payload_len.
inline void ctl_message_init(CtlMessage& msg, CtlType type) {
  std::memset(&msg, 0, sizeof msg);
  msg.header.magic = kCtlMagic;
  msg.header.version = kCtlVersion;
  msg.header.type = static_cast<uint16_t>(type);
  msg.header.payload_len = static_cast<uint32_t>(ctl_payload_size(type));
}

/// Bytes of `msg` that travel: header + payload_len (clamped to the buffer).
inline std::span<const uint8_t> ctl_message_bytes(const CtlMessage& msg) {
  size_t len = sizeof(CtlHeader) + msg.header.payload_len;
  if (len > sizeof(CtlMessage)) len = sizeof(CtlMessage);
  return {reinterpret_cast<const uint8_t*>(&msg), len};
}

/// Copy `value` into a fixed string field. Returns false (and leaves the field "") when the
/// value does not fit with its NUL or contains a NUL byte.
template <size_t N>
bool ctl_set_string(char (&field)[N], std::string_view value) {
  static_assert(N > 0);
  if (value.size() >= N || value.find('\0') != std::string_view::npos) {
    field[0] = '\0';
    return false;
  }
  std::memcpy(field, value.data(), value.size());
  std::memset(field + value.size(), 0, N - value.size());
  return true;
}

/// A string field of a decoded message (ctl_decode() checked its NUL).
template <size_t N>
std::string_view ctl_get_string(const char (&field)[N]) {
  return {field, ::strnlen(field, N)};
}

/// Validate `bytes` (a copy taken out of shared memory) as one message travelling in
/// `direction` and copy it into `out`. On any error `out` may hold a partial copy that must
/// not be used, except out.header when the error is later than bad_payload_length (then
/// the header is valid and the request can be answered with an ERROR message).
/// Never reads outside `bytes`; never trusts a field.
inline CtlDecodeError ctl_decode(std::span<const uint8_t> bytes, CtlDirection direction,
                                 CtlMessage& out);

namespace detail {

template <size_t N>
constexpr bool ctl_terminated(const char (&field)[N]) {
  for (size_t i = 0; i < N; ++i) {
    if (field[i] == '\0') return true;
  }
  return false;
}

template <typename... Fields>
constexpr bool ctl_all_terminated(const Fields&... fields) {
  return (ctl_terminated(fields) && ...);
}

inline bool ctl_address_ok(const CtlAddress& a) {
  return a.family == 0 || a.family == 4 || a.family == 6;
}

inline bool ctl_result_ok(uint8_t r) { return r < kCtlResultCount; }
inline bool ctl_reason_ok(uint16_t r) { return r < kCtlReasonCount; }
inline bool ctl_close_reason_ok(uint8_t r) { return r < kCtlCloseReasonCount; }

/// Checks of one payload type after the header passed.
inline CtlDecodeError ctl_check_payload(const CtlMessage& m) {
  using E = CtlDecodeError;
  const auto& p = m.payload;
  switch (static_cast<CtlType>(m.header.type)) {
    case CtlType::auth_password:
      if (!ctl_all_terminated(p.auth_password.user, p.auth_password.password,
                              p.auth_password.group))
        return E::unterminated_string;
      if (!ctl_address_ok(p.auth_password.client)) return E::bad_address_family;
      return E::ok;
    case CtlType::auth_cert:
      if (!ctl_terminated(p.auth_cert.group)) return E::unterminated_string;
      if (!ctl_address_ok(p.auth_cert.client)) return E::bad_address_family;
      if (p.auth_cert.cert_len == 0 || p.auth_cert.cert_len > kCtlMaxCertDer ||
          p.auth_cert.chain_len > kCtlMaxChainDer)
        return E::count_out_of_range;
      return E::ok;
    case CtlType::auth_token:
      if (!ctl_terminated(p.auth_token.group)) return E::unterminated_string;
      if (!ctl_address_ok(p.auth_token.client)) return E::bad_address_family;
      if (p.auth_token.token_len == 0 || p.auth_token.token_len > kCtlMaxToken)
        return E::count_out_of_range;
      return E::ok;
    case CtlType::session_open:
      if (!ctl_terminated(p.session_open.cookie)) return E::unterminated_string;
      if (!ctl_address_ok(p.session_open.client)) return E::bad_address_family;
      return E::ok;
    case CtlType::session_close:
      if (!ctl_close_reason_ok(p.session_close.reason)) return E::bad_enum;
      return E::ok;
    case CtlType::session_resync: {
      const SessionResyncPayload& r = p.session_resync;
      if (!ctl_all_terminated(r.cookie, r.user, r.group, r.app)) return E::unterminated_string;
      if ((r.flags & ~kResyncDone) != 0) return E::bad_enum;
      if (!ctl_address_ok(r.client)) return E::bad_address_family;
      return E::ok;
    }
    case CtlType::session_resync_ack:
      if (!ctl_terminated(p.session_resync_ack.reason_text)) return E::unterminated_string;
      if (!ctl_result_ok(p.session_resync_ack.result) || !ctl_reason_ok(p.session_resync_ack.reason))
        return E::bad_enum;
      return E::ok;
    case CtlType::ping:
    case CtlType::pong:
    case CtlType::config_reload:
      return E::ok;
    case CtlType::auth_result: {
      const AuthResultPayload& r = p.auth_result;
      if (!ctl_all_terminated(r.reason_text, r.cookie, r.user, r.group, r.app))
        return E::unterminated_string;
      if (!ctl_result_ok(r.result) || !ctl_reason_ok(r.reason)) return E::bad_enum;
      return E::ok;
    }
    case CtlType::session_params: {
      const SessionParamsPayload& s = p.session_params;
      if (!ctl_all_terminated(s.search_domain, s.reason_text, s.user, s.group, s.app))
        return E::unterminated_string;
      if (!ctl_result_ok(s.result) || !ctl_reason_ok(s.reason)) return E::bad_enum;
      if (s.n_routes > kCtlMaxRoutes || s.n_dns > kCtlMaxDns) return E::count_out_of_range;
      for (size_t i = 0; i < s.n_routes; ++i) {
        if (s.routes[i].prefix_len > 32) return E::count_out_of_range;
      }
      return E::ok;
    }
    case CtlType::session_close_ack:
      if (!ctl_result_ok(p.session_close_ack.result) ||
          !ctl_reason_ok(p.session_close_ack.reason))
        return E::bad_enum;
      return E::ok;
    case CtlType::session_terminate:
      if (!ctl_terminated(p.session_terminate.reason_text)) return E::unterminated_string;
      if (!ctl_close_reason_ok(p.session_terminate.reason)) return E::bad_enum;
      return E::ok;
    case CtlType::error:
      if (!ctl_terminated(p.error.reason_text)) return E::unterminated_string;
      if (p.error.decode_error >= kCtlDecodeErrorCount || !ctl_reason_ok(p.error.reason))
        return E::bad_enum;
      return E::ok;
  }
  return E::unknown_type;
}

}  // namespace detail

inline CtlDecodeError ctl_decode(std::span<const uint8_t> bytes, CtlDirection direction,
                                 CtlMessage& out) {
  using E = CtlDecodeError;
  if (bytes.size() < sizeof(CtlHeader)) return E::truncated_header;
  std::memcpy(&out.header, bytes.data(), sizeof(CtlHeader));
  const CtlHeader& h = out.header;
  if (h.magic != kCtlMagic) return E::bad_magic;
  if (h.version != kCtlVersion) return E::bad_version;
  if (!ctl_type_is_known(h.type)) return E::unknown_type;
  const auto type = static_cast<CtlType>(h.type);
  if (ctl_type_direction(type) != direction) return E::wrong_direction;
  if (h.payload_len != ctl_payload_size(type)) return E::bad_payload_length;
  // From here on the header is sound enough to answer with an ERROR message.
  const size_t available = bytes.size() - sizeof(CtlHeader);
  if (available < h.payload_len) return E::truncated_payload;
  if (available > h.payload_len) return E::trailing_bytes;
  // Notices (session_terminate, config_reload) carry no request id; everything else answers
  // or asks one.
  if ((h.request_id == 0) != ctl_type_is_notice(type)) return E::bad_request_id;
  if (h.worker_id >= kCtlMaxWorkers) return E::bad_worker_id;
  std::memcpy(&out.payload, bytes.data() + sizeof(CtlHeader), h.payload_len);
  return detail::ctl_check_payload(out);
}

}  // namespace tg::ctl
