// Server-side wolfSSL context of the TLS workers: built once from config::TlsConfig, shared
// read-only by every worker thread, swappable for certificate rotation.
//
// Why a context per certificate generation and not a mutable one: wolfSSL contexts are not
// safe to modify while other threads create sessions from them, and a WOLFSSL keeps its own
// reference to the WOLFSSL_CTX it came from, so replacing the pointer that *new* handshakes
// read (TlsContextHolder) rotates certificates without touching established connections.
//
// Client certificates: when requested, the handshake never fails because of them (absent,
// untrusted, expired...). A verify callback records the verdict on the session and accepts;
// the control plane takes the decision from the verdict and the DER chain (ClientCertInfo).
//
// Errors are returned, never thrown: every message names the file involved and wolfSSL's
// error string.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

// wolfSSL types, declared here so that including this header does not pull in wolfSSL's
// headers (which must be included after <wolfssl/options.h>, see tls_context.cc).
struct WOLFSSL_CTX;
struct WOLFSSL;

namespace tg::dp::tls {

/// The cipher list used when config::TlsConfig::ciphers is empty: the three TLS 1.3 AEAD
/// suites, and for TLS 1.2 only ECDHE key exchange with an AEAD (GCM, ChaCha20-Poly1305).
inline constexpr std::string_view kDefaultCipherList =
    "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:TLS13-CHACHA20-POLY1305-SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/// What a TLS context is built from (beyond config::TlsConfig).
struct TlsContextOptions {
  /// CA bundle (PEM) trusted for client certificates (normally config::AuthConfig::ca).
  /// Empty: a requested client certificate is always reported as untrusted.
  std::string client_ca_file;
  /// The same bundle already read as PEM (any format, crypto/server_cert.h cert_list_load);
  /// when set it is used instead of reading client_ca_file (which then only names it).
  std::string client_ca_pem;
};

/// Outcome of the client-certificate check of one handshake.
enum class ClientCertStatus : uint8_t {
  not_requested,  ///< the context does not ask for client certificates
  absent,         ///< asked, the client sent none
  trusted,        ///< the chain verified against client_ca_file
  untrusted,      ///< sent but did not verify (unknown CA, expired, bad signature...)
};
std::string_view to_string(ClientCertStatus status);

/// The client certificate of an established connection (valid after the handshake).
struct ClientCertInfo {
  ClientCertStatus status = ClientCertStatus::not_requested;
  int verify_error = 0;           ///< wolfSSL/X509 error of the first failure (untrusted only)
  std::string verify_error_text;  ///< its text, e.g. "ASN no signer error to confirm failure"
  int verify_error_depth = 0;     ///< chain depth of the first failure (0 = the leaf)
  std::vector<std::vector<uint8_t>> chain_der;  ///< as sent by the client, leaf first
};

/// Per-session verify state. Owned by whoever owns the WOLFSSL (the worker's connection);
/// attached with tls_session_attach() before the handshake, read after it.
struct ClientCertVerdict {
  bool callback_ran = false;  ///< the client sent at least one certificate
  bool failed = false;        ///< some certificate of the chain did not verify
  int error = 0;
  int error_depth = 0;
};

struct TlsContextResult;
struct TlsContextBuilder;

/// An immutable server context. Thread-safety: const methods may be called from any thread;
/// wolfSSL_new() on the same WOLFSSL_CTX from several threads is safe (wolfSSL takes the
/// context's reference count under its own mutex).
class TlsContext {
 public:
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  /// The wolfSSL context. Do not modify it: other threads are creating sessions from it.
  WOLFSSL_CTX* native() const { return ctx_; }
  bool requests_client_cert() const { return request_client_cert_; }
  /// Files this context was loaded from (for logs and for rotation decisions).
  const std::string& certificate_file() const { return certificate_file_; }

 private:
  friend struct TlsContextBuilder;  // tls_context.cc: fills a new context
  TlsContext() = default;
  WOLFSSL_CTX* ctx_ = nullptr;
  bool request_client_cert_ = false;
  std::string certificate_file_;
};

using TlsContextPtr = std::shared_ptr<const TlsContext>;

/// Result of tls_context_create(): exactly one of `context` and `error` is set.
struct TlsContextResult {
  TlsContextPtr context;
  std::string error;  ///< e.g. "tls.key /etc/tg/server.key: does not match the certificate ..."
  bool ok() const { return context != nullptr; }
};

/// Build a server context: TLS 1.2 and 1.3 (from tls.min_version), certificate chain and key
/// (PEM or DER, detected from the content; PKCS#12 is refused with a message: it is opened
/// by the control plane), tls.ciphers or kDefaultCipherList, client certificates when
/// tls.request_client_cert, no session resumption (see README: a resumed session would carry
/// no fresh client-certificate verdict).
/// @return the context, or an error naming the config key, the file and wolfSSL's reason.
/// Thread-safety: may be called from any thread (wolfSSL_Init is done once, guarded).
TlsContextResult tls_context_create(const config::TlsConfig& tls, const TlsContextOptions& options);

/// A server certificate chain and key already read and validated (crypto/server_cert.h:
/// PEM, DER, PKCS#12), for tls_context_create() below.
struct TlsServerCredentials {
  std::string name;              ///< for messages and logs, e.g. "tls.second_certificate /etc/tg/b.pem"
  std::string chain_pem;         ///< leaf first (cert_bundle_chain_pem)
  std::vector<uint8_t> key_der;  ///< unencrypted DER (PKCS#8 or traditional)
};

/// As above, with the certificate chain and key from `creds` instead of tls.certificate and
/// tls.key.
TlsContextResult tls_context_create(const config::TlsConfig& tls, const TlsContextOptions& options,
                                    const TlsServerCredentials& creds);

/// Attach `verdict` to a new session, before its handshake; the verify callback writes into
/// it. `verdict` must outlive the handshake. Worker thread of the session only.
void tls_session_attach(WOLFSSL* ssl, ClientCertVerdict* verdict);

/// Collect the client certificate of a finished handshake (chain from wolfSSL's session,
/// status from the verdict filled during the handshake).
ClientCertInfo tls_session_client_cert(WOLFSSL* ssl, const TlsContext& context,
                                       const ClientCertVerdict& verdict);

/// Free this thread's wolfSSL per-thread state. Debian's build caches ECC fixed-point
/// tables per thread (FP_ECC + HAVE_THREAD_LS); a thread that did ECC (a handshake, or
/// tls_context_create's self-test) and then exits without this leaks them. TlsWorker::run()
/// calls it before returning; call it at the end of any other thread that used wolfSSL.
void tls_thread_exit();

/// wolfSSL's text for an error code (negative wolfSSL codes and X509 verify codes).
std::string tls_error_string(int code);

/// The context new handshakes use. Thread-safety: current() and replace() may be called
/// from any thread concurrently. A connection keeps the TlsContextPtr it was created with,
/// so replacing never affects established sessions; the old context is freed when its last
/// session ends.
class TlsContextHolder {
 public:
  explicit TlsContextHolder(TlsContextPtr initial) : current_(std::move(initial)) {}

  /// The context for a new handshake. Once per accepted connection, never per packet:
  /// libstdc++'s atomic<shared_ptr> takes a short internal spin lock.
  TlsContextPtr current() const { return current_.load(std::memory_order_acquire); }
  /// Publish a new context (e.g. after certificate rotation). acquire/release: a worker
  /// that sees the new pointer sees the fully built context behind it.
  void replace(TlsContextPtr next) { current_.store(std::move(next), std::memory_order_release); }

 private:
  std::atomic<TlsContextPtr> current_;
};

}  // namespace tg::dp::tls
