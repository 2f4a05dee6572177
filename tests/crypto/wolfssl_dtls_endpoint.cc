// Test support: a wolfSSL DTLS 1.2 PSK endpoint over in-memory datagrams (see the header).
#include "tests/crypto/wolfssl_dtls_endpoint.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/dh.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace tg::test {

namespace {

void library_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { wolfSSL_Init(); });
}

constexpr size_t kMaxRecordPlaintext = 16384;

}  // namespace

std::unique_ptr<WolfDtlsEndpoint> WolfDtlsEndpoint::create(Side side, const std::string& cipher,
                                                           std::span<const uint8_t> psk,
                                                           std::string* error) {
  library_init_once();
  std::unique_ptr<WolfDtlsEndpoint> e(new WolfDtlsEndpoint());
  e->side_ = side;
  e->psk_.assign(psk.begin(), psk.end());
  e->ctx_ = wolfSSL_CTX_new(side == Side::kClient ? wolfDTLSv1_2_client_method()
                                                  : wolfDTLSv1_2_server_method());
  if (e->ctx_ == nullptr) {
    *error = "wolfSSL_CTX_new failed";
    return nullptr;
  }
  if (side == Side::kClient)
    wolfSSL_CTX_set_psk_client_callback(e->ctx_, &WolfDtlsEndpoint::psk_client);
  else
    wolfSSL_CTX_set_psk_server_callback(e->ctx_, &WolfDtlsEndpoint::psk_server);
  if (side == Side::kServer && cipher.rfind("DHE-PSK-", 0) == 0) {
    // A DHE server needs group parameters: the RFC 7919 ffdhe2048 group.
    uint8_t p[256], g[256];
    word32 p_len = sizeof p, g_len = sizeof g;
    if (wc_DhCopyNamedKey(WC_FFDHE_2048, p, &p_len, g, &g_len, nullptr, nullptr) != 0 ||
        wolfSSL_CTX_SetTmpDH(e->ctx_, p, static_cast<int>(p_len), g, static_cast<int>(g_len)) !=
            WOLFSSL_SUCCESS) {
      *error = "DH parameters failed";
      return nullptr;
    }
  }
  if (wolfSSL_CTX_set_cipher_list(e->ctx_, cipher.c_str()) != WOLFSSL_SUCCESS) {
    *error = "wolfSSL_CTX_set_cipher_list(" + cipher + ") failed";
    return nullptr;
  }
  wolfSSL_CTX_SetIORecv(e->ctx_, &WolfDtlsEndpoint::io_recv);
  wolfSSL_CTX_SetIOSend(e->ctx_, &WolfDtlsEndpoint::io_send);
  e->ssl_ = wolfSSL_new(e->ctx_);
  if (e->ssl_ == nullptr) {
    *error = "wolfSSL_new failed";
    return nullptr;
  }
  wolfSSL_SetIOReadCtx(e->ssl_, e.get());
  wolfSSL_SetIOWriteCtx(e->ssl_, e.get());
  wolfSSL_set_psk_callback_ctx(e->ssl_, e.get());
  wolfSSL_dtls_set_using_nonblock(e->ssl_, 1);
  return e;
}

WolfDtlsEndpoint::~WolfDtlsEndpoint() {
  if (ssl_ != nullptr) wolfSSL_free(ssl_);
  if (ctx_ != nullptr) wolfSSL_CTX_free(ctx_);
}

int WolfDtlsEndpoint::io_recv(WOLFSSL*, char* buf, int size, void* ctx) {
  auto* e = static_cast<WolfDtlsEndpoint*>(ctx);
  if (e->inbox_.empty()) return WOLFSSL_CBIO_ERR_WANT_READ;
  const Datagram datagram = std::move(e->inbox_.front());
  e->inbox_.pop_front();
  const size_t n = std::min(datagram.size(), static_cast<size_t>(size));
  std::memcpy(buf, datagram.data(), n);
  return static_cast<int>(n);
}

int WolfDtlsEndpoint::io_send(WOLFSSL*, char* buf, int size, void* ctx) {
  auto* e = static_cast<WolfDtlsEndpoint*>(ctx);
  e->sent_.emplace_back(reinterpret_cast<uint8_t*>(buf), reinterpret_cast<uint8_t*>(buf) + size);
  return size;
}

unsigned int WolfDtlsEndpoint::psk_client(WOLFSSL* ssl, const char*, char* identity,
                                          unsigned int identity_len, unsigned char* key,
                                          unsigned int key_len) {
  auto* e = static_cast<WolfDtlsEndpoint*>(wolfSSL_get_psk_callback_ctx(ssl));
  if (e == nullptr || identity_len < sizeof kPskIdentity || key_len < e->psk_.size()) return 0;
  std::memcpy(identity, kPskIdentity, sizeof kPskIdentity);
  std::memcpy(key, e->psk_.data(), e->psk_.size());
  return static_cast<unsigned int>(e->psk_.size());
}

unsigned int WolfDtlsEndpoint::psk_server(WOLFSSL* ssl, const char*, unsigned char* key,
                                          unsigned int key_len) {
  auto* e = static_cast<WolfDtlsEndpoint*>(wolfSSL_get_psk_callback_ctx(ssl));
  if (e == nullptr || key_len < e->psk_.size()) return 0;
  std::memcpy(key, e->psk_.data(), e->psk_.size());
  return static_cast<unsigned int>(e->psk_.size());
}

void WolfDtlsEndpoint::deliver(std::span<const uint8_t> datagram) {
  inbox_.emplace_back(datagram.begin(), datagram.end());
}

void WolfDtlsEndpoint::deliver(const Datagrams& datagrams) {
  for (const Datagram& d : datagrams) deliver(d);
}

Datagrams WolfDtlsEndpoint::take_sent() {
  Datagrams out;
  out.swap(sent_);
  return out;
}

int WolfDtlsEndpoint::handshake() {
  if (done_) return 1;
  const int ret = side_ == Side::kClient ? wolfSSL_connect(ssl_) : wolfSSL_accept(ssl_);
  if (ret == WOLFSSL_SUCCESS) {
    done_ = true;
    return 1;
  }
  const int error = wolfSSL_get_error(ssl_, ret);
  if (error == WOLFSSL_ERROR_WANT_READ || error == WOLFSSL_ERROR_WANT_WRITE) return 0;
  return error;
}

int WolfDtlsEndpoint::timeout() { return wolfSSL_dtls_got_timeout(ssl_); }

bool WolfDtlsEndpoint::write(std::span<const uint8_t> plaintext) {
  return wolfSSL_write(ssl_, plaintext.data(), static_cast<int>(plaintext.size())) ==
         static_cast<int>(plaintext.size());
}

int WolfDtlsEndpoint::read(std::vector<uint8_t>* plaintext) {
  plaintext->assign(kMaxRecordPlaintext, 0);
  const int n = wolfSSL_read(ssl_, plaintext->data(), static_cast<int>(plaintext->size()));
  if (n > 0) {
    plaintext->resize(static_cast<size_t>(n));
    return n;
  }
  plaintext->clear();
  const int error = wolfSSL_get_error(ssl_, n);
  if (error == WOLFSSL_ERROR_WANT_READ || error == WOLFSSL_ERROR_WANT_WRITE) return 0;
  return error < 0 ? error : -error;
}

std::string WolfDtlsEndpoint::error_text(int error) const {
  char text[WOLFSSL_MAX_ERROR_SZ] = {};
  wolfSSL_ERR_error_string_n(static_cast<unsigned long>(error), text, sizeof text);
  return std::string(text) + " (" + std::to_string(error) + ")";
}

std::vector<std::string> wolfssl_suites_available(const std::vector<std::string>& candidates) {
  library_init_once();
  std::vector<char> names(16384, '\0');
  wolfSSL_get_ciphers(names.data(), static_cast<int>(names.size()));
  const std::string all = std::string(":") + names.data() + ":";
  std::vector<std::string> found;
  for (const std::string& name : candidates)
    if (all.find(":" + name + ":") != std::string::npos) found.push_back(name);
  return found;
}

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string to_hex(std::span<const uint8_t> bytes) {
  std::string out;
  char two[3];
  for (uint8_t b : bytes) {
    std::snprintf(two, sizeof two, "%02x", b);
    out += two;
  }
  return out;
}

}  // namespace tg::test
