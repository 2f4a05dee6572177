// The poll loop of one lcore: RX bursts from every port's queue `queue_id`, the stages,
// one TX flush per iteration, and a ~1 ms timer for the neighbour hold queue.
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include "dataplane/dtls_path.h"
#include "dataplane/exception_path.h"
#include "dataplane/policy_state.h"
#include "dataplane/record_crypto.h"
#include "dataplane/stages.h"
#include "dataplane/tunnel_path.h"

namespace tg::dp {
namespace {

// Idle backoff (dataplane.idle_sleep_us > 0; production busy-polls): the first empty poll
// sleeps idle_sleep_us, each further one in a row twice as long, up to 2^kIdleSleepMaxShift
// times it; a packet ends it. With a fixed 20 us an idle lcore of the test bed took 22 % of
// a core (a TAP read and a nanosleep, woken ~70 us later with the timer slack, per poll),
// 3 % with this; the first packet after a quiet spell waits at most 32 x 20 us.
constexpr unsigned kIdleSleepMaxShift = 5;

// One nap, ended early by a signal: the exception port's (exception_path.h) says the
// kernel has queued a packet for this lcore to read. rte_delay_us_sleep() would sleep on.
void idle_nap(unsigned us) {
  timespec ts{.tv_sec = us / 1'000'000, .tv_nsec = static_cast<long>(us % 1'000'000) * 1000};
  nanosleep(&ts, nullptr);
}

}  // namespace

int lcore_poll_loop(void* arg) {
  LcoreCtx& c = *static_cast<LcoreCtx*>(arg);
  Dataplane& dp = *c.dp;
  shm::LcoreStats& st = *c.stats;
  const uint64_t timer_tsc = dp.tsc_hz / 1000;
  const uint64_t start = rte_rdtsc();
  c.next_timer_tsc = start + timer_tsc;

  if (c.garp_pending) {
    for (unsigned p = 0; p < dp.n_ports; p++) arp_send_request(c, static_cast<uint8_t>(p), dp.ports[p].addr);
    tx_flush_all(c);
    c.garp_pending = false;
  }

  if (dp.crypto != nullptr) record_crypto_lcore_init(*dp.crypto);
  if (dp.idle_sleep_us) exception_signals_take();  // its signal ends a nap (exception_path.h)
  rte_mbuf* pkts[kBurst];
  unsigned idle_shift = 0;  // empty polls in a row so far, up to kIdleSleepMaxShift
  policy_lcore_online(dp.policy, c.queue_id);
  // relaxed: the flag only asks the loop to end; nothing is published through it.
  while (!dp.stop.load(std::memory_order_relaxed)) {
    // Quiescent: this lcore holds no policy table pointer between iterations.
    policy_lcore_quiescent(dp.policy, c.queue_id);
    const uint64_t loop_start = rte_rdtsc();
    c.clock.begin_iteration(loop_start);
    uint32_t received = 0;
    for (unsigned p = 0; p < dp.n_ports; p++) {
      const uint16_t n = rte_eth_rx_burst(dp.ports[p].port_id, c.queue_id, pkts, kBurst);
      if (n == 0) continue;
      c.stage_done(shm::LcoreStage::rx, n);
      shm::PortCounters& pc = st.ports[p];
      pc.rx_packets += n;
      pc.rx_bursts += 1;
      for (uint16_t i = 0; i < n; i++) pc.rx_bytes += rte_pktmbuf_pkt_len(pkts[i]);
      received += n;
      l2_input_burst(c, static_cast<uint8_t>(p), pkts, n);
    }
    if (dp.from_workers != nullptr) {
      const unsigned n = rte_ring_dequeue_burst(dp.from_workers[c.queue_id], reinterpret_cast<void**>(pkts),
                                                kBurst, nullptr);
      if (n != 0) {
        received += n;
        c.stage_done(shm::LcoreStage::rx, n);
        tunnel_input_burst(c, pkts, static_cast<uint16_t>(n));
      }
    }
    if (c.dtls != nullptr) received += dtls_poll_rings(c);
    if (dp.has_exception) {
      const PortRuntime& exc = dp.ports[dp.exception_index];
      const uint16_t n = rte_eth_rx_burst(exc.port_id, c.queue_id, pkts, kBurst);
      if (n != 0) {
        shm::PortCounters& pc = st.ports[dp.exception_index];
        pc.rx_packets += n;
        pc.rx_bursts += 1;
        for (uint16_t i = 0; i < n; i++) pc.rx_bytes += rte_pktmbuf_pkt_len(pkts[i]);
        received += n;
        c.stage_done(shm::LcoreStage::rx, n);
        exception_input_burst(c, pkts, n);
      }
    }
    if (loop_start >= c.next_timer_tsc) {
      // A fresh time: packets held during this iteration's bursts are newer than loop_start.
      if (!c.held.empty()) {
        neighbour_hold_service(c, rte_rdtsc());
        c.stage_done(shm::LcoreStage::other, 0);
      }
      c.next_timer_tsc = loop_start + timer_tsc;
    }
    tx_flush_all(c);
    c.clock.end_iteration();
    const uint64_t loop_end = rte_rdtsc();
    st.loops += 1;
    st.total_cycles = loop_end - start;
    if (received) {
      st.busy_loops += 1;
      st.busy_cycles += loop_end - loop_start;
      idle_shift = 0;
    } else if (dp.idle_sleep_us) {
      idle_nap(dp.idle_sleep_us << idle_shift);
      if (idle_shift < kIdleSleepMaxShift) idle_shift++;
    }
  }
  policy_lcore_offline(dp.policy, c.queue_id);
  // Nothing may stay behind in our hands: release held packets (counted).
  if (c.dtls != nullptr) dtls_lcore_shutdown(c);
  for (HeldPacket& h : c.held) drop_packet(c, h.m, DropReason::neigh_unresolved);
  c.held.clear();
  tx_flush_all(c);
  return 0;
}

}  // namespace tg::dp
