// The real tunnelgate-controlplane binary serving the control segment: this process plays
// the dataplane (CtlSegmentOwner + CtlClient), logs in with a user made by the control
// plane's own hashing code, connects, logs out, and reads the auth metrics from /metrics.
// Then the control plane is stopped (SIGTERM): the worker sees it down at once. Second test:
// the control plane is killed (SIGKILL) with a tunnel up and a new one adopts it (resync).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "controlplane/password_hash.h"
#include "dataplane/ctl/ctl_client.h"
#include "dataplane/ctl/ctl_segment_owner.h"

namespace tg::controlplane {
namespace {

using dataplane::CtlClient;
using dataplane::ctl_monotonic_ns;

uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string http_get_metrics(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string body;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n = 0;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) body.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return body;
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

/// Submit and wait for the answer (up to 5 s).
std::optional<ctl::CtlMessage> ask(CtlClient& c, ctl::CtlMessage& m) {
  if (c.submit(m, ctl_monotonic_ns()) != CtlClient::Submit::ok) return std::nullopt;
  std::optional<ctl::CtlMessage> answer;
  wait_for([&] {
    c.poll([&](const ctl::CtlMessage& r) {
      if (r.header.request_id == m.header.request_id) answer = r;
    });
    return answer.has_value();
  }, std::chrono::seconds(5));
  return answer;
}

/// As a worker does for a control plane it has not served: report no (more) tunnels.
bool report_done(CtlClient& c) {
  ctl::CtlMessage done;
  ctl::ctl_message_init(done, ctl::CtlType::session_resync);
  done.payload.session_resync.flags = ctl::kResyncDone;
  auto ack = ask(c, done);
  return ack && ack->payload.session_resync_ack.result == static_cast<uint8_t>(ctl::CtlResult::ok);
}

std::optional<ctl::CtlMessage> login_alice(CtlClient& c) {
  ctl::CtlMessage login;
  ctl::ctl_message_init(login, ctl::CtlType::auth_password);
  ctl::ctl_set_string(login.payload.auth_password.user, "alice");
  ctl::ctl_set_string(login.payload.auth_password.password, "pw");
  return ask(c, login);
}

std::optional<ctl::CtlMessage> open_with(CtlClient& c, const std::string& cookie) {
  ctl::CtlMessage open;
  ctl::ctl_message_init(open, ctl::CtlType::session_open);
  ctl::ctl_set_string(open.payload.session_open.cookie, cookie);
  return ask(c, open);
}

/// A config for `instance` in `dir` (users file with alice/pw), metrics on `port`.
void write_config(const std::string& dir, const std::string& instance, uint16_t port) {
  std::ofstream(dir + "/users") << "alice::" << *password_hash("pw", Argon2Params{1024, 1, 1}) << "\n";
  std::ofstream(dir + "/tg.conf")
      << "instance = \"" << instance << "\";\n"
      << "dataplane = { lcores = [1]; ports = ( { name = \"outside\"; role = \"outside\";"
         " device = \"net_null0\"; address = \"192.0.2.1/24\"; } ); };\n"
      << "metrics = { listen = \"127.0.0.1:" << port << "\"; };\n"
      << "admin = { socket = \"" << dir << "/admin.sock\"; };\n"
      << "auth = { methods = [\"password\"]; users_file = \"users\"; };\n"
      << "pools = ( { name = \"clients\"; prefix = \"198.51.100.0/24\"; } );\n"
      << "services = ( { name = \"web\"; subnets = [\"198.18.1.0/24\"]; } );\n";
}

pid_t start_control_plane(const char* bin, const std::string& dir) {
  const pid_t cp = fork();
  if (cp == 0) {
    const std::string conf = dir + "/tg.conf";
    execl(bin, bin, "--config", conf.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return cp;
}

bool has(const std::string& metrics, const std::string& sample) {
  return metrics.find(sample + "\n") != std::string::npos;
}

TEST(ControlPlaneCtlE2E, KilledControlPlaneIsReplacedAndAdoptsTheLiveTunnel) {
  const char* bin = std::getenv("TG_CONTROLPLANE_BIN");
  if (bin == nullptr || access(bin, X_OK) != 0) GTEST_SKIP() << "TG_CONTROLPLANE_BIN not set";
  const std::string dir = testing::TempDir() + "ctl-crash-" + std::to_string(getpid());
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  const std::string instance = "t-crash-" + std::to_string(getpid());
  const uint16_t port = free_port();
  write_config(dir, instance, port);
  dataplane::CtlSegmentOwner owner;
  ASSERT_EQ(owner.create(instance, 1), "");
  CtlClient c(*owner.segment(), {.worker_id = 0});

  // The first control plane: a login and a tunnel.
  pid_t cp = start_control_plane(bin, dir);
  ASSERT_TRUE(wait_for([&] { return c.take_new_control_plane(ctl_monotonic_ns()); }, std::chrono::seconds(10)));
  ASSERT_TRUE(report_done(c));
  auto auth = login_alice(c);
  ASSERT_TRUE(auth);
  const std::string cookie(ctl::ctl_get_string(auth->payload.auth_result.cookie));
  auto params = open_with(c, cookie);
  ASSERT_TRUE(params);
  ASSERT_EQ(params->payload.session_params.result, static_cast<uint8_t>(ctl::CtlResult::ok));
  const uint64_t id = params->header.session_id;
  const ctl::SessionParamsPayload tunnel = params->payload.session_params;

  // SIGKILL: the heartbeat goes stale, requests are refused at once.
  kill(cp, SIGKILL);
  waitpid(cp, nullptr, 0);
  ASSERT_TRUE(wait_for([&] { return !c.control_plane_up(ctl_monotonic_ns()); }, std::chrono::seconds(5)));
  ctl::CtlMessage refused;
  ctl::ctl_message_init(refused, ctl::CtlType::auth_password);
  EXPECT_EQ(c.submit(refused, ctl_monotonic_ns()), CtlClient::Submit::control_plane_down);

  // The second control plane is new to the worker; until it reports, the cookie waits.
  cp = start_control_plane(bin, dir);
  ASSERT_TRUE(wait_for([&] { return c.take_new_control_plane(ctl_monotonic_ns()); }, std::chrono::seconds(10)));
  auto early = open_with(c, cookie);
  ASSERT_TRUE(early);
  EXPECT_EQ(early->payload.session_params.reason, static_cast<uint16_t>(ctl::CtlReason::resync_in_progress));
  ctl::CtlMessage resync;
  ctl::ctl_message_init(resync, ctl::CtlType::session_resync);
  resync.header.session_id = id;
  resync.payload.session_resync.attach_seq = tunnel.attach_seq;
  resync.payload.session_resync.ipv4 = tunnel.ipv4;
  resync.payload.session_resync.expires_ns = ctl_monotonic_ns() + uint64_t{tunnel.lifetime_remaining_s} * 1'000'000'000;
  ctl::ctl_set_string(resync.payload.session_resync.cookie, cookie);
  ctl::ctl_set_string(resync.payload.session_resync.user, ctl::ctl_get_string(tunnel.user));
  ctl::ctl_set_string(resync.payload.session_resync.app, ctl::ctl_get_string(tunnel.app));
  auto ack = ask(c, resync);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->payload.session_resync_ack.result, static_cast<uint8_t>(ctl::CtlResult::ok));
  ASSERT_TRUE(report_done(c));
  std::string metrics = http_get_metrics(port);
  EXPECT_TRUE(has(metrics, "tunnelgate_sessions_adopted_total 1")) << metrics.substr(0, 3000);
  EXPECT_TRUE(has(metrics, "tunnelgate_sessions_connected 1"));
  EXPECT_TRUE(has(metrics, "tunnelgate_pool_addresses_in_use{pool=\"clients\"} 1"));
  EXPECT_TRUE(has(metrics, "tunnelgate_ctl_requests_total{type=\"session_resync\",result=\"ok\"} 2"));

  // A new login gets another address and another id; the adopted tunnel's logout ends it.
  auto other = login_alice(c);
  ASSERT_TRUE(other);
  auto other_params = open_with(c, std::string(ctl::ctl_get_string(other->payload.auth_result.cookie)));
  ASSERT_TRUE(other_params);
  ASSERT_EQ(other_params->payload.session_params.result, static_cast<uint8_t>(ctl::CtlResult::ok));
  EXPECT_NE(other_params->payload.session_params.ipv4, tunnel.ipv4);
  EXPECT_NE(other_params->header.session_id, id);
  ctl::CtlMessage bye;
  ctl::ctl_message_init(bye, ctl::CtlType::session_close);
  bye.header.session_id = id;
  bye.payload.session_close.attach_seq = tunnel.attach_seq;
  bye.payload.session_close.reason = static_cast<uint8_t>(ctl::CtlCloseReason::client_logout);
  auto closed = ask(c, bye);
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->payload.session_close_ack.result, static_cast<uint8_t>(ctl::CtlResult::ok));
  metrics = http_get_metrics(port);
  EXPECT_TRUE(has(metrics, "tunnelgate_sessions_active 1")) << metrics.substr(0, 3000);
  EXPECT_TRUE(has(metrics, "tunnelgate_pool_addresses_in_use{pool=\"clients\"} 1"));

  kill(cp, SIGTERM);
  waitpid(cp, nullptr, 0);
  std::system(("rm -rf " + dir).c_str());
}

TEST(ControlPlaneCtlE2E, LoginConnectLogoutAndMetrics) {
  const char* bin = std::getenv("TG_CONTROLPLANE_BIN");
  if (bin == nullptr || access(bin, X_OK) != 0) GTEST_SKIP() << "TG_CONTROLPLANE_BIN not set";
  const std::string dir = testing::TempDir() + "ctl-e2e-" + std::to_string(getpid());
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  const std::string instance = "t-e2e-" + std::to_string(getpid());
  const uint16_t port = free_port();
  write_config(dir, instance, port);

  dataplane::CtlSegmentOwner owner;  // the dataplane side exists first here
  ASSERT_EQ(owner.create(instance, 1), "");
  const pid_t cp = start_control_plane(bin, dir);
  CtlClient c(*owner.segment(), {.worker_id = 0});
  ASSERT_TRUE(wait_for([&] { return c.control_plane_up(ctl_monotonic_ns()); },
                       std::chrono::seconds(10)));
  ASSERT_TRUE(report_done(c));

  ctl::CtlMessage login;
  ctl::ctl_message_init(login, ctl::CtlType::auth_password);
  ctl::ctl_set_string(login.payload.auth_password.user, "alice");
  ctl::ctl_set_string(login.payload.auth_password.password, "pw");
  auto auth = ask(c, login);
  ASSERT_TRUE(auth);
  ASSERT_EQ(auth->payload.auth_result.result, static_cast<uint8_t>(ctl::CtlResult::ok));
  const std::string cookie(ctl::ctl_get_string(auth->payload.auth_result.cookie));

  ctl::CtlMessage open;
  ctl::ctl_message_init(open, ctl::CtlType::session_open);
  ctl::ctl_set_string(open.payload.session_open.cookie, cookie);
  auto params = ask(c, open);
  ASSERT_TRUE(params);
  ASSERT_EQ(params->payload.session_params.result, static_cast<uint8_t>(ctl::CtlResult::ok));
  EXPECT_EQ(params->payload.session_params.ipv4, 0xc6336402u);  // 198.51.100.2
  ASSERT_EQ(params->payload.session_params.n_routes, 1u);
  EXPECT_EQ(params->payload.session_params.routes[0].network, 0xc6120100u);

  const std::string metrics = http_get_metrics(port);
  EXPECT_NE(metrics.find("tunnelgate_auth_attempts_total{method=\"password\",result=\"ok\"} 1"),
            std::string::npos) << metrics.substr(0, 2000);
  EXPECT_NE(metrics.find("tunnelgate_pool_addresses_in_use{pool=\"clients\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("tunnelgate_ctl_requests_total{type=\"session_open\",result=\"ok\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("tunnelgate_ctl_attached 1"), std::string::npos);

  ctl::CtlMessage bye;
  ctl::ctl_message_init(bye, ctl::CtlType::session_close);
  bye.header.session_id = params->header.session_id;
  bye.payload.session_close.attach_seq = params->payload.session_params.attach_seq;
  bye.payload.session_close.reason = static_cast<uint8_t>(ctl::CtlCloseReason::client_logout);
  auto ack = ask(c, bye);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->payload.session_close_ack.result, static_cast<uint8_t>(ctl::CtlResult::ok));
  EXPECT_NE(http_get_metrics(port).find("tunnelgate_pool_addresses_in_use{pool=\"clients\"} 0"),
            std::string::npos);

  kill(cp, SIGTERM);
  int status = 0;
  waitpid(cp, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(c.control_plane_up(ctl_monotonic_ns()));
  ctl::CtlMessage again = login;
  EXPECT_EQ(c.submit(again, ctl_monotonic_ns()), CtlClient::Submit::control_plane_down);
  std::system(("rm -rf " + dir).c_str());
}

}  // namespace
}  // namespace tg::controlplane
