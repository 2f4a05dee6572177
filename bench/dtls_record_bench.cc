// The DTLS record path of one poll lcore, per cipher and inner packet size, over ring
// ports (tests/support/ring_dataplane):
//   BM_DtlsCryptoOnly  record_crypto_run alone: open a burst of records in place (the
//                      cryptodev or wolfCrypt cost as the lcore sees it)
//   BM_DtlsDecryptPath outside frame → dtls_input → epoch/replay → open → inner IPv4 checks,
//                      policy, route → inside TX (client → backend)
//   BM_DtlsEncryptPath inside frame → tunnel_output → seal → UDP/IPv4 → outside TX
//                      (backend → client)
// Each reports packets/s, inner Gbit/s ("bytes_per_second" counts inner packet bytes) and
// TSC cycles per packet. The frames wait in mbufs staged beforehand, 64 bursts at a time
// with the timer paused, as a NIC's DMA leaves them (in memory, not in L1): what is timed is
// the lcore's work from received mbufs to TX, freeing what was sent included, and not the
// copy that staged them (a CPU copy no PMD makes, which cost as much as the AES itself on
// cold mbufs). bench/dtls_record_ratio prints these beside dpdk-test-crypto-perf's figure
// for the same cipher and size (which also times crypto on ready buffers).
//
//   sudo build/bench/dtls_record_bench [--benchmark_filter=...]   (EAL needs root)
//
// The decrypt benchmark replays the same 32 records every iteration, so it resets the
// session's anti-replay window between bursts (136 bytes; in the figure).
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "crypto/record_aead.h"
#include "dataplane/dtls_path.h"
#include "dataplane/record_crypto.h"
#include "dataplane/session_table.h"
#include "dataplane/stages.h"
#include "dataplane/tunnel_path.h"
#include "tests/support/ring_dataplane.h"

namespace tg::dp {
namespace {

constexpr uint32_t kClient = 0xC0000202;      // 192.0.2.2
constexpr uint16_t kClientPort = 40000;
constexpr uint32_t kOutAddr = 0xC0000201;
constexpr uint32_t kBackend = 0xC612010A;     // 198.18.1.10
constexpr uint32_t kBackendRtr = 0xC6120002;
constexpr uint32_t kPoolAddr = 0xC6336402;    // 198.51.100.2
const SessionRef kRef{1, 0x77};

testing::RingDataplane* g_bed = nullptr;
std::string g_bed_error;

enum Cipher : int64_t { kAes128Gcm = 0, kChacha = 1, kAes256Gcm = 2 };

crypto::DtlsCipher cipher_of(int64_t c) {
  return c == kChacha ? crypto::DtlsCipher::kChacha20Poly1305
                      : (c == kAes256Gcm ? crypto::DtlsCipher::kAes256Gcm : crypto::DtlsCipher::kAes128Gcm);
}

crypto::DtlsDirectionKeys keys_for(crypto::DtlsCipher c, uint8_t seed) {
  crypto::DtlsDirectionKeys k;
  k.key_len = crypto::dtls_cipher_key_len(c);
  k.iv_len = crypto::dtls_cipher_iv_len(c);
  for (size_t i = 0; i < k.key.size(); i++) k.key[i] = static_cast<uint8_t>(seed + i);
  for (size_t i = 0; i < k.iv.size(); i++) k.iv[i] = static_cast<uint8_t>(seed * 3 + i);
  return k;
}

void put_ipv4(uint8_t* ip, uint8_t proto, uint32_t src, uint32_t dst, uint16_t total) {
  std::memset(ip, 0, 20);
  ip[0] = 0x45;
  store_be16(ip + 2, total);
  ip[8] = 64;
  ip[9] = proto;
  store_be32(ip + 12, src);
  store_be32(ip + 16, dst);
  store_be16(ip + 10, static_cast<uint16_t>(~ones_complement_sum(ip, 20)));
}

/// An inner UDP packet of `size` bytes in total.
std::vector<uint8_t> inner_packet(uint32_t src, uint32_t dst, uint16_t size) {
  std::vector<uint8_t> p(size, 0x5a);
  put_ipv4(p.data(), wire::kIpProtoUdp, src, dst, size);
  store_be16(p.data() + 20, 5000);
  store_be16(p.data() + 22, 7);
  store_be16(p.data() + 24, static_cast<uint16_t>(size - 20));
  store_be16(p.data() + 26, 0);
  return p;
}

/// A session installed on the lcore as a TLS worker would, with `dev` (cryptodev or none).
struct Session {
  std::unique_ptr<NeighbourTable> neigh;
  std::unique_ptr<shm::StatsSegment> stats;
  std::unique_ptr<LcoreCtx> ctx;
  crypto::RecordAead client_tx;  ///< seals what "the client" sends
  crypto::DtlsCipher cipher{};
  uint32_t slot = 0;
  bool ok = false;

  Session(crypto::DtlsCipher c, bool use_cryptodev, benchmark::State& state) : cipher(c) {
    Dataplane& dp = g_bed->dp;
    neigh = std::make_unique<NeighbourTable>(64);
    stats = std::make_unique<shm::StatsSegment>();
    ctx = std::make_unique<LcoreCtx>();
    dp.neighbours = neigh.get();
    ctx->dp = &dp;
    ctx->stats = &stats->lcores[0];
    ctx->held_cap = 64;
    ctx->held.reserve(64);
    ctx->dtls = g_bed->tunnel.dtls_lcores[0];
    neigh->learn(neigh->find_or_insert(dp.ports[1].port_id, kBackendRtr), MacAddr{{2, 0, 0, 0, 0, 0x22}}, rte_rdtsc());
    neigh->learn(neigh->find_or_insert(dp.ports[0].port_id, kClient), MacAddr{{2, 0, 0, 0, 0, 0x02}}, rte_rdtsc());
    if (use_cryptodev && !dp.crypto->supports(c)) {
      state.SkipWithError("the cryptodev lacks this cipher");
      return;
    }
    crypto::DtlsRecordKeys keys;
    keys.cipher = c;
    keys.epoch = 1;
    keys.rx = keys_for(c, 1);
    keys.tx = keys_for(c, 2);
    keys.tx_next_sequence = 1;
    client_tx.init(c, keys.rx);
    std::string error;
    const RecordCryptoDev none;
    CipherState* cs = cipher_state_create(use_cryptodev ? *dp.crypto : none, keys, &error);
    if (cs == nullptr || !dp.sessions->bind(kPoolAddr, kRef)) {
      state.SkipWithError(("session: " + error).c_str());
      cipher_state_free(cs);
      return;
    }
    slot = dp.sessions->slot_index(kPoolAddr);
    auto* msg = static_cast<DtlsCtlMsg*>(rte_zmalloc("bench", sizeof(DtlsCtlMsg), 0));
    new (msg) DtlsCtlMsg();
    msg->slot = slot;
    msg->ref = kRef.pack();
    msg->addr = kPoolAddr;
    msg->client_ip = kClient;
    msg->client_port = kClientPort;
    msg->local_ip = kOutAddr;
    msg->rx_epoch = msg->tx_epoch = 1;
    msg->tx_sequence = 1;
    msg->max_inner = 1500;
    msg->cipher = cs;
    rte_ring_enqueue(dp.dtls_ctl[0], msg);
    dtls_poll_rings(*ctx);
    ok = stats->lcores[0].dtls_sessions == 1;
    if (!ok) state.SkipWithError("the lcore did not take the session");
  }
  ~Session() {
    dtls_lcore_shutdown(*ctx);
    g_bed->dp.sessions->unbind(kPoolAddr, kRef);
    g_bed->dp.neighbours = nullptr;
  }
  uint64_t drops() const {
    uint64_t n = 0;
    for (uint64_t d : stats->lcores[0].drops) n += d;
    return n;
  }
};

/// Frames of 32 records from the client (sequence 1..32), as the outside port receives them.
std::vector<std::vector<uint8_t>> client_frames(Session& s, uint16_t inner_size) {
  const Dataplane& dp = g_bed->dp;
  const std::vector<uint8_t> inner = inner_packet(kPoolAddr, kBackend, inner_size);
  const size_t overhead = s.client_tx.overhead();
  const size_t explicit_nonce = overhead - 16;
  std::vector<std::vector<uint8_t>> frames;
  for (uint64_t seq = 1; seq <= kBurst; seq++) {
    const size_t record_len = 13 + overhead + 1 + inner.size();
    std::vector<uint8_t> f(14 + 20 + 8 + record_len, 0);
    std::memcpy(f.data(), dp.ports[0].mac.b, 6);
    f[12] = 0x08;
    put_ipv4(f.data() + 14, wire::kIpProtoUdp, kClient, kOutAddr, static_cast<uint16_t>(20 + 8 + record_len));
    uint8_t* udp = f.data() + 34;
    store_be16(udp, kClientPort);
    store_be16(udp + 2, dp.dtls_port);
    store_be16(udp + 4, static_cast<uint16_t>(8 + record_len));
    uint8_t* record = udp + 8;
    record[13 + explicit_nonce] = 0x00;  // OpenConnect data
    std::memcpy(record + 13 + explicit_nonce + 1, inner.data(), inner.size());
    s.client_tx.seal(record, 1 + inner.size(), 1, seq);
    frames.push_back(std::move(f));
  }
  return frames;
}

/// Bursts of received frames, staged ahead with the timer paused (see the top).
class StagedBursts {
 public:
  static constexpr unsigned kBursts = 64;
  /// `frame(i)`: the bytes of the i-th packet of a burst.
  template <typename Frame>
  StagedBursts(rte_mempool* pool, Frame frame) : pool_(pool) {
    for (unsigned i = 0; i < kBurst; i++) frames_.push_back(frame(i));
  }
  ~StagedBursts() {
    for (unsigned b = next_; b < filled_; b++) rte_pktmbuf_free_bulk(bursts_[b], kBurst);
  }
  /// The next burst, refilling all of them (timer paused) when they are used up; nullptr
  /// when the pool ran dry.
  rte_mbuf** next(benchmark::State& state) {
    if (next_ == filled_) {
      state.PauseTiming();
      filled_ = next_ = 0;
      for (; filled_ < kBursts; filled_++) {
        if (rte_pktmbuf_alloc_bulk(pool_, bursts_[filled_], kBurst) != 0) break;
        for (unsigned i = 0; i < kBurst; i++) {
          const std::vector<uint8_t>& f = frames_[i];
          std::memcpy(rte_pktmbuf_append(bursts_[filled_][i], static_cast<uint16_t>(f.size())), f.data(), f.size());
        }
      }
      state.ResumeTiming();
      if (filled_ == 0) return nullptr;
    }
    return bursts_[next_++];
  }
  const std::vector<uint8_t>& frame(unsigned i) const { return frames_[i]; }

 private:
  rte_mempool* pool_;
  std::vector<std::vector<uint8_t>> frames_;
  rte_mbuf* bursts_[kBursts][kBurst];
  unsigned next_ = 0, filled_ = 0;
};

void report(benchmark::State& state, uint64_t cycles, uint16_t inner_size) {
  state.SetItemsProcessed(state.iterations() * kBurst);
  state.SetBytesProcessed(state.iterations() * kBurst * inner_size);
  state.counters["cycles_per_packet"] =
      benchmark::Counter(static_cast<double>(cycles) / (static_cast<double>(state.iterations()) * kBurst));
}

// args: cipher, inner packet size, 1 = cryptodev / 0 = wolfCrypt
void BM_DtlsCryptoOnly(benchmark::State& state) {
  if (g_bed == nullptr) return state.SkipWithError(g_bed_error.c_str());
  const uint16_t size = static_cast<uint16_t>(state.range(1));
  Session s(cipher_of(state.range(0)), state.range(2) != 0, state);
  if (!s.ok) return;
  const Dataplane& dp = g_bed->dp;
  const auto frames = client_frames(s, size);
  StagedBursts staged(dp.pool, [&](unsigned i) { return frames[i]; });
  const DtlsSlot& slot = dp.dtls_slots[s.slot];
  RecordJob jobs[kBurst];
  uint64_t enq = 0, deq = 0, failed = 0, depth = 0;
  const RecordCryptoCounters counters{&enq, &deq, &failed, &depth};
  uint64_t cycles = 0;
  for (auto _ : state) {
    rte_mbuf** pkts = staged.next(state);
    if (pkts == nullptr) return state.SkipWithError("mbuf pool empty");
    const uint64_t t0 = rte_rdtsc();
    for (unsigned i = 0; i < kBurst; i++) {
      uint8_t* record = rte_pktmbuf_mtod_offset(pkts[i], uint8_t*, 42);
      jobs[i] = RecordJob{};
      jobs[i].m = pkts[i];
      jobs[i].cs = slot.cipher;
      jobs[i].record = record;
      dtls::dtls_record_parse({record, frames[i].size() - 42}, 0, &jobs[i].rec);
    }
    record_crypto_run(*dp.crypto, 0, jobs, kBurst, counters);
    rte_pktmbuf_free_bulk(pkts, kBurst);
    cycles += rte_rdtsc() - t0;
    for (unsigned i = 0; i < kBurst; i++) {
      if (!jobs[i].ok) return state.SkipWithError("a record did not open");
    }
  }
  report(state, cycles, size);
}

void BM_DtlsDecryptPath(benchmark::State& state) {
  if (g_bed == nullptr) return state.SkipWithError(g_bed_error.c_str());
  const uint16_t size = static_cast<uint16_t>(state.range(1));
  Session s(cipher_of(state.range(0)), state.range(2) != 0, state);
  if (!s.ok) return;
  Dataplane& dp = g_bed->dp;
  StagedBursts staged(dp.pool, [frames = client_frames(s, size)](unsigned i) { return frames[i]; });
  void* sent[2 * kBurst];
  uint64_t cycles = 0;
  for (auto _ : state) {
    rte_mbuf** pkts = staged.next(state);
    if (pkts == nullptr) return state.SkipWithError("mbuf pool empty");
    const uint64_t t0 = rte_rdtsc();
    dp.dtls_slots[s.slot].window.reset();  // the same 32 records again (see the top)
    l2_input_burst(*s.ctx, 0, pkts, kBurst);
    tx_flush_all(*s.ctx);
    const unsigned n = rte_ring_dequeue_burst(g_bed->tx[1], sent, 2 * kBurst, nullptr);
    rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(sent), n);
    cycles += rte_rdtsc() - t0;
    if (n != kBurst) return state.SkipWithError("not every record reached the backend");
  }
  report(state, cycles, size);
}

void BM_DtlsEncryptPath(benchmark::State& state) {
  if (g_bed == nullptr) return state.SkipWithError(g_bed_error.c_str());
  const uint16_t size = static_cast<uint16_t>(state.range(1));
  Session s(cipher_of(state.range(0)), state.range(2) != 0, state);
  if (!s.ok) return;
  Dataplane& dp = g_bed->dp;
  std::vector<uint8_t> frame(14, 0);
  std::memcpy(frame.data(), dp.ports[1].mac.b, 6);
  frame[12] = 0x08;
  const auto inner = inner_packet(kBackend, kPoolAddr, size);
  frame.insert(frame.end(), inner.begin(), inner.end());
  StagedBursts staged(dp.pool, [&frame](unsigned) { return frame; });
  void* sent[2 * kBurst];
  uint64_t cycles = 0;
  for (auto _ : state) {
    rte_mbuf** pkts = staged.next(state);
    if (pkts == nullptr) return state.SkipWithError("mbuf pool empty");
    const uint64_t t0 = rte_rdtsc();
    l2_input_burst(*s.ctx, 1, pkts, kBurst);
    tx_flush_all(*s.ctx);
    const unsigned n = rte_ring_dequeue_burst(g_bed->tx[0], sent, 2 * kBurst, nullptr);
    rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(sent), n);
    cycles += rte_rdtsc() - t0;
    if (n != kBurst) return state.SkipWithError("not every packet was sealed and sent");
  }
  report(state, cycles, size);
}

void args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"cipher", "size", "cryptodev"});
  for (int64_t cipher : {kAes128Gcm, kChacha, kAes256Gcm})
    for (int64_t size : {64, 512, 1400})
      for (int64_t dev : {1, 0}) b->Args({cipher, size, dev});
}
BENCHMARK(BM_DtlsCryptoOnly)->Apply(args);
BENCHMARK(BM_DtlsDecryptPath)->Apply(args);
BENCHMARK(BM_DtlsEncryptPath)->Apply(args);

}  // namespace
}  // namespace tg::dp

int main(int argc, char** argv) {
  tg::dp::testing::RingDataplane* b = nullptr;
  tg::dp::g_bed_error = tg::dp::testing::ring_dataplane_create("dtls_record_bench", 4095, &b);
  tg::dp::g_bed = b;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
