// Stage: routing a burst of IPv4 packets. Pass 1 checks TTL and gathers destinations,
// one bulk FIB lookup, pass 2 applies the next hop (MTU, TTL decrement) and hands each
// packet to neighbour_output.
#include <rte_fib.h>

#include "dataplane/stages.h"

namespace tg::dp {

void ipv4_forward_burst(LcoreCtx& c, uint8_t in_port, rte_mbuf** pkts, uint16_t n) {
  const Dataplane& dp = *c.dp;
  rte_mbuf* live[kBurst];
  uint32_t dst[kBurst];
  uint64_t nh[kBurst];
  uint16_t n_live = 0;

  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* m = pkts[i];
    const uint8_t* l3 = rte_pktmbuf_mtod_offset(m, const uint8_t*, wire::kEtherHdrLen);
    if (l3[8] <= 1) {
      icmp_error_send(c, in_port, m, wire::kIcmpTimeExceeded, wire::kIcmpCodeTtlInTransit);
      drop_packet(c, m, DropReason::ttl_exceeded);
      continue;
    }
    dst[n_live] = load_be32(l3 + 16);
    live[n_live++] = m;
  }
  if (n_live == 0) return;
  rte_fib_lookup_bulk(dp.fib, dst, nh, n_live);
  NeighbourMemo memo;

  for (uint16_t i = 0; i < n_live; i++) {
    rte_mbuf* m = live[i];
    if (nh[i] == kNoRoute || nh[i] >= dp.nexthops.size()) {
      icmp_error_send(c, in_port, m, wire::kIcmpUnreachable, wire::kIcmpCodeNetUnreachable);
      drop_packet(c, m, DropReason::no_route);
      continue;
    }
    const Nexthop& hop = dp.nexthops[nh[i]];
    if (hop.port == in_port) {
      drop_packet(c, m, DropReason::same_port_hairpin);
      continue;
    }
    uint8_t* l3 = rte_pktmbuf_mtod_offset(m, uint8_t*, wire::kEtherHdrLen);
    const uint16_t total_len = load_be16(l3 + 2);
    if (total_len > dp.ports[hop.port].mtu) {
      // Fragmenting in the fast path is not done: DF packets learn the MTU (RFC 1191),
      // others are dropped and counted.
      if (load_be16(l3 + 6) & wire::kIpv4FlagDf) {
        icmp_error_send(c, in_port, m, wire::kIcmpUnreachable, wire::kIcmpCodeFragNeeded,
                        dp.ports[hop.port].mtu);
      }
      drop_packet(c, m, DropReason::mtu_exceeded);
      continue;
    }
    ipv4_ttl_decrement(l3);
    c.stats->events.ipv4_forwarded += 1;
    neighbour_output(c, in_port, hop.port, hop.gateway ? hop.gateway : dst[i], m, &memo);
  }
}

}  // namespace tg::dp
