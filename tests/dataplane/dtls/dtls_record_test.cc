// DTLS record header parser, OpenConnect inner type, AEAD nonce/AAD builders.
// Malformed input first (every truncation, bad versions and types, lengths past the end,
// zero length), then well-formed records, then known answers built by hand from the
// RFCs' definitions.
#include "dataplane/dtls/dtls_record.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace tg::dtls {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr uint8_t kAppData = 23;
constexpr uint8_t kHandshake = 22;

// A record written out byte by byte, as on the wire.
Bytes make_record(uint8_t type, uint16_t version, uint16_t epoch, uint64_t seq,
                  const Bytes& fragment) {
  Bytes out = {type, static_cast<uint8_t>(version >> 8), static_cast<uint8_t>(version),
               static_cast<uint8_t>(epoch >> 8), static_cast<uint8_t>(epoch)};
  for (int shift = 40; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(seq >> shift));
  out.push_back(static_cast<uint8_t>(fragment.size() >> 8));
  out.push_back(static_cast<uint8_t>(fragment.size()));
  out.insert(out.end(), fragment.begin(), fragment.end());
  return out;
}

Bytes app_record(const Bytes& fragment) {
  return make_record(kAppData, wire::kVersionDtls12, 1, 0x0102030405, fragment);
}

DtlsParseError parse(const Bytes& datagram, size_t offset = 0) {
  DtlsRecord record{};
  return dtls_record_parse(datagram, offset, &record);
}

// ---- Malformed records ----

TEST(DtlsRecordMalformed, EmptyDatagram) {
  EXPECT_EQ(DtlsParseError::kTruncatedHeader, parse({}));
}

TEST(DtlsRecordMalformed, EveryTruncation) {
  const Bytes full = app_record(Bytes(40, 0xab));
  for (size_t len = 0; len < full.size(); len++) {
    const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    const DtlsParseError expected = len < wire::kRecordHeaderBytes
                                        ? DtlsParseError::kTruncatedHeader
                                        : DtlsParseError::kLengthBeyondDatagram;
    EXPECT_EQ(expected, parse(cut)) << "length " << len;
  }
  EXPECT_EQ(DtlsParseError::kOk, parse(full));
}

TEST(DtlsRecordMalformed, EveryTruncationOfTheSecondRecord) {
  const Bytes first = app_record(Bytes(20, 1));
  const Bytes second = app_record(Bytes(30, 2));
  for (size_t len = 0; len < second.size(); len++) {
    Bytes datagram = first;
    datagram.insert(datagram.end(), second.begin(),
                    second.begin() + static_cast<std::ptrdiff_t>(len));
    DtlsRecord record{};
    ASSERT_EQ(DtlsParseError::kOk, dtls_record_parse(datagram, 0, &record));
    ASSERT_EQ(first.size(), record.next_offset);
    const DtlsParseError expected = len < wire::kRecordHeaderBytes
                                        ? DtlsParseError::kTruncatedHeader
                                        : DtlsParseError::kLengthBeyondDatagram;
    EXPECT_EQ(expected, dtls_record_parse(datagram, record.next_offset, &record)) << len;
  }
}

TEST(DtlsRecordMalformed, OffsetAtOrPastTheEnd) {
  const Bytes full = app_record(Bytes(4, 0));
  EXPECT_EQ(DtlsParseError::kTruncatedHeader, parse(full, full.size()));
  EXPECT_EQ(DtlsParseError::kTruncatedHeader, parse(full, full.size() + 1));
  EXPECT_EQ(DtlsParseError::kTruncatedHeader, parse(full, SIZE_MAX));
  // 12 bytes left: one short of a header.
  EXPECT_EQ(DtlsParseError::kTruncatedHeader, parse(full, full.size() - 12));
}

TEST(DtlsRecordMalformed, EveryUnknownContentType) {
  for (int type = 0; type <= 0xff; type++) {
    if (type >= 20 && type <= 23) continue;
    const Bytes record = make_record(static_cast<uint8_t>(type), wire::kVersionDtls12, 1, 1, {0});
    EXPECT_EQ(DtlsParseError::kUnknownContentType, parse(record)) << type;
  }
}

TEST(DtlsRecordMalformed, BadVersions) {
  // TLS 1.2, TLS 1.0, SSL 3, DTLS 1.3's legacy value reversed, neighbours of 1.2 and 1.0,
  // the bytes swapped, zero, all ones.
  for (uint16_t version : {0x0303, 0x0301, 0x0300, 0xfdfe, 0xfefc, 0xfefe, 0xfdfd, 0xfffd,
                           0xfdfe, 0xfffe, 0x0000, 0xffff, 0x00fe, 0xfe00}) {
    for (uint8_t type : {20, 21, 22, 23}) {
      EXPECT_EQ(DtlsParseError::kBadVersion,
                parse(make_record(type, version, 0, 0, {1, 2, 3})))
          << std::hex << version << " type " << std::dec << int{type};
    }
  }
}

TEST(DtlsRecordMalformed, Dtls10OnlyBeforeTheVersionIsAgreed) {
  EXPECT_EQ(DtlsParseError::kBadVersion,
            parse(make_record(kAppData, wire::kVersionDtls10, 1, 1, {0})));
  EXPECT_EQ(DtlsParseError::kBadVersion,
            parse(make_record(20, wire::kVersionDtls10, 0, 1, {1})));
  EXPECT_EQ(DtlsParseError::kOk, parse(make_record(kHandshake, wire::kVersionDtls10, 0, 0, {1})));
  EXPECT_EQ(DtlsParseError::kOk, parse(make_record(21, wire::kVersionDtls10, 0, 0, {2, 40})));
}

TEST(DtlsRecordMalformed, ZeroLength) {
  for (uint8_t type : {20, 21, 22, 23})
    EXPECT_EQ(DtlsParseError::kEmptyRecord,
              parse(make_record(type, wire::kVersionDtls12, 1, 1, {})))
        << int{type};
  // A zero-length record followed by more bytes is still rejected.
  Bytes datagram = app_record({});
  datagram.resize(datagram.size() + 20, 0);
  EXPECT_EQ(DtlsParseError::kEmptyRecord, parse(datagram));
}

TEST(DtlsRecordMalformed, LengthPastTheEnd) {
  Bytes record = app_record(Bytes(10, 0));
  for (uint16_t claimed : {11, 12, 100, 1500, static_cast<int>(wire::kMaxFragmentBytes)}) {
    record[wire::kLengthOffset] = static_cast<uint8_t>(claimed >> 8);
    record[wire::kLengthOffset + 1] = static_cast<uint8_t>(claimed);
    EXPECT_EQ(DtlsParseError::kLengthBeyondDatagram, parse(record)) << claimed;
  }
}

TEST(DtlsRecordMalformed, LengthAboveTheProtocolMaximum) {
  const Bytes big(wire::kMaxFragmentBytes + 1, 0);
  EXPECT_EQ(DtlsParseError::kRecordTooLong, parse(app_record(big)));
  Bytes header = app_record({});
  header[wire::kLengthOffset] = 0xff;
  header[wire::kLengthOffset + 1] = 0xff;
  EXPECT_EQ(DtlsParseError::kRecordTooLong, parse(header));
}

TEST(DtlsRecordMalformed, OutputUntouchedOnError) {
  DtlsRecord record{};
  record.epoch = 0x5a5a;
  record.next_offset = 77;
  const Bytes bad = app_record({});
  EXPECT_NE(DtlsParseError::kOk, dtls_record_parse(bad, 0, &record));
  EXPECT_EQ(0x5a5a, record.epoch);
  EXPECT_EQ(77u, record.next_offset);
}

// ---- Well-formed records ----

TEST(DtlsRecord, ParsesEveryHeaderField) {
  const Bytes fragment = {0xde, 0xad, 0xbe, 0xef, 0x01};
  const Bytes datagram = make_record(kAppData, wire::kVersionDtls12, 0xa1b2, 0xc1c2c3c4c5c6, fragment);
  DtlsRecord record{};
  ASSERT_EQ(DtlsParseError::kOk, dtls_record_parse(datagram, 0, &record));
  EXPECT_EQ(ContentType::kApplicationData, record.type);
  EXPECT_EQ(wire::kVersionDtls12, record.version);
  EXPECT_EQ(0xa1b2, record.epoch);
  EXPECT_EQ(0xc1c2c3c4c5c6u, record.sequence);
  EXPECT_EQ(datagram.data(), record.record.data());
  EXPECT_EQ(datagram.size(), record.record.size());
  ASSERT_EQ(fragment.size(), record.fragment.size());
  EXPECT_EQ(datagram.data() + wire::kRecordHeaderBytes, record.fragment.data());
  EXPECT_EQ(0, std::memcmp(fragment.data(), record.fragment.data(), fragment.size()));
  EXPECT_EQ(datagram.size(), record.next_offset);
}

TEST(DtlsRecord, SequenceExtremes) {
  DtlsRecord record{};
  Bytes datagram = make_record(kAppData, wire::kVersionDtls12, 0xffff, wire::kMaxSequence, {9});
  ASSERT_EQ(DtlsParseError::kOk, dtls_record_parse(datagram, 0, &record));
  EXPECT_EQ(wire::kMaxSequence, record.sequence);
  EXPECT_EQ(0xffff, record.epoch);
  datagram = make_record(kAppData, wire::kVersionDtls12, 0, 0, {9});
  ASSERT_EQ(DtlsParseError::kOk, dtls_record_parse(datagram, 0, &record));
  EXPECT_EQ(0u, record.sequence);
  EXPECT_EQ(0, record.epoch);
}

TEST(DtlsRecord, SeveralRecordsInOneDatagram) {
  // A handshake flight as a server might pack it: ChangeCipherSpec then an encrypted
  // Finished (epoch 1), then application data.
  const Bytes ccs = make_record(20, wire::kVersionDtls12, 0, 3, {1});
  const Bytes finished = make_record(kHandshake, wire::kVersionDtls12, 1, 0, Bytes(40, 7));
  const Bytes data = make_record(kAppData, wire::kVersionDtls12, 1, 1, Bytes(100, 8));
  Bytes datagram = ccs;
  datagram.insert(datagram.end(), finished.begin(), finished.end());
  datagram.insert(datagram.end(), data.begin(), data.end());

  std::vector<DtlsRecord> records;
  size_t offset = 0;
  while (offset < datagram.size()) {
    DtlsRecord record{};
    ASSERT_EQ(DtlsParseError::kOk, dtls_record_parse(datagram, offset, &record));
    ASSERT_GT(record.next_offset, offset);
    offset = record.next_offset;
    records.push_back(record);
  }
  ASSERT_EQ(3u, records.size());
  EXPECT_EQ(ContentType::kChangeCipherSpec, records[0].type);
  EXPECT_EQ(ContentType::kHandshake, records[1].type);
  EXPECT_EQ(1, records[1].epoch);
  EXPECT_EQ(40u, records[1].fragment.size());
  EXPECT_EQ(ContentType::kApplicationData, records[2].type);
  EXPECT_EQ(1u, records[2].sequence);
  EXPECT_EQ(100u, records[2].fragment.size());
  EXPECT_EQ(datagram.size(), offset);
}

TEST(DtlsRecord, OpenconnectFirstClientHelloRecordHeader) {
  // PROTOCOL.md §6.4: 0x16, version 0xfeff, epoch 0, sequence 0, then the length.
  Bytes datagram = {0x16, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x03, 0x01, 0x00, 0x00};
  DtlsRecord record{};
  ASSERT_EQ(DtlsParseError::kOk, dtls_record_parse(datagram, 0, &record));
  EXPECT_EQ(ContentType::kHandshake, record.type);
  EXPECT_EQ(wire::kVersionDtls10, record.version);
  EXPECT_EQ(3u, record.fragment.size());
}

TEST(DtlsRecord, LargestFragmentAccepted) {
  const Bytes datagram = app_record(Bytes(wire::kMaxFragmentBytes, 0));
  EXPECT_EQ(DtlsParseError::kOk, parse(datagram));
}

TEST(DtlsRecord, ErrorNamesAreDistinctAndStable) {
  EXPECT_STREQ("ok", dtls_parse_error_name(DtlsParseError::kOk));
  EXPECT_STREQ("dtls_bad_version", dtls_parse_error_name(DtlsParseError::kBadVersion));
  EXPECT_STREQ("dtls_unknown_error", dtls_parse_error_name(DtlsParseError::kCount));
  for (int a = 0; a < static_cast<int>(DtlsParseError::kCount); a++)
    for (int b = a + 1; b < static_cast<int>(DtlsParseError::kCount); b++)
      EXPECT_STRNE(dtls_parse_error_name(static_cast<DtlsParseError>(a)),
                   dtls_parse_error_name(static_cast<DtlsParseError>(b)));
}

// ---- OpenConnect inner type (§6.7) ----

TEST(DtlsInnerMalformed, EmptyPlaintext) {
  DtlsInner inner{};
  EXPECT_EQ(DtlsParseError::kInnerEmpty, dtls_inner_parse({}, &inner));
}

TEST(DtlsInnerMalformed, CompressedIsRejected) {
  const Bytes plaintext = {0x08, 0x78, 0x9c};
  DtlsInner inner{};
  EXPECT_EQ(DtlsParseError::kInnerCompressed, dtls_inner_parse(plaintext, &inner));
}

TEST(DtlsInnerMalformed, EveryUnknownType) {
  for (int type = 0; type <= 0xff; type++) {
    if (type == 0x00 || type == 0x03 || type == 0x04 || type == 0x05 || type == 0x07 ||
        type == 0x08)
      continue;
    const Bytes plaintext = {static_cast<uint8_t>(type), 0x45};
    DtlsInner inner{};
    EXPECT_EQ(DtlsParseError::kInnerUnknownType, dtls_inner_parse(plaintext, &inner)) << type;
  }
}

TEST(DtlsInner, KnownTypesAndPayload) {
  const struct {
    uint8_t byte;
    InnerType type;
  } known[] = {{0x00, InnerType::kData},       {0x03, InnerType::kDpdRequest},
               {0x04, InnerType::kDpdResponse}, {0x05, InnerType::kDisconnect},
               {0x07, InnerType::kKeepalive}};
  for (const auto& k : known) {
    const Bytes plaintext = {k.byte, 0x45, 0x00, 0x00, 0x54};
    DtlsInner inner{};
    ASSERT_EQ(DtlsParseError::kOk, dtls_inner_parse(plaintext, &inner)) << int{k.byte};
    EXPECT_EQ(k.type, inner.type);
    EXPECT_EQ(plaintext.data() + 1, inner.payload.data());
    EXPECT_EQ(4u, inner.payload.size());
  }
  // A bare keepalive is one byte: the payload is empty.
  const Bytes keepalive = {0x07};
  DtlsInner inner{};
  ASSERT_EQ(DtlsParseError::kOk, dtls_inner_parse(keepalive, &inner));
  EXPECT_TRUE(inner.payload.empty());
}

// ---- AEAD: overhead, nonces, AAD (known answers from the RFC definitions) ----

TEST(DtlsAeadMalformed, CiphertextShorterThanNonceAndTag) {
  size_t plaintext_len = 12345;
  for (size_t len = 0; len < 24; len++)
    EXPECT_EQ(DtlsParseError::kCiphertextTooShort,
              dtls_aead_plaintext_len(AeadCipher::kAesGcm, len, &plaintext_len)) << len;
  for (size_t len = 0; len < 16; len++)
    EXPECT_EQ(DtlsParseError::kCiphertextTooShort,
              dtls_aead_plaintext_len(AeadCipher::kChacha20Poly1305, len, &plaintext_len)) << len;
  EXPECT_EQ(12345u, plaintext_len);
}

TEST(DtlsAead, OverheadMatchesProtocolTable) {
  // PROTOCOL.md §6.8: GCM 13 + 8 + 16 = 37 per record, ChaCha20-Poly1305 13 + 16 = 29.
  EXPECT_EQ(37u, wire::kRecordHeaderBytes + dtls_aead_overhead(AeadCipher::kAesGcm));
  EXPECT_EQ(29u, wire::kRecordHeaderBytes + dtls_aead_overhead(AeadCipher::kChacha20Poly1305));
  size_t plaintext_len = 0;
  // §6.8's observation (GCM): an 84-byte ICMP packet + the type byte in a 109-byte
  // record fragment, 13 + 109 + 8 = a 130-byte UDP datagram, 150 bytes with IPv4.
  ASSERT_EQ(DtlsParseError::kOk,
            dtls_aead_plaintext_len(AeadCipher::kAesGcm, 109, &plaintext_len));
  EXPECT_EQ(84u + 1, plaintext_len);
  ASSERT_EQ(DtlsParseError::kOk,
            dtls_aead_plaintext_len(AeadCipher::kChacha20Poly1305, 16, &plaintext_len));
  EXPECT_EQ(0u, plaintext_len);
}

TEST(DtlsAead, SeqNumIsEpochThen48BitSequenceBigEndian) {
  EXPECT_EQ((std::array<uint8_t, 8>{0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a}),
            dtls_seq_num(1, 42));
  EXPECT_EQ((std::array<uint8_t, 8>{0xab, 0xcd, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab}),
            dtls_seq_num(0xabcd, 0x0123456789ab));
  EXPECT_EQ((std::array<uint8_t, 8>{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
            dtls_seq_num(0xffff, wire::kMaxSequence));
  // Bits above 48 are not a DTLS sequence number and cannot spill into the epoch.
  EXPECT_EQ((std::array<uint8_t, 8>{0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05}),
            dtls_seq_num(2, (uint64_t{0x7777} << 48) | 5));
}

TEST(DtlsAead, GcmNonceIsSaltThenExplicitPart) {
  // RFC 5288 §3: GCMNonce = salt[4] || nonce_explicit[8]; we send seq_num as the explicit
  // part.
  const GcmSalt salt = {0x11, 0x22, 0x33, 0x44};
  const AeadNonce expected = {0x11, 0x22, 0x33, 0x44,  // salt
                              0x00, 0x01,              // epoch 1
                              0x00, 0x00, 0x00, 0x00, 0x01, 0x00};  // sequence 256
  EXPECT_EQ(expected, dtls_gcm_nonce_tx(salt, 1, 256));
  // On receive the explicit bytes come from the record, whatever the header says.
  const GcmExplicitNonce explicit_nonce = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7};
  const AeadNonce expected_rx = {0x11, 0x22, 0x33, 0x44, 0xa0, 0xa1,
                                 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7};
  EXPECT_EQ(expected_rx, dtls_gcm_nonce_rx(salt, explicit_nonce));
}

TEST(DtlsAead, ChachaNonceIsIvXorPaddedSeqNum) {
  // RFC 7905 §2: the 64-bit seq_num, left-padded with four zero bytes, XORed with the
  // 12-byte IV.
  const ChachaIv iv = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb};
  const AeadNonce expected = {0x00, 0x11, 0x22, 0x33,            // pad: IV unchanged
                              0x44 ^ 0x00, 0x55 ^ 0x01,          // epoch 0x0001
                              0x66 ^ 0x00, 0x77 ^ 0x00, 0x88 ^ 0x00,
                              0x99 ^ 0x01, 0xaa ^ 0x02, 0xbb ^ 0x03};  // sequence 0x010203
  EXPECT_EQ(expected, dtls_chacha_nonce(iv, 1, 0x010203));
  // Sequence 0 of epoch 0 gives the IV itself.
  EXPECT_EQ(iv, dtls_chacha_nonce(iv, 0, 0));
  // Every seq_num bit flips exactly one nonce bit.
  const ChachaIv zero{};
  const AeadNonce all_ones = {0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_EQ(all_ones, dtls_chacha_nonce(zero, 0xffff, wire::kMaxSequence));
}

TEST(DtlsAead, AadIsSeqNumTypeVersionPlaintextLength) {
  // RFC 5246 §6.2.3.3 with RFC 6347 §4.1.2.1's seq_num.
  const AeadAad expected = {0x00, 0x01,                          // epoch
                            0x00, 0x00, 0x00, 0x00, 0x00, 0x07,  // sequence
                            0x17,                                // application_data
                            0xfe, 0xfd,                          // DTLS 1.2
                            0x00, 0x55};                         // 85 plaintext bytes
  EXPECT_EQ(expected, dtls_aead_aad(1, 7, ContentType::kApplicationData,
                                    wire::kVersionDtls12, 85));
  const AeadAad expected_max = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0x16, 0xfe, 0xfd, 0x40, 0x00};
  EXPECT_EQ(expected_max, dtls_aead_aad(0xffff, wire::kMaxSequence, ContentType::kHandshake,
                                        wire::kVersionDtls12, 0x4000));
}

// The parsed header feeds the builders directly: the AAD of a received GCM record.
TEST(DtlsAead, AadFromAParsedRecord) {
  const Bytes fragment(8 + 5 + 16, 0x3c);  // explicit nonce + 5 plaintext bytes + tag
  const Bytes datagram = make_record(kAppData, wire::kVersionDtls12, 1, 0x10, fragment);
  DtlsRecord record{};
  ASSERT_EQ(DtlsParseError::kOk, dtls_record_parse(datagram, 0, &record));
  size_t plaintext_len = 0;
  ASSERT_EQ(DtlsParseError::kOk,
            dtls_aead_plaintext_len(AeadCipher::kAesGcm, record.fragment.size(), &plaintext_len));
  const AeadAad aad = dtls_aead_aad(record.epoch, record.sequence, record.type, record.version,
                                    static_cast<uint16_t>(plaintext_len));
  const AeadAad expected = {0, 1, 0, 0, 0, 0, 0, 0x10, 0x17, 0xfe, 0xfd, 0, 5};
  EXPECT_EQ(expected, aad);
}

}  // namespace
}  // namespace tg::dtls
