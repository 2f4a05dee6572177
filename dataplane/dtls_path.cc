#include "dataplane/dtls_path.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_jhash.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_random.h>
#include <rte_ring.h>

#include "dataplane/dtls/client_hello.h"
#include "dataplane/record_crypto.h"
#include "dataplane/session_table.h"
#include "dataplane/stages.h"
#include "dataplane/tunnel_path.h"

namespace tg::dp {
namespace {

constexpr uint16_t kUdpHdrLen = 8;
/// Ethernet + IPv4 (no options) + UDP in front of every record we send.
constexpr uint16_t kOuterHdrLen = wire::kEtherHdrLen + wire::kIpv4MinHdrLen + kUdpHdrLen;
constexpr unsigned kCtlBurst = 8;
/// An install for a slot another lcore still owns waits for that lcore's remove; it is
/// retried once per poll iteration this many times, then dropped (the client's DTLS then
/// dies and it falls back to CSTP).
constexpr uint32_t kMaxInstallRetries = 100000;

uint32_t flow_hash(uint32_t ip, uint16_t port) {
  return rte_jhash_2words(ip, port, 0x7467646c);
}

// Single writer (the owner lcore): a plain load and store, no locked instruction.
void add_relaxed(std::atomic<uint64_t>& n, uint64_t v) {
  n.store(n.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
}

RecordCryptoCounters crypto_counters(LcoreCtx& c) {
  return {&c.stats->events.crypto_enqueued, &c.stats->events.crypto_dequeued, &c.stats->events.crypto_failed,
          &c.stats->crypto_queue_depth_max};
}

KeyHint key_hint_of(const CipherState& cs) {
  if (cs.engine != RecordEngine::kIpsecMb) return KeyHint::kNone;
  return cs.cipher == crypto::DtlsCipher::kAes256Gcm ? KeyHint::kIpsecMbAes256 : KeyHint::kIpsecMbAes128;
}

void release_slot(LcoreCtx& c, uint32_t slot) {
  Dataplane& dp = *c.dp;
  DtlsSlot& s = dp.dtls_slots[slot];
  if (s.cipher == nullptr) return;
  const uint64_t key = DtlsFlowKey{s.client_ip, s.client_port, 0}.word();
  // The flow may already point at a newer session of the same client (same ip:port).
  if (c.dtls->flows->lookup(key) == slot) c.dtls->flows->remove(key);
  cipher_state_free(s.cipher);
  s.cipher = nullptr;
  s.key_hint = KeyHint::kNone;
  s.ref = 0;
  s.use_dtls.store(false, std::memory_order_relaxed);
  s.owner.store(0, std::memory_order_release);
  c.stats->dtls_sessions -= 1;
  c.stats->events.dtls_sessions_removed += 1;
}

// Applies one message; false = try again later (the slot belongs to another lcore still).
bool apply_ctl(LcoreCtx& c, DtlsCtlMsg& msg) {
  Dataplane& dp = *c.dp;
  if (msg.slot >= dp.n_dtls_slots) {
    cipher_state_free(msg.cipher);
    return true;
  }
  DtlsSlot& s = dp.dtls_slots[msg.slot];
  const uint16_t me = static_cast<uint16_t>(c.queue_id + 1);
  if (msg.kind == DtlsCtlMsg::Kind::remove) {
    if (s.owner.load(std::memory_order_acquire) == me && s.ref == msg.ref) release_slot(c, msg.slot);
    return true;
  }
  const uint16_t owner = s.owner.load(std::memory_order_acquire);
  if (owner != 0 && owner != me) return false;
  if (owner == me) release_slot(c, msg.slot);  // rekey or reconnect: the new keys replace the old
  s.ref = msg.ref;
  s.cipher = msg.cipher;
  s.key_hint = key_hint_of(*s.cipher);
  msg.cipher = nullptr;
  s.addr = msg.addr;
  s.client_ip = msg.client_ip;
  s.client_port = msg.client_port;
  s.local_ip = msg.local_ip;
  s.rx_epoch = msg.rx_epoch;
  s.tx_epoch = msg.tx_epoch;
  s.tx_sequence = msg.tx_sequence;
  s.max_inner = msg.max_inner;
  s.window.reset();
  s.last_rx_tsc = rte_rdtsc();
  if (s.traffic_ref != msg.ref) {  // another tunnel: its own totals
    for (std::atomic<uint64_t>* n : {&s.rx_packets, &s.rx_bytes, &s.tx_packets, &s.tx_bytes})
      n->store(0, std::memory_order_relaxed);
    s.traffic_ref = msg.ref;
  }
  if (!c.dtls->flows->add(DtlsFlowKey{msg.client_ip, msg.client_port, 0}.word(), msg.slot)) {
    // The table has room for a key per slot, so this should not happen; if it does (a table
    // sized wrong once held 64), it is counted, never silent: the client stays on CSTP.
    cipher_state_free(s.cipher);
    s.cipher = nullptr;
    s.key_hint = KeyHint::kNone;
    s.ref = 0;
    c.stats->events.dtls_sessions_refused += 1;
    return true;
  }
  c.stats->dtls_sessions += 1;
  c.stats->events.dtls_sessions_installed += 1;
  // The handshake just finished, so the client's UDP path works: send over DTLS.
  s.use_dtls.store(true, std::memory_order_relaxed);
  s.owner.store(me, std::memory_order_release);
  return true;
}


// Writes IPv4 + UDP headers in front of a record of `record_len` bytes at frame + 34 + 8.
void write_outer_headers(uint8_t* frame, const DtlsSlot& s, uint16_t dtls_port, uint16_t record_len) {
  uint8_t* ip = frame + wire::kEtherHdrLen;
  const uint16_t udp_len = static_cast<uint16_t>(kUdpHdrLen + record_len);
  // DF: DTLS sizes its records to the path (openconnect probes it), never fragment.
  ipv4_header_write(ip, 0, static_cast<uint16_t>(wire::kIpv4MinHdrLen + udp_len), wire::kIpv4FlagDf,
                    wire::kIpProtoUdp, s.local_ip, s.client_ip);
  uint8_t* udp = ip + wire::kIpv4MinHdrLen;
  store_be16(udp, dtls_port);
  store_be16(udp + 2, s.client_port);
  store_be16(udp + 4, udp_len);
  store_be16(udp + 6, 0);  // no UDP checksum (RFC 768): the record carries an AEAD tag
}

void rx_process(LcoreCtx& c) {
  Dataplane& dp = *c.dp;
  DtlsLcore& d = *c.dtls;
  RecordJobs<kBurst> job_room;
  RecordJob* const jobs = job_room.job;
  uint32_t slots[kBurst];
  unsigned n = 0;
  // With many sessions every packet's state is likely out of cache: put all the misses of
  // the burst in flight before the first is needed. The flow table's bulk lookup pipelines
  // its bucket reads; then the two lines of each session's DTLS slot a record reads, and below,
  // as its checks pass, its cipher state and the lines of its cryptodev session the AEAD
  // reads (record_crypto_run). Each line costs: a burst of records of 32 sessions keeps the
  // core's line fill buffers full (bench/dtls_record_bench, BM_DtlsDecryptSessions).
  uint64_t keys[kBurst];
  for (uint16_t i = 0; i < d.n_rx; i++) keys[i] = d.rx[i].key.word();
  uint32_t slot_of[kBurst];  // the flow's DTLS slot, or FlowTable::kMiss
  d.flows->lookup_bulk(keys, d.n_rx, slot_of);
  for (uint16_t i = 0; i < d.n_rx; i++) {
    if (slot_of[i] == FlowTable::kMiss) continue;
    const uint32_t slot = slot_of[i];
    const DtlsSlot& s = dp.dtls_slots[slot];
    rte_prefetch0(&s);
    rte_prefetch0(s.window.word_of(d.rx[i].rec.sequence));  // (the session's ref is in line 0)
  }
  uint16_t passed[kBurst];  // packets whose session, epoch and sequence checks passed
  unsigned n_passed = 0;
  const CipherState* key_prefetched = nullptr;  // the last state whose key was put in flight
  for (uint16_t i = 0; i < d.n_rx; i++) {
    const DtlsLcore::RxItem& it = d.rx[i];
    if (slot_of[i] == FlowTable::kMiss) {
      drop_packet(c, it.m, DropReason::dtls_unknown_session);
      continue;
    }
    const uint32_t slot = slot_of[i];
    DtlsSlot& s = dp.dtls_slots[slot];
    const dtls::DtlsRecord& rec = it.rec;
    // A session that ended (its address rebound or free) keeps no DTLS: the remove
    // message is on its way. (The DTLS slot index is the address's session-table slot.)
    if (s.cipher == nullptr || dp.sessions->lookup_slot(slot) != s.ref) {
      drop_packet(c, it.m, DropReason::dtls_unknown_session);
      continue;
    }
    if (rec.epoch != s.rx_epoch) {
      drop_packet(c, it.m, DropReason::dtls_bad_epoch);
      continue;
    }
    if (s.window.check(rec.sequence) != dtls::ReplayVerdict::kAccept) {
      drop_packet(c, it.m, DropReason::dtls_replay);
      continue;
    }
    rte_prefetch0(s.cipher);  // read in the next pass: in flight for the rest of this one
    // And its key, without waiting for the state (KeyHint); a burst of one flow: once.
    if (s.key_hint != KeyHint::kNone && s.cipher != key_prefetched) {
      record_crypto_prefetch_ipsec_mb_key(*dp.crypto, s.key_hint == KeyHint::kIpsecMbAes256,
                                          ipsec_mb_key_behind(s.cipher, false), rec.fragment.size());
      key_prefetched = s.cipher;
    }
    passed[n_passed++] = i;
  }
  // Second pass: the cipher states are (mostly) in cache now; their cryptodev sessions go in
  // flight while the jobs are built, and record_crypto_run reads them after. One pass did
  // prefetch and dereference each cipher state back to back: one full miss per record at
  // 100k sessions.
  const void* prefetched = nullptr;  // the last cryptodev session put in flight (a burst of one flow: once)
  for (unsigned k = 0; k < n_passed; k++) {
    const DtlsLcore::RxItem& it = d.rx[passed[k]];
    const uint32_t slot = slot_of[passed[k]];
    const DtlsSlot& s = dp.dtls_slots[slot];
    const dtls::DtlsRecord& rec = it.rec;
    if (rec.fragment.size() < s.cipher->overhead) {
      drop_packet(c, it.m, DropReason::dtls_too_short);
      continue;
    }
    if (s.key_hint == KeyHint::kNone && s.cipher->key_rx != nullptr && s.cipher->key_rx != prefetched) {
      record_crypto_prefetch_key(*dp.crypto, *s.cipher, s.cipher->key_rx, rec.fragment.size());
      prefetched = s.cipher->key_rx;
    }
    // The mbuf's second line (next segment, the session ref's dynamic field), written after
    // the crypto: in flight meanwhile.
    rte_prefetch0(RTE_PTR_ADD(it.m, RTE_CACHE_LINE_SIZE));
    // Field by field: the fields of a seal stay unset (zeroing the whole job was a rep stos
    // per record).
    RecordJob& j = jobs[n];
    j.m = it.m;
    j.cs = s.cipher;
    j.record = const_cast<uint8_t*>(rec.record.data());
    j.seal = false;
    j.rec = rec;
    slots[n++] = slot;
  }
  c.stage_done(shm::LcoreStage::session_lookup, d.n_rx);
  d.n_rx = 0;
  if (n == 0) return;
  record_crypto_run(*dp.crypto, c.queue_id, jobs, n, crypto_counters(c));
  const uint64_t now = rte_rdtsc();
  rte_mbuf* inner[kBurst];
  uint16_t n_inner = 0;
  uint64_t decrypted = 0, data_bytes = 0;  // the lcore's counters, added once per burst
  for (unsigned i = 0; i < n; i++) {
    RecordJob& j = jobs[i];
    DtlsSlot& s = dp.dtls_slots[slots[i]];
    if (!j.ok) {
      drop_packet(c, j.m, DropReason::dtls_bad_tag);
      continue;
    }
    // Two copies of one record in this burst both passed check(); only one advances.
    if (s.window.advance(j.rec.sequence) != dtls::ReplayVerdict::kAccept) {
      drop_packet(c, j.m, DropReason::dtls_replay);
      continue;
    }
    s.last_rx_tsc = now;
    if (!s.use_dtls.load(std::memory_order_relaxed)) s.use_dtls.store(true, std::memory_order_relaxed);
    decrypted += 1;
    dtls::DtlsInner in;
    if (dtls::dtls_inner_parse(j.plaintext, &in) != dtls::DtlsParseError::kOk) {
      drop_packet(c, j.m, DropReason::dtls_inner_unknown);
      continue;
    }
    uint8_t* base = rte_pktmbuf_mtod(j.m, uint8_t*);
    switch (in.type) {
      case dtls::InnerType::kData: {
        // The inner packet alone: the record lies in the mbuf's one segment (dtls_input
        // parsed it within data_len), so set the lengths once instead of adj + trim.
        const auto len = static_cast<uint16_t>(in.payload.size());
        j.m->data_off = static_cast<uint16_t>(j.m->data_off + (in.payload.data() - base));
        j.m->data_len = len;
        j.m->pkt_len = len;
        mbuf_session_ref(j.m, dp.session_dynfield) = s.ref;
        data_bytes += len;
        add_relaxed(s.rx_packets, 1);
        add_relaxed(s.rx_bytes, len);
        inner[n_inner++] = j.m;
        break;
      }
      case dtls::InnerType::kDpdRequest: {
        // Echo it whole as a response: openconnect's MTU probe checks the length (§6.9).
        j.plaintext[0] = static_cast<uint8_t>(dtls::InnerType::kDpdResponse);
        rte_pktmbuf_trim(j.m, static_cast<uint16_t>(rte_pktmbuf_data_len(j.m) - (j.plaintext.data() - base) -
                                                    j.plaintext.size() - dtls::aead::kTagBytes));
        if (d.n_tx == 2 * kBurst) {
          drop_packet(c, j.m, DropReason::dtls_handoff_ring_full);
          break;
        }
        d.tx[d.n_tx++] = {j.m, slots[i], true};
        c.stats->events.dtls_dpd_answered += 1;
        break;
      }
      case dtls::InnerType::kKeepalive:
        c.stats->events.dtls_keepalives += 1;
        rte_pktmbuf_free(j.m);
        break;
      default:  // DPD response, disconnect (openconnect says BYE on CSTP): liveness only
        rte_pktmbuf_free(j.m);
        break;
    }
  }
  c.stats->events.dtls_records_decrypted += decrypted;
  c.stats->events.dtls_rx_bytes += data_bytes;
  c.stage_done(shm::LcoreStage::decrypt, n);
  if (n_inner) tunnel_input_burst(c, inner, n_inner);
}

void tx_process(LcoreCtx& c) {
  Dataplane& dp = *c.dp;
  DtlsLcore& d = *c.dtls;
  RecordJobs<2 * kBurst> job_room;
  RecordJob* const jobs = job_room.job;
  uint32_t slots[2 * kBurst];
  unsigned n = 0;
  const uint64_t now = rte_rdtsc();
  // As in rx_process: the lines a sent record reads, for the whole burst before the first is
  // needed: the slot's send line and the cipher state (line 0 is in cache: dtls_output read
  // it); below, as each packet passes, its cryptodev session's.
  // A burst of one flow (the usual case with few sessions) prefetches once.
  for (uint16_t i = 0; i < d.n_tx; i++) {
    if (i != 0 && d.tx[i].slot == d.tx[i - 1].slot) continue;
    const DtlsSlot& s = dp.dtls_slots[d.tx[i].slot];
    rte_prefetch0(&s.tx_sequence);
    if (s.cipher != nullptr) rte_prefetch0(s.cipher);
  }
  const void* prefetched = nullptr;  // the last cryptodev session put in flight
  for (uint16_t i = 0; i < d.n_tx; i++) {
    const DtlsLcore::TxItem& it = d.tx[i];
    DtlsSlot& s = dp.dtls_slots[it.slot];
    rte_mbuf* m = it.m;
    if (it.is_reply) {
      if (s.cipher == nullptr) {
        rte_pktmbuf_free(m);
        continue;
      }
      // [eth][ip (maybe with options)][udp][record]: rebuild the outer part without options.
      const uint8_t* l3 = rte_pktmbuf_mtod_offset(m, const uint8_t*, wire::kEtherHdrLen);
      const uint16_t ihl = static_cast<uint16_t>((l3[0] & 0x0f) * 4);
      rte_pktmbuf_adj(m, static_cast<uint16_t>(ihl - wire::kIpv4MinHdrLen));
      uint8_t* record = rte_pktmbuf_mtod_offset(m, uint8_t*, kOuterHdrLen);
      RecordJob& j = jobs[n];
      j.m = m;
      j.cs = s.cipher;
      j.record = record;
      j.seal = true;
      j.plaintext_len = static_cast<uint16_t>(load_be16(record + dtls::wire::kLengthOffset) - s.cipher->overhead);
    } else {
      const uint32_t len = rte_pktmbuf_pkt_len(m);
      const bool mine = s.cipher != nullptr && mbuf_session_ref(m, dp.session_dynfield) == s.ref;
      if (mine && now - s.last_rx_tsc > dp.dtls_switch_tsc) {
        s.use_dtls.store(false, std::memory_order_relaxed);  // DTLS silent: the client may have lost UDP
      }
      if (!mine || !s.use_dtls.load(std::memory_order_relaxed) || len > s.max_inner ||
          s.tx_sequence > dtls::wire::kMaxSequence) {
        if (mine && s.tx_sequence > dtls::wire::kMaxSequence) c.count_drop(DropReason::dtls_sequence_exhausted);
        c.stats->events.dtls_to_cstp += 1;
        tunnel_to_worker(c, m, mbuf_session_ref(m, dp.session_dynfield));
        continue;
      }
      const uint16_t front = static_cast<uint16_t>(kOuterHdrLen + dtls::wire::kRecordHeaderBytes +
                                                   s.cipher->explicit_nonce + 1);
      uint8_t* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, front));
      if (frame == nullptr || rte_pktmbuf_append(m, dtls::aead::kTagBytes) == nullptr) {
        drop_packet(c, m, DropReason::mbuf_alloc_failed);  // headroom/tailroom: never with our pool
        continue;
      }
      uint8_t* record = frame + kOuterHdrLen;
      record[dtls::wire::kRecordHeaderBytes + s.cipher->explicit_nonce] = static_cast<uint8_t>(dtls::InnerType::kData);
      c.stats->events.dtls_tx_bytes += len;
      add_relaxed(s.tx_packets, 1);
      add_relaxed(s.tx_bytes, len);
      RecordJob& j = jobs[n];  // field by field, as in rx_process
      j.m = m;
      j.cs = s.cipher;
      j.record = record;
      j.seal = true;
      j.plaintext_len = static_cast<uint16_t>(len + 1);
    }
    RecordJob& j = jobs[n];
    j.epoch = s.tx_epoch;
    j.sequence = s.tx_sequence++;
    if (s.cipher->key_tx != nullptr && s.cipher->key_tx != prefetched) {
      record_crypto_prefetch_key(*dp.crypto, *s.cipher, s.cipher->key_tx, j.plaintext_len);
      prefetched = s.cipher->key_tx;
    }
    slots[n++] = it.slot;
  }
  // Its packets were counted by tunnel_output_burst's session lookup (cycles only here).
  c.stage_done(shm::LcoreStage::session_lookup, 0);
  d.n_tx = 0;
  if (n == 0) return;
  record_crypto_run(*dp.crypto, c.queue_id, jobs, n, crypto_counters(c));
  c.stage_done(shm::LcoreStage::encrypt, n);
  rte_mbuf* out[2 * kBurst];
  uint32_t dst[2 * kBurst];
  uint16_t n_out = 0;
  for (unsigned i = 0; i < n; i++) {
    RecordJob& j = jobs[i];
    if (!j.ok) {
      drop_packet(c, j.m, DropReason::dtls_crypto_error);
      continue;
    }
    const DtlsSlot& s = dp.dtls_slots[slots[i]];
    const uint16_t record_len = static_cast<uint16_t>(dtls::wire::kRecordHeaderBytes +
                                                      load_be16(j.record + dtls::wire::kLengthOffset));
    write_outer_headers(rte_pktmbuf_mtod(j.m, uint8_t*), s, dp.dtls_port, record_len);
    c.stats->events.dtls_records_encrypted += 1;
    dst[n_out] = s.client_ip;
    out[n_out++] = j.m;
  }
  c.stage_done(shm::LcoreStage::encap, n_out);
  if (n_out) route_own_burst(c, kTunnelInPort, out, dst, n_out, nullptr);
}

}  // namespace

DtlsLcore* dtls_lcore_create(const Dataplane& dp, unsigned queue_id, std::string* error) {
  void* mem = rte_zmalloc("tg_dtls_lcore", sizeof(DtlsLcore), RTE_CACHE_LINE_SIZE);
  if (mem == nullptr) {
    *error = "out of memory for the DTLS lcore state";
    return nullptr;
  }
  auto* d = new (mem) DtlsLcore();
  // A key per slot at most: every session of the pool could be on this lcore. The seed is
  // this run's (flow_table.h).
  const uint32_t capacity = std::max<uint32_t>(dp.n_dtls_slots, 64);
  d->flows_mem = rte_zmalloc_socket("tg_dtls_flows", FlowTable::bytes_for(capacity), RTE_CACHE_LINE_SIZE,
                                    static_cast<int>(rte_socket_id()));
  if (d->flows_mem == nullptr) {
    *error = "out of memory for the DTLS flow table of lcore queue " + std::to_string(queue_id) + " (" +
             std::to_string(FlowTable::bytes_for(capacity)) + " bytes)";
    dtls_lcore_free(d);
    return nullptr;
  }
  d->flows.emplace(d->flows_mem, capacity, rte_rand());
  return d;
}

void dtls_lcore_free(DtlsLcore* d) {
  if (d == nullptr) return;
  d->flows.reset();
  rte_free(d->flows_mem);
  d->~DtlsLcore();
  rte_free(d);
}

void dtls_input(LcoreCtx& c, uint8_t /*in_port*/, rte_mbuf* m, const Ipv4Info& ip) {
  const Dataplane& dp = *c.dp;
  DtlsLcore& d = *c.dtls;
  uint8_t* frame = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* udp = frame + wire::kEtherHdrLen + ip.hdr_len;
  const uint32_t l4_len = ip.total_len - ip.hdr_len;
  const uint16_t udp_len = l4_len >= kUdpHdrLen ? load_be16(udp + 4) : 0;
  if (udp_len < kUdpHdrLen || udp_len > l4_len) {
    drop_packet(c, m, DropReason::udp_malformed);
    return;
  }
  // Ports never chain (no scatter RX), and rx_process sets an opened record's lengths as one
  // segment's: a chained mbuf is refused, not half-trimmed.
  if (!rte_pktmbuf_is_contiguous(m)) {
    drop_packet(c, m, DropReason::dtls_malformed);
    return;
  }
  const uint8_t* payload = udp + kUdpHdrLen;
  const std::span<const uint8_t> datagram(payload, udp_len - kUdpHdrLen);
  // Parsed straight into the burst's next staging slot (taken only for application data):
  // a copy of a parsed record cost a store-forwarding stall per packet (perf). An RX burst
  // holds at most kBurst packets, so there is always a free slot; were it ever more, the
  // records staged so far are opened first.
  if (d.n_rx == kBurst) rx_process(c);
  DtlsLcore::RxItem& staged = d.rx[d.n_rx];
  const dtls::DtlsRecord& rec = staged.rec;
  if (dtls::dtls_record_parse(datagram, 0, &staged.rec) != dtls::DtlsParseError::kOk) {
    drop_packet(c, m, DropReason::dtls_malformed);
    return;
  }
  const DtlsFlowKey key{ip.src, load_be16(udp), 0};
  if (rec.type == dtls::ContentType::kApplicationData) {
    // GnuTLS never puts two application records in one datagram.
    if (rec.next_offset != datagram.size()) {
      drop_packet(c, m, DropReason::dtls_multi_record);
      return;
    }
    // The flow is looked up with the rest of the burst (rx_process): one pipelined bulk
    // lookup instead of a cache miss after another.
    staged.m = m;
    staged.key = key;
    d.n_rx++;
    return;
  }
  // Handshake, ChangeCipherSpec, alert: the business of the TLS worker holding the session.
  const uint64_t now = rte_rdtsc();
  constexpr unsigned kBuckets = kDtlsPendingSlots / kDtlsPendingWays;
  DtlsLcore::Pending* bucket =
      &d.pending[(flow_hash(key.ip, key.port) & (kBuckets - 1)) * kDtlsPendingWays];
  DtlsLcore::Pending* p = nullptr;  // this flow's live entry
  for (unsigned w = 0; w < kDtlsPendingWays && p == nullptr; w++) {
    if (bucket[w].ip == key.ip && bucket[w].port == key.port && bucket[w].expires_tsc > now) p = &bucket[w];
  }
  unsigned worker;
  if (rec.type == dtls::ContentType::kHandshake && rec.epoch == 0 &&
      rec.fragment[0] == dtls::hello::kHandshakeTypeClientHello) {
    dtls::ClientHelloInfo hello;
    if (dtls::client_hello_parse(datagram, &hello) != dtls::ClientHelloError::kOk) {
      drop_packet(c, m, DropReason::dtls_no_app_id);
      return;
    }
    if (!gcra_allow(d.handshake_tat_tsc, now, dp.handshake_interval_tsc, dp.handshake_burst_tsc)) {
      drop_packet(c, m, DropReason::dtls_handshake_rate_limited);
      return;
    }
    // The App-ID's first byte names the TLS worker that holds the session (dtls_channel.h).
    worker = hello.app_id[0] % dp.n_workers;
    if (p == nullptr) {  // a free or expired way, else the one expiring first
      p = &bucket[0];
      for (unsigned w = 1; w < kDtlsPendingWays && p->expires_tsc > now; w++) {
        if (bucket[w].expires_tsc < p->expires_tsc) p = &bucket[w];
      }
    }
    *p = {key.ip, key.port, static_cast<uint16_t>(worker), now + dp.dtls_pending_tsc};
  } else if (p != nullptr) {
    worker = p->worker;
  } else {
    drop_packet(c, m, DropReason::dtls_unknown_flow);
    return;
  }
  rte_pktmbuf_adj(m, wire::kEtherHdrLen);  // the worker gets the IPv4 packet
  mbuf_session_ref(m, dp.session_dynfield) = c.queue_id;  // where the answers go
  DtlsLcore::WorkerStage& st = d.to_worker[worker];
  st.pkts[st.n++] = m;  // at most one RX burst between flushes
  c.stats->events.dtls_handshake_datagrams += 1;
}

bool dtls_output(LcoreCtx& c, rte_mbuf* m, uint32_t slot, uint64_t /*ref*/) {
  Dataplane& dp = *c.dp;
  DtlsSlot& s = dp.dtls_slots[slot];
  const uint16_t owner = s.owner.load(std::memory_order_acquire);
  if (owner == 0 || !s.use_dtls.load(std::memory_order_relaxed)) return false;
  if (owner != c.queue_id + 1) {
    // Another lcore owns the session: hand the packet over (the owner checks it again).
    if (rte_ring_enqueue(dp.dtls_handoff[owner - 1], m) != 0) {
      c.count_drop(DropReason::dtls_handoff_ring_full);
      return false;  // send it over CSTP rather than lose it
    }
    return true;
  }
  DtlsLcore& d = *c.dtls;
  if (d.n_tx == 2 * kBurst) return false;
  d.tx[d.n_tx++] = {m, slot, false};
  return true;
}

void dtls_flush(LcoreCtx& c) {
  const Dataplane& dp = *c.dp;
  DtlsLcore& d = *c.dtls;
  if (d.n_rx) rx_process(c);
  if (d.n_tx) tx_process(c);
  uint32_t handed = 0;
  for (unsigned w = 0; w < dp.n_workers; w++) {
    DtlsLcore::WorkerStage& st = d.to_worker[w];
    if (st.n == 0) continue;
    handed += st.n;
    const WorkerMailbox& mb = dp.workers[w];
    const unsigned sent =
        rte_ring_enqueue_burst(mb.dtls_ring, reinterpret_cast<void* const*>(st.pkts), st.n, nullptr);
    for (unsigned i = sent; i < st.n; i++) drop_packet(c, st.pkts[i], DropReason::dtls_worker_ring_full);
    if (sent != 0 && mb.wake != nullptr) mb.wake(mb.wake_ctx);
    st.n = 0;
  }
  if (handed != 0) c.stage_done(shm::LcoreStage::other, handed);  // handshakes to the TLS workers
}

unsigned dtls_poll_rings(LcoreCtx& c) {
  Dataplane& dp = *c.dp;
  DtlsLcore& d = *c.dtls;
  unsigned work = 0;
  DtlsCtlMsg* msgs[kCtlBurst];
  const unsigned n_msgs =
      rte_ring_dequeue_burst(dp.dtls_ctl[c.queue_id], reinterpret_cast<void**>(msgs), kCtlBurst, nullptr);
  for (unsigned i = 0; i < n_msgs; i++) {
    DtlsCtlMsg* msg = msgs[i];
    if (apply_ctl(c, *msg)) {
      rte_free(msg);
    } else if (++msg->retries > kMaxInstallRetries || rte_ring_enqueue(dp.dtls_ctl[c.queue_id], msg) != 0) {
      cipher_state_free(msg->cipher);
      rte_free(msg);
      c.stats->events.dtls_sessions_refused += 1;
    }
  }
  if (n_msgs != 0) c.stage_done(shm::LcoreStage::other, 0);
  work += n_msgs;

  rte_mbuf* pkts[kBurst];
  unsigned n = rte_ring_dequeue_burst(dp.dtls_handoff[c.queue_id], reinterpret_cast<void**>(pkts), kBurst, nullptr);
  if (n != 0) c.stage_done(shm::LcoreStage::rx, n);
  for (unsigned i = 0; i < n; i++) {
    rte_mbuf* m = pkts[i];
    const uint32_t slot = dp.sessions->slot_index(load_be32(rte_pktmbuf_mtod_offset(m, const uint8_t*, 16)));
    if (slot >= dp.n_dtls_slots || d.n_tx == 2 * kBurst) {
      tunnel_to_worker(c, m, mbuf_session_ref(m, dp.session_dynfield));
      continue;
    }
    d.tx[d.n_tx++] = {m, slot, false};
  }
  work += n;

  n = rte_ring_dequeue_burst(dp.to_outside[c.queue_id], reinterpret_cast<void**>(pkts), kBurst, nullptr);
  if (n != 0) {
    c.stage_done(shm::LcoreStage::rx, n);
    uint32_t dst[kBurst];
    uint16_t n_out = 0;
    for (unsigned i = 0; i < n; i++) {
      rte_mbuf* m = pkts[i];
      const uint32_t to = load_be32(rte_pktmbuf_mtod_offset(m, const uint8_t*, 16));
      if (rte_pktmbuf_prepend(m, wire::kEtherHdrLen) == nullptr) {
        drop_packet(c, m, DropReason::mbuf_alloc_failed);
        continue;
      }
      dst[n_out] = to;
      pkts[n_out++] = m;
    }
    if (n_out) route_own_burst(c, kTunnelInPort, pkts, dst, n_out, nullptr);
  }
  work += n;
  if (d.n_tx != 0) {
    dtls_flush(c);
    tunnel_flush(c);
  }
  return work;
}

void dtls_lcore_shutdown(LcoreCtx& c) {
  Dataplane& dp = *c.dp;
  DtlsLcore& d = *c.dtls;
  for (uint16_t i = 0; i < d.n_rx; i++) rte_pktmbuf_free(d.rx[i].m);
  for (uint16_t i = 0; i < d.n_tx; i++) rte_pktmbuf_free(d.tx[i].m);
  d.n_rx = d.n_tx = 0;
  for (unsigned w = 0; w < kMaxTlsWorkers; w++) {
    for (uint16_t i = 0; i < d.to_worker[w].n; i++) rte_pktmbuf_free(d.to_worker[w].pkts[i]);
    d.to_worker[w].n = 0;
  }
  const uint16_t me = static_cast<uint16_t>(c.queue_id + 1);
  for (uint32_t slot = 0; slot < dp.n_dtls_slots; slot++)
    if (dp.dtls_slots[slot].owner.load(std::memory_order_acquire) == me) release_slot(c, slot);
}

}  // namespace tg::dp
