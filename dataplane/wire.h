// Bounds-checked parsers of the L2/L3 headers the poll lcores look at.
//
// Pure functions over bytes (no mbufs, no EAL) so they are unit-tested and fuzzed as
// plain C++. Every length is checked before a header field is trusted. They return
// kPass or the drop reason the caller counts. Addresses come out in host byte order.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#include "api/stats_shm.h"

namespace tg::dp {

using shm::DropReason;
/// "Not dropped": the sentinel past the last reason.
inline constexpr DropReason kPass = DropReason::count;

namespace wire {
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86DD;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint32_t kEtherHdrLen = 14;
inline constexpr uint32_t kIpv4MinHdrLen = 20;
inline constexpr uint32_t kArpEthIpv4Len = 28;
inline constexpr uint32_t kIcmpHdrLen = 8;
inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpUnreachable = 3;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpCodeNetUnreachable = 0;
inline constexpr uint8_t kIcmpCodeHostUnreachable = 1;
inline constexpr uint8_t kIcmpCodeFragNeeded = 4;
inline constexpr uint8_t kIcmpCodeTtlInTransit = 0;
inline constexpr uint16_t kArpOpRequest = 1;
inline constexpr uint16_t kArpOpReply = 2;
inline constexpr uint16_t kIpv4FlagDf = 0x4000;
inline constexpr uint16_t kIpv4FlagMf = 0x2000;
inline constexpr uint16_t kIpv4OffsetMask = 0x1fff;
inline constexpr uint8_t kDefaultTtl = 64;
/// RFC 1812 4.3.2.3: an ICMP error carries as much of the original as fits in 576 bytes.
inline constexpr uint32_t kIcmpErrorMaxLen = 576;
}  // namespace wire

struct EtherInfo {
  uint16_t ether_type;
  bool dst_is_broadcast;
  bool dst_is_multicast;  ///< group bit set (broadcast included)
};
// parse_ether is below, with the byte-order helpers it uses (inline: every frame).

struct ArpInfo {
  uint16_t op;
  uint8_t sender_mac[6];
  uint32_t sender_ip;
  uint32_t target_ip;
};
/// ARP over Ethernet/IPv4 (RFC 826); `l3` points past the Ethernet header.
DropReason parse_arp(const uint8_t* l3, uint32_t len, ArpInfo* out);

struct Ipv4Info {
  uint16_t hdr_len;    ///< bytes, 20..60
  uint16_t total_len;  ///< from the header; <= the bytes available
  uint16_t frag_field; ///< flags + offset, host order
  uint8_t ttl;
  uint8_t proto;
  uint32_t src;
  uint32_t dst;
  bool is_fragment() const { return (frag_field & (wire::kIpv4FlagMf | wire::kIpv4OffsetMask)) != 0; }
  bool is_later_fragment() const { return (frag_field & wire::kIpv4OffsetMask) != 0; }
  bool dont_fragment() const { return (frag_field & wire::kIpv4FlagDf) != 0; }
};
/// Big-endian (network order) loads and stores of header fields at any alignment.
inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t load_be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
inline void store_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void store_be32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

/// Writes a 20-byte IPv4 header (no options, id 0) with its checksum: what the gateway
/// sends itself (ICMP errors, DTLS records, handshake datagrams).
/// @param tos the DSCP/ECN byte; @param frag flags + fragment offset (e.g. kIpv4FlagDf).
void ipv4_header_write(uint8_t* ip, uint8_t tos, uint16_t total_len, uint16_t frag, uint8_t proto,
                       uint32_t src, uint32_t dst);

/// One's-complement sum of `len` bytes folded to 16 bits (RFC 1071), not inverted.
uint16_t ones_complement_sum(const uint8_t* data, uint32_t len);

/// A one's-complement sum folded to 16 bits (the carries added back in, RFC 1071), not inverted.
inline uint16_t ones_complement_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

/// The end of a sum of host-order words: folded to 16 bits, then one byte swap gives the
/// big-endian sum (RFC 1071 §2(B): the sum does not depend on byte order).
inline uint16_t ones_complement_finish(uint64_t sum) {
  auto s = ones_complement_fold(sum);
  if constexpr (std::endian::native == std::endian::little) s = static_cast<uint16_t>((s >> 8) | (s << 8));
  return s;
}

/// ones_complement_sum() of an IPv4 header of `hdr_len` bytes (20..60, a multiple of 4).
/// Every packet's header is checked, twice on the decrypt path (the outer one and the
/// tunnel's): the usual 20 bytes are five 32-bit loads and the folds here, inlined, where
/// the general loop of ones_complement_sum() was a call, its loop and tail tests
/// (bench/dtls_record_bench).
inline uint16_t ipv4_header_sum(const uint8_t* l3, uint32_t hdr_len) {
  if (hdr_len != wire::kIpv4MinHdrLen) return ones_complement_sum(l3, hdr_len);
  // Host-order words, as ones_complement_sum; the fold loop runs at most three times here.
  // Five loads from the packet (one memcpy of all 20 bytes went through the stack).
  uint64_t sum = 0;
  for (uint32_t i = 0; i < wire::kIpv4MinHdrLen; i += 4) {
    uint32_t w;
    std::memcpy(&w, l3 + i, sizeof w);
    sum += w;
  }
  return ones_complement_finish(sum);
}

/// Ethernet header. Frames shorter than 14 bytes are runts; VLAN tags are not handled.
/// Inline: on every received frame.
inline DropReason parse_ether(const uint8_t* frame, uint32_t len, EtherInfo* out) {
  if (len < wire::kEtherHdrLen) return DropReason::runt;
  out->dst_is_multicast = (frame[0] & 1) != 0;
  static constexpr uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  out->dst_is_broadcast = std::memcmp(frame, kBroadcast, 6) == 0;
  out->ether_type = load_be16(frame + 12);
  return kPass;
}

/// IPv4 header: version, IHL, total length against the bytes present, header checksum,
/// and martian addresses (RFC 1812 5.3.7: 0/8, 127/8 and class E/multicast/broadcast
/// sources; 0/8 and 127/8 destinations). Inline: on every packet, twice on the decrypt path.
/// `nic_checked`: the port's NIC verified the header checksum (RX offload; l2_input), so it
/// is not summed again.
inline DropReason parse_ipv4(const uint8_t* l3, uint32_t len, Ipv4Info* out, bool nic_checked = false) {
  if (len < wire::kIpv4MinHdrLen) return DropReason::runt;
  if ((l3[0] >> 4) != 4) return DropReason::ipv4_bad_header;
  const uint32_t hdr_len = uint32_t{l3[0] & 0x0fu} * 4;
  const uint32_t total_len = load_be16(l3 + 2);
  if (hdr_len < wire::kIpv4MinHdrLen || hdr_len > len || total_len < hdr_len || total_len > len) {
    return DropReason::ipv4_bad_header;
  }
  if (!nic_checked && ipv4_header_sum(l3, hdr_len) != 0xffff) return DropReason::ipv4_bad_checksum;
  out->hdr_len = static_cast<uint16_t>(hdr_len);
  out->total_len = static_cast<uint16_t>(total_len);
  out->frag_field = load_be16(l3 + 6);
  out->ttl = l3[8];
  out->proto = l3[9];
  out->src = load_be32(l3 + 12);
  out->dst = load_be32(l3 + 16);
  const uint8_t src_net = static_cast<uint8_t>(out->src >> 24);
  const uint8_t dst_net = static_cast<uint8_t>(out->dst >> 24);
  if (src_net == 0 || src_net == 127 || src_net >= 224 || dst_net == 0 || dst_net == 127) {
    return DropReason::ipv4_martian;
  }
  return kPass;
}

/// RFC 1624 incremental update of a checksum when a 16-bit word changes from old to new.
inline uint16_t checksum_adjust(uint16_t cksum, uint16_t old_word, uint16_t new_word) {
  const uint32_t sum =
      static_cast<uint16_t>(~cksum) + static_cast<uint32_t>(static_cast<uint16_t>(~old_word)) + new_word;
  return static_cast<uint16_t>(~ones_complement_fold(sum));
}

/// TTL decrement of a forwarded packet with the RFC 1624 checksum update; `l3` points at
/// a validated IPv4 header whose TTL is above 1.
inline void ipv4_ttl_decrement(uint8_t* l3) {
  const uint16_t old_word = load_be16(l3 + 8);
  l3[8] -= 1;
  store_be16(l3 + 10, checksum_adjust(load_be16(l3 + 10), old_word, load_be16(l3 + 8)));
}

/// True for 224.0.0.0/4 and 255.255.255.255 (never a unicast destination).
inline bool ipv4_is_multicast_or_broadcast(uint32_t a) {
  return (a >> 28) == 0xe || a == 0xffffffffu;
}

}  // namespace tg::dp
