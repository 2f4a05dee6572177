// Control plane: the admin socket server thread. See admin_server.h.
#include "controlplane/admin_server.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "controlplane/admin_protocol.h"
#include "controlplane/ctl_segment_mapping.h"
#include "controlplane/log.h"

namespace tg::controlplane {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

Expected<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path) {
    return make_error(ENAMETOOLONG, path + ": not a usable Unix socket path (1-107 bytes)");
  }
  std::memcpy(a.sun_path, path.data(), path.size());
  return a;
}

/// True when something accepts connections on `a` (a live control plane).
bool someone_listens(const sockaddr_un& a) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return live;
}

/// Create the socket's directory (one level, mode 0750) when it is missing: /run is a tmpfs.
Status ensure_parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return Ok{};
  const std::string dir = path.substr(0, slash);
  struct stat st{};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Ok{};
    return make_error(ENOTDIR, dir + ": not a directory");
  }
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    const int err = errno;
    return make_error(err, dir + ": cannot create: " + errno_text(err));
  }
  return Ok{};
}

std::string peer_text(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return "unknown";
  return "uid=" + std::to_string(cred.uid) + ",pid=" + std::to_string(cred.pid);
}

/// One connection: what it sent, what it is still owed, when it must be done.
struct Client {
  int fd = -1;
  std::string in;
  std::string out;
  size_t out_sent = 0;
  bool answered = false;  ///< `out` holds the whole answer; close once it is sent
  uint64_t deadline_ns = 0;
  std::string peer;
};

}  // namespace

AdminServer::AdminServer(Options options, Handler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

Expected<std::unique_ptr<AdminServer>> AdminServer::create(Options options, Handler handler) {
  std::unique_ptr<AdminServer> s(new AdminServer(std::move(options), std::move(handler)));
  const std::string& path = s->options_.socket_path;
  auto addr = unix_address(path);
  if (!addr) return addr.error();
  if (auto st = ensure_parent_dir(path); !st) return st.error();

  gid_t gid = static_cast<gid_t>(-1);
  if (!s->options_.group.empty()) {
    std::vector<char> buf(16384);
    group gr{};
    group* found = nullptr;
    const int err = ::getgrnam_r(s->options_.group.c_str(), &gr, buf.data(), buf.size(), &found);
    if (found == nullptr) {
      return make_error(err != 0 ? err : ENOENT,
                        "admin.group '" + s->options_.group + "': no such group" +
                            (err != 0 ? " (" + errno_text(err) + ")" : ""));
    }
    gid = gr.gr_gid;
  }

  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return make_error(EEXIST, path + ": exists and is not a socket (not replaced)");
    }
    if (someone_listens(*addr)) {
      return make_error(EADDRINUSE, path + ": another process is serving this admin socket "
                                           "(a second control plane for this instance?)");
    }
    ::unlink(path.c_str());  // stale: its control plane died without removing it
  }

  s->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0) {
    const int err = errno;
    return make_error(err, "admin socket: " + errno_text(err));
  }
  // The file is created by bind() with the umask applied: a tight umask closes the window in
  // which the socket would be reachable before the chmod (umask is per process, but nothing
  // else creates files while the control plane starts).
  const mode_t old_umask = ::umask(0177);
  const int bound = ::bind(s->listen_fd_, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  const int bind_err = errno;
  ::umask(old_umask);
  if (bound != 0) return make_error(bind_err, path + ": cannot bind: " + errno_text(bind_err));
  if (::chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0 || ::chmod(path.c_str(), 0660) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return make_error(err, path + ": cannot set owner/mode: " + errno_text(err));
  }
  if (::lstat(path.c_str(), &st) == 0) {
    s->bound_dev_ = st.st_dev;
    s->bound_ino_ = st.st_ino;
  }
  if (::listen(s->listen_fd_, 16) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return make_error(err, path + ": cannot listen: " + errno_text(err));
  }
  s->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->wake_fd_ < 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return make_error(err, "admin socket: eventfd: " + errno_text(err));
  }
  return s;
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start() { thread_ = std::thread([this] { run(); }); }

void AdminServer::stop() {
  stop_.store(true, std::memory_order_relaxed);
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) {
    // Remove the file only if it is still ours (not a successor's after a fast restart).
    struct stat st{};
    if (::lstat(options_.socket_path.c_str(), &st) == 0 && st.st_dev == bound_dev_ &&
        st.st_ino == bound_ino_) {
      ::unlink(options_.socket_path.c_str());
    }
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
    wake_fd_ = -1;
  }
}

void AdminServer::run() {
  std::vector<Client> clients;
  std::vector<pollfd> fds;
  const uint64_t timeout_ns = static_cast<uint64_t>(options_.client_timeout.count()) * 1'000'000;
  auto close_client = [](Client& c) {
    ::close(c.fd);
    c.fd = -1;
  };
  while (!stop_.load(std::memory_order_relaxed)) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const Client& c : clients) {
      fds.push_back({c.fd, static_cast<short>(c.answered ? POLLOUT : POLLIN), 0});
    }
    // Wake at least every 200 ms to expire slow clients.
    const int n = ::poll(fds.data(), fds.size(), 200);
    if (n < 0 && errno != EINTR) {
      log_line("error", "admin socket poll failed", {{"error", errno_text(errno)}});
      break;
    }
    const uint64_t now = monotonic_now_ns();
    for (size_t i = 0; i < clients.size(); ++i) {
      Client& c = clients[i];
      const short re = fds[i + 2].revents;
      if (!c.answered && (re & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char buf[1024];
        const ssize_t got = ::recv(c.fd, buf, sizeof buf, 0);
        const bool retry = got < 0 && (errno == EAGAIN || errno == EINTR);
        if (got > 0) c.in.append(buf, static_cast<size_t>(got));
        const size_t nl = c.in.find('\n');
        const bool eof = got == 0 || (got < 0 && !retry);
        if (!retry && (nl != std::string::npos || eof || c.in.size() >= kAdminMaxRequestBytes)) {
          if (nl == std::string::npos && c.in.size() >= kAdminMaxRequestBytes) {
            log_line("warn", "admin request refused",
                     {{"peer", c.peer}, {"error", "request line too long"}});
            c.out = admin_error_line(kAdminErrorBadRequest,
                                     "request longer than " +
                                         std::to_string(kAdminMaxRequestBytes - 1) + " bytes");
          } else if (nl == std::string::npos && c.in.empty()) {
            close_client(c);  // connected and left without a word
            continue;
          } else {
            // A request without '\n' before EOF is accepted too (`printf '{...}' | nc -U`).
            c.out = handler_(std::string_view(c.in).substr(0, nl == std::string::npos ? c.in.size() : nl),
                             c.peer);
          }
          c.answered = true;
          ::shutdown(c.fd, SHUT_RD);
        }
      }
      if (c.answered && c.fd >= 0 && (fds[i + 2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
        const ssize_t sent = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                                    MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent > 0) c.out_sent += static_cast<size_t>(sent);
        if ((sent < 0 && errno != EAGAIN && errno != EINTR) || c.out_sent == c.out.size()) {
          close_client(c);
          continue;
        }
      }
      if (c.fd >= 0 && now >= c.deadline_ns) {
        log_line("warn", "admin client timed out", {{"peer", c.peer}});
        close_client(c);
      }
    }
    std::erase_if(clients, [](const Client& c) { return c.fd < 0; });
    if ((fds[1].revents & POLLIN) != 0) {
      for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        if (clients.size() >= options_.max_clients) {
          // Best effort: the answer fits the socket buffer of a fresh connection.
          const std::string busy = admin_error_line(kAdminErrorBusy, "too many admin clients");
          [[maybe_unused]] ssize_t s = ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
          ::close(fd);
          continue;
        }
        Client c;
        c.fd = fd;
        c.deadline_ns = now + timeout_ns;
        c.peer = peer_text(fd);
        clients.push_back(std::move(c));
      }
    }
  }
  for (Client& c : clients) close_client(c);
}

}  // namespace tg::controlplane
