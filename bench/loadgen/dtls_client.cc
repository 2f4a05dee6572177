// OpenConnect DTLS client setup on wolfSSL (see the header).
#include "bench/loadgen/dtls_client.h"

// options.h first: the feature macros wolfSSL was built with.
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <cstring>
#include <ctime>
#include <vector>

namespace tg::loadgen {

namespace {

unsigned int psk_client_callback(WOLFSSL* ssl, const char*, char* identity, unsigned int id_max,
                                 unsigned char* key, unsigned int key_max) {
  const auto* psk = static_cast<const uint8_t*>(wolfSSL_get_psk_callback_ctx(ssl));
  if (psk == nullptr || id_max < 4 || key_max < kDtlsPskBytes) return 0;
  std::memcpy(identity, "psk", 4);  // openconnect's identity (PROTOCOL.md §6.5)
  std::memcpy(key, psk, kDtlsPskBytes);
  return kDtlsPskBytes;
}

// wolfSSL's serialised session (wolfSSL_i2d_SSL_SESSION, 5.5.4):
//   side u8 | bornOn u32 | timeout u32 | idLen u8 | id | masterSecret[48] | haveEMS u8 |
//   altIdLen u8 (0) | [SESSION_CERTS: chain count u8 (0)] | version major u8, minor u8 | ...
constexpr size_t kIdLenOffset = 9;
constexpr size_t kMasterSecretBytes = 48;
constexpr uint8_t kDtls12Major = 0xfe;
constexpr uint8_t kDtls12Minor = 0xfd;
constexpr uint32_t kSessionLifetimeSeconds = 3600;

}  // namespace

WOLFSSL_CTX* dtls_client_context_new(std::string* error) {
  WOLFSSL_CTX* ctx = wolfSSL_CTX_new(wolfDTLSv1_2_client_method());
  if (ctx == nullptr) {
    *error = "wolfSSL_CTX_new (DTLS 1.2 client) failed";
    return nullptr;
  }
  wolfSSL_CTX_set_psk_client_callback(ctx, &psk_client_callback);
  if (wolfSSL_CTX_set_cipher_list(ctx, "PSK-AES256-GCM-SHA384:PSK-CHACHA20-POLY1305:"
                                       "PSK-AES128-GCM-SHA256") != WOLFSSL_SUCCESS &&
      wolfSSL_CTX_set_cipher_list(ctx, "PSK-CHACHA20-POLY1305") != WOLFSSL_SUCCESS) {
    wolfSSL_CTX_free(ctx);
    *error = "no plain-PSK AEAD suite in this wolfSSL";
    return nullptr;
  }
  return ctx;
}

void dtls_client_set_psk_source(WOLFSSL* ssl, const uint8_t* psk) {
  wolfSSL_set_psk_callback_ctx(ssl, const_cast<uint8_t*>(psk));
}

bool dtls_client_set_app_id(WOLFSSL* ssl, std::span<const uint8_t> app_id) {
  if (app_id.empty() || app_id.size() > 32) return false;
  WOLFSSL_SESSION* blank = wolfSSL_SESSION_new();
  if (blank == nullptr) return false;
  unsigned char* der = nullptr;
  const int len = wolfSSL_i2d_SSL_SESSION(blank, &der);
  wolfSSL_SESSION_free(blank);
  if (len <= static_cast<int>(kIdLenOffset) || der == nullptr || der[kIdLenOffset] != 0) {
    if (der != nullptr) XFREE(der, nullptr, DYNAMIC_TYPE_OPENSSL);
    return false;
  }
  std::vector<unsigned char> data(der, der + kIdLenOffset + 1);
  data[0] = WOLFSSL_CLIENT_END;
  const uint32_t born = static_cast<uint32_t>(time(nullptr));
  for (int i = 0; i < 4; ++i) {
    data[1 + i] = static_cast<unsigned char>(born >> (24 - 8 * i));
    data[5 + i] = static_cast<unsigned char>(kSessionLifetimeSeconds >> (24 - 8 * i));
  }
  data[kIdLenOffset] = static_cast<unsigned char>(app_id.size());
  data.insert(data.end(), app_id.begin(), app_id.end());
  data.insert(data.end(), der + kIdLenOffset + 1, der + len);
  XFREE(der, nullptr, DYNAMIC_TYPE_OPENSSL);
  // The protocol version, which wolfSSL_set_session copies into the connection: DTLS 1.2.
  const size_t version_at = kIdLenOffset + 1 + app_id.size() + kMasterSecretBytes + 1 + 1 + 1;
  if (version_at + 2 > data.size()) return false;
  data[version_at] = kDtls12Major;
  data[version_at + 1] = kDtls12Minor;
  const unsigned char* p = data.data();
  WOLFSSL_SESSION* session = wolfSSL_d2i_SSL_SESSION(nullptr, &p, static_cast<long>(data.size()));
  if (session == nullptr) return false;
  const bool ok = wolfSSL_set_session(ssl, session) == WOLFSSL_SUCCESS;
  wolfSSL_SESSION_free(session);
  return ok;
}

}  // namespace tg::loadgen
