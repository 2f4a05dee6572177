// The tunnel path of the poll lcores: inner IPv4 packets between the TLS workers
// (sessions) and the inside ports.
//
//   worker → lcore:  Dataplane::from_workers[queue] (MP/SC rte_ring, one per poll lcore):
//                    raw inner IPv4, the sender's SessionRef in the mbuf's session field.
//                    tunnel_input_burst: IPv4 checks, source = the session's address
//                    (anti-spoofing), policy (service subnets), TTL, FIB, neighbour.
//   lcore → worker:  l2_input sees a destination in a pool → tunnel_output_burst →
//                    tunnel_output: TTL, strip
//                    Ethernet, stage per worker; tunnel_flush at the end of the burst:
//                    one enqueue burst per worker into WorkerMailbox::ring, then at most
//                    one wake-up per worker (a syscall only if the worker sleeps).
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "dataplane/dataplane.h"

struct rte_ring;

namespace tg::dp {

/// Where lcores put packets for one TLS worker's sessions.
struct WorkerMailbox {
  rte_ring* ring = nullptr;  ///< MP/SC: raw IPv4 for the worker's sessions
  rte_ring* dtls_ring = nullptr;  ///< MP/SC: DTLS handshake datagrams (IPv4; the lcore's queue in the session field)
  /// Called after packets were enqueued (at most once per burst per lcore); must be cheap
  /// and thread-safe (the TLS worker skips the eventfd write unless it is asleep).
  void (*wake)(void* ctx) = nullptr;
  void* wake_ctx = nullptr;
};

/// The session a tunnelled mbuf belongs to (a registered mbuf dynamic field).
inline uint64_t& mbuf_session_ref(rte_mbuf* m, int dynfield_offset) {
  return *RTE_MBUF_DYNFIELD(m, dynfield_offset, uint64_t*);
}
/// Register the dynamic field (main lcore, once). Returns its offset or -1 (rte_errno set).
int session_dynfield_register();

/// Inner packets from TLS workers (burst from Dataplane::from_workers[c.queue_id]).
void tunnel_input_burst(LcoreCtx& c, rte_mbuf** pkts, uint16_t n);
/// Packets from an inside port for pool addresses, at session-table `slots` (Ethernet
/// header present): each to its session (tunnel_output), or dropped when none is bound.
void tunnel_output_burst(LcoreCtx& c, uint8_t in_port, rte_mbuf** pkts, const uint32_t* slots, uint16_t n);
/// A packet from an inside port for the pool address at session-table `slot`, bound to
/// `ref` (Ethernet header present).
void tunnel_output(LcoreCtx& c, uint8_t in_port, rte_mbuf* m, uint64_t ref, uint32_t slot);
/// Stage an inner packet (no Ethernet header) for the TLS worker holding session `ref`
/// (CSTP). Flushes that worker's stage first when it is full.
void tunnel_to_worker(LcoreCtx& c, rte_mbuf* m, uint64_t ref);
/// Hand the staged packets to their workers. Called at the end of each RX burst.
void tunnel_flush(LcoreCtx& c);

}  // namespace tg::dp
