// End-to-end tests of the tunnelgate-controlplane binary (TG_CONTROLPLANE_BIN, set by meson):
// command line, --check-config, and /metrics served on 127.0.0.1 at a free port, scraped
// over a plain socket while a synthetic stats segment appears. Every process started here
// is stopped by its pid; every shm object and temp file is removed.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/stats_segment_reader.h"
#include "tests/controlplane/segment_builder.h"

extern char** environ;

namespace tg::controlplane {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string binary() {
  const char* b = std::getenv("TG_CONTROLPLANE_BIN");
  return b != nullptr ? b : "";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// A temporary directory, removed with its files on destruction.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tg-cp-e2e-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) {
      path_ = tmpl;
    }
  }
  ~TempDir() {
    for (const std::string& f : files_) {
      ::unlink(f.c_str());
    }
    if (!path_.empty()) {
      ::rmdir(path_.c_str());
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// Path of `name` in the directory (registered for removal).
  std::string file(const std::string& name) {
    files_.push_back(path_ + "/" + name);
    return files_.back();
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string p = file(name);
    std::ofstream(p) << text;
    return p;
  }
  bool ok() const { return !path_.empty(); }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

/// A child process with stdout and stderr in files. The destructor SIGKILLs it by pid if it
/// is still running, and reaps it.
class Child {
 public:
  Child(TempDir& dir, const std::vector<std::string>& args)
      : out_(dir.file("stdout-" + std::to_string(++counter_))),
        err_(dir.file("stderr-" + std::to_string(counter_))) {
    std::vector<std::string> all = {binary()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (::posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Child() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  bool running() const { return pid_ > 0 && !status_; }
  pid_t pid() const { return pid_; }

  /// Exit code after waiting at most `timeout`; nullopt if still running (or killed by a
  /// signal: then -signal).
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (running()) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
        break;
      }
      if (Clock::now() > deadline) {
        return std::nullopt;
      }
      std::this_thread::sleep_for(10ms);
    }
    return status_;
  }
  std::string out() const { return read_file(out_); }
  std::string err() const { return read_file(err_); }

 private:
  static inline int counter_ = 0;
  std::string out_;
  std::string err_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// A port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

/// GET `path` from 127.0.0.1:port (HTTP/1.0, so no chunking). The whole response, or
/// nullopt if the connection failed.
std::optional<std::string> http_get(uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return std::nullopt;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string resp;
  char buf[8192];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return resp;
}

/// Scrape /metrics until it answers (the server is starting) or `timeout` passes.
std::optional<std::string> scrape_when_ready(Child& child, uint16_t port,
                                             std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline && child.running()) {
    if (std::optional<std::string> r = http_get(port, "/metrics");
        r && r->find("\r\n\r\n") != std::string::npos) {
      return r;
    }
    child.wait(20ms);
  }
  return std::nullopt;
}

/// The child's stderr once it holds `text`, or as it is after `timeout` (it logs a line
/// after its servers start: a scrape can be answered before the line is written).
std::string err_when_it_has(Child& child, const std::string& text, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  std::string err = child.err();
  while (err.find(text) == std::string::npos && Clock::now() < deadline && child.running()) {
    child.wait(20ms);
    err = child.err();
  }
  return err;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

std::string minimal_config(const std::string& instance, uint16_t port) {
  return "instance = \"" + instance + "\";\n"
         "dataplane = {\n"
         "  lcores = [1];\n"
         "  ports = ( { name = \"outside\"; role = \"outside\"; device = \"net_null0\";\n"
         "              address = \"192.0.2.1/24\"; } );\n"
         "};\n"
         "metrics = { listen = \"127.0.0.1:" + std::to_string(port) + "\"; };\n"
         // Not the default under /run: a test process killed hard leaves no file there.
         "admin = { socket = \"/tmp/" + instance + ".admin.sock\"; };\n";
}

class ControlplaneE2e : public testing::Test {
 protected:
  void SetUp() override {
    if (binary().empty() || ::access(binary().c_str(), X_OK) != 0) {
      GTEST_SKIP() << "TG_CONTROLPLANE_BIN not set or not executable (run through meson test)";
    }
    ASSERT_TRUE(dir_.ok());
  }
  TempDir dir_;
};

// ---------------------------------------------------------------- command line

TEST_F(ControlplaneE2e, BadCommandLineExits2WithUsage) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{}, {"--bogus"}, {"--config"}, {"--config", "a", "b"}}) {
    Child c(dir_, args);
    ASSERT_TRUE(c.started());
    EXPECT_EQ(c.wait(10s), 2);
    EXPECT_NE(c.err().find("Usage:"), std::string::npos) << c.err();
  }
}

TEST_F(ControlplaneE2e, HelpAndVersion) {
  Child help(dir_, {"--help"});
  EXPECT_EQ(help.wait(10s), 0);
  EXPECT_NE(help.out().find("--check-config FILE"), std::string::npos);
  Child version(dir_, {"--version"});
  EXPECT_EQ(version.wait(10s), 0);
  EXPECT_EQ(version.out().rfind("tunnelgate-controlplane ", 0), 0u) << version.out();
}

// ---------------------------------------------------------------- --check-config

TEST_F(ControlplaneE2e, CheckConfigRejectsAnInvalidFileWithEveryError) {
  const std::string path =
      dir_.write("bad.conf",
                 "instance = \"BAD NAME\";\n"
                 "dataplane = { lcores = [1]; ports = (); };\n"
                 "metrics = { listen = \"127.0.0.1:1\"; };\n");
  Child c(dir_, {"--check-config", path});
  EXPECT_EQ(c.wait(10s), 1);
  EXPECT_EQ(c.out(), "");
  const std::string err = c.err();
  // Errors name file:line (the exact wording is the config loader's).
  EXPECT_NE(err.find(path + ":1:"), std::string::npos) << err;
  EXPECT_NE(err.find(path + ":2:"), std::string::npos) << err;
}

TEST_F(ControlplaneE2e, CheckConfigOfAMissingFileFails) {
  Child c(dir_, {"--check-config", "/nonexistent/tunnelgate.conf"});
  EXPECT_EQ(c.wait(10s), 1);
  EXPECT_NE(c.err().find("/nonexistent/tunnelgate.conf"), std::string::npos) << c.err();
}

TEST_F(ControlplaneE2e, CheckConfigAcceptsAMinimalFile) {
  const std::string path = dir_.write("ok.conf", minimal_config("tg0", 9810));
  Child c(dir_, {"--check-config", path});
  EXPECT_EQ(c.wait(10s), 0) << c.err();
  EXPECT_EQ(c.out(), path + ": OK\n");
}

TEST_F(ControlplaneE2e, RunWithAnInvalidFileExits1) {
  const std::string path = dir_.write("bad.conf", "dataplane = {};\n");
  Child c(dir_, {"--config", path});
  EXPECT_EQ(c.wait(10s), 1);
  EXPECT_NE(c.err().find(path + ":"), std::string::npos) << c.err();
}

// ---------------------------------------------------------------- serving /metrics

TEST_F(ControlplaneE2e, ServesMetricsAndFollowsTheSegment) {
  const std::string instance = test::unique_instance("e2e");
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  const std::string path = dir_.write("run.conf", minimal_config(instance, port));
  Child c(dir_, {"--config", path});
  ASSERT_TRUE(c.started());

  // No segment yet: the dataplane is down, and that is not an error.
  std::optional<std::string> first = scrape_when_ready(c, port);
  ASSERT_TRUE(first.has_value()) << "no answer on port " << port << "; stderr:\n" << c.err();
  EXPECT_EQ(first->rfind("HTTP/1.", 0), 0u);
  EXPECT_NE(first->find(" 200 "), std::string::npos) << first->substr(0, 200);
  EXPECT_TRUE(has_line(*first, "tunnelgate_dataplane_up 0")) << *first;
  EXPECT_TRUE(has_line(*first, "tunnelgate_build_info{version=\"" TG_TEST_VERSION "\"} 1"))
      << *first;
  EXPECT_TRUE(has_line(*first, "tunnelgate_stats_segment_errors_total{error=\"bad_magic\"} 0"));
  EXPECT_EQ(first->find("tunnelgate_port_info"), std::string::npos);

  // The listening line names the URL and the instance (written after the servers start,
  // so it may come a moment after the first scrape was answered).
  const std::string listening = "level=info msg=\"listening\" metrics=http://127.0.0.1:" +
                                std::to_string(port) + "/metrics instance=" + instance;
  const std::string log = err_when_it_has(c, listening);
  EXPECT_NE(log.find(listening), std::string::npos) << log;

  // The dataplane starts: its segment appears and the next scrape shows it.
  {
    auto seg = test::make_segment(realtime_now_ns(), instance);
    test::ShmObject obj(instance, seg.get());
    ASSERT_TRUE(obj.ok());
    std::optional<std::string> second = http_get(port, "/metrics");
    ASSERT_TRUE(second.has_value());
    EXPECT_TRUE(has_line(*second, "tunnelgate_dataplane_up 1")) << *second;
    EXPECT_TRUE(has_line(*second,
                         "tunnelgate_port_receive_packets_total{port=\"outside\",lcore=\"1\"} " +
                             std::to_string(test::rx_packets(0, 0))))
        << *second;
    EXPECT_TRUE(has_line(*second,
                         "tunnelgate_port_transmit_bytes_total{port=\"inside\",lcore=\"2\"} " +
                             std::to_string(test::tx_bytes(1, 1))))
        << *second;
    const unsigned no_route = static_cast<unsigned>(shm::DropReason::no_route);
    EXPECT_TRUE(has_line(*second,
                         "tunnelgate_dataplane_drops_total{reason=\"no_route\",lcore=\"2\"} " +
                             std::to_string(test::drops(1, no_route))))
        << *second;
    EXPECT_TRUE(has_line(*second, "tunnelgate_port_info{port=\"outside\",role=\"outside\","
                                  "mac=\"02:00:00:00:00:01\"} 1"));
  }

  // The segment is gone again (dataplane stopped and cleaned up): down, no error.
  std::optional<std::string> third = http_get(port, "/metrics");
  ASSERT_TRUE(third.has_value());
  EXPECT_TRUE(has_line(*third, "tunnelgate_dataplane_up 0"));

  // A corrupt segment is counted by reason.
  {
    auto seg = test::make_segment(realtime_now_ns(), instance);
    seg->n_ports = 1000;
    test::ShmObject obj(instance, seg.get());
    ASSERT_TRUE(obj.ok());
    std::optional<std::string> fourth = http_get(port, "/metrics");
    ASSERT_TRUE(fourth.has_value());
    EXPECT_TRUE(has_line(*fourth, "tunnelgate_dataplane_up 0"));
    EXPECT_TRUE(has_line(*fourth,
                         "tunnelgate_stats_segment_errors_total{error=\"too_many_ports\"} 1"))
        << *fourth;
  }

  ASSERT_EQ(::kill(c.pid(), SIGTERM), 0);
  EXPECT_EQ(c.wait(10s), 0) << c.err();
  EXPECT_NE(c.err().find("msg=\"stopping\" signal=SIGTERM"), std::string::npos) << c.err();
}

TEST_F(ControlplaneE2e, SigintStopsItCleanly) {
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  const std::string path =
      dir_.write("int.conf", minimal_config(test::unique_instance("sigint"), port));
  Child c(dir_, {"--config", path});
  ASSERT_TRUE(scrape_when_ready(c, port).has_value()) << c.err();
  ASSERT_EQ(::kill(c.pid(), SIGINT), 0);
  EXPECT_EQ(c.wait(10s), 0) << c.err();
}

TEST_F(ControlplaneE2e, PortInUseIsAClearErrorAndExit1) {
  // Hold a listening socket on a port; the control plane must fail to bind it.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const uint16_t port = ntohs(a.sin_port);

  const std::string path =
      dir_.write("busy.conf", minimal_config(test::unique_instance("busy"), port));
  Child c(dir_, {"--config", path});
  const std::optional<int> code = c.wait(10s);
  ::close(fd);
  EXPECT_EQ(code, 1) << c.err();
  const std::string err = c.err();
  EXPECT_NE(err.find("level=error msg=\"cannot listen for /metrics"), std::string::npos) << err;
  EXPECT_NE(err.find("listen=127.0.0.1:" + std::to_string(port)), std::string::npos) << err;
}

}  // namespace
}  // namespace tg::controlplane
