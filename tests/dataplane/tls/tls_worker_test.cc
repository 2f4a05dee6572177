// tls_worker on 127.0.0.1: misbehaving clients first (garbage, silence, too many), then
// openssl s_client / curl / an in-process wolfSSL client against real handlers.
// Every test checks that the fds it opened are closed again (TlsWorkerTest::TearDown).
#include "dataplane/tls/tls_worker.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <mutex>
#include <random>

#include <gtest/gtest.h>

#include "tls_test_support.h"

namespace tg::dp::tls {
namespace {

using namespace std::chrono_literals;
using test::TestClient;
using test::WorkerThread;

constexpr std::string_view kPskLabel = "EXPORTER-openconnect-psk";  // PROTOCOL.md §6.2

uint64_t failed(const TlsWorkerCounters& counters, HandshakeFailure failure) {
  return counters.handshakes_failed[static_cast<size_t>(failure)].get();
}
uint64_t closed(const TlsWorkerCounters& counters, CloseReason reason) {
  return counters.closed[static_cast<size_t>(reason)].get();
}

/// What a handler saw of one connection (copied at on_open).
struct OpenRecord {
  ConnectionId id = 0;
  std::string version, cipher;
  ClientCertInfo client_cert;
  std::string psk_hex;  // exporter output, label kPskLabel, no context, 32 bytes
  uint16_t peer_port = 0;
  bool peer_is_loopback = false;
};

/// Echo (optionally closing after N bytes) or a one-shot HTTP responder. Thread-safe reads
/// of what it recorded.
class TestHandler : public TlsHandler {
 public:
  enum class Mode { echo, http, silent };
  explicit TestHandler(Mode mode = Mode::echo) : mode_(mode) {}

  size_t close_after_bytes = 0;             // echo: close once this much was echoed
  bool keep_request_deadline = false;       // else on_open clears the deadline
  Clock::duration idle_timeout{};           // set on open when non-zero

  void on_open(Connection& c) override {
    OpenRecord record;
    record.id = c.id();
    record.version = std::string(c.tls_version());
    record.cipher = std::string(c.cipher());
    record.client_cert = c.client_cert();
    uint8_t psk[32];
    if (c.export_keying_material(kPskLabel, std::nullopt, psk)) {
      record.psk_hex = test::to_hex(psk, sizeof psk);
    }
    record.peer_port = c.peer_address().port;
    record.peer_is_loopback = c.peer_address().address.is_v4() &&
                              c.peer_address().address.v4_host() == 0x7f000001;
    if (!keep_request_deadline) c.set_deadline(std::nullopt);
    if (idle_timeout != Clock::duration::zero()) c.set_idle_timeout(idle_timeout);
    std::lock_guard lock(mutex_);
    opens_.push_back(std::move(record));
  }

  void on_data(Connection& c, std::span<const uint8_t> data) override {
    if (mode_ == Mode::echo) {
      if (!c.send(data)) {
        std::lock_guard lock(mutex_);
        ++refused_;
      }
      echoed_ += data.size();
      if (close_after_bytes != 0 && echoed_ >= close_after_bytes) c.close();
    } else if (mode_ == Mode::http) {
      request_.append(reinterpret_cast<const char*>(data.data()), data.size());
      if (request_.find("\r\n\r\n") != std::string::npos) {
        c.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
               "Connection: close\r\n\r\nhello\n");
        c.close();
        request_.clear();
      }
    }
  }

  void on_writable(Connection&) override { writable_calls_.fetch_add(1); }

  void on_close(Connection& c, CloseReason reason) override {
    EXPECT_FALSE(c.send(std::string_view("late")));  // a closing connection refuses output
    std::lock_guard lock(mutex_);
    closes_.push_back(reason);
  }

  void on_wake(TlsWorker&) override { seen_posted_.store(posted.load(std::memory_order_relaxed)); }
  void on_tick(TlsWorker&, Clock::time_point) override { ticks_.fetch_add(1); }
  bool on_pass(TlsWorker&) override {
    // Awaiting an answer another process writes without waking us: take it when it came.
    if (awaiting.load() && answered.load() != 0) {
      seen_answer_.store(answered.load());
      awaiting.store(false);
    }
    return awaiting.load();
  }

  std::vector<OpenRecord> opens() const {
    std::lock_guard lock(mutex_);
    return opens_;
  }
  std::vector<CloseReason> closes() const {
    std::lock_guard lock(mutex_);
    return closes_;
  }
  size_t refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
  }

  std::atomic<uint64_t> posted{0};       // written by a "remote" thread before wake()
  std::atomic<uint64_t> seen_posted_{0}; // what on_wake saw
  std::atomic<uint64_t> ticks_{0};
  std::atomic<bool> awaiting{false};      // on_pass: an answer is awaited
  std::atomic<uint64_t> answered{0};      // written by a "remote" thread, no wake()
  std::atomic<uint64_t> seen_answer_{0};  // what on_pass saw
  std::atomic<uint64_t> writable_calls_{0};

 private:
  Mode mode_;
  size_t echoed_ = 0;  // worker thread only
  std::string request_;
  mutable std::mutex mutex_;
  std::vector<OpenRecord> opens_;
  std::vector<CloseReason> closes_;
  size_t refused_ = 0;
};

// Every case runs on both socket models: descriptors in epoll, and io_uring file-table slots.
class TlsWorkerTest : public ::testing::TestWithParam<TlsIo> {
 protected:
  static void SetUpTestSuite() { ASSERT_NE(test::test_pki(), nullptr); }
  void SetUp() override {
    pki_ = test::test_pki();
    ASSERT_NE(pki_, nullptr);
    // Warm-up: wolfSSL's one-time initialisation may open files it keeps.
    (void)tls_context_create(test::ec_server_config(), {});
    fds_before_ = test::count_open_fds();
    dir_ = pki_->dir;
  }
  void TearDown() override {
    EXPECT_EQ(test::count_open_fds(), fds_before_) << "file descriptors leaked";
  }

  TlsWorkerOptions fast_options() const {
    TlsWorkerOptions options;
    options.io = GetParam();
    options.tick = 10ms;
    options.request_timeout = 5s;
    options.linger = 500ms;
    return options;
  }

  int s_client(const std::vector<std::string>& extra, uint16_t port, const std::string& in,
               const std::string& out) {
    std::vector<std::string> argv{"openssl", "s_client", "-connect",
                                  "127.0.0.1:" + std::to_string(port), "-CAfile", pki_->ca_pem,
                                  "-verify_return_error"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::run_command(argv, in, out, dir_ + "/s_client.err");
  }

  const test::TestPki* pki_ = nullptr;
  std::string dir_;
  int fds_before_ = 0;
};

// ------------------------------------------------------------------ misbehaving clients

TEST_P(TlsWorkerTest, GarbageInsteadOfClientHelloFailsAndIsCounted) {
  TestHandler handler;
  WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
  ASSERT_TRUE(w.ok()) << w.error();
  for (int i = 0; i < 3; ++i) {
    const int fd = test::connect_tcp(w.port());
    ASSERT_GE(fd, 0);
    const std::string garbage = "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(garbage.size()));
    EXPECT_TRUE(test::wait_peer_closed(fd, 3s));
    ::close(fd);
  }
  // A TLS record header with an absurd length, then random bytes.
  {
    const int fd = test::connect_tcp(w.port());
    std::string junk = "\x16\x03\x01\xff\xff";
    std::mt19937 rng(7);
    for (int i = 0; i < 600; ++i) junk.push_back(static_cast<char>(rng()));
    ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    EXPECT_TRUE(test::wait_peer_closed(fd, 3s));
    ::close(fd);
  }
  EXPECT_TRUE(test::wait_until([&] { return w.counters().connections.get() == 0; }));
  EXPECT_EQ(failed(w.counters(), HandshakeFailure::protocol_error) +
                failed(w.counters(), HandshakeFailure::version),
            4u);
  EXPECT_EQ(w.counters().handshakes_ok.get(), 0u);
  EXPECT_TRUE(handler.opens().empty());
  EXPECT_TRUE(handler.closes().empty());  // no on_close without on_open
}

TEST_P(TlsWorkerTest, SilentClientIsClosedAtTheHandshakeTimeout) {
  TestHandler handler;
  TlsWorkerOptions options = fast_options();
  options.request_timeout = 300ms;
  WorkerThread w(test::ec_server_config(), {}, options, handler);
  ASSERT_TRUE(w.ok()) << w.error();
  const auto start = std::chrono::steady_clock::now();
  const int fd = test::connect_tcp(w.port());
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(test::wait_peer_closed(fd, 5s));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
  ::close(fd);
  EXPECT_TRUE(test::wait_until([&] { return failed(w.counters(), HandshakeFailure::timeout) == 1; }));
  // The gauge drops just after the failure is counted: wait, do not race it.
  EXPECT_TRUE(test::wait_until([&] { return w.counters().connections.get() == 0; }));
}

TEST_P(TlsWorkerTest, ClientClosingMidHandshakeIsCounted) {
  TestHandler handler;
  WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
  ASSERT_TRUE(w.ok()) << w.error();
  const int fd = test::connect_tcp(w.port());
  ASSERT_GE(fd, 0);
  ::send(fd, "\x16\x03\x01", 3, MSG_NOSIGNAL);  // a record header, then nothing
  ::close(fd);
  EXPECT_TRUE(test::wait_until([&] { return failed(w.counters(), HandshakeFailure::peer_closed) == 1; }));
}

TEST_P(TlsWorkerTest, ConnectionsOverTheLimitAreClosedAtOnce) {
  TestHandler handler;
  TlsWorkerOptions options = fast_options();
  options.max_connections = 2;
  WorkerThread w(test::ec_server_config(), {}, options, handler);
  ASSERT_TRUE(w.ok()) << w.error();
  const int a = test::connect_tcp(w.port());
  const int b = test::connect_tcp(w.port());
  ASSERT_TRUE(test::wait_until([&] { return w.counters().connections.get() == 2; }));
  const int c = test::connect_tcp(w.port());
  ASSERT_GE(c, 0);
  EXPECT_TRUE(test::wait_peer_closed(c, 2s));
  EXPECT_EQ(w.counters().rejected_over_limit.get(), 1u);
  EXPECT_FALSE(test::wait_peer_closed(a, 100ms));  // the first two are still held
  ::close(a);
  ::close(b);
  ::close(c);
  // Once they are gone, a new one is accepted and completes a handshake.
  ASSERT_TRUE(test::wait_until([&] { return w.counters().connections.get() == 0; }));
  TestClient client(w.port());
  EXPECT_TRUE(client.handshake_ok()) << client.last_error();
}

TEST_P(TlsWorkerTest, VersionBelowMinimumIsRefused) {
  TestHandler handler;
  config::TlsConfig tls = test::ec_server_config();
  tls.min_version = "1.3";
  WorkerThread w(tls, {}, fast_options(), handler);
  ASSERT_TRUE(w.ok()) << w.error();
  {
    TestClient old_client(w.port(), /*version=*/2);
    EXPECT_FALSE(old_client.handshake_ok());
  }
  EXPECT_TRUE(test::wait_until([&] { return failed(w.counters(), HandshakeFailure::version) == 1; }))
      << "protocol_error=" << failed(w.counters(), HandshakeFailure::protocol_error);
  TestClient client(w.port(), /*version=*/3);
  EXPECT_TRUE(client.handshake_ok());
}

TEST_P(TlsWorkerTest, NoSharedCipherIsCounted) {
  TestHandler handler;
  WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
  ASSERT_TRUE(w.ok()) << w.error();
  // Plain-RSA key exchange with CBC: never in our defaults.
  EXPECT_NE(s_client({"-tls1_2", "-cipher", "AES128-SHA"}, w.port(), "", dir_ + "/out.txt"), 0);
  EXPECT_TRUE(test::wait_until(
      [&] { return failed(w.counters(), HandshakeFailure::no_shared_cipher) == 1; }))
      << "protocol_error=" << failed(w.counters(), HandshakeFailure::protocol_error);
}

// ------------------------------------------------------------------ real clients

TEST_P(TlsWorkerTest, OpensslClientEchoesOneMegabyteBothVersions) {
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    SCOPED_TRACE(version);
    constexpr size_t kSize = 1 << 20;
    TestHandler handler;
    handler.close_after_bytes = kSize;
    WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
    ASSERT_TRUE(w.ok()) << w.error();
    std::string data(kSize, '\0');
    std::mt19937 rng(42);
    for (char& ch : data) ch = static_cast<char>(rng());
    test::write_file(dir_ + "/in.bin", data);
    EXPECT_EQ(s_client({version, "-quiet"}, w.port(), dir_ + "/in.bin", dir_ + "/out.bin"), 0)
        << test::read_file(dir_ + "/s_client.err");
    const std::string echoed = test::read_file(dir_ + "/out.bin");
    EXPECT_EQ(echoed.size(), kSize);
    EXPECT_TRUE(echoed == data) << "echoed bytes differ";
    ASSERT_TRUE(test::wait_until([&] { return handler.closes().size() == 1; }));
    const std::vector<OpenRecord> opens = handler.opens();
    ASSERT_EQ(opens.size(), 1u);
    EXPECT_EQ(opens[0].version, std::string(version) == "-tls1_2" ? "TLSv1.2" : "TLSv1.3");
    EXPECT_NE(opens[0].cipher.find("GCM"), std::string::npos) << opens[0].cipher;
    EXPECT_TRUE(opens[0].peer_is_loopback);
    EXPECT_EQ(handler.closes()[0], CloseReason::local);
    EXPECT_EQ(w.counters().bytes_in.get(), kSize);
    EXPECT_EQ(w.counters().bytes_out.get(), kSize);
    EXPECT_EQ(closed(w.counters(), CloseReason::local), 1u);
    EXPECT_TRUE(test::wait_until([&] { return w.counters().connections.get() == 0; }));
  }
}

TEST_P(TlsWorkerTest, RsaCertificateWorks) {
  TestHandler handler;
  WorkerThread w(test::rsa_server_config(), {}, fast_options(), handler);
  ASSERT_TRUE(w.ok()) << w.error();
  TestClient client(w.port(), 2);  // 1.2: the suite name shows the key type
  ASSERT_TRUE(client.handshake_ok()) << client.last_error();
  EXPECT_NE(client.cipher().find("RSA"), std::string::npos) << client.cipher();
  ASSERT_TRUE(client.write_all("ping"));
  EXPECT_EQ(client.read_exact(4), "ping");
}

TEST_P(TlsWorkerTest, CurlGetsAnHttpResponse) {
  TestHandler handler(TestHandler::Mode::http);
  WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
  ASSERT_TRUE(w.ok()) << w.error();
  const int status = test::run_command(
      {"curl", "-sS", "--max-time", "10", "--cacert", pki_->ca_pem,
       "https://127.0.0.1:" + std::to_string(w.port()) + "/"},
      "", dir_ + "/curl.out", dir_ + "/curl.err");
  EXPECT_EQ(status, 0) << test::read_file(dir_ + "/curl.err");
  EXPECT_EQ(test::read_file(dir_ + "/curl.out"), "hello\n");
  EXPECT_TRUE(test::wait_until([&] { return w.counters().connections.get() == 0; }));
}

TEST_P(TlsWorkerTest, ExporterMatchesOpensslAndWolfsslClients) {
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    SCOPED_TRACE(version);
    TestHandler handler;
    WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
    ASSERT_TRUE(w.ok()) << w.error();
    ASSERT_EQ(s_client({version, "-keymatexport", std::string(kPskLabel), "-keymatexportlen", "32"},
                       w.port(), "", dir_ + "/s_client.out"),
              0)
        << test::read_file(dir_ + "/s_client.err");
    const std::string out = test::read_file(dir_ + "/s_client.out");
    const size_t at = out.find("Keying material: ");
    ASSERT_NE(at, std::string::npos) << out;
    std::string client_hex = out.substr(at + 17, 64);
    std::transform(client_hex.begin(), client_hex.end(), client_hex.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
    ASSERT_TRUE(test::wait_until([&] { return handler.opens().size() == 1; }));
    EXPECT_EQ(handler.opens()[0].psk_hex, client_hex);
  }
  // And the in-process wolfSSL client, both versions.
  for (int version : {2, 3}) {
    TestHandler handler;
    WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
    ASSERT_TRUE(w.ok()) << w.error();
    TestClient client(w.port(), version);
    ASSERT_TRUE(client.handshake_ok());
    uint8_t psk[32];
    ASSERT_TRUE(client.export_keying_material(std::string(kPskLabel), psk, sizeof psk));
    ASSERT_TRUE(test::wait_until([&] { return handler.opens().size() == 1; }));
    EXPECT_EQ(handler.opens()[0].psk_hex, test::to_hex(psk, sizeof psk));
  }
}

TEST_P(TlsWorkerTest, ClientCertificateVerdictAndDer) {
  const std::string client_der = test::read_file(pki_->client_der);
  ASSERT_FALSE(client_der.empty());
  struct Case {
    const char* name;
    std::string client_ca;  // what the server trusts
    bool present;           // does the client send its certificate
    ClientCertStatus expected;
  };
  const Case cases[] = {
      {"trusted CA", pki_->ca_pem, true, ClientCertStatus::trusted},
      {"other CA", pki_->other_ca_pem, true, ClientCertStatus::untrusted},
      {"no CA configured", "", true, ClientCertStatus::untrusted},
      {"no certificate", pki_->ca_pem, false, ClientCertStatus::absent},
  };
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(std::string(version) + " " + c.name);
      TestHandler handler;
      config::TlsConfig tls = test::ec_server_config();
      tls.request_client_cert = true;
      TlsContextOptions context_options;
      context_options.client_ca_file = c.client_ca;
      WorkerThread w(tls, context_options, fast_options(), handler);
      ASSERT_TRUE(w.ok()) << w.error();
      std::vector<std::string> args{version};
      if (c.present) {
        args.insert(args.end(), {"-cert", pki_->client_pem, "-key", pki_->client_key});
      }
      ASSERT_EQ(s_client(args, w.port(), "", dir_ + "/s_client.out"), 0)
          << test::read_file(dir_ + "/s_client.err");
      ASSERT_TRUE(test::wait_until([&] { return handler.opens().size() == 1; }));
      const ClientCertInfo info = handler.opens()[0].client_cert;
      EXPECT_EQ(info.status, c.expected) << to_string(info.status) << " " << info.verify_error_text;
      if (c.present) {
        ASSERT_FALSE(info.chain_der.empty());
        EXPECT_TRUE(std::string(info.chain_der[0].begin(), info.chain_der[0].end()) == client_der);
      } else {
        EXPECT_TRUE(info.chain_der.empty());
      }
      if (c.expected == ClientCertStatus::untrusted) {
        EXPECT_NE(info.verify_error, 0);
        EXPECT_FALSE(info.verify_error_text.empty());
      }
    }
  }
  // Without request_client_cert the status says so even if a client would have one.
  TestHandler handler;
  WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(s_client({"-cert", pki_->client_pem, "-key", pki_->client_key}, w.port(), "",
                     dir_ + "/s_client.out"),
            0);
  ASSERT_TRUE(test::wait_until([&] { return handler.opens().size() == 1; }));
  EXPECT_EQ(handler.opens()[0].client_cert.status, ClientCertStatus::not_requested);
}

// ------------------------------------------------------------------ flow control, timers

TEST_P(TlsWorkerTest, BackpressureBoundsTheOutputOfAClientThatDoesNotRead) {
  TestHandler handler;
  TlsWorkerOptions options = fast_options();
  options.max_pending_output = 64 * 1024;
  WorkerThread w(test::ec_server_config(), {}, options, handler);
  ASSERT_TRUE(w.ok()) << w.error();
  TestClient client(w.port(), 0, /*rcvbuf=*/32 * 1024, /*sndbuf=*/32 * 1024);
  ASSERT_TRUE(client.handshake_ok());
  client.set_send_timeout(200ms);
  std::vector<uint8_t> chunk(16 * 1024);
  std::mt19937 rng(1);
  for (uint8_t& b : chunk) b = static_cast<uint8_t>(rng());
  // Write without reading until the client cannot write any more: the server stopped
  // reading because its output to us is above the bound.
  size_t written = 0;
  bool blocked = false;
  for (int i = 0; i < 4096 && !blocked; ++i) {
    const int n = client.write_some(chunk.data(), static_cast<int>(chunk.size()));
    ASSERT_GE(n, 0) << client.last_error();
    if (n == 0) blocked = true;
    written += static_cast<size_t>(n);
  }
  ASSERT_TRUE(blocked) << "the client could write " << written << " bytes without reading";
  EXPECT_GE(w.counters().backpressure_events.get(), 1u);
  // The bound holds: at most one echoed read (one TLS record's plaintext) above it.
  EXPECT_LE(w.counters().max_pending_output.get(), options.max_pending_output + 17 * 1024);
  // Now read everything; the server resumes; nothing was lost.
  client.set_send_timeout(0ms);
  std::string echoed;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (echoed.size() < written && std::chrono::steady_clock::now() < until) {
    echoed += client.read_exact(written - echoed.size(), 200ms);
  }
  EXPECT_EQ(echoed.size(), written);
  EXPECT_EQ(handler.refused(), 0u);
  EXPECT_GE(handler.writable_calls_.load(), 1u);
}

TEST_P(TlsWorkerTest, RequestDeadlineAndIdleTimeoutClose) {
  {
    TestHandler handler;
    handler.keep_request_deadline = true;
    TlsWorkerOptions options = fast_options();
    options.request_timeout = 300ms;
    WorkerThread w(test::ec_server_config(), {}, options, handler);
    ASSERT_TRUE(w.ok());
    TestClient client(w.port());
    ASSERT_TRUE(client.handshake_ok());
    EXPECT_TRUE(client.wait_closed(5s));
    ASSERT_TRUE(test::wait_until([&] { return handler.closes().size() == 1; }));
    EXPECT_EQ(handler.closes()[0], CloseReason::deadline);
  }
  {
    TestHandler handler;
    handler.idle_timeout = 200ms;
    WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
    ASSERT_TRUE(w.ok());
    TestClient client(w.port());
    ASSERT_TRUE(client.handshake_ok());
    for (int i = 0; i < 5; ++i) {  // activity keeps it open past the idle timeout
      std::this_thread::sleep_for(100ms);
      ASSERT_TRUE(client.write_all("x"));
      EXPECT_EQ(client.read_exact(1), "x");
    }
    EXPECT_TRUE(client.wait_closed(5s));
    ASSERT_TRUE(test::wait_until([&] { return handler.closes().size() == 1; }));
    EXPECT_EQ(handler.closes()[0], CloseReason::idle_timeout);
    EXPECT_GT(handler.ticks_.load(), 10u);
  }
}

// Idle timeouts are swept a slice per tick (each connection about once a second), and open
// connections leave the per-tick watch list once their deadline is cleared: with many
// connections every one must still time out, each exactly once.
TEST_P(TlsWorkerTest, IdleSweepClosesEveryConnection) {
  constexpr size_t kClients = 120;  // > ticks per second: several per tick, swap-removals
  TestHandler handler;
  handler.idle_timeout = 300ms;
  WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
  ASSERT_TRUE(w.ok());
  std::vector<std::unique_ptr<TestClient>> clients;
  for (size_t i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<TestClient>(w.port()));
    ASSERT_TRUE(clients.back()->handshake_ok()) << i;
  }
  for (auto& c : clients) EXPECT_TRUE(c->wait_closed(10s));
  ASSERT_TRUE(test::wait_until([&] { return handler.closes().size() == kClients; }, 10s));
  for (CloseReason r : handler.closes()) EXPECT_EQ(r, CloseReason::idle_timeout);
}

TEST_P(TlsWorkerTest, PeerCloseNotifyIsReported) {
  TestHandler handler;
  WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
  ASSERT_TRUE(w.ok());
  {
    TestClient client(w.port());
    ASSERT_TRUE(client.handshake_ok());
    ASSERT_TRUE(test::wait_until([&] { return handler.opens().size() == 1; }));
  }  // the client frees its session and closes the socket (no close_notify from wolfSSL_free)
  ASSERT_TRUE(test::wait_until([&] { return handler.closes().size() == 1; }));
  EXPECT_EQ(handler.closes()[0], CloseReason::peer_closed);
  EXPECT_TRUE(test::wait_until([&] { return w.counters().connections.get() == 0; }));
  EXPECT_EQ(w.counters().established.get(), 0u);
}

// ------------------------------------------------------------------ threads

TEST_P(TlsWorkerTest, WakeFromAnotherThreadDelivers) {
  TestHandler handler;
  WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
  ASSERT_TRUE(w.ok());
  constexpr uint64_t kPosts = 20000;
  std::thread remote([&] {
    for (uint64_t i = 1; i <= kPosts; ++i) {
      handler.posted.store(i, std::memory_order_relaxed);
      w.worker().wake();
      if (i % 1000 == 0) std::this_thread::sleep_for(1ms);  // let the worker fall asleep
    }
  });
  remote.join();
  // The last wake() must be followed by an on_wake that sees the last post.
  EXPECT_TRUE(test::wait_until([&] { return handler.seen_posted_.load() == kPosts; }, 2s));
  EXPECT_GE(w.counters().wakeups.get(), 1u);
  EXPECT_LE(w.counters().wakeups.get(), kPosts);
  // A single wake while the worker sleeps is delivered well before the next tick would
  // matter (the tick here is 10 ms; use a long tick to tell them apart).
}

TEST_P(TlsWorkerTest, WakeInterruptsASleepingWorker) {
  TestHandler handler;
  TlsWorkerOptions options = fast_options();
  options.tick = 5s;  // without the eventfd, on_wake would wait for this
  WorkerThread w(test::ec_server_config(), {}, options, handler);
  ASSERT_TRUE(w.ok());
  std::this_thread::sleep_for(50ms);  // let it block in epoll_wait
  handler.posted.store(7);
  const auto start = std::chrono::steady_clock::now();
  w.worker().wake();
  EXPECT_TRUE(test::wait_until([&] { return handler.seen_posted_.load() == 7; }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  w.stop();  // also interrupts the 5 s sleep
}

TEST_P(TlsWorkerTest, AwaitingHandlerIsPolledBetweenTicks) {
  // A handler awaiting answers that cannot wake the worker (the control plane's ctl ring)
  // sees them after at most await_poll, not at the next tick.
  TestHandler handler;
  TlsWorkerOptions options = fast_options();
  options.tick = 5s;
  handler.awaiting.store(true);
  WorkerThread w(test::ec_server_config(), {}, options, handler);
  ASSERT_TRUE(w.ok());
  std::this_thread::sleep_for(50ms);  // let it poll a few times with nothing to see
  const auto start = std::chrono::steady_clock::now();
  handler.answered.store(9);          // no wake()
  EXPECT_TRUE(test::wait_until([&] { return handler.seen_answer_.load() == 9; }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_FALSE(handler.awaiting.load());
  w.stop();
}

TEST_P(TlsWorkerTest, StopClosesEverythingAndReturns) {
  TestHandler handler;
  WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
  ASSERT_TRUE(w.ok());
  TestClient open_client(w.port());
  ASSERT_TRUE(open_client.handshake_ok());
  const int handshaking = test::connect_tcp(w.port());  // never speaks
  ASSERT_TRUE(test::wait_until([&] { return w.counters().connections.get() == 2; }));
  const auto start = std::chrono::steady_clock::now();
  w.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  ASSERT_EQ(handler.closes().size(), 1u);
  EXPECT_EQ(handler.closes()[0], CloseReason::worker_stopping);
  EXPECT_EQ(w.counters().connections.get(), 0u);
  EXPECT_TRUE(open_client.wait_closed(2s));
  EXPECT_TRUE(test::wait_peer_closed(handshaking, 2s));
  ::close(handshaking);
  // The listener is closed too: nobody accepts on the port any more.
  EXPECT_LT(test::connect_tcp(w.port()), 0);
}

TEST_P(TlsWorkerTest, ContextSwapAffectsOnlyNewHandshakes) {
  TestHandler handler;
  WorkerThread w(test::ec_server_config(), {}, fast_options(), handler);
  ASSERT_TRUE(w.ok());
  TestClient before(w.port(), 2);  // 1.2: the suite name shows the key type
  ASSERT_TRUE(before.handshake_ok());
  EXPECT_NE(before.cipher().find("ECDSA"), std::string::npos) << before.cipher();
  TlsContextResult rsa = tls_context_create(test::rsa_server_config(), {});
  ASSERT_TRUE(rsa.ok()) << rsa.error;
  w.contexts().replace(rsa.context);
  rsa.context.reset();  // the holder and the new connections keep it alive
  TestClient after(w.port(), 2);
  ASSERT_TRUE(after.handshake_ok());
  EXPECT_NE(after.cipher().find("RSA"), std::string::npos) << after.cipher();
  EXPECT_EQ(after.cipher().find("ECDSA"), std::string::npos) << after.cipher();
  // The established connection still works on the old context.
  ASSERT_TRUE(before.write_all("still here"));
  EXPECT_EQ(before.read_exact(10), "still here");
}

TEST_P(TlsWorkerTest, SeveralWorkersShareThePortWithReusePort) {
  TestHandler handler_a, handler_b;
  TlsContextResult context = tls_context_create(test::ec_server_config(), {});
  ASSERT_TRUE(context.ok());
  TlsContextHolder holder(context.context);
  ListenResult first = tls_listen(*config::parse_ip("127.0.0.1"), 0);
  ASSERT_TRUE(first.ok()) << first.error;
  ListenResult second = tls_listen(*config::parse_ip("127.0.0.1"), first.port);
  ASSERT_TRUE(second.ok()) << second.error;
  TlsWorkerOptions options_a = fast_options(), options_b = fast_options();
  options_b.worker_index = 1;
  TlsWorkerResult a = TlsWorker::create(options_a, holder, handler_a, first.fd);
  TlsWorkerResult b = TlsWorker::create(options_b, holder, handler_b, second.fd);
  ASSERT_TRUE(a.ok() && b.ok());
  std::thread ta([&] { a.worker->run(); });
  std::thread tb([&] { b.worker->run(); });
  {
    std::vector<std::unique_ptr<TestClient>> clients;
    for (int i = 0; i < 16; ++i) {
      clients.push_back(std::make_unique<TestClient>(first.port));
      EXPECT_TRUE(clients.back()->handshake_ok());
    }
    EXPECT_TRUE(test::wait_until(
        [&] { return handler_a.opens().size() + handler_b.opens().size() == 16; }));
    // Ids are unique across workers (the worker index is in the high bits).
    for (const OpenRecord& r : handler_b.opens()) EXPECT_EQ(r.id >> 56, 1u);
    for (const OpenRecord& r : handler_a.opens()) EXPECT_EQ(r.id >> 56, 0u);
  }
  a.worker->stop();
  b.worker->stop();
  ta.join();
  tb.join();
}


INSTANTIATE_TEST_SUITE_P(SocketModels, TlsWorkerTest, ::testing::Values(TlsIo::epoll, TlsIo::io_uring),
                         [](const ::testing::TestParamInfo<TlsIo>& info) { return std::string(to_string(info.param)); });

// ------------------------------------------------------------------ io_uring file tables

TEST(TlsWorkerIoUring, ConnectionsHoldNoDescriptorOfTheProcess) {
  // The point of TlsIo::io_uring: a connection is a slot of the ring's table, not a
  // descriptor, so RLIMIT_NOFILE does not bound the tunnels. The clients here are in this
  // process, one descriptor each; the worker's side must add none.
  ASSERT_NE(test::test_pki(), nullptr);
  (void)tls_context_create(test::ec_server_config(), {});
  for (TlsIo io : {TlsIo::epoll, TlsIo::io_uring}) {
    TestHandler handler;
    TlsWorkerOptions options;
    options.io = io;
    WorkerThread w(test::ec_server_config(), {}, options, handler);
    ASSERT_TRUE(w.ok()) << w.error();
    const int before = test::count_open_fds();
    constexpr int kClients = 24;
    {
      std::vector<std::unique_ptr<TestClient>> clients;
      for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<TestClient>(w.port()));
        ASSERT_TRUE(clients.back()->handshake_ok()) << clients.back()->last_error();
      }
      ASSERT_TRUE(test::wait_until([&] { return handler.opens().size() == kClients; }));
      const int added = test::count_open_fds() - before;
      EXPECT_EQ(added, io == TlsIo::io_uring ? kClients : 2 * kClients) << to_string(io);
      // Still working connections: an echo through one of them.
      ASSERT_TRUE(clients.front()->write_all("slot"));
      EXPECT_EQ(clients.front()->read_exact(4), "slot");
    }
    // Clients gone: the worker closes its side and frees the slots for new connections.
    ASSERT_TRUE(test::wait_until([&] { return w.counters().connections.get() == 0; })) << to_string(io);
    TestClient again(w.port());
    EXPECT_TRUE(again.handshake_ok()) << again.last_error();
  }
}

TEST(TlsWorkerIoUring, ATableLargerThanTheDescriptorLimitIsRefusedWithTheReason) {
  // The kernel bounds each ring's table by RLIMIT_NOFILE (liburing first raises the soft
  // limit to the hard one), so W workers hold W x the limit. A hard limit cannot be raised
  // back without CAP_SYS_RESOURCE: lowered in a child process.
  TlsContextResult context = tls_context_create(test::ec_server_config(), {});
  ASSERT_TRUE(context.ok());
  TlsContextHolder holder(context.context);
  const auto child = [&] {
    TestHandler handler;
    const rlimit low{512, 512};
    if (setrlimit(RLIMIT_NOFILE, &low) != 0) _exit(10);
    TlsWorkerOptions options;
    options.io = TlsIo::io_uring;
    options.max_connections = 2000;
    TlsWorkerResult too_big = TlsWorker::create(options, holder, handler, -1);
    if (too_big.ok()) _exit(11);
    if (too_big.error.find("2000 slots") == std::string::npos ||
        too_big.error.find("RLIMIT_NOFILE") == std::string::npos) {
      fprintf(stderr, "error: %s\n", too_big.error.c_str());
      _exit(12);
    }
    options.max_connections = 500;
    TlsWorkerResult a = TlsWorker::create(options, holder, handler, -1);
    options.worker_index = 1;
    TlsWorkerResult b = TlsWorker::create(options, holder, handler, -1);
    _exit(a.ok() && b.ok() ? 0 : 13);  // 1000 slots together under a limit of 512
  };
  EXPECT_EXIT(child(), ::testing::ExitedWithCode(0), "");
}

TEST(TlsIoChoice, AutoUsesDescriptorsWhileTheLimitHoldsEveryConnection) {
  config::Config cfg;
  cfg.limits.max_sessions = 10000;  // 10000 + 625 + 64 connections
  const uint64_t reserved = 1024;
  EXPECT_EQ(tls_io_for(cfg, 1048576, reserved), TlsIo::epoll);
  EXPECT_EQ(tls_io_for(cfg, 10689 + reserved, reserved), TlsIo::epoll);
  EXPECT_EQ(tls_io_for(cfg, 10688 + reserved, reserved), TlsIo::io_uring);
  EXPECT_EQ(tls_io_for(cfg, 20000, reserved), TlsIo::epoll);
  cfg.limits.max_sessions = 100000;
  EXPECT_EQ(tls_io_for(cfg, 20000, reserved), TlsIo::io_uring);
  cfg.dataplane.tls_io = "epoll";
  EXPECT_EQ(tls_io_for(cfg, 20000, reserved), TlsIo::epoll);
  cfg.dataplane.tls_io = "io_uring";
  cfg.limits.max_sessions = 10;
  EXPECT_EQ(tls_io_for(cfg, 1048576, reserved), TlsIo::io_uring);
  EXPECT_EQ(TlsWorkerOptions::from_config(cfg, 0, 1).io, TlsIo::io_uring);
}

}  // namespace
}  // namespace tg::dp::tls
