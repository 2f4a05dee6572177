#include "dataplane/policy_state.h"

#include <cstring>

#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>


namespace tg::dp {

static_assert(kMaxApps == shm::kMaxApps, "app indices are stats slots");
static_assert(kPolicyVerdicts - 1 == shm::kPolicyDropCount, "one drop counter per deny verdict");

namespace {

/// Names of every index handed out (append-only): each name before the count that covers it.
void publish(const PolicyState& ps, shm::StatsSegment* stats) {
  if (stats == nullptr) return;
  stats->policy_generation = ps.generation;
  const unsigned n = ps.apps.size();
  for (unsigned i = __atomic_load_n(&stats->n_apps, __ATOMIC_RELAXED); i < n; i++) {
    const std::string_view name = ps.apps.name(i);
    std::memset(stats->app_names[i], 0, shm::kAppNameLen);
    std::memcpy(stats->app_names[i], name.data(), std::min<size_t>(name.size(), shm::kAppNameLen - 1));
  }
  // release: the reader in the other process sees the names below the count it reads.
  __atomic_store_n(&stats->n_apps, n, __ATOMIC_RELEASE);
}

}  // namespace

std::string policy_state_init(PolicyState& ps, const config::Config& cfg, unsigned n_lcores,
                              shm::StatsSegment* stats) {
  ps.max_threads = n_lcores == 0 ? 1 : n_lcores;
  const size_t sz = rte_rcu_qsbr_get_memsize(ps.max_threads);
  ps.qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("tg_policy_qsbr", sz, RTE_CACHE_LINE_SIZE));
  if (ps.qsbr == nullptr) return "policy QSBR: out of DPDK memory";
  if (rte_rcu_qsbr_init(ps.qsbr, ps.max_threads) != 0)
    return std::string("rte_rcu_qsbr_init: ") + rte_strerror(rte_errno);
  PolicyTable* t = nullptr;
  if (std::string err = policy_table_build(cfg, ps.apps, SOCKET_ID_ANY, 1, &t); !err.empty()) return err;
  ps.generation = 1;
  ps.apps_configured = !cfg.apps.empty();
  ps.table.store(t, std::memory_order_release);  // before the lcores start: no reader yet
  publish(ps, stats);
  return {};
}

std::string policy_state_reload(PolicyState& ps, const config::Config& cfg, shm::StatsSegment* stats) {
  PolicyTable* next = nullptr;
  if (std::string err = policy_table_build(cfg, ps.apps, SOCKET_ID_ANY, ps.generation + 1, &next); !err.empty())
    return err;
  // release: an lcore that loads the new pointer sees the table built above.
  const PolicyTable* old = ps.table.exchange(next, std::memory_order_acq_rel);
  ps.generation += 1;
  ps.apps_configured = !cfg.apps.empty();
  // Every online lcore passes the top of its loop (holding no table) after this point, so
  // none can still read `old` once this returns.
  rte_rcu_qsbr_synchronize(ps.qsbr, RTE_QSBR_THRID_INVALID);
  policy_table_free(const_cast<PolicyTable*>(old));
  publish(ps, stats);
  return {};
}

void policy_state_destroy(PolicyState& ps) {
  policy_table_free(const_cast<PolicyTable*>(ps.table.exchange(nullptr, std::memory_order_acq_rel)));
  rte_free(ps.qsbr);
  ps.qsbr = nullptr;
}

int policy_app_index(const PolicyState& ps, std::string_view id) {
  if (!ps.apps_configured) return kAppEveryService;
  return id.empty() ? -1 : ps.apps.find(id);
}

void policy_lcore_online(const PolicyState* ps, unsigned thread_id) {
  if (ps == nullptr || ps->qsbr == nullptr || thread_id >= ps->max_threads) return;
  rte_rcu_qsbr_thread_register(ps->qsbr, thread_id);
  rte_rcu_qsbr_thread_online(ps->qsbr, thread_id);
}

void policy_lcore_quiescent(const PolicyState* ps, unsigned thread_id) {
  if (ps == nullptr || ps->qsbr == nullptr || thread_id >= ps->max_threads) return;
  rte_rcu_qsbr_quiescent(ps->qsbr, thread_id);
}

void policy_lcore_offline(const PolicyState* ps, unsigned thread_id) {
  if (ps == nullptr || ps->qsbr == nullptr || thread_id >= ps->max_threads) return;
  rte_rcu_qsbr_thread_offline(ps->qsbr, thread_id);
  rte_rcu_qsbr_thread_unregister(ps->qsbr, thread_id);
}

}  // namespace tg::dp
