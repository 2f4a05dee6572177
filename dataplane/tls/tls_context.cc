// Server wolfSSL context from config::TlsConfig. Runs at startup and on certificate rotation
// (any thread); never on a worker's hot path.
#include "dataplane/tls/tls_context.h"

// options.h first: it carries the feature macros Debian's libwolfssl was built with; without
// it the struct layouts in ssl.h would not match the library.
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include <algorithm>
#include <functional>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>

namespace tg::dp::tls {
namespace {

void library_init_once() {
  // wolfSSL_Init is reference-counted, but not safe against concurrent first calls.
  static std::once_flag once;
  std::call_once(once, [] { wolfSSL_Init(); });
}

enum class FileFormat { pem, der, pkcs12 };

/// What a certificate or key file holds, judged from its first bytes; or an error text.
struct FileProbe {
  FileFormat format = FileFormat::pem;
  std::string error;
};

FileProbe probe_file(const std::string& path) {
  FileProbe probe;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    probe.error = std::strerror(errno);
    return probe;
  }
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  if (head.empty()) {
    probe.error = "the file is empty";
  } else if (head.find("-----BEGIN") != std::string::npos) {
    probe.format = FileFormat::pem;
  } else if (static_cast<uint8_t>(head[0]) == 0x30) {
    // A DER SEQUENCE. PKCS#12 is a SEQUENCE too, starting with INTEGER 3 (its version);
    // a certificate or key starts with a nested SEQUENCE or INTEGER 0/1.
    size_t at = 1;
    const uint8_t len0 = static_cast<uint8_t>(head.size() > 1 ? head[1] : 0);
    at += (len0 & 0x80) ? 1 + (len0 & 0x7f) : 1;
    const bool pkcs12 = head.size() > at + 2 && head[at] == 0x02 && head[at + 1] == 0x01 &&
                        head[at + 2] == 0x03;
    probe.format = pkcs12 ? FileFormat::pkcs12 : FileFormat::der;
  } else {
    probe.error = "neither PEM nor DER";
  }
  return probe;
}

int wolf_file_type(FileFormat format) {
  return format == FileFormat::der ? WOLFSSL_FILETYPE_ASN1 : WOLFSSL_FILETYPE_PEM;
}

/// wolfSSL's file loaders return WOLFSSL_SUCCESS, WOLFSSL_FAILURE or a negative code; for
/// FAILURE the reason sits in the (per-thread) error queue.
std::string wolf_reason(int ret) {
  int code = ret;
  if (ret == WOLFSSL_FAILURE) {
    const unsigned long queued = wolfSSL_ERR_get_error();
    code = queued != 0 ? -static_cast<int>(queued & 0xFFFFFF) : ret;
  }
  wolfSSL_ERR_clear_error();
  return tls_error_string(code) + " (" + std::to_string(code) + ")";
}

/// Records the outcome for every certificate of the client's chain and always accepts:
/// the decision is the control plane's (docs: README "client certificates").
/// Debian's build has WOLFSSL_ALWAYS_VERIFY_CB and WOLFSSL_VERIFY_CB_ALL_CERTS, so this runs
/// for every certificate of the chain, verified or not.
int verify_record_and_accept(int preverify_ok, WOLFSSL_X509_STORE_CTX* store) {
  if (store == nullptr) return 1;
  auto* verdict = static_cast<ClientCertVerdict*>(store->userCtx);
  if (verdict != nullptr) {
    verdict->callback_ran = true;
    if (!preverify_ok && !verdict->failed) {
      verdict->failed = true;
      verdict->error = wolfSSL_X509_STORE_CTX_get_error(store);
      verdict->error_depth = wolfSSL_X509_STORE_CTX_get_error_depth(store);
    }
  }
  return 1;
}

/// One direction of an in-memory transport for self_test_handshake().
struct MemoryPipe {
  std::string bytes;
  size_t head = 0;
};
struct MemoryEnds {
  MemoryPipe* in;
  MemoryPipe* out;
};

int memory_recv(WOLFSSL*, char* buf, int size, void* arg) {
  MemoryPipe& in = *static_cast<MemoryEnds*>(arg)->in;
  const size_t available = in.bytes.size() - in.head;
  if (available == 0) return WOLFSSL_CBIO_ERR_WANT_READ;
  const size_t n = std::min(available, static_cast<size_t>(size));
  std::memcpy(buf, in.bytes.data() + in.head, n);
  in.head += n;
  return static_cast<int>(n);
}

int memory_send(WOLFSSL*, char* buf, int size, void* arg) {
  static_cast<MemoryEnds*>(arg)->out->bytes.append(buf, static_cast<size_t>(size));
  return size;
}

/// A handshake between `server_ctx` and a throw-away client in memory, with the given
/// client protocol version. Debian's wolfSSL_CTX_check_private_key() accepts another key of
/// the same curve (only the type is compared), so this is what proves that the key signs
/// for the certificate: the client checks the server's signature (TLS 1.2 ServerKeyExchange,
/// TLS 1.3 CertificateVerify) with the certificate's public key.
/// @return 0, or the wolfSSL error of whichever side failed.
int self_test_handshake(WOLFSSL_CTX* server_ctx, WOLFSSL_METHOD* client_method) {
  WOLFSSL_CTX* client_ctx = wolfSSL_CTX_new(client_method);
  if (client_ctx == nullptr) return MEMORY_E;
  wolfSSL_CTX_set_verify(client_ctx, WOLFSSL_VERIFY_NONE, nullptr);  // the chain is not the point
  WOLFSSL* client = wolfSSL_new(client_ctx);
  WOLFSSL* server = wolfSSL_new(server_ctx);
  int error = MEMORY_E;
  if (client != nullptr && server != nullptr) {
    MemoryPipe to_server, to_client;
    MemoryEnds client_ends{&to_client, &to_server}, server_ends{&to_server, &to_client};
    for (WOLFSSL* ssl : {client, server}) {
      wolfSSL_SSLSetIORecv(ssl, memory_recv);
      wolfSSL_SSLSetIOSend(ssl, memory_send);
    }
    wolfSSL_SetIOReadCtx(client, &client_ends);
    wolfSSL_SetIOWriteCtx(client, &client_ends);
    wolfSSL_SetIOReadCtx(server, &server_ends);
    wolfSSL_SetIOWriteCtx(server, &server_ends);
    bool client_done = false, server_done = false;
    error = 0;
    for (int round = 0; round < 16 && !(client_done && server_done) && error == 0; ++round) {
      if (!client_done) {
        const int ret = wolfSSL_connect(client);
        client_done = ret == WOLFSSL_SUCCESS;
        const int e = client_done ? 0 : wolfSSL_get_error(client, ret);
        if (!client_done && e != WOLFSSL_ERROR_WANT_READ) error = e;
      }
      if (!server_done && error == 0) {
        const int ret = wolfSSL_accept(server);
        server_done = ret == WOLFSSL_SUCCESS;
        const int e = server_done ? 0 : wolfSSL_get_error(server, ret);
        if (!server_done && e != WOLFSSL_ERROR_WANT_READ) error = e;
      }
    }
    if (error == 0 && !(client_done && server_done)) error = FATAL_ERROR;
  }
  if (server != nullptr) wolfSSL_free(server);
  if (client != nullptr) wolfSSL_free(client);
  wolfSSL_CTX_free(client_ctx);
  wolfSSL_ERR_clear_error();
  return error;
}

int min_version_code(const std::string& text) {
  if (text == "1.2") return WOLFSSL_TLSV1_2;
  if (text == "1.3") return WOLFSSL_TLSV1_3;
  return -1;
}

}  // namespace

std::string_view to_string(ClientCertStatus status) {
  switch (status) {
    case ClientCertStatus::not_requested: return "not_requested";
    case ClientCertStatus::absent: return "absent";
    case ClientCertStatus::trusted: return "trusted";
    case ClientCertStatus::untrusted: return "untrusted";
  }
  return "?";
}

void tls_thread_exit() { wc_ecc_fp_free(); }

std::string tls_error_string(int code) {
  char text[WOLFSSL_MAX_ERROR_SZ] = {};
  wolfSSL_ERR_error_string_n(static_cast<unsigned long>(code), text, sizeof text);
  // Positive codes are X509 verify results; wolfSSL's table covers the negative ones.
  if (code > 0) {
    const char* x509 = wolfSSL_X509_verify_cert_error_string(code);
    if (x509 != nullptr && *x509 != '\0') return x509;
  }
  return text;
}

TlsContext::~TlsContext() {
  if (ctx_ != nullptr) wolfSSL_CTX_free(ctx_);
}

/// Puts the certificate chain and key into `ctx` and checks they match; "" or why not.
using CredentialLoader = std::function<std::string(WOLFSSL_CTX* ctx)>;

struct TlsContextBuilder {
  static TlsContextResult create(const config::TlsConfig& tls, const TlsContextOptions& options,
                                 const std::string& certificate_name, const std::string& key_name,
                                 const CredentialLoader& load);
};

namespace {
TlsContextResult context_create(const config::TlsConfig& tls, const TlsContextOptions& options,
                                const std::string& certificate_name, const std::string& key_name,
                                const CredentialLoader& load) {
  return TlsContextBuilder::create(tls, options, certificate_name, key_name, load);
}
}  // namespace

TlsContextResult TlsContextBuilder::create(const config::TlsConfig& tls, const TlsContextOptions& options,
                                           const std::string& certificate_name, const std::string& key_name,
                                           const CredentialLoader& load) {
  library_init_once();
  TlsContextResult result;
  auto fail = [&result](std::string message) {
    result.context.reset();
    result.error = std::move(message);
    return std::move(result);
  };

  const int min_version = min_version_code(tls.min_version);
  if (min_version < 0) {
    return fail("tls.min_version: \"" + tls.min_version +
                "\" is not supported (expected \"1.2\" or \"1.3\")");
  }
  // Owned by `context` from here on, so every early return frees it.
  std::shared_ptr<TlsContext> context(new TlsContext());
  context->certificate_file_ = certificate_name;
  context->request_client_cert_ = tls.request_client_cert;
  context->ctx_ = wolfSSL_CTX_new(wolfSSLv23_server_method());
  if (context->ctx_ == nullptr) return fail("wolfSSL_CTX_new failed (out of memory)");
  WOLFSSL_CTX* ctx = context->ctx_;

  if (int ret = wolfSSL_CTX_SetMinVersion(ctx, min_version); ret != WOLFSSL_SUCCESS) {
    return fail("tls.min_version: \"" + tls.min_version + "\": " + wolf_reason(ret));
  }
  // TODO(tls): key isolation (DESIGN.md): sign through the control plane with the PK
  // callbacks (HAVE_PK_CALLBACKS is on in Debian's build) instead of loading the key here.
  if (std::string err = load(ctx); !err.empty()) return fail(std::move(err));

  const std::string ciphers = tls.ciphers.empty() ? std::string(kDefaultCipherList) : tls.ciphers;
  if (int ret = wolfSSL_CTX_set_cipher_list(ctx, ciphers.c_str()); ret != WOLFSSL_SUCCESS) {
    return fail("tls.ciphers \"" + ciphers + "\": no usable cipher suite: " + wolf_reason(ret));
  }

  // No resumption: neither the session cache (TLS 1.2 ids) nor tickets (1.2 and 1.3). A
  // resumed session skips the client-certificate check, so its verdict would be stale, and
  // the workers would need a shared ticket key. Every connection does a full handshake.
  wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
  wolfSSL_CTX_NoTicketTLSv12(ctx);
  wolfSSL_CTX_no_ticket_TLSv13(ctx);

  // Prove the key and the cipher list work with the certificate: a 1.2 handshake when 1.2
  // is allowed (the ciphers may be 1.2-only), else or if that fails (1.3-only ciphers) 1.3.
  int self_test_error = min_version == WOLFSSL_TLSV1_2
                            ? self_test_handshake(ctx, wolfTLSv1_2_client_method())
                            : -1;
  if (self_test_error != 0) self_test_error = self_test_handshake(ctx, wolfTLSv1_3_client_method());
  if (self_test_error == MATCH_SUITE_ERROR) {
    return fail("tls.ciphers \"" + ciphers + "\": no suite usable with the certificate " +
                certificate_name);
  }
  if (self_test_error != 0) {
    return fail(key_name + ": does not match the certificate " + certificate_name +
                " (a test handshake failed: " + tls_error_string(self_test_error) + " (" +
                std::to_string(self_test_error) + "))");
  }

  if (tls.request_client_cert) {
    if (!options.client_ca_pem.empty()) {
      if (int ret = wolfSSL_CTX_load_verify_buffer(
              ctx, reinterpret_cast<const unsigned char*>(options.client_ca_pem.data()),
              static_cast<long>(options.client_ca_pem.size()), WOLFSSL_FILETYPE_PEM);
          ret != WOLFSSL_SUCCESS) {
        return fail("auth.ca " + options.client_ca_file + ": " + wolf_reason(ret));
      }
    } else if (!options.client_ca_file.empty()) {
      if (int ret = wolfSSL_CTX_load_verify_locations(ctx, options.client_ca_file.c_str(),
                                                      nullptr);
          ret != WOLFSSL_SUCCESS) {
        return fail("auth.ca " + options.client_ca_file + ": " + wolf_reason(ret));
      }
    }
    // VERIFY_PEER without FAIL_IF_NO_PEER_CERT: ask, never insist; the callback accepts.
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, verify_record_and_accept);
  } else {
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, nullptr);
  }

  result.context = std::move(context);
  return result;
}

TlsContextResult tls_context_create(const config::TlsConfig& tls,
                                    const TlsContextOptions& options) {
  if (tls.certificate.empty()) return {nullptr, "tls.certificate: no certificate file configured"};
  if (tls.key.empty()) return {nullptr, "tls.key: no key file configured"};
  // PEM or DER files (PKCS#12 is read by crypto/server_cert.h and given as credentials).
  return context_create(tls, options, tls.certificate, "tls.key " + tls.key, [&tls](WOLFSSL_CTX* ctx) -> std::string {
    const FileProbe cert_probe = probe_file(tls.certificate);
    if (!cert_probe.error.empty()) {
      return ("tls.certificate " + tls.certificate + ": " + cert_probe.error);
    }
    if (cert_probe.format == FileFormat::pkcs12) {
      return ("tls.certificate " + tls.certificate +
                  ": PKCS#12 is not loaded by the TLS workers (convert it to PEM)");
    }
    if (int ret = wolfSSL_CTX_use_certificate_chain_file_format(ctx, tls.certificate.c_str(),
                                                                wolf_file_type(cert_probe.format));
        ret != WOLFSSL_SUCCESS) {
      return ("tls.certificate " + tls.certificate + ": " + wolf_reason(ret));
    }

    const FileProbe key_probe = probe_file(tls.key);
    if (!key_probe.error.empty()) return ("tls.key " + tls.key + ": " + key_probe.error);
    if (key_probe.format == FileFormat::pkcs12) {
      return ("tls.key " + tls.key + ": PKCS#12 is not loaded by the TLS workers");
    }
    if (int ret = wolfSSL_CTX_use_PrivateKey_file(ctx, tls.key.c_str(),
                                                  wolf_file_type(key_probe.format));
        ret != WOLFSSL_SUCCESS) {
      return ("tls.key " + tls.key + ": " + wolf_reason(ret));
    }
    if (int ret = wolfSSL_CTX_check_private_key(ctx); ret != WOLFSSL_SUCCESS) {
      return ("tls.key " + tls.key + ": does not match the certificate " + tls.certificate +
                  ": " + wolf_reason(ret));
    }

    return {};
  });
}

TlsContextResult tls_context_create(const config::TlsConfig& tls, const TlsContextOptions& options,
                                    const TlsServerCredentials& creds) {
  return context_create(tls, options, creds.name, creds.name + " key", [&creds](WOLFSSL_CTX* ctx) -> std::string {
    if (int ret = wolfSSL_CTX_use_certificate_chain_buffer(
            ctx, reinterpret_cast<const unsigned char*>(creds.chain_pem.data()),
            static_cast<long>(creds.chain_pem.size()));
        ret != WOLFSSL_SUCCESS) {
      return creds.name + ": certificate chain: " + wolf_reason(ret);
    }
    if (int ret = wolfSSL_CTX_use_PrivateKey_buffer(ctx, creds.key_der.data(),
                                                    static_cast<long>(creds.key_der.size()),
                                                    WOLFSSL_FILETYPE_ASN1);
        ret != WOLFSSL_SUCCESS) {
      return creds.name + ": private key: " + wolf_reason(ret);
    }
    if (int ret = wolfSSL_CTX_check_private_key(ctx); ret != WOLFSSL_SUCCESS) {
      return creds.name + ": the key does not match the certificate: " + wolf_reason(ret);
    }
    return {};
  });
}

void tls_session_attach(WOLFSSL* ssl, ClientCertVerdict* verdict) {
  // The verify callback finds it in WOLFSSL_X509_STORE_CTX::userCtx.
  wolfSSL_SetCertCbCtx(ssl, verdict);
}

ClientCertInfo tls_session_client_cert(WOLFSSL* ssl, const TlsContext& context,
                                       const ClientCertVerdict& verdict) {
  ClientCertInfo info;
  if (!context.requests_client_cert()) return info;
  // SESSION_CERTS (on in Debian's build) keeps the chain the client sent in the session.
  if (WOLFSSL_X509_CHAIN* chain = wolfSSL_get_peer_chain(ssl); chain != nullptr) {
    const int count = wolfSSL_get_chain_count(chain);
    for (int i = 0; i < count; ++i) {
      const unsigned char* der = wolfSSL_get_chain_cert(chain, i);
      const int length = wolfSSL_get_chain_length(chain, i);
      if (der != nullptr && length > 0) info.chain_der.emplace_back(der, der + length);
    }
  }
  // Debian's build runs the verify callback even when the client sends no certificate
  // (WOLFSSL_ALWAYS_VERIFY_CB), so "absent" is judged from the chain.
  if (info.chain_der.empty()) {
    info.status = ClientCertStatus::absent;
  } else if (!verdict.callback_ran) {
    // A chain nobody verified (cannot happen with this context's flags): never "trusted".
    info.status = ClientCertStatus::untrusted;
  } else if (verdict.failed) {
    info.status = ClientCertStatus::untrusted;
    info.verify_error = verdict.error;
    info.verify_error_text = tls_error_string(verdict.error);
    info.verify_error_depth = verdict.error_depth;
  } else {
    info.status = ClientCertStatus::trusted;
  }
  return info;
}

}  // namespace tg::dp::tls
