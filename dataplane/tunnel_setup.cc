#include "dataplane/tunnel_setup.h"

#include <algorithm>
#include <new>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "dataplane/policy_state.h"

namespace tg::dp {

TunnelResources::~TunnelResources() {
  if (policy) policy_state_destroy(*policy);
  for (rte_ring* r : from_workers) rte_ring_free(r);
  for (WorkerMailbox& m : mailboxes) {
    rte_ring_free(m.ring);
    rte_ring_free(m.dtls_ring);
  }
  for (DtlsLcore* d : dtls_lcores) dtls_lcore_free(d);
  // Messages still queued own cipher states; queued packets own mbufs.
  for (rte_ring* r : dtls_ctl) {
    void* msg;
    while (r != nullptr && rte_ring_dequeue(r, &msg) == 0) {
      cipher_state_free(static_cast<DtlsCtlMsg*>(msg)->cipher);
      rte_free(msg);
    }
    rte_ring_free(r);
  }
  for (auto* rings : {&dtls_handoff, &to_outside}) {
    for (rte_ring* r : *rings) {
      void* m;
      while (r != nullptr && rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      rte_ring_free(r);
    }
  }
  if (dtls_slots != nullptr) {
    for (uint32_t i = 0; i < n_dtls_slots; i++) {
      cipher_state_free(dtls_slots[i].cipher);
      dtls_slots[i].~DtlsSlot();
    }
    rte_free(dtls_slots);
  }
  record_crypto_teardown(&crypto);
}

namespace {

// One MP/SC ring per poll lcore (every TLS worker or lcore produces, the lcore consumes).
std::string make_lcore_rings(const char* prefix, unsigned n, std::vector<rte_ring*>& out) {
  out.resize(n);
  for (unsigned q = 0; q < n; q++) {
    const std::string name = prefix + std::to_string(q);
    out[q] = rte_ring_create(name.c_str(), kTunnelRingSize, static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
    if (out[q] == nullptr) return "ring " + name + ": " + rte_strerror(rte_errno);
  }
  return {};
}

// The DTLS slot of every pool address, before the session table that keeps its slots in them.
std::string dtls_slots_create(const config::Config& cfg, TunnelResources& res) {
  const uint32_t n_slots = SessionTable::capacity_of(cfg.pools);
  res.dtls_slots = static_cast<DtlsSlot*>(
      rte_zmalloc("tg_dtls_slots", sizeof(DtlsSlot) * n_slots, RTE_CACHE_LINE_SIZE));
  if (res.dtls_slots == nullptr) return "out of memory for " + std::to_string(n_slots) + " DTLS slots";
  for (uint32_t i = 0; i < n_slots; i++) new (&res.dtls_slots[i]) DtlsSlot();
  res.n_dtls_slots = n_slots;
  return {};
}

std::string dtls_setup(const config::Config& cfg, Dataplane& dp, TunnelResources& res, unsigned n_lcores) {
  const uint32_t n_slots = res.n_dtls_slots;
  for (auto [prefix, rings] : {std::pair{"tg_dtls_ctl", &res.dtls_ctl}, std::pair{"tg_dtls_handoff", &res.dtls_handoff},
                               std::pair{"tg_to_outside", &res.to_outside}}) {
    if (std::string err = make_lcore_rings(prefix, n_lcores, *rings); !err.empty()) return err;
  }
  std::string warning;
  const uint32_t max_sessions = std::min<uint32_t>(cfg.limits.max_sessions, n_slots);
  if (std::string err = record_crypto_setup(cfg.dataplane.cryptodev, static_cast<uint16_t>(n_lcores), max_sessions,
                                            static_cast<int>(rte_socket_id()), &res.crypto, &warning);
      !err.empty())
    return err;
  if (!warning.empty()) res.warnings.push_back(warning);
  // Before the lcores' state: each sizes its flow table by n_dtls_slots (a table made
  // before this was set held 64 flows, so a lcore took at most 64 DTLS sessions).
  dp.dtls_slots = res.dtls_slots;
  dp.n_dtls_slots = n_slots;
  for (unsigned q = 0; q < n_lcores; q++) {
    std::string err;
    DtlsLcore* d = dtls_lcore_create(dp, q, &err);
    if (d == nullptr) return err;
    res.dtls_lcores.push_back(d);
  }
  dp.dtls_ctl = res.dtls_ctl.data();
  dp.dtls_handoff = res.dtls_handoff.data();
  dp.to_outside = res.to_outside.data();
  dp.crypto = &res.crypto;
  const uint64_t hz = rte_get_tsc_hz();
  dp.dtls_switch_tsc = hz * cfg.limits.switch_to_tcp_s;
  dp.dtls_pending_tsc = hz * cfg.limits.dtls_handshake_timeout_s;
  dp.handshake_interval_tsc = hz / cfg.limits.handshakes_per_second;
  dp.handshake_burst_tsc = hz;  // up to one second's worth at once
  dp.dtls_port = cfg.listeners.dtls_port;
  return {};
}

}  // namespace

std::string tunnel_setup(const config::Config& cfg, Dataplane& dp, TunnelResources& res) {
  if (cfg.pools.empty()) return {};  // no client addresses: no tunnel path
  dp.session_dynfield = session_dynfield_register();
  if (dp.session_dynfield < 0) return std::string("mbuf dynfield: ") + rte_strerror(rte_errno);
  if (cfg.listeners.dtls) {
    // A packet's session check and its DTLS state in one line (session_table.h).
    if (std::string err = dtls_slots_create(cfg, res); !err.empty()) return err;
    res.sessions = std::make_unique<SessionTable>(cfg.pools, &res.dtls_slots[0].bound, sizeof(DtlsSlot));
  } else {
    res.sessions = std::make_unique<SessionTable>(cfg.pools);
  }
  dp.sessions = res.sessions.get();
  const unsigned n_lcores = static_cast<unsigned>(cfg.dataplane.lcores.size());
  res.policy = std::make_unique<PolicyState>();
  if (std::string err = policy_state_init(*res.policy, cfg, n_lcores, dp.stats); !err.empty())
    return "policy: " + err;
  dp.policy = res.policy.get();
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
    if (cfg.listeners.dtls) {
      const std::string dname = "tg_dtls_to_worker" + std::to_string(w);
      res.mailboxes[w].dtls_ring = rte_ring_create(dname.c_str(), kTunnelRingSize,
                                                   static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
      if (res.mailboxes[w].dtls_ring == nullptr) return "ring " + dname + ": " + rte_strerror(rte_errno);
    }
  }
  dp.workers = res.mailboxes.data();
  dp.n_workers = cfg.dataplane.tls_workers;
  if (cfg.listeners.dtls) return dtls_setup(cfg, dp, res, n_lcores);
  return {};
}

}  // namespace tg::dp
