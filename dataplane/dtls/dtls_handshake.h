// The server side of OpenConnect's DTLS PSK-NEGOTIATE handshake (PROTOCOL.md §6), with
// wolfSSL, over datagrams the caller moves: no sockets, no clock, no DPDK.
//
//   client                                   DtlsHandshake (wolfSSL DTLS 1.2 server)
//   ClientHello (record 0xfeff, no cookie) ─►
//                                         ◄─ HelloVerifyRequest (cookie; wolfSSL keeps no state)
//   ClientHello (message_seq 1, cookie)   ─►
//                                         ◄─ ServerHello, ServerHelloDone (no identity hint,
//                                            no ServerKeyExchange: plain PSK)
//   ClientKeyExchange("psk"), CCS, Finished ─►
//                                         ◄─ CCS, Finished                          → kDone
//
// The caller (the DTLS handshake thread) feeds every datagram from the peer to
// on_datagram(), sends what comes back, arms a timer for retransmit_timeout() and calls
// on_timeout() when it fires. After kDone, export_keys() hands over the epoch-1 record keys:
// from then on the fast path (crypto::RecordAead) protects the records.
//
// Our last flight (CCS, Finished) may be lost. The client then retransmits its own last
// flight, and RFC 6347 §4.2.4 wants the server to answer with its flight again. wolfSSL
// 5.5.4 does not: once its handshake is done it drops every epoch-0 record ("plaintext on an
// established connection") and ignores a repeated Finished. So the handshake keeps the
// datagrams of its last flight and, after kDone, answers a retransmitted client Finished
// (an epoch-1 handshake record that authenticates under the client's keys, with a sequence
// number not seen before) with byte-identical copies of them, at most kMaxFinalFlightResends
// times. Identical copies reuse no nonce with new data, and wolfSSL is never asked to send
// anything after kDone, so export_keys() can start the fast path right after the highest
// epoch-1 sequence number the handshake sent. Keep the handshake for a few seconds after
// kDone (or until the first authenticated record from the client reaches the fast path),
// feeding it the client's handshake records.
//
// A wrong PSK: DTLS drops a record that does not authenticate without a word, so wolfSSL
// would drop the client's Finished and wait for the timer. The handshake decrypts the
// client's epoch-1 handshake record itself with the client keys wolfSSL derived from the
// ClientKeyExchange and fails at once with bad_psk. (A record forged with the client's
// address can end a handshake this way, as a forged plaintext alert can anyway.)
//
// Cookie (HelloVerifyRequest): wolfSSL 5.5.4 computes the DTLS 1.2 cookie itself
// (src/dtls.c CreateDtlsCookie): HMAC-SHA256 keyed with the connection's cookie secret over
// the peer address given to wolfSSL_dtls_set_peer and the hello's version, random,
// session_id, cipher suites and compression methods. It never calls the
// wolfSSL_CTX_SetGenCookie callback for DTLS 1.2. So the context's random secret is set on
// every connection (wolfSSL_DTLS_SetCookieSecret) and the peer ip:port is given as a
// sockaddr_in: a cookie is bound to the client's address and is valid for any handshake of
// the same context. The callback is registered as well (HMAC-SHA256 over ip:port with the
// same secret) for wolfSSL builds that use it.
//
// Thread-safety: a DtlsServerContext and its handshakes belong to one thread (wolfSSL
// objects are not shared); handshakes of different contexts may run on different threads.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "crypto/dtls_record_keys.h"
#include "crypto/record_aead.h"

// Forward declarations, so that this header needs no wolfSSL include (ssl.h's typedefs).
struct WOLFSSL;
struct WOLFSSL_CTX;

namespace tg::dtls {

/// The client's UDP address (host byte order).
struct DtlsPeer {
  uint32_t ip = 0;
  uint16_t port = 0;
};

// Why a handshake failed: one table, with stable names for logs and counters.
#define TG_DTLS_HANDSHAKE_FAILURES(X)                                                     \
  X(kNone, "none")                                                                        \
  X(kBadPsk, "bad_psk")                   /* the client's Finished does not authenticate */ \
  X(kAlert, "alert")                      /* the client sent a fatal alert */             \
  X(kMalformed, "malformed")              /* wolfSSL could not parse a message */         \
  X(kTimeout, "timeout")                  /* retransmissions exhausted */                 \
  X(kNoSharedCipher, "no_shared_cipher")  /* none of our suites in the hello */           \
  X(kVersion, "version")                  /* not DTLS 1.2 */                              \
  X(kProtocol, "protocol")                /* any other handshake error */                 \
  X(kInternal, "internal")                /* memory, RNG, key export */

enum class HandshakeFailure : uint8_t {
#define TG_DTLS_HANDSHAKE_FAILURE_ENUM(name, text) name,
  TG_DTLS_HANDSHAKE_FAILURES(TG_DTLS_HANDSHAKE_FAILURE_ENUM)
#undef TG_DTLS_HANDSHAKE_FAILURE_ENUM
  kCount,
};

/// Short stable name, e.g. "bad_psk".
const char* handshake_failure_name(HandshakeFailure failure);

/// One WOLFSSL_CTX: a DTLS 1.2 server with plain-PSK AEAD suites only, no certificate, no
/// session cache, no session tickets, and a random cookie secret of its own.
class DtlsServerContext {
 public:
  /// Plain-PSK AEAD suites, in our order of preference (ocserv chose AES-256-GCM, §6.5).
  static constexpr std::array<const char*, 3> kPskAeadSuites = {
      "PSK-AES256-GCM-SHA384", "PSK-AES128-GCM-SHA256", "PSK-CHACHA20-POLY1305"};

  /// @param ciphers colon-separated wolfSSL suite names, each one of kPskAeadSuites; empty
  ///        = every suite of kPskAeadSuites this wolfSSL build has (wolfSSL_get_ciphers):
  ///        Debian's libwolfssl 5.5.4 has only PSK-CHACHA20-POLY1305, the plain-PSK AES-GCM
  ///        suites need a wolfSSL built with WOLFSSL_STATIC_PSK.
  /// @param error why it failed: a name not in kPskAeadSuites, a suite this build lacks,
  ///        an empty result, or a wolfSSL/RNG failure.
  /// @return the context, or nullptr.
  static std::unique_ptr<DtlsServerContext> create(const std::string& ciphers,
                                                   std::string* error);
  ~DtlsServerContext();
  DtlsServerContext(const DtlsServerContext&) = delete;
  DtlsServerContext& operator=(const DtlsServerContext&) = delete;

  /// What was enabled, colon-separated (for the startup log).
  const std::string& cipher_list() const { return cipher_list_; }

  WOLFSSL_CTX* native() const { return ctx_; }
  const std::array<uint8_t, 32>& cookie_secret() const { return cookie_secret_; }

 private:
  DtlsServerContext() = default;

  WOLFSSL_CTX* ctx_ = nullptr;
  std::string cipher_list_;
  std::array<uint8_t, 32> cookie_secret_{};
};

/// One server-side handshake with one client.
class DtlsHandshake {
 public:
  enum class Status : uint8_t { kInProgress, kDone, kFailed };

  /// How often the last flight is sent again after kDone (see the top).
  static constexpr uint32_t kMaxFinalFlightResends = 8;
  /// Retransmission timer: wolfSSL starts at 1 s and doubles it after each timeout; a timeout
  /// at the maximum fails the handshake. 1+2+4+8 = 15 s, past openconnect's 12 s give-up
  /// (gnutls-dtls.c dtls_try_handshake).
  static constexpr int kRetransmitInitialSeconds = 1;
  static constexpr int kRetransmitMaxSeconds = 8;
  static constexpr size_t kPskBytes = 32;

  /// @param ctx outlives the handshake.
  /// @param peer the client's address: the HelloVerifyRequest cookie is bound to it.
  /// @param psk 32 bytes: the TLS exporter of the client's CSTP session (§6.2). The identity
  ///        the client sends ("psk") is not looked at.
  /// @param error why it failed.
  /// @return the handshake, or nullptr.
  static std::unique_ptr<DtlsHandshake> create(DtlsServerContext& ctx, DtlsPeer peer,
                                               std::span<const uint8_t> psk, std::string* error);
  ~DtlsHandshake();
  DtlsHandshake(const DtlsHandshake&) = delete;
  DtlsHandshake& operator=(const DtlsHandshake&) = delete;

  /// One datagram from the peer. Datagrams to send back are appended to *out, each one
  /// UDP payload. After kDone it only answers a retransmitted client Finished with our last
  /// flight again (anything else that reaches it is dropped: application data belongs to
  /// the fast path). After kFailed it does nothing.
  Status on_datagram(std::span<const uint8_t> datagram, std::vector<std::vector<uint8_t>>* out);

  /// The retransmission timer expired (wolfSSL_dtls_got_timeout): may append
  /// retransmissions; kFailed ("timeout") when the timer is at its maximum. Does nothing
  /// after kDone or kFailed.
  Status on_timeout(std::vector<std::vector<uint8_t>>* out);

  /// When to call on_timeout() after the last call (wolfSSL_dtls_get_current_timeout).
  std::chrono::milliseconds retransmit_timeout() const;

  Status status() const { return status_; }

  /// After kDone: the epoch-1 record keys; tx_next_sequence is one above the highest
  /// epoch-1 sequence number the handshake sent (its Finished). May be called again.
  bool export_keys(crypto::DtlsRecordKeys* out, std::string* error);

  /// "none" until kFailed, then the reason (handshake_failure_name).
  const char* failure_reason() const { return handshake_failure_name(failure_); }
  HandshakeFailure failure() const { return failure_; }
  /// The wolfSSL error behind the failure, for the log ("" when none).
  const std::string& failure_detail() const { return failure_detail_; }

  /// wolfSSL's name of the negotiated suite, e.g. "PSK-CHACHA20-POLY1305" ("" before the
  /// ServerHello).
  std::string cipher_name() const;

  DtlsPeer peer() const { return peer_; }

  // ---- what the handshake sent, for tests and diagnostics ----

  /// A HelloVerifyRequest went out (the first answer to a hello without a valid cookie).
  bool sent_hello_verify_request() const { return sent_hello_verify_request_; }
  /// Highest sequence number the handshake sent in epoch 1 (its Finished and their
  /// retransmissions); false when it sent nothing in epoch 1 yet.
  bool highest_epoch1_sequence_sent(uint64_t* out) const;
  /// How often the last flight was sent again after kDone.
  uint32_t final_flight_resends() const { return final_flight_resends_; }

 private:
  friend struct HandshakeIo;  // wolfSSL's I/O, PSK and cookie callbacks (the .cc)

  DtlsHandshake() = default;

  Status drive();
  void note_incoming(std::span<const uint8_t> datagram);
  bool client_finished_unauthenticated(std::span<const uint8_t> datagram);
  void on_done(std::span<const uint8_t> datagram, size_t first_sent);
  void resend_final_flight_if_asked(std::span<const uint8_t> datagram);
  void fail(HandshakeFailure failure, std::string detail);
  void fail_from_wolfssl(int error);

  WOLFSSL* ssl_ = nullptr;
  DtlsPeer peer_;
  std::array<uint8_t, kPskBytes> psk_{};
  const std::array<uint8_t, 32>* cookie_secret_ = nullptr;  ///< the context's
  Status status_ = Status::kInProgress;
  HandshakeFailure failure_ = HandshakeFailure::kNone;
  std::string failure_detail_;

  // I/O of the current call: the datagram wolfSSL may read (once) and where sends go.
  std::span<const uint8_t> pending_;
  bool pending_unread_ = false;
  std::vector<std::vector<uint8_t>>* out_ = nullptr;

  bool seen_client_key_exchange_ = false;
  bool sent_hello_verify_request_ = false;
  bool sent_epoch1_ = false;
  uint64_t highest_epoch1_sequence_ = 0;
  // After kDone: our last flight, and the highest epoch-1 handshake record of the client.
  std::vector<std::vector<uint8_t>> final_flight_;
  uint64_t client_finished_sequence_ = 0;
  uint32_t final_flight_resends_ = 0;
  std::unique_ptr<crypto::RecordAead> client_write_;  ///< authenticates a retransmitted Finished
};

}  // namespace tg::dtls
