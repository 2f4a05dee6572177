// One direction of DTLS 1.2 AEAD record protection with wolfCrypt: AES-128/256-GCM
// (RFC 5288) or ChaCha20-Poly1305 (RFC 7905), on a record buffer in place.
//
// The nonce and additional data come from dataplane/dtls/dtls_record.h (dtls_gcm_nonce_tx/rx,
// dtls_chacha_nonce, dtls_aead_aad), so this file only moves bytes through wolfCrypt:
//
//   GCM     [13 header][8 explicit nonce = epoch||seq][ciphertext][16 tag]
//   ChaCha  [13 header][ciphertext][16 tag]
//
// Who calls it: the software path of the DTLS fast path (a poll lcore sealing and opening
// the records of the sessions it owns) and the handshake (dtls::DtlsHandshake, to tell a
// client with another PSK from a lost record). init() expands the AES key once; seal() and
// open() allocate nothing, throw nothing and make no system call.
//
// Thread-safety: seal() and open() are const for the caller, but wolfCrypt's AES context is
// scratch space for them (wc_AesGcmEncrypt takes a non-const Aes*): one RecordAead is used by
// one thread at a time, like the session it belongs to (STYLE habit 9).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/dtls_record_keys.h"
#include "dataplane/dtls/dtls_record.h"

namespace tg::crypto {

class RecordAead {
 public:
  /// Largest plaintext of one record (RFC 6347 §4.1 / RFC 5246 §6.2.1: 2^14 bytes).
  static constexpr size_t kMaxPlaintextBytes = size_t{1} << 14;

  RecordAead() = default;
  ~RecordAead();
  RecordAead(const RecordAead&) = delete;  // the key schedule is not copied around
  RecordAead& operator=(const RecordAead&) = delete;

  /// Takes one direction's key and IV (and expands the AES key).
  /// @param cipher the negotiated cipher.
  /// @param keys key_len/iv_len must be the cipher's (16 or 32 / 4 or 12).
  /// @return false on a size mismatch or a wolfCrypt error; the object is then unusable
  ///         (seal returns 0, open false) until a successful init.
  bool init(DtlsCipher cipher, const DtlsDirectionKeys& keys);

  /// Forgets the key (zeroes it); seal/open refuse until the next init.
  void clear();

  bool ready() const { return ready_; }
  DtlsCipher cipher() const { return cipher_; }

  /// Explicit nonce + tag bytes one record carries besides the plaintext: 24 for AES-GCM,
  /// 16 for ChaCha20-Poly1305 (PROTOCOL.md §6.8).
  size_t overhead() const;

  /// Protects one application-data record in place.
  /// Buffer on entry: [13 header bytes (any)][GCM: 8 explicit nonce bytes (any)]
  /// [plaintext_len bytes of plaintext][16 bytes of room]. Writes the header (content type
  /// 23, version DTLS 1.2, epoch, sequence, length), the GCM explicit nonce (epoch||seq,
  /// unique per key as RFC 5288 §3 asks), encrypts the plaintext in place and appends the tag.
  /// @param record the buffer, at least 13 + overhead() + plaintext_len bytes.
  /// @param plaintext_len at most kMaxPlaintextBytes.
  /// @param epoch the keys' epoch.
  /// @param sequence the 48-bit record sequence number; never reuse one under a key.
  /// @return the record length (13 + overhead() + plaintext_len), or 0 when not initialised,
  ///         plaintext_len is too long, sequence is above 2^48 - 1 (e.g.
  ///         DtlsRecordKeys::kTxSequenceUnset) or wolfCrypt fails.
  size_t seal(uint8_t* record, size_t plaintext_len, uint16_t epoch, uint64_t sequence) const;

  /// Authenticates and decrypts one record in place.
  /// @param rec the record, as dtls::dtls_record_parse found it in this buffer (any content
  ///        type: the additional data carries rec.type; the fast path passes application data).
  /// @param record_start the writable address of rec.record.data() (the parse works on a
  ///        const view of the same bytes); a different address is refused.
  /// @param plaintext on success, the plaintext inside the record (after the explicit nonce
  ///        for GCM). Untouched on failure.
  /// @return false when not initialised, the fragment is shorter than overhead(), the
  ///         plaintext would exceed kMaxPlaintextBytes, or the tag does not verify. After a
  ///         failed tag check the fragment's bytes are unspecified (wolfCrypt may have
  ///         decrypted them already): drop the record.
  bool open(const dtls::DtlsRecord& rec, uint8_t* record_start,
            std::span<uint8_t>* plaintext) const;

 private:
  /// Room for wolfCrypt's `Aes` (1104 bytes in Debian's build) without including wolfSSL
  /// headers here; the .cc checks the size and alignment.
  static constexpr size_t kAesStorageBytes = 1280;

  void* aes() const { return aes_storage_; }

  DtlsCipher cipher_ = DtlsCipher::kChacha20Poly1305;
  bool ready_ = false;
  bool aes_initialised_ = false;
  std::array<uint8_t, 32> chacha_key_{};
  std::array<uint8_t, 12> iv_{};  ///< GCM: the 4-byte salt first; ChaCha: the 12-byte IV
  /// mutable: wolfCrypt writes scratch state into it during seal/open (see the top).
  alignas(16) mutable std::byte aes_storage_[kAesStorageBytes] = {};
};

}  // namespace tg::crypto
