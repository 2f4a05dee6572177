// Stage: L2 rewrite towards a next hop, with ARP resolution. Packets whose next hop is
// not resolved wait in the lcore's bounded hold queue; the lcore's timer releases them
// when the neighbour table learns the MAC, or drops them (counted, ICMP host unreachable)
// after `resolve_retries` unanswered requests.
#include <cstring>

#include <rte_cycles.h>

#include <rte_fib.h>

#include "dataplane/stages.h"

namespace tg::dp {

namespace {
inline void write_ether(rte_mbuf* m, const MacAddr& dst, const MacAddr& src) {
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  std::memcpy(frame, dst.b, 6);
  std::memcpy(frame + 6, src.b, 6);
  frame[12] = static_cast<uint8_t>(wire::kEtherTypeIpv4 >> 8);
  frame[13] = static_cast<uint8_t>(wire::kEtherTypeIpv4 & 0xff);
}

/// Ask for `nh_ip` unless another request for it went out less than a retry interval ago.
void maybe_request(LcoreCtx& c, uint8_t out_port, int32_t idx, uint32_t nh_ip, uint64_t now) {
  if (c.dp->neighbours->claim_request(idx, now, c.dp->neigh_retry_tsc)) {
    arp_send_request(c, out_port, nh_ip);
  }
}
}  // namespace

void neighbour_output(LcoreCtx& c, uint8_t in_port, uint8_t out_port, uint32_t nh_ip, rte_mbuf* m,
                      NeighbourMemo* memo) {
  const Dataplane& dp = *c.dp;
  const PortRuntime& port = dp.ports[out_port];
  if (memo != nullptr && memo->valid && memo->nh_ip == nh_ip && memo->port == out_port) [[likely]] {
    write_ether(m, memo->mac, port.mac);
    tx_enqueue(c, out_port, m);
    return;
  }
  int32_t idx = dp.neighbours->find(port.port_id, nh_ip);
  if (idx >= 0) [[likely]] {
    const NeighbourView v = dp.neighbours->read(idx);
    if (v.resolved) [[likely]] {
      write_ether(m, v.mac, port.mac);
      tx_enqueue(c, out_port, m);
      // A stale entry keeps forwarding while it is re-asked (as Linux's STALE/PROBE).
      const uint64_t now = rte_rdtsc();
      if (now > v.confirmed_tsc && now - v.confirmed_tsc > dp.neigh_reachable_tsc) {
        if (dp.neighbours->unanswered_requests(idx) > dp.neigh_retries) {
          dp.neighbours->invalidate(idx);
          return;
        }
        maybe_request(c, out_port, idx, nh_ip, now);
      }
      if (memo != nullptr) *memo = {nh_ip, out_port, true, v.mac};
      return;
    }
  } else {
    idx = dp.neighbours->find_or_insert(port.port_id, nh_ip);
    if (idx < 0) {
      drop_packet(c, m, DropReason::neigh_table_full);
      return;
    }
  }
  if (c.held.size() >= c.held_cap) {
    drop_packet(c, m, DropReason::neigh_queue_full);
    return;
  }
  const uint64_t now = rte_rdtsc();
  c.held.push_back(HeldPacket{m, now, idx, nh_ip, out_port, in_port});  // capacity reserved at start
  c.stats->events.neigh_queued += 1;
  maybe_request(c, out_port, idx, nh_ip, now);
}

void neighbour_hold_service(LcoreCtx& c, uint64_t now) {
  const Dataplane& dp = *c.dp;
  const uint64_t give_up_tsc = dp.neigh_retry_tsc * dp.neigh_retries;
  size_t kept = 0;
  for (size_t i = 0; i < c.held.size(); i++) {
    HeldPacket h = c.held[i];
    const NeighbourView v = dp.neighbours->read(h.neighbour);
    if (v.resolved) {
      write_ether(h.m, v.mac, dp.ports[h.out_port].mac);
      tx_enqueue(c, h.out_port, h.m);
    } else if (now > h.since_tsc && now - h.since_tsc > give_up_tsc) {  // never on a wrapped difference
      icmp_error_send(c, h.in_port, h.m, wire::kIcmpUnreachable, wire::kIcmpCodeHostUnreachable);
      drop_packet(c, h.m, DropReason::neigh_unresolved);
    } else {
      maybe_request(c, h.out_port, h.neighbour, h.next_hop, now);
      c.held[kept++] = h;
    }
  }
  c.held.resize(kept);  // never reallocates: shrinking within the reserved capacity
}

void route_own_burst(LcoreCtx& c, uint8_t in_port, rte_mbuf** pkts, uint32_t* dst, uint16_t n, uint64_t* routed) {
  const Dataplane& dp = *c.dp;
  uint64_t nh[2 * kBurst];
  rte_fib_lookup_bulk(dp.fib, dst, nh, n);
  NeighbourMemo memo;
  for (uint16_t i = 0; i < n; i++) {
    if (nh[i] == kNoRoute || nh[i] >= dp.nexthops.size()) {
      drop_packet(c, pkts[i], DropReason::no_route);
      continue;
    }
    const Nexthop& hop = dp.nexthops[nh[i]];
    if (rte_pktmbuf_pkt_len(pkts[i]) - wire::kEtherHdrLen > dp.ports[hop.port].mtu) {
      drop_packet(c, pkts[i], DropReason::mtu_exceeded);
      continue;
    }
    if (routed != nullptr) *routed += 1;
    neighbour_output(c, in_port, hop.port, hop.gateway ? hop.gateway : dst[i], pkts[i], &memo);
  }
  c.stage_done(shm::LcoreStage::route, n);
}

}  // namespace tg::dp
