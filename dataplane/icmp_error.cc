// ICMP errors a router sends (RFC 792, RFC 1812 4.3.2): time exceeded, unreachable,
// fragmentation needed. Rate-limited per lcore with a GCRA (RFC 1812 4.3.2.8).
#include <algorithm>
#include <cstring>

#include <rte_cycles.h>

#include "dataplane/stages.h"

namespace tg::dp {

namespace {

/// RFC 1812 4.3.2.7: never an error about an ICMP error, a non-first fragment, or a
/// packet to or from a multicast/broadcast address.
bool icmp_error_allowed(const uint8_t* frame, const Ipv4Info& ip, const uint8_t* l3) {
  if (frame[0] & 1) return false;
  if (ip.is_later_fragment()) return false;
  if (ipv4_is_multicast_or_broadcast(ip.dst) || ipv4_is_multicast_or_broadcast(ip.src)) {
    return false;
  }
  if (ip.proto == wire::kIpProtoIcmp) {
    if (ip.total_len < ip.hdr_len + 1u) return false;
    const uint8_t type = l3[ip.hdr_len];
    // Only queries (echo, timestamp, ...) may provoke an error.
    if (type != wire::kIcmpEchoRequest && type != wire::kIcmpEchoReply && type != 13 && type != 14) {
      return false;
    }
  }
  return true;
}
}  // namespace

void icmp_error_send(LcoreCtx& c, uint8_t in_port, const rte_mbuf* orig, uint8_t type, uint8_t code,
                     uint16_t mtu) {
  const Dataplane& dp = *c.dp;
  if (in_port >= dp.n_ports) return;  // from the kernel (exception path): it has its own errors
  const uint8_t* frame = rte_pktmbuf_mtod(orig, const uint8_t*);
  const uint8_t* l3 = frame + wire::kEtherHdrLen;
  Ipv4Info ip;
  if (parse_ipv4(l3, rte_pktmbuf_data_len(orig) - wire::kEtherHdrLen, &ip) != kPass) return;
  if (!icmp_error_allowed(frame, ip, l3)) return;

  if (dp.icmp_error_interval_tsc == 0) {
    c.count_drop(DropReason::icmp_error_rate_limited);
    return;
  }
  if (!gcra_allow(c.icmp_tat_tsc, rte_rdtsc(), dp.icmp_error_interval_tsc, dp.icmp_error_burst_tsc)) {
    c.count_drop(DropReason::icmp_error_rate_limited);
    return;
  }

  rte_mbuf* m = rte_pktmbuf_alloc(dp.pool);
  if (m == nullptr) {
    c.count_drop(DropReason::mbuf_alloc_failed);
    return;
  }
  const uint32_t quote = std::min<uint32_t>(ip.total_len, wire::kIcmpErrorMaxLen - wire::kIpv4MinHdrLen -
                                                              wire::kIcmpHdrLen);
  const uint32_t ip_len = wire::kIpv4MinHdrLen + wire::kIcmpHdrLen + quote;
  uint8_t* out = reinterpret_cast<uint8_t*>(
      rte_pktmbuf_append(m, static_cast<uint16_t>(wire::kEtherHdrLen + ip_len)));
  if (out == nullptr) {
    drop_packet(c, m, DropReason::mbuf_alloc_failed);
    return;
  }
  const PortRuntime& port = dp.ports[in_port];
  std::memcpy(out, frame + 6, 6);  // back to the frame's sender (source or its router)
  std::memcpy(out + 6, port.mac.b, 6);
  store_be16(out + 12, wire::kEtherTypeIpv4);
  uint8_t* oip = out + wire::kEtherHdrLen;
  // Precedence "internetwork control" (RFC 1812 4.3.2.5).
  ipv4_header_write(oip, 0xc0, static_cast<uint16_t>(ip_len), 0, wire::kIpProtoIcmp, port.addr, ip.src);
  uint8_t* icmp = oip + wire::kIpv4MinHdrLen;
  icmp[0] = type;
  icmp[1] = code;
  store_be16(icmp + 2, 0);
  store_be32(icmp + 4, mtu);  // unused (zero) except for "fragmentation needed"
  std::memcpy(icmp + wire::kIcmpHdrLen, l3, quote);
  store_be16(icmp + 2, static_cast<uint16_t>(~ones_complement_sum(icmp, wire::kIcmpHdrLen + quote)));
  c.stats->events.icmp_errors_sent += 1;
  tx_enqueue(c, in_port, m);
}

}  // namespace tg::dp
