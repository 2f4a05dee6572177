// DTLS 1.2 record layer pieces of the fast path, as pure bounds-checked functions:
//
//   * dtls_record_parse: one record header (RFC 6347 §4.1) out of a UDP payload that may
//     hold several records, with the offset of the next one;
//   * dtls_inner_parse: the OpenConnect 1-byte type in front of every application-data
//     plaintext (PROTOCOL.md §6.7);
//   * the AEAD nonce and additional data of DTLS 1.2 AES-GCM (RFC 5288) and
//     ChaCha20-Poly1305 (RFC 7905), built from named fields.
//
//   record:  type(1) | version(2) | epoch(2) | sequence(6) | length(2) | fragment(length)
//   offset:  0         1            3          5             11          13
//
// No DPDK, no wolfSSL, no allocation, no exceptions: the poll lcores run these on mbuf
// data, the tests and the fuzzer on plain bytes. Multi-byte fields are big-endian on the
// wire and host order in the structs. Every length is checked before it is trusted.
//
// Thread-safety: every function here is pure (reads its arguments, writes only its
// output), so any thread may call it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "dataplane/wire.h"  // the byte-order helpers

namespace tg::dtls {

namespace wire {
inline constexpr size_t kRecordHeaderBytes = 13;
inline constexpr size_t kTypeOffset = 0;
inline constexpr size_t kVersionOffset = 1;
inline constexpr size_t kEpochOffset = 3;
inline constexpr size_t kSequenceOffset = 5;
inline constexpr size_t kSequenceBytes = 6;
inline constexpr size_t kLengthOffset = 11;
/// DTLS versions are the one's complement of the TLS ones: {254,253} is DTLS 1.2.
inline constexpr uint16_t kVersionDtls12 = 0xfefd;
/// {254,255} is DTLS 1.0. openconnect (GnuTLS) sends its first ClientHello in a record of
/// this version (PROTOCOL.md §6.6), as RFC 6347 §4.1 allows before the version is agreed.
inline constexpr uint16_t kVersionDtls10 = 0xfeff;
/// RFC 6347 §4.1 / RFC 5246 §6.2.3: a protected record's fragment is at most 2^14 + 2048.
inline constexpr size_t kMaxFragmentBytes = (size_t{1} << 14) + 2048;
inline constexpr uint64_t kMaxSequence = (uint64_t{1} << 48) - 1;
}  // namespace wire

/// Record content types of RFC 6347 §4.1. Heartbeat (24, RFC 6520) and the connection-ID
/// record (25, RFC 9146, a different header) are never negotiated, so they are unknown.
enum class ContentType : uint8_t {
  kChangeCipherSpec = 20,
  kAlert = 21,
  kHandshake = 22,
  kApplicationData = 23,
};

/// OpenConnect's type byte at the start of every application-data plaintext (§6.7; the
/// same values as the CSTP packet types).
enum class InnerType : uint8_t {
  kData = 0x00,         ///< one IP packet follows
  kDpdRequest = 0x03,   ///< also openconnect's MTU probe: echo it back as kDpdResponse
  kDpdResponse = 0x04,
  kDisconnect = 0x05,   ///< ocserv accepts it on DTLS; openconnect sends BYE on CSTP only
  kKeepalive = 0x07,    ///< no reply
  kCompressed = 0x08,   ///< only with X-DTLS-Content-Encoding, which we never negotiate
};

// Why a record or its inner header is dropped: one table for the DTLS receive stage
// (STYLE habit 16), giving the enum value and its counter/log name.
#define TG_DTLS_PARSE_ERRORS(X)                                                   \
  X(kOk, "ok")                                                                    \
  X(kTruncatedHeader, "dtls_truncated_header")   /* fewer than 13 bytes left */    \
  X(kUnknownContentType, "dtls_unknown_content_type")                             \
  X(kBadVersion, "dtls_bad_version")             /* not 1.2 (1.0 before keys) */   \
  X(kEmptyRecord, "dtls_empty_record")           /* length 0: no valid record */   \
  X(kRecordTooLong, "dtls_record_too_long")      /* above 2^14 + 2048 */           \
  X(kLengthBeyondDatagram, "dtls_length_beyond_datagram")                          \
  X(kCiphertextTooShort, "dtls_ciphertext_too_short") /* < nonce + tag */          \
  X(kInnerEmpty, "dtls_inner_empty")             /* plaintext without type byte */ \
  X(kInnerUnknownType, "dtls_inner_unknown_type")                                 \
  X(kInnerCompressed, "dtls_inner_compressed")   /* 0x08: never negotiated */

enum class DtlsParseError : uint8_t {
#define TG_DTLS_PARSE_ERROR_ENUM(name, text) name,
  TG_DTLS_PARSE_ERRORS(TG_DTLS_PARSE_ERROR_ENUM)
#undef TG_DTLS_PARSE_ERROR_ENUM
  kCount,
};

/// Short stable name of an error, e.g. "dtls_bad_version" (logs and drop counters).
const char* dtls_parse_error_name(DtlsParseError error);

/// One record header and where its bytes are. Spans point into the caller's datagram.
struct DtlsRecord {
  ContentType type;
  uint16_t version;              ///< wire::kVersionDtls12, or kVersionDtls10 (see parse)
  uint16_t epoch;
  uint64_t sequence;             ///< 48 bits
  std::span<const uint8_t> record;    ///< header + fragment (13 + length bytes)
  std::span<const uint8_t> fragment;  ///< the `length` bytes after the header
  size_t next_offset;            ///< offset of the next record; == datagram size if last
};

/// Parses the record starting at `offset` of a UDP payload.
/// Checks, in this order: 13 header bytes present, known content type, version, length
/// not 0, not above wire::kMaxFragmentBytes, and not past the end of the datagram.
/// Version: DTLS 1.2 always; DTLS 1.0 ({254,255}) only for handshake and alert records,
/// which is what a client sends before the version is agreed (§6.6). Application data
/// and ChangeCipherSpec come after the agreement and must say 1.2.
/// A datagram holds records back to back (RFC 6347 §4.1.1): parse from offset 0, then
/// from next_offset while it is below the datagram size. An error in one record leaves
/// the rest unparseable (its length cannot be trusted), so the caller drops the rest.
/// @param datagram the UDP payload.
/// @param offset where the record starts; an offset at or past the end gives
///        kTruncatedHeader.
/// @param out written only on kOk.
/// @return kOk or the reason to drop.
inline DtlsParseError dtls_record_parse(std::span<const uint8_t> datagram, size_t offset, DtlsRecord* out);

/// The decrypted application-data plaintext, split into OpenConnect's type and payload.
struct DtlsInner {
  InnerType type;
  std::span<const uint8_t> payload;  ///< after the type byte (may be empty)
};

/// Parses the type byte of an application-data plaintext (§6.7).
/// @param plaintext the record's plaintext after AEAD decryption.
/// @param out written only on kOk.
/// @return kOk; kInnerEmpty for an empty plaintext; kInnerCompressed for 0x08 (we never
///         negotiate compression); kInnerUnknownType otherwise. openconnect only logs an
///         unknown type, so the caller drops the record and keeps the session.
inline DtlsParseError dtls_inner_parse(std::span<const uint8_t> plaintext, DtlsInner* out);

// ---- AEAD record protection (DTLS 1.2) ----

namespace aead {
inline constexpr size_t kNonceBytes = 12;         ///< AES-GCM and ChaCha20-Poly1305 alike
inline constexpr size_t kTagBytes = 16;
/// seq_num of RFC 6347 §4.1.2.1: epoch(2) || sequence(6), big-endian.
inline constexpr size_t kSeqNumBytes = 8;
/// RFC 5288 §3: the nonce is a 4-byte implicit salt from the key block and an 8-byte
/// explicit part carried at the start of each record's fragment.
inline constexpr size_t kGcmSaltBytes = 4;
inline constexpr size_t kGcmExplicitNonceBytes = 8;
/// RFC 7905 §2: ChaCha20-Poly1305 has a 12-byte IV from the key block and no explicit part.
inline constexpr size_t kChachaIvBytes = 12;
/// RFC 5246 §6.2.3.3: seq_num(8) || type(1) || version(2) || plaintext length(2).
inline constexpr size_t kAadBytes = 13;
inline constexpr size_t kAadTypeOffset = 8;
inline constexpr size_t kAadVersionOffset = 9;
inline constexpr size_t kAadLengthOffset = 11;
}  // namespace aead

enum class AeadCipher : uint8_t {
  kAesGcm,            ///< TLS_PSK_WITH_AES_{128,256}_GCM_* (RFC 5288)
  kChacha20Poly1305,  ///< TLS_PSK_WITH_CHACHA20_POLY1305_SHA256, 0xccab (RFC 7905)
};

using AeadNonce = std::array<uint8_t, aead::kNonceBytes>;
using AeadAad = std::array<uint8_t, aead::kAadBytes>;
using GcmSalt = std::array<uint8_t, aead::kGcmSaltBytes>;
using GcmExplicitNonce = std::array<uint8_t, aead::kGcmExplicitNonceBytes>;
using ChachaIv = std::array<uint8_t, aead::kChachaIvBytes>;

/// epoch || sequence as 8 big-endian bytes (the seq_num of the MAC/AAD).
/// @param sequence only its low 48 bits are used (a DTLS sequence number has no more).
std::array<uint8_t, aead::kSeqNumBytes> dtls_seq_num(uint16_t epoch, uint64_t sequence);

/// Bytes a record fragment carries besides the plaintext: the explicit nonce (GCM only)
/// and the tag. AES-GCM 24, ChaCha20-Poly1305 16 (§6.8).
size_t dtls_aead_overhead(AeadCipher cipher);

/// Plaintext length of a protected fragment of `fragment_len` bytes.
/// @return kOk with *plaintext_len set, or kCiphertextTooShort when the fragment cannot
///         hold the explicit nonce and the tag.
DtlsParseError dtls_aead_plaintext_len(AeadCipher cipher, size_t fragment_len,
                                       size_t* plaintext_len);

/// AES-GCM nonce of a record we send: salt || epoch || sequence. We use seq_num as the
/// explicit part, as RFC 5288 §3 suggests, so it never repeats under one key.
AeadNonce dtls_gcm_nonce_tx(const GcmSalt& salt, uint16_t epoch, uint64_t sequence);

/// AES-GCM nonce of a record we receive: salt || the 8 explicit bytes at the start of
/// the fragment. The peer chooses them (RFC 5288 only requires uniqueness), so they are
/// taken from the record, not rebuilt from the header.
AeadNonce dtls_gcm_nonce_rx(const GcmSalt& salt, const GcmExplicitNonce& explicit_nonce);

/// ChaCha20-Poly1305 nonce (RFC 7905 §2): the 12-byte IV XOR seq_num left-padded with
/// four zero bytes. The same for both directions (each has its own IV).
AeadNonce dtls_chacha_nonce(const ChachaIv& iv, uint16_t epoch, uint64_t sequence);

/// Additional data of a DTLS 1.2 AEAD record (RFC 5246 §6.2.3.3 with RFC 6347's
/// seq_num): epoch || sequence || type || version || plaintext length. The length is the
/// plaintext's (the fragment minus explicit nonce and tag), for both ciphers.
AeadAad dtls_aead_aad(uint16_t epoch, uint64_t sequence, ContentType type, uint16_t version,
                      uint16_t plaintext_len);

// The same layouts written into caller memory, inline: the poll lcores' record path
// (dataplane/record_crypto.cc) builds nonce and AAD straight from the record header it
// holds, whose bytes 3..10 are seq_num. The functions above are made of these, so each
// layout is written once.

/// seq_num: epoch || the low 48 bits of sequence, big-endian, into out[0..7].
inline void dtls_seq_num_write(uint8_t* out, uint16_t epoch, uint64_t sequence) {
  dp::store_be16(out, epoch);
  dp::store_be16(out + 2, static_cast<uint16_t>(sequence >> 32));
  dp::store_be32(out + 4, static_cast<uint32_t>(sequence));
}

/// AES-GCM nonce (RFC 5288 §3): the 4-byte salt || the 8-byte explicit nonce.
inline void dtls_gcm_nonce_write(uint8_t* out, const uint8_t* salt, const uint8_t* explicit_nonce) {
  std::memcpy(out, salt, aead::kGcmSaltBytes);
  std::memcpy(out + aead::kGcmSaltBytes, explicit_nonce, aead::kGcmExplicitNonceBytes);
}

/// ChaCha20-Poly1305 nonce (RFC 7905 §2): the 12-byte IV XOR seq_num left-padded with
/// four zero bytes.
inline void dtls_chacha_nonce_write(uint8_t* out, const uint8_t* iv, const uint8_t* seq_num) {
  constexpr size_t kPadBytes = aead::kNonceBytes - aead::kSeqNumBytes;
  std::memcpy(out, iv, aead::kNonceBytes);
  for (size_t i = 0; i < aead::kSeqNumBytes; i++) out[kPadBytes + i] ^= seq_num[i];
}

/// Additional data: seq_num || type || version || plaintext length.
inline void dtls_aead_aad_write(uint8_t* out, const uint8_t* seq_num, uint8_t type, uint16_t version,
                                uint16_t plaintext_len) {
  std::memcpy(out, seq_num, aead::kSeqNumBytes);
  out[aead::kAadTypeOffset] = type;
  dp::store_be16(out + aead::kAadVersionOffset, version);
  dp::store_be16(out + aead::kAadLengthOffset, plaintext_len);
}

// ---- inline definitions ----
// dtls_record_parse runs once per received datagram on the poll lcores: inline, so that
// dtls_input parses straight into its burst's staging slot (a call writing a stack copy
// field by field, then copied in 8-byte loads, stalled on store forwarding: perf).

namespace detail {
inline bool content_type_known(uint8_t type) {
  switch (static_cast<ContentType>(type)) {
    case ContentType::kChangeCipherSpec:
    case ContentType::kAlert:
    case ContentType::kHandshake:
    case ContentType::kApplicationData:
      return true;
  }
  return false;
}

inline bool version_allowed(ContentType type, uint16_t version) {
  if (version == wire::kVersionDtls12) return true;
  return version == wire::kVersionDtls10 && (type == ContentType::kHandshake || type == ContentType::kAlert);
}
}  // namespace detail

inline DtlsParseError dtls_record_parse(std::span<const uint8_t> datagram, size_t offset, DtlsRecord* out) {
  // Written as "what is left" so that no sum can overflow, whatever offset is.
  if (offset > datagram.size() || datagram.size() - offset < wire::kRecordHeaderBytes)
    return DtlsParseError::kTruncatedHeader;
  const size_t available = datagram.size() - offset - wire::kRecordHeaderBytes;
  const uint8_t* header = datagram.data() + offset;

  const uint8_t type_byte = header[wire::kTypeOffset];
  if (!detail::content_type_known(type_byte)) return DtlsParseError::kUnknownContentType;
  const auto type = static_cast<ContentType>(type_byte);
  const uint16_t version = dp::load_be16(header + wire::kVersionOffset);
  if (!detail::version_allowed(type, version)) return DtlsParseError::kBadVersion;
  const size_t length = dp::load_be16(header + wire::kLengthOffset);
  if (length == 0) return DtlsParseError::kEmptyRecord;
  if (length > wire::kMaxFragmentBytes) return DtlsParseError::kRecordTooLong;
  if (length > available) return DtlsParseError::kLengthBeyondDatagram;

  out->type = type;
  out->version = version;
  out->epoch = dp::load_be16(header + wire::kEpochOffset);
  static_assert(wire::kSequenceBytes == 6);
  out->sequence = uint64_t{dp::load_be16(header + wire::kSequenceOffset)} << 32 |
                  dp::load_be32(header + wire::kSequenceOffset + 2);
  out->record = datagram.subspan(offset, wire::kRecordHeaderBytes + length);
  out->fragment = datagram.subspan(offset + wire::kRecordHeaderBytes, length);
  out->next_offset = offset + wire::kRecordHeaderBytes + length;
  return DtlsParseError::kOk;
}

inline DtlsParseError dtls_inner_parse(std::span<const uint8_t> plaintext, DtlsInner* out) {
  if (plaintext.empty()) return DtlsParseError::kInnerEmpty;
  const auto type = static_cast<InnerType>(plaintext[0]);
  switch (type) {
    case InnerType::kData:
    case InnerType::kDpdRequest:
    case InnerType::kDpdResponse:
    case InnerType::kDisconnect:
    case InnerType::kKeepalive:
      out->type = type;
      out->payload = plaintext.subspan(1);
      return DtlsParseError::kOk;
    case InnerType::kCompressed:
      return DtlsParseError::kInnerCompressed;
  }
  return DtlsParseError::kInnerUnknownType;
}

}  // namespace tg::dtls
