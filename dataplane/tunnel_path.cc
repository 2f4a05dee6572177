#include "dataplane/tunnel_path.h"

#include <cstring>

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_mbuf_dyn.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include "dataplane/app_policy.h"
#include "dataplane/dtls_path.h"
#include "dataplane/policy_state.h"
#include "dataplane/session_table.h"
#include "dataplane/stages.h"

namespace tg::dp {

int session_dynfield_register() {
  static const rte_mbuf_dynfield kDesc = {"tunnelgate_session_ref", sizeof(uint64_t), alignof(uint64_t), 0};
  return rte_mbuf_dynfield_register(&kDesc);
}

void tunnel_input_burst(LcoreCtx& c, rte_mbuf** pkts, uint16_t n) {
  const Dataplane& dp = *c.dp;
  rte_mbuf* live[kBurst];
  uint32_t dst[kBurst];
  uint8_t app[kBurst];
  PolicyKey keys[kBurst];
  const PolicyKey* key_ptrs[kBurst];
  uint16_t n_live = 0;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* m = pkts[i];
    const uint32_t len = rte_pktmbuf_data_len(m);
    Ipv4Info ip;
    const DropReason r = parse_ipv4(rte_pktmbuf_mtod(m, const uint8_t*), len, &ip);
    if (r != kPass) {
      drop_packet(c, m, r);
      continue;
    }
    // A client may only send from the address its session was given.
    const uint64_t ref = mbuf_session_ref(m, dp.session_dynfield);
    if (ref == 0 || dp.sessions->lookup(ip.src) != ref) {
      drop_packet(c, m, DropReason::tunnel_spoofed_source);
      continue;
    }
    if (ip.ttl <= 1) {
      drop_packet(c, m, DropReason::ttl_exceeded);
      continue;
    }
    if (len > ip.total_len) rte_pktmbuf_trim(m, static_cast<uint16_t>(len - ip.total_len));
    // The app rides in the session ref (session_table.h): no lookup for it.
    app[n_live] = static_cast<uint8_t>(SessionRef::app_of(ref));
    policy_key_from_ipv4(rte_pktmbuf_mtod(m, const uint8_t*), ip.total_len, app[n_live], true, &keys[n_live]);
    dst[n_live] = ip.dst;
    live[n_live++] = m;
  }
  if (n_live == 0) {
    c.stage_done(shm::LcoreStage::policy, n);
    return;
  }
  // Two lookups per burst: may the session's app reach it, and where is it (one FIB bulk
  // lookup). The flows seen before have their verdict in the lcore's cache
  // (policy_cache.h); the others go to rte_acl in one classify and are remembered.
  // acquire: pairs with the main lcore's publication of a new table; the table stays alive
  // until this lcore's next quiescent state (the top of its loop), so one load serves the
  // whole burst.
  const PolicyTable& table = *dp.policy->table.load(std::memory_order_acquire);
  PolicyVerdictCache& cache = c.policy_verdicts;
  cache.use_generation(policy_table_generation(table));
  PolicyVerdict verdict[kBurst];
  uint16_t miss[kBurst];
  uint16_t n_miss = 0;
  for (uint16_t i = 0; i < n_live; i++) {
    if (!cache.find(keys[i], &verdict[i])) {
      key_ptrs[n_miss] = &keys[i];
      miss[n_miss++] = i;
    }
  }
  if (n_miss != 0) {
    PolicyVerdict fresh[kBurst];
    policy_classify(table, key_ptrs, n_miss, fresh);
    for (uint16_t k = 0; k < n_miss; k++) {
      verdict[miss[k]] = fresh[k];
      cache.insert(keys[miss[k]], fresh[k]);
    }
  }
  c.stage_done(shm::LcoreStage::policy, n);
  uint64_t nh[kBurst];
  rte_fib_lookup_bulk(dp.fib, dst, nh, n_live);
  NeighbourMemo memo;
  for (uint16_t i = 0; i < n_live; i++) {
    rte_mbuf* m = live[i];
    if (verdict[i] != PolicyVerdict::allow) {
      c.stats->apps[app[i]].policy_drops[static_cast<unsigned>(verdict[i]) - 1] += 1;
      drop_packet(c, m, DropReason::tunnel_policy_denied);
      continue;
    }
    if (nh[i] == kNoRoute || nh[i] >= dp.nexthops.size()) {
      drop_packet(c, m, DropReason::no_route);
      continue;
    }
    const Nexthop& hop = dp.nexthops[nh[i]];
    if (rte_pktmbuf_pkt_len(m) > dp.ports[hop.port].mtu) {
      drop_packet(c, m, DropReason::mtu_exceeded);
      continue;
    }
    uint8_t* l3 = rte_pktmbuf_mtod(m, uint8_t*);
    ipv4_ttl_decrement(l3);
    if (rte_pktmbuf_prepend(m, wire::kEtherHdrLen) == nullptr) {
      drop_packet(c, m, DropReason::mbuf_alloc_failed);  // no headroom: workers leave 128 bytes
      continue;
    }
    c.stats->events.tunnel_to_backend += 1;
    shm::AppCounters& ac = c.stats->apps[app[i]];
    ac.to_backend_packets += 1;
    ac.to_backend_bytes += rte_pktmbuf_pkt_len(m) - wire::kEtherHdrLen;
    neighbour_output(c, kTunnelInPort, hop.port, hop.gateway ? hop.gateway : dst[i], m, &memo);
  }
  c.stage_done(shm::LcoreStage::route, n_live);
}

void tunnel_output_burst(LcoreCtx& c, uint8_t in_port, rte_mbuf** pkts, const uint32_t* slots, uint16_t n) {
  const Dataplane& dp = *c.dp;
  // With many sessions each packet's session is out of cache: its table entry (with DTLS,
  // in the line of its DTLS slot that dtls_output reads) goes in flight for the whole burst
  // first, instead of a miss after another (bench/dtls_record_bench BM_DtlsEncryptSessions).
  for (uint16_t i = 0; i < n; i++) {
    if (i != 0 && slots[i] == slots[i - 1]) continue;  // a burst of one flow: once
    rte_prefetch0(dp.sessions->slot_ref(slots[i]));
  }
  for (uint16_t i = 0; i < n; i++) {
    const uint64_t ref = dp.sessions->lookup_slot(slots[i]);
    if (ref == 0) {
      drop_packet(c, pkts[i], DropReason::tunnel_no_session);
      continue;
    }
    tunnel_output(c, in_port, pkts[i], ref, slots[i]);
  }
  c.stage_done(shm::LcoreStage::session_lookup, n);
}

void tunnel_output(LcoreCtx& c, uint8_t in_port, rte_mbuf* m, uint64_t ref, uint32_t slot) {
  const Dataplane& dp = *c.dp;
  uint8_t* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, wire::kEtherHdrLen);
  if (l3[8] <= 1) {
    icmp_error_send(c, in_port, m, wire::kIcmpTimeExceeded, wire::kIcmpCodeTtlInTransit);
    drop_packet(c, m, DropReason::ttl_exceeded);
    return;
  }
  if (SessionRef::unpack(ref).worker >= dp.n_workers) {
    drop_packet(c, m, DropReason::tunnel_no_session);  // a slot from another run: never trust it
    return;
  }
  ipv4_ttl_decrement(l3);
  rte_pktmbuf_adj(m, wire::kEtherHdrLen);
  mbuf_session_ref(m, dp.session_dynfield) = ref;
  shm::AppCounters& ac = c.stats->apps[SessionRef::app_of(ref)];
  ac.to_client_packets += 1;
  ac.to_client_bytes += rte_pktmbuf_pkt_len(m);
  if (dp.dtls_slots != nullptr && slot < dp.n_dtls_slots && dtls_output(c, m, slot, ref)) return;
  tunnel_to_worker(c, m, ref);
}

namespace {
void flush_worker(LcoreCtx& c, unsigned w) {
  const Dataplane& dp = *c.dp;
  LcoreCtx::WorkerStage& st = c.to_worker[w];
  const WorkerMailbox& mb = dp.workers[w];
  const unsigned sent = rte_ring_enqueue_burst(mb.ring, reinterpret_cast<void* const*>(st.pkts), st.n, nullptr);
  c.stats->events.tunnel_to_client += sent;
  for (unsigned i = sent; i < st.n; i++) drop_packet(c, st.pkts[i], DropReason::tunnel_ring_full);
  if (sent != 0 && mb.wake != nullptr) mb.wake(mb.wake_ctx);
  st.n = 0;
}
}  // namespace

void tunnel_to_worker(LcoreCtx& c, rte_mbuf* m, uint64_t ref) {
  const unsigned w = SessionRef::unpack(ref).worker;
  if (w >= c.dp->n_workers) {
    drop_packet(c, m, DropReason::tunnel_no_session);
    return;
  }
  LcoreCtx::WorkerStage& st = c.to_worker[w];
  if (st.n == kBurst) flush_worker(c, w);
  st.pkts[st.n++] = m;
}

void tunnel_flush(LcoreCtx& c) {
  const Dataplane& dp = *c.dp;
  uint32_t handed = 0;
  for (unsigned w = 0; w < dp.n_workers; w++) {
    if (c.to_worker[w].n == 0) continue;
    handed += c.to_worker[w].n;
    flush_worker(c, w);
  }
  if (handed != 0) c.stage_done(shm::LcoreStage::other, handed);
}

}  // namespace tg::dp
