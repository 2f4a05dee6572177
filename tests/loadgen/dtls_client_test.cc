// tunnelgate-loadgen's DTLS client setup (bench/loadgen/dtls_client) against tunnelgate's own
// DTLS PSK-NEGOTIATE server engine (dataplane/dtls/dtls_handshake), datagrams passed in
// memory: the ClientHello carries the App-ID as its session_id exactly where ocserv and the
// gateway look for it (PROTOCOL.md §6.4), and the handshake completes under the shared PSK
// (and fails under another). This guards the trick the generator uses to put the App-ID
// there (wolfSSL's serialised session format) against a wolfSSL upgrade.
#include <gtest/gtest.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "bench/loadgen/dtls_client.h"
#include "dataplane/dtls/client_hello.h"
#include "dataplane/dtls/dtls_handshake.h"

namespace tg::loadgen {
namespace {

/// The client's datagrams in both directions, in memory.
struct Wire {
  std::deque<std::vector<uint8_t>> to_client;
  std::vector<std::vector<uint8_t>> from_client;
};

int client_recv(WOLFSSL*, char* buf, int size, void* ctx) {
  auto* wire = static_cast<Wire*>(ctx);
  if (wire->to_client.empty()) return WOLFSSL_CBIO_ERR_WANT_READ;
  const std::vector<uint8_t> d = std::move(wire->to_client.front());
  wire->to_client.pop_front();
  const size_t n = std::min(d.size(), static_cast<size_t>(size));
  std::memcpy(buf, d.data(), n);
  return static_cast<int>(n);
}

int client_send(WOLFSSL*, char* buf, int size, void* ctx) {
  static_cast<Wire*>(ctx)->from_client.emplace_back(buf, buf + size);
  return size;
}

struct Result {
  bool client_done = false;
  dtls::DtlsHandshake::Status server = dtls::DtlsHandshake::Status::kInProgress;
  std::vector<uint8_t> first_hello;
};

Result handshake(const std::vector<uint8_t>& app_id, uint8_t client_psk_byte) {
  Result result;
  std::string error;
  auto server_ctx = dtls::DtlsServerContext::create("", &error);
  EXPECT_NE(server_ctx, nullptr) << error;
  std::vector<uint8_t> server_psk(kDtlsPskBytes, 0x42);
  auto server = dtls::DtlsHandshake::create(*server_ctx, {0xc0000202, 40000}, server_psk, &error);
  EXPECT_NE(server, nullptr) << error;
  WOLFSSL_CTX* ctx = dtls_client_context_new(&error);
  EXPECT_NE(ctx, nullptr) << error;
  if (server == nullptr || ctx == nullptr) return result;
  wolfSSL_CTX_SetIORecv(ctx, &client_recv);
  wolfSSL_CTX_SetIOSend(ctx, &client_send);
  WOLFSSL* ssl = wolfSSL_new(ctx);
  Wire wire;
  wolfSSL_SetIOReadCtx(ssl, &wire);
  wolfSSL_SetIOWriteCtx(ssl, &wire);
  wolfSSL_dtls_set_using_nonblock(ssl, 1);
  std::vector<uint8_t> client_psk(kDtlsPskBytes, client_psk_byte);
  dtls_client_set_psk_source(ssl, client_psk.data());
  EXPECT_TRUE(dtls_client_set_app_id(ssl, app_id));
  for (int round = 0; round < 10 && !result.client_done; ++round) {
    result.client_done = wolfSSL_connect(ssl) == WOLFSSL_SUCCESS;
    for (const std::vector<uint8_t>& d : wire.from_client) {
      if (result.first_hello.empty()) result.first_hello = d;
      std::vector<std::vector<uint8_t>> out;
      result.server = server->on_datagram(d, &out);
      for (auto& o : out) wire.to_client.push_back(std::move(o));
    }
    wire.from_client.clear();
    if (wire.to_client.empty() && !result.client_done) break;
  }
  wolfSSL_free(ssl);
  wolfSSL_CTX_free(ctx);
  return result;
}

TEST(DtlsClient, ClientHelloCarriesTheAppIdAndTheHandshakeCompletes) {
  std::vector<uint8_t> app_id(32);
  for (size_t i = 0; i < app_id.size(); ++i) app_id[i] = static_cast<uint8_t>(0xa0 + i);
  const Result r = handshake(app_id, 0x42);
  ASSERT_GE(r.first_hello.size(), 92u);
  // The trace's offsets (protocol-traces/dtls-clienthello-and-framing.txt): length at 59.
  EXPECT_EQ(r.first_hello[59], 32);
  EXPECT_TRUE(std::equal(app_id.begin(), app_id.end(), r.first_hello.begin() + 60));
  dtls::ClientHelloInfo info;
  ASSERT_EQ(dtls::client_hello_parse(r.first_hello, &info), dtls::ClientHelloError::kOk);
  EXPECT_TRUE(std::equal(info.app_id.begin(), info.app_id.end(), app_id.begin(), app_id.end()));
  EXPECT_FALSE(info.app_id_from_extension);
  EXPECT_EQ(info.client_version, 0xfefd);
  EXPECT_TRUE(r.client_done);
  EXPECT_EQ(r.server, dtls::DtlsHandshake::Status::kDone);
}

TEST(DtlsClient, AnotherPskFails) {
  const std::vector<uint8_t> app_id(32, 0x5a);
  const Result bad = handshake(app_id, 0x43);  // another PSK: the server refuses
  EXPECT_FALSE(bad.client_done);
  EXPECT_EQ(bad.server, dtls::DtlsHandshake::Status::kFailed);
}

TEST(DtlsClient, ShortAppIdGoesIntoTheHello) {
  // openconnect accepts 1..32-byte App-IDs; ocserv and tunnelgate send 32 bytes. (wolfSSL's
  // own server then loses a short session_id in its cookie exchange, so only the hello is
  // checked here.)
  const std::vector<uint8_t> app_id = {1, 2, 3, 4};
  const Result r = handshake(app_id, 0x42);
  ASSERT_GE(r.first_hello.size(), 64u);
  EXPECT_EQ(r.first_hello[59], 4);
  EXPECT_TRUE(std::equal(app_id.begin(), app_id.end(), r.first_hello.begin() + 60));
}

TEST(DtlsClient, RejectsBadAppIdSizes) {
  std::string error;
  WOLFSSL_CTX* ctx = dtls_client_context_new(&error);
  ASSERT_NE(ctx, nullptr) << error;
  WOLFSSL* ssl = wolfSSL_new(ctx);
  EXPECT_FALSE(dtls_client_set_app_id(ssl, {}));
  const std::vector<uint8_t> too_long(33, 1);
  EXPECT_FALSE(dtls_client_set_app_id(ssl, too_long));
  wolfSSL_free(ssl);
  wolfSSL_CTX_free(ctx);
}

}  // namespace
}  // namespace tg::loadgen
