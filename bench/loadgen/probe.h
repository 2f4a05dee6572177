// The inner packets tunnelgate-loadgen offers through the tunnels: IPv4/UDP datagrams whose
// payload starts with a probe header (session, sequence number, send time), which the
// backend echo (tunnelgate-loadgen-echo) returns with its own receive count filled in.
// Also the latency histogram the generator keeps. Pure functions; no allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace tg::loadgen {

inline constexpr uint32_t kProbeMagic = 0x54474c47;  // "TGLG"
inline constexpr size_t kIpv4HeaderBytes = 20;
inline constexpr size_t kUdpHeaderBytes = 8;
/// magic u32 | session u32 | seq u64 | send time ns u64 | run u32 | echo receive count u32
/// (network order). The run is a random number per generator run: the echo restarts its
/// count when it changes, so the count is "probes of this run received so far".
inline constexpr size_t kProbePayloadBytes = 32;
inline constexpr size_t kProbeRunOffset = 24;
inline constexpr size_t kProbeEchoCountOffset = 28;
/// The smallest packet that carries a probe (IPv4 + UDP + probe).
inline constexpr size_t kMinProbePacketBytes = kIpv4HeaderBytes + kUdpHeaderBytes + kProbePayloadBytes;

struct ProbeAddressing {
  uint32_t src_ip = 0;     ///< host order (the session's tunnel address)
  uint32_t dst_ip = 0;     ///< host order (the backend echo)
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
};

struct Probe {
  uint32_t session = 0;
  uint64_t seq = 0;
  uint64_t sent_ns = 0;
  uint32_t run = 0;         ///< the generator run
  uint32_t echo_count = 0;  ///< probes of this run the echo had received when it answered (0 from a client)
};

/// Writes an IPv4/UDP packet of exactly `packet_bytes` (kMinProbePacketBytes..65535) into
/// `out`: IPv4 header with checksum, DF, TTL 64; UDP checksum 0 (allowed in IPv4);
/// the probe, then zero padding. @return packet_bytes, or 0 if it does not fit / is too small.
size_t build_probe_packet(std::span<uint8_t> out, size_t packet_bytes, const ProbeAddressing& addr,
                          const Probe& probe);

/// Reads a probe from an IPv4/UDP packet that came back through a tunnel. nullopt for
/// anything else (not IPv4, bad lengths, fragments, not UDP, no magic): never trusted further.
/// `dst_ip` (host order) receives the packet's destination address.
std::optional<Probe> parse_probe_packet(std::span<const uint8_t> packet, uint32_t* dst_ip);

/// Reads / writes the probe at the start of a UDP payload (the echo side).
std::optional<Probe> parse_probe_payload(std::span<const uint8_t> payload);
void set_probe_echo_count(std::span<uint8_t> payload, uint32_t count);

/// The RFC 1071 checksum of `data`.
uint16_t ipv4_checksum(std::span<const uint8_t> data);

/// Log-linear histogram of nanosecond values: 16 sub-buckets per power of two (≤ 6.25 %
/// error), fixed size, no allocation.
class LatencyHistogram {
 public:
  void add(uint64_t ns);
  void merge(const LatencyHistogram& other);
  uint64_t count() const { return count_; }
  /// The value at quantile q (0..1), as the upper edge of its bucket; 0 when empty.
  uint64_t quantile(double q) const;
  uint64_t max() const { return max_; }

 private:
  static constexpr int kSubBits = 4;
  static constexpr size_t kBuckets = 64 << kSubBits;
  static size_t bucket_of(uint64_t ns);
  static uint64_t upper_edge(size_t bucket);
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace tg::loadgen
