// The admin socket end to end: the real tunnelgate-controlplane binary (TG_CONTROLPLANE_BIN)
// with this process as its dataplane (CtlSegmentOwner + CtlClient, as ctl_e2e_test), and the
// real tunnelgatectl (TG_TUNNELGATECTL_BIN) as the operator: status, sessions, disconnect
// (the worker receives SESSION_TERMINATE, the cookie and the address are gone), reload (a
// broken users file is reported with file:line and changes nothing; a fixed one takes
// effect), exit codes, socket mode, stale-socket replacement and removal on exit.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "controlplane/password_hash.h"
#include "controlplane/token_sign.h"
#include "dataplane/ctl/ctl_client.h"
#include "dataplane/ctl/ctl_segment_owner.h"

namespace tg::controlplane {
namespace {

using dataplane::CtlClient;
using dataplane::ctl_monotonic_ns;
using nlohmann::json;

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

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

struct Shell {
  int rc = -1;
  std::string out;
};

/// Shell a shell command line; its exit code and stdout+stderr.
Shell sh(const std::string& cmd) {
  Shell r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

/// One raw request line over the socket; the answer line ("" when none).
std::string raw_request(const std::string& path, const std::string& bytes) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

class AdminE2E : public testing::Test {
 protected:
  void SetUp() override {
    const char* cp = std::getenv("TG_CONTROLPLANE_BIN");
    const char* ctl = std::getenv("TG_TUNNELGATECTL_BIN");
    if (cp == nullptr || ctl == nullptr || access(cp, X_OK) != 0 || access(ctl, X_OK) != 0) {
      GTEST_SKIP() << "TG_CONTROLPLANE_BIN / TG_TUNNELGATECTL_BIN not set";
    }
    cp_bin_ = cp;
    ctl_bin_ = ctl;
    dir_ = testing::TempDir() + "admin-e2e-" + std::to_string(getpid());
    ASSERT_EQ(std::system(("rm -rf " + dir_ + " && mkdir -p " + dir_).c_str()), 0);
    instance_ = "t-adm-" + std::to_string(getpid());
    socket_ = dir_ + "/admin.sock";
    write_jwks(1);
    write_users("alice::" + *password_hash("pw", Argon2Params{1024, 1, 1}) + "\n" +
                "bob::" + *password_hash("bobpw", Argon2Params{1024, 1, 1}) + "\n");
    std::ofstream(dir_ + "/tg.conf")
        << "instance = \"" << instance_ << "\";\n"
        << "dataplane = { lcores = [1]; ports = ( { name = \"outside\"; role = \"outside\";"
           " device = \"net_null0\"; address = \"192.0.2.1/24\"; } ); };\n"
        << "metrics = { listen = \"127.0.0.1:" << free_port() << "\"; };\n"
        << "admin = { socket = \"" << socket_ << "\"; };\n"
        << "auth = { methods = [\"password\", \"token\"]; users_file = \"users\"; jwks = \"keys.jwks\"; };\n"
        << "pools = ( { name = \"clients\"; prefix = \"198.51.100.0/24\"; } );\n"
        << "services = ( { name = \"web\"; subnets = [\"198.18.1.0/24\"]; } );\n";
  }
  void TearDown() override {
    stop();
    if (!dir_.empty() && !std::getenv("TG_KEEP_TEST_DIR")) std::system(("rm -rf " + dir_).c_str());
  }

  /// A JWKS with `n` fresh ES256 keys (kid k0, k1, ...), through a rename like write_users.
  void write_jwks(int n) {
    std::string jwks;
    for (int i = 0; i < n; i++) {
      const Expected<SigningKey> key = signing_key_generate(JwsAlg::es256);
      ASSERT_TRUE(key);
      const Expected<Jwk> pub = signing_key_public(*key, "k" + std::to_string(i));
      ASSERT_TRUE(pub);
      jwks = *jwks_upsert(jwks, *pub);
    }
    write_file("keys.jwks", jwks);
  }
  void write_file(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name + ".tmp") << text;
    std::rename((dir_ + "/" + name + ".tmp").c_str(), (dir_ + "/" + name).c_str());
  }
  void write_users(const std::string& text) {
    // Through a rename, like tunnelgatectl: the reader never sees half a file.
    std::ofstream(dir_ + "/users.tmp") << text;
    std::rename((dir_ + "/users.tmp").c_str(), (dir_ + "/users").c_str());
  }
  void start() {
    cp_pid_ = fork();
    if (cp_pid_ == 0) {
      const std::string conf = dir_ + "/tg.conf";
      const std::string log = dir_ + "/cp.log";
      (void)!freopen(log.c_str(), "w", stderr);
      execl(cp_bin_.c_str(), cp_bin_.c_str(), "--config", conf.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  int stop() {
    if (cp_pid_ <= 0) return -1;
    kill(cp_pid_, SIGTERM);
    int status = 0;
    waitpid(cp_pid_, &status, 0);
    cp_pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  Shell ctl(const std::string& args) { return sh(ctl_bin_ + " " + args); }

  /// Log in and open a tunnel on worker 0; the SESSION_PARAMS answer.
  std::optional<ctl::CtlMessage> connect(CtlClient& c, const char* user, const char* pw,
                                         std::string* cookie_out = nullptr) {
    ctl::CtlMessage login;
    ctl::ctl_message_init(login, ctl::CtlType::auth_password);
    ctl::ctl_set_string(login.payload.auth_password.user, user);
    ctl::ctl_set_string(login.payload.auth_password.password, pw);
    auto auth = ask(c, login);
    if (!auth || auth->payload.auth_result.result != static_cast<uint8_t>(ctl::CtlResult::ok)) {
      return std::nullopt;
    }
    const std::string cookie(ctl::ctl_get_string(auth->payload.auth_result.cookie));
    if (cookie_out != nullptr) *cookie_out = cookie;
    return open(c, cookie);
  }
  std::optional<ctl::CtlMessage> open(CtlClient& c, const std::string& cookie) {
    ctl::CtlMessage m;
    ctl::ctl_message_init(m, ctl::CtlType::session_open);
    ctl::ctl_set_string(m.payload.session_open.cookie, cookie);
    m.payload.session_open.client.family = 4;
    m.payload.session_open.client.port = 40000;
    const uint8_t addr[4] = {203, 0, 113, 7};
    std::copy(addr, addr + 4, m.payload.session_open.client.bytes);
    return ask(c, m);
  }
  /// Submit and wait for the answer; unsolicited messages go to `unsolicited_`.
  std::optional<ctl::CtlMessage> ask(CtlClient& c, ctl::CtlMessage& m) {
    if (c.submit(m, ctl_monotonic_ns()) != CtlClient::Submit::ok) return std::nullopt;
    std::optional<ctl::CtlMessage> answer;
    wait_for([&] {
      drain(c, &answer, m.header.request_id);
      return answer.has_value();
    }, std::chrono::seconds(5));
    return answer;
  }
  void drain(CtlClient& c, std::optional<ctl::CtlMessage>* answer = nullptr, uint64_t id = 0) {
    c.poll([&](const ctl::CtlMessage& r) {
      if (r.header.request_id == 0) unsolicited_.push_back(r);
      else if (answer != nullptr && r.header.request_id == id) *answer = r;
    });
  }

  std::string cp_bin_, ctl_bin_, dir_, instance_, socket_;
  pid_t cp_pid_ = -1;
  std::vector<ctl::CtlMessage> unsolicited_;
};

TEST_F(AdminE2E, StatusSessionsDisconnectReload) {
  dataplane::CtlSegmentOwner owner;
  ASSERT_EQ(owner.create(instance_, 1), "");
  // A stale socket file (a control plane killed with SIGKILL) is replaced.
  {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", socket_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(fd);
  }
  start();
  CtlClient c(*owner.segment(), {.worker_id = 0});
  ASSERT_TRUE(wait_for([&] { return c.control_plane_up(ctl_monotonic_ns()); },
                       std::chrono::seconds(10)));
  // As a worker does for a control plane it has not served: report its tunnels (none), or
  // CONNECTs wait for the resync (docs/auth.md, "Control-plane crash and resync").
  ctl::CtlMessage done;
  ctl::ctl_message_init(done, ctl::CtlType::session_resync);
  done.payload.session_resync.flags = ctl::kResyncDone;
  ASSERT_TRUE(ask(c, done));
  ASSERT_TRUE(wait_for([&] { return ctl("status --socket " + socket_).rc == 0; },
                       std::chrono::seconds(5)));
  struct stat st{};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);

  std::string alice_cookie;
  auto a1 = connect(c, "alice", "pw", &alice_cookie);
  auto a2 = connect(c, "alice", "pw");
  auto b1 = connect(c, "bob", "bobpw");
  ASSERT_TRUE(a1 && a2 && b1);

  // status: human and JSON.
  Shell r = ctl("status --socket " + socket_);
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("instance     " + instance_), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 (3 connected, 0 detached)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("clients: 3 of"), std::string::npos) << r.out;
  r = ctl("status --json --socket " + socket_);
  ASSERT_EQ(r.rc, 0) << r.out;
  json j = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["instance"], instance_);
  EXPECT_EQ(j["sessions"]["total"], 3);
  EXPECT_EQ(j["dataplane"]["ctl_attached"], true);
  EXPECT_EQ(j["pools"][0]["in_use"], 3);

  // sessions: all, filtered, JSON shape.
  r = ctl("sessions --socket " + socket_);
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("203.0.113.7:40000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("connected"), std::string::npos) << r.out;
  r = ctl("sessions --json --user alice --socket " + socket_);
  ASSERT_EQ(r.rc, 0) << r.out;
  j = json::parse(r.out, nullptr, false);
  ASSERT_EQ(j["sessions"].size(), 2u) << r.out;
  for (const json& s : j["sessions"]) {
    EXPECT_EQ(s["user"], "alice");
    EXPECT_EQ(s["state"], "connected");
    EXPECT_EQ(s["client"], "203.0.113.7:40000");
    EXPECT_EQ(s["id"].get<std::string>().size(), 16u);
    EXPECT_TRUE(s["since"].is_number_integer());
  }

  // disconnect ID: the worker is told, the cookie is dead, the address is free.
  char id_text[17];
  std::snprintf(id_text, sizeof id_text, "%016llx",
                static_cast<unsigned long long>(a1->header.session_id));
  r = ctl(std::string("disconnect ") + id_text + " --socket " + socket_);
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("disconnected 1 session(s) " + std::string(id_text)), std::string::npos) << r.out;
  ASSERT_TRUE(wait_for([&] { drain(c); return !unsolicited_.empty(); }, std::chrono::seconds(5)));
  const ctl::CtlMessage& t = unsolicited_.front();
  EXPECT_EQ(t.header.type, static_cast<uint16_t>(ctl::CtlType::session_terminate));
  EXPECT_EQ(t.header.session_id, a1->header.session_id);
  EXPECT_EQ(t.payload.session_terminate.attach_seq, a1->payload.session_params.attach_seq);
  EXPECT_EQ(t.payload.session_terminate.reason, static_cast<uint8_t>(ctl::CtlCloseReason::admin));
  auto reopen = open(c, alice_cookie);
  ASSERT_TRUE(reopen);
  EXPECT_EQ(reopen->payload.session_params.reason, static_cast<uint16_t>(ctl::CtlReason::cookie_invalid));
  j = json::parse(ctl("status --json --socket " + socket_).out, nullptr, false);
  EXPECT_EQ(j["pools"][0]["in_use"], 2);

  // The same id again, and an unknown user: not found, exit 1.
  r = ctl(std::string("disconnect ") + id_text + " --socket " + socket_);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("not_found"), std::string::npos) << r.out;
  EXPECT_EQ(ctl("disconnect --user nobody --socket " + socket_).rc, 1);

  // disconnect --user: every session of the user.
  unsolicited_.clear();
  r = ctl("disconnect --user alice --json --socket " + socket_);
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(json::parse(r.out, nullptr, false)["disconnected"], 1);
  j = json::parse(ctl("sessions --json --socket " + socket_).out, nullptr, false);
  ASSERT_EQ(j["sessions"].size(), 1u);
  EXPECT_EQ(j["sessions"][0]["user"], "bob");

  // reload: a broken users file is reported with file:line and changes nothing.
  write_users("bob::" + *password_hash("newpw", Argon2Params{1024, 1, 1}) + "\nthis is not a user line\n");
  r = ctl("reload --socket " + socket_);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find(dir_ + "/users:2:"), std::string::npos) << r.out;
  EXPECT_TRUE(connect(c, "bob", "bobpw").has_value());
  // Fixed: the new password works, the old one no longer does.
  write_users("bob::" + *password_hash("newpw", Argon2Params{1024, 1, 1}) + "\n");
  r = ctl("reload --socket " + socket_);
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("1 users"), std::string::npos) << r.out;
  EXPECT_FALSE(connect(c, "bob", "bobpw").has_value());
  EXPECT_TRUE(connect(c, "bob", "newpw").has_value());
  EXPECT_NE(r.out.find("jwks: " + dir_ + "/keys.jwks: unchanged"), std::string::npos) << r.out;

  // reload re-reads the token keys too: a broken JWKS is refused (exit 1, the previous
  // keys stay), a good new one is loaded.
  write_file("keys.jwks", "{\"keys\":[");
  r = ctl("reload --socket " + socket_);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("jwks: " + dir_ + "/keys.jwks: not valid JSON (the previous version stays in force)"),
            std::string::npos) << r.out;
  write_jwks(2);
  r = ctl("reload --json --socket " + socket_);
  EXPECT_EQ(r.rc, 0) << r.out;
  j = json::parse(r.out, nullptr, false);
  bool jwks_reloaded = false;
  for (const json& e : j["reloaded"])
    if (e["what"] == "jwks" && e["changed"] == true && !e.contains("error")) jwks_reloaded = true;
  EXPECT_TRUE(jwks_reloaded) << r.out;

  // Malformed requests get a JSON error, and the server keeps serving.
  const std::string bad_requests[] = {"nonsense\n", "{\"command\":\"explode\"}\n",
                                      std::string(8000, 'x')};
  for (const std::string& bad : bad_requests) {
    const json e = json::parse(raw_request(socket_, bad), nullptr, false);
    ASSERT_FALSE(e.is_discarded()) << bad.substr(0, 40);
    EXPECT_EQ(e["ok"], false);
    EXPECT_EQ(e["error"], "bad_request");
  }
  EXPECT_EQ(ctl("status --socket " + socket_).rc, 0);

  // A second control plane for the same socket refuses to start and leaves it alone.
  // (Its own instance and metrics port, so the admin socket is the only conflict.)
  std::ofstream(dir_ + "/tg2.conf")
      << "instance = \"" << instance_ << "b\";\n"
      << "dataplane = { lcores = [1]; ports = ( { name = \"outside\"; role = \"outside\";"
         " device = \"net_null0\"; address = \"192.0.2.1/24\"; } ); };\n"
      << "metrics = { listen = \"127.0.0.1:" << free_port() << "\"; };\n"
      << "admin = { socket = \"" << socket_ << "\"; };\n"
      << "auth = { methods = [\"password\"]; users_file = \"users\"; };\n";
  Shell second = sh(cp_bin_ + " --config " + dir_ + "/tg2.conf");
  EXPECT_EQ(second.rc, 1) << second.out;
  EXPECT_NE(second.out.find("another process is serving"), std::string::npos) << second.out;
  EXPECT_EQ(ctl("status --socket " + socket_).rc, 0);

  EXPECT_EQ(stop(), 0);
  EXPECT_NE(::access(socket_.c_str(), F_OK), 0) << "socket file left behind";
  EXPECT_EQ(ctl("status --socket " + socket_).rc, 3);
}

TEST_F(AdminE2E, UsageAndConnectErrors) {
  EXPECT_EQ(ctl("status --help").rc, 0);
  for (const char* cmd : {"status", "sessions", "disconnect", "reload"}) {
    const Shell h = ctl(std::string(cmd) + " --help");
    EXPECT_EQ(h.rc, 0) << cmd;
    EXPECT_NE(h.out.find("Exit status"), std::string::npos) << cmd;
  }
  EXPECT_EQ(ctl("status --bogus").rc, 2);
  EXPECT_EQ(ctl("status extra").rc, 2);
  EXPECT_EQ(ctl("status --user x").rc, 2);
  EXPECT_EQ(ctl("disconnect").rc, 2);
  EXPECT_EQ(ctl("disconnect 1 --user x").rc, 2);
  EXPECT_EQ(ctl("disconnect not-hex --socket /nonexistent").rc, 2);
  EXPECT_EQ(ctl("status --socket /nonexistent/x.sock").rc, 3);
  const Shell via_config = ctl("sessions --config " + dir_ + "/tg.conf");
  EXPECT_EQ(via_config.rc, 3) << via_config.out;  // not running: the socket from the config
  EXPECT_NE(via_config.out.find(socket_), std::string::npos) << via_config.out;
}

}  // namespace
}  // namespace tg::controlplane
