// OpenConnect DTLS PSK-NEGOTIATE handshake, server side, on wolfSSL with in-memory I/O
// (see the header for the message flow, the cookie and the sequence-number reserve).
#include "dataplane/dtls/dtls_handshake.h"

// options.h first: the feature macros Debian's libwolfssl was built with.
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>  // explicit_bzero (glibc)

#include <algorithm>
#include <cstring>
#include <mutex>

#include "crypto/record_aead.h"
#include "dataplane/dtls/dtls_record.h"

namespace tg::dtls {

namespace {

constexpr uint8_t kHandshakeTypeHelloVerifyRequest = 3;
constexpr uint8_t kHandshakeTypeClientKeyExchange = 16;
constexpr size_t kCookieSecretBytes = 32;
constexpr size_t kMillisecondsPerSecond = 1000;

void library_init_once() {
  // wolfSSL_Init is reference-counted but not safe against concurrent first calls.
  static std::once_flag once;
  std::call_once(once, [] { wolfSSL_Init(); });
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(separator, start), text.size());
    if (end > start) parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

/// Every suite name this wolfSSL build knows (wolfSSL_get_ciphers).
std::vector<std::string> wolfssl_suites() {
  std::vector<char> names(16384, '\0');
  if (wolfSSL_get_ciphers(names.data(), static_cast<int>(names.size())) != WOLFSSL_SUCCESS)
    return {};
  return split(names.data(), ':');
}

std::string wolfssl_error_text(int error) {
  char text[WOLFSSL_MAX_ERROR_SZ] = {};
  wolfSSL_ERR_error_string_n(static_cast<unsigned long>(error), text, sizeof text);
  return std::string(text) + " (" + std::to_string(error) + ")";
}

/// Calls f(record) for each well-formed record of a datagram, in order; stops at the first
/// malformed one (its length cannot be trusted).
template <typename F>
void for_each_record(std::span<const uint8_t> datagram, F&& f) {
  size_t offset = 0;
  while (offset < datagram.size()) {
    DtlsRecord record{};
    if (dtls_record_parse(datagram, offset, &record) != DtlsParseError::kOk) return;
    f(record);
    offset = record.next_offset;
  }
}

/// The handshake message type of a plaintext (epoch 0) handshake record, or -1.
int plaintext_handshake_type(const DtlsRecord& record) {
  if (record.type != ContentType::kHandshake || record.epoch != 0 || record.fragment.empty())
    return -1;
  return record.fragment[0];
}

}  // namespace

/// wolfSSL's callbacks, with access to the handshake they work for (friend of DtlsHandshake).
struct HandshakeIo {
  /// Hands wolfSSL the pending datagram once; then "would block".
  static int recv(WOLFSSL*, char* buf, int size, void* ctx) {
    auto* hs = static_cast<DtlsHandshake*>(ctx);
    if (hs == nullptr || !hs->pending_unread_ || hs->pending_.empty() || size <= 0)
      return WOLFSSL_CBIO_ERR_WANT_READ;
    hs->pending_unread_ = false;
    // Like recvfrom() on a short buffer: the datagram is truncated (wolfSSL then drops it).
    const size_t n = std::min(hs->pending_.size(), static_cast<size_t>(size));
    std::memcpy(buf, hs->pending_.data(), n);
    return static_cast<int>(n);
  }

  /// One call = one datagram (wolfSSL flushes before a record would overflow its MTU).
  /// Watches what goes out: the HelloVerifyRequest, and the highest epoch-1 sequence
  /// number, which the fast path must stay above.
  static int send(WOLFSSL*, char* buf, int size, void* ctx) {
    auto* hs = static_cast<DtlsHandshake*>(ctx);
    if (hs == nullptr || size < 0) return WOLFSSL_CBIO_ERR_GENERAL;
    if (hs->out_ == nullptr) return size;  // no caller to send it: as if lost
    const std::span<const uint8_t> datagram(reinterpret_cast<const uint8_t*>(buf),
                                            static_cast<size_t>(size));
    for_each_record(datagram, [&](const DtlsRecord& record) {
      if (plaintext_handshake_type(record) == kHandshakeTypeHelloVerifyRequest)
        hs->sent_hello_verify_request_ = true;
      if (record.epoch == 0) return;
      if (!hs->sent_epoch1_ || record.sequence > hs->highest_epoch1_sequence_)
        hs->highest_epoch1_sequence_ = record.sequence;
      hs->sent_epoch1_ = true;
    });
    hs->out_->emplace_back(datagram.begin(), datagram.end());
    return size;
  }

  /// The client's identity ("psk") is not looked at: the key is the session's (§6.3).
  static unsigned int psk(WOLFSSL* ssl, const char*, unsigned char* key, unsigned int max_len) {
    auto* hs = static_cast<DtlsHandshake*>(wolfSSL_get_psk_callback_ctx(ssl));
    if (hs == nullptr || max_len < hs->psk_.size()) return 0;
    std::memcpy(key, hs->psk_.data(), hs->psk_.size());
    return static_cast<unsigned int>(hs->psk_.size());
  }

  /// HMAC-SHA256(context secret, ip || port). Registered for wolfSSL builds that ask the
  /// application for the DTLS 1.2 cookie; 5.5.4 computes it itself (see the header).
  static int cookie(WOLFSSL*, unsigned char* buf, int size, void* ctx) {
    auto* hs = static_cast<DtlsHandshake*>(ctx);
    if (hs == nullptr || hs->cookie_secret_ == nullptr || size <= 0) return GEN_COOKIE_E;
    uint8_t address[sizeof(uint32_t) + sizeof(uint16_t)];
    const uint32_t ip = htonl(hs->peer_.ip);
    const uint16_t port = htons(hs->peer_.port);
    std::memcpy(address, &ip, sizeof ip);
    std::memcpy(address + sizeof ip, &port, sizeof port);
    uint8_t digest[WC_SHA256_DIGEST_SIZE];
    Hmac hmac;
    if (wc_HmacInit(&hmac, nullptr, INVALID_DEVID) != 0) return GEN_COOKIE_E;
    const bool ok =
        wc_HmacSetKey(&hmac, WC_SHA256, hs->cookie_secret_->data(),
                      static_cast<word32>(hs->cookie_secret_->size())) == 0 &&
        wc_HmacUpdate(&hmac, address, sizeof address) == 0 && wc_HmacFinal(&hmac, digest) == 0;
    wc_HmacFree(&hmac);
    if (!ok) return GEN_COOKIE_E;
    const size_t n = std::min(sizeof digest, static_cast<size_t>(size));
    std::memcpy(buf, digest, n);
    return static_cast<int>(n);
  }
};

const char* handshake_failure_name(HandshakeFailure failure) {
  switch (failure) {
#define TG_DTLS_HANDSHAKE_FAILURE_NAME(name, text) \
  case HandshakeFailure::name:                     \
    return text;
    TG_DTLS_HANDSHAKE_FAILURES(TG_DTLS_HANDSHAKE_FAILURE_NAME)
#undef TG_DTLS_HANDSHAKE_FAILURE_NAME
    case HandshakeFailure::kCount:
      break;
  }
  return "unknown";
}

// ---- DtlsServerContext ----

std::unique_ptr<DtlsServerContext> DtlsServerContext::create(const std::string& ciphers,
                                                             std::string* error) {
  library_init_once();
  const std::vector<std::string> available = wolfssl_suites();
  const auto in_build = [&](const std::string& name) {
    return std::find(available.begin(), available.end(), name) != available.end();
  };
  const auto is_psk_aead = [](const std::string& name) {
    return std::find(kPskAeadSuites.begin(), kPskAeadSuites.end(), name) !=
           kPskAeadSuites.end();
  };

  std::vector<std::string> chosen;
  if (ciphers.empty()) {
    for (const char* name : kPskAeadSuites)
      if (in_build(name)) chosen.emplace_back(name);
    if (chosen.empty()) {
      *error = "this wolfSSL build has no plain-PSK AEAD suite (PSK-AES256-GCM-SHA384, "
               "PSK-AES128-GCM-SHA256, PSK-CHACHA20-POLY1305)";
      return nullptr;
    }
  } else {
    for (const std::string& name : split(ciphers, ':')) {
      if (!is_psk_aead(name)) {
        *error = "DTLS cipher " + name + " is not a plain-PSK AEAD suite (allowed: "
                 "PSK-AES256-GCM-SHA384, PSK-AES128-GCM-SHA256, PSK-CHACHA20-POLY1305)";
        return nullptr;
      }
      if (!in_build(name)) {
        *error = "DTLS cipher " + name + " is not in this wolfSSL build" +
                 (name.rfind("PSK-AES", 0) == 0 ? " (plain-PSK AES needs WOLFSSL_STATIC_PSK)"
                                                : "");
        return nullptr;
      }
      if (std::find(chosen.begin(), chosen.end(), name) == chosen.end()) chosen.push_back(name);
    }
    if (chosen.empty()) {
      *error = "empty DTLS cipher list";
      return nullptr;
    }
  }
  std::string list;
  for (const std::string& name : chosen) list += (list.empty() ? "" : ":") + name;

  std::unique_ptr<DtlsServerContext> context(new DtlsServerContext());
  context->ctx_ = wolfSSL_CTX_new(wolfDTLSv1_2_server_method());
  WOLFSSL_CTX* ctx = context->ctx_;
  if (ctx == nullptr) {
    *error = "wolfSSL_CTX_new failed";
    return nullptr;
  }
  // The PSK callback first: it makes the context PSK-capable; the cipher list comes after
  // (wolfSSL_set_psk_server_callback on a WOLFSSL would re-initialise its suites).
  wolfSSL_CTX_set_psk_server_callback(ctx, &HandshakeIo::psk);
  if (wolfSSL_CTX_set_cipher_list(ctx, list.c_str()) != WOLFSSL_SUCCESS) {
    *error = "wolfSSL_CTX_set_cipher_list(" + list + ") failed";
    return nullptr;
  }
  // Nothing to resume: every DTLS session gets a new PSK (§6.2), and openconnect's
  // session_id is an App-ID, not a session of ours. No master secret stays behind in a
  // process-wide cache or in a ticket.
  wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
  wolfSSL_CTX_NoTicketTLSv12(ctx);
  wolfSSL_CTX_SetIORecv(ctx, &HandshakeIo::recv);
  wolfSSL_CTX_SetIOSend(ctx, &HandshakeIo::send);
  wolfSSL_CTX_SetGenCookie(ctx, &HandshakeIo::cookie);

  WC_RNG rng;
  if (wc_InitRng(&rng) != 0) {
    *error = "wolfCrypt RNG init failed";
    return nullptr;
  }
  const int generated = wc_RNG_GenerateBlock(&rng, context->cookie_secret_.data(),
                                             static_cast<word32>(kCookieSecretBytes));
  wc_FreeRng(&rng);
  if (generated != 0) {
    *error = "wolfCrypt RNG failed";
    return nullptr;
  }
  context->cipher_list_ = list;
  return context;
}

DtlsServerContext::~DtlsServerContext() {
  if (ctx_ != nullptr) wolfSSL_CTX_free(ctx_);
  explicit_bzero(cookie_secret_.data(), cookie_secret_.size());
}

// ---- DtlsHandshake ----

std::unique_ptr<DtlsHandshake> DtlsHandshake::create(DtlsServerContext& ctx, DtlsPeer peer,
                                                     std::span<const uint8_t> psk,
                                                     std::string* error) {
  if (psk.size() != kPskBytes) {
    *error = "the DTLS PSK must be " + std::to_string(kPskBytes) + " bytes, not " +
             std::to_string(psk.size());
    return nullptr;
  }
  std::unique_ptr<DtlsHandshake> hs(new DtlsHandshake());
  hs->peer_ = peer;
  std::copy(psk.begin(), psk.end(), hs->psk_.begin());
  hs->cookie_secret_ = &ctx.cookie_secret();
  hs->ssl_ = wolfSSL_new(ctx.native());
  WOLFSSL* ssl = hs->ssl_;
  if (ssl == nullptr) {
    *error = "wolfSSL_new failed";
    return nullptr;
  }
  DtlsHandshake* self = hs.get();  // stable: the object is never moved (unique_ptr)
  wolfSSL_SetIOReadCtx(ssl, self);
  wolfSSL_SetIOWriteCtx(ssl, self);
  wolfSSL_set_psk_callback_ctx(ssl, self);
  wolfSSL_SetCookieCtx(ssl, self);
  // The caller drives the timer: "would block" is not a timeout.
  wolfSSL_dtls_set_using_nonblock(ssl, 1);

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(peer.port);
  address.sin_addr.s_addr = htonl(peer.ip);
  if (wolfSSL_dtls_set_peer(ssl, &address, sizeof address) != WOLFSSL_SUCCESS ||
      wolfSSL_DTLS_SetCookieSecret(ssl, ctx.cookie_secret().data(),
                                   static_cast<word32>(ctx.cookie_secret().size())) != 0 ||
      wolfSSL_dtls_set_timeout_init(ssl, kRetransmitInitialSeconds) != WOLFSSL_SUCCESS ||
      wolfSSL_dtls_set_timeout_max(ssl, kRetransmitMaxSeconds) != WOLFSSL_SUCCESS) {
    *error = "wolfSSL DTLS setup (peer, cookie secret, timers) failed";
    return nullptr;
  }
  return hs;
}

DtlsHandshake::~DtlsHandshake() {
  if (ssl_ != nullptr) wolfSSL_free(ssl_);
  explicit_bzero(psk_.data(), psk_.size());
}

DtlsHandshake::Status DtlsHandshake::on_datagram(std::span<const uint8_t> datagram,
                                                 std::vector<std::vector<uint8_t>>* out) {
  if (status_ == Status::kFailed) return status_;
  out_ = out;
  if (status_ == Status::kDone) {
    resend_final_flight_if_asked(datagram);
  } else {
    const size_t first_sent = out != nullptr ? out->size() : 0;
    note_incoming(datagram);
    pending_ = datagram;
    pending_unread_ = true;
    drive();
    pending_unread_ = false;
    pending_ = {};
    if (status_ == Status::kDone) {
      on_done(datagram, first_sent);
    } else if (status_ == Status::kInProgress && seen_client_key_exchange_ &&
               client_finished_unauthenticated(datagram)) {
      // wolfSSL drops a record that does not authenticate without a word (RFC 6347
      // §4.1.2.7). For the client's Finished that means another PSK: fail now instead of
      // at the timeout.
      fail(HandshakeFailure::kBadPsk,
           "the client's Finished does not authenticate under our PSK");
    }
  }
  out_ = nullptr;
  return status_;
}

DtlsHandshake::Status DtlsHandshake::on_timeout(std::vector<std::vector<uint8_t>>* out) {
  if (status_ != Status::kInProgress) return status_;
  out_ = out;
  if (wolfSSL_dtls_got_timeout(ssl_) != WOLFSSL_SUCCESS)
    fail(HandshakeFailure::kTimeout, "no answer after the last retransmission");
  out_ = nullptr;
  return status_;
}

std::chrono::milliseconds DtlsHandshake::retransmit_timeout() const {
  const int seconds = wolfSSL_dtls_get_current_timeout(ssl_);
  return std::chrono::milliseconds(static_cast<int64_t>(std::max(seconds, 0)) *
                                   static_cast<int64_t>(kMillisecondsPerSecond));
}

DtlsHandshake::Status DtlsHandshake::drive() {
  const int ret = wolfSSL_accept(ssl_);
  if (ret == WOLFSSL_SUCCESS) {
    status_ = Status::kDone;
    return status_;
  }
  const int error = wolfSSL_get_error(ssl_, ret);
  if (error != WOLFSSL_ERROR_WANT_READ && error != WOLFSSL_ERROR_WANT_WRITE)
    fail_from_wolfssl(error);
  return status_;
}

void DtlsHandshake::on_done(std::span<const uint8_t> datagram, size_t first_sent) {
  // What this call sent is our last flight (CCS, Finished).
  if (out_ != nullptr)
    final_flight_.assign(out_->begin() + static_cast<std::ptrdiff_t>(first_sent), out_->end());
  for_each_record(datagram, [&](const DtlsRecord& record) {
    if (record.type == ContentType::kHandshake && record.epoch != 0)
      client_finished_sequence_ = std::max(client_finished_sequence_, record.sequence);
  });
  crypto::DtlsRecordKeys keys;
  std::string ignored;
  if (crypto::dtls_export_record_keys(ssl_, &keys, &ignored)) {
    client_write_ = std::make_unique<crypto::RecordAead>();
    if (!client_write_->init(keys.cipher, keys.rx)) client_write_.reset();
  }
  keys.wipe();
}

void DtlsHandshake::resend_final_flight_if_asked(std::span<const uint8_t> datagram) {
  if (client_write_ == nullptr || out_ == nullptr || final_flight_.empty() ||
      final_flight_resends_ >= kMaxFinalFlightResends)
    return;
  bool asked = false;
  for_each_record(datagram, [&](const DtlsRecord& record) {
    if (asked || record.type != ContentType::kHandshake || record.epoch == 0 ||
        record.sequence <= client_finished_sequence_)
      return;
    // Only a genuine retransmission of the client's Finished makes us send: a forged or
    // replayed record does not authenticate or is not new.
    std::vector<uint8_t> copy(record.record.begin(), record.record.end());
    DtlsRecord parsed{};
    std::span<uint8_t> plaintext;
    if (dtls_record_parse(copy, 0, &parsed) == DtlsParseError::kOk &&
        client_write_->open(parsed, copy.data(), &plaintext)) {
      asked = true;
      client_finished_sequence_ = record.sequence;
    }
    explicit_bzero(copy.data(), copy.size());
  });
  if (!asked) return;
  out_->insert(out_->end(), final_flight_.begin(), final_flight_.end());
  final_flight_resends_++;
}

void DtlsHandshake::note_incoming(std::span<const uint8_t> datagram) {
  for_each_record(datagram, [&](const DtlsRecord& record) {
    if (plaintext_handshake_type(record) == kHandshakeTypeClientKeyExchange)
      seen_client_key_exchange_ = true;
  });
}

bool DtlsHandshake::client_finished_unauthenticated(std::span<const uint8_t> datagram) {
  bool unauthenticated = false;
  for_each_record(datagram, [&](const DtlsRecord& record) {
    if (unauthenticated || record.type != ContentType::kHandshake || record.epoch == 0) return;
    crypto::DtlsRecordKeys keys;
    std::string ignored;
    if (!crypto::dtls_derived_record_keys(ssl_, &keys, &ignored)) return;
    crypto::RecordAead client_write;
    const bool ready = client_write.init(keys.cipher, keys.rx);
    keys.wipe();
    if (!ready) return;
    // open() decrypts in place: work on a copy of the record.
    std::vector<uint8_t> copy(record.record.begin(), record.record.end());
    DtlsRecord parsed{};
    if (dtls_record_parse(copy, 0, &parsed) != DtlsParseError::kOk) return;
    std::span<uint8_t> plaintext;
    if (!client_write.open(parsed, copy.data(), &plaintext)) unauthenticated = true;
    explicit_bzero(copy.data(), copy.size());
  });
  return unauthenticated;
}

void DtlsHandshake::fail(HandshakeFailure failure, std::string detail) {
  status_ = Status::kFailed;
  failure_ = failure;
  failure_detail_ = std::move(detail);
  wolfSSL_ERR_clear_error();
}

void DtlsHandshake::fail_from_wolfssl(int error) {
  HandshakeFailure failure = HandshakeFailure::kProtocol;
  std::string detail = wolfssl_error_text(error);
  switch (error) {
    case FATAL_ERROR: {  // "received alert fatal error"
      failure = HandshakeFailure::kAlert;
      WOLFSSL_ALERT_HISTORY history{};
      if (wolfSSL_get_alert_history(ssl_, &history) == WOLFSSL_SUCCESS)
        detail += ", alert " + std::to_string(history.last_rx.code);
      break;
    }
    case MATCH_SUITE_ERROR:
      failure = HandshakeFailure::kNoSharedCipher;
      break;
    case VERSION_ERROR:
      failure = HandshakeFailure::kVersion;
      break;
    case PSK_KEY_ERROR:
    case VERIFY_FINISHED_ERROR:
    case VERIFY_MAC_ERROR:
    case DECRYPT_ERROR:
      failure = HandshakeFailure::kBadPsk;
      break;
    case BUFFER_ERROR:
    case PARSE_ERROR:
    case INCOMPLETE_DATA:
    case UNKNOWN_HANDSHAKE_TYPE:
    case UNKNOWN_RECORD_TYPE:
    case LENGTH_ERROR:
    case BAD_HELLO:
    case OUT_OF_ORDER_E:
    case SANITY_MSG_E:
    case DUPLICATE_MSG_E:
    case DECODE_E:
    case HANDSHAKE_SIZE_ERROR:
    case NO_CHANGE_CIPHER_E:
    case EXT_NOT_ALLOWED:
    case RECV_OVERFLOW_E:
      failure = HandshakeFailure::kMalformed;
      break;
    case MEMORY_E:
    case MEMORY_ERROR:
      failure = HandshakeFailure::kInternal;
      break;
    default:
      break;
  }
  fail(failure, std::move(detail));
}

bool DtlsHandshake::export_keys(crypto::DtlsRecordKeys* out, std::string* error) {
  if (status_ != Status::kDone) {
    *error = "the handshake has not completed";
    return false;
  }
  crypto::DtlsRecordKeys keys;
  if (!crypto::dtls_export_record_keys(ssl_, &keys, error)) return false;
  if (!sent_epoch1_) {
    // Cannot happen for a server (its Finished is in the key epoch); refuse rather than
    // guess a sequence number.
    keys.wipe();
    *error = "the handshake completed without sending its Finished";
    return false;
  }
  // wolfSSL sends nothing after kDone (the resends are copies), so this stays right.
  keys.tx_next_sequence = highest_epoch1_sequence_ + 1;
  *out = keys;
  keys.wipe();
  return true;
}

std::string DtlsHandshake::cipher_name() const {
  if (wolfSSL_get_current_cipher_suite(ssl_) == 0) return "";
  const char* name = wolfSSL_get_cipher_name(ssl_);
  return name != nullptr ? name : "";
}

bool DtlsHandshake::highest_epoch1_sequence_sent(uint64_t* out) const {
  if (!sent_epoch1_) return false;
  *out = highest_epoch1_sequence_;
  return true;
}

}  // namespace tg::dtls
