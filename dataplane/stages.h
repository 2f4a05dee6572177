// The poll lcore's packet stages, in the order a packet meets them:
//   l2_input.cc      Ethernet classify, ARP (answer, learn)       → ipv4_local / ipv4_forward
//   ipv4_local.cc    packets for the gateway's own addresses (ICMP echo)
//   ipv4_forward.cc  TTL, bulk FIB lookup, MTU, TTL decrement     → neighbour_output
//   neighbour_output.cc  L2 rewrite from the neighbour table, hold queue, ARP requests
//   icmp_error.cc    ICMP errors a router sends (rate-limited)
//   tx.cc            per-port TX batching, flushed once per poll iteration
// All run on the owning poll lcore only, with its LcoreCtx.
#pragma once

#include <rte_mbuf.h>

#include "dataplane/dataplane.h"

namespace tg::dp {

/// Classify and handle one RX burst of port `in_port`. Consumes every mbuf.
void l2_input_burst(LcoreCtx& c, uint8_t in_port, rte_mbuf** pkts, uint16_t n);
void arp_input(LcoreCtx& c, uint8_t in_port, rte_mbuf* m, const uint8_t* l3, uint32_t l3_len);
void ipv4_local_input(LcoreCtx& c, uint8_t in_port, rte_mbuf* m, const Ipv4Info& ip);
/// Route a burst of validated IPv4 packets (Ethernet header still in place).
void ipv4_forward_burst(LcoreCtx& c, uint8_t in_port, rte_mbuf** pkts, uint16_t n);
/// The resolved neighbour a burst's previous packet went to. Packets of a burst mostly share
/// their next hop (one flow, or the backends' router): they skip the table's find, its
/// seqlock read and the staleness check (done for the first). It lives on the caller's stack
/// for one burst, so the next burst sees any change of the entry.
struct NeighbourMemo {
  uint32_t nh_ip = 0;
  uint8_t port = 0;
  bool valid = false;
  MacAddr mac{};
};
/// Send `m` (Ethernet header present, to be rewritten) to next hop `nh_ip` out of `out_port`.
/// `memo` (may be null): the burst's memo, read and updated.
void neighbour_output(LcoreCtx& c, uint8_t in_port, uint8_t out_port, uint32_t nh_ip, rte_mbuf* m,
                      NeighbourMemo* memo = nullptr);
/// Route packets of our own (Ethernet header present, to be rewritten) to their IPv4
/// destinations `dst`: bulk FIB lookup, MTU, neighbour_output with `in_port`. Unroutable or
/// too big: dropped and counted. `routed` (may be null) counts what went on.
void route_own_burst(LcoreCtx& c, uint8_t in_port, rte_mbuf** pkts, uint32_t* dst, uint16_t n, uint64_t* routed);
/// Retry or release held packets and send due ARP requests. Called on the lcore's timer.
void neighbour_hold_service(LcoreCtx& c, uint64_t now);
/// Broadcast an ARP request for `target` (sender = target = own address for a gratuitous one).
void arp_send_request(LcoreCtx& c, uint8_t port, uint32_t target);
/// Send an ICMP error about `orig` back towards its source through `in_port`. Does not
/// consume `orig`. `mtu` is the next-hop MTU for "fragmentation needed".
void icmp_error_send(LcoreCtx& c, uint8_t in_port, const rte_mbuf* orig, uint8_t type, uint8_t code,
                     uint16_t mtu = 0);

/// Queue `m` for transmission on `port` (flushes when the queue is full).
void tx_enqueue(LcoreCtx& c, uint8_t port, rte_mbuf* m);
/// Transmit everything queued on every port.
void tx_flush_all(LcoreCtx& c);

/// GCRA rate limit (one state word per limited thing): true when an event at `now` fits
/// `interval` per event with up to `burst` of credit, and takes it.
inline bool gcra_allow(uint64_t& tat_tsc, uint64_t now, uint64_t interval, uint64_t burst) {
  const uint64_t tat = tat_tsc > now ? tat_tsc : now;
  if (tat - now > burst) return false;
  tat_tsc = tat + interval;
  return true;
}

inline void drop_packet(LcoreCtx& c, rte_mbuf* m, DropReason r) {
  c.count_drop(r);
  rte_pktmbuf_free(m);
}

}  // namespace tg::dp
