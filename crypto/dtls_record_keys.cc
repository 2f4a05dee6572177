// DTLS 1.2 record keys out of a wolfSSL connection (see the header for what wolfSSL keeps).
#include "crypto/dtls_record_keys.h"

// options.h first: the feature macros Debian's libwolfssl was built with; without it the
// declarations in ssl.h would not match the library.
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <string.h>  // explicit_bzero (glibc)

#include <cstdio>
#include <cstring>

namespace tg::crypto {
namespace {

constexpr uint8_t kAes128KeyBytes = 16;
constexpr uint8_t kAes256KeyBytes = 32;
constexpr uint8_t kChachaKeyBytes = 32;
constexpr uint8_t kGcmSaltBytes = 4;     // RFC 5288 §3 implicit part
constexpr uint8_t kChachaIvBytes = 12;   // RFC 7905 §2
constexpr int kAeadTagBytes = 16;
/// RFC 7905 ChaCha20-Poly1305 suites are 0xCC,0xA8..0xCC,0xAE. wolfSSL also knows the
/// pre-RFC draft suites 0xCC,0x13..0x15, whose nonce and Poly1305 padding differ.
constexpr int kChachaSuiteFirst = 0xcca8;
constexpr int kChachaSuiteLast = 0xccae;

std::string hex_suite(int suite) {
  char text[sizeof "0x0000"] = {};
  std::snprintf(text, sizeof text, "0x%04x", static_cast<unsigned>(suite) & 0xffffu);
  return text;
}

std::string suite_text(WOLFSSL* ssl) {
  const char* name = wolfSSL_get_cipher_name(ssl);
  return std::string(name != nullptr ? name : "?") + " (" +
         hex_suite(wolfSSL_get_current_cipher_suite(ssl)) + ")";
}

/// Which DtlsCipher wolfSSL negotiated, from its cipher specs; false (with the reason) for
/// anything the fast path does not implement.
bool negotiated_cipher(WOLFSSL* ssl, DtlsCipher* cipher, std::string* error) {
  if (wolfSSL_GetCipherType(ssl) != WOLFSSL_AEAD_TYPE) {
    *error = "cipher suite " + suite_text(ssl) + " is not an AEAD suite";
    return false;
  }
  if (wolfSSL_GetAeadMacSize(ssl) != kAeadTagBytes) {
    *error = "cipher suite " + suite_text(ssl) + " has a " +
             std::to_string(wolfSSL_GetAeadMacSize(ssl)) + "-byte tag, not 16";
    return false;
  }
  const int key_size = wolfSSL_GetKeySize(ssl);
  switch (wolfSSL_GetBulkCipher(ssl)) {
    case wolfssl_aes_gcm:
      if (key_size == kAes128KeyBytes) {
        *cipher = DtlsCipher::kAes128Gcm;
        return true;
      }
      if (key_size == kAes256KeyBytes) {
        *cipher = DtlsCipher::kAes256Gcm;
        return true;
      }
      *error = "AES-GCM suite " + suite_text(ssl) + " with a " + std::to_string(key_size) +
               "-byte key";
      return false;
    case wolfssl_chacha: {
      const int suite = wolfSSL_get_current_cipher_suite(ssl);
      if (suite < kChachaSuiteFirst || suite > kChachaSuiteLast) {
        *error = "cipher suite " + suite_text(ssl) + " is a pre-RFC 7905 ChaCha20 suite";
        return false;
      }
      *cipher = DtlsCipher::kChacha20Poly1305;
      return true;
    }
    default:
      *error = "cipher suite " + suite_text(ssl) +
               " is neither AES-GCM nor ChaCha20-Poly1305 (CCM is not implemented)";
      return false;
  }
}

bool copy_direction(const unsigned char* key, const unsigned char* iv, DtlsCipher cipher,
                    DtlsDirectionKeys* out) {
  if (key == nullptr || iv == nullptr) return false;
  out->key_len = dtls_cipher_key_len(cipher);
  out->iv_len = dtls_cipher_iv_len(cipher);
  std::memcpy(out->key.data(), key, out->key_len);
  std::memcpy(out->iv.data(), iv, out->iv_len);
  return true;
}

bool read_keys(WOLFSSL* ssl, DtlsRecordKeys* out, std::string* error) {
  DtlsCipher cipher{};
  if (!negotiated_cipher(ssl, &cipher, error)) return false;
  // wolfSSL's sizes must be the suite's: they say how many bytes its buffers hold.
  if (wolfSSL_GetKeySize(ssl) != dtls_cipher_key_len(cipher) ||
      wolfSSL_GetIVSize(ssl) != dtls_cipher_iv_len(cipher)) {
    *error = std::string("wolfSSL key/IV sizes ") + std::to_string(wolfSSL_GetKeySize(ssl)) +
             "/" + std::to_string(wolfSSL_GetIVSize(ssl)) + " do not fit " +
             dtls_cipher_name(cipher);
    return false;
  }
  DtlsRecordKeys keys;
  keys.cipher = cipher;
  keys.epoch = 1;
  DtlsDirectionKeys client_write, server_write;
  if (!copy_direction(wolfSSL_GetClientWriteKey(ssl), wolfSSL_GetClientWriteIV(ssl), cipher,
                      &client_write) ||
      !copy_direction(wolfSSL_GetServerWriteKey(ssl), wolfSSL_GetServerWriteIV(ssl), cipher,
                      &server_write)) {
    *error = "wolfSSL returned no key buffers";
    return false;
  }
  const bool server = wolfSSL_GetSide(ssl) == WOLFSSL_SERVER_END;
  keys.rx = server ? client_write : server_write;
  keys.tx = server ? server_write : client_write;
  keys.tx_next_sequence = DtlsRecordKeys::kTxSequenceUnset;
  *out = keys;
  keys.wipe();
  explicit_bzero(&client_write, sizeof client_write);
  explicit_bzero(&server_write, sizeof server_write);
  return true;
}

}  // namespace

void DtlsRecordKeys::wipe() {
  explicit_bzero(&rx, sizeof rx);
  explicit_bzero(&tx, sizeof tx);
}

const char* dtls_cipher_name(DtlsCipher cipher) {
  switch (cipher) {
    case DtlsCipher::kAes128Gcm: return "AES-128-GCM";
    case DtlsCipher::kAes256Gcm: return "AES-256-GCM";
    case DtlsCipher::kChacha20Poly1305: return "CHACHA20-POLY1305";
  }
  return "?";
}

uint8_t dtls_cipher_key_len(DtlsCipher cipher) {
  return cipher == DtlsCipher::kAes128Gcm ? kAes128KeyBytes
         : cipher == DtlsCipher::kAes256Gcm ? kAes256KeyBytes
                                             : kChachaKeyBytes;
}

uint8_t dtls_cipher_iv_len(DtlsCipher cipher) {
  return cipher == DtlsCipher::kChacha20Poly1305 ? kChachaIvBytes : kGcmSaltBytes;
}

bool dtls_export_record_keys(WOLFSSL* ssl, DtlsRecordKeys* out, std::string* error) {
  if (ssl == nullptr) {
    *error = "no connection";
    return false;
  }
  if (wolfSSL_is_init_finished(ssl) == 0) {
    *error = "the handshake has not finished";
    return false;
  }
  if (wolfSSL_version(ssl) != DTLS1_2_VERSION) {
    const char* version = wolfSSL_get_version(ssl);
    *error = std::string("not DTLS 1.2 but ") + (version != nullptr ? version : "?");
    return false;
  }
  return read_keys(ssl, out, error);
}

bool dtls_derived_record_keys(WOLFSSL* ssl, DtlsRecordKeys* out, std::string* error) {
  if (ssl == nullptr) {
    *error = "no connection";
    return false;
  }
  return read_keys(ssl, out, error);
}

}  // namespace tg::crypto
