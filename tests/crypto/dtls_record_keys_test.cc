// crypto::dtls_export_record_keys on real wolfSSL DTLS 1.2 handshakes (client and server
// endpoints in memory), for every AEAD suite with PSK key exchange the installed wolfSSL has
// (Debian's build: PSK-CHACHA20-POLY1305 and the (EC)DHE-PSK ones; a WOLFSSL_STATIC_PSK
// build adds PSK-AES*-GCM). The exported keys drive crypto::RecordAead against wolfSSL's own
// record layer in both directions: the interop proof of the key/IV layout.
#include "crypto/dtls_record_keys.h"

#include <gtest/gtest.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "crypto/record_aead.h"
#include "dataplane/dtls/dtls_record.h"
#include "tests/crypto/wolfssl_dtls_endpoint.h"

namespace tg::crypto {
namespace {

using test::Datagram;
using test::Datagrams;
using test::WolfDtlsEndpoint;
using Bytes = std::vector<uint8_t>;

Bytes psk_bytes(uint8_t seed) {
  Bytes psk(32);
  for (size_t i = 0; i < psk.size(); i++) psk[i] = static_cast<uint8_t>(seed + i * 13);
  return psk;
}

struct Endpoints {
  std::unique_ptr<WolfDtlsEndpoint> client, server;
};

Endpoints make_endpoints(const std::string& suite, const Bytes& client_psk,
                         const Bytes& server_psk) {
  Endpoints e;
  std::string error;
  e.client = WolfDtlsEndpoint::create(WolfDtlsEndpoint::Side::kClient, suite, client_psk, &error);
  EXPECT_NE(nullptr, e.client) << error;
  e.server = WolfDtlsEndpoint::create(WolfDtlsEndpoint::Side::kServer, suite, server_psk, &error);
  EXPECT_NE(nullptr, e.server) << error;
  return e;
}

/// Moves datagrams between the endpoints until both finished (or `rounds` passes).
/// drop_to_client(n) is asked for the n-th datagram the server sends.
bool run_handshake(Endpoints& e, int rounds = 12,
                   const std::function<bool(int)>& drop_to_client = nullptr) {
  int server_datagrams = 0;
  for (int i = 0; i < rounds && !(e.client->done() && e.server->done()); i++) {
    if (e.client->handshake() < 0) return false;
    e.server->deliver(e.client->take_sent());
    if (e.server->handshake() < 0) return false;
    for (const Datagram& d : e.server->take_sent())
      if (!(drop_to_client && drop_to_client(server_datagrams++))) e.client->deliver(d);
  }
  return e.client->done() && e.server->done();
}

DtlsCipher expected_cipher(const std::string& suite) {
  if (suite.find("AES128-GCM") != std::string::npos) return DtlsCipher::kAes128Gcm;
  if (suite.find("AES256-GCM") != std::string::npos) return DtlsCipher::kAes256Gcm;
  return DtlsCipher::kChacha20Poly1305;
}

bool same_keys(const DtlsDirectionKeys& a, const DtlsDirectionKeys& b) {
  return a.key_len == b.key_len && a.iv_len == b.iv_len && a.key == b.key && a.iv == b.iv;
}

/// An OpenConnect DTLS payload: type byte 0x00 + an IPv4-looking packet of `size` bytes.
Bytes oc_payload(size_t size) {
  Bytes payload(size);
  if (size > 0) payload[0] = 0x00;
  if (size > 1) payload[1] = 0x45;
  for (size_t i = 2; i < size; i++) payload[i] = static_cast<uint8_t>(i * 31 + size);
  return payload;
}

Bytes seal_record(const RecordAead& aead, const Bytes& plaintext, uint16_t epoch, uint64_t seq) {
  const size_t explicit_len = aead.overhead() - dtls::aead::kTagBytes;
  Bytes buffer(dtls::wire::kRecordHeaderBytes + aead.overhead() + plaintext.size());
  std::copy(plaintext.begin(), plaintext.end(),
            buffer.begin() + static_cast<std::ptrdiff_t>(dtls::wire::kRecordHeaderBytes + explicit_len));
  buffer.resize(aead.seal(buffer.data(), plaintext.size(), epoch, seq));
  return buffer;
}

const std::vector<std::string> kAeadPskSuites = {
    "PSK-AES256-GCM-SHA384",      "PSK-AES128-GCM-SHA256",      "PSK-CHACHA20-POLY1305",
    "DHE-PSK-AES256-GCM-SHA384",  "DHE-PSK-AES128-GCM-SHA256",  "ECDHE-PSK-AES128-GCM-SHA256",
    "ECDHE-PSK-CHACHA20-POLY1305", "DHE-PSK-CHACHA20-POLY1305"};

std::vector<std::string> available_suites() {
  return test::wolfssl_suites_available(kAeadPskSuites);
}

TEST(DtlsRecordKeysSuites, WhichSuitesRun) {
  // The parameterised tests below run with every AEAD PSK suite this wolfSSL has.
  std::string list;
  for (const std::string& s : available_suites()) list += " " + s;
  std::printf("[ suites   ] record keys tested with:%s\n", list.c_str());
  EXPECT_FALSE(available_suites().empty());
}

class DtlsRecordKeysSuite : public ::testing::TestWithParam<std::string> {};

// ---- refusals first ----

TEST(DtlsRecordKeysInvalid, NoConnection) {
  DtlsRecordKeys keys;
  std::string error;
  EXPECT_FALSE(dtls_export_record_keys(nullptr, &keys, &error));
  EXPECT_EQ("no connection", error);
}

TEST(DtlsRecordKeysInvalid, BeforeTheHandshakeFinished) {
  Endpoints e = make_endpoints("PSK-CHACHA20-POLY1305", psk_bytes(1), psk_bytes(1));
  ASSERT_EQ(0, e.client->handshake());  // ClientHello sent, nothing answered yet
  DtlsRecordKeys keys;
  std::string error;
  EXPECT_FALSE(dtls_export_record_keys(e.client->native(), &keys, &error));
  EXPECT_EQ("the handshake has not finished", error);
}

TEST(DtlsRecordKeysInvalid, NonAeadAndCcmSuitesAreRefused) {
  const std::vector<std::string> refused = test::wolfssl_suites_available(
      {"ECDHE-PSK-AES128-CBC-SHA256", "DHE-PSK-AES128-CBC-SHA256", "DHE-PSK-AES128-CCM",
       "PSK-AES128-CBC-SHA256", "PSK-AES128-CCM"});
  ASSERT_FALSE(refused.empty());
  for (const std::string& suite : refused) {
    Endpoints e = make_endpoints(suite, psk_bytes(2), psk_bytes(2));
    ASSERT_TRUE(run_handshake(e)) << suite;
    DtlsRecordKeys keys;
    std::string error;
    EXPECT_FALSE(dtls_export_record_keys(e.server->native(), &keys, &error)) << suite;
    const bool expected_text = error.find("not an AEAD suite") != std::string::npos ||
                               error.find("CCM is not implemented") != std::string::npos;
    EXPECT_TRUE(expected_text) << suite << ": " << error;
  }
}

// ---- every AEAD suite of this build ----

TEST_P(DtlsRecordKeysSuite, BothEndsExportMirrorImages) {
  Endpoints e = make_endpoints(GetParam(), psk_bytes(3), psk_bytes(3));
  ASSERT_TRUE(run_handshake(e));
  DtlsRecordKeys server, client;
  std::string error;
  ASSERT_TRUE(dtls_export_record_keys(e.server->native(), &server, &error)) << error;
  ASSERT_TRUE(dtls_export_record_keys(e.client->native(), &client, &error)) << error;
  EXPECT_EQ(expected_cipher(GetParam()), server.cipher);
  EXPECT_EQ(server.cipher, client.cipher);
  EXPECT_EQ(1, server.epoch);
  EXPECT_EQ(dtls_cipher_key_len(server.cipher), server.rx.key_len);
  EXPECT_EQ(dtls_cipher_iv_len(server.cipher), server.rx.iv_len);
  // What the server decrypts with is what the client encrypts with, and back.
  EXPECT_TRUE(same_keys(server.rx, client.tx));
  EXPECT_TRUE(same_keys(server.tx, client.rx));
  EXPECT_FALSE(same_keys(server.rx, server.tx));
  // wolfSSL does not say what it sent: the plain export leaves the sequence unset.
  EXPECT_EQ(DtlsRecordKeys::kTxSequenceUnset, server.tx_next_sequence);
}

TEST_P(DtlsRecordKeysSuite, OurRecordsAreReadByWolfssl) {
  Endpoints e = make_endpoints(GetParam(), psk_bytes(4), psk_bytes(4));
  ASSERT_TRUE(run_handshake(e));
  DtlsRecordKeys keys;
  std::string error;
  ASSERT_TRUE(dtls_export_record_keys(e.server->native(), &keys, &error)) << error;
  RecordAead tx;
  ASSERT_TRUE(tx.init(keys.cipher, keys.tx));
  uint64_t seq = 10;  // the server's Finished was sequence 0
  for (size_t size : {1, 64, 512, 1400, 16000}) {
    const Bytes payload = oc_payload(size);
    e.client->deliver(seal_record(tx, payload, keys.epoch, seq++));
    Bytes got;
    ASSERT_EQ(static_cast<int>(size), e.client->read(&got)) << size;
    EXPECT_EQ(payload, got);
  }
  // Several records in one datagram (RFC 6347 §4.1.1), sequence numbers advancing.
  Bytes datagram;
  for (int i = 0; i < 3; i++) {
    const Bytes record = seal_record(tx, oc_payload(20 + i), keys.epoch, seq++);
    datagram.insert(datagram.end(), record.begin(), record.end());
  }
  e.client->deliver(datagram);
  for (int i = 0; i < 3; i++) {
    Bytes got;
    ASSERT_EQ(20 + i, e.client->read(&got)) << i;
  }
}

TEST_P(DtlsRecordKeysSuite, WolfsslRecordsAreOpenedByUs) {
  Endpoints e = make_endpoints(GetParam(), psk_bytes(5), psk_bytes(5));
  ASSERT_TRUE(run_handshake(e));
  DtlsRecordKeys keys;
  std::string error;
  ASSERT_TRUE(dtls_export_record_keys(e.server->native(), &keys, &error)) << error;
  RecordAead rx;
  ASSERT_TRUE(rx.init(keys.cipher, keys.rx));
  uint64_t last_seq = 0;
  // wolfSSL_write refuses a record that would not fit its 1400-byte DTLS MTU.
  for (size_t size : {1, 64, 512, 1300}) {
    const Bytes payload = oc_payload(size);
    ASSERT_TRUE(e.client->write(payload)) << size;
    Datagrams sent = e.client->take_sent();
    ASSERT_EQ(1u, sent.size());
    dtls::DtlsRecord rec{};
    ASSERT_EQ(dtls::DtlsParseError::kOk, dtls::dtls_record_parse(sent[0], 0, &rec));
    EXPECT_EQ(dtls::ContentType::kApplicationData, rec.type);
    EXPECT_EQ(1, rec.epoch);
    EXPECT_GT(rec.sequence, last_seq);  // the client's Finished was sequence 0
    last_seq = rec.sequence;
    std::span<uint8_t> plaintext;
    ASSERT_TRUE(rx.open(rec, sent[0].data(), &plaintext)) << size;
    EXPECT_EQ(payload, Bytes(plaintext.begin(), plaintext.end()));
  }
}

INSTANTIATE_TEST_SUITE_P(AeadPsk, DtlsRecordKeysSuite, ::testing::ValuesIn(available_suites()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name;
                           for (char c : info.param) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

// ---- what wolfSSL tells about sequence numbers ----

uint64_t highest_epoch1_sequence(const Datagrams& datagrams) {
  uint64_t highest = 0;
  for (const Datagram& d : datagrams) {
    size_t offset = 0;
    dtls::DtlsRecord rec{};
    while (offset < d.size() &&
           dtls::dtls_record_parse(d, offset, &rec) == dtls::DtlsParseError::kOk) {
      if (rec.epoch == 1) highest = std::max(highest, rec.sequence);
      offset = rec.next_offset;
    }
  }
  return highest;
}

TEST(DtlsRecordKeysWolfsslFacts, GetSequenceNumberDoesNotCountDtlsRecords) {
  // Why tx_next_sequence cannot come from wolfSSL_GetSequenceNumber: after the server sent
  // its Finished (epoch 1, sequence 0) and three records (1, 2, 3), it still reads 0. It is
  // the TLS counter; DTLS keeps its own per epoch, in no exported accessor.
  Endpoints e = make_endpoints("PSK-CHACHA20-POLY1305", psk_bytes(8), psk_bytes(8));
  ASSERT_TRUE(run_handshake(e));
  for (int i = 0; i < 3; i++) ASSERT_TRUE(e.server->write(Bytes(10, 1)));
  EXPECT_EQ(3u, highest_epoch1_sequence(e.server->take_sent()));
  word64 wolf_seq = 12345;
  wolfSSL_GetSequenceNumber(e.server->native(), &wolf_seq);
  EXPECT_EQ(0u, wolf_seq);
}

TEST(DtlsRecordKeysWolfsslFacts, AFinishedServerDoesNotAnswerARetransmittedFinished) {
  // RFC 6347 §4.2.4 wants the server to resend its last flight when the client retransmits
  // its own. wolfSSL 5.5.4 does not once its handshake is done (it drops epoch-0 records on
  // an established connection and ignores a repeated Finished): dtls::DtlsHandshake resends
  // its flight itself. If this test starts failing, a newer wolfSSL does it on its own.
  Endpoints e = make_endpoints("PSK-CHACHA20-POLY1305", psk_bytes(9), psk_bytes(9));
  // Server datagrams: HelloVerifyRequest, ServerHello + ServerHelloDone, CCS + Finished.
  ASSERT_FALSE(run_handshake(e, 6, [](int n) { return n == 2; }));
  ASSERT_TRUE(e.server->done());
  ASSERT_FALSE(e.client->done());
  ASSERT_EQ(WOLFSSL_SUCCESS, e.client->timeout());  // the client retransmits its last flight
  e.server->deliver(e.client->take_sent());
  Bytes ignored;
  EXPECT_EQ(0, e.server->read(&ignored));
  EXPECT_TRUE(e.server->take_sent().empty());
}

}  // namespace
}  // namespace tg::crypto
