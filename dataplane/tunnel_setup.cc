#include "dataplane/tunnel_setup.h"

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "dataplane/policy_table.h"

namespace tg::dp {

TunnelResources::~TunnelResources() {
  for (rte_ring* r : from_workers) rte_ring_free(r);
  for (WorkerMailbox& m : mailboxes) rte_ring_free(m.ring);
}

std::string tunnel_setup(const config::Config& cfg, Dataplane& dp, TunnelResources& res) {
  if (cfg.pools.empty()) return {};  // no client addresses: no tunnel path
  dp.session_dynfield = session_dynfield_register();
  if (dp.session_dynfield < 0) return std::string("mbuf dynfield: ") + rte_strerror(rte_errno);
  res.sessions = std::make_unique<SessionTable>(cfg.pools);
  dp.sessions = res.sessions.get();
  if (std::string err = policy_table_install(dp, cfg, static_cast<int>(rte_socket_id())); !err.empty()) return err;
  const unsigned n_lcores = static_cast<unsigned>(cfg.dataplane.lcores.size());
  res.from_workers.resize(n_lcores);
  for (unsigned q = 0; q < n_lcores; q++) {
    const std::string name = "tg_from_worker" + std::to_string(q);  // one instance per process
    // Multi-producer: every TLS worker feeds every lcore; single consumer: its lcore.
    res.from_workers[q] = rte_ring_create(name.c_str(), kTunnelRingSize, static_cast<int>(rte_socket_id()),
                                          RING_F_SC_DEQ);
    if (res.from_workers[q] == nullptr) return "ring " + name + ": " + rte_strerror(rte_errno);
  }
  dp.from_workers = res.from_workers.data();
  res.mailboxes.resize(cfg.dataplane.tls_workers);
  for (unsigned w = 0; w < cfg.dataplane.tls_workers; w++) {
    const std::string name = "tg_to_worker" + std::to_string(w);
    // Multi-producer: every lcore; single consumer: the worker.
    res.mailboxes[w].ring = rte_ring_create(name.c_str(), kTunnelRingSize, static_cast<int>(rte_socket_id()),
                                            RING_F_SC_DEQ);
    if (res.mailboxes[w].ring == nullptr) return "ring " + name + ": " + rte_strerror(rte_errno);
  }
  dp.workers = res.mailboxes.data();
  dp.n_workers = cfg.dataplane.tls_workers;
  return {};
}

}  // namespace tg::dp
