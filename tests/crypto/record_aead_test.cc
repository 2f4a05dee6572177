// crypto::RecordAead: invalid use first, then known answers computed with another
// implementation (record_aead_vectors.py, pyca/cryptography), then round trips of every
// size and cipher, then every single-bit tampering and every truncation of a record.
// Interop with wolfSSL's own record layer is in dtls_record_keys_test.cc.
#include "crypto/record_aead.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "dataplane/dtls/dtls_record.h"
#include "tests/crypto/wolfssl_dtls_endpoint.h"

namespace tg::crypto {
namespace {

using test::from_hex;
using test::to_hex;
using Bytes = std::vector<uint8_t>;

constexpr size_t kHeader = dtls::wire::kRecordHeaderBytes;
constexpr size_t kTag = 16;

DtlsDirectionKeys make_keys(DtlsCipher cipher, uint8_t seed) {
  DtlsDirectionKeys keys;
  keys.key_len = dtls_cipher_key_len(cipher);
  keys.iv_len = dtls_cipher_iv_len(cipher);
  for (size_t i = 0; i < keys.key.size(); i++) keys.key[i] = static_cast<uint8_t>(seed + i);
  for (size_t i = 0; i < keys.iv.size(); i++) keys.iv[i] = static_cast<uint8_t>(seed * 3 + i);
  return keys;
}

/// A buffer laid out as seal() wants it, with `plaintext` in place.
Bytes sealable(const RecordAead& aead, const Bytes& plaintext) {
  const size_t explicit_len = aead.overhead() - kTag;
  Bytes buffer(kHeader + explicit_len + plaintext.size() + kTag, 0xee);
  std::copy(plaintext.begin(), plaintext.end(), buffer.begin() + static_cast<std::ptrdiff_t>(kHeader + explicit_len));
  return buffer;
}

Bytes seal(const RecordAead& aead, const Bytes& plaintext, uint16_t epoch, uint64_t seq) {
  Bytes buffer = sealable(aead, plaintext);
  const size_t len = aead.seal(buffer.data(), plaintext.size(), epoch, seq);
  buffer.resize(len);
  return buffer;
}

/// Parses and opens `record` (a copy); true and the plaintext when it authenticates.
bool open_copy(const RecordAead& aead, Bytes record, Bytes* plaintext) {
  dtls::DtlsRecord rec{};
  if (dtls::dtls_record_parse(record, 0, &rec) != dtls::DtlsParseError::kOk) return false;
  std::span<uint8_t> out;
  if (!aead.open(rec, record.data(), &out)) return false;
  plaintext->assign(out.begin(), out.end());
  return true;
}

const DtlsCipher kCiphers[] = {DtlsCipher::kAes128Gcm, DtlsCipher::kAes256Gcm,
                               DtlsCipher::kChacha20Poly1305};

// ---- invalid use ----

TEST(RecordAeadInvalid, InitRefusesWrongSizes) {
  for (DtlsCipher cipher : kCiphers) {
    RecordAead aead;
    DtlsDirectionKeys keys = make_keys(cipher, 1);
    keys.key_len = keys.key_len == 16 ? 32 : 16;
    EXPECT_FALSE(aead.init(cipher, keys)) << dtls_cipher_name(cipher);
    keys = make_keys(cipher, 1);
    keys.iv_len = keys.iv_len == 4 ? 12 : 4;
    EXPECT_FALSE(aead.init(cipher, keys)) << dtls_cipher_name(cipher);
    keys.iv_len = 0;
    EXPECT_FALSE(aead.init(cipher, keys));
    EXPECT_FALSE(aead.ready());
  }
}

TEST(RecordAeadInvalid, UnusableBeforeInit) {
  RecordAead aead;
  Bytes buffer(kHeader + 8 + 10 + kTag, 0);
  EXPECT_EQ(0u, aead.seal(buffer.data(), 10, 1, 0));
  RecordAead keyed;
  ASSERT_TRUE(keyed.init(DtlsCipher::kChacha20Poly1305, make_keys(DtlsCipher::kChacha20Poly1305, 1)));
  Bytes record = seal(keyed, Bytes(10, 1), 1, 0);
  Bytes plaintext;
  EXPECT_FALSE(open_copy(aead, record, &plaintext));
}

TEST(RecordAeadInvalid, SealRefusesOversizeAndBadSequence) {
  for (DtlsCipher cipher : kCiphers) {
    RecordAead aead;
    ASSERT_TRUE(aead.init(cipher, make_keys(cipher, 2)));
    Bytes big = sealable(aead, Bytes(RecordAead::kMaxPlaintextBytes + 1, 0));
    EXPECT_EQ(0u, aead.seal(big.data(), RecordAead::kMaxPlaintextBytes + 1, 1, 0));
    Bytes small = sealable(aead, Bytes(4, 0));
    // The "not set yet" value of DtlsRecordKeys must never produce a record.
    EXPECT_EQ(0u, aead.seal(small.data(), 4, 1, DtlsRecordKeys::kTxSequenceUnset));
    EXPECT_EQ(0u, aead.seal(small.data(), 4, 1, dtls::wire::kMaxSequence + 1));
    EXPECT_NE(0u, aead.seal(small.data(), 4, 1, dtls::wire::kMaxSequence));
  }
}

TEST(RecordAeadInvalid, OpenRefusesAnotherBuffer) {
  RecordAead aead;
  ASSERT_TRUE(aead.init(DtlsCipher::kAes128Gcm, make_keys(DtlsCipher::kAes128Gcm, 3)));
  Bytes record = seal(aead, Bytes(20, 7), 1, 9);
  Bytes other = record;
  dtls::DtlsRecord rec{};
  ASSERT_EQ(dtls::DtlsParseError::kOk, dtls::dtls_record_parse(record, 0, &rec));
  std::span<uint8_t> plaintext;
  EXPECT_FALSE(aead.open(rec, other.data(), &plaintext));
  EXPECT_FALSE(aead.open(rec, nullptr, &plaintext));
  EXPECT_TRUE(aead.open(rec, record.data(), &plaintext));
}

TEST(RecordAeadInvalid, OpenRefusesFragmentsShorterThanTheOverhead) {
  for (DtlsCipher cipher : kCiphers) {
    RecordAead aead;
    ASSERT_TRUE(aead.init(cipher, make_keys(cipher, 4)));
    for (size_t fragment = 1; fragment < aead.overhead(); fragment++) {
      Bytes record = {23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(fragment)};
      record.resize(kHeader + fragment, 0);
      Bytes plaintext;
      EXPECT_FALSE(open_copy(aead, record, &plaintext)) << fragment;
    }
  }
}

TEST(RecordAeadInvalid, ClearForgetsTheKey) {
  RecordAead aead;
  ASSERT_TRUE(aead.init(DtlsCipher::kAes256Gcm, make_keys(DtlsCipher::kAes256Gcm, 5)));
  const Bytes record = seal(aead, Bytes(8, 1), 1, 1);
  aead.clear();
  EXPECT_FALSE(aead.ready());
  Bytes plaintext;
  EXPECT_FALSE(open_copy(aead, record, &plaintext));
  ASSERT_TRUE(aead.init(DtlsCipher::kAes256Gcm, make_keys(DtlsCipher::kAes256Gcm, 5)));
  EXPECT_TRUE(open_copy(aead, record, &plaintext));
}

// ---- known answers (record_aead_vectors.py) ----

struct Vector {
  const char* name;
  DtlsCipher cipher;
  const char* key;
  const char* iv;
  uint16_t epoch;
  uint64_t sequence;
  const char* plaintext;
  const char* record;
};

const Vector kVectors[] = {
    {"AES-128-GCM, IPv4 data", DtlsCipher::kAes128Gcm,
     "000102030405060708090a0b0c0d0e0f",
     "a0a1a2a3", 1, 0x5,
     "0045000014000100004074756e6e656c67617465",
     "17fefd0001000000000005002c0001000000000005cc4f51863097eb94f405c78a1a736ac8a5fe731480c69698b70a643ffa4fce6f7b3b0476"},
    {"AES-256-GCM, keepalive", DtlsCipher::kAes256Gcm,
     "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
     "deadbeef", 1, 0xdeadbeef,
     "07",
     "17fefd00010000deadbeef001900010000deadbeef2f114ee9417197c3b6d9104068b21cd7b0"},
    {"CHACHA20-POLY1305, DPD", DtlsCipher::kChacha20Poly1305,
     "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f",
     "0c0d0e0f1011121314151617", 1, 0x123456789abc,
     "0370726f626500000000000000000000",
     "17fefd0001123456789abc00205a00f4f9eb9dc287be6311bede83e7cd4bbadf36f9a452758a9ce90296e3216f"},
    {"CHACHA20-POLY1305, empty", DtlsCipher::kChacha20Poly1305,
     "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f",
     "f0f1f2f3f4f5f6f7f8f9fafb", 1, 0x0,
     "",
     "17fefd000100000000000000105957cd8c524532d84db963076431d655"},
};

DtlsDirectionKeys vector_keys(const Vector& v) {
  DtlsDirectionKeys keys;
  const Bytes key = from_hex(v.key), iv = from_hex(v.iv);
  std::copy(key.begin(), key.end(), keys.key.begin());
  std::copy(iv.begin(), iv.end(), keys.iv.begin());
  keys.key_len = static_cast<uint8_t>(key.size());
  keys.iv_len = static_cast<uint8_t>(iv.size());
  return keys;
}

TEST(RecordAeadKnownAnswer, SealMatches) {
  for (const Vector& v : kVectors) {
    RecordAead aead;
    ASSERT_TRUE(aead.init(v.cipher, vector_keys(v))) << v.name;
    EXPECT_EQ(v.record, to_hex(seal(aead, from_hex(v.plaintext), v.epoch, v.sequence))) << v.name;
  }
}

TEST(RecordAeadKnownAnswer, OpenMatches) {
  for (const Vector& v : kVectors) {
    RecordAead aead;
    ASSERT_TRUE(aead.init(v.cipher, vector_keys(v))) << v.name;
    Bytes plaintext;
    ASSERT_TRUE(open_copy(aead, from_hex(v.record), &plaintext)) << v.name;
    EXPECT_EQ(v.plaintext, to_hex(plaintext)) << v.name;
  }
}

// ---- round trips ----

TEST(RecordAead, OverheadPerCipher) {
  for (DtlsCipher cipher : kCiphers) {
    RecordAead aead;
    ASSERT_TRUE(aead.init(cipher, make_keys(cipher, 6)));
    EXPECT_EQ(cipher == DtlsCipher::kChacha20Poly1305 ? 16u : 24u, aead.overhead());
    EXPECT_EQ(kHeader + aead.overhead() + 100, aead.seal(sealable(aead, Bytes(100, 0)).data(), 100, 1, 0));
  }
}

TEST(RecordAead, RoundTripEverySize) {
  for (DtlsCipher cipher : kCiphers) {
    RecordAead tx, rx;
    ASSERT_TRUE(tx.init(cipher, make_keys(cipher, 7)));
    ASSERT_TRUE(rx.init(cipher, make_keys(cipher, 7)));
    uint64_t seq = 0;
    for (size_t size : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{64},
                        size_t{512}, size_t{1400}, size_t{16000}, RecordAead::kMaxPlaintextBytes}) {
      Bytes plaintext(size);
      for (size_t i = 0; i < size; i++) plaintext[i] = static_cast<uint8_t>(i * 7 + size);
      const Bytes record = seal(tx, plaintext, 1, seq++);
      ASSERT_EQ(kHeader + tx.overhead() + size, record.size());
      Bytes back;
      ASSERT_TRUE(open_copy(rx, record, &back)) << dtls_cipher_name(cipher) << " " << size;
      EXPECT_EQ(plaintext, back);
    }
  }
}

TEST(RecordAead, HeaderAndExplicitNonceAreWhatWeSend) {
  RecordAead aead;
  ASSERT_TRUE(aead.init(DtlsCipher::kAes128Gcm, make_keys(DtlsCipher::kAes128Gcm, 8)));
  const Bytes record = seal(aead, Bytes(3, 0), 0x0102, 0x030405060708);
  dtls::DtlsRecord rec{};
  ASSERT_EQ(dtls::DtlsParseError::kOk, dtls::dtls_record_parse(record, 0, &rec));
  EXPECT_EQ(dtls::ContentType::kApplicationData, rec.type);
  EXPECT_EQ(dtls::wire::kVersionDtls12, rec.version);
  EXPECT_EQ(0x0102, rec.epoch);
  EXPECT_EQ(0x030405060708u, rec.sequence);
  EXPECT_EQ(8u + 3u + kTag, rec.fragment.size());
  // RFC 5288 §3: we send epoch || seq as the explicit part.
  EXPECT_EQ("0102030405060708", to_hex(rec.fragment.first(8)));
}

TEST(RecordAeadKnownAnswer, GcmOpenTakesThePeersExplicitNonce) {
  // A peer may choose any explicit nonce (RFC 5288 §3 only asks for uniqueness); this one
  // is a5a5..., not epoch||seq (record_aead_vectors.py, "peer explicit nonce").
  DtlsDirectionKeys keys;
  const Bytes key = from_hex("c8c9cacbcccdcecfd0d1d2d3d4d5d6d7"), salt = from_hex("01020304");
  std::copy(key.begin(), key.end(), keys.key.begin());
  std::copy(salt.begin(), salt.end(), keys.iv.begin());
  keys.key_len = 16;
  keys.iv_len = 4;
  RecordAead aead;
  ASSERT_TRUE(aead.init(DtlsCipher::kAes128Gcm, keys));
  const Bytes record = from_hex(
      "17fefd0001000000000009001da5a5a5a5a5a5a5a50dc0e5d3412e06ab95696e043fada92dc775ea960a");
  Bytes plaintext;
  ASSERT_TRUE(open_copy(aead, record, &plaintext));
  EXPECT_EQ("0070656572", to_hex(plaintext));  // 00 "peer"
  Bytes changed = record;
  changed[kHeader + 7] ^= 1;  // the explicit nonce is part of the nonce
  EXPECT_FALSE(open_copy(aead, changed, &plaintext));
}

TEST(RecordAead, WrongKeyOrIvIsRefused) {
  for (DtlsCipher cipher : kCiphers) {
    RecordAead tx, other_key, other_iv;
    DtlsDirectionKeys keys = make_keys(cipher, 10);
    ASSERT_TRUE(tx.init(cipher, keys));
    DtlsDirectionKeys wrong = keys;
    wrong.key[0] ^= 1;
    ASSERT_TRUE(other_key.init(cipher, wrong));
    wrong = keys;
    wrong.iv[0] ^= 1;
    ASSERT_TRUE(other_iv.init(cipher, wrong));
    const Bytes record = seal(tx, Bytes(50, 5), 1, 3);
    Bytes plaintext;
    EXPECT_FALSE(open_copy(other_key, record, &plaintext)) << dtls_cipher_name(cipher);
    EXPECT_FALSE(open_copy(other_iv, record, &plaintext)) << dtls_cipher_name(cipher);
  }
}

// ---- tampering and truncation ----

TEST(RecordAeadTamper, EveryBitOfTheRecordMatters) {
  for (DtlsCipher cipher : kCiphers) {
    RecordAead aead;
    ASSERT_TRUE(aead.init(cipher, make_keys(cipher, 11)));
    const Bytes record = seal(aead, Bytes{0x00, 0x45, 0x00, 0x00, 0x14, 0x99}, 1, 42);
    for (size_t byte = 0; byte < record.size(); byte++) {
      for (int bit = 0; bit < 8; bit++) {
        Bytes tampered = record;
        tampered[byte] ^= static_cast<uint8_t>(1u << bit);
        Bytes plaintext;
        // Header bits either break the parse (type, version, length) or the AAD (epoch,
        // sequence, and type/version values the parser accepts); the rest break the tag.
        EXPECT_FALSE(open_copy(aead, tampered, &plaintext))
            << dtls_cipher_name(cipher) << " byte " << byte << " bit " << bit;
      }
    }
  }
}

TEST(RecordAeadTamper, HeaderFieldsAreAuthenticated) {
  // The header fields the parser accepts in other values: each is in the AAD.
  for (DtlsCipher cipher : kCiphers) {
    RecordAead aead;
    ASSERT_TRUE(aead.init(cipher, make_keys(cipher, 12)));
    const Bytes record = seal(aead, Bytes(40, 1), 1, 1000);
    struct Change {
      const char* what;
      size_t offset;
      uint8_t value;
    } changes[] = {{"content type 23 -> 21 (alert)", 0, 21},
                   {"content type 23 -> 22 (handshake)", 0, 22},
                   {"epoch 1 -> 2", 4, 2},
                   {"sequence +1", 10, static_cast<uint8_t>(record[10] + 1)}};
    for (const Change& c : changes) {
      Bytes tampered = record;
      tampered[c.offset] = c.value;
      dtls::DtlsRecord rec{};
      ASSERT_EQ(dtls::DtlsParseError::kOk, dtls::dtls_record_parse(tampered, 0, &rec)) << c.what;
      std::span<uint8_t> plaintext;
      EXPECT_FALSE(aead.open(rec, tampered.data(), &plaintext)) << c.what;
    }
  }
}

TEST(RecordAeadTamper, EveryTruncationIsRefused) {
  for (DtlsCipher cipher : kCiphers) {
    RecordAead aead;
    ASSERT_TRUE(aead.init(cipher, make_keys(cipher, 13)));
    const Bytes record = seal(aead, Bytes(33, 2), 1, 5);
    for (size_t len = 0; len < record.size(); len++) {
      // As received: the datagram is cut, the length field is not.
      Bytes cut(record.begin(), record.begin() + static_cast<std::ptrdiff_t>(len));
      Bytes plaintext;
      EXPECT_FALSE(open_copy(aead, cut, &plaintext)) << len;
      // A consistent shorter record (length field rewritten): the tag cannot match.
      if (len > kHeader) {
        cut[11] = static_cast<uint8_t>((len - kHeader) >> 8);
        cut[12] = static_cast<uint8_t>(len - kHeader);
        EXPECT_FALSE(open_copy(aead, cut, &plaintext)) << "rewritten " << len;
      }
    }
  }
}

TEST(DtlsRecordKeys, WipeZeroesTheSecrets) {
  DtlsRecordKeys keys;
  keys.rx = make_keys(DtlsCipher::kAes256Gcm, 20);
  keys.tx = make_keys(DtlsCipher::kAes256Gcm, 40);
  keys.wipe();
  const DtlsDirectionKeys zero{};
  EXPECT_EQ(0, std::memcmp(&zero, &keys.rx, sizeof zero));
  EXPECT_EQ(0, std::memcmp(&zero, &keys.tx, sizeof zero));
}

TEST(DtlsRecordKeys, CipherNamesAndSizes) {
  EXPECT_STREQ("AES-128-GCM", dtls_cipher_name(DtlsCipher::kAes128Gcm));
  EXPECT_STREQ("AES-256-GCM", dtls_cipher_name(DtlsCipher::kAes256Gcm));
  EXPECT_STREQ("CHACHA20-POLY1305", dtls_cipher_name(DtlsCipher::kChacha20Poly1305));
  EXPECT_EQ(16, dtls_cipher_key_len(DtlsCipher::kAes128Gcm));
  EXPECT_EQ(32, dtls_cipher_key_len(DtlsCipher::kAes256Gcm));
  EXPECT_EQ(32, dtls_cipher_key_len(DtlsCipher::kChacha20Poly1305));
  EXPECT_EQ(4, dtls_cipher_iv_len(DtlsCipher::kAes128Gcm));
  EXPECT_EQ(12, dtls_cipher_iv_len(DtlsCipher::kChacha20Poly1305));
}

}  // namespace
}  // namespace tg::crypto
