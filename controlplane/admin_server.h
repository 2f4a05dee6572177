// Control plane: the admin Unix socket (config `admin`, docs/tunnelgatectl.md). One thread
// polls the listening socket and up to max_clients connections; each connection sends one
// request line and gets one response line, then the server closes it.
//
// Limits (a local client must not be able to hold the control plane): a request line of at
// most kAdminMaxRequestBytes, max_clients connections at once (more are answered "busy" and
// closed), and client_timeout for the whole exchange (a client that sends nothing, or does
// not read its answer, is dropped). Requests are answered one at a time on this thread
// (AdminService waits for the ctl server thread, bounded by its own timeout).
//
// The socket file: mode 0660, owner root (the process's user), group `admin.group` when set.
// A stale file left by a crashed control plane is replaced; a socket another process still
// accepts on is not (create() fails: two control planes for one instance). The file is
// removed by stop() if it is still the one this server bound.
// Thread-safety: create/start/stop from one thread; the handler runs on the server thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "controlplane/expected.h"

namespace tg::controlplane {

class AdminServer {
 public:
  struct Options {
    std::string socket_path;
    std::string group;  ///< "" = keep the process's group
    size_t max_clients = 8;
    std::chrono::milliseconds client_timeout{5000};
  };
  /// One request line (without '\n') and the peer's description → one response line.
  using Handler = std::function<std::string(std::string_view line, std::string_view peer)>;

  /// Create, bind and listen (not yet serving). Errors name the path and the cause.
  static Expected<std::unique_ptr<AdminServer>> create(Options options, Handler handler);
  ~AdminServer();  ///< stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// Start the server thread. Call once.
  void start();
  /// Stop and join the thread, close every connection, remove the socket file. Idempotent.
  void stop();

  const std::string& path() const { return options_.socket_path; }

 private:
  AdminServer(Options options, Handler handler);
  void run();

  Options options_;
  Handler handler_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  ///< eventfd: stop() wakes poll()
  dev_t bound_dev_ = 0;
  ino_t bound_ino_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

}  // namespace tg::controlplane
