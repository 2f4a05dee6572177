// Stage 1: Ethernet classification of an RX burst, and ARP.
#include <cstring>

#include <rte_ether.h>
#include <rte_prefetch.h>

#include "dataplane/dtls_path.h"
#include "dataplane/session_table.h"
#include "dataplane/stages.h"
#include "dataplane/tunnel_path.h"

namespace tg::dp {

void l2_input_burst(LcoreCtx& c, uint8_t in_port, rte_mbuf** pkts, uint16_t n) {
  const Dataplane& dp = *c.dp;
  const PortRuntime& port = dp.ports[in_port];
  rte_mbuf* forward[kBurst];
  uint16_t n_forward = 0;
  rte_mbuf* to_client[kBurst];  // for pool addresses: to their sessions, as a burst
  uint32_t to_client_slot[kBurst];
  uint16_t n_to_client = 0;

  // Every mbuf of the burst, then the first data line of packets a few ahead: a NIC leaves
  // the data in the last-level cache at best, and the mbufs may be cold too (received a
  // while ago, or staged as dtls_record_bench does); a packet's work here is too short to
  // hide a miss behind (with one packet ahead most DTLS packets waited here, perf on
  // bench/dtls_record_bench).
  constexpr uint16_t kAhead = 4;
  for (uint16_t i = 0; i < n; i++) rte_prefetch0(pkts[i]);
  for (uint16_t i = 0; i < n && i < kAhead; i++) rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
  for (uint16_t i = 0; i < n; i++) {
    if (i + kAhead < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kAhead], void*));
    rte_mbuf* m = pkts[i];
    const uint8_t* frame = rte_pktmbuf_mtod(m, const uint8_t*);
    const uint32_t len = rte_pktmbuf_data_len(m);

    EtherInfo eth;
    DropReason r = parse_ether(frame, len, &eth);
    if (r != kPass) {
      drop_packet(c, m, r);
      continue;
    }
    if (!eth.dst_is_multicast && std::memcmp(frame, port.mac.b, 6) != 0) {
      drop_packet(c, m, DropReason::l2_not_for_us);
      continue;
    }
    const uint8_t* l3 = frame + wire::kEtherHdrLen;
    const uint32_t l3_len = len - wire::kEtherHdrLen;
    switch (eth.ether_type) {
      case wire::kEtherTypeArp:
        arp_input(c, in_port, m, l3, l3_len);
        break;
      case wire::kEtherTypeIpv4: {
        // A NIC with IPv4 checksum offload (port_setup) has checked the header: a bad one is
        // dropped as such, a good one is not summed again; other ports say "unknown".
        const uint64_t nic_cksum = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
        if (nic_cksum == RTE_MBUF_F_RX_IP_CKSUM_BAD) {
          drop_packet(c, m, DropReason::ipv4_bad_checksum);
          break;
        }
        Ipv4Info ip;
        r = parse_ipv4(l3, l3_len, &ip, nic_cksum == RTE_MBUF_F_RX_IP_CKSUM_GOOD);
        if (r != kPass) {
          drop_packet(c, m, r);
          break;
        }
        // Ethernet pads short frames: the IP total length is the truth.
        if (l3_len > ip.total_len) rte_pktmbuf_trim(m, static_cast<uint16_t>(l3_len - ip.total_len));
        if (dp.own_address_port(ip.dst) >= 0) {
          ipv4_local_input(c, in_port, m, ip);
        } else if (eth.dst_is_multicast || ipv4_is_multicast_or_broadcast(ip.dst) ||
                   ip.dst == port.broadcast()) {
          drop_packet(c, m, DropReason::local_unhandled);  // no multicast routing
        } else if (const uint32_t slot = dp.sessions != nullptr ? dp.sessions->slot_index(ip.dst)
                                                                 : SessionTable::kNoSlot;
                   slot != SessionTable::kNoSlot) {
          // Client addresses are reached only through their tunnel, and only from inside.
          if (port.role != static_cast<uint8_t>(config::PortConfig::Role::inside)) {
            drop_packet(c, m, DropReason::tunnel_pool_from_outside);
          } else {
            to_client[n_to_client] = m;
            to_client_slot[n_to_client++] = slot;
          }
        } else if (!dp.lab_forwarding) [[likely]] {
          // Plain packets are never routed: only tunnelled traffic may reach the inside.
          drop_packet(c, m, DropReason::forwarding_disabled);
        } else {
          forward[n_forward++] = m;
        }
        break;
      }
      case wire::kEtherTypeIpv6:
        drop_packet(c, m, DropReason::ipv6_unsupported);
        break;
      default:
        drop_packet(c, m, DropReason::l2_unknown_ethertype);
        break;
    }
  }
  c.stage_done(shm::LcoreStage::classify, n);
  if (n_to_client) tunnel_output_burst(c, in_port, to_client, to_client_slot, n_to_client);
  if (n_forward) ipv4_forward_burst(c, in_port, forward, n_forward);
  if (c.dtls != nullptr) dtls_flush(c);  // may stage CSTP fallbacks: before tunnel_flush
  if (dp.n_workers) tunnel_flush(c);
}

void arp_input(LcoreCtx& c, uint8_t in_port, rte_mbuf* m, const uint8_t* l3, uint32_t l3_len) {
  const Dataplane& dp = *c.dp;
  const PortRuntime& port = dp.ports[in_port];
  ArpInfo arp;
  DropReason r = parse_arp(l3, l3_len, &arp);
  if (r != kPass) {
    drop_packet(c, m, r);
    return;
  }
  const bool for_us = arp.target_ip == port.addr;
  // RFC 826 merge: refresh a sender we already track; learn a new one only when it talks
  // to us (so a busy L2 segment cannot fill the table). Only on-link senders qualify.
  if (arp.sender_ip != 0 && arp.sender_ip != port.addr && port.on_link(arp.sender_ip)) {
    int32_t idx = dp.neighbours->find(port.port_id, arp.sender_ip);
    if (idx < 0 && for_us) idx = dp.neighbours->find_or_insert(port.port_id, arp.sender_ip);
    if (idx >= 0) {
      MacAddr mac;
      std::memcpy(mac.b, arp.sender_mac, 6);
      dp.neighbours->learn(idx, mac, rte_rdtsc());
    }
  }
  if (arp.op == wire::kArpOpReply) {
    c.stats->events.arp_replies_received += 1;
    rte_pktmbuf_free(m);  // consumed: learned above (counted as an event, not a drop)
    return;
  }
  if (!for_us) {
    drop_packet(c, m, DropReason::arp_not_for_us);
    return;
  }
  // Turn the request into the reply in place.
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* a = frame + wire::kEtherHdrLen;
  std::memcpy(frame, arp.sender_mac, 6);
  std::memcpy(frame + 6, port.mac.b, 6);
  store_be16(a + 6, wire::kArpOpReply);
  std::memcpy(a + 8, port.mac.b, 6);
  store_be32(a + 14, port.addr);
  std::memcpy(a + 18, arp.sender_mac, 6);
  store_be32(a + 24, arp.sender_ip);
  c.stats->events.arp_requests_answered += 1;
  tx_enqueue(c, in_port, m);
}

void arp_send_request(LcoreCtx& c, uint8_t port_index, uint32_t target) {
  const PortRuntime& port = c.dp->ports[port_index];
  rte_mbuf* m = rte_pktmbuf_alloc(c.dp->pool);
  if (m == nullptr) {
    c.count_drop(DropReason::mbuf_alloc_failed);
    return;
  }
  constexpr uint16_t kLen = wire::kEtherHdrLen + wire::kArpEthIpv4Len;
  uint8_t* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kLen));
  if (frame == nullptr) {  // impossible with our pool's buffer size; never trust it blindly
    drop_packet(c, m, DropReason::mbuf_alloc_failed);
    return;
  }
  std::memset(frame, 0xff, 6);
  std::memcpy(frame + 6, port.mac.b, 6);
  store_be16(frame + 12, wire::kEtherTypeArp);
  uint8_t* a = frame + wire::kEtherHdrLen;
  store_be16(a, 1);
  store_be16(a + 2, wire::kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  store_be16(a + 6, wire::kArpOpRequest);
  std::memcpy(a + 8, port.mac.b, 6);
  store_be32(a + 14, port.addr);
  std::memset(a + 18, 0, 6);
  store_be32(a + 24, target);
  if (target == port.addr) {
    c.stats->events.garp_sent += 1;
  } else {
    c.stats->events.arp_requests_sent += 1;
  }
  tx_enqueue(c, port_index, m);
}

}  // namespace tg::dp
