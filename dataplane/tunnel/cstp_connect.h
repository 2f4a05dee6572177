// The CONNECT /CSCOSSLC/tunnel exchange (PROTOCOL.md §4): the client's X-CSTP-*/X-DTLS-*
// request headers, the "HTTP/1.1 200 CONNECTED" response headers, and the MTU rule.
//
// Used by the TLS worker threads of tunnelgate-dataplane, after http_request.h returned a
// CONNECT request and before the stream switches to CSTP framing (cstp_frame.h).
// Pure C++; no exceptions escape.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/tunnel/http_request.h"

namespace tg::tunnel {

namespace cstp_connect {
/// X-DTLS-Master-Secret: 48 random bytes as 96 hex digits (legacy DTLS only; ignored in PSK mode).
inline constexpr size_t kDtlsMasterSecretBytes = 48;
/// X-DTLS-App-ID: openconnect accepts 1..32 bytes (2..64 hex digits) as the DTLS session_id.
inline constexpr size_t kMaxAppIdBytes = 32;
/// openconnect passes at most 3 DNS servers (IPv4 + IPv6) to vpnc-script.
inline constexpr size_t kMaxDnsServers = 3;
/// Longest header value kept from the request (cipher lists are ~200 bytes).
inline constexpr size_t kMaxHeaderValueBytes = 1024;
/// Longest X-CSTP-Hostname (a DNS name).
inline constexpr size_t kMaxHostnameBytes = 255;
/// At most this many tokens are kept from a cipher or encoding list.
inline constexpr size_t kMaxListTokens = 32;
/// Most split routes one response carries (each is one header line).
inline constexpr size_t kMaxSplitRoutes = 256;
/// The cipher-suite token that selects PSK-NEGOTIATE DTLS (§6.1).
inline constexpr std::string_view kPskNegotiate = "PSK-NEGOTIATE";
}  // namespace cstp_connect

/// What the client asked for in its CONNECT headers. Every field is optional: with
/// --no-dtls no X-DTLS-* header is sent; X-CSTP-Address only comes on a reconnect.
struct CstpConnectRequest {
  std::optional<std::string> session_cookie;     ///< Cookie: webvpn=<value>
  std::optional<uint32_t> cstp_version;          ///< X-CSTP-Version
  std::optional<std::string> hostname;           ///< X-CSTP-Hostname (client's host name)
  std::optional<uint16_t> base_mtu;              ///< X-CSTP-Base-MTU (client's TCP PMTU)
  std::optional<uint16_t> mtu;                   ///< X-CSTP-MTU (hint only)
  bool address_type_sent = false;                ///< X-CSTP-Address-Type present
  bool wants_ipv4 = true;                        ///< "IPv4" in X-CSTP-Address-Type (or header absent)
  bool wants_ipv6 = false;                       ///< "IPv6" in X-CSTP-Address-Type
  bool full_ipv6_capability = false;             ///< X-CSTP-Full-IPv6-Capability: true
  std::optional<uint32_t> previous_ipv4;         ///< X-CSTP-Address (IPv4, host byte order), reconnect
  std::optional<std::string> previous_ipv6;      ///< X-CSTP-Address containing ':' (validated), reconnect
  std::vector<std::string> cstp_accept_encoding; ///< X-CSTP-Accept-Encoding tokens (we compress nothing)
  std::vector<std::string> dtls_accept_encoding; ///< X-DTLS-Accept-Encoding tokens
  std::optional<std::array<uint8_t, cstp_connect::kDtlsMasterSecretBytes>> dtls_master_secret;
  std::vector<std::string> dtls_cipher_suites;   ///< X-DTLS-CipherSuite, split on ':'
  std::vector<std::string> dtls12_cipher_suites; ///< X-DTLS12-CipherSuite, split on ':'

  /// The client offered DTLS at all (any cipher-suite header).
  bool dtls_offered() const { return !dtls_cipher_suites.empty() || !dtls12_cipher_suites.empty(); }
  /// The client offered PSK-NEGOTIATE DTLS, the only DTLS mode tunnelgate serves.
  bool dtls_psk_negotiate() const;
};

enum class CstpConnectError : uint8_t {
  kNone,
  kNotConnect,        ///< not a CONNECT request
  kDuplicateHeader,   ///< a header we read appears more often than allowed
  kBadValue,          ///< a value that is not what the header carries
  kValueTooLong,
};

struct CstpConnectParseResult {
  CstpConnectError error = CstpConnectError::kNone;
  std::string message;          ///< names the header; safe to log (no values)
  CstpConnectRequest request;   ///< valid when ok()
  bool ok() const { return error == CstpConnectError::kNone; }
};

/// Reads the X-CSTP-*/X-DTLS-* headers and the webvpn cookie of a CONNECT request.
/// Header names are matched case-insensitively; unknown headers are ignored. A missing
/// cookie is not an error here (the worker answers 401).
/// @return the fields, or kBadValue/kDuplicateHeader/kValueTooLong/kNotConnect (answer 400).
/// Thread-safety: pure function.
CstpConnectParseResult cstp_connect_parse(const HttpRequest& request);

// ---------------------------------------------------------------------------------------
// MTU (§4.4, §6.8)

namespace cstp_mtu {
inline constexpr uint16_t kIpv4HeaderBytes = 20;
inline constexpr uint16_t kUdpHeaderBytes = 8;
inline constexpr uint16_t kDtlsRecordHeaderBytes = 13;
inline constexpr uint16_t kGcmExplicitNonceBytes = 8;
inline constexpr uint16_t kAeadTagBytes = 16;
/// The 1-byte packet type in front of every DTLS payload (§6.7).
inline constexpr uint16_t kDtlsTypeByte = 1;
/// RFC 791: every IPv4 link carries 576-byte datagrams; no hint lowers the link below it.
inline constexpr uint16_t kMinLinkMtu = 576;
}  // namespace cstp_mtu

/// The DTLS record protection our DTLS server will negotiate (its overhead sets the MTU).
enum class DtlsRecordCipher : uint8_t {
  kNone,               ///< no DTLS offered: CSTP only
  kAesGcm,             ///< 13 header + 8 explicit nonce + 16 tag = 37
  kChaCha20Poly1305,   ///< 13 header + 16 tag = 29 (RFC 7905: no explicit nonce)
};

/// DTLS record overhead in bytes (0 for kNone).
uint16_t dtls_record_overhead(DtlsRecordCipher cipher);

struct CstpMtuInputs {
  uint16_t configured_link_mtu = 1500;       ///< our outside link MTU
  std::optional<uint16_t> client_base_mtu;   ///< X-CSTP-Base-MTU
  std::optional<uint16_t> tcp_path_mtu;      ///< our TCP_INFO estimate, if any
  DtlsRecordCipher dtls_cipher = DtlsRecordCipher::kNone;
};

struct CstpMtu {
  uint16_t link_mtu = 0;    ///< sent as X-CSTP-Base-MTU
  uint16_t tunnel_mtu = 0;  ///< sent as X-CSTP-MTU; also our tun/inner MTU for this session
};

/// ocserv's rule: link = min(configured, client base MTU, TCP PMTU), never below
/// kMinLinkMtu; tunnel = link − IPv4 − UDP − DTLS record overhead − 1 type byte with DTLS,
/// link − IPv4 − UDP without (1500 → 1434 AES-GCM, 1442 ChaCha20, 1472 none).
/// Thread-safety: pure function.
CstpMtu cstp_compute_mtu(const CstpMtuInputs& inputs);

// ---------------------------------------------------------------------------------------
// Response (§4.2–§4.4)

/// X-CSTP-Rekey-Method / X-DTLS-Rekey-Method. Debian wolfSSL cannot renegotiate, so
/// tunnelgate sends new-tunnel or nothing (§7.1); kSsl exists only for completeness.
enum class CstpRekeyMethod : uint8_t { kNone, kNewTunnel, kSsl };

/// An IPv4 prefix in host byte order, sent as "a.b.c.d/m.m.m.m" like ocserv.
struct Ipv4Route {
  uint32_t network = 0;
  uint8_t prefix_len = 0;   ///< 0..32; host bits of network must be zero
};

/// DTLS part of the response (PSK-NEGOTIATE mode). Off unless the worker fills it in.
struct CstpDtlsOffer {
  uint16_t port = 0;                  ///< X-DTLS-Port
  std::vector<uint8_t> app_id;        ///< X-DTLS-App-ID, 1..32 bytes, new per CONNECT
  uint32_t dpd_seconds = 0;           ///< X-DTLS-DPD
  uint32_t keepalive_seconds = 0;     ///< X-DTLS-Keepalive
  CstpRekeyMethod rekey_method = CstpRekeyMethod::kNone;
  uint32_t rekey_time_seconds = 0;    ///< X-DTLS-Rekey-Time (ocserv: CSTP value + 10)
};

/// Everything the 200 CONNECTED response tells the client.
struct CstpTunnelParams {
  uint32_t address = 0;                    ///< X-CSTP-Address (host order); required
  uint32_t netmask = 0;                    ///< X-CSTP-Netmask (host order, contiguous); required
  std::vector<uint32_t> dns_servers;       ///< X-CSTP-DNS, at most kMaxDnsServers
  /// X-CSTP-Default-Domain: one DNS name or a space-separated search list; empty = none.
  std::string default_domain;
  std::vector<Ipv4Route> split_include;    ///< X-CSTP-Split-Include (empty = tunnel all)
  std::vector<Ipv4Route> split_exclude;    ///< X-CSTP-Split-Exclude
  CstpMtu mtu;                             ///< from cstp_compute_mtu; tunnel_mtu required
  uint32_t dpd_seconds = 0;                ///< X-CSTP-DPD (0 = off)
  uint32_t keepalive_seconds = 0;          ///< X-CSTP-Keepalive (0 = off)
  std::optional<uint32_t> idle_timeout_seconds;  ///< X-CSTP-Idle-Timeout; nullopt = "none"
  uint32_t session_timeout_seconds = 0;    ///< X-CSTP-Session-Timeout (0 = not sent)
  uint32_t session_timeout_remaining_seconds = 0;  ///< X-CSTP-Session-Timeout-Remaining (0 = not sent)
  CstpRekeyMethod rekey_method = CstpRekeyMethod::kNone;
  uint32_t rekey_time_seconds = 0;         ///< required (> 0) unless rekey_method is kNone
  std::string server_name = "tunnelgate";  ///< X-CSTP-Server-Name (informational)
  std::optional<CstpDtlsOffer> dtls;       ///< DTLS headers; nullopt = CSTP only (default)
};

struct CstpConnectBuildResult {
  bool ok = false;
  std::string message;   ///< names the offending field when !ok
  std::string bytes;     ///< "HTTP/1.1 200 CONNECTED\r\n" ... "\r\n" when ok
};

/// Builds the CONNECT response header block. Header names are exactly as openconnect
/// compares them (case-sensitive, §4.3); "Name: value" with one space; a blank line ends it
/// and CSTP framing starts with the next byte.
/// @return the bytes, or !ok with a message (zero address/MTU, non-contiguous netmask,
///         prefix with host bits, too many DNS servers or routes, bad domain characters,
///         App-ID size, rekey time missing, DTLS port 0).
/// Thread-safety: pure function.
CstpConnectBuildResult cstp_connect_build_response(const CstpTunnelParams& params);

/// "a.b.c.d" of a host-order IPv4 address.
std::string ipv4_to_string(uint32_t address);

/// Parses a dotted quad ("198.51.100.50": four decimal octets 0..255, no leading zeros
/// beyond a single "0"). @return host-order address, or nullopt.
std::optional<uint32_t> ipv4_from_string(std::string_view text);

}  // namespace tg::tunnel
