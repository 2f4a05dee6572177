// Stage: IPv4 packets addressed to one of the gateway's own addresses.
// Today only ICMP echo is served here; TCP to the TLS port goes to the kernel through the
// exception path once it exists, and everything else is dropped and counted.
#include <cstring>

#include "dataplane/dtls_path.h"
#include "dataplane/exception_path.h"
#include "dataplane/stages.h"

namespace tg::dp {

void ipv4_local_input(LcoreCtx& c, uint8_t in_port, rte_mbuf* m, const Ipv4Info& ip) {
  if (ip.is_fragment()) {
    drop_packet(c, m, DropReason::ipv4_fragment_to_us);
    return;
  }
  const uint8_t* packet = rte_pktmbuf_mtod_offset(m, const uint8_t*, wire::kEtherHdrLen);
  if (c.dtls != nullptr && dtls_wanted(*c.dp, c.dp->ports[in_port], packet, ip)) {
    dtls_input(c, in_port, m, ip);
    return;
  }
  if (exception_wanted(*c.dp, c.dp->ports[in_port], packet, ip)) {
    exception_output(c, m);
    return;
  }
  if (ip.proto != wire::kIpProtoIcmp) {
    drop_packet(c, m, DropReason::local_unhandled);
    return;
  }
  if (ip.hdr_len != wire::kIpv4MinHdrLen) {
    drop_packet(c, m, DropReason::ipv4_options);  // echo replies never carry options back
    return;
  }
  if (!rte_pktmbuf_is_contiguous(m)) {
    drop_packet(c, m, DropReason::icmp_malformed);  // af_packet and our pool never chain
    return;
  }
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* l3 = frame + wire::kEtherHdrLen;
  uint8_t* icmp = l3 + ip.hdr_len;
  const uint32_t icmp_len = ip.total_len - ip.hdr_len;
  if (icmp_len < wire::kIcmpHdrLen || ones_complement_sum(icmp, icmp_len) != 0xffff) {
    drop_packet(c, m, DropReason::icmp_malformed);
    return;
  }
  if (icmp[0] != wire::kIcmpEchoRequest || icmp[1] != 0) {
    drop_packet(c, m, DropReason::icmp_unhandled);
    return;
  }
  // Echo reply in place: only the type changes in the ICMP message (RFC 1624 update).
  icmp[0] = wire::kIcmpEchoReply;
  store_be16(icmp + 2, checksum_adjust(load_be16(icmp + 2), uint16_t{wire::kIcmpEchoRequest} << 8,
                                       uint16_t{wire::kIcmpEchoReply} << 8));
  // Swap addresses (the reply comes from the address that was pinged), fresh TTL.
  uint8_t tmp[6];
  std::memcpy(tmp, l3 + 12, 4);
  std::memcpy(l3 + 12, l3 + 16, 4);
  std::memcpy(l3 + 16, tmp, 4);
  l3[8] = wire::kDefaultTtl;
  store_be16(l3 + 10, 0);
  store_be16(l3 + 10, static_cast<uint16_t>(~ones_complement_sum(l3, ip.hdr_len)));
  // Back to the frame's sender: the source itself or the router it came through.
  std::memcpy(tmp, frame + 6, 6);
  std::memcpy(frame, tmp, 6);
  std::memcpy(frame + 6, c.dp->ports[in_port].mac.b, 6);
  c.stats->events.icmp_echo_replies += 1;
  tx_enqueue(c, in_port, m);
}

}  // namespace tg::dp
