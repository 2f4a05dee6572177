// The admin socket server (controlplane/admin_server.h) in this process with small limits:
// socket mode, refusing a non-socket file, replacing a stale socket, the request line handed
// to the handler, the too-many-clients and slow-client limits, removal on stop.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "controlplane/admin_server.h"

namespace tg::controlplane {
namespace {

int connect_to(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Everything the server sends until it closes (or 3 s pass).
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 3000) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string talk(const std::string& path, const std::string& bytes) {
  const int fd = connect_to(path);
  if (fd < 0) return "(no connection)";
  (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  std::string out = read_all(fd);
  ::close(fd);
  return out;
}

class AdminServerTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "admin-server-" + std::to_string(getpid());
    ASSERT_EQ(std::system(("rm -rf " + dir_ + " && mkdir -p " + dir_).c_str()), 0);
    path_ = dir_ + "/sub/a.sock";  // the missing parent is created
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::unique_ptr<AdminServer> make(size_t max_clients = 8, int timeout_ms = 5000) {
    auto s = AdminServer::create(
        {.socket_path = path_, .group = "", .max_clients = max_clients,
         .client_timeout = std::chrono::milliseconds(timeout_ms)},
        [this](std::string_view line, std::string_view) {
          lines_.emplace_back(line);
          return "{\"ok\":true,\"echo\":" + std::to_string(line.size()) + "}\n";
        });
    EXPECT_TRUE(s) << (s ? "" : s.error().message);
    return s ? std::move(*s) : nullptr;
  }

  std::string dir_, path_;
  std::vector<std::string> lines_;
};

TEST_F(AdminServerTest, ServesOneLineModeAndRemoval) {
  auto s = make();
  ASSERT_TRUE(s);
  struct stat st{};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  s->start();
  EXPECT_EQ(talk(path_, "{\"command\":\"status\"}\nignored after the line"), "{\"ok\":true,\"echo\":20}\n");
  EXPECT_EQ(talk(path_, "no newline, then EOF"), "{\"ok\":true,\"echo\":20}\n");
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_EQ(lines_[0], "{\"command\":\"status\"}");
  // Too long: answered without calling the handler.
  const std::string answer = talk(path_, std::string(10000, 'x'));
  EXPECT_NE(answer.find("\"error\":\"bad_request\""), std::string::npos) << answer;
  EXPECT_EQ(lines_.size(), 2u);
  s->stop();
  EXPECT_NE(::access(path_.c_str(), F_OK), 0);
}

TEST_F(AdminServerTest, TooManyClientsAndSlowClients) {
  auto s = make(2, 300);
  ASSERT_TRUE(s);
  s->start();
  const int a = connect_to(path_);
  const int b = connect_to(path_);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  ::usleep(100'000);  // both accepted
  EXPECT_NE(talk(path_, "{}\n").find("\"error\":\"busy\""), std::string::npos);
  // The two silent clients are dropped after the timeout, then there is room again.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(read_all(a), "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  ::close(a);
  ::close(b);
  ::usleep(300'000);
  EXPECT_EQ(talk(path_, "x\n"), "{\"ok\":true,\"echo\":1}\n");
}

TEST_F(AdminServerTest, StaleSocketReplacedNonSocketRefused) {
  {
    auto first = make();
    ASSERT_TRUE(first);
    // A live server's socket is not taken over.
    auto second = AdminServer::create({.socket_path = path_, .group = ""}, nullptr);
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().message.find("another process is serving"), std::string::npos);
  }
  // A stale socket file (bound, nobody listening) is replaced.
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::close(fd);
  EXPECT_TRUE(make());
  // A regular file is never removed.
  std::ofstream(path_) << "precious";
  auto refused = AdminServer::create({.socket_path = path_, .group = ""}, nullptr);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("not a socket"), std::string::npos);
  EXPECT_EQ(::access(path_.c_str(), F_OK), 0);
  // An unknown group is an error that names it.
  ::unlink(path_.c_str());
  auto nogroup = AdminServer::create({.socket_path = path_, .group = "no-such-group-tg"}, nullptr);
  ASSERT_FALSE(nogroup);
  EXPECT_NE(nogroup.error().message.find("no-such-group-tg"), std::string::npos);
}

}  // namespace
}  // namespace tg::controlplane
