// Control plane: what the admin socket's commands do (docs/tunnelgatectl.md). The admin
// server thread calls handle_line(); everything that touches sessions, pools or the users
// file runs on the ctl server thread (CtlServer::post), the only thread that owns them, and
// the admin thread waits for it with a timeout. So an admin command never races an auth
// decision and never blocks one for longer than the command itself takes (a list of every
// session, at worst max_sessions entries).
// Thread-safety: handle_line() from one thread at a time (the admin server thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "controlplane/admin_protocol.h"

namespace tg::controlplane {

class AuthCtlHandler;
class CtlServer;
class CtlResponder;

class AdminService {
 public:
  struct Options {
    std::string instance;
    std::string version;
    /// The configuration file `reload` re-reads (apps, services, default_app; "" = none).
    std::string config_path;
    /// How long a command waits for the ctl server thread before answering "busy".
    std::chrono::milliseconds ctl_timeout{3000};
  };

  /// @param handler, server  outlive the service; `server` runs `handler`.
  AdminService(Options options, AuthCtlHandler& handler, CtlServer& server);

  /// One request line → one response line ('\n'-terminated). Malformed requests get a
  /// bad_request answer and a log line. `peer` names the client in logs ("uid=0 pid=42").
  std::string handle_line(std::string_view line, std::string_view peer);

  /// The answer to a parsed request.
  nlohmann::json execute(const AdminRequest& request);

 private:
  /// Run `fn` on the ctl server thread; its result, or an error answer on timeout.
  nlohmann::json on_ctl_thread(std::function<nlohmann::json(CtlResponder&)> fn);
  nlohmann::json status();
  nlohmann::json sessions(const AdminRequest& request);
  nlohmann::json disconnect(const AdminRequest& request);
  nlohmann::json reload();
  nlohmann::json stats();
  nlohmann::json certs();

  Options options_;
  AuthCtlHandler& handler_;
  CtlServer& server_;
  uint64_t start_monotonic_ns_ = 0;
};

}  // namespace tg::controlplane
