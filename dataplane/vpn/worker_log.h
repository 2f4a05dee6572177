// The TLS worker threads' log line: key=value on stderr, rate-limited per worker thread.
#pragma once

#include <chrono>
#include <cstdio>

namespace tg::dp::vpn {

/// Worker-side log line (key=value, stderr), rate-limited per worker: at most a burst of
/// 20 then one per second, so a flood of bad clients cannot flood the log.
class LogLimiter {
 public:
  bool allow() {
    const auto now = std::chrono::steady_clock::now();
    if (now - window_ > std::chrono::seconds(1)) {
      window_ = now;
      budget_ = 20;
    }
    if (budget_ == 0) return false;
    budget_--;
    return true;
  }

 private:
  std::chrono::steady_clock::time_point window_{};
  unsigned budget_ = 20;
};
inline thread_local LogLimiter g_log_limiter;  // per worker thread: no sharing, no lock

#define OC_LOG(level, fmt, ...)                                                                   \
  do {                                                                                            \
    if (g_log_limiter.allow()) std::fprintf(stderr, "level=" level " " fmt "\n", ##__VA_ARGS__); \
  } while (0)

}  // namespace tg::dp::vpn
