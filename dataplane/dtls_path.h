// The DTLS fast path of the poll lcores (PROTOCOL.md §6): records of established DTLS
// sessions are opened and sealed here, on the lcore that owns the session; handshakes go
// to a TLS worker (dataplane/vpn/dtls_channel.h) and come back as keys.
//
//   outside UDP to listeners.dtls_port (ipv4_local) → dtls_input:
//     application data of a known flow  → staged; dtls_flush: epoch, replay check, crypto
//                                          burst, window advance, 1-byte type:
//                                          data → tunnel_input_burst (anti-spoofing, policy,
//                                          route), DPD → echoed as 0x04 (MTU probes), keepalive
//     handshake / CCS / alert            → the TLS worker named by the ClientHello's App-ID
//                                          (or the flow's pending handshake), rate-limited
//   inside packet for a pool address (tunnel_output) → dtls_output when the session has DTLS:
//     owner lcore → staged, sealed in dtls_flush, UDP/IPv4 out of the outside port;
//     another lcore → the owner's hand-off ring; DTLS silent (switch_to_tcp_s), packet too
//     big or sequence numbers used up → CSTP through the TLS worker, as before.
//   TLS worker → Dataplane::dtls_ctl[queue]: install (keys, flow) / remove messages;
//              → Dataplane::to_outside[queue]: handshake datagrams as IPv4 packets.
//
// Thread-safety: a DtlsSlot's plain fields are the owner lcore's; `owner` and `use_dtls`
// are atomics other threads read (and the TLS worker writes use_dtls = false when the
// client sends on CSTP). Everything in DtlsLcore is its lcore's.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

#include "dataplane/dataplane.h"
#include "dataplane/flow_table.h"
#include "dataplane/dtls/dtls_record.h"
#include "dataplane/dtls/replay_window.h"

struct rte_mbuf;

namespace tg::dp {

struct CipherState;
struct RecordJob;

/// What a DTLS slot remembers of its cipher state's key (DtlsSlot::key_hint): with an
/// intel-ipsec-mb key, which sits right behind the state (record_crypto.h,
/// ipsec_mb_key_behind), the key's lines go in flight as soon as the slot's first line is
/// read, beside the state's own line instead of after it: one cold step less per record
/// with many sessions.
enum class KeyHint : uint8_t { kNone = 0, kIpsecMbAes128 = 1, kIpsecMbAes256 = 2 };

/// DTLS state of one tunnel session, in a table indexed like the pool addresses
/// (SessionTable::slot_index), with the session table's slot of the address. Laid out by
/// who reads it: with many sessions every record finds its slot out of cache, so a received
/// record reads line 0 (its session check included) and one line of the replay ring (its
/// top sits at the end of line 0), a sent one lines 0 and 3.
struct alignas(64) DtlsSlot {
  // Line 0, every record. The owner lcore's (set by install messages) unless said otherwise:
  uint64_t ref = 0;                 ///< packed SessionRef this state belongs to (0 = none)
  CipherState* cipher = nullptr;
  uint64_t last_rx_tsc = 0;         ///< last authenticated record
  /// The tunnel's DTLS traffic (inner packets) over all its DTLS sessions (a new handshake of
  /// the same tunnel keeps counting), written by the owner only (relaxed stores), read by
  /// the TLS worker when the tunnel closes (its session's totals).
  std::atomic<uint64_t> rx_packets{0}, rx_bytes{0};
  uint16_t rx_epoch = 0;
  std::atomic<uint16_t> owner{0};   ///< shared: owning lcore's queue id + 1; 0 = no DTLS
  std::atomic<bool> use_dtls{false};///< shared: send to the client over DTLS (else CSTP)
  KeyHint key_hint = KeyHint::kNone;///< of `cipher` (record_crypto.h): its key's lines from line 0
  uint8_t pad_[2]{};
  /// The session table's slot of this address (SessionTable keeps its slots here when DTLS
  /// is on: tunnel_setup): the session a record is checked against, in the same line.
  std::atomic<uint64_t> bound{0};
  dtls::ReplayWindow window;        ///< top at 56, the ring in lines 1-2
  // Line 3, sent records and the control messages:
  uint64_t tx_sequence = 0;         ///< next sequence number to send
  std::atomic<uint64_t> tx_packets{0}, tx_bytes{0};
  uint64_t traffic_ref = 0;         ///< the tunnel the traffic counters belong to
  uint32_t addr = 0;                ///< the session's pool address
  uint32_t client_ip = 0;           ///< host order
  uint32_t local_ip = 0;            ///< the gateway address the client sends to
  uint16_t client_port = 0;
  uint16_t tx_epoch = 0;
  uint16_t max_inner = 0;           ///< largest inner packet sent over DTLS (else CSTP)
};
static_assert(offsetof(DtlsSlot, bound) < 64 && offsetof(DtlsSlot, window) == 56 &&
                  offsetof(DtlsSlot, tx_sequence) == 192 && sizeof(DtlsSlot) == 256,
              "the line layout rx_process and tx_process prefetch by");

/// A message from a TLS worker to the lcore owning (or about to own) a DTLS session.
/// Allocated with rte_malloc by the worker, freed by the lcore.
struct DtlsCtlMsg {
  enum class Kind : uint8_t { install, remove } kind = Kind::install;
  uint32_t slot = 0;
  uint64_t ref = 0;
  uint32_t addr = 0;
  uint32_t client_ip = 0;
  uint32_t local_ip = 0;
  uint16_t client_port = 0;
  uint16_t rx_epoch = 0;
  uint16_t tx_epoch = 0;
  uint16_t max_inner = 0;
  uint64_t tx_sequence = 0;
  CipherState* cipher = nullptr;  ///< install: ownership passes to the lcore
  uint32_t retries = 0;           ///< install waiting for another lcore's remove
};

/// The flow key of a client's UDP socket.
struct DtlsFlowKey {
  uint32_t ip;    ///< host order
  uint16_t port;  ///< host order
  uint16_t zero;  ///< always 0 (FlowTable keeps its top bit)
  /// As FlowTable's 64-bit key.
  uint64_t word() const {
    uint64_t w;
    std::memcpy(&w, this, sizeof w);
    return w;
  }
};
static_assert(sizeof(DtlsFlowKey) == sizeof(uint64_t));

inline constexpr unsigned kDtlsPendingSlots = 1024;  ///< per lcore, power of two
/// Entries per bucket of the pending table: a flow's bucket is its hash, and any of its
/// ways may hold it, so flows that share a bucket do not evict each other (a direct-mapped
/// table dropped about one handshake in 100 of a 16-login burst: tunnelgate-loadgen).
inline constexpr unsigned kDtlsPendingWays = 4;

/// Everything DTLS a poll lcore owns.
struct DtlsLcore {
  /// DtlsFlowKey → slot index, for the sessions it owns; in flows_mem (hugepages).
  std::optional<FlowTable> flows;
  void* flows_mem = nullptr;
  /// Handshakes under way: which TLS worker gets the next datagrams of a flow. Buckets of
  /// kDtlsPendingWays entries chosen by flow hash; a new flow takes a free or expired way,
  /// or, when all are live, the one expiring first (that client retries).
  struct Pending {
    uint32_t ip;
    uint16_t port;
    uint16_t worker;
    uint64_t expires_tsc;
  } pending[kDtlsPendingSlots];
  uint64_t handshake_tat_tsc = 0;  ///< GCRA of ClientHellos (limits.handshakes_per_second)
  /// Records staged during one RX burst.
  struct RxItem {
    rte_mbuf* m;
    DtlsFlowKey key;               ///< looked up for the whole burst at once (rx_process)
    dtls::DtlsRecord rec;          ///< parsed by dtls_input; its spans point into m
  };
  uint16_t n_rx = 0;
  RxItem rx[kBurst];
  /// Packets to seal: inner IPv4 packets (no Ethernet), or DPD replies already laid out.
  struct TxItem {
    rte_mbuf* m;
    uint32_t slot;
    bool is_reply;                 ///< m holds [eth][ip][udp][record]: reseal in place
  };
  uint16_t n_tx = 0;
  TxItem tx[2 * kBurst];
  /// Handshake datagrams per TLS worker, flushed once per burst.
  struct WorkerStage {
    uint16_t n = 0;
    rte_mbuf* pkts[kBurst];
  } to_worker[kMaxTlsWorkers];
};

/// Creates the lcore's DTLS state (main lcore, before the poll loops start).
/// @return nullptr with *error on failure.
DtlsLcore* dtls_lcore_create(const Dataplane& dp, unsigned queue_id, std::string* error);
void dtls_lcore_free(DtlsLcore* d);

/// True for UDP to the DTLS port of an outside port's address (DTLS on). Inline: asked of
/// every packet to the gateway's addresses.
inline bool dtls_wanted(const Dataplane& dp, const PortRuntime& port, const uint8_t* l3, const Ipv4Info& ip) {
  if (dp.dtls_port == 0 || ip.proto != wire::kIpProtoUdp ||
      port.role != static_cast<uint8_t>(config::PortConfig::Role::outside))
    return false;
  const uint32_t l4_len = ip.total_len - ip.hdr_len;
  return l4_len >= 4 && load_be16(l3 + ip.hdr_len + 2) == dp.dtls_port;
}

/// A datagram for the DTLS port (Ethernet header in place). Consumes m.
void dtls_input(LcoreCtx& c, uint8_t in_port, rte_mbuf* m, const Ipv4Info& ip);
/// An inner packet (no Ethernet header) for a pool address whose session may have DTLS.
/// @return true when the DTLS path took it; false: the caller sends it over CSTP.
bool dtls_output(LcoreCtx& c, rte_mbuf* m, uint32_t slot, uint64_t ref);
/// Open the staged records, seal the staged packets, hand the handshake datagrams over.
/// Called at the end of every RX burst and after the hand-off ring.
void dtls_flush(LcoreCtx& c);
/// Install/remove messages, the hand-off ring and handshake datagrams from the workers.
/// Called once per poll iteration. Returns the number of packets it handled.
unsigned dtls_poll_rings(LcoreCtx& c);
/// Release everything the lcore owns (poll loop exit).
void dtls_lcore_shutdown(LcoreCtx& c);

}  // namespace tg::dp
