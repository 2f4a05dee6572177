// dtls::DtlsHandshake against GnuTLS set up the way openconnect sets up its DTLS session in
// PSK-NEGOTIATE mode (gnutls-dtls.c start_dtls_psk_handshake): GNUTLS_CLIENT |
// GNUTLS_DATAGRAM | GNUTLS_NONBLOCK | GNUTLS_NO_EXTENSIONS, its priority string with
// ":-VERS-TLS-ALL:+VERS-DTLS-ALL:-KX-ALL:+PSK", the App-ID as session_id
// (gnutls_session_set_id) and PSK identity "psk". Debian's openconnect 9.01 links this same
// GnuTLS (3.7.9), so this is the client of PROTOCOL.md §6 short of the process around it.
// In memory: GnuTLS's push/pull functions move datagrams; no retransmission timer fires
// (the test is faster than GnuTLS's 1 s).
#include <gnutls/dtls.h>
#include <gnutls/gnutls.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "crypto/record_aead.h"
#include "dataplane/dtls/client_hello.h"
#include "dataplane/dtls/dtls_handshake.h"
#include "dataplane/dtls/dtls_record.h"
#include "tests/crypto/wolfssl_dtls_endpoint.h"

namespace tg::dtls {
namespace {

using crypto::DtlsRecordKeys;
using crypto::RecordAead;
using test::Datagram;
using test::Datagrams;
using Bytes = std::vector<uint8_t>;

const DtlsPeer kPeer{0x0a000002, 51234};
/// openconnect 9.01's default GnuTLS priority ("NORMAL:-VERS-SSL3.0:+SHA256:%COMPAT", read
/// from Debian's libopenconnect.so.5) plus what start_dtls_psk_handshake appends.
constexpr char kOpenconnectDtlsPriority[] =
    "NORMAL:-VERS-SSL3.0:+SHA256:%COMPAT:-VERS-TLS-ALL:+VERS-DTLS-ALL:-KX-ALL:+PSK";
/// The cipher suites of the real openconnect 9.01 hello (protocol trace, §6.5), in order.
const Bytes kTraceSuites = test::from_hex("00a9ccabc0a5008d00a8c0a4008c00ae");

Bytes bytes_of(uint8_t seed, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; i++) out[i] = static_cast<uint8_t>(seed + i * 7);
  return out;
}

/// A GnuTLS DTLS client over in-memory datagrams, configured like openconnect's.
class OpenconnectGnutlsClient {
 public:
  OpenconnectGnutlsClient(const Bytes& app_id, const Bytes& psk) {
    ok_ = gnutls_init(&session_, GNUTLS_CLIENT | GNUTLS_DATAGRAM | GNUTLS_NONBLOCK |
                                     GNUTLS_NO_EXTENSIONS) == 0 &&
          gnutls_priority_set_direct(session_, kOpenconnectDtlsPriority, nullptr) == 0;
    if (!ok_) return;
    gnutls_datum_t id = {const_cast<unsigned char*>(app_id.data()),
                         static_cast<unsigned int>(app_id.size())};
    gnutls_session_set_id(session_, &id);
    gnutls_datum_t key = {const_cast<unsigned char*>(psk.data()),
                          static_cast<unsigned int>(psk.size())};
    ok_ = gnutls_psk_allocate_client_credentials(&credentials_) == 0 &&
          gnutls_psk_set_client_credentials(credentials_, "psk", &key, GNUTLS_PSK_KEY_RAW) == 0 &&
          gnutls_credentials_set(session_, GNUTLS_CRD_PSK, credentials_) == 0;
    gnutls_transport_set_ptr(session_, this);
    gnutls_transport_set_push_function(session_, &OpenconnectGnutlsClient::push);
    gnutls_transport_set_pull_function(session_, &OpenconnectGnutlsClient::pull);
    gnutls_transport_set_pull_timeout_function(session_, &OpenconnectGnutlsClient::pull_timeout);
    gnutls_dtls_set_mtu(session_, 1500);  // openconnect: dtls_set_mtu(base MTU)
  }
  ~OpenconnectGnutlsClient() {
    if (session_ != nullptr) gnutls_deinit(session_);
    if (credentials_ != nullptr) gnutls_psk_free_client_credentials(credentials_);
  }
  OpenconnectGnutlsClient(const OpenconnectGnutlsClient&) = delete;
  OpenconnectGnutlsClient& operator=(const OpenconnectGnutlsClient&) = delete;

  bool ok() const { return ok_; }
  /// gnutls_handshake once: 0 done, GNUTLS_E_AGAIN waiting, else the error.
  int handshake() {
    if (done_) return 0;
    const int ret = gnutls_handshake(session_);
    done_ = ret == 0;
    return ret;
  }
  bool done() const { return done_; }
  void deliver(const Datagrams& ds) { inbox_.insert(inbox_.end(), ds.begin(), ds.end()); }
  void deliver(const Datagram& d) { inbox_.push_back(d); }
  Datagrams take_sent() {
    Datagrams out;
    out.swap(sent_);
    return out;
  }
  bool send(const Bytes& payload) {
    return gnutls_record_send(session_, payload.data(), payload.size()) ==
           static_cast<ssize_t>(payload.size());
  }
  /// One record: its size, or a negative GnuTLS error (GNUTLS_E_AGAIN: nothing accepted).
  ssize_t recv(Bytes* payload) {
    payload->assign(16384 + 1, 0);
    const ssize_t n = gnutls_record_recv(session_, payload->data(), payload->size());
    payload->resize(n > 0 ? static_cast<size_t>(n) : 0);
    return n;
  }
  std::string cipher() const { return gnutls_cipher_get_name(gnutls_cipher_get(session_)); }
  std::string kx() const { return gnutls_kx_get_name(gnutls_kx_get(session_)); }
  gnutls_protocol_t version() const { return gnutls_protocol_get_version(session_); }

 private:
  static ssize_t push(gnutls_transport_ptr_t ptr, const void* data, size_t size) {
    auto* self = static_cast<OpenconnectGnutlsClient*>(ptr);
    const auto* bytes = static_cast<const uint8_t*>(data);
    self->sent_.emplace_back(bytes, bytes + size);
    return static_cast<ssize_t>(size);
  }
  static ssize_t pull(gnutls_transport_ptr_t ptr, void* data, size_t size) {
    auto* self = static_cast<OpenconnectGnutlsClient*>(ptr);
    if (self->inbox_.empty()) {
      gnutls_transport_set_errno(self->session_, EAGAIN);
      return -1;
    }
    const Datagram d = std::move(self->inbox_.front());
    self->inbox_.pop_front();
    const size_t n = std::min(size, d.size());
    std::memcpy(data, d.data(), n);
    return static_cast<ssize_t>(n);
  }
  static int pull_timeout(gnutls_transport_ptr_t ptr, unsigned int) {
    return static_cast<OpenconnectGnutlsClient*>(ptr)->inbox_.empty() ? 0 : 1;
  }

  gnutls_session_t session_ = nullptr;
  gnutls_psk_client_credentials_t credentials_ = nullptr;
  std::deque<Datagram> inbox_;
  Datagrams sent_;
  bool ok_ = false;
  bool done_ = false;
};

/// The cipher_suites vector of a ClientHello datagram (after session_id and cookie).
Bytes suites_of(const Datagram& hello) {
  size_t at = 13 + 12 + 2 + 32;
  at += 1 + hello.at(at);  // session_id
  at += 1 + hello.at(at);  // cookie
  const size_t len = static_cast<size_t>(hello.at(at)) << 8 | hello.at(at + 1);
  return Bytes(hello.begin() + static_cast<std::ptrdiff_t>(at + 2),
               hello.begin() + static_cast<std::ptrdiff_t>(at + 2 + len));
}

struct GnutlsRun {
  std::unique_ptr<DtlsServerContext> context;
  std::unique_ptr<DtlsHandshake> server;
  std::unique_ptr<OpenconnectGnutlsClient> client;
  Datagrams client_sent, server_sent;
};

GnutlsRun handshake(const std::string& ciphers, const Bytes& app_id, const Bytes& client_psk,
              const Bytes& server_psk) {
  GnutlsRun r;
  std::string error;
  r.context = DtlsServerContext::create(ciphers, &error);
  EXPECT_NE(nullptr, r.context) << error;
  if (r.context == nullptr) return r;
  r.server = DtlsHandshake::create(*r.context, kPeer, server_psk, &error);
  EXPECT_NE(nullptr, r.server) << error;
  r.client = std::make_unique<OpenconnectGnutlsClient>(app_id, client_psk);
  EXPECT_TRUE(r.client->ok());
  for (int round = 0; round < 10; round++) {
    const int ret = r.client->handshake();
    EXPECT_TRUE(ret == 0 || ret == GNUTLS_E_AGAIN) << gnutls_strerror(ret);
    Datagrams out;
    for (const Datagram& d : r.client->take_sent()) {
      r.client_sent.push_back(d);
      r.server->on_datagram(d, &out);
    }
    r.server_sent.insert(r.server_sent.end(), out.begin(), out.end());
    r.client->deliver(out);
    if (r.server->status() == DtlsHandshake::Status::kFailed) break;
    if (r.client->done() && r.server->status() == DtlsHandshake::Status::kDone) break;
  }
  return r;
}

Bytes seal(const RecordAead& aead, const Bytes& plaintext, uint16_t epoch, uint64_t seq) {
  const size_t explicit_len = aead.overhead() - aead::kTagBytes;
  Bytes buffer(wire::kRecordHeaderBytes + aead.overhead() + plaintext.size());
  std::copy(plaintext.begin(), plaintext.end(),
            buffer.begin() + static_cast<std::ptrdiff_t>(wire::kRecordHeaderBytes + explicit_len));
  buffer.resize(aead.seal(buffer.data(), plaintext.size(), epoch, seq));
  return buffer;
}

Bytes oc_payload(uint8_t type, size_t size) {
  Bytes payload = bytes_of(0x45, size);
  payload[0] = type;
  return payload;
}

/// GnuTLS's name of the cipher each of our suites negotiates.
std::string gnutls_name(const std::string& suite) {
  if (suite == "PSK-AES256-GCM-SHA384") return "AES-256-GCM";
  if (suite == "PSK-AES128-GCM-SHA256") return "AES-128-GCM";
  return "CHACHA20-POLY1305";
}

TEST(DtlsHandshakeGnutls, OpenconnectsHelloHasTheTracesShape) {
  const Bytes app_id = bytes_of(0xa0, 32);
  OpenconnectGnutlsClient client(app_id, bytes_of(1, 32));
  ASSERT_TRUE(client.ok());
  ASSERT_EQ(GNUTLS_E_AGAIN, client.handshake());
  const Datagrams sent = client.take_sent();
  ASSERT_EQ(1u, sent.size());
  ClientHelloInfo info{};
  ASSERT_EQ(ClientHelloError::kOk, client_hello_parse(sent[0], &info));
  EXPECT_EQ(app_id, Bytes(info.app_id.begin(), info.app_id.end()));
  EXPECT_EQ(wire::kVersionDtls10, info.record_version);
  EXPECT_EQ(wire::kVersionDtls12, info.client_version);
  EXPECT_FALSE(info.has_cookie);
  EXPECT_EQ(test::to_hex(kTraceSuites), test::to_hex(suites_of(sent[0])))
      << "the GnuTLS client here does not offer what openconnect offered in the trace";
}

class DtlsHandshakeGnutlsSuite : public ::testing::TestWithParam<std::string> {};

TEST_P(DtlsHandshakeGnutlsSuite, HandshakeAndRecordsBothWays) {
  const Bytes app_id = bytes_of(0xa0, 32), psk = bytes_of(0x33, 32);
  GnutlsRun r = handshake(GetParam(), app_id, psk, psk);
  ASSERT_NE(nullptr, r.client);
  ASSERT_EQ(DtlsHandshake::Status::kDone, r.server->status()) << r.server->failure_detail();
  ASSERT_TRUE(r.client->done());
  EXPECT_TRUE(r.server->sent_hello_verify_request());
  EXPECT_EQ(GNUTLS_DTLS1_2, r.client->version());
  EXPECT_EQ("PSK", r.client->kx());
  // With the default list the first suite of our preference wins (server order).
  const std::string expected_suite =
      GetParam().empty() ? r.context->cipher_list().substr(0, r.context->cipher_list().find(':'))
                         : GetParam();
  EXPECT_EQ(expected_suite, r.server->cipher_name());
  EXPECT_EQ(gnutls_name(expected_suite), r.client->cipher());
  std::printf("[ gnutls   ] ciphers \"%s\": (DTLS1.2)-(PSK)-(%s)\n", GetParam().c_str(),
              r.client->cipher().c_str());

  // Both hellos carry the App-ID (§6.6); the second one the cookie.
  ASSERT_GE(r.client_sent.size(), 2u);
  ClientHelloInfo h1{}, h2{};
  ASSERT_EQ(ClientHelloError::kOk, client_hello_parse(r.client_sent[0], &h1));
  ASSERT_EQ(ClientHelloError::kOk, client_hello_parse(r.client_sent[1], &h2));
  EXPECT_EQ(app_id, Bytes(h2.app_id.begin(), h2.app_id.end()));
  EXPECT_FALSE(h1.has_cookie);
  EXPECT_TRUE(h2.has_cookie);
  EXPECT_EQ(1, h2.message_seq);

  DtlsRecordKeys keys;
  std::string error;
  ASSERT_TRUE(r.server->export_keys(&keys, &error)) << error;
  RecordAead tx, rx;
  ASSERT_TRUE(tx.init(keys.cipher, keys.tx));
  ASSERT_TRUE(rx.init(keys.cipher, keys.rx));

  // Client → server: openconnect's records (type byte + packet), including the MTU probe.
  for (size_t size : {1, 64, 512, 1400}) {
    const Bytes payload = oc_payload(size == 1 ? 0x07 : 0x00, size);
    ASSERT_TRUE(r.client->send(payload)) << size;
    const Datagrams sent = r.client->take_sent();
    ASSERT_EQ(1u, sent.size());
    Datagram record = sent[0];
    DtlsRecord rec{};
    ASSERT_EQ(DtlsParseError::kOk, dtls_record_parse(record, 0, &rec));
    std::span<uint8_t> plaintext;
    ASSERT_TRUE(rx.open(rec, record.data(), &plaintext)) << size;
    EXPECT_EQ(payload, Bytes(plaintext.begin(), plaintext.end()));
  }

  // Server → client from tx_next_sequence on: GnuTLS reads every size up to 16000.
  uint64_t seq = keys.tx_next_sequence;
  Bytes got;
  for (size_t size : {1, 64, 512, 1400, 16000}) {
    const Bytes payload = oc_payload(0x00, size);
    r.client->deliver(seal(tx, payload, keys.epoch, seq++));
    ASSERT_EQ(static_cast<ssize_t>(size), r.client->recv(&got)) << size;
    EXPECT_EQ(payload, got);
  }
  // Our Finished's sequence number again: GnuTLS drops it as a replay.
  r.client->deliver(seal(tx, oc_payload(0x00, 50), keys.epoch, keys.tx_next_sequence - 1));
  EXPECT_EQ(GNUTLS_E_AGAIN, r.client->recv(&got));
  // A damaged record is dropped too; the next good one still arrives.
  Bytes bad = seal(tx, oc_payload(0x00, 50), keys.epoch, seq++);
  bad.back() ^= 1;
  r.client->deliver(bad);
  EXPECT_EQ(GNUTLS_E_AGAIN, r.client->recv(&got));
  r.client->deliver(seal(tx, oc_payload(0x04, 50), keys.epoch, seq++));
  EXPECT_EQ(50, r.client->recv(&got));
}

TEST_P(DtlsHandshakeGnutlsSuite, AWrongPskFails) {
  GnutlsRun r = handshake(GetParam(), bytes_of(0xa0, 32), bytes_of(1, 32), bytes_of(2, 32));
  ASSERT_NE(nullptr, r.server);
  EXPECT_EQ(DtlsHandshake::Status::kFailed, r.server->status());
  EXPECT_STREQ("bad_psk", r.server->failure_reason());
  EXPECT_FALSE(r.client->done());
}

std::vector<std::string> cipher_configurations() {
  // "" = the context's default list, then each suite of this build alone.
  std::vector<std::string> out = {""};
  const std::vector<std::string> all(DtlsServerContext::kPskAeadSuites.begin(),
                                     DtlsServerContext::kPskAeadSuites.end());
  for (const std::string& s : test::wolfssl_suites_available(all)) out.push_back(s);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Openconnect, DtlsHandshakeGnutlsSuite,
                         ::testing::ValuesIn(cipher_configurations()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param.empty() ? "default_list" : "";
                           for (char c : info.param)
                             name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return name;
                         });

}  // namespace
}  // namespace tg::dtls
