// The DTLS record path of one poll lcore, per cipher and inner packet size, over ring
// ports (tests/support/ring_dataplane):
//   BM_DtlsCryptoOnly  record_crypto_run alone: open a burst of records in place (the
//                      cryptodev or wolfCrypt cost as the lcore sees it)
//   BM_DtlsDecryptPath outside frame → dtls_input → epoch/replay → open → inner IPv4 checks,
//                      policy, route → inside TX (client → backend)
//   BM_DtlsEncryptPath inside frame → tunnel_output → seal → UDP/IPv4 → outside TX
//                      (backend → client)
// The last argument is the record engine (dataplane/record_crypto.h): engine:1 as the
// dataplane runs by default (dataplane.cryptodev "auto": intel-ipsec-mb's direct API for
// AES-GCM, the crypto_aesni_mb cryptodev's CPU crypto API for ChaCha20-Poly1305), engine:3
// the cryptodev's CPU crypto API for every cipher (dataplane.cryptodev "crypto_aesni_mb"),
// engine:2 the same device through its queue pair (ops, enqueue, dequeue: a device without
// CPU crypto), engine:0 wolfCrypt.
// Each reports packets/s, inner Gbit/s ("bytes_per_second" counts inner packet bytes) and
// TSC cycles per packet. The frames wait in mbufs staged beforehand, 64 bursts at a time
// with the timer paused, as a NIC's DMA leaves them (in memory, not in L1): what is timed is
// the lcore's work from received mbufs to TX, freeing what was sent included, and not the
// copy that staged them (a CPU copy no PMD makes, which cost as much as the AES itself on
// cold mbufs). bench/run prints these beside dpdk-test-crypto-perf's figure
// for the same cipher and size (which also times crypto on ready buffers).
//
//   sudo build/bench/dtls_record_bench [--benchmark_filter=...]   (EAL needs root)
//
// The decrypt benchmarks' records are sealed as they are staged (timer paused), each with
// the next sequence number of its session (ClientSealer): every record is new to the
// session's anti-replay window, as on the wire, and nothing resets the window in the figure.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <memory>
#include <new>
#include <vector>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
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

/// The poll lcore the benchmarks drive: its context, stats block and neighbour table (the
/// backend's router known, so packets leave at once). Its DTLS sessions go on destruction.
struct BenchLcore {
  std::unique_ptr<NeighbourTable> neigh = std::make_unique<NeighbourTable>(64);
  std::unique_ptr<shm::StatsSegment> stats = std::make_unique<shm::StatsSegment>();
  std::unique_ptr<LcoreCtx> ctx = std::make_unique<LcoreCtx>();
  BenchLcore() {
    Dataplane& dp = g_bed->dp;
    dp.neighbours = neigh.get();
    ctx->dp = &dp;
    ctx->stats = &stats->lcores[0];
    ctx->held_cap = 64;
    ctx->held.reserve(64);
    ctx->dtls = g_bed->tunnel.dtls_lcores[0];
    neigh->learn(neigh->find_or_insert(dp.ports[1].port_id, kBackendRtr), MacAddr{{2, 0, 0, 0, 0, 0x22}}, rte_rdtsc());
    record_crypto_lcore_init(*dp.crypto);  // as a poll lcore does before its loop
  }
  ~BenchLcore() {
    dtls_lcore_shutdown(*ctx);
    g_bed->dp.neighbours = nullptr;
  }
  /// Hands a session's keys to the lcore as a TLS worker does (install message), polling
  /// the ring when it is full. @return its DTLS slot.
  uint32_t install(uint32_t addr, SessionRef ref, uint32_t client_ip, CipherState* cs) {
    Dataplane& dp = g_bed->dp;
    auto* msg = static_cast<DtlsCtlMsg*>(rte_zmalloc("bench", sizeof(DtlsCtlMsg), 0));
    new (msg) DtlsCtlMsg();
    msg->slot = dp.sessions->slot_index(addr);
    msg->ref = ref.pack();
    msg->addr = addr;
    msg->client_ip = client_ip;
    msg->client_port = kClientPort;
    msg->local_ip = kOutAddr;
    msg->rx_epoch = msg->tx_epoch = 1;
    msg->tx_sequence = 1;
    msg->max_inner = 1500;
    msg->cipher = cs;
    const uint32_t slot = msg->slot;
    while (rte_ring_enqueue(dp.dtls_ctl[0], msg) != 0) dtls_poll_rings(*ctx);
    return slot;
  }
  /// Lets the lcore take every install message still in the ring.
  void settle() {
    while (!rte_ring_empty(g_bed->dp.dtls_ctl[0])) dtls_poll_rings(*ctx);
  }
};

/// The keys of a benchmark session: AES-128-GCM or another cipher, epoch 1.
crypto::DtlsRecordKeys session_keys(crypto::DtlsCipher c) {
  crypto::DtlsRecordKeys keys;
  keys.cipher = c;
  keys.epoch = 1;
  keys.rx = keys_for(c, 1);
  keys.tx = keys_for(c, 2);
  keys.tx_next_sequence = 1;
  return keys;
}

/// The record engine of a benchmark (its "engine" argument).
enum Backend : int64_t { kWolfCrypt = 0, kDefault = 1, kQueuePair = 2, kCpuCrypto = 3 };

/// A session installed on the lcore as a TLS worker would, with the default engines
/// (intel-ipsec-mb for AES-GCM), the cryptodev alone (through its CPU crypto API, or its
/// queue pair as a device without CPU crypto), or wolfCrypt.
struct Session : BenchLcore {
  crypto::RecordAead client_tx;  ///< seals what "the client" sends
  crypto::DtlsCipher cipher{};
  uint32_t slot = 0;
  bool ok = false;

  Session(crypto::DtlsCipher c, int64_t backend, benchmark::State& state) : cipher(c) {
    Dataplane& dp = g_bed->dp;
    neigh->learn(neigh->find_or_insert(dp.ports[0].port_id, kClient), MacAddr{{2, 0, 0, 0, 0, 0x02}}, rte_rdtsc());
    RecordCryptoDev dev;  // none: wolfCrypt
    if (backend != kWolfCrypt) dev = *dp.crypto;
    if (backend == kCpuCrypto || backend == kQueuePair) dev.ipsec_mb = nullptr;
    if (backend == kQueuePair) dev.cpu_crypto = false;
    if (backend != kWolfCrypt && dev.engine_for(c) == RecordEngine::kWolfCrypt) {
      state.SkipWithError("no engine of this backend has this cipher");
      return;
    }
    const crypto::DtlsRecordKeys keys = session_keys(c);
    client_tx.init(c, keys.rx);
    std::string error;
    CipherState* cs = cipher_state_create(dev, keys, &error);
    if (cs == nullptr || !dp.sessions->bind(kPoolAddr, kRef)) {
      state.SkipWithError(("session: " + error).c_str());
      cipher_state_free(cs);
      return;
    }
    slot = install(kPoolAddr, kRef, kClient, cs);
    settle();
    ok = stats->lcores[0].dtls_sessions == 1;
    if (!ok) state.SkipWithError("the lcore did not take the session");
  }
  ~Session() { g_bed->dp.sessions->unbind(kPoolAddr, kRef); }
  uint64_t drops() const {
    uint64_t n = 0;
    for (uint64_t d : stats->lcores[0].drops) n += d;
    return n;
  }
};

/// One frame from a client: a record of sequence `seq` sealed with `tx`, carrying an inner
/// UDP packet of `inner_size` bytes from `src` (its pool address) to the backend. With
/// seal = false the record is left open (header, explicit nonce and tag zero) for
/// ClientSealer to seal in the staged mbuf.
std::vector<uint8_t> client_frame(const crypto::RecordAead& tx, uint32_t client_ip, uint16_t client_port, uint32_t src,
                                  uint16_t inner_size, uint64_t seq, bool seal = true) {
  const Dataplane& dp = g_bed->dp;
  const std::vector<uint8_t> inner = inner_packet(src, kBackend, inner_size);
  const size_t overhead = tx.overhead();
  const size_t explicit_nonce = overhead - 16;
  const size_t record_len = 13 + overhead + 1 + inner.size();
  std::vector<uint8_t> f(14 + 20 + 8 + record_len, 0);
  std::memcpy(f.data(), dp.ports[0].mac.b, 6);
  f[12] = 0x08;
  put_ipv4(f.data() + 14, wire::kIpProtoUdp, client_ip, kOutAddr, static_cast<uint16_t>(20 + 8 + record_len));
  uint8_t* udp = f.data() + 34;
  store_be16(udp, client_port);
  store_be16(udp + 2, dp.dtls_port);
  store_be16(udp + 4, static_cast<uint16_t>(8 + record_len));
  uint8_t* record = udp + 8;
  record[13 + explicit_nonce] = 0x00;  // OpenConnect data
  std::memcpy(record + 13 + explicit_nonce + 1, inner.data(), inner.size());
  if (seal) tx.seal(record, 1 + inner.size(), 1, seq);
  return f;
}

constexpr size_t kRecordOffset = 14 + 20 + 8;  ///< of the record in a client frame

/// Seals the open records of staged client frames (client_frame(..., seal = false)) in place
/// with the client's keys and the sequence numbers the benchmark gives, on the bed's
/// cryptodev, while the timer is paused: every record is new to the session's replay window,
/// so the timed path never resets it (a reset touched the window's lines ahead of the path).
struct ClientSealer {
  CipherState* cs = nullptr;
  explicit ClientSealer(crypto::DtlsCipher c) {
    crypto::DtlsRecordKeys keys;
    keys.cipher = c;
    keys.epoch = 1;
    keys.rx = keys.tx = keys_for(c, 1);  // the client sends with the gateway's receive keys
    keys.tx_next_sequence = 1;
    std::string error;
    cs = cipher_state_create(*g_bed->dp.crypto, keys, &error);
  }
  ~ClientSealer() { cipher_state_free(cs); }
  /// Seals the n (at most a burst) records of `burst`, record i with sequence seq_of(i).
  /// False if the client's cipher state could not be made, or a record failed.
  bool seal(rte_mbuf** burst, unsigned n, const std::function<uint64_t(unsigned)>& seq_of) const {
    if (cs == nullptr || n > kBurst) return false;
    RecordJob jobs[kBurst];
    uint64_t enq = 0, deq = 0, failed = 0, depth = 0;
    for (unsigned i = 0; i < n; i++) {
      RecordJob& j = jobs[i];
      j = RecordJob{};
      j.m = burst[i];
      j.cs = cs;
      j.record = rte_pktmbuf_mtod_offset(burst[i], uint8_t*, kRecordOffset);
      j.seal = true;
      j.plaintext_len = static_cast<uint16_t>(rte_pktmbuf_data_len(burst[i]) - kRecordOffset - 13 - cs->overhead);
      j.epoch = 1;
      j.sequence = seq_of(i);
    }
    record_crypto_run(*g_bed->dp.crypto, 0, jobs, n, {&enq, &deq, &failed, &depth});
    for (unsigned i = 0; i < n; i++)
      if (!jobs[i].ok) return false;
    return true;
  }
};

/// Frames of 32 records from the client (sequence 1..32), as the outside port receives them.
std::vector<std::vector<uint8_t>> client_frames(Session& s, uint16_t inner_size) {
  std::vector<std::vector<uint8_t>> frames;
  for (uint64_t seq = 1; seq <= kBurst; seq++)
    frames.push_back(client_frame(s.client_tx, kClient, kClientPort, kPoolAddr, inner_size, seq));
  return frames;
}

/// Bursts of received frames, staged ahead with the timer paused (see the top). Packet k
/// (counting from 0 over the whole run) carries frame(k).
class StagedBursts {
 public:
  static constexpr unsigned kBursts = 64;
  using FrameOf = std::function<const std::vector<uint8_t>&(uint64_t packet)>;
  /// Called on each staged burst (timer paused) with the number of its first packet.
  using Prepare = std::function<bool(rte_mbuf** burst, uint64_t first_packet)>;
  StagedBursts(rte_mempool* pool, FrameOf frame, Prepare prepare = nullptr)
      : pool_(pool), frame_(std::move(frame)), prepare_(std::move(prepare)) {}
  ~StagedBursts() {
    for (unsigned b = next_; b < filled_; b++) rte_pktmbuf_free_bulk(bursts_[b], kBurst);
  }
  /// The next burst, refilling all of them (timer paused) when they are used up; nullptr
  /// when the pool ran dry. Its first packet's number is first_packet().
  rte_mbuf** next(benchmark::State& state) {
    if (next_ == filled_) {
      state.PauseTiming();
      filled_ = next_ = 0;
      for (; filled_ < kBursts; filled_++) {
        if (rte_pktmbuf_alloc_bulk(pool_, bursts_[filled_], kBurst) != 0) break;
        for (unsigned i = 0; i < kBurst; i++) {
          const std::vector<uint8_t>& f = frame_(staged_ + filled_ * kBurst + i);
          std::memcpy(rte_pktmbuf_append(bursts_[filled_][i], static_cast<uint16_t>(f.size())), f.data(), f.size());
        }
        if (prepare_ && !prepare_(bursts_[filled_], staged_ + filled_ * kBurst)) {
          rte_pktmbuf_free_bulk(bursts_[filled_], kBurst);
          break;
        }
      }
      first_of_fill_ = staged_;
      staged_ += uint64_t{filled_} * kBurst;
      state.ResumeTiming();
      if (filled_ == 0) return nullptr;
    }
    first_packet_ = first_of_fill_ + uint64_t{next_} * kBurst;
    return bursts_[next_++];
  }
  uint64_t first_packet() const { return first_packet_; }

 private:
  rte_mempool* pool_;
  FrameOf frame_;
  Prepare prepare_;
  rte_mbuf* bursts_[kBursts][kBurst];
  unsigned next_ = 0, filled_ = 0;
  uint64_t staged_ = 0, first_of_fill_ = 0, first_packet_ = 0;
};

void report(benchmark::State& state, uint64_t cycles, uint16_t inner_size) {
  state.SetItemsProcessed(state.iterations() * kBurst);
  state.SetBytesProcessed(state.iterations() * kBurst * inner_size);
  state.counters["cycles_per_packet"] =
      benchmark::Counter(static_cast<double>(cycles) / (static_cast<double>(state.iterations()) * kBurst));
}

/// Counters "stage_<label>": each stage's cycles per packet of the path (its cycles over
/// every packet timed, so the stages add up), from the lcore's stage counters.
void report_stages(benchmark::State& state, const BenchLcore& lcore) {
  const double packets = static_cast<double>(state.iterations()) * kBurst;
  for (unsigned i = 0; i < shm::kLcoreStageCount; i++)
    state.counters[std::string("stage_") + shm::kLcoreStageInfo[i].label] =
        static_cast<double>(lcore.ctx->stats->stages[i].cycles) / packets;
}

/// The timed loop of the path benchmarks: each staged burst into port `in_port` of the lcore
/// (l2_input_burst), its TX flushed, and what left through port `out_port`'s ring freed.
/// Returns the cycles of all iterations, or sets the error and returns 0 when staging failed
/// or a burst did not all come out (`lost` says what was lost). `stage_clock`: every burst
/// is timed per stage as well (the lcore's stage counters, from zero).
uint64_t time_bursts(benchmark::State& state, BenchLcore& lcore, StagedBursts& staged, uint8_t in_port,
                     uint8_t out_port, const char* lost, bool stage_clock = false) {
  void* sent[2 * kBurst];
  uint64_t cycles = 0;
  LcoreCtx& c = *lcore.ctx;
  std::fill(std::begin(c.stats->stages), std::end(c.stats->stages), shm::StageCounters{});
  for (auto _ : state) {
    rte_mbuf** pkts = staged.next(state);
    if (pkts == nullptr) {
      state.SkipWithError("mbuf pool empty, or a record could not be sealed");
      return 0;
    }
    const uint64_t t0 = rte_rdtsc();
    if (stage_clock) c.clock.begin_timed();
    l2_input_burst(c, in_port, pkts, kBurst);
    tx_flush_all(c);
    c.clock.end_iteration();
    const unsigned got = rte_ring_dequeue_burst(g_bed->tx[out_port], sent, 2 * kBurst, nullptr);
    rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(sent), got);
    cycles += rte_rdtsc() - t0;
    if (got != kBurst) {
      state.SkipWithError(lost);
      return 0;
    }
  }
  return cycles;
}

// args: cipher, inner packet size, engine (1 = default / 3 = cryptodev CPU crypto / 2 = its
// queue pair / 0 = wolfCrypt)
void BM_DtlsCryptoOnly(benchmark::State& state) {
  if (g_bed == nullptr) return state.SkipWithError(g_bed_error.c_str());
  const uint16_t size = static_cast<uint16_t>(state.range(1));
  Session s(cipher_of(state.range(0)), state.range(2), state);
  if (!s.ok) return;
  const Dataplane& dp = g_bed->dp;
  const auto frames = client_frames(s, size);
  StagedBursts staged(dp.pool, [&](uint64_t k) -> const std::vector<uint8_t>& { return frames[k % kBurst]; });
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
  Session s(cipher_of(state.range(0)), state.range(2), state);
  if (!s.ok) return;
  Dataplane& dp = g_bed->dp;
  // Packet k is the record of sequence k + 1, sealed as it is staged.
  const auto frame = client_frame(s.client_tx, kClient, kClientPort, kPoolAddr, size, 0, false);
  const ClientSealer sealer(s.cipher);
  StagedBursts staged(
      dp.pool, [&](uint64_t) -> const std::vector<uint8_t>& { return frame; },
      [&](rte_mbuf** burst, uint64_t first) {
        return sealer.seal(burst, kBurst, [&](unsigned i) { return first + i + 1; });
      });
  const uint64_t cycles = time_bursts(state, s, staged, 0, 1, "not every record reached the backend");
  if (cycles == 0) return;
  report(state, cycles, size);
}

void BM_DtlsEncryptPath(benchmark::State& state) {
  if (g_bed == nullptr) return state.SkipWithError(g_bed_error.c_str());
  const uint16_t size = static_cast<uint16_t>(state.range(1));
  Session s(cipher_of(state.range(0)), state.range(2), state);
  if (!s.ok) return;
  Dataplane& dp = g_bed->dp;
  std::vector<uint8_t> frame(14, 0);
  std::memcpy(frame.data(), dp.ports[1].mac.b, 6);
  frame[12] = 0x08;
  const auto inner = inner_packet(kBackend, kPoolAddr, size);
  frame.insert(frame.end(), inner.begin(), inner.end());
  StagedBursts staged(dp.pool, [&](uint64_t) -> const std::vector<uint8_t>& { return frame; });
  const uint64_t cycles = time_bursts(state, s, staged, 1, 0, "not every packet was sealed and sent");
  if (cycles == 0) return;
  report(state, cycles, size);
}

/// N sessions installed on the lcore as TLS workers would (AES-128-GCM, the default engine:
/// intel-ipsec-mb), each with its own client address, pool address (the scale pools), keys
/// (expanded behind the cipher state, or cryptodev sessions), flow entry and DTLS slot.
struct ScaleSessions : BenchLcore {
  static constexpr uint32_t kScalePool = 0x0A400000;  // 10.64.0.0/16 and 10.65.0.0/16
  static constexpr uint32_t kScaleClients = 0x64400000;  // 100.64.0.0/10: one client each
  crypto::RecordAead client_tx;
  std::vector<uint32_t> slots;  ///< session i's DTLS slot
  std::vector<uint32_t> order;  ///< the sessions in a random order (packet k: order[k % n])
  size_t heap_bytes = 0;        ///< EAL memory taken by the N sessions (slots excluded: preallocated)
  bool ok = false;

  static constexpr uint32_t kClientsRouter = 0xC00002FE;  // 192.0.2.254 (main: the route)
  ScaleSessions(uint32_t n, benchmark::State& state) {
    Dataplane& dp = g_bed->dp;
    neigh->learn(neigh->find_or_insert(dp.ports[0].port_id, kClientsRouter), MacAddr{{2, 0, 0, 0, 0, 0xfe}}, rte_rdtsc());
    const crypto::DtlsCipher c = crypto::DtlsCipher::kAes128Gcm;
    if (dp.crypto->engine_for(c) == RecordEngine::kWolfCrypt) {
      state.SkipWithError("neither intel-ipsec-mb nor the cryptodev has AES-128-GCM");
      return;
    }
    const crypto::DtlsRecordKeys keys = session_keys(c);
    client_tx.init(c, keys.rx);
    rte_malloc_socket_stats before{}, after{};
    rte_malloc_get_socket_stats(0, &before);
    auto crypto_sessions = [&dp]() -> size_t {
      return dp.crypto->session_pool == nullptr ? 0 : rte_mempool_in_use_count(dp.crypto->session_pool);
    };
    const size_t crypto_sessions_before = crypto_sessions();
    for (uint32_t i = 0; i < n; i++) {
      std::string error;
      CipherState* cs = cipher_state_create(*dp.crypto, keys, &error);
      const SessionRef ref{1, 0x1000 + i};
      if (cs == nullptr || !dp.sessions->bind(kScalePool + i, ref)) {
        state.SkipWithError(("session " + std::to_string(i) + ": " + error).c_str());
        cipher_state_free(cs);
        return;
      }
      slots.push_back(install(kScalePool + i, ref, kScaleClients + i, cs));
    }
    settle();
    order.resize(n);
    for (uint32_t i = 0; i < n; i++) order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937(42));
    rte_malloc_get_socket_stats(0, &after);
    // Cipher states and flow entries come from the EAL heap; the cryptodev sessions from
    // their preallocated pool (counted by the objects taken, at the pool's element size).
    heap_bytes = after.heap_allocsz_bytes - before.heap_allocsz_bytes +
                 (crypto_sessions() - crypto_sessions_before) *
                     (dp.crypto->session_pool == nullptr ? 0 : dp.crypto->session_pool->elt_size);
    ok = stats->lcores[0].dtls_sessions == n;
    if (!ok) state.SkipWithError(("the lcore took " + std::to_string(stats->lcores[0].dtls_sessions) + " of " +
                                  std::to_string(n) + " sessions").c_str());
  }
  ~ScaleSessions() {
    for (uint32_t i = 0; i < slots.size(); i++) g_bed->dp.sessions->unbind(kScalePool + i, SessionRef{1, 0x1000 + i});
  }
};

// args: sessions, inner packet size. Every packet of a burst comes from another session,
// in a random order over all of them, so with many sessions each packet's state (flow
// entry, DTLS slot, cipher state, expanded keys) is likely out of the L1/L2 caches:
// the cost of scale. Reports cycles per packet and the EAL memory per session.
// `active`: how many of the n sessions send (0: all), the first of the random order: the
// others are held (keyed on the lcore, in its flow table) and silent.
void decrypt_sessions(benchmark::State& state, bool stages, uint32_t n, uint16_t size, uint32_t active = 0) {
  if (g_bed == nullptr) return state.SkipWithError(g_bed_error.c_str());
  ScaleSessions s(n, state);
  if (!s.ok) return;
  Dataplane& dp = g_bed->dp;
  const std::vector<uint32_t>& order = s.order;
  const uint32_t senders = active == 0 ? n : active;
  // Packet k comes from session order[k % senders], as its record of sequence
  // k / senders + 1 (sealed as it is staged): a session's records arrive in order, each new
  // to its replay window.
  std::vector<std::vector<uint8_t>> frames(n);
  for (uint32_t k = 0; k < senders; k++) {
    const uint32_t i = order[k];
    frames[i] = client_frame(s.client_tx, ScaleSessions::kScaleClients + i, kClientPort, ScaleSessions::kScalePool + i,
                             size, 0, false);
  }
  const ClientSealer sealer(crypto::DtlsCipher::kAes128Gcm);
  StagedBursts staged(
      dp.pool, [&](uint64_t k) -> const std::vector<uint8_t>& { return frames[order[k % senders]]; },
      [&](rte_mbuf** burst, uint64_t first) {
        return sealer.seal(burst, kBurst, [&](unsigned i) { return (first + i) / senders + 1; });
      });
  const uint64_t cycles = time_bursts(state, s, staged, 0, 1, "not every record reached the backend", stages);
  if (cycles == 0) return;
  report(state, cycles, size);
  if (stages) report_stages(state, s);
  state.counters["sessions"] = n;
  state.counters["bytes_per_session"] = static_cast<double>(s.heap_bytes) / n;
}
void BM_DtlsDecryptSessions(benchmark::State& state) {
  decrypt_sessions(state, false, static_cast<uint32_t>(state.range(0)), static_cast<uint16_t>(state.range(1)));
}
BENCHMARK(BM_DtlsDecryptSessions)
    ->ArgNames({"sessions", "size"})
    ->ArgsProduct({{1, 1000, 100000}, {64, 1400}});

// args: sessions, inner packet size. The return direction at scale: every packet from the
// backend goes to another session's pool address, in a random order over all of them, so
// each packet's session state (session-table entry, DTLS slot, cipher state, cryptodev
// session) is likely out of cache. Reports cycles per packet.
void encrypt_sessions(benchmark::State& state, bool stages, uint32_t n, uint16_t size, uint32_t active = 0) {
  if (g_bed == nullptr) return state.SkipWithError(g_bed_error.c_str());
  ScaleSessions s(n, state);
  if (!s.ok) return;
  Dataplane& dp = g_bed->dp;
  const std::vector<uint32_t>& order = s.order;
  std::vector<uint8_t> frame(14, 0);
  std::memcpy(frame.data(), dp.ports[1].mac.b, 6);
  frame[12] = 0x08;
  const auto inner = inner_packet(kBackend, ScaleSessions::kScalePool, size);
  frame.insert(frame.end(), inner.begin(), inner.end());
  // One frame, its destination rewritten for each packet (the checksum with it), while the
  // timer is paused.
  std::vector<uint8_t> scratch = frame;
  const uint32_t receivers = active == 0 ? n : active;  // the others held and silent
  StagedBursts staged(dp.pool, [&](uint64_t k) -> const std::vector<uint8_t>& {
    put_ipv4(scratch.data() + 14, wire::kIpProtoUdp, kBackend, ScaleSessions::kScalePool + order[k % receivers], size);
    return scratch;
  });
  const uint64_t cycles = time_bursts(state, s, staged, 1, 0, "not every packet was sealed and sent", stages);
  if (cycles == 0) return;
  report(state, cycles, size);
  if (stages) report_stages(state, s);
  state.counters["sessions"] = n;
}
void BM_DtlsEncryptSessions(benchmark::State& state) {
  encrypt_sessions(state, false, static_cast<uint32_t>(state.range(0)), static_cast<uint16_t>(state.range(1)));
}
BENCHMARK(BM_DtlsEncryptSessions)
    ->ArgNames({"sessions", "size"})
    ->ArgsProduct({{1, 1000, 100000}, {64, 1400}});

// args: sessions, inner packet size. The same paths as BM_Dtls{De,En}cryptSessions with the
// lcore's stage clock (dataplane/stage_clock.h) timing every burst: cycles per packet of
// each stage (classify, session_lookup, decrypt or encrypt, policy, route, encap, tx;
// counters named by stage), which add up to the path's cycles_per_packet less the bench's
// own share (the ring dequeue and free of what was sent) and plus the clock's TSC reads
// (~25 cycles a stage a burst: under 1 cycle a packet a stage).
void BM_DtlsDecryptStages(benchmark::State& state) {
  decrypt_sessions(state, true, static_cast<uint32_t>(state.range(0)), static_cast<uint16_t>(state.range(1)));
}
void BM_DtlsEncryptStages(benchmark::State& state) {
  encrypt_sessions(state, true, static_cast<uint32_t>(state.range(0)), static_cast<uint16_t>(state.range(1)));
}
BENCHMARK(BM_DtlsDecryptStages)->ArgNames({"sessions", "size"})->ArgsProduct({{1, 100000}, {64, 512, 1400}});
BENCHMARK(BM_DtlsEncryptStages)->ArgNames({"sessions", "size"})->ArgsProduct({{1, 100000}, {64, 512, 1400}});

// args: sessions, active, inner packet size. 100000 sessions held on the lcore (keyed, in
// its flow table and DTLS slots), `active` of them sending (or receiving), each packet of a
// burst from (to) another of those in random order: what holding many sessions costs the
// paths, apart from how many are busy at once. (Real traffic: most of a gateway's sessions
// are idle at any millisecond; BM_Dtls*Sessions make every one busy, the worst case.)
void BM_DtlsDecryptHeld(benchmark::State& state) {
  decrypt_sessions(state, false, static_cast<uint32_t>(state.range(0)), static_cast<uint16_t>(state.range(2)),
                   static_cast<uint32_t>(state.range(1)));
  state.counters["active"] = static_cast<double>(state.range(1));
}
void BM_DtlsEncryptHeld(benchmark::State& state) {
  encrypt_sessions(state, false, static_cast<uint32_t>(state.range(0)), static_cast<uint16_t>(state.range(2)),
                   static_cast<uint32_t>(state.range(1)));
  state.counters["active"] = static_cast<double>(state.range(1));
}
BENCHMARK(BM_DtlsDecryptHeld)->ArgNames({"sessions", "active", "size"})->ArgsProduct({{100000}, {1000}, {64, 1400}});
BENCHMARK(BM_DtlsEncryptHeld)->ArgNames({"sessions", "active", "size"})->ArgsProduct({{100000}, {1000}, {64, 1400}});

// args: sessions, active (0: all). The session lookup stage alone, as rx_process does it
// for a burst: the flow table's bulk lookup of 32 client flows (random over all sessions,
// or over the `active` ones, as in BM_DtlsDecryptSessions / BM_DtlsDecryptHeld), then for
// each the first line of its DTLS slot, which holds the session table's ref it is checked
// against. The lookups' own cost: whether it stays flat
// from 1 to 100,000 sessions (the target), apart from the record path's other
// per-session state (cipher state, expanded keys), which BM_DtlsDecryptSessions adds.
void BM_DtlsSessionLookup(benchmark::State& state) {
  if (g_bed == nullptr) return state.SkipWithError(g_bed_error.c_str());
  const auto n = static_cast<uint32_t>(state.range(0));
  // The first `senders` of the random order send (all unless args give "active": the rest
  // held, in the flow table, silent).
  const uint32_t senders = state.range(1) == 0 ? n : static_cast<uint32_t>(state.range(1));
  ScaleSessions s(n, state);
  if (!s.ok) return;
  const Dataplane& dp = g_bed->dp;
  const FlowTable& flows = *s.ctx->dtls->flows;
  // 64 bursts of keys ahead, as the staged frames of the path benchmarks.
  constexpr unsigned kKeys = 64 * kBurst;
  std::vector<uint64_t> keys(kKeys);
  uint64_t k = 0;
  uint64_t cycles = 0, lookups = 0, live = 0;
  for (auto _ : state) {
    if (k % kKeys == 0) {
      state.PauseTiming();
      for (unsigned i = 0; i < kKeys; i++)
        keys[i] = DtlsFlowKey{ScaleSessions::kScaleClients + s.order[(k + i) % senders], kClientPort, 0}.word();
      state.ResumeTiming();
    }
    const uint64_t* burst = &keys[k % kKeys];
    const uint64_t t0 = rte_rdtsc();
    uint32_t slot_of[kBurst];
    flows.lookup_bulk(burst, kBurst, slot_of);
    for (unsigned i = 0; i < kBurst; i++) {
      if (slot_of[i] == FlowTable::kMiss) continue;
      rte_prefetch0(&dp.dtls_slots[slot_of[i]]);  // with the session table's ref (DtlsSlot::bound)
    }
    for (unsigned i = 0; i < kBurst; i++) {
      if (slot_of[i] == FlowTable::kMiss) continue;
      const DtlsSlot& slot = dp.dtls_slots[slot_of[i]];
      live += slot.cipher != nullptr && dp.sessions->lookup_slot(slot_of[i]) == slot.ref;
    }
    cycles += rte_rdtsc() - t0;
    lookups += kBurst;
    k += kBurst;
  }
  if (live != lookups) return state.SkipWithError("a flow did not find its live session");
  state.SetItemsProcessed(static_cast<int64_t>(lookups));
  state.counters["cycles_per_lookup"] = static_cast<double>(cycles) / static_cast<double>(lookups);
  state.counters["sessions"] = n;
}
BENCHMARK(BM_DtlsSessionLookup)
    ->ArgNames({"sessions", "active"})
    ->Args({1, 0})
    ->Args({1000, 0})
    ->Args({10000, 0})
    ->Args({100000, 0})
    ->Args({100000, 1000});

// The floor of every per-session cost at scale: one cache line at a random place in `mib`
// MiB of the EAL's memory, 32 put in flight at once as the burst stages do, then read.
// Cycles per line: what each line of per-session state a packet touches costs when the
// sessions' state is that large. 256 MiB is far past any last-level cache; the smaller
// regions show how much of the cache this machine really gives one core (a VM's share of a
// shared L3 can be far less than lscpu says), i.e. from what size of per-session state on
// lookups stop being flat.
void BM_ColdCacheLine(benchmark::State& state) {
  if (g_bed == nullptr) return state.SkipWithError(g_bed_error.c_str());
  const size_t kBytes = static_cast<size_t>(state.range(0)) << 20;
  const size_t kLines = kBytes / RTE_CACHE_LINE_SIZE;
  auto* mem = static_cast<uint8_t*>(rte_malloc("bench_cold_lines", kBytes, RTE_CACHE_LINE_SIZE));
  if (mem == nullptr) return state.SkipWithError("not enough EAL memory for the region");
  std::memset(mem, 1, kBytes);
  std::mt19937_64 rng(7);
  constexpr unsigned kOffsets = 64 * kBurst;
  std::vector<uint64_t> offsets(kOffsets);
  unsigned next = kOffsets;
  uint64_t cycles = 0, lines = 0, sum = 0;
  for (auto _ : state) {
    if (next == kOffsets) {
      state.PauseTiming();
      for (uint64_t& o : offsets) o = (rng() % kLines) * RTE_CACHE_LINE_SIZE;
      next = 0;
      state.ResumeTiming();
    }
    const uint64_t* o = &offsets[next];
    const uint64_t t0 = rte_rdtsc();
    for (unsigned i = 0; i < kBurst; i++) rte_prefetch0(mem + o[i]);
    for (unsigned i = 0; i < kBurst; i++) sum += mem[o[i]];
    cycles += rte_rdtsc() - t0;
    lines += kBurst;
    next += kBurst;
  }
  benchmark::DoNotOptimize(sum);
  rte_free(mem);
  state.SetItemsProcessed(static_cast<int64_t>(lines));
  state.counters["cycles_per_line"] = static_cast<double>(cycles) / static_cast<double>(lines);
}
BENCHMARK(BM_ColdCacheLine)->ArgNames({"mib"})->Arg(2)->Arg(8)->Arg(256);

void args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"cipher", "size", "engine"});
  for (int64_t cipher : {kAes128Gcm, kChacha, kAes256Gcm})
    for (int64_t size : {64, 512, 1400})
      for (int64_t engine : {kDefault, kCpuCrypto, kQueuePair, kWolfCrypt}) b->Args({cipher, size, engine});
}
BENCHMARK(BM_DtlsCryptoOnly)->Apply(args);
BENCHMARK(BM_DtlsDecryptPath)->Apply(args);
BENCHMARK(BM_DtlsEncryptPath)->Apply(args);

}  // namespace
}  // namespace tg::dp

int main(int argc, char** argv) {
  tg::dp::testing::RingDataplane* b = nullptr;
  // Two /16 pools beside the ring bed's /24 for BM_Dtls*Sessions' 100k sessions (the
  // DTLS slots and the cryptodev session pool are sized for them, hence the memory).
  std::string config = tg::dp::testing::kRingDataplaneConfig;
  const std::string pools = "pools = ( { name = \"clients\"; prefix = \"198.51.100.0/24\"; } );";
  config.replace(config.find(pools), pools.size(),
                 "pools = ( { name = \"clients\"; prefix = \"198.51.100.0/24\"; },\n"
                 "          { name = \"scale-a\"; prefix = \"10.64.0.0/16\"; },\n"
                 "          { name = \"scale-b\"; prefix = \"10.65.0.0/16\"; } );\n"
                 "limits = { max_sessions = 140000; };");
  // The scale sessions' clients (100.64.0.0/10) are reached through a router on the outside.
  const std::string routes = "routes = ( { prefix = \"198.18.1.0/24\"; via = \"198.18.0.2\"; } );";
  config.replace(config.find(routes), routes.size(),
                 "routes = ( { prefix = \"198.18.1.0/24\"; via = \"198.18.0.2\"; },\n"
                 "            { prefix = \"100.64.0.0/10\"; via = \"192.0.2.254\"; } );");
  // TG_BENCH_CRYPTODEV=crypto_aesni_gcm (or another vdev) measures that cryptodev instead
  // of the default (dataplane.cryptodev "auto").
  if (const char* dev = std::getenv("TG_BENCH_CRYPTODEV"); dev != nullptr && *dev != 0) {
    const std::string workers = "tls_workers = 2;";
    config.replace(config.find(workers), workers.size(), workers + "\n  cryptodev = \"" + std::string(dev) + "\";");
  }
  tg::dp::g_bed_error = tg::dp::testing::ring_dataplane_create("dtls_record_bench", 4095, &b, config, 2048);
  tg::dp::g_bed = b;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
