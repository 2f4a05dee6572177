// The TLS worker threads' log line: key=value on stderr, rate-limited per worker thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>

namespace tg::dp::vpn {

/// Worker-side log line (key=value, stderr), rate-limited per worker: at most 20 lines a
/// second, so a flood of bad clients cannot flood the log. What was dropped is said in the
/// next second's first line (the counters in /metrics have every event).
class LogLimiter {
 public:
  bool allow() {
    const auto now = std::chrono::steady_clock::now();
    if (now - window_ > std::chrono::seconds(1)) {
      window_ = now;
      budget_ = 20;
      if (suppressed_ != 0) {
        std::fprintf(stderr, "level=warn msg=\"log lines suppressed (rate limit: 20 a second per worker)\" count=%llu\n",
                     static_cast<unsigned long long>(suppressed_));
        suppressed_ = 0;
      }
    }
    if (budget_ == 0) {
      suppressed_++;
      return false;
    }
    budget_--;
    return true;
  }

 private:
  std::chrono::steady_clock::time_point window_{};
  unsigned budget_ = 20;
  uint64_t suppressed_ = 0;
};
inline thread_local LogLimiter g_log_limiter;  // per worker thread: no sharing, no lock

#define OC_LOG(level, fmt, ...)                                                                   \
  do {                                                                                            \
    if (g_log_limiter.allow()) std::fprintf(stderr, "level=" level " " fmt "\n", ##__VA_ARGS__); \
  } while (0)

}  // namespace tg::dp::vpn
