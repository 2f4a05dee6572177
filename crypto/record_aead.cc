// DTLS 1.2 AEAD record protection with wolfCrypt (see the header for the record layout).
#include "crypto/record_aead.h"

// options.h first: the feature macros of Debian's libwolfssl (struct Aes depends on them).
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#include <string.h>  // explicit_bzero (glibc)

#include <cstring>
#include <new>

namespace tg::crypto {
namespace {

using dtls::aead::kAadBytes;
using dtls::aead::kGcmExplicitNonceBytes;
using dtls::aead::kGcmSaltBytes;
using dtls::aead::kNonceBytes;
using dtls::aead::kTagBytes;
using dtls::wire::kRecordHeaderBytes;

constexpr size_t kBitsPerByte = 8;

bool is_gcm(DtlsCipher cipher) { return cipher != DtlsCipher::kChacha20Poly1305; }

dtls::AeadCipher aead_kind(DtlsCipher cipher) {
  return is_gcm(cipher) ? dtls::AeadCipher::kAesGcm : dtls::AeadCipher::kChacha20Poly1305;
}

void store_be16(uint8_t* p, size_t value) {
  p[0] = static_cast<uint8_t>(value >> kBitsPerByte);
  p[1] = static_cast<uint8_t>(value);
}

}  // namespace

static_assert(sizeof(Aes) <= 1280, "RecordAead::kAesStorageBytes is too small for wolfCrypt's Aes");
static_assert(alignof(Aes) <= 16, "RecordAead's AES storage is 16-byte aligned");
static_assert(CHACHA20_POLY1305_AEAD_KEYSIZE == 32 && CHACHA20_POLY1305_AEAD_IV_SIZE == 12 &&
              CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE == kTagBytes);

RecordAead::~RecordAead() { clear(); }

void RecordAead::clear() {
  if (aes_initialised_) {
    Aes* context = static_cast<Aes*>(aes());
    wc_AesFree(context);
    aes_initialised_ = false;
  }
  // The expanded AES key and the GHASH table are as secret as the key.
  explicit_bzero(aes_storage_, sizeof aes_storage_);
  explicit_bzero(chacha_key_.data(), chacha_key_.size());
  explicit_bzero(iv_.data(), iv_.size());
  ready_ = false;
}

bool RecordAead::init(DtlsCipher cipher, const DtlsDirectionKeys& keys) {
  clear();
  if (keys.key_len != dtls_cipher_key_len(cipher) || keys.iv_len != dtls_cipher_iv_len(cipher))
    return false;
  cipher_ = cipher;
  std::memcpy(iv_.data(), keys.iv.data(), keys.iv_len);
  if (is_gcm(cipher)) {
    Aes* context = new (aes()) Aes;  // storage for wolfCrypt; wc_AesInit fills it
    if (wc_AesInit(context, nullptr, INVALID_DEVID) != 0) return false;
    aes_initialised_ = true;
    if (wc_AesGcmSetKey(context, keys.key.data(), keys.key_len) != 0) {
      clear();
      return false;
    }
  } else {
    std::memcpy(chacha_key_.data(), keys.key.data(), keys.key_len);
  }
  ready_ = true;
  return true;
}

size_t RecordAead::overhead() const { return dtls::dtls_aead_overhead(aead_kind(cipher_)); }

size_t RecordAead::seal(uint8_t* record, size_t plaintext_len, uint16_t epoch,
                        uint64_t sequence) const {
  if (!ready_ || plaintext_len > kMaxPlaintextBytes || sequence > dtls::wire::kMaxSequence)
    return 0;
  const size_t explicit_len = is_gcm(cipher_) ? kGcmExplicitNonceBytes : 0;
  const size_t fragment_len = explicit_len + plaintext_len + kTagBytes;

  record[dtls::wire::kTypeOffset] = static_cast<uint8_t>(dtls::ContentType::kApplicationData);
  store_be16(record + dtls::wire::kVersionOffset, dtls::wire::kVersionDtls12);
  const auto seq_num = dtls::dtls_seq_num(epoch, sequence);  // epoch(2) || sequence(6)
  std::memcpy(record + dtls::wire::kEpochOffset, seq_num.data(), seq_num.size());
  store_be16(record + dtls::wire::kLengthOffset, fragment_len);

  uint8_t* fragment = record + kRecordHeaderBytes;
  uint8_t* plaintext = fragment + explicit_len;
  uint8_t* tag = plaintext + plaintext_len;
  const dtls::AeadAad aad =
      dtls::dtls_aead_aad(epoch, sequence, dtls::ContentType::kApplicationData,
                          dtls::wire::kVersionDtls12, static_cast<uint16_t>(plaintext_len));
  const auto len = static_cast<word32>(plaintext_len);
  int ret = 0;
  if (is_gcm(cipher_)) {
    dtls::GcmSalt salt{};
    std::memcpy(salt.data(), iv_.data(), kGcmSaltBytes);
    const dtls::AeadNonce nonce = dtls::dtls_gcm_nonce_tx(salt, epoch, sequence);
    std::memcpy(fragment, nonce.data() + kGcmSaltBytes, kGcmExplicitNonceBytes);
    ret = wc_AesGcmEncrypt(static_cast<Aes*>(aes()), plaintext, plaintext, len, nonce.data(),
                           kNonceBytes, tag, kTagBytes, aad.data(), kAadBytes);
  } else {
    dtls::ChachaIv iv{};
    std::memcpy(iv.data(), iv_.data(), iv.size());
    const dtls::AeadNonce nonce = dtls::dtls_chacha_nonce(iv, epoch, sequence);
    ret = wc_ChaCha20Poly1305_Encrypt(chacha_key_.data(), nonce.data(), aad.data(), kAadBytes,
                                      plaintext, len, plaintext, tag);
  }
  return ret == 0 ? kRecordHeaderBytes + fragment_len : 0;
}

bool RecordAead::open(const dtls::DtlsRecord& rec, uint8_t* record_start,
                      std::span<uint8_t>* plaintext) const {
  if (!ready_ || record_start == nullptr || rec.record.data() != record_start) return false;
  size_t plaintext_len = 0;
  if (dtls::dtls_aead_plaintext_len(aead_kind(cipher_), rec.fragment.size(), &plaintext_len) !=
          dtls::DtlsParseError::kOk ||
      plaintext_len > kMaxPlaintextBytes)
    return false;

  uint8_t* fragment = record_start + kRecordHeaderBytes;
  const size_t explicit_len = is_gcm(cipher_) ? kGcmExplicitNonceBytes : 0;
  uint8_t* ciphertext = fragment + explicit_len;
  const uint8_t* tag = ciphertext + plaintext_len;
  const dtls::AeadAad aad = dtls::dtls_aead_aad(rec.epoch, rec.sequence, rec.type, rec.version,
                                                static_cast<uint16_t>(plaintext_len));
  const auto len = static_cast<word32>(plaintext_len);
  int ret = 0;
  if (is_gcm(cipher_)) {
    dtls::GcmSalt salt{};
    std::memcpy(salt.data(), iv_.data(), kGcmSaltBytes);
    dtls::GcmExplicitNonce explicit_nonce{};
    std::memcpy(explicit_nonce.data(), fragment, kGcmExplicitNonceBytes);
    const dtls::AeadNonce nonce = dtls::dtls_gcm_nonce_rx(salt, explicit_nonce);
    ret = wc_AesGcmDecrypt(static_cast<Aes*>(aes()), ciphertext, ciphertext, len, nonce.data(),
                           kNonceBytes, tag, kTagBytes, aad.data(), kAadBytes);
  } else {
    dtls::ChachaIv iv{};
    std::memcpy(iv.data(), iv_.data(), iv.size());
    const dtls::AeadNonce nonce = dtls::dtls_chacha_nonce(iv, rec.epoch, rec.sequence);
    ret = wc_ChaCha20Poly1305_Decrypt(chacha_key_.data(), nonce.data(), aad.data(), kAadBytes,
                                      ciphertext, len, tag, ciphertext);
  }
  if (ret != 0) return false;
  *plaintext = std::span<uint8_t>(ciphertext, plaintext_len);
  return true;
}

}  // namespace tg::crypto
