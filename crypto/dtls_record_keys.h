// DTLS 1.2 record keys of one session, as the fast path needs them after the handshake:
// the negotiated AEAD, the epoch, each direction's write key and implicit IV, and the first
// sequence number the server may send with. This is everything the dataplane gets from a
// DTLS handshake (STYLE habit 4): the PSK and the master secret stay with the handshake.
//
// Where the bytes come from (wolfSSL 5.5.4, src/keys.c StoreKeys and SetKeys, read for this):
//   * the key block is client_write_key | server_write_key | client_write_IV |
//     server_write_IV (AEAD suites have no MAC keys); wolfSSL_GetClientWriteKey/IV and
//     wolfSSL_GetServerWriteKey/IV return those buffers, wolfSSL_GetKeySize/IVSize their sizes;
//   * AES-GCM: the IV is the 4-byte implicit salt of RFC 5288 (AESGCM_IMP_IV_SZ); the 8-byte
//     explicit part travels in each record;
//   * ChaCha20-Poly1305: the IV is the full 12-byte IV of RFC 7905 (CHACHA20_IMP_IV_SZ), XORed
//     with the left-padded seq_num per record; no explicit part.
//   * wolfSSL_GetSequenceNumber reads the TLS counter, which DTLS leaves untouched (DTLS
//     keeps keys.dtls_sequence_number_hi/lo per epoch, in no exported accessor), so it says
//     nothing about what was sent. The code that moved the datagrams knows it:
//     dtls::DtlsHandshake::export_keys watches every record wolfSSL sends.
//
// Thread-safety: the functions read the WOLFSSL* they are given; call them on the thread
// that owns it. DtlsRecordKeys is plain data.
#pragma once

#include <array>
#include <cstdint>
#include <string>

// Forward declaration, so that this header needs no wolfSSL include (ssl.h's typedef).
struct WOLFSSL;

namespace tg::crypto {

/// The record protections the fast path implements (DTLS 1.2 AEAD suites, PROTOCOL.md §6.5).
enum class DtlsCipher : uint8_t {
  kAes128Gcm,         ///< TLS_*_WITH_AES_128_GCM_SHA256 (RFC 5288): key 16, salt 4
  kAes256Gcm,         ///< TLS_*_WITH_AES_256_GCM_SHA384 (RFC 5288): key 32, salt 4
  kChacha20Poly1305,  ///< TLS_*_WITH_CHACHA20_POLY1305_SHA256 (RFC 7905): key 32, IV 12
};

/// One direction's write key and implicit IV.
struct DtlsDirectionKeys {
  std::array<uint8_t, 32> key{};
  uint8_t key_len = 0;  ///< 16 or 32
  std::array<uint8_t, 12> iv{};
  uint8_t iv_len = 0;   ///< GCM: 4-byte salt (RFC 5288); ChaCha: 12-byte IV (RFC 7905)
};

/// Everything the fast path needs to protect one DTLS session's records.
struct DtlsRecordKeys {
  /// tx_next_sequence of a DtlsRecordKeys whose sender is not known yet: above every 48-bit
  /// sequence number, so that crypto::RecordAead::seal refuses it instead of reusing a nonce.
  static constexpr uint64_t kTxSequenceUnset = UINT64_MAX;

  DtlsCipher cipher{};
  uint16_t epoch = 0;             ///< the epoch application data uses after the handshake (1)
  DtlsDirectionKeys rx;           ///< what this side decrypts with (server: client_write_*)
  DtlsDirectionKeys tx;           ///< what this side encrypts with (server: server_write_*)
  /// Next 48-bit sequence number this side may send in `epoch`: strictly above every record
  /// the handshake sent in that epoch (its Finished and the retransmissions of it).
  uint64_t tx_next_sequence = kTxSequenceUnset;

  /// Overwrites the keys and IVs with zeros in a way the compiler may not drop.
  void wipe();
};

/// "AES-128-GCM", "AES-256-GCM", "CHACHA20-POLY1305" (logs; the names GnuTLS prints).
const char* dtls_cipher_name(DtlsCipher cipher);

/// Key length of a cipher: 16 for AES-128-GCM, 32 otherwise.
uint8_t dtls_cipher_key_len(DtlsCipher cipher);

/// Implicit IV length of a cipher: 4 for AES-GCM (the salt), 12 for ChaCha20-Poly1305.
uint8_t dtls_cipher_iv_len(DtlsCipher cipher);

/// The record keys of a DTLS 1.2 connection whose handshake completed.
/// Checks: the handshake finished (wolfSSL_is_init_finished), the version is DTLS 1.2, the
/// suite is an AEAD one the fast path implements (AES-128/256-GCM or RFC 7905
/// ChaCha20-Poly1305; CBC, CCM and the pre-RFC ChaCha suites are refused), and wolfSSL's
/// key and IV sizes are the ones of that suite.
/// rx/tx follow the side: on a server, rx = client_write_*, tx = server_write_*; on a client
/// the other way round (the tests export both ends and compare).
/// epoch is 1: a DTLS 1.2 full handshake switches to epoch 1 and this wolfSSL build has no
/// renegotiation (HAVE_SECURE_RENEGOTIATION is off), so no later epoch exists.
/// tx_next_sequence is left at DtlsRecordKeys::kTxSequenceUnset: wolfSSL does not tell what
/// it sent (see the top of this file); dtls::DtlsHandshake::export_keys sets it.
/// @param ssl a DTLS 1.2 WOLFSSL*, on the thread that owns it.
/// @param out written only on success.
/// @param error on failure, why (names the suite or the size that did not fit).
/// @return true on success.
bool dtls_export_record_keys(WOLFSSL* ssl, DtlsRecordKeys* out, std::string* error);

/// The same, for a handshake still in progress: the key block as wolfSSL derived it when it
/// processed the ClientKeyExchange (before that it is zeros). The handshake uses it to tell a
/// client with another PSK (its Finished does not authenticate under these keys) from a lost
/// or reordered record; wolfSSL itself drops such a record without a word.
/// @return false when no AEAD suite was negotiated yet or the sizes do not fit.
bool dtls_derived_record_keys(WOLFSSL* ssl, DtlsRecordKeys* out, std::string* error);

}  // namespace tg::crypto
