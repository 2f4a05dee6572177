// Test helper: builds synthetic stats segments (api/stats_shm.h) in memory and as real
// POSIX shared-memory objects. Shared by the unit tests, the e2e test and the corpus check.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include "api/stats_shm.h"

namespace tg::controlplane::test {

/// A fixed "now" for hermetic staleness checks: 2023-11-14T22:13:20Z.
inline constexpr uint64_t kTestNowNs = 1'700'000'000'000'000'000ULL;

using SegmentPtr = std::unique_ptr<shm::StatsSegment>;

/// Distinctive counter values, so a test can tell which field ended up where.
inline uint64_t rx_packets(unsigned slot, unsigned port) { return 1000 * (slot + 1) + port; }
inline uint64_t rx_bytes(unsigned slot, unsigned port) { return 100000 * (slot + 1) + port; }
inline uint64_t tx_packets(unsigned slot, unsigned port) { return 2000 * (slot + 1) + port; }
inline uint64_t tx_bytes(unsigned slot, unsigned port) { return 200000 * (slot + 1) + port; }
inline uint64_t drops(unsigned slot, unsigned reason) { return slot * 100 + reason; }

/// A valid segment: instance `instance`, heartbeat `heartbeat_ns`, generation one minute
/// earlier; ports "outside" (role 0, link up) and "inside" (role 1, link down); poll lcores
/// 1 and 2 in slots 0 and 1 (all other slots inactive), with counters from the functions
/// above. Zero-initialised first, so padding is zero and the image is deterministic.
inline SegmentPtr make_segment(uint64_t heartbeat_ns = kTestNowNs,
                               const std::string& instance = "tg0") {
  auto s = std::make_unique<shm::StatsSegment>();
  s->magic = shm::kStatsMagic;
  s->version = shm::kStatsVersion;
  s->size = sizeof(shm::StatsSegment);
  s->generation = heartbeat_ns - 60'000'000'000ULL;
  s->pid = 4242;
  s->n_ports = 2;
  s->tsc_hz = 2'000'000'000ULL;
  s->heartbeat_ns = heartbeat_ns;
  s->neigh_entries = 3;
  s->mempool_in_use = 512;
  s->mempool_size = 8191;
  s->lab_forwarding = 0;
  std::strncpy(s->instance, instance.c_str(), sizeof s->instance - 1);
  // Policy: index 0 (reserved, "") and two apps.
  s->policy_generation = 3;
  s->n_apps = 3;
  std::strcpy(s->app_names[1], "com.example.mail");
  std::strcpy(s->app_names[2], "com.example.crm");
  // Certificates: a usable, active primary with a warning; a second not yet valid.
  s->server_certs[0] = {1, 1, 1, 0, 1u << static_cast<unsigned>(shm::CertFindingCode::no_root),
                        1700000000, 4000000000};
  s->server_certs[1] = {1, 0, 0, 0, 1u << static_cast<unsigned>(shm::CertFindingCode::not_yet_valid),
                        3900000000, 4100000000};
  s->cert_reloads_ok = 2;
  s->cert_reloads_failed = 1;
  s->cert_switches = 1;

  std::strcpy(s->ports[0].name, "outside");
  s->ports[0].dpdk_port_id = 0;
  s->ports[0].role = 0;
  const uint8_t mac0[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  std::memcpy(s->ports[0].mac, mac0, 6);
  s->ports[0].link_up = 1;
  s->ports[0].link_speed_mbps = 10000;
  s->ports[0].ipv4_host = 0xc0000201;  // 192.0.2.1
  s->ports[0].prefix_len = 24;

  std::strcpy(s->ports[1].name, "inside");
  s->ports[1].dpdk_port_id = 1;
  s->ports[1].role = 1;
  const uint8_t mac1[6] = {0x02, 0x00, 0x00, 0x00, 0xab, 0xcd};
  std::memcpy(s->ports[1].mac, mac1, 6);
  s->ports[1].link_up = 0;
  s->ports[1].link_speed_mbps = 0;
  s->ports[1].ipv4_host = 0xc6336401;  // 198.51.100.1
  s->ports[1].prefix_len = 24;

  for (unsigned slot = 0; slot < 2; ++slot) {
    shm::LcoreStats& l = s->lcores[slot];
    l.lcore_id = slot + 1;
    l.active = 1;
    l.loops = 1'000'000 * (slot + 1);
    l.busy_loops = 250'000 * (slot + 1);
    l.busy_cycles = 1'000;
    l.total_cycles = 4'000;
    l.events.arp_requests_answered = 11 + slot;
    l.events.arp_requests_sent = 12 + slot;
    l.events.arp_replies_received = 13 + slot;
    l.events.garp_sent = 14 + slot;
    l.events.icmp_echo_replies = 15 + slot;
    l.events.icmp_errors_sent = 16 + slot;
    l.events.ipv4_forwarded = 17 + slot;
    l.events.neigh_queued = 18 + slot;
    for (unsigned r = 0; r < shm::kDropReasonCount; ++r) {
      l.drops[r] = drops(slot, r);
    }
    for (unsigned a = 1; a < 3; ++a) {
      l.apps[a].to_backend_packets = 10 * a + slot;
      l.apps[a].to_backend_bytes = 1000 * a + slot;
      l.apps[a].to_client_packets = 20 * a + slot;
      l.apps[a].to_client_bytes = 2000 * a + slot;
      for (unsigned r = 0; r < shm::kPolicyDropCount; ++r) l.apps[a].policy_drops[r] = a * 100 + r + slot;
    }
    for (unsigned p = 0; p < 2; ++p) {
      l.ports[p].rx_packets = rx_packets(slot, p);
      l.ports[p].rx_bytes = rx_bytes(slot, p);
      l.ports[p].tx_packets = tx_packets(slot, p);
      l.ports[p].tx_bytes = tx_bytes(slot, p);
      l.ports[p].rx_bursts = 10 * (slot + 1) + p;
    }
    // Lcore 1 times 1 in 16 iterations per stage; lcore 2's stage clock is off.
    l.stage_sample = slot == 0 ? 16 : 0;
    for (unsigned st = 0; slot == 0 && st < shm::kLcoreStageCount; ++st) {
      l.stages[st].cycles = 1000 * (st + 1);
      l.stages[st].packets = 32 * (st + 1);
      l.stages[st].bursts = st + 1;
    }
  }
  // One TLS worker with distinct values.
  shm::TlsWorkerStats& w = s->tls_workers[0];
  w.worker = 0;
  w.active = 1;
  w.connections = 3;
  w.tunnels_open = 2;
  w.handshakes_ok = 40;
  for (unsigned r = 0; r < shm::kTlsHandshakeFailureCount; ++r) w.handshakes_failed[r] = 100 + r;
  w.cstp_rx_packets = 1000;
  w.cstp_tx_bytes = 123456;
  return s;
}

inline std::span<const std::byte> bytes_of(const shm::StatsSegment& s, size_t len = sizeof(shm::StatsSegment)) {
  return {reinterpret_cast<const std::byte*>(&s), len};
}

/// A POSIX shm object holding `len` bytes of `seg` (or an empty object when seg is null),
/// unlinked on destruction. Name: shm::stats_shm_name(instance).
class ShmObject {
 public:
  ShmObject(const std::string& instance, const shm::StatsSegment* seg,
            size_t len = sizeof(shm::StatsSegment))
      : name_(shm::stats_shm_name(instance)) {
    ::shm_unlink(name_.c_str());  // leftovers of an earlier crashed run with the same pid
    const int fd = ::shm_open(name_.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
      return;
    }
    ok_ = true;
    if (seg != nullptr) {
      ok_ = ::ftruncate(fd, static_cast<off_t>(len)) == 0;
      if (ok_) {
        void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ok_ = p != MAP_FAILED;
        if (ok_) {
          std::memcpy(p, seg, std::min(len, sizeof(shm::StatsSegment)));
          ::munmap(p, len);
        }
      }
    }
    ::close(fd);
  }
  ~ShmObject() { ::shm_unlink(name_.c_str()); }
  ShmObject(const ShmObject&) = delete;
  ShmObject& operator=(const ShmObject&) = delete;

  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  bool ok_ = false;
};

/// An instance name unique to this process and `tag` ([a-z0-9_-], at most 24 characters).
inline std::string unique_instance(const std::string& tag) {
  return "t" + std::to_string(::getpid()) + "-" + tag.substr(0, 12);
}

}  // namespace tg::controlplane::test
