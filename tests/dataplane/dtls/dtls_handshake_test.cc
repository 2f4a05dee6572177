// dtls::DtlsServerContext / DtlsHandshake against a wolfSSL DTLS 1.2 client (PSK identity
// "psk"), everything in memory: the test moves the datagrams and fires the timers. Refusals
// first, then for every plain-PSK AEAD suite the installed wolfSSL has (Debian's:
// PSK-CHACHA20-POLY1305 only): the HelloVerifyRequest exchange, the exported keys carrying
// records both ways through crypto::RecordAead, a wrong PSK, lost datagrams and the timer.
// openconnect's own hello (from the protocol trace) is replayed byte for byte at the end.
#include "dataplane/dtls/dtls_handshake.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "crypto/record_aead.h"
#include "dataplane/dtls/client_hello.h"
#include "dataplane/dtls/dtls_record.h"
#include "tests/crypto/wolfssl_dtls_endpoint.h"

namespace tg::dtls {
namespace {

using crypto::DtlsRecordKeys;
using crypto::RecordAead;
using test::Datagram;
using test::Datagrams;
using test::WolfDtlsEndpoint;
using Bytes = std::vector<uint8_t>;

constexpr uint8_t kHelloVerifyRequest = 3;
constexpr uint8_t kServerHello = 2;
constexpr uint8_t kServerKeyExchange = 12;
constexpr uint8_t kServerHelloDone = 14;
const DtlsPeer kPeer{0xc0a80a02, 40000};  // 192.168.10.2:40000
constexpr int kWolfSuccess = 1;            // WOLFSSL_SUCCESS

Bytes psk_bytes(uint8_t seed) {
  Bytes psk(32);
  for (size_t i = 0; i < psk.size(); i++) psk[i] = static_cast<uint8_t>(seed ^ (i * 29));
  return psk;
}

/// Records of a datagram, as (type, epoch, sequence, handshake type or -1).
struct RecordInfo {
  ContentType type;
  uint16_t epoch;
  uint64_t sequence;
  int handshake_type;
};
std::vector<RecordInfo> records_of(const Datagram& d) {
  std::vector<RecordInfo> out;
  size_t offset = 0;
  DtlsRecord rec{};
  while (offset < d.size() && dtls_record_parse(d, offset, &rec) == DtlsParseError::kOk) {
    const int hs = rec.type == ContentType::kHandshake && rec.epoch == 0 ? rec.fragment[0] : -1;
    out.push_back({rec.type, rec.epoch, rec.sequence, hs});
    offset = rec.next_offset;
  }
  return out;
}
std::vector<int> handshake_types(const Datagrams& ds) {
  std::vector<int> out;
  for (const Datagram& d : ds)
    for (const RecordInfo& r : records_of(d))
      if (r.handshake_type >= 0) out.push_back(r.handshake_type);
  return out;
}

/// The server under test and a wolfSSL client, with every datagram logged.
struct Session {
  std::unique_ptr<DtlsServerContext> context;
  std::unique_ptr<DtlsHandshake> server;
  std::unique_ptr<WolfDtlsEndpoint> client;
  std::vector<Datagrams> server_flights;  ///< what each server call sent
  std::vector<Datagram> client_datagrams;

  /// Client → server: feed everything the client sent; returns what the server sent.
  Datagrams to_server() {
    Datagrams out;
    for (const Datagram& d : client->take_sent()) {
      client_datagrams.push_back(d);
      server->on_datagram(d, &out);
    }
    server_flights.push_back(out);
    return out;
  }
};

Session make_session(const std::string& suite, const Bytes& server_psk, const Bytes& client_psk,
                     const std::string& server_ciphers = "") {
  Session s;
  std::string error;
  s.context = DtlsServerContext::create(server_ciphers.empty() ? suite : server_ciphers, &error);
  EXPECT_NE(nullptr, s.context) << error;
  if (s.context == nullptr) return s;
  s.server = DtlsHandshake::create(*s.context, kPeer, server_psk, &error);
  EXPECT_NE(nullptr, s.server) << error;
  s.client = WolfDtlsEndpoint::create(WolfDtlsEndpoint::Side::kClient, suite, client_psk, &error);
  EXPECT_NE(nullptr, s.client) << error;
  return s;
}

/// Runs the handshake; drop(n) is asked for the n-th datagram the server sends.
void run(Session& s, int rounds = 8, const std::function<bool(int)>& drop = nullptr) {
  int n = 0;
  for (int i = 0; i < rounds; i++) {
    if (s.server->status() == DtlsHandshake::Status::kFailed) return;
    if (s.client->done() && s.server->status() == DtlsHandshake::Status::kDone) return;
    if (s.client->handshake() < 0) return;
    for (const Datagram& d : s.to_server())
      if (!(drop && drop(n++))) s.client->deliver(d);
  }
}

Bytes oc_payload(size_t size) {
  Bytes payload(size);
  for (size_t i = 0; i < size; i++) payload[i] = static_cast<uint8_t>(i * 17 + 3);
  payload[0] = 0x00;  // OpenConnect data
  if (size > 1) payload[1] = 0x45;
  return payload;
}

Bytes seal(const RecordAead& aead, const Bytes& plaintext, uint16_t epoch, uint64_t seq) {
  const size_t explicit_len = aead.overhead() - aead::kTagBytes;
  Bytes buffer(wire::kRecordHeaderBytes + aead.overhead() + plaintext.size());
  std::copy(plaintext.begin(), plaintext.end(),
            buffer.begin() + static_cast<std::ptrdiff_t>(wire::kRecordHeaderBytes + explicit_len));
  buffer.resize(aead.seal(buffer.data(), plaintext.size(), epoch, seq));
  return buffer;
}

bool open_copy(const RecordAead& aead, Bytes record, Bytes* plaintext) {
  DtlsRecord rec{};
  if (dtls_record_parse(record, 0, &rec) != DtlsParseError::kOk) return false;
  std::span<uint8_t> out;
  if (!aead.open(rec, record.data(), &out)) return false;
  plaintext->assign(out.begin(), out.end());
  return true;
}

std::vector<std::string> suites_of_this_build() {
  const std::vector<std::string> all(DtlsServerContext::kPskAeadSuites.begin(),
                                     DtlsServerContext::kPskAeadSuites.end());
  return test::wolfssl_suites_available(all);
}

// ---- refusals ----

TEST(DtlsServerContextInvalid, RefusesSuitesThatAreNotPlainPskAead) {
  for (const char* ciphers : {"ECDHE-PSK-CHACHA20-POLY1305", "DHE-PSK-AES128-GCM-SHA256",
                              "AES128-GCM-SHA256", "PSK-AES128-CBC-SHA256", "PSK-AES128-CCM",
                              "NOT-A-SUITE", "PSK-CHACHA20-POLY1305:ECDHE-PSK-NULL-SHA256"}) {
    std::string error;
    EXPECT_EQ(nullptr, DtlsServerContext::create(ciphers, &error)) << ciphers;
    EXPECT_NE(std::string::npos, error.find("is not a plain-PSK AEAD suite")) << error;
  }
}

TEST(DtlsServerContextInvalid, RefusesAnEmptyList) {
  std::string error;
  EXPECT_EQ(nullptr, DtlsServerContext::create(":", &error));
  EXPECT_EQ("empty DTLS cipher list", error);
}

TEST(DtlsServerContextInvalid, RefusesASuiteThisBuildLacks) {
  const std::vector<std::string> all(DtlsServerContext::kPskAeadSuites.begin(),
                                     DtlsServerContext::kPskAeadSuites.end());
  const std::vector<std::string> found = test::wolfssl_suites_available(all);
  for (const std::string& name : all) {
    if (std::find(found.begin(), found.end(), name) != found.end()) continue;
    std::string error;
    EXPECT_EQ(nullptr, DtlsServerContext::create(name, &error)) << name;
    EXPECT_NE(std::string::npos, error.find("not in this wolfSSL build")) << error;
    EXPECT_NE(std::string::npos, error.find("WOLFSSL_STATIC_PSK")) << error;
  }
  if (found.size() == all.size()) GTEST_SKIP() << "this wolfSSL has every plain-PSK AEAD suite";
}

TEST(DtlsHandshakeInvalid, RefusesAPskThatIsNot32Bytes) {
  std::string error;
  auto context = DtlsServerContext::create("", &error);
  ASSERT_NE(nullptr, context) << error;
  for (size_t len : {0, 16, 31, 33, 64}) {
    EXPECT_EQ(nullptr, DtlsHandshake::create(*context, kPeer, Bytes(len, 1), &error)) << len;
    EXPECT_NE(std::string::npos, error.find("must be 32 bytes")) << error;
  }
}

TEST(DtlsHandshakeInvalid, NoKeysBeforeTheHandshakeIsDone) {
  std::string error;
  auto context = DtlsServerContext::create("", &error);
  ASSERT_NE(nullptr, context) << error;
  auto hs = DtlsHandshake::create(*context, kPeer, psk_bytes(1), &error);
  ASSERT_NE(nullptr, hs) << error;
  DtlsRecordKeys keys;
  EXPECT_FALSE(hs->export_keys(&keys, &error));
  EXPECT_EQ("the handshake has not completed", error);
  EXPECT_STREQ("none", hs->failure_reason());
  EXPECT_EQ("", hs->cipher_name());
}

TEST(DtlsHandshakeInvalid, GarbageIsDroppedAndTheHandshakeGoesOn) {
  std::string error;
  auto context = DtlsServerContext::create("", &error);
  ASSERT_NE(nullptr, context) << error;
  auto hs = DtlsHandshake::create(*context, kPeer, psk_bytes(1), &error);
  ASSERT_NE(nullptr, hs) << error;
  Datagrams out;
  for (const Bytes& junk : {Bytes{}, Bytes{0x16}, Bytes(13, 0xff), Bytes(200, 0x16)})
    EXPECT_EQ(DtlsHandshake::Status::kInProgress, hs->on_datagram(junk, &out));
  EXPECT_TRUE(out.empty());
}

TEST(DtlsServerContext, DefaultsToEveryPlainPskAeadSuiteOfThisBuild) {
  std::string error;
  auto context = DtlsServerContext::create("", &error);
  ASSERT_NE(nullptr, context) << error;
  std::string expected;
  for (const std::string& name : suites_of_this_build()) expected += (expected.empty() ? "" : ":") + name;
  EXPECT_EQ(expected, context->cipher_list());
  // Which suites the parameterised tests below run with (they adapt to the build).
  std::printf("[ suites   ] DtlsServerContext / DtlsHandshake run with: %s\n",
              context->cipher_list().c_str());
}

// ---- every plain-PSK AEAD suite of this build ----

class DtlsHandshakeSuite : public ::testing::TestWithParam<std::string> {};

TEST_P(DtlsHandshakeSuite, CompletesAfterAHelloVerifyRequest) {
  Session s = make_session(GetParam(), psk_bytes(2), psk_bytes(2));
  ASSERT_NE(nullptr, s.client);
  run(s);
  ASSERT_EQ(DtlsHandshake::Status::kDone, s.server->status()) << s.server->failure_detail();
  ASSERT_TRUE(s.client->done());
  EXPECT_EQ(GetParam(), s.server->cipher_name());
  EXPECT_STREQ("none", s.server->failure_reason());

  // Flight by flight: HelloVerifyRequest first, then ServerHello + ServerHelloDone (plain
  // PSK: no ServerKeyExchange, no identity hint), then CCS + Finished.
  ASSERT_GE(s.server_flights.size(), 3u);
  EXPECT_TRUE(s.server->sent_hello_verify_request());
  EXPECT_EQ(std::vector<int>{kHelloVerifyRequest}, handshake_types(s.server_flights[0]));
  EXPECT_EQ((std::vector<int>{kServerHello, kServerHelloDone}), handshake_types(s.server_flights[1]));
  for (int type : handshake_types(s.server_flights[1])) EXPECT_NE(kServerKeyExchange, type);
  bool finished_in_epoch1 = false;
  for (const Datagram& d : s.server_flights[2])
    for (const RecordInfo& r : records_of(d))
      finished_in_epoch1 |= r.type == ContentType::kHandshake && r.epoch == 1;
  EXPECT_TRUE(finished_in_epoch1);

  // The client's two hellos: the second one answers the HelloVerifyRequest.
  ASSERT_GE(s.client_datagrams.size(), 2u);
  ClientHelloInfo first{};
  ASSERT_EQ(ClientHelloError::kNoAppId, client_hello_parse(s.client_datagrams[0], &first))
      << "wolfSSL's client sends no session_id; openconnect's hello is tested below";
  Datagram hello2 = s.client_datagrams[1];
  DtlsRecord rec{};
  ASSERT_EQ(DtlsParseError::kOk, dtls_record_parse(hello2, 0, &rec));
  ASSERT_GE(rec.fragment.size(), 6u);
  EXPECT_EQ(1, rec.fragment[1 + 3 + 1]) << "message_seq of the second ClientHello";
  EXPECT_EQ(1u, rec.sequence);
}

TEST_P(DtlsHandshakeSuite, ExportedKeysCarryRecordsBothWays) {
  Session s = make_session(GetParam(), psk_bytes(3), psk_bytes(3));
  ASSERT_NE(nullptr, s.client);
  run(s);
  ASSERT_EQ(DtlsHandshake::Status::kDone, s.server->status()) << s.server->failure_detail();
  ASSERT_TRUE(s.client->done());
  DtlsRecordKeys keys;
  std::string error;
  ASSERT_TRUE(s.server->export_keys(&keys, &error)) << error;
  EXPECT_EQ(1, keys.epoch);
  uint64_t finished_seq = 99;
  ASSERT_TRUE(s.server->highest_epoch1_sequence_sent(&finished_seq));
  EXPECT_EQ(0u, finished_seq);  // no retransmission: the Finished was epoch 1, sequence 0
  EXPECT_EQ(finished_seq + 1, keys.tx_next_sequence);

  RecordAead tx, rx;
  ASSERT_TRUE(tx.init(keys.cipher, keys.tx));
  ASSERT_TRUE(rx.init(keys.cipher, keys.rx));

  // A record under the sequence number of our Finished: the client has seen it and drops
  // it (its replay window), which is why tx_next_sequence must be above it.
  s.client->deliver(seal(tx, oc_payload(40), keys.epoch, finished_seq));
  Bytes got;
  EXPECT_EQ(0, s.client->read(&got)) << "a reused sequence number was accepted";

  // Server → client, from tx_next_sequence on, several records in a row.
  uint64_t seq = keys.tx_next_sequence;
  for (size_t size : {1, 64, 512, 1400, 16000}) {
    const Bytes payload = oc_payload(size);
    s.client->deliver(seal(tx, payload, keys.epoch, seq++));
    ASSERT_EQ(static_cast<int>(size), s.client->read(&got)) << size;
    EXPECT_EQ(payload, got);
  }
  // The same record again: dropped by the client.
  s.client->deliver(seal(tx, oc_payload(64), keys.epoch, seq - 1));
  EXPECT_EQ(0, s.client->read(&got));

  // Client → server (wolfSSL_write stays under its 1400-byte DTLS MTU).
  uint64_t last_client_seq = 0;
  for (size_t size : {1, 64, 512, 1300}) {
    const Bytes payload = oc_payload(size);
    ASSERT_TRUE(s.client->write(payload));
    const Datagrams sent = s.client->take_sent();
    ASSERT_EQ(1u, sent.size());
    const std::vector<RecordInfo> recs = records_of(sent[0]);
    ASSERT_EQ(1u, recs.size());
    EXPECT_GT(recs[0].sequence, last_client_seq);
    last_client_seq = recs[0].sequence;
    Bytes plaintext;
    ASSERT_TRUE(open_copy(rx, sent[0], &plaintext)) << size;
    EXPECT_EQ(payload, plaintext);
  }

  // A client record, damaged: ciphertext, tag, header (AAD), truncated.
  ASSERT_TRUE(s.client->write(oc_payload(100)));
  const Datagram good = s.client->take_sent().at(0);
  Bytes plaintext;
  ASSERT_TRUE(open_copy(rx, good, &plaintext));
  const size_t explicit_len = rx.overhead() - aead::kTagBytes;
  struct Damage {
    const char* what;
    size_t offset;
  } damages[] = {{"ciphertext", wire::kRecordHeaderBytes + explicit_len + 5},
                 {"tag", good.size() - 1},
                 {"header: sequence", 10},
                 {"header: epoch", 4}};
  for (const Damage& d : damages) {
    Datagram bad = good;
    bad[d.offset] ^= 0x40;
    EXPECT_FALSE(open_copy(rx, bad, &plaintext)) << d.what;
  }
  for (size_t cut : {size_t{1}, size_t{16}, good.size() - wire::kRecordHeaderBytes - 1}) {
    Datagram bad(good.begin(), good.end() - static_cast<std::ptrdiff_t>(cut));
    const size_t fragment = bad.size() - wire::kRecordHeaderBytes;
    bad[11] = static_cast<uint8_t>(fragment >> 8);
    bad[12] = static_cast<uint8_t>(fragment);
    EXPECT_FALSE(open_copy(rx, bad, &plaintext)) << "truncated by " << cut;
  }
}

TEST_P(DtlsHandshakeSuite, AWrongPskFailsAtTheClientsFinished) {
  Session s = make_session(GetParam(), psk_bytes(4), psk_bytes(5));
  ASSERT_NE(nullptr, s.client);
  run(s);
  EXPECT_EQ(DtlsHandshake::Status::kFailed, s.server->status());
  EXPECT_STREQ("bad_psk", s.server->failure_reason());
  EXPECT_EQ(HandshakeFailure::kBadPsk, s.server->failure());
  DtlsRecordKeys keys;
  std::string error;
  EXPECT_FALSE(s.server->export_keys(&keys, &error));
  // A failed handshake ignores what comes next.
  Datagrams out;
  EXPECT_EQ(DtlsHandshake::Status::kFailed, s.server->on_datagram(s.client_datagrams.back(), &out));
  EXPECT_EQ(DtlsHandshake::Status::kFailed, s.server->on_timeout(&out));
  EXPECT_TRUE(out.empty());
}

TEST_P(DtlsHandshakeSuite, NoSharedCipherFails) {
  // The client offers only a suite outside our list (ECDHE-PSK is not plain PSK).
  Session s = make_session("ECDHE-PSK-CHACHA20-POLY1305", psk_bytes(4), psk_bytes(4), GetParam());
  ASSERT_NE(nullptr, s.client);
  run(s);
  EXPECT_EQ(DtlsHandshake::Status::kFailed, s.server->status());
  EXPECT_STREQ("no_shared_cipher", s.server->failure_reason()) << s.server->failure_detail();
}

TEST_P(DtlsHandshakeSuite, AFatalAlertFromTheClientFails) {
  Session s = make_session(GetParam(), psk_bytes(4), psk_bytes(4));
  ASSERT_NE(nullptr, s.client);
  run(s, 2);  // up to the ServerHello flight: the cookie is verified
  ASSERT_EQ(DtlsHandshake::Status::kInProgress, s.server->status());
  // alert(21), DTLS 1.2, epoch 0, sequence 9, length 2: fatal(2) handshake_failure(40).
  const Bytes alert = {21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 2, 40};
  Datagrams out;
  EXPECT_EQ(DtlsHandshake::Status::kFailed, s.server->on_datagram(alert, &out));
  EXPECT_STREQ("alert", s.server->failure_reason());
  EXPECT_NE(std::string::npos, s.server->failure_detail().find("alert 40"))
      << s.server->failure_detail();
}

TEST_P(DtlsHandshakeSuite, LostHelloVerifyRequest) {
  Session s = make_session(GetParam(), psk_bytes(6), psk_bytes(6));
  ASSERT_NE(nullptr, s.client);
  run(s, 1, [](int n) { return n == 0; });  // the HelloVerifyRequest is lost
  ASSERT_FALSE(s.client->done());
  ASSERT_EQ(kWolfSuccess, s.client->timeout());  // the client sends its hello again
  run(s);
  EXPECT_EQ(DtlsHandshake::Status::kDone, s.server->status()) << s.server->failure_detail();
  EXPECT_TRUE(s.client->done());
}

TEST_P(DtlsHandshakeSuite, LostServerHelloIsRetransmittedOnTimeout) {
  Session s = make_session(GetParam(), psk_bytes(7), psk_bytes(7));
  ASSERT_NE(nullptr, s.client);
  run(s, 2, [](int n) { return n == 1; });  // HelloVerifyRequest arrives, ServerHello is lost
  ASSERT_EQ(DtlsHandshake::Status::kInProgress, s.server->status());
  EXPECT_EQ(std::chrono::milliseconds(1000), s.server->retransmit_timeout());
  Datagrams again;
  ASSERT_EQ(DtlsHandshake::Status::kInProgress, s.server->on_timeout(&again));
  EXPECT_EQ((std::vector<int>{kServerHello, kServerHelloDone}), handshake_types(again));
  EXPECT_EQ(std::chrono::milliseconds(2000), s.server->retransmit_timeout());  // doubled
  s.client->deliver(again);
  run(s);
  EXPECT_EQ(DtlsHandshake::Status::kDone, s.server->status()) << s.server->failure_detail();
  EXPECT_TRUE(s.client->done());
}

TEST_P(DtlsHandshakeSuite, LostClientKeyExchangeFlight) {
  Session s = make_session(GetParam(), psk_bytes(8), psk_bytes(8));
  ASSERT_NE(nullptr, s.client);
  run(s, 2);  // up to the ServerHello flight
  ASSERT_EQ(0, s.client->handshake());  // the client sends CKE, CCS, Finished ...
  s.client->take_sent();                 // ... which are lost
  Datagrams again;
  ASSERT_EQ(DtlsHandshake::Status::kInProgress, s.server->on_timeout(&again));
  s.client->deliver(again);  // the repeated ServerHelloDone makes the client resend its flight
  run(s);
  if (!s.client->done() || s.server->status() != DtlsHandshake::Status::kDone) {
    ASSERT_EQ(kWolfSuccess, s.client->timeout());
    run(s);
  }
  EXPECT_EQ(DtlsHandshake::Status::kDone, s.server->status()) << s.server->failure_detail();
  EXPECT_TRUE(s.client->done());
}

TEST_P(DtlsHandshakeSuite, LostFinalFlightIsSentAgainWhenTheClientRetransmits) {
  Session s = make_session(GetParam(), psk_bytes(9), psk_bytes(9));
  ASSERT_NE(nullptr, s.client);
  run(s, 3, [](int n) { return n >= 2; });  // our CCS + Finished are lost
  ASSERT_EQ(DtlsHandshake::Status::kDone, s.server->status());
  ASSERT_FALSE(s.client->done());
  const Datagrams final_flight = s.server_flights.back();

  // The client's timer: it retransmits its last flight; the server answers with a copy of
  // its own (wolfSSL itself would not, see dtls_handshake.h).
  ASSERT_EQ(kWolfSuccess, s.client->timeout());
  Datagrams answer = s.to_server();
  EXPECT_EQ(final_flight, answer);
  EXPECT_EQ(1u, s.server->final_flight_resends());
  s.client->deliver(answer);
  EXPECT_EQ(1, s.client->handshake());

  // The copy consumed no sequence number: the keys start right after our Finished.
  DtlsRecordKeys keys;
  std::string error;
  ASSERT_TRUE(s.server->export_keys(&keys, &error)) << error;
  EXPECT_EQ(1u, keys.tx_next_sequence);
  RecordAead tx;
  ASSERT_TRUE(tx.init(keys.cipher, keys.tx));
  s.client->deliver(seal(tx, oc_payload(30), keys.epoch, keys.tx_next_sequence));
  Bytes got;
  EXPECT_EQ(30, s.client->read(&got));

  // A replayed copy of the client's retransmission is not new: no further answer.
  Datagrams out;
  s.server->on_datagram(s.client_datagrams.back(), &out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(1u, s.server->final_flight_resends());
}

TEST_P(DtlsHandshakeSuite, FailsWhenTheTimerReachesItsMaximum) {
  Session s = make_session(GetParam(), psk_bytes(10), psk_bytes(10));
  ASSERT_NE(nullptr, s.client);
  run(s, 2, [](int n) { return n >= 1; });  // the client never hears the ServerHello
  std::vector<int64_t> timeouts;
  Datagrams out;
  int retransmissions = 0;
  while (s.server->status() == DtlsHandshake::Status::kInProgress && timeouts.size() < 10) {
    timeouts.push_back(s.server->retransmit_timeout().count());
    out.clear();
    s.server->on_timeout(&out);
    if (!out.empty()) retransmissions++;
  }
  EXPECT_EQ(DtlsHandshake::Status::kFailed, s.server->status());
  EXPECT_STREQ("timeout", s.server->failure_reason());
  EXPECT_EQ((std::vector<int64_t>{1000, 2000, 4000, 8000}), timeouts);
  EXPECT_EQ(3, retransmissions);  // at 1, 3 and 7 s; at 15 s it gives up
}

TEST_P(DtlsHandshakeSuite, ACookieIsBoundToTheClientsAddressNotToAHandshake) {
  // The cookie depends on the context's secret, the peer and the hello: a hello answering
  // one handshake's HelloVerifyRequest is accepted by a fresh handshake of the same
  // context and peer (the caller may drop state after the HelloVerifyRequest), and not by
  // one for another port.
  Session s = make_session(GetParam(), psk_bytes(11), psk_bytes(11));
  ASSERT_NE(nullptr, s.client);
  ASSERT_EQ(0, s.client->handshake());
  const Datagrams hvr = s.to_server();
  ASSERT_EQ(std::vector<int>{kHelloVerifyRequest}, handshake_types(hvr));
  s.client->deliver(hvr);
  ASSERT_EQ(0, s.client->handshake());
  const Datagrams hello2 = s.client->take_sent();
  ASSERT_EQ(1u, hello2.size());

  std::string error;
  auto fresh = DtlsHandshake::create(*s.context, kPeer, psk_bytes(11), &error);
  ASSERT_NE(nullptr, fresh) << error;
  Datagrams out;
  fresh->on_datagram(hello2[0], &out);
  EXPECT_EQ((std::vector<int>{kServerHello, kServerHelloDone}), handshake_types(out));

  auto other_port = DtlsHandshake::create(*s.context, DtlsPeer{kPeer.ip, 40001}, psk_bytes(11), &error);
  ASSERT_NE(nullptr, other_port) << error;
  out.clear();
  other_port->on_datagram(hello2[0], &out);
  EXPECT_EQ(std::vector<int>{kHelloVerifyRequest}, handshake_types(out));

  auto other_context_owner = DtlsServerContext::create(GetParam(), &error);
  ASSERT_NE(nullptr, other_context_owner) << error;
  auto other_context = DtlsHandshake::create(*other_context_owner, kPeer, psk_bytes(11), &error);
  out.clear();
  other_context->on_datagram(hello2[0], &out);
  EXPECT_EQ(std::vector<int>{kHelloVerifyRequest}, handshake_types(out));
}

INSTANTIATE_TEST_SUITE_P(PlainPskAead, DtlsHandshakeSuite,
                         ::testing::ValuesIn(suites_of_this_build()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name;
                           for (char c : info.param)
                             name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

// ---- openconnect's own hello (protocol trace), byte for byte ----

Bytes from_hex(const std::string& hex) { return test::from_hex(hex); }

const Bytes kTraceHello = from_hex(
    "16feff0000000000000000009b0100008f000000000000008ffefd0edf99ae06202f511875eb96dc1503e683"
    "46b63b7251eafa254232acf84bf6f520a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babb"
    "bcbdbebf00001000a9ccabc0a5008d00a8c0a4008c00ae01000035000d002200200401080908040403080705"
    "01080a0805050308080601080b080606030201020300230000ff01000100001c00024000");

/// The cookie of a HelloVerifyRequest datagram (RFC 6347 §4.2.1: server_version(2),
/// cookie<0..2^8-1>, after the 12-byte handshake header).
Bytes cookie_of(const Datagram& hvr) {
  DtlsRecord rec{};
  EXPECT_EQ(DtlsParseError::kOk, dtls_record_parse(hvr, 0, &rec));
  const size_t at = 12 + 2;
  const size_t len = rec.fragment[at];
  return Bytes(rec.fragment.begin() + static_cast<std::ptrdiff_t>(at + 1),
               rec.fragment.begin() + static_cast<std::ptrdiff_t>(at + 1 + len));
}

/// openconnect's second hello: record sequence 1, message_seq 1, the cookie inserted after
/// the session_id (the rest unchanged, as GnuTLS sends it, §6.6).
Bytes second_hello(const Bytes& cookie) {
  Bytes body(kTraceHello.begin() + 25, kTraceHello.end());
  const size_t cookie_len_at = 2 + 32 + 1 + 32;
  body.erase(body.begin() + static_cast<std::ptrdiff_t>(cookie_len_at));
  body.insert(body.begin() + static_cast<std::ptrdiff_t>(cookie_len_at), static_cast<uint8_t>(cookie.size()));
  body.insert(body.begin() + static_cast<std::ptrdiff_t>(cookie_len_at + 1), cookie.begin(), cookie.end());
  Bytes hs = {1, 0, static_cast<uint8_t>(body.size() >> 8), static_cast<uint8_t>(body.size()),
              0, 1, 0, 0, 0, 0, static_cast<uint8_t>(body.size() >> 8), static_cast<uint8_t>(body.size())};
  hs.insert(hs.end(), body.begin(), body.end());
  Bytes record = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1,
                  static_cast<uint8_t>(hs.size() >> 8), static_cast<uint8_t>(hs.size())};
  record.insert(record.end(), hs.begin(), hs.end());
  return record;
}

TEST(DtlsHandshakeOpenconnectHello, HelloVerifyRequestThenServerHello) {
  std::string error;
  auto context = DtlsServerContext::create("", &error);
  ASSERT_NE(nullptr, context) << error;
  auto hs = DtlsHandshake::create(*context, kPeer, psk_bytes(12), &error);
  ASSERT_NE(nullptr, hs) << error;

  // First hello: record version 0xfeff (DTLS 1.0 record layer), no cookie.
  Datagrams out;
  ASSERT_EQ(DtlsHandshake::Status::kInProgress, hs->on_datagram(kTraceHello, &out));
  ASSERT_EQ(1u, out.size());
  ASSERT_EQ(std::vector<int>{kHelloVerifyRequest}, handshake_types(out));
  const Bytes cookie = cookie_of(out[0]);
  EXPECT_EQ(32u, cookie.size());  // HMAC-SHA256

  // Second hello with the cookie: the App-ID is found in both.
  const Bytes hello2 = second_hello(cookie);
  ClientHelloInfo first{}, second{};
  ASSERT_EQ(ClientHelloError::kOk, client_hello_parse(kTraceHello, &first));
  ASSERT_EQ(ClientHelloError::kOk, client_hello_parse(hello2, &second));
  EXPECT_TRUE(std::equal(first.app_id.begin(), first.app_id.end(), second.app_id.begin(),
                         second.app_id.end()));
  EXPECT_TRUE(second.has_cookie);
  EXPECT_EQ(1, second.message_seq);

  out.clear();
  ASSERT_EQ(DtlsHandshake::Status::kInProgress, hs->on_datagram(hello2, &out));
  ASSERT_EQ((std::vector<int>{kServerHello, kServerHelloDone}), handshake_types(out));
  // The suite: ours in our order of preference, among openconnect's offer.
  const std::string first_choice = context->cipher_list().substr(0, context->cipher_list().find(':'));
  EXPECT_EQ(first_choice, hs->cipher_name());
  std::printf("[ trace    ] openconnect's hello negotiated %s\n", hs->cipher_name().c_str());

  // ServerHello: a session_id of the server's own, not the App-ID (a full handshake, §6.6).
  DtlsRecord rec{};
  ASSERT_EQ(DtlsParseError::kOk, dtls_record_parse(out[0], 0, &rec));
  const size_t sid_len_at = 12 + 2 + 32;
  ASSERT_GT(rec.fragment.size(), sid_len_at + 1);
  const size_t sid_len = rec.fragment[sid_len_at];
  const Bytes sid(rec.fragment.begin() + static_cast<std::ptrdiff_t>(sid_len_at + 1),
                  rec.fragment.begin() + static_cast<std::ptrdiff_t>(sid_len_at + 1 + sid_len));
  EXPECT_FALSE(std::equal(sid.begin(), sid.end(), first.app_id.begin(), first.app_id.end()));

  // The client goes silent: the ServerHello flight is sent again on the timer.
  Datagrams again;
  ASSERT_EQ(DtlsHandshake::Status::kInProgress, hs->on_timeout(&again));
  EXPECT_EQ((std::vector<int>{kServerHello, kServerHelloDone}), handshake_types(again));
}

TEST(DtlsHandshakeOpenconnectHello, AHelloWithAForgedCookieGetsAnotherHelloVerifyRequest) {
  std::string error;
  auto context = DtlsServerContext::create("", &error);
  ASSERT_NE(nullptr, context) << error;
  auto hs = DtlsHandshake::create(*context, kPeer, psk_bytes(13), &error);
  ASSERT_NE(nullptr, hs) << error;
  Datagrams out;
  hs->on_datagram(kTraceHello, &out);
  Bytes cookie = cookie_of(out.at(0));
  cookie[0] ^= 1;
  out.clear();
  EXPECT_EQ(DtlsHandshake::Status::kInProgress, hs->on_datagram(second_hello(cookie), &out));
  EXPECT_EQ(std::vector<int>{kHelloVerifyRequest}, handshake_types(out));
}

}  // namespace
}  // namespace tg::dtls
