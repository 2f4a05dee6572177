// Probe packets and the latency histogram of tunnelgate-loadgen (see the header).
#include "bench/loadgen/probe.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace tg::loadgen {

namespace {

void put16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8); p[1] = static_cast<uint8_t>(v); }
void put32(uint8_t* p, uint32_t v) { put16(p, static_cast<uint16_t>(v >> 16)); put16(p + 2, static_cast<uint16_t>(v)); }
void put64(uint8_t* p, uint64_t v) { put32(p, static_cast<uint32_t>(v >> 32)); put32(p + 4, static_cast<uint32_t>(v)); }
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return static_cast<uint32_t>(get16(p)) << 16 | get16(p + 2); }
uint64_t get64(const uint8_t* p) { return static_cast<uint64_t>(get32(p)) << 32 | get32(p + 4); }

constexpr uint8_t kProtoUdp = 17;

}  // namespace

uint16_t ipv4_checksum(std::span<const uint8_t> data) {
  uint32_t sum = 0;
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += get16(&data[i]);
  if (i < data.size()) sum += static_cast<uint32_t>(data[i]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

size_t build_probe_packet(std::span<uint8_t> out, size_t packet_bytes, const ProbeAddressing& addr,
                          const Probe& probe) {
  if (packet_bytes < kMinProbePacketBytes || packet_bytes > 65535 || out.size() < packet_bytes)
    return 0;
  uint8_t* ip = out.data();
  std::memset(ip, 0, packet_bytes);
  ip[0] = 0x45;
  put16(ip + 2, static_cast<uint16_t>(packet_bytes));
  put16(ip + 4, static_cast<uint16_t>(probe.seq));  // identification
  put16(ip + 6, 0x4000);                            // DF
  ip[8] = 64;
  ip[9] = kProtoUdp;
  put32(ip + 12, addr.src_ip);
  put32(ip + 16, addr.dst_ip);
  put16(ip + 10, ipv4_checksum({ip, kIpv4HeaderBytes}));
  uint8_t* udp = ip + kIpv4HeaderBytes;
  put16(udp, addr.src_port);
  put16(udp + 2, addr.dst_port);
  put16(udp + 4, static_cast<uint16_t>(packet_bytes - kIpv4HeaderBytes));
  uint8_t* payload = udp + kUdpHeaderBytes;
  put32(payload, kProbeMagic);
  put32(payload + 4, probe.session);
  put64(payload + 8, probe.seq);
  put64(payload + 16, probe.sent_ns);
  put32(payload + kProbeRunOffset, probe.run);
  put32(payload + kProbeEchoCountOffset, probe.echo_count);
  return packet_bytes;
}

std::optional<Probe> parse_probe_payload(std::span<const uint8_t> payload) {
  if (payload.size() < kProbePayloadBytes || get32(payload.data()) != kProbeMagic) return std::nullopt;
  Probe probe;
  probe.session = get32(&payload[4]);
  probe.seq = get64(&payload[8]);
  probe.sent_ns = get64(&payload[16]);
  probe.run = get32(&payload[kProbeRunOffset]);
  probe.echo_count = get32(&payload[kProbeEchoCountOffset]);
  return probe;
}

void set_probe_echo_count(std::span<uint8_t> payload, uint32_t count) {
  if (payload.size() >= kProbePayloadBytes) put32(&payload[kProbeEchoCountOffset], count);
}

std::optional<Probe> parse_probe_packet(std::span<const uint8_t> packet, uint32_t* dst_ip) {
  if (packet.size() < kIpv4HeaderBytes || packet[0] >> 4 != 4) return std::nullopt;
  const size_t header = static_cast<size_t>(packet[0] & 0x0f) * 4;
  const size_t total = get16(&packet[2]);
  if (header < kIpv4HeaderBytes || total < header + kUdpHeaderBytes || total > packet.size())
    return std::nullopt;
  if ((get16(&packet[6]) & 0x3fff) != 0 || packet[9] != kProtoUdp) return std::nullopt;  // fragment / not UDP
  const size_t udp_len = get16(&packet[header + 4]);
  if (udp_len < kUdpHeaderBytes || header + udp_len > total) return std::nullopt;
  if (dst_ip != nullptr) *dst_ip = get32(&packet[16]);
  return parse_probe_payload(packet.subspan(header + kUdpHeaderBytes, udp_len - kUdpHeaderBytes));
}

size_t LatencyHistogram::bucket_of(uint64_t ns) {
  if (ns < (1u << kSubBits)) return static_cast<size_t>(ns);
  const int msb = 63 - std::countl_zero(ns);
  const int shift = msb - kSubBits;
  const uint64_t sub = (ns >> shift) & ((1u << kSubBits) - 1);
  return std::min(kBuckets - 1, static_cast<size_t>((shift + 1) << kSubBits) + static_cast<size_t>(sub));
}

uint64_t LatencyHistogram::upper_edge(size_t bucket) {
  if (bucket < (1u << kSubBits)) return bucket;
  const size_t shift = (bucket >> kSubBits) - 1;
  const uint64_t sub = bucket & ((1u << kSubBits) - 1);
  return (((1ull << kSubBits) | sub) + 1) << shift;
}

void LatencyHistogram::add(uint64_t ns) {
  ++counts_[bucket_of(ns)];
  ++count_;
  max_ = std::max(max_, ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

uint64_t LatencyHistogram::quantile(double q) const {
  if (count_ == 0) return 0;
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(q * static_cast<double>(count_) + 0.5));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(upper_edge(i), max_);
  }
  return max_;
}

}  // namespace tg::loadgen
