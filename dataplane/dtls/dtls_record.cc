// DTLS 1.2 record header, OpenConnect inner type, AEAD nonce and AAD (see the header).
#include "dataplane/dtls/dtls_record.h"

#include "dataplane/wire.h"  // the byte-order helpers

namespace tg::dtls {

const char* dtls_parse_error_name(DtlsParseError error) {
  switch (error) {
#define TG_DTLS_PARSE_ERROR_NAME(name, text) \
  case DtlsParseError::name:                 \
    return text;
    TG_DTLS_PARSE_ERRORS(TG_DTLS_PARSE_ERROR_NAME)
#undef TG_DTLS_PARSE_ERROR_NAME
    case DtlsParseError::kCount:
      break;
  }
  return "dtls_unknown_error";
}

std::array<uint8_t, aead::kSeqNumBytes> dtls_seq_num(uint16_t epoch, uint64_t sequence) {
  std::array<uint8_t, aead::kSeqNumBytes> out{};
  dtls_seq_num_write(out.data(), epoch, sequence);
  return out;
}

size_t dtls_aead_overhead(AeadCipher cipher) {
  switch (cipher) {
    case AeadCipher::kAesGcm: return aead::kGcmExplicitNonceBytes + aead::kTagBytes;
    case AeadCipher::kChacha20Poly1305: return aead::kTagBytes;
  }
  return aead::kGcmExplicitNonceBytes + aead::kTagBytes;  // unreachable: the larger one
}

DtlsParseError dtls_aead_plaintext_len(AeadCipher cipher, size_t fragment_len,
                                       size_t* plaintext_len) {
  const size_t overhead = dtls_aead_overhead(cipher);
  if (fragment_len < overhead) return DtlsParseError::kCiphertextTooShort;
  *plaintext_len = fragment_len - overhead;
  return DtlsParseError::kOk;
}

AeadNonce dtls_gcm_nonce_tx(const GcmSalt& salt, uint16_t epoch, uint64_t sequence) {
  const auto seq_num = dtls_seq_num(epoch, sequence);  // the explicit part (RFC 5288 §3)
  AeadNonce nonce{};
  dtls_gcm_nonce_write(nonce.data(), salt.data(), seq_num.data());
  return nonce;
}

AeadNonce dtls_gcm_nonce_rx(const GcmSalt& salt, const GcmExplicitNonce& explicit_nonce) {
  AeadNonce nonce{};
  dtls_gcm_nonce_write(nonce.data(), salt.data(), explicit_nonce.data());
  return nonce;
}

AeadNonce dtls_chacha_nonce(const ChachaIv& iv, uint16_t epoch, uint64_t sequence) {
  const auto seq_num = dtls_seq_num(epoch, sequence);
  AeadNonce nonce{};
  dtls_chacha_nonce_write(nonce.data(), iv.data(), seq_num.data());
  return nonce;
}

AeadAad dtls_aead_aad(uint16_t epoch, uint64_t sequence, ContentType type, uint16_t version,
                      uint16_t plaintext_len) {
  const auto seq_num = dtls_seq_num(epoch, sequence);
  AeadAad aad{};
  dtls_aead_aad_write(aad.data(), seq_num.data(), static_cast<uint8_t>(type), version, plaintext_len);
  return aad;
}

}  // namespace tg::dtls
