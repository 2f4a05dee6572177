// Dataplane micro-benchmarks: the header parsers, the neighbour table, the route lookup
// (rte_fib, 1 to 100,000 routes), and the whole forwarding path of one poll lcore
// (l2_input → ipv4_forward → neighbour_output → TX) over ring ports, reported as packets
// per second and TSC cycles per packet (or lookup).
//
//   sudo build/bench/dataplane_bench            (EAL needs root; no hugepages needed)
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include <rte_cycles.h>
#include <rte_fib.h>
#include <rte_mbuf.h>

#include "dataplane/route_table.h"
#include "dataplane/stages.h"
#include "dataplane/wire.h"
#include "tests/support/ring_dataplane.h"

namespace tg::dp {
namespace {

std::vector<uint8_t> udp_frame(const uint8_t* dst_mac, uint32_t src, uint32_t dst, uint16_t payload) {
  std::vector<uint8_t> f(14 + 20 + 8 + payload, 0);
  std::memcpy(f.data(), dst_mac, 6);
  const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
  std::memcpy(f.data() + 6, src_mac, 6);
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  const uint16_t total = static_cast<uint16_t>(20 + 8 + payload);
  ip[0] = 0x45;
  ip[2] = static_cast<uint8_t>(total >> 8);
  ip[3] = static_cast<uint8_t>(total);
  ip[8] = 64;
  ip[9] = 17;
  for (int i = 0; i < 4; i++) {
    ip[12 + i] = static_cast<uint8_t>(src >> (24 - 8 * i));
    ip[16 + i] = static_cast<uint8_t>(dst >> (24 - 8 * i));
  }
  const uint16_t c = static_cast<uint16_t>(~ones_complement_sum(ip, 20));
  ip[10] = static_cast<uint8_t>(c >> 8);
  ip[11] = static_cast<uint8_t>(c);
  return f;
}

void BM_ParseIpv4(benchmark::State& state) {
  const uint8_t mac[6] = {};
  auto f = udp_frame(mac, 0xC0000202, 0xC612010A, 64);
  Ipv4Info info;
  for (auto _ : state) {
    benchmark::DoNotOptimize(parse_ipv4(f.data() + 14, static_cast<uint32_t>(f.size() - 14), &info));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseIpv4);

void BM_NeighbourFindRead(benchmark::State& state) {
  NeighbourTable t(4096);
  for (uint32_t ip = 0; ip < 1000; ip++) t.learn(t.find_or_insert(0, ip), MacAddr{{2, 0, 0, 0, 0, 1}}, 1);
  uint32_t ip = 0;
  for (auto _ : state) {
    const int32_t i = t.find(0, ip);
    benchmark::DoNotOptimize(t.read(i));
    ip = (ip + 7) % 1000;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NeighbourFindRead);

testing::RingDataplane* g_bed = nullptr;
std::string g_bed_error;

// One burst of `range(0)`-byte UDP packets routed from outside to a resolved backend
// next hop. Per iteration: copy the frames into fresh mbufs, run the stages, flush TX,
// and free what the ring port "transmitted" (that cost is in the figure too).
void BM_ForwardBurst(benchmark::State& state) {
  if (g_bed == nullptr) {
    state.SkipWithError(g_bed_error.c_str());
    return;
  }
  Dataplane& dp = g_bed->dp;
  auto neigh = std::make_unique<NeighbourTable>(64);
  auto stats = std::make_unique<shm::StatsSegment>();
  auto ctx = std::make_unique<LcoreCtx>();
  dp.neighbours = neigh.get();
  ctx->dp = &dp;
  ctx->stats = &stats->lcores[0];
  ctx->held_cap = 64;
  ctx->held.reserve(64);
  neigh->learn(neigh->find_or_insert(dp.ports[1].port_id, 0xC6120002), MacAddr{{2, 0, 0, 0, 0, 0x22}}, rte_rdtsc());

  const auto frame = udp_frame(dp.ports[0].mac.b, 0xC0000202, 0xC612010A, static_cast<uint16_t>(state.range(0)));
  rte_mbuf* pkts[kBurst];
  void* sent[2 * kBurst];
  uint64_t cycles = 0;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc();
    if (rte_pktmbuf_alloc_bulk(dp.pool, pkts, kBurst) != 0) {
      state.SkipWithError("mbuf pool empty");
      break;
    }
    for (auto* m : pkts) {
      std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(), frame.size());
    }
    l2_input_burst(*ctx, 0, pkts, kBurst);
    tx_flush_all(*ctx);
    const unsigned n = rte_ring_dequeue_burst(g_bed->tx[1], sent, 2 * kBurst, nullptr);
    rte_pktmbuf_free_bulk(reinterpret_cast<rte_mbuf**>(sent), n);
    cycles += rte_rdtsc() - t0;
    if (n != kBurst) {
      state.SkipWithError("not every packet was forwarded");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
  state.SetBytesProcessed(state.iterations() * kBurst * static_cast<int64_t>(frame.size()));
  state.counters["cycles_per_packet"] =
      benchmark::Counter(static_cast<double>(cycles) / (static_cast<double>(state.iterations()) * kBurst));
  dp.neighbours = nullptr;
}
BENCHMARK(BM_ForwardBurst)->Arg(64)->Arg(512)->Arg(1400);

// args: routes. The route lookup stage: one rte_fib_lookup_bulk of a burst of 32 inner
// destinations, as tunnel_input_burst and ipv4_forward_burst do, in a FIB built by
// route_table_install (DIR24_8, 2-byte next hops) holding `routes` random /24 routes over
// two next hops; destinations drawn at random among the routed /24s (a cold first-level
// entry each once the routes are many). Cycles per lookup.
void BM_RouteLookup(benchmark::State& state) {
  if (g_bed == nullptr) return state.SkipWithError(g_bed_error.c_str());
  const auto n = static_cast<uint32_t>(state.range(0));
  std::mt19937 rng(11);
  std::vector<RouteEntry> routes;
  std::vector<uint32_t> nets;
  std::unordered_set<uint32_t> seen;
  while (routes.size() < n) {
    const uint32_t net = 0x0b000000u + ((rng() % (1u << 20)) << 8);  // one of 2^20 /24s from 11.0.0.0
    if (!seen.insert(net).second) continue;
    nets.push_back(net);
    routes.push_back({net, 24, {static_cast<uint8_t>(routes.size() % 2), 0xC6120002}});
  }
  Dataplane fibs;  // only its fib and next hops
  const std::string name = "bench_fib_" + std::to_string(n);
  if (std::string err = route_table_install(fibs, routes, SOCKET_ID_ANY, name.c_str()); !err.empty())
    return state.SkipWithError(err.c_str());
  constexpr unsigned kDsts = 64 * kBurst;
  std::vector<uint32_t> dst(kDsts);
  unsigned next = kDsts;
  uint64_t cycles = 0, lookups = 0, routed = 0;
  uint64_t nh[kBurst];
  for (auto _ : state) {
    if (next == kDsts) {
      state.PauseTiming();
      for (uint32_t& d : dst) d = nets[rng() % nets.size()] | (1 + rng() % 254);
      next = 0;
      state.ResumeTiming();
    }
    const uint64_t t0 = rte_rdtsc();
    rte_fib_lookup_bulk(fibs.fib, &dst[next], nh, kBurst);
    cycles += rte_rdtsc() - t0;
    for (unsigned i = 0; i < kBurst; i++) routed += nh[i] != kNoRoute;
    lookups += kBurst;
    next += kBurst;
  }
  rte_fib_free(fibs.fib);
  if (routed != lookups) return state.SkipWithError("a routed destination found no route");
  state.SetItemsProcessed(static_cast<int64_t>(lookups));
  state.counters["cycles_per_lookup"] = static_cast<double>(cycles) / static_cast<double>(lookups);
}
BENCHMARK(BM_RouteLookup)->ArgNames({"routes"})->Arg(1)->Arg(1000)->Arg(100000);

}  // namespace
}  // namespace tg::dp

int main(int argc, char** argv) {
  tg::dp::testing::RingDataplane* b = nullptr;
  tg::dp::g_bed_error = tg::dp::testing::ring_dataplane_create("dataplane_bench", 4095, &b);
  tg::dp::g_bed = b;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
