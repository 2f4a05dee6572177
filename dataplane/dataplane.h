// The dataplane's shared state (read-only once the poll lcores run) and the per-lcore
// context each poll loop owns. Poll lcores get both by reference: no globals.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "api/session_shm.h"
#include "api/stats_shm.h"
#include "config/config.h"
#include "dataplane/neighbour_table.h"
#include "dataplane/policy_cache.h"
#include "dataplane/stage_clock.h"
#include "dataplane/wire.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_fib;
struct rte_ring;

namespace tg::dp {

class SessionTable;
struct PolicyState;
struct WorkerMailbox;
struct DtlsSlot;
struct DtlsLcore;
struct RecordCryptoDev;

inline constexpr uint16_t kBurst = 32;
inline constexpr unsigned kMaxTlsWorkers = 16;
/// "In port" of packets that came out of a tunnel: no ICMP error goes back that way.
inline constexpr uint8_t kTunnelInPort = 0xff;
/// Next-hop id rte_fib returns when no route matches (DIR24_8 with 2-byte next hops keeps
/// the top bit for itself, so ids are 15 bits).
inline constexpr uint64_t kNoRoute = 0x7fff;

/// A configured port as the poll lcores see it.
struct PortRuntime {
  uint16_t port_id = 0;  ///< DPDK port id
  uint8_t role = 0;      ///< 0 outside, 1 inside (config::PortConfig::Role)
  MacAddr mac{};
  uint32_t addr = 0;     ///< own IPv4 address, host order
  uint32_t net = 0;      ///< connected subnet
  uint32_t mask = 0;
  uint16_t mtu = 1500;
  bool rx_ipv4_cksum = false;  ///< the NIC checks IPv4 header checksums (RX offload on)
  bool owns(uint32_t a) const { return a == addr; }
  bool on_link(uint32_t a) const { return (a & mask) == net; }
  uint32_t broadcast() const { return net | ~mask; }
};

/// Where a route sends packets: out of `port` to `gateway`, or to the destination itself
/// when the subnet is connected (gateway 0).
struct Nexthop {
  uint8_t port = 0;  ///< index into Dataplane::ports
  uint32_t gateway = 0;
};

struct Dataplane {
  const config::Config* cfg = nullptr;
  unsigned n_ports = 0;              ///< configured (network) ports: ports[0 .. n_ports)
  PortRuntime ports[shm::kMaxPorts];  ///< then the exception port at exception_index
  bool has_exception = false;
  uint8_t exception_index = 0;        ///< == n_ports when has_exception
  uint16_t tls_port = 443;            ///< TCP port handed to the kernel on outside addresses
  // Tunnel path (tunnel_path.h): all null/0 when no pool is configured.
  SessionTable* sessions = nullptr;   ///< pool address → session; written by TLS workers
  /// Live session records (api/session_shm.h), [n_session_records] by slot_index; written
  /// by the TLS workers only (never by the lcores); null when the segment is absent.
  shm::SessionRecord* session_records = nullptr;
  uint32_t n_session_records = 0;
  PolicyState* policy = nullptr;      ///< per-app policy (policy_state.h)
  int session_dynfield = -1;          ///< mbuf dynamic field holding a packed SessionRef
  unsigned n_workers = 0;
  WorkerMailbox* workers = nullptr;   ///< [n_workers]
  rte_ring** from_workers = nullptr;  ///< [poll lcores], indexed by LcoreCtx::queue_id
  // DTLS fast path (dtls_path.h): dtls_port 0 and everything null when DTLS is off.
  uint16_t dtls_port = 0;             ///< UDP port of the DTLS listener on outside addresses
  DtlsSlot* dtls_slots = nullptr;     ///< [n_dtls_slots], indexed by SessionTable::slot_index
  uint32_t n_dtls_slots = 0;
  rte_ring** dtls_ctl = nullptr;      ///< [poll lcores]: DtlsCtlMsg* from the TLS workers
  rte_ring** dtls_handoff = nullptr;  ///< [poll lcores]: inner packets for sessions it owns
  rte_ring** to_outside = nullptr;    ///< [poll lcores]: handshake datagrams (IPv4) to send
  const RecordCryptoDev* crypto = nullptr;
  uint64_t dtls_switch_tsc = 0;       ///< limits.switch_to_tcp_s
  uint64_t dtls_pending_tsc = 0;      ///< limits.dtls_handshake_timeout_s
  uint64_t handshake_interval_tsc = 0;  ///< GCRA of ClientHellos per lcore
  uint64_t handshake_burst_tsc = 0;
  rte_fib* fib = nullptr;
  std::vector<Nexthop> nexthops;  ///< indexed by the fib's next-hop id
  NeighbourTable* neighbours = nullptr;
  rte_mempool* pool = nullptr;
  shm::StatsSegment* stats = nullptr;
  uint64_t tsc_hz = 0;
  uint64_t neigh_reachable_tsc = 0;  ///< resolved entries older than this are re-asked
  uint64_t neigh_retry_tsc = 0;      ///< between ARP requests for one next hop
  uint32_t neigh_retries = 0;        ///< requests before held packets are dropped
  uint64_t icmp_error_interval_tsc = 0;  ///< 0 = never send ICMP errors
  uint64_t icmp_error_burst_tsc = 0;
  uint32_t idle_sleep_us = 0;
  bool lab_forwarding = false;
  std::atomic<bool> stop{false};  ///< set by the main lcore; poll loops read it once per loop

  /// Index of the port owning `a`, or -1.
  int own_address_port(uint32_t a) const {
    for (unsigned i = 0; i < n_ports; i++)
      if (ports[i].owns(a)) return static_cast<int>(i);
    return -1;
  }
};

/// A packet waiting for its next hop's MAC.
struct HeldPacket {
  rte_mbuf* m;
  uint64_t since_tsc;
  int32_t neighbour;  ///< index in the neighbour table
  uint32_t next_hop;
  uint8_t out_port;
  uint8_t in_port;
};

struct TxQueue {
  uint16_t n = 0;
  uint64_t bytes = 0;  ///< of the queued packets
  rte_mbuf* pkts[2 * kBurst];
};

/// Everything one poll lcore owns. Only that lcore touches it (and its stats block).
struct alignas(64) LcoreCtx {
  Dataplane* dp = nullptr;
  unsigned lcore_id = 0;
  uint16_t queue_id = 0;  ///< the RX/TX queue pair this lcore owns on every port
  shm::LcoreStats* stats = nullptr;
  TxQueue tx[shm::kMaxPorts];
  std::vector<HeldPacket> held;  ///< capacity fixed at start (neighbour.queue_per_lcore)
  uint32_t held_cap = 0;
  uint64_t icmp_tat_tsc = 0;     ///< GCRA theoretical arrival time of the next ICMP error
  uint64_t next_timer_tsc = 0;
  bool garp_pending = false;     ///< queue 0's lcore announces every port once at start
  /// Packets for each TLS worker, staged during one RX burst (tunnel_output/tunnel_flush).
  struct WorkerStage {
    uint16_t n = 0;
    rte_mbuf* pkts[kBurst];
  } to_worker[kMaxTlsWorkers];
  DtlsLcore* dtls = nullptr;     ///< DTLS fast-path state (null when DTLS is off)
  PolicyVerdictCache policy_verdicts;  ///< verdicts of the flows it saw (tunnel_input_burst)
  StageClock clock;              ///< per-stage cycles of sampled iterations (stage_clock.h)

  void count_drop(DropReason r) { stats->drops[static_cast<unsigned>(r)] += 1; }
  /// `stage` ended, having handled `packets` (stage_clock.h).
  void stage_done(shm::LcoreStage stage, uint32_t packets) { clock.mark(*stats, stage, packets); }
};

/// The poll loop (rte_eal_remote_launch entry). `arg` is a LcoreCtx*.
int lcore_poll_loop(void* arg);

}  // namespace tg::dp
