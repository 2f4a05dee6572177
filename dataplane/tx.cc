#include <rte_ethdev.h>

#include "dataplane/stages.h"

namespace tg::dp {

namespace {
void tx_flush(LcoreCtx& c, uint8_t port) {
  TxQueue& q = c.tx[port];
  if (q.n == 0) return;
  const uint16_t sent = rte_eth_tx_burst(c.dp->ports[port].port_id, c.queue_id, q.pkts, q.n);
  // Unsent mbufs are still ours: take their bytes back out before freeing them.
  uint64_t unsent_bytes = 0;
  for (uint16_t i = sent; i < q.n; i++) {
    unsent_bytes += rte_pktmbuf_pkt_len(q.pkts[i]);
    drop_packet(c, q.pkts[i], DropReason::tx_full);
  }
  shm::PortCounters& pc = c.stats->ports[port];
  pc.tx_packets += sent;
  pc.tx_bytes += q.bytes - unsent_bytes;
  q.n = 0;
  q.bytes = 0;
}
}  // namespace

void tx_enqueue(LcoreCtx& c, uint8_t port, rte_mbuf* m) {
  TxQueue& q = c.tx[port];
  q.bytes += rte_pktmbuf_pkt_len(m);
  q.pkts[q.n++] = m;
  if (q.n == sizeof(q.pkts) / sizeof(q.pkts[0])) tx_flush(c, port);
}

void tx_flush_all(LcoreCtx& c) {
  const unsigned n = c.dp->n_ports + (c.dp->has_exception ? 1 : 0);
  uint32_t queued = 0;
  for (unsigned p = 0; p < n; p++) {
    queued += c.tx[p].n;
    tx_flush(c, static_cast<uint8_t>(p));
  }
  if (queued != 0) c.stage_done(shm::LcoreStage::tx, queued);
}

}  // namespace tg::dp
