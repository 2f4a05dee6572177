// Control plane: counters of the auth backend and the ctl server, and the Prometheus
// collector that exports them (documented in docs/metrics.md, "Auth and sessions").
//
// AuthCounters are incremented by the ctl server thread and read by the exposer's threads:
// relaxed atomics (independent monotonic counters, read only for reporting).
#pragma once

#include <functional>
#include <optional>

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "api/ctl_messages.h"
#include "controlplane/auth_source_limiter.h"

namespace tg::controlplane {

class AddressPool;
class CtlServer;
class SessionRegistry;

enum class AuthMethod : uint8_t { password = 0, certificate = 1, token = 2 };
inline constexpr size_t kAuthMethodCount = 3;
const char* auth_method_name(AuthMethod m);

struct AuthCounters {
  /// [method][CtlResult]
  std::array<std::array<std::atomic<uint64_t>, ctl::kCtlResultCount>, kAuthMethodCount> attempts{};
  /// [method][CtlReason] of attempts that were not ok
  std::array<std::array<std::atomic<uint64_t>, ctl::kCtlReasonCount>, kAuthMethodCount> failures{};
  /// SESSION_OPEN refusals by CtlReason
  std::array<std::atomic<uint64_t>, ctl::kCtlReasonCount> open_refused{};
  std::atomic<uint64_t> sessions_replaced{0};   ///< a CONNECT took over a live tunnel
  std::atomic<uint64_t> terminate_dropped{0};   ///< notice lost: the old worker's ring was full
  std::atomic<uint64_t> resync_adopted{0};      ///< tunnels of a previous control plane adopted
  /// SESSION_RESYNC refusals by CtlReason (the worker closes those tunnels)
  std::array<std::atomic<uint64_t>, ctl::kCtlReasonCount> resync_refused{};

  void count_attempt(AuthMethod m, ctl::CtlResult r, ctl::CtlReason why) {
    attempts[static_cast<size_t>(m)][static_cast<size_t>(r)].fetch_add(1, std::memory_order_relaxed);
    if (r != ctl::CtlResult::ok) {
      failures[static_cast<size_t>(m)][static_cast<size_t>(why)].fetch_add(1, std::memory_order_relaxed);
    }
  }
};

/// Exports AuthCounters, the session registry's gauges, every pool's size and use, and the
/// ctl server's request counters. Collect() may run on several threads at once.
class AuthMetricsCollector final : public prometheus::Collectable {
 public:
  /// Every referenced object outlives the collector (unregister it before they go).
  /// @param server  may be null (tests): no ctl request families then
  AuthMetricsCollector(const AuthCounters& counters, const SessionRegistry& sessions,
                       const std::vector<AddressPool>& pools, const CtlServer* server);
  std::vector<prometheus::MetricFamily> Collect() const override;
  /// Source of tunnelgate_app_sessions (AuthCtlHandler::sessions_by_app); set before the
  /// collector is registered.
  std::function<std::vector<std::pair<std::string, uint64_t>>()> sessions_by_app;
  /// Source of the CRL families (auth.crl): loaded, thisUpdate (oldest), nextUpdate
  /// (earliest), logins an expired CRL let through. Empty or nullopt: not exported.
  struct CrlMetrics {
    bool loaded = false;
    int64_t this_update = 0, next_update = 0;
    uint64_t revoked = 0, expired_accepted = 0;
  };
  std::function<std::optional<CrlMetrics>()> crl;
  /// The per-source failure limit's table (AuthCtlHandler::source_limiter()); null = off,
  /// its families are not exported. Outlives the collector.
  const AuthSourceLimiter::Stats* source_limits = nullptr;

 private:
  const AuthCounters& counters_;
  const SessionRegistry& sessions_;
  const std::vector<AddressPool>& pools_;
  const CtlServer* server_;
};

}  // namespace tg::controlplane
