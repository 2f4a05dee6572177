// tunnelgate-loadgen: an OpenConnect-protocol load generator (bench/loadgen/README.md).
//
// One thread, one epoll set, kernel sockets, non-blocking wolfSSL. Every session is a
// compact struct in one vector; the few login-time buffers live in a Login object that is
// freed once the tunnel is up. Phases: setup (log in N sessions under --concurrency and
// --rate, CONNECT, DTLS) → traffic (--duration, --pps, --size/--imix) → drain → hold
// (--hold, or until SIGUSR1) → logout (CSTP BYE 0xb0) → report (text or --json).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

// options.h first: the feature macros wolfSSL was built with.
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/loadgen/client_auth.h"
#include "bench/loadgen/client_connect.h"
#include "bench/loadgen/client_http.h"
#include "bench/loadgen/dtls_client.h"
#include "bench/loadgen/probe.h"
#include "crypto/dtls_record_keys.h"
#include "crypto/record_aead.h"
#include "dataplane/dtls/dtls_record.h"
#include "dataplane/tunnel/cstp_connect.h"
#include "dataplane/tunnel/cstp_frame.h"

namespace tg::loadgen {
namespace {

volatile sig_atomic_t g_stop = 0;     // SIGINT/SIGTERM: end the current phase, log out, report
volatile sig_atomic_t g_release = 0;  // SIGUSR1: end --hold

/// Resident memory of this process in KiB (/proc/self/status VmRSS), 0 if unknown.
uint64_t rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  return 0;
}

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

constexpr uint64_t kNsPerMs = 1000000ull;
constexpr uint64_t kNsPerSec = 1000000000ull;
constexpr size_t kPskBytes = kDtlsPskBytes;
constexpr int kMaxAuthRounds = 8;
constexpr size_t kIoBytes = 16384 + 64;
/// Largest packet the generator builds (a DTLS record carries at most one MTU).
constexpr size_t kMaxPacketBytes = 9000;
/// Room in front of a packet: a DTLS record header (13) + GCM explicit nonce (8) + the type
/// byte, or a CSTP header (8); and behind it: the AEAD tag.
constexpr size_t kHeadroom = 32;
constexpr size_t kTailroom = 16;
constexpr size_t kDtlsRecordHeaderBytes = 13;
/// Our first record sequence number in epoch 1: above the client Finished (sequence 0) and
/// any retransmission of it that wolfSSL sent in the handshake.
constexpr uint64_t kFirstDataSequence = 64;
/// Datagrams per sendmmsg/recvmmsg call.
constexpr unsigned kBurst = 32;

struct Options {
  std::string server = "192.0.2.1";
  uint16_t port = 443;
  std::string source;             // --source: local IPv4 address of every socket; empty = the kernel's choice
  uint32_t sessions = 1;
  uint32_t concurrency = 64;
  double rate = 0;                // logins started per second (0 = as fast as concurrency allows)
  std::string user;
  std::string password;
  std::string token;              // a JWT sent as the password (docs/tokens.md)
  std::string authgroup;
  std::string cert, key;          // client certificate login
  bool dtls = true;
  double dtls_timeout_s = 5;
  uint32_t dtls_attempts = 2;     // DTLS handshakes tried (a fresh one after a timeout)
  double login_timeout_s = 30;
  uint32_t retries = 0;           // a login answered 503 (try again) starts over, this often
  std::string target;             // backend echo IP:PORT; empty = no traffic
  uint32_t target_ip = 0;
  uint16_t target_port = 0;
  double pps = 0;                 // total offered packets/s (0 = as fast as possible)
  uint32_t size = 512;            // inner IPv4 packet bytes
  bool imix = false;
  double duration_s = 5;
  double hold_s = 0;
  double logout_rate = 0;         // BYEs per second at the end (0 = all at once)
  std::string ready_file;
  bool json = false;
  bool verbose = false;
  uint32_t threads = 1;
  // Set by main for the engines (not options):
  uint32_t run_id = 0;                       // probe run number, shared by all threads
  std::atomic<uint32_t>* holding = nullptr;  // engines in their hold phase (ready file)
};

enum class State : uint8_t { kWaiting, kTcpConnecting, kTlsHandshake, kHttp, kTunnel, kFailed, kClosed };
enum class Channel : uint8_t { kNone, kCstp, kDtls };

/// Login-time state, freed once the tunnel is up.
struct Login {
  std::string out;          // request being written (wolfSSL needs the same buffer on retry)
  std::string in;           // response bytes so far
  CookieJar jar;
  std::string group;        // the group_list value chosen (--authgroup)
  bool group_init_sent = false;
  bool password_sent = false;
  bool connect_sent = false;
  std::string connect_request;  // kept to retry a CONNECT answered 503 with the same cookie
  int rounds = 0;
};

/// One session. Hot fields first; the struct stays small for 100k sessions (plus wolfSSL's).
struct Session {
  WOLFSSL* tls = nullptr;
  WOLFSSL* dtls = nullptr;
  int tcp_fd = -1;
  int udp_fd = -1;
  State state = State::kWaiting;
  Channel channel = Channel::kNone;
  bool dtls_handshaking = false;
  bool want_tcp_write = false;
  bool tx_blocked = false;       // a packet is pending in wolfSSL (WANT_WRITE): retry it
  uint8_t attempts = 0;          // logins started again after a 503 (--retries)
  uint8_t dtls_attempts = 0;     // DTLS handshakes started
  uint16_t mtu = 0;
  uint16_t blocked_len = 0;
  uint32_t index = 0;
  uint32_t address = 0;          // tunnel address (host order)
  uint64_t tx_seq = 0;
  uint64_t blocked_ts = 0;
  uint64_t t_start = 0, t_tls = 0, t_cookie = 0, t_connect = 0, t_ready = 0;
  uint64_t dtls_start = 0, dtls_next_timer = 0;
  uint32_t dpd_seconds = 0;
  uint64_t next_dpd = 0;         // CLOCK_MONOTONIC ns of the next DPD request on CSTP
  std::unique_ptr<Login> login;
  std::unique_ptr<tunnel::CstpDecoder> cstp;
  /// The client_write key of the DTLS session: the generator seals its records itself (as
  /// the gateway's fast path does) instead of wolfSSL_write, which this wolfSSL build caps
  /// at a 1400-byte datagram (no WOLFSSL_DTLS_MTU) and which copies once more.
  std::unique_ptr<crypto::RecordAead> dtls_tx;
  std::unique_ptr<crypto::RecordAead> dtls_rx;  ///< server_write: records read with recvmmsg
  uint64_t dtls_tx_seq = 0;
  uint16_t dtls_epoch = 0;
  std::array<uint8_t, kPskBytes> psk{};
  TunnelConfig tunnel;           // from the CONNECT answer (App-ID, DTLS port)
};

struct Totals {
  uint64_t tx_packets = 0, tx_bytes = 0, tx_blocked = 0;
  uint64_t rx_packets = 0, rx_bytes = 0, rx_dtls = 0, rx_cstp = 0, rx_foreign = 0;
  uint64_t echo_count_max = 0;
  uint64_t dpd_answered = 0, server_closed = 0, rx_dtls_dropped = 0;
  LatencyHistogram latency;
};

class Engine {
 public:
  explicit Engine(Options options) : opt_(std::move(options)) {}
  ~Engine();
  bool init(std::string* error);
  int run();
  /// Prints one report over all engines (threads) of the run.
  static void report_all(const Options& opt, const std::vector<std::unique_ptr<Engine>>& engines);

 private:
  // setup
  void start_session(Session& s, uint64_t now);
  /// Opens the session's TCP connection (non-blocking connect). On an error it fails the
  /// session itself, the reason naming the step, and returns false.
  bool open_tcp(Session& s);
  void fail(Session& s, const std::string& reason);
  void drive(Session& s, uint32_t events);
  void drive_http(Session& s);
  bool flush_out(Session& s);
  void on_response(Session& s, HttpResponse& response, size_t consumed);
  void send_request(Session& s, std::string request, bool new_connection);
  void on_tunnel_up(Session& s, const TunnelConfig& config, std::string_view leftover);
  void start_dtls(Session& s, uint64_t now);
  void drive_dtls(Session& s, uint64_t now);
  void dtls_failed(Session& s, const std::string& why);
  void ready(Session& s, Channel channel, uint64_t now);
  void timers(uint64_t now);
  // tunnel
  void read_cstp(Session& s);
  void read_dtls(Session& s);
  void read_dtls_batch(Session& s);
  void on_dtls_plaintext(Session& s, std::span<const uint8_t> plaintext);
  /// Builds and sends up to `count` probe packets of one DTLS session with one sendmmsg.
  /// @return packets the socket took.
  unsigned send_dtls_burst(Session& s, unsigned count, uint64_t now);
  void on_packet(Session& s, std::span<const uint8_t> packet, Channel channel);
  bool send_packet(Session& s, uint8_t* packet, size_t packet_len, Channel ch);
  /// Seals [type][payload] (payload at `payload`, kHeadroom bytes free in front, kTailroom
  /// behind) into one DTLS record and sends it. false when the socket is full.
  bool dtls_send(Session& s, uint8_t type, uint8_t* payload, size_t payload_len);
  /// A control frame on the session's channel (DTLS when it carries the data), or on CSTP
  /// when `cstp` is set.
  void send_control(Session& s, uint8_t type, std::span<const uint8_t> payload, bool cstp = false);
  void traffic_tick(uint64_t now);
  size_t next_size();
  void logout(Session& s);
  void logout_all();
  void close_session(Session& s);
  void update_epoll(Session& s);

  Options opt_;
  WOLFSSL_CTX* tls_ctx_ = nullptr;
  WOLFSSL_CTX* dtls_ctx_ = nullptr;
  int epoll_ = -1;
  sockaddr_in server_{};
  sockaddr_in source_{};                // --source, port 0; sin_family 0 when not given
  std::string host_header_;
  std::vector<Session> sessions_;
  std::map<std::string, uint64_t> failures_;
  std::deque<std::pair<uint64_t, uint32_t>> retry_queue_;  // (not before, session)
  uint64_t retried_ = 0;
  std::vector<uint32_t> active_;        // sessions with a tunnel, for traffic
  uint32_t next_to_start_ = 0;
  uint32_t in_progress_ = 0;            // started, not yet ready or failed
  uint32_t done_ = 0;                   // ready or failed
  uint64_t setup_begin_ = 0, setup_end_ = 0;
  uint64_t rss_before_ = 0, rss_after_setup_ = 0;  // KiB: what the sessions cost the generator
  uint64_t traffic_begin_ = 0, traffic_end_ = 0;
  uint64_t sent_in_traffic_ = 0;
  size_t rr_ = 0;
  uint32_t imix_step_ = 0;
  uint64_t last_sweep_ = 0;
  uint64_t last_dpd_ = 0;
  uint32_t logged_out_ = 0;
  Totals totals_;
  std::vector<uint8_t> rx_scratch_ = std::vector<uint8_t>(kBurst * kIoBytes);
  std::vector<uint8_t> tx_scratch_ = std::vector<uint8_t>(kBurst * (kHeadroom + kMaxPacketBytes + kTailroom));
  std::mt19937_64 rng_{std::random_device{}()};
};

// ----------------------------------------------------------------------------- wolfSSL

// ----------------------------------------------------------------------------- setup

Engine::~Engine() {
  for (Session& s : sessions_) close_session(s);
  if (tls_ctx_ != nullptr) wolfSSL_CTX_free(tls_ctx_);
  if (dtls_ctx_ != nullptr) wolfSSL_CTX_free(dtls_ctx_);
  if (epoll_ >= 0) close(epoll_);
}

bool Engine::init(std::string* error) {
  server_.sin_family = AF_INET;
  server_.sin_port = htons(opt_.port);
  if (inet_pton(AF_INET, opt_.server.c_str(), &server_.sin_addr) != 1) {
    *error = "--server must be an IPv4 address: " + opt_.server;
    return false;
  }
  if (!opt_.source.empty() && inet_pton(AF_INET, opt_.source.c_str(), &source_.sin_addr) == 1)
    source_.sin_family = AF_INET;  // parse_options refused anything else
  host_header_ = opt_.server + (opt_.port == 443 ? "" : ":" + std::to_string(opt_.port));
  tls_ctx_ = wolfSSL_CTX_new(wolfSSLv23_client_method());
  if (tls_ctx_ == nullptr) {
    *error = "wolfSSL_CTX_new failed";
    return false;
  }
  dtls_ctx_ = dtls_client_context_new(error);
  if (dtls_ctx_ == nullptr) return false;
  // A load generator measures the gateway; it does not judge its certificate.
  wolfSSL_CTX_set_verify(tls_ctx_, WOLFSSL_VERIFY_NONE, nullptr);
  if (!opt_.cert.empty()) {
    if (wolfSSL_CTX_use_certificate_chain_file(tls_ctx_, opt_.cert.c_str()) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_use_PrivateKey_file(tls_ctx_, opt_.key.c_str(), WOLFSSL_FILETYPE_PEM) !=
            WOLFSSL_SUCCESS) {
      *error = "cannot load --cert " + opt_.cert + " / --key " + opt_.key;
      return false;
    }
  }
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) {
    *error = std::string("epoll_create1: ") + std::strerror(errno);
    return false;
  }
  sessions_.resize(opt_.sessions);
  for (uint32_t i = 0; i < opt_.sessions; ++i) sessions_[i].index = i;
  return true;
}

void Engine::update_epoll(Session& s) {
  if (s.tcp_fd < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (s.want_tcp_write ? EPOLLOUT : 0u);
  ev.data.u64 = static_cast<uint64_t>(s.index) << 1;
  epoll_ctl(epoll_, EPOLL_CTL_MOD, s.tcp_fd, &ev);
}

bool Engine::open_tcp(Session& s) {
  const auto failed = [&](const std::string& step) {
    fail(s, step + ": " + std::strerror(errno));
    return false;
  };
  s.tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.tcp_fd < 0) return failed("connect");
  const int one = 1;
  setsockopt(s.tcp_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (source_.sin_family == AF_INET) {
    // Port 0 with IP_BIND_ADDRESS_NO_PORT: the kernel picks the port at connect, knowing the
    // 4-tuple, as for an unbound socket; a plain bind would reserve a port exclusively before
    // the destination is known.
    setsockopt(s.tcp_fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(s.tcp_fd, reinterpret_cast<const sockaddr*>(&source_), sizeof source_) != 0)
      return failed("bind " + opt_.source);
  }
  if (connect(s.tcp_fd, reinterpret_cast<const sockaddr*>(&server_), sizeof server_) != 0 &&
      errno != EINPROGRESS)
    return failed("connect");
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.u64 = static_cast<uint64_t>(s.index) << 1;
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, s.tcp_fd, &ev) != 0) return failed("connect");
  s.want_tcp_write = true;
  s.tls = wolfSSL_new(tls_ctx_);
  if (s.tls == nullptr || wolfSSL_set_fd(s.tls, s.tcp_fd) != WOLFSSL_SUCCESS) return failed("connect");
  s.state = State::kTcpConnecting;
  return true;
}

void Engine::start_session(Session& s, uint64_t now) {
  s.t_start = now;
  s.t_tls = s.t_cookie = s.t_connect = 0;
  s.login = std::make_unique<Login>();
  ++in_progress_;
  ClientIdentity identity;
  identity.group_access = "https://" + host_header_ + "/";
  s.login->out = build_post({host_header_, ""}, "/", build_init(identity, ""));
  open_tcp(s);
}

void Engine::fail(Session& s, const std::string& reason) {
  if (s.state == State::kFailed) return;
  if (opt_.verbose) std::fprintf(stderr, "level=warn msg=\"session failed\" session=%u reason=\"%s\"\n", s.index, reason.c_str());
  // The failure table groups by reason; server text in parentheses stays out of the key.
  const std::string key = reason.substr(0, reason.find(" ("));
  if (s.t_ready == 0 && s.attempts < opt_.retries && key.ends_with("HTTP 503")) {
    // The gateway said "try again" (e.g. too many logins in flight): start over later.
    ++failures_["retried: " + key];
    ++retried_;
    close_session(s);
    s.state = State::kWaiting;
    ++s.attempts;
    --in_progress_;
    retry_queue_.emplace_back(now_ns() + 50 * kNsPerMs * s.attempts, s.index);
    return;
  }
  ++failures_[key];
  const bool counted = s.t_ready == 0;  // a ready session was counted as done already
  close_session(s);
  s.state = State::kFailed;
  if (counted) {
    --in_progress_;
    ++done_;
  }
}

void Engine::close_session(Session& s) {
  if (s.dtls != nullptr) wolfSSL_free(s.dtls);
  if (s.tls != nullptr) wolfSSL_free(s.tls);
  s.dtls = s.tls = nullptr;
  if (s.udp_fd >= 0) close(s.udp_fd);  // closing removes it from the epoll set
  if (s.tcp_fd >= 0) close(s.tcp_fd);
  s.udp_fd = s.tcp_fd = -1;
  s.login.reset();
  s.cstp.reset();
  std::fill(s.psk.begin(), s.psk.end(), 0);
  s.dtls_handshaking = false;
  s.state = State::kClosed;
}

void Engine::drive(Session& s, uint32_t events) {
  if (s.state == State::kTcpConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(s.tcp_fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(s, std::string("connect: ") + std::strerror(err));
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    s.state = State::kTlsHandshake;
  }
  if (s.state == State::kTlsHandshake) {
    const int ret = wolfSSL_connect(s.tls);
    if (ret != WOLFSSL_SUCCESS) {
      const int err = wolfSSL_get_error(s.tls, ret);
      if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
        s.want_tcp_write = err == WOLFSSL_ERROR_WANT_WRITE;
        return update_epoll(s);
      }
      char text[WOLFSSL_MAX_ERROR_SZ];
      return fail(s, std::string("tls handshake: ") + wolfSSL_ERR_error_string(static_cast<unsigned long>(err), text));
    }
    if (s.t_tls == 0) s.t_tls = now_ns();
    s.state = State::kHttp;
    s.want_tcp_write = false;
    update_epoll(s);
  }
  if (s.state == State::kHttp) return drive_http(s);
  if (s.state == State::kTunnel) {
    if (s.want_tcp_write && (events & EPOLLOUT)) {
      s.want_tcp_write = false;
      update_epoll(s);
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) read_cstp(s);
  }
}

bool Engine::flush_out(Session& s) {
  Login& login = *s.login;
  if (login.out.empty()) return true;
  const int ret = wolfSSL_write(s.tls, login.out.data(), static_cast<int>(login.out.size()));
  if (ret > 0) {
    login.out.clear();
    if (s.want_tcp_write) {
      s.want_tcp_write = false;
      update_epoll(s);
    }
    return true;
  }
  const int err = wolfSSL_get_error(s.tls, ret);
  if (err == WOLFSSL_ERROR_WANT_WRITE || err == WOLFSSL_ERROR_WANT_READ) {
    s.want_tcp_write = err == WOLFSSL_ERROR_WANT_WRITE;
    update_epoll(s);
    return false;
  }
  fail(s, "tls write");
  return false;
}

void Engine::drive_http(Session& s) {
  if (!flush_out(s) || s.state != State::kHttp) return;
  char buf[kIoBytes];
  for (;;) {
    const int ret = wolfSSL_read(s.tls, buf, sizeof buf);
    if (ret <= 0) {
      const int err = wolfSSL_get_error(s.tls, ret);
      if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) return;
      return fail(s, s.login->connect_sent ? "connect: connection closed" : "http: connection closed");
    }
    s.login->in.append(buf, static_cast<size_t>(ret));
    HttpParseResult parsed = parse_http_response(s.login->in, s.login->connect_sent);
    if (parsed.status == HttpParseStatus::kError) return fail(s, "http: " + parsed.error);
    if (parsed.status == HttpParseStatus::kComplete) {
      on_response(s, parsed.response, parsed.consumed);
      if (s.state != State::kHttp || !s.login || !s.login->out.empty()) return;
    }
  }
}

void Engine::send_request(Session& s, std::string request, bool new_connection) {
  Login& login = *s.login;
  login.out = std::move(request);
  login.in.clear();
  if (new_connection) {
    // openconnect reconnects when the server closes (Connection: close, HTTP/1.0) and after
    // the first response of a certificate login (PROTOCOL.md §3.8).
    wolfSSL_free(s.tls);
    s.tls = nullptr;
    close(s.tcp_fd);
    s.tcp_fd = -1;
    open_tcp(s);
    return;
  }
  flush_out(s);
}

void Engine::on_response(Session& s, HttpResponse& response, size_t consumed) {
  Login& login = *s.login;
  const uint64_t now = now_ns();
  if (login.connect_sent) {
    if (response.status == 503 && s.attempts < opt_.retries) {
      // As openconnect does (§7.2): the same cookie again, on a new connection, after a pause.
      ++failures_["retried: connect: HTTP 503"];
      ++retried_;
      ++s.attempts;
      login.out = login.connect_request;
      login.in.clear();
      wolfSSL_free(s.tls);
      s.tls = nullptr;
      close(s.tcp_fd);
      s.tcp_fd = -1;
      s.state = State::kWaiting;
      --in_progress_;
      retry_queue_.emplace_back(now + 50 * kNsPerMs * s.attempts, s.index);
      return;
    }
    if (response.status != 200) return fail(s, "connect: HTTP " + std::to_string(response.status));
    ConnectReplyResult reply = parse_connect_reply(response);
    if (!reply.ok) return fail(s, "connect: " + reply.error);
    const std::string leftover = login.in.substr(consumed);
    return on_tunnel_up(s, reply.config, leftover);
  }
  login.jar.update(response);
  if (response.status != 200) return fail(s, "auth: HTTP " + std::to_string(response.status));
  ServerAuthParseResult parsed = parse_server_auth(response.body);
  if (!parsed.ok) return fail(s, "auth: " + parsed.error);
  const ServerAuthReply& reply = parsed.reply;
  const bool reconnect = response.close || !opt_.cert.empty();
  ClientIdentity identity;
  identity.group_access = "https://" + host_header_ + "/";
  if (++login.rounds > kMaxAuthRounds) return fail(s, "auth: too many rounds");

  if (reply.success()) {
    std::optional<std::string_view> cookie = login.jar.get("webvpn");
    std::string token = reply.session_token.value_or("");
    if (!cookie && token.empty()) return fail(s, "auth: success without a webvpn cookie");
    s.t_cookie = now;
    ConnectOptions options;
    options.hostname = "loadgen-" + std::to_string(s.index);
    options.dtls = opt_.dtls;
    static const char kHex[] = "0123456789ABCDEF";
    for (int i = 0; i < 96; ++i) options.dtls_master_secret += kHex[rng_() & 15];
    std::string request = build_connect({host_header_, ""}, cookie ? *cookie : token, options);
    login.connect_sent = true;
    login.connect_request = request;
    return send_request(s, std::move(request), reconnect);
  }
  if (!reply.has_form || (reply.inputs.empty() && !reply.has_group_list)) {
    const std::string text = !reply.error.empty() ? reply.error : reply.message;
    return fail(s, "auth: refused (" + text.substr(0, 80) + ")");
  }
  const std::string path = reply.action.empty() ? "/" : reply.action;
  if (reply.has_group_list && !opt_.authgroup.empty() && !login.group_init_sent) {
    // openconnect answers the first group_list with NEWGROUP: an init with <group-select>.
    const GroupOption* group = find_group(reply.groups, opt_.authgroup);
    if (group == nullptr) return fail(s, "auth: no group " + opt_.authgroup);
    login.group = group->value;
    login.group_init_sent = true;
    return send_request(s, build_post({host_header_, login.jar.header_value()}, path,
                                      build_init(identity, login.group)), reconnect);
  }
  std::vector<FormAnswer> answers;
  const std::string& secret = opt_.token.empty() ? opt_.password : opt_.token;
  bool asks_password = false;
  for (const FormInput& input : reply.inputs) {
    if (input.name == "username") {
      answers.push_back({"username", opt_.user});
    } else if (input.name == "password" || input.name == "answer" || input.name == "whichpin" ||
               input.name == "new_password") {
      answers.push_back({"password", secret});  // renamed as openconnect does (§3.3)
      asks_password = true;
    } else if (input.type == "hidden" && !input.name.empty() &&
               input.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos) {
      answers.push_back({input.name, input.value});
    } else if (input.name != "verify_pin" && input.name != "verify_password" &&
               input.name != "secondary_password") {
      return fail(s, "auth: unsupported form field");
    }
  }
  if (asks_password && login.password_sent) return fail(s, "auth: password refused");
  login.password_sent = login.password_sent || asks_password;
  send_request(s, build_post({host_header_, login.jar.header_value()}, path,
                             build_auth_reply(identity, answers, login.group)), reconnect);
}

void Engine::on_tunnel_up(Session& s, const TunnelConfig& config, std::string_view leftover) {
  const uint64_t now = now_ns();
  s.t_connect = now;
  s.state = State::kTunnel;
  s.tunnel = config;
  s.address = config.address;
  s.mtu = config.mtu;
  s.dpd_seconds = config.dpd_seconds;
  s.cstp = std::make_unique<tunnel::CstpDecoder>(tunnel::cstp::kMaxPayloadBytes);
  if (opt_.dtls && !config.dtls) {
    // A server that sent no (or another) X-DTLS-CipherSuite: CSTP only, as openconnect.
    ++failures_[config.dtls_cipher.empty() ? "dtls: not offered by the server" : "dtls: cipher suite not PSK-NEGOTIATE"];
  }
  if (config.dtls && opt_.dtls) {
    const int ret = wolfSSL_export_keying_material(s.tls, s.psk.data(), kPskBytes, kDtlsPskLabel,
                                                   sizeof kDtlsPskLabel - 1, nullptr, 0, 0);
    if (ret != WOLFSSL_SUCCESS) {
      ++failures_["dtls: keying material export"];
    } else {
      start_dtls(s, now);
    }
  }
  s.login.reset();
  if (!leftover.empty()) {
    // Frames that came with the CONNECT answer.
    std::span<const uint8_t> in(reinterpret_cast<const uint8_t*>(leftover.data()), leftover.size());
    while (!in.empty()) {
      tunnel::CstpDecodeResult r = s.cstp->decode(in);
      in = in.subspan(r.consumed);
      if (r.status != tunnel::CstpDecodeStatus::kFrame) break;
      if (r.type == tunnel::CstpType::kData) on_packet(s, r.payload, Channel::kCstp);
    }
  }
  // DTLS may already be up: wolfSSL_connect can finish in its first call when the server
  // answers fast enough.
  if (!s.dtls_handshaking && s.channel == Channel::kNone) ready(s, Channel::kCstp, now);
}

void Engine::start_dtls(Session& s, uint64_t now) {
  ++s.dtls_attempts;
  s.udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in peer = server_;
  peer.sin_port = htons(s.tunnel.dtls_port);
  const int buffer = 1 << 20;
  if (s.udp_fd < 0) return dtls_failed(s, "dtls: udp socket");
  // Port 0: UDP takes its port at bind, one per socket and address (the range of
  // ip_local_port_range), hence one --source per ~60k sessions.
  if (source_.sin_family == AF_INET &&
      bind(s.udp_fd, reinterpret_cast<const sockaddr*>(&source_), sizeof source_) != 0)
    return dtls_failed(s, "dtls: bind " + opt_.source + ": " + std::strerror(errno));
  if (connect(s.udp_fd, reinterpret_cast<const sockaddr*>(&peer), sizeof peer) != 0)
    return dtls_failed(s, "dtls: udp socket");
  setsockopt(s.udp_fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  setsockopt(s.udp_fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = static_cast<uint64_t>(s.index) << 1 | 1;
  epoll_ctl(epoll_, EPOLL_CTL_ADD, s.udp_fd, &ev);
  s.dtls = wolfSSL_new(dtls_ctx_);
  if (s.dtls == nullptr || wolfSSL_set_fd(s.dtls, s.udp_fd) != WOLFSSL_SUCCESS ||
      wolfSSL_dtls_set_peer(s.dtls, &peer, sizeof peer) != WOLFSSL_SUCCESS)
    return dtls_failed(s, "dtls: wolfSSL setup");
  wolfSSL_dtls_set_using_nonblock(s.dtls, 1);
  dtls_client_set_psk_source(s.dtls, s.psk.data());
  if (!dtls_client_set_app_id(s.dtls, {s.tunnel.app_id.data(), s.tunnel.app_id_len}))
    return dtls_failed(s, "dtls: App-ID session");
  s.dtls_handshaking = true;
  s.dtls_start = now;
  drive_dtls(s, now);
}

void Engine::drive_dtls(Session& s, uint64_t now) {
  const int ret = wolfSSL_connect(s.dtls);
  if (ret == WOLFSSL_SUCCESS) {
    s.dtls_handshaking = false;
    std::fill(s.psk.begin(), s.psk.end(), 0);
    crypto::DtlsRecordKeys keys;
    std::string error;
    if (!crypto::dtls_export_record_keys(s.dtls, &keys, &error)) {
      keys.wipe();
      return dtls_failed(s, "dtls: record keys not usable");
    }
    s.dtls_tx = std::make_unique<crypto::RecordAead>();
    s.dtls_rx = std::make_unique<crypto::RecordAead>();
    const bool ok = s.dtls_tx->init(keys.cipher, keys.tx) && s.dtls_rx->init(keys.cipher, keys.rx);
    s.dtls_epoch = keys.epoch;
    s.dtls_tx_seq = kFirstDataSequence;
    keys.wipe();
    if (!ok) return dtls_failed(s, "dtls: record keys not usable");
    // From here the generator seals and opens the records itself: the wolfSSL object (tens
    // of KiB of buffers) is no longer needed.
    wolfSSL_free(s.dtls);
    s.dtls = nullptr;
    return ready(s, Channel::kDtls, now);
  }
  const int err = wolfSSL_get_error(s.dtls, ret);
  if (err != WOLFSSL_ERROR_WANT_READ && err != WOLFSSL_ERROR_WANT_WRITE)
    return dtls_failed(s, "dtls: handshake failed");
  const int timeout = std::max(1, wolfSSL_dtls_get_current_timeout(s.dtls));
  s.dtls_next_timer = now + static_cast<uint64_t>(timeout) * kNsPerSec;
}

void Engine::dtls_failed(Session& s, const std::string& why) {
  ++failures_[why];
  if (opt_.verbose) std::fprintf(stderr, "level=warn msg=\"DTLS failed, staying on CSTP\" session=%u reason=\"%s\"\n", s.index, why.c_str());
  if (s.dtls != nullptr) wolfSSL_free(s.dtls);
  s.dtls = nullptr;
  s.dtls_tx.reset();
  s.dtls_rx.reset();
  if (s.udp_fd >= 0) close(s.udp_fd);
  s.udp_fd = -1;
  std::fill(s.psk.begin(), s.psk.end(), 0);
  s.dtls_handshaking = false;
  ready(s, Channel::kCstp, now_ns());  // the first time: the session is up on CSTP
}

void Engine::ready(Session& s, Channel channel, uint64_t now) {
  if (s.channel != Channel::kNone) {
    s.channel = channel;
    return;
  }
  s.channel = channel;
  s.t_ready = now;
  s.next_dpd = now + static_cast<uint64_t>(s.dpd_seconds) * kNsPerSec / 2;
  if (opt_.verbose)
    std::fprintf(stderr, "level=debug msg=\"session up\" session=%u channel=%s dtls_offered=%d\n", s.index,
                 channel == Channel::kDtls ? "dtls" : "cstp", s.tunnel.dtls ? 1 : 0);
  --in_progress_;
  ++done_;
  active_.push_back(s.index);
}

void Engine::timers(uint64_t now) {
  const uint64_t login_limit = static_cast<uint64_t>(opt_.login_timeout_s * 1e9);
  const uint64_t dtls_limit = static_cast<uint64_t>(opt_.dtls_timeout_s * 1e9);
  const bool sweep = now - last_sweep_ >= 100 * kNsPerMs;
  if (!sweep) return;
  last_sweep_ = now;
  for (Session& s : sessions_) {
    if (s.state == State::kTcpConnecting || s.state == State::kTlsHandshake || s.state == State::kHttp) {
      if (now - s.t_start > login_limit) fail(s, "timeout: login");
    } else if (s.state == State::kTunnel && s.dtls_handshaking) {
      if (now - s.dtls_start > dtls_limit) {
        if (s.dtls_attempts < opt_.dtls_attempts) {
          // As openconnect's "Attempt new DTLS connection", at once rather than after 60 s:
          // a new socket and a new ClientHello for the same App-ID.
          ++failures_["retried: dtls: handshake timeout"];
          wolfSSL_free(s.dtls);
          s.dtls = nullptr;
          close(s.udp_fd);
          s.udp_fd = -1;
          s.dtls_handshaking = false;
          start_dtls(s, now);
          continue;
        }
        dtls_failed(s, "dtls: handshake timeout");
      } else if (now >= s.dtls_next_timer) {
        if (wolfSSL_dtls_got_timeout(s.dtls) != WOLFSSL_SUCCESS) dtls_failed(s, "dtls: handshake timeout");
        else s.dtls_next_timer = now + static_cast<uint64_t>(std::max(1, wolfSSL_dtls_get_current_timeout(s.dtls))) * kNsPerSec;
      }
    }
  }
}

// ----------------------------------------------------------------------------- tunnel

bool Engine::dtls_send(Session& s, uint8_t type, uint8_t* payload, size_t payload_len) {
  const crypto::RecordAead& aead = *s.dtls_tx;
  const size_t explicit_nonce = aead.overhead() - kTailroom;
  uint8_t* record = payload - 1 - explicit_nonce - kDtlsRecordHeaderBytes;
  payload[-1] = type;
  const size_t len = aead.seal(record, payload_len + 1, s.dtls_epoch, s.dtls_tx_seq++);
  if (len == 0) return false;
  return send(s.udp_fd, record, len, MSG_DONTWAIT) == static_cast<ssize_t>(len);
}

void Engine::send_control(Session& s, uint8_t type, std::span<const uint8_t> payload, bool cstp) {
  alignas(64) uint8_t frame[kHeadroom + 2048 + kTailroom];
  if (!cstp && s.channel == Channel::kDtls && s.dtls_tx != nullptr && payload.size() <= 2048) {
    std::memcpy(frame + kHeadroom, payload.data(), payload.size());
    dtls_send(s, type, frame + kHeadroom, payload.size());
    return;
  }
  if (s.tls == nullptr) return;
  const size_t n = tunnel::cstp_encode_frame(frame, static_cast<tunnel::CstpType>(type), payload);
  if (n > 0) wolfSSL_write(s.tls, frame, static_cast<int>(n));
}

void Engine::on_packet(Session& s, std::span<const uint8_t> packet, Channel channel) {
  uint32_t dst = 0;
  const std::optional<Probe> probe = parse_probe_packet(packet, &dst);
  if (!probe || dst != s.address || probe->session != s.index) {
    ++totals_.rx_foreign;
    return;
  }
  const uint64_t now = now_ns();
  ++totals_.rx_packets;
  totals_.rx_bytes += packet.size();
  ++(channel == Channel::kDtls ? totals_.rx_dtls : totals_.rx_cstp);
  if (probe->run == opt_.run_id) totals_.echo_count_max = std::max<uint64_t>(totals_.echo_count_max, probe->echo_count);
  if (now > probe->sent_ns) totals_.latency.add(now - probe->sent_ns);
}

void Engine::read_cstp(Session& s) {
  uint8_t buf[kIoBytes];
  for (;;) {
    const int ret = wolfSSL_read(s.tls, buf, sizeof buf);
    if (ret <= 0) {
      const int err = wolfSSL_get_error(s.tls, ret);
      if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) return;
      ++totals_.server_closed;
      return fail(s, "tunnel: server closed the connection");
    }
    std::span<const uint8_t> in(buf, static_cast<size_t>(ret));
    while (!in.empty()) {
      tunnel::CstpDecodeResult r = s.cstp->decode(in);
      in = in.subspan(r.consumed);
      if (r.status == tunnel::CstpDecodeStatus::kNeedMore) break;
      if (r.status == tunnel::CstpDecodeStatus::kError)
        return fail(s, std::string("tunnel: bad CSTP frame (") + std::string(tunnel::cstp_error_name(r.error)) + ")");
      switch (r.type) {
        case tunnel::CstpType::kData: on_packet(s, r.payload, Channel::kCstp); break;
        case tunnel::CstpType::kDpdRequest: {
          ++totals_.dpd_answered;
          uint8_t frame[tunnel::cstp::kHeaderBytes + 64];
          const size_t n = tunnel::cstp_encode_frame(frame, tunnel::CstpType::kDpdResponse, {});
          wolfSSL_write(s.tls, frame, static_cast<int>(n));
          break;
        }
        case tunnel::CstpType::kDisconnect:
        case tunnel::CstpType::kTerminate:
          ++totals_.server_closed;
          return fail(s, "tunnel: server terminated the session");
        default: break;
      }
    }
  }
}

void Engine::read_dtls_batch(Session& s) {
  // After the handshake the generator reads its datagrams itself, kBurst per system call,
  // and opens the records with the session's server_write key (no anti-replay: a
  // duplicate would only be counted twice).
  for (;;) {
    mmsghdr msgs[kBurst];
    iovec iov[kBurst];
    for (unsigned i = 0; i < kBurst; ++i) {
      iov[i] = {rx_scratch_.data() + i * kIoBytes, kIoBytes};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = recvmmsg(s.udp_fd, msgs, kBurst, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    for (int i = 0; i < n && s.dtls_rx != nullptr; ++i) {
      uint8_t* datagram = rx_scratch_.data() + static_cast<size_t>(i) * kIoBytes;
      const std::span<const uint8_t> bytes(datagram, msgs[i].msg_len);
      size_t offset = 0;
      while (offset < bytes.size()) {
        dtls::DtlsRecord record{};
        if (dtls::dtls_record_parse(bytes, offset, &record) != dtls::DtlsParseError::kOk) break;
        offset = record.next_offset;
        std::span<uint8_t> plaintext;
        if (record.type != dtls::ContentType::kApplicationData || record.epoch != s.dtls_epoch ||
            !s.dtls_rx->open(record, datagram + (record.record.data() - bytes.data()), &plaintext) ||
            plaintext.empty()) {
          ++totals_.rx_dtls_dropped;
          continue;
        }
        on_dtls_plaintext(s, plaintext);
        if (s.state != State::kTunnel || s.dtls_rx == nullptr) return;
      }
    }
    if (n < static_cast<int>(kBurst)) return;
  }
}

void Engine::on_dtls_plaintext(Session& s, std::span<const uint8_t> record) {
  switch (record[0]) {
    case 0x00: on_packet(s, record.subspan(1), Channel::kDtls); break;
    case 0x03:  // DPD request (also the MTU probe): echo the payload back as 0x04 (§6.7)
      ++totals_.dpd_answered;
      send_control(s, 0x04, record.subspan(1));
      break;
    case 0x05:
      ++totals_.server_closed;
      return fail(s, "tunnel: server terminated the session");
    default: break;
  }
}

void Engine::read_dtls(Session& s) {
  uint8_t buf[kIoBytes];
  for (;;) {
    if (s.dtls_rx != nullptr) return read_dtls_batch(s);
    if (s.dtls == nullptr) return;
    if (s.dtls_handshaking) return drive_dtls(s, now_ns());
    const int ret = wolfSSL_read(s.dtls, buf, sizeof buf);
    if (ret <= 0) {
      const int err = wolfSSL_get_error(s.dtls, ret);
      if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) return;
      return dtls_failed(s, "dtls: read error");
    }
    on_dtls_plaintext(s, std::span<const uint8_t>(buf, static_cast<size_t>(ret)));
    if (s.state != State::kTunnel) return;
  }
}

size_t Engine::next_size() {
  if (!opt_.imix) return opt_.size;
  // Simple IMIX 7:4:1 of 64, 576 and 1400 bytes (clamped to the tunnel MTU by the caller).
  static constexpr uint16_t kPattern[12] = {64, 576, 64, 64, 576, 1400, 64, 576, 64, 64, 576, 64};
  return kPattern[imix_step_++ % 12];
}

bool Engine::send_packet(Session& s, uint8_t* packet, size_t packet_len, Channel ch) {
  if (ch == Channel::kDtls) return dtls_send(s, 0x00, packet, packet_len);
  uint8_t* frame = packet - tunnel::cstp::kHeaderBytes;
  tunnel::cstp_encode_header(frame, tunnel::CstpType::kData, static_cast<uint16_t>(packet_len));
  const int ret = wolfSSL_write(s.tls, frame, static_cast<int>(packet_len + tunnel::cstp::kHeaderBytes));
  if (ret > 0) return true;
  const int err = wolfSSL_get_error(s.tls, ret);
  if (err == WOLFSSL_ERROR_WANT_WRITE || err == WOLFSSL_ERROR_WANT_READ) {
    // wolfSSL holds the record: the next write must pass the same bytes (tx_blocked).
    if (!s.want_tcp_write) {
      s.want_tcp_write = true;
      update_epoll(s);
    }
    return false;
  }
  fail(s, "tunnel: write error");
  return false;
}

unsigned Engine::send_dtls_burst(Session& s, unsigned count, uint64_t now) {
  const crypto::RecordAead& aead = *s.dtls_tx;
  const size_t explicit_nonce = aead.overhead() - kTailroom;
  constexpr size_t kStride = kHeadroom + kMaxPacketBytes + kTailroom;
  mmsghdr msgs[kBurst];
  iovec iov[kBurst];
  size_t sizes[kBurst];
  const ProbeAddressing addr{s.address, opt_.target_ip, static_cast<uint16_t>(20000 + s.index % 40000),
                             opt_.target_port};
  unsigned built = 0;
  for (unsigned i = 0; i < count; ++i) {
    uint8_t* packet = tx_scratch_.data() + i * kStride + kHeadroom;
    const size_t len = std::clamp<size_t>(next_size(), kMinProbePacketBytes, std::min<size_t>(s.mtu, kMaxPacketBytes));
    Probe probe;
    probe.session = s.index;
    probe.seq = ++s.tx_seq;
    probe.sent_ns = now;
    probe.run = opt_.run_id;
    build_probe_packet({packet, kMaxPacketBytes}, len, addr, probe);
    packet[-1] = 0x00;  // OpenConnect data type byte (§6.7)
    uint8_t* record = packet - 1 - explicit_nonce - kDtlsRecordHeaderBytes;
    const size_t record_len = aead.seal(record, len + 1, s.dtls_epoch, s.dtls_tx_seq++);
    if (record_len == 0) break;
    iov[built] = {record, record_len};
    msgs[built] = {};
    msgs[built].msg_hdr.msg_iov = &iov[built];
    msgs[built].msg_hdr.msg_iovlen = 1;
    sizes[built++] = len;
  }
  const int n = built > 0 ? sendmmsg(s.udp_fd, msgs, built, MSG_DONTWAIT) : 0;
  const unsigned sent = n > 0 ? static_cast<unsigned>(n) : 0;
  for (unsigned i = 0; i < sent; ++i) totals_.tx_bytes += sizes[i];
  totals_.tx_packets += sent;
  totals_.tx_blocked += count - sent;  // a datagram the socket refused is just not sent
  sent_in_traffic_ += opt_.pps > 0 ? count : sent;  // paced: no backlog piles up
  return sent;
}

void Engine::traffic_tick(uint64_t now) {
  if (active_.empty() || opt_.target_ip == 0) return;
  uint64_t due = 16 * kBurst;  // --pps 0: as many as a few bursts per loop
  if (opt_.pps > 0) {
    const double elapsed = static_cast<double>(now - traffic_begin_) / 1e9;
    const auto target = static_cast<uint64_t>(elapsed * opt_.pps);
    due = target > sent_in_traffic_ ? std::min<uint64_t>(target - sent_in_traffic_, 64 * kBurst) : 0;
  }
  alignas(64) uint8_t buf[kHeadroom + kMaxPacketBytes + kTailroom];
  uint8_t* const packet = buf + kHeadroom;
  // Round robin over the sessions: up to kBurst packets each (one sendmmsg on DTLS).
  for (size_t visited = 0; due > 0 && visited < active_.size(); ++visited) {
    Session& s = sessions_[active_[rr_++ % active_.size()]];
    if (s.state != State::kTunnel) continue;
    if (s.channel == Channel::kDtls && s.dtls_tx != nullptr) {
      const unsigned count = static_cast<unsigned>(std::min<uint64_t>(due, kBurst));
      send_dtls_burst(s, count, now);
      due -= count;
      continue;
    }
    --due;
    if (s.want_tcp_write) { ++totals_.tx_blocked; continue; }
    Probe probe;
    size_t len = 0;
    if (s.tx_blocked) {  // wolfSSL holds this packet's record: the retry must match it
      probe.seq = s.tx_seq;
      probe.sent_ns = s.blocked_ts;
      len = s.blocked_len;
    } else {
      probe.seq = ++s.tx_seq;
      probe.sent_ns = now;
      len = std::clamp<size_t>(next_size(), kMinProbePacketBytes, std::min<size_t>(s.mtu, kMaxPacketBytes));
    }
    probe.session = s.index;
    probe.run = opt_.run_id;
    const ProbeAddressing addr{s.address, opt_.target_ip, static_cast<uint16_t>(20000 + s.index % 40000),
                               opt_.target_port};
    build_probe_packet({packet, kMaxPacketBytes}, len, addr, probe);
    if (send_packet(s, packet, len, Channel::kCstp)) {
      s.tx_blocked = false;
      ++totals_.tx_packets;
      totals_.tx_bytes += len;
      ++sent_in_traffic_;
    } else if (s.state == State::kTunnel) {
      s.tx_blocked = true;
      s.blocked_ts = probe.sent_ns;
      s.blocked_len = static_cast<uint16_t>(len);
      ++totals_.tx_blocked;
      if (opt_.pps > 0) ++sent_in_traffic_;  // do not pile up a backlog
    }
  }
}

void Engine::logout(Session& s) {
  if (s.state != State::kTunnel) return;
  // openconnect's SIGINT logout (PROTOCOL.md §7.3): BYE with reason 0xb0, then close.
  static constexpr char kText[] = "Aborted by caller";
  uint8_t frame[64];
  const size_t n = tunnel::cstp_encode_disconnect(frame, tunnel::cstp::kDisconnectReasonUserLogout,
                                                  std::string_view(kText, sizeof kText - 1));
  for (int attempt = 0; attempt < 100 && s.tls != nullptr; ++attempt) {
    const int ret = wolfSSL_write(s.tls, frame, static_cast<int>(n));
    if (ret > 0) {
      ++logged_out_;
      break;
    }
    const int err = wolfSSL_get_error(s.tls, ret);
    if (err != WOLFSSL_ERROR_WANT_WRITE) break;
    usleep(1000);
  }
  // Half-close and keep reading until the server closes too (logout_all): a close() with
  // unread bytes in the socket would send a RST, which can make the server drop the BYE.
  if (s.tcp_fd >= 0) shutdown(s.tcp_fd, SHUT_WR);
  if (s.udp_fd >= 0) close(s.udp_fd);  // DTLS needs no goodbye (openconnect sends none)
  s.udp_fd = -1;
  s.state = State::kClosed;
}

void Engine::logout_all() {
  // BYEs at most --logout-rate per second (0: all at once), then wait (bounded) for each
  // server to close its side, discarding what still arrives.
  std::vector<uint32_t> to_logout;
  for (uint32_t idx : active_)
    if (sessions_[idx].state == State::kTunnel) to_logout.push_back(idx);
  const uint64_t begin = now_ns();
  size_t next = 0;
  uint32_t open = 0;
  uint64_t deadline = begin + 3 * kNsPerSec;
  std::vector<epoll_event> events(512);
  char sink[kIoBytes];
  while (next < to_logout.size() || (open > 0 && now_ns() < deadline)) {
    const uint64_t now = now_ns();
    while (next < to_logout.size() &&
           (opt_.logout_rate <= 0 ||
            static_cast<double>(now - begin) / 1e9 * opt_.logout_rate >= static_cast<double>(next))) {
      Session& s = sessions_[to_logout[next++]];
      logout(s);
      if (s.tcp_fd >= 0) ++open;
      deadline = now + 3 * kNsPerSec;
    }
    const int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()),
                             next < to_logout.size() ? 1 : 50);
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      Session& s = sessions_[tag >> 1];
      if ((tag & 1) || s.tcp_fd < 0 || s.state != State::kClosed) continue;
      ssize_t got = 0;
      while ((got = recv(s.tcp_fd, sink, sizeof sink, MSG_DONTWAIT)) > 0) {
      }
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        close_session(s);
        --open;
      }
    }
  }
  for (uint32_t idx : active_) close_session(sessions_[idx]);
}

// ----------------------------------------------------------------------------- main loop

int Engine::run() {
  enum class Phase { kSetup, kTraffic, kDrain, kHold, kDone } phase = Phase::kSetup;
  setup_begin_ = now_ns();
  rss_before_ = rss_kib();
  uint64_t phase_end = 0;
  bool ready_written = false;
  std::vector<epoll_event> events(512);
  while (phase != Phase::kDone) {
    const uint64_t now = now_ns();
    if (g_stop && phase != Phase::kHold) {  // SIGINT/SIGTERM: straight to the logout
      if (setup_end_ == 0) setup_end_ = now;
      if (phase == Phase::kTraffic) traffic_end_ = now;
      phase = Phase::kHold;
      g_release = 1;
    }

    if (phase == Phase::kSetup) {
      // Start new logins within --concurrency and --rate.
      while (!retry_queue_.empty() && retry_queue_.front().first <= now && in_progress_ < opt_.concurrency) {
        Session& s = sessions_[retry_queue_.front().second];
        retry_queue_.pop_front();
        if (s.login) {  // a CONNECT to send again: a new connection only
          ++in_progress_;
          open_tcp(s);
        } else {
          start_session(s, now);
        }
      }
      while (next_to_start_ < sessions_.size() && in_progress_ < opt_.concurrency) {
        if (opt_.rate > 0 &&
            static_cast<double>(now - setup_begin_) / 1e9 * opt_.rate < static_cast<double>(next_to_start_))
          break;
        start_session(sessions_[next_to_start_++], now);
      }
      if (done_ == sessions_.size()) {
        setup_end_ = now;
        rss_after_setup_ = rss_kib();
        traffic_begin_ = now;
        phase = opt_.target_ip != 0 && !active_.empty() && opt_.duration_s > 0 ? Phase::kTraffic : Phase::kHold;
        phase_end = now + static_cast<uint64_t>((phase == Phase::kTraffic ? opt_.duration_s : opt_.hold_s) * 1e9);
      }
    } else if (phase == Phase::kTraffic && now >= phase_end) {
      traffic_end_ = now;
      phase = Phase::kDrain;
      phase_end = now + 500 * kNsPerMs;  // echoes still in flight
    } else if (phase == Phase::kDrain && now >= phase_end) {
      phase = Phase::kHold;
      phase_end = now + static_cast<uint64_t>(opt_.hold_s * 1e9);
    }
    if (phase == Phase::kHold) {
      if (!ready_written) {
        // The last engine (thread) to get here writes the ready file.
        ready_written = true;
        const uint32_t holding = opt_.holding != nullptr ? opt_.holding->fetch_add(1) + 1 : opt_.threads;
        if (holding == opt_.threads && !opt_.ready_file.empty())
          std::ofstream(opt_.ready_file) << "ready\n";
      }
      if (now >= phase_end || g_release || g_stop) phase = Phase::kDone;
    }
    timers(now);
    // Keep idle tunnels alive: a DPD request on CSTP per session every X-CSTP-DPD / 2
    // seconds, as openconnect, which sends CSTP DPDs while DTLS carries the data (PROTOCOL.md
    // "Timers"): a gateway closes a tunnel whose TCP side was silent for 3 x DPD (+ 5 s).
    // These once went over DTLS, which kept the TCP side silent: 32,673 of 100,000 tunnels
    // were closed by the gateway during a fill longer than that.
    if (phase == Phase::kHold || phase == Phase::kSetup) {
      if (now - last_dpd_ > kNsPerSec) {
        last_dpd_ = now;
        for (uint32_t idx : active_) {
          Session& s = sessions_[idx];
          if (s.state == State::kTunnel && s.dpd_seconds > 0 && now >= s.next_dpd) {
            s.next_dpd = now + static_cast<uint64_t>(s.dpd_seconds) * kNsPerSec / 2;
            send_control(s, static_cast<uint8_t>(tunnel::CstpType::kDpdRequest), {}, true);
          }
        }
      }
    }
    if (phase == Phase::kTraffic) traffic_tick(now);
    const int timeout = phase == Phase::kTraffic ? (opt_.pps > 0 ? 1 : 0) : 10;
    const int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout);
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64;
      Session& s = sessions_[tag >> 1];
      if (tag & 1) {
        if (s.udp_fd >= 0) read_dtls(s);
      } else if (s.tcp_fd >= 0) {
        drive(s, events[i].events);
      }
    }
  }
  logout_all();
  // wolfCrypt's fixed-point ECC cache is per thread (FP_ECC): free this thread's.
  wc_ecc_fp_free();
  return 0;
}

// ----------------------------------------------------------------------------- report

/// `text` as the inside of a JSON string (failure reasons may carry an option's value).
std::string json_escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned>(c));
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

struct Quantiles {
  double p50 = 0, p90 = 0, p99 = 0;
  size_t n = 0;
};

Quantiles quantiles_ms(std::vector<uint64_t> values) {
  Quantiles q;
  q.n = values.size();
  if (values.empty()) return q;
  std::sort(values.begin(), values.end());
  const auto at = [&](double f) {
    return static_cast<double>(values[std::min(values.size() - 1, static_cast<size_t>(f * static_cast<double>(values.size())))]) / 1e6;
  };
  q.p50 = at(0.50);
  q.p90 = at(0.90);
  q.p99 = at(0.99);
  return q;
}

void Engine::report_all(const Options& opt, const std::vector<std::unique_ptr<Engine>>& engines) {
  // Merge the engines: sessions, counters, histograms, failure reasons, phase times.
  std::vector<uint64_t> tls, cookie, connect, dtls, total;
  uint32_t on_dtls = 0, on_cstp = 0, logged_out = 0;
  uint64_t failed = 0, retried = 0;
  uint64_t setup_begin = UINT64_MAX, setup_end = 0, traffic_begin = UINT64_MAX, traffic_end = 0;
  uint64_t rss_before = UINT64_MAX, rss_after_setup = 0;
  std::map<std::string, uint64_t> failures;
  Totals totals;
  for (const auto& engine : engines) {
    const Engine& e = *engine;
    for (const Session& s : e.sessions_) {
      if (s.t_ready == 0) {
        ++failed;
        continue;
      }
      if (s.t_tls) tls.push_back(s.t_tls - s.t_start);
      if (s.t_cookie) cookie.push_back(s.t_cookie - s.t_start);
      if (s.t_connect) connect.push_back(s.t_connect - s.t_start);
      if (s.channel == Channel::kDtls) {
        dtls.push_back(s.t_ready - s.t_connect);
        ++on_dtls;
      } else {
        ++on_cstp;
      }
      total.push_back(s.t_ready - s.t_start);
    }
    logged_out += e.logged_out_;
    retried += e.retried_;
    setup_begin = std::min(setup_begin, e.setup_begin_);
    setup_end = std::max(setup_end, e.setup_end_);
    if (e.traffic_end_ > e.traffic_begin_) {
      traffic_begin = std::min(traffic_begin, e.traffic_begin_);
      traffic_end = std::max(traffic_end, e.traffic_end_);
    }
    rss_before = std::min(rss_before, e.rss_before_);
    rss_after_setup = std::max(rss_after_setup, e.rss_after_setup_);
    for (const auto& [reason, count] : e.failures_) failures[reason] += count;
    const Totals& t = e.totals_;
    totals.tx_packets += t.tx_packets;
    totals.tx_bytes += t.tx_bytes;
    totals.tx_blocked += t.tx_blocked;
    totals.rx_packets += t.rx_packets;
    totals.rx_bytes += t.rx_bytes;
    totals.rx_dtls += t.rx_dtls;
    totals.rx_cstp += t.rx_cstp;
    totals.rx_foreign += t.rx_foreign;
    totals.rx_dtls_dropped += t.rx_dtls_dropped;
    totals.dpd_answered += t.dpd_answered;
    totals.server_closed += t.server_closed;
    totals.echo_count_max = std::max(totals.echo_count_max, t.echo_count_max);  // one echo count per run
    totals.latency.merge(t.latency);
  }
  if (traffic_begin == UINT64_MAX) traffic_begin = 0;
  const uint32_t ok = on_dtls + on_cstp;
  const double setup_s = setup_end > setup_begin ? static_cast<double>(setup_end - setup_begin) / 1e9 : 0;
  const double traffic_s = traffic_end > traffic_begin ? static_cast<double>(traffic_end - traffic_begin) / 1e9 : 0;
  const double per_s = traffic_s > 0 ? 1.0 / traffic_s : 0;
  const uint64_t up_delivered = std::min(totals.echo_count_max, totals.tx_packets);
  const double loss_up = totals.tx_packets ? 1.0 - static_cast<double>(up_delivered) / static_cast<double>(totals.tx_packets) : 0;
  const double loss_total = totals.tx_packets ? 1.0 - static_cast<double>(totals.rx_packets) / static_cast<double>(totals.tx_packets) : 0;
  const double avg_size = totals.tx_packets ? static_cast<double>(totals.tx_bytes) / static_cast<double>(totals.tx_packets) : 0;
  const Quantiles q_tls = quantiles_ms(tls), q_cookie = quantiles_ms(cookie),
                  q_connect = quantiles_ms(connect), q_dtls = quantiles_ms(dtls), q_total = quantiles_ms(total);
  const LatencyHistogram& h = totals.latency;
  const auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
  const double kib_per_session =
      ok > 0 && rss_after_setup > rss_before ? static_cast<double>(rss_after_setup - rss_before) / ok : 0;

  if (opt.json) {
    const std::string source = opt.source.empty() ? "null" : "\"" + json_escape(opt.source) + "\"";
    std::printf("{\"server\":\"%s:%u\",\"source\":%s,\"sessions\":{\"requested\":%u,\"established\":%u,\"failed\":%" PRIu64
                ",\"retried\":%" PRIu64 ",\"dtls\":%u,\"cstp\":%u,\"logged_out\":%u,\"setup_seconds\":%.3f,\"setup_per_second\":%.1f},",
                opt.server.c_str(), opt.port, source.c_str(), opt.sessions, ok, failed, retried, on_dtls, on_cstp, logged_out,
                setup_s, setup_s > 0 ? ok / setup_s : 0);
    // CLOCK_MONOTONIC boundaries of the phases, so a caller sampling the gateway's CPU can
    // cut its samples at them (bench/loadgen/compare-ocserv).
    std::printf("\"clock\":{\"setup_begin_ns\":%" PRIu64 ",\"setup_end_ns\":%" PRIu64 ",\"traffic_begin_ns\":%" PRIu64
                ",\"traffic_end_ns\":%" PRIu64 "},",
                setup_begin, setup_end, traffic_end > traffic_begin ? traffic_begin : 0,
                traffic_end > traffic_begin ? traffic_end : 0);
    std::printf("\"memory\":{\"session_struct_bytes\":%zu,\"rss_kib_after_setup\":%" PRIu64
                ",\"kib_per_session\":%.1f},", sizeof(Session), rss_after_setup, kib_per_session);
    std::printf("\"failures\":{");
    bool first = true;
    for (const auto& [reason, count] : failures) {
      std::printf("%s\"%s\":%" PRIu64, first ? "" : ",", json_escape(reason).c_str(), count);
      first = false;
    }
    std::printf("},\"setup_latency_ms\":{");
    const auto q = [](const char* name, const Quantiles& v, bool last) {
      std::printf("\"%s\":{\"n\":%zu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f}%s", name, v.n, v.p50, v.p90, v.p99, last ? "" : ",");
    };
    q("tls", q_tls, false);
    q("login", q_cookie, false);
    q("connect", q_connect, false);
    q("dtls", q_dtls, false);
    q("total", q_total, true);
    std::printf("},\"traffic\":{\"seconds\":%.3f,\"packet_bytes_avg\":%.1f,\"sent_packets\":%" PRIu64
                ",\"sent_blocked\":%" PRIu64 ",\"up_delivered_packets\":%" PRIu64 ",\"down_delivered_packets\":%" PRIu64
                ",\"down_delivered_bytes\":%" PRIu64 ",\"down_on_dtls\":%" PRIu64 ",\"down_on_cstp\":%" PRIu64
                ",\"foreign_packets\":%" PRIu64 ",\"dtls_records_dropped\":%" PRIu64 ",\"up_mpps\":%.4f,\"up_gbps\":%.4f,\"down_mpps\":%.4f,\"down_gbps\":%.4f"
                ",\"loss_up\":%.6f,\"loss_round_trip\":%.6f,\"latency_us\":{\"n\":%" PRIu64
                ",\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f}}}\n",
                traffic_s, avg_size, totals.tx_packets, totals.tx_blocked, up_delivered, totals.rx_packets,
                totals.rx_bytes, totals.rx_dtls, totals.rx_cstp, totals.rx_foreign, totals.rx_dtls_dropped,
                static_cast<double>(up_delivered) * per_s / 1e6, static_cast<double>(up_delivered) * avg_size * 8 * per_s / 1e9,
                static_cast<double>(totals.rx_packets) * per_s / 1e6, static_cast<double>(totals.rx_bytes) * 8 * per_s / 1e9,
                loss_up, loss_total, h.count(), us(h.quantile(0.5)), us(h.quantile(0.9)), us(h.quantile(0.99)), us(h.max()));
    return;
  }
  std::printf("tunnelgate-loadgen against %s:%u%s%s\n", opt.server.c_str(), opt.port, opt.source.empty() ? "" : " from ",
              opt.source.c_str());
  std::printf("sessions   requested %u  established %u (DTLS %u, CSTP %u)  failed %" PRIu64 "  retried %" PRIu64 "  logged out %u\n",
              opt.sessions, ok, on_dtls, on_cstp, failed, retried, logged_out);
  for (const auto& [reason, count] : failures) std::printf("  failure  %-40s %" PRIu64 "\n", reason.c_str(), count);
  std::printf("setup      %.3f s, %.1f sessions/s\n", setup_s, setup_s > 0 ? ok / setup_s : 0);
  std::printf("memory     %.1f KiB per session (RSS %" PRIu64 " KiB after setup; Session struct %zu B)\n",
              kib_per_session, rss_after_setup, sizeof(Session));
  std::printf("latency    %-8s %9s %9s %9s  (ms from the TCP connect)\n", "", "p50", "p90", "p99");
  for (const auto& [name, v] : {std::pair{"tls", q_tls}, std::pair{"login", q_cookie}, std::pair{"connect", q_connect},
                                std::pair{"total", q_total}})
    std::printf("           %-8s %9.3f %9.3f %9.3f\n", name, v.p50, v.p90, v.p99);
  std::printf("           %-8s %9.3f %9.3f %9.3f  (ms from the CONNECT answer)\n", "dtls", q_dtls.p50, q_dtls.p90, q_dtls.p99);
  if (traffic_s > 0) {
    std::printf("traffic    %.2f s, %.0f B average inner packet\n", traffic_s, avg_size);
    std::printf("  up       sent %" PRIu64 " (blocked %" PRIu64 ")  delivered %" PRIu64 "  %.4f Mpps  %.4f Gbit/s  loss %.4f %%\n",
                totals.tx_packets, totals.tx_blocked, up_delivered, static_cast<double>(up_delivered) * per_s / 1e6,
                static_cast<double>(up_delivered) * avg_size * 8 * per_s / 1e9, loss_up * 100);
    std::printf("  down     delivered %" PRIu64 " (DTLS %" PRIu64 ", CSTP %" PRIu64 ")  %.4f Mpps  %.4f Gbit/s  round-trip loss %.4f %%\n",
                totals.rx_packets, totals.rx_dtls, totals.rx_cstp, static_cast<double>(totals.rx_packets) * per_s / 1e6,
                static_cast<double>(totals.rx_bytes) * 8 * per_s / 1e9, loss_total * 100);
    std::printf("  rtt      p50 %.1f us  p90 %.1f us  p99 %.1f us  max %.1f us\n", us(h.quantile(0.5)),
                us(h.quantile(0.9)), us(h.quantile(0.99)), us(h.max()));
  }
}

// ----------------------------------------------------------------------------- options

void usage() {
  std::fputs(
      "usage: tunnelgate-loadgen --server IP [--port 443] [--source IP] --sessions N [--concurrency 64] [--rate R]\n"
      "         (--user U --password P [--authgroup G] | --user U --token JWT [--authgroup G] | --cert PEM --key PEM)\n"
      "         [--no-dtls] [--dtls-timeout 5] [--dtls-attempts 2] [--login-timeout 30] [--retries 0]\n"
      "         [--target IP:PORT [--pps 0] [--size 512 | --imix] [--duration 5]]\n"
      "         [--hold SECONDS] [--ready-file PATH] [--logout-rate 0] [--threads 1] [--json] [--verbose]\n"
      "  --password-file F / --token-file F read the secret from a file (first line).\n"
      "  --pps 0 offers as fast as the generator can; --hold keeps the sessions up after the\n"
      "  traffic until SIGUSR1 (or the time runs out), then logs them out (BYE 0xb0).\n"
      "  --retries N starts a login answered 503 (try again) over, up to N times.\n"
      "  --threads N runs N epoll loops, the sessions and rates split between them.\n"
      "  --source IP binds every TCP and UDP socket to this local address (one address gives\n"
      "  ~64k ports per protocol: run one generator per address past that).\n",
      stderr);
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

bool parse_options(int argc, char** argv, Options* o, std::string* error) {
  bool source_given = false;  // `--source ""` is an error, not "no --source"
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) { *error = a + " needs a value"; return ""; }
      return argv[++i];
    };
    try {
      if (a == "--server") o->server = value();
      else if (a == "--port") o->port = static_cast<uint16_t>(std::stoul(value()));
      else if (a == "--source") { o->source = value(); source_given = true; }
      else if (a == "--sessions") o->sessions = static_cast<uint32_t>(std::stoul(value()));
      else if (a == "--concurrency") o->concurrency = static_cast<uint32_t>(std::stoul(value()));
      else if (a == "--rate") o->rate = std::stod(value());
      else if (a == "--user") o->user = value();
      else if (a == "--password") o->password = value();
      else if (a == "--password-file") o->password = read_first_line(value());
      else if (a == "--token") o->token = value();
      else if (a == "--token-file") o->token = read_first_line(value());
      else if (a == "--authgroup") o->authgroup = value();
      else if (a == "--cert") o->cert = value();
      else if (a == "--key") o->key = value();
      else if (a == "--no-dtls") o->dtls = false;
      else if (a == "--dtls-timeout") o->dtls_timeout_s = std::stod(value());
      else if (a == "--dtls-attempts") o->dtls_attempts = static_cast<uint32_t>(std::stoul(value()));
      else if (a == "--login-timeout") o->login_timeout_s = std::stod(value());
      else if (a == "--retries") o->retries = static_cast<uint32_t>(std::min(255ul, std::stoul(value())));
      else if (a == "--target") o->target = value();
      else if (a == "--pps") o->pps = std::stod(value());
      else if (a == "--size") o->size = static_cast<uint32_t>(std::stoul(value()));
      else if (a == "--imix") o->imix = true;
      else if (a == "--duration") o->duration_s = std::stod(value());
      else if (a == "--hold") o->hold_s = std::stod(value());
      else if (a == "--logout-rate") o->logout_rate = std::stod(value());
      else if (a == "--ready-file") o->ready_file = value();
      else if (a == "--json") o->json = true;
      else if (a == "--verbose") o->verbose = true;
      else if (a == "--threads") o->threads = static_cast<uint32_t>(std::stoul(value()));
      else if (a == "--help" || a == "-h") { usage(); std::exit(0); }
      else { *error = "unknown option " + a; return false; }
    } catch (const std::exception&) {
      *error = "bad value for " + a;
      return false;
    }
    if (!error->empty()) return false;
  }
  if (o->sessions == 0 || o->concurrency == 0) { *error = "--sessions and --concurrency must be > 0"; return false; }
  if (o->threads == 0 || o->threads > 64) { *error = "--threads must be 1..64"; return false; }
  if (o->cert.empty() != o->key.empty()) { *error = "--cert and --key go together"; return false; }
  if (in_addr source{}; source_given && inet_pton(AF_INET, o->source.c_str(), &source) != 1) {
    *error = "--source must be an IPv4 address: " + o->source;
    return false;
  }
  if (o->size < kMinProbePacketBytes || o->size > kMaxPacketBytes) {
    *error = "--size must be " + std::to_string(kMinProbePacketBytes) + ".." + std::to_string(kMaxPacketBytes);
    return false;
  }
  if (!o->target.empty()) {
    const size_t colon = o->target.rfind(':');
    in_addr address{};
    if (colon == std::string::npos || inet_pton(AF_INET, o->target.substr(0, colon).c_str(), &address) != 1) {
      *error = "--target must be IPv4:PORT";
      return false;
    }
    o->target_ip = ntohl(address.s_addr);
    o->target_port = static_cast<uint16_t>(std::stoul(o->target.substr(colon + 1)));
  }
  return true;
}

}  // namespace
}  // namespace tg::loadgen

int main(int argc, char** argv) {
  using namespace tg::loadgen;
  Options options;
  std::string error;
  if (!parse_options(argc, argv, &options, &error)) {
    std::fprintf(stderr, "tunnelgate-loadgen: %s\n", error.c_str());
    usage();
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction stop{};
  stop.sa_handler = [](int) { g_stop = 1; };
  sigaction(SIGINT, &stop, nullptr);
  sigaction(SIGTERM, &stop, nullptr);
  struct sigaction release{};
  release.sa_handler = [](int) { g_release = 1; };
  sigaction(SIGUSR1, &release, nullptr);
  wolfSSL_Init();
  // Two descriptors per session, plus a margin.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 2ull * options.sessions + 64) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 2ull * options.sessions + 64);
    setrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < 2ull * options.sessions + 64) {
      std::fprintf(stderr,
                   "tunnelgate-loadgen: --sessions %u needs %llu descriptors (2 per session), but this process "
                   "may have at most %llu (RLIMIT_NOFILE hard limit): run several generators, each with at most "
                   "%llu sessions (bench/sessions-scale does)\n",
                   options.sessions, 2ull * options.sessions + 64, static_cast<unsigned long long>(limit.rlim_max),
                   static_cast<unsigned long long>(limit.rlim_max > 64 ? (limit.rlim_max - 64) / 2 : 0));
      return 2;
    }
  }
  // One engine (epoll loop) per thread; sessions, concurrency, rates are split between them.
  std::atomic<uint32_t> holding{0};
  options.run_id = static_cast<uint32_t>(std::random_device{}());
  options.holding = &holding;
  const uint32_t n = std::min(options.threads, options.sessions);
  options.threads = n;
  std::vector<std::unique_ptr<Engine>> engines;
  for (uint32_t i = 0; i < n; ++i) {
    Options shard = options;
    shard.sessions = options.sessions / n + (i < options.sessions % n ? 1 : 0);
    shard.concurrency = std::max(1u, options.concurrency / n);
    shard.rate = options.rate / n;
    shard.pps = options.pps / n;
    shard.logout_rate = options.logout_rate / n;
    engines.push_back(std::make_unique<Engine>(shard));
    if (!engines.back()->init(&error)) {
      std::fprintf(stderr, "tunnelgate-loadgen: %s\n", error.c_str());
      return 1;
    }
  }
  std::vector<std::thread> threads;
  for (uint32_t i = 1; i < n; ++i) threads.emplace_back([&engines, i] { engines[i]->run(); });
  engines[0]->run();
  for (std::thread& t : threads) t.join();
  Engine::report_all(options, engines);
  return 0;
}
