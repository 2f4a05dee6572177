// Test support for the control plane's ctl handler and session registry: a deterministic
// random source, a responder that records what the handler sends, and the worker requests
// the tests build again and again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "api/ctl_messages.h"
#include "config/config.h"
#include "controlplane/ctl_server.h"
#include "controlplane/session_registry.h"

namespace tg::controlplane::test {

/// splitmix64 from `seed`: deterministic, no repeats within a test; two seeds give two
/// different streams (two handlers, different session ids). `fail` makes fill() fail.
class SplitMixRandom final : public RandomSource {
 public:
  explicit SplitMixRandom(uint64_t seed = 0) : state_(seed) {}
  bool fail = false;
  bool fill(uint8_t* out, size_t len) override {
    if (fail) return false;
    for (size_t i = 0; i < len; ++i) {
      uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      out[i] = static_cast<uint8_t>(z ^ (z >> 31));
    }
    return true;
  }

 private:
  uint64_t state_;
};

/// Records every answer and notice; notify() fails while `notify_ok` is false.
class RecordingResponder final : public CtlResponder {
 public:
  std::vector<ctl::CtlMessage> replies;
  std::vector<std::pair<uint32_t, ctl::CtlMessage>> notices;
  bool notify_ok = true;
  void reply(ctl::CtlMessage& m) override { replies.push_back(m); }
  bool notify(uint32_t worker, ctl::CtlMessage& m) override {
    notices.emplace_back(worker, m);
    return notify_ok;
  }
};

inline config::IpPrefix prefix(const char* text) { return *config::parse_prefix(text); }

/// AUTH_PASSWORD as a worker sends it.
inline ctl::CtlMessage password_login_request(const char* user, const char* password, const char* group = "") {
  ctl::CtlMessage m;
  ctl::ctl_message_init(m, ctl::CtlType::auth_password);
  ctl::ctl_set_string(m.payload.auth_password.user, user);
  ctl::ctl_set_string(m.payload.auth_password.password, password);
  ctl::ctl_set_string(m.payload.auth_password.group, group);
  return m;
}

/// SESSION_OPEN (a CONNECT with `cookie`) from `worker`.
inline ctl::CtlMessage session_open_request(const std::string& cookie, uint32_t worker = 0) {
  ctl::CtlMessage m;
  ctl::ctl_message_init(m, ctl::CtlType::session_open);
  m.header.worker_id = worker;
  ctl::ctl_set_string(m.payload.session_open.cookie, cookie);
  return m;
}

}  // namespace tg::controlplane::test
