// The per-app policy the poll lcores enforce, and how it changes while they run.
//
// The main lcore owns it: at start and on every reload (SIGHUP, or CONFIG_RELOAD from the
// control plane through TLS worker 0) it reads `services` and `apps` from the config file,
// compiles a new PolicyTable (dataplane/app_policy.h) next to the one in use, publishes it
// with one release store, waits on the QSBR variable until every poll lcore has been
// through a quiescent state (the top of its loop: it holds no table pointer there), and
// only then frees the old table (STYLE #15, DPDK rte_rcu_qsbr). A file with errors, or one
// that does not compile, changes nothing. The app names go to the statistics segment so
// the control plane can label the per-app counters.
//
// Thread-safety: policy_state_init/reload/destroy on the main lcore only; the lcores read
// `table` once per burst with acquire and report quiescence once per loop; TLS workers call
// apps.find() and set reload_requested.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "api/stats_shm.h"
#include "config/config.h"
#include "dataplane/app_policy.h"

struct rte_rcu_qsbr;

namespace tg::dp {

struct PolicyState {
  AppRegistry apps;
  /// The table in force: release-stored by the main lcore, acquire-loaded by the lcores.
  std::atomic<const PolicyTable*> table{nullptr};
  rte_rcu_qsbr* qsbr = nullptr;  ///< one thread id per poll lcore (its queue id)
  uint32_t max_threads = 0;
  uint64_t generation = 0;       ///< of `table`
  /// Set (to the control plane's reload counter, or 1 for SIGHUP) by whoever asks for a
  /// reload; the main lcore exchanges it back to 0. Relaxed: it carries no data.
  std::atomic<uint64_t> reload_requested{0};
  bool apps_configured = false;
};

/// Build the first table from `cfg` and the QSBR variable for `n_lcores` poll lcores.
/// @return "" or an error text.
std::string policy_state_init(PolicyState& ps, const config::Config& cfg, unsigned n_lcores,
                              shm::StatsSegment* stats);

/// Replace the table with one built from `cfg` (services, apps). Blocks the caller until no
/// lcore reads the old table any more (microseconds while they poll). @return "" or why
/// nothing changed.
std::string policy_state_reload(PolicyState& ps, const config::Config& cfg, shm::StatsSegment* stats);

/// Free the table and the QSBR variable (the lcores have stopped).
void policy_state_destroy(PolicyState& ps);

/// The app index a session of app `id` gets ("" = no apps configured: index 0), or -1 when
/// the dataplane's policy does not know the app (yet). Any thread.
int policy_app_index(const PolicyState& ps, std::string_view id);

/// Poll lcore side: register `thread_id` (the lcore's queue id) and go online; report a
/// quiescent state; go offline at exit. No-ops when there is no QSBR variable.
void policy_lcore_online(const PolicyState* ps, unsigned thread_id);
void policy_lcore_quiescent(const PolicyState* ps, unsigned thread_id);
void policy_lcore_offline(const PolicyState* ps, unsigned thread_id);

}  // namespace tg::dp
