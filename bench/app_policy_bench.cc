// Per-app policy (dataplane/app_policy.h): what the poll lcore pays per inner packet, and
// what a policy version costs to build and keep.
//   BM_Classify  policy_key_from_ipv4 for a burst of 32 inner packets + one
//                policy_classify, for 1 app x 1 service, 50 x 10, 255 x 20 (index 0 is
//                reserved, so 255 is the most apps a registry holds) from a shared pool of
//                100 services, and 255 x 10 with services of their own; per rte_acl
//                algorithm, which rte_acl_create picks from the EAL's max SIMD width:
//                64 = scalar, 128 = SSE4.1, 256 (the EAL default) = AVX2, or AVX512X16 on a
//                CPU with AVX-512, 512 (--force-max-simd-bitwidth=512) = AVX512X32.
//                Reports TSC cycles per packet and the share of packets allowed.
//   BM_Build     policy_table_build of those shapes: rules, verdict rows, DPDK heap of the
//                table (MiB) and build time (ms), one iteration each.
// Every service has `subnets` /24 subnets, tcp+udp+icmp and `ranges` port ranges. The
// packets (4096, cycled in bursts of 32) go to an app's own services: 70 % allowed, 10 %
// each denied for destination, protocol (GRE) and port.
//
//   sudo build/bench/app_policy_bench [--benchmark_filter=...]   (EAL needs root)
// rte_vect_set_max_simd_bitwidth is experimental in DPDK 22.11.
#define ALLOW_EXPERIMENTAL_API 1
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_memory.h>
extern "C" {  // DPDK 22.11's rte_vect.h declares its functions without extern "C"
#include <rte_vect.h>
}

#include "dataplane/app_policy.h"
#include "dataplane/wire.h"
#include "tests/support/ring_dataplane.h"

namespace tg::dp {
namespace {

bool g_eal = false;
constexpr unsigned kBurst = 32;
constexpr unsigned kPackets = 4096;
constexpr unsigned kServicePool = 100;

/// `apps` apps of `per_app` services each, drawn from a pool of max(per_app, 100) services
/// (shared), or each app with services of its own (`shared` false).
config::Config shape(unsigned apps, unsigned per_app, unsigned subnets, unsigned ranges, bool shared = true) {
  config::Config cfg;
  const unsigned n_services = !shared ? apps * per_app : apps <= 1 ? per_app : std::max(per_app, kServicePool);
  for (unsigned s = 0; s < n_services; s++) {
    config::ServiceConfig svc;
    svc.name = "svc" + std::to_string(s);
    for (unsigned i = 0; i < subnets; i++) {
      config::IpPrefix p;
      p.addr = config::IpAddr::from_v4_host(0x0A000000 | s << 10 | i << 8);  // 10.x.y.0/24
      p.len = 24;
      svc.subnets.push_back(p);
    }
    for (unsigned r = 0; r < ranges; r++) {
      const uint16_t first = static_cast<uint16_t>(1000 + 1000 * r + s);
      svc.ports.push_back({first, static_cast<uint16_t>(first + 10 * r)});
    }
    cfg.services.push_back(svc);
  }
  for (unsigned a = 0; a < apps; a++) {
    config::AppConfig app;
    app.id = "com.example.app" + std::to_string(a);
    for (unsigned i = 0; i < per_app; i++)
      app.services.push_back(cfg.services[shared ? (a * 7 + i) % n_services : a * per_app + i].name);
    cfg.apps.push_back(app);
  }
  return cfg;
}

struct Probe {
  std::vector<uint8_t> bytes;
  uint16_t app;
};

std::vector<Probe> probes(const config::Config& cfg, AppRegistry& reg) {
  std::mt19937 rng(7);
  std::vector<Probe> out;
  for (unsigned i = 0; i < kPackets; i++) {
    const unsigned a = static_cast<unsigned>(rng() % cfg.apps.size());
    const uint16_t app = static_cast<uint16_t>(reg.find(cfg.apps[a].id));
    const auto& names = cfg.apps[a].services;
    const std::string& name = names[rng() % names.size()];
    const config::ServiceConfig* svc = &cfg.services.front();
    for (const auto& s : cfg.services)
      if (s.name == name) svc = &s;
    uint32_t dst = svc->subnets[rng() % svc->subnets.size()].addr.v4_host() + 1 + rng() % 250;
    const auto& range = svc->ports[rng() % svc->ports.size()];
    uint16_t port = static_cast<uint16_t>(range.first + rng() % (range.last - range.first + 1u));
    uint8_t proto = rng() % 2 ? wire::kIpProtoTcp : wire::kIpProtoUdp;
    const unsigned r = static_cast<unsigned>(rng() % 100);
    if (r < 64) {
      // allowed as drawn
    } else if (r < 70) {
      proto = wire::kIpProtoIcmp;  // allowed: icmp is listed
    } else if (r < 80) {
      dst = 0xC0A80001 + static_cast<uint32_t>(rng() % 1000);  // deny_destination
    } else if (r < 90) {
      proto = 47;  // deny_protocol
    } else {
      port = static_cast<uint16_t>(range.last + 1);  // deny_port
    }
    std::vector<uint8_t> b(20 + 20, 0);
    b[0] = 0x45;
    store_be16(&b[2], static_cast<uint16_t>(b.size()));
    b[8] = 64;
    b[9] = proto;
    store_be32(&b[12], 0xC6336402);
    store_be32(&b[16], dst);
    store_be16(&b[20], 40000);
    store_be16(&b[22], port);
    out.push_back({std::move(b), app});
  }
  return out;
}

std::string build(const config::Config& cfg, AppRegistry& reg, PolicyTable** t, double* ms) {
  static uint64_t generation = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::string err = policy_table_build(cfg, reg, SOCKET_ID_ANY, ++generation, t);
  *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return err;
}

// args: apps, services per app, subnets per service, port ranges per service, shared pool,
// simd width
void BM_Classify(benchmark::State& state) {
  if (!g_eal) return state.SkipWithError("EAL init failed (needs root)");
  if (rte_vect_set_max_simd_bitwidth(static_cast<uint16_t>(state.range(5))) != 0)
    return state.SkipWithError("rte_vect_set_max_simd_bitwidth refused");
  const config::Config cfg = shape(static_cast<unsigned>(state.range(0)), static_cast<unsigned>(state.range(1)),
                                   static_cast<unsigned>(state.range(2)), static_cast<unsigned>(state.range(3)),
                                   state.range(4) != 0);
  AppRegistry reg;
  PolicyTable* t = nullptr;
  double ms = 0;
  if (const std::string err = build(cfg, reg, &t, &ms); !err.empty()) return state.SkipWithError(err.c_str());
  rte_vect_set_max_simd_bitwidth(RTE_VECT_SIMD_256);  // back to the EAL default
  const auto packets = probes(cfg, reg);
  PolicyKey keys[kBurst];
  const PolicyKey* ptrs[kBurst];
  for (unsigned i = 0; i < kBurst; i++) ptrs[i] = &keys[i];
  PolicyVerdict verdict[kBurst];
  uint64_t counts[kPolicyVerdicts] = {};
  uint64_t cycles = 0;
  unsigned at = 0;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc();
    for (unsigned i = 0; i < kBurst; i++) {
      const Probe& p = packets[at + i];
      policy_key_from_ipv4(p.bytes.data(), static_cast<uint32_t>(p.bytes.size()), p.app, true, &keys[i]);
    }
    policy_classify(*t, ptrs, kBurst, verdict);
    cycles += rte_rdtsc() - t0;
    for (unsigned i = 0; i < kBurst; i++) counts[static_cast<unsigned>(verdict[i])]++;
    at = (at + kBurst) % kPackets;
  }
  state.SetItemsProcessed(state.iterations() * kBurst);
  const double packets_done = static_cast<double>(state.iterations()) * kBurst;
  state.counters["cycles_per_packet"] = benchmark::Counter(static_cast<double>(cycles) / packets_done);
  state.counters["allowed"] = benchmark::Counter(static_cast<double>(counts[0]) / packets_done);
  state.counters["rules"] = benchmark::Counter(policy_table_info(*t).rules);
  policy_table_free(t);
}

// args: apps, services per app, subnets per service, port ranges per service, shared pool
void BM_Build(benchmark::State& state) {
  if (!g_eal) return state.SkipWithError("EAL init failed (needs root)");
  const config::Config cfg = shape(static_cast<unsigned>(state.range(0)), static_cast<unsigned>(state.range(1)),
                                   static_cast<unsigned>(state.range(2)), static_cast<unsigned>(state.range(3)),
                                   state.range(4) != 0);
  for (auto _ : state) {
    AppRegistry reg;
    PolicyTable* t = nullptr;
    double ms = 0;
    if (const std::string err = build(cfg, reg, &t, &ms); !err.empty()) return state.SkipWithError(err.c_str());
    const PolicyTableInfo info = policy_table_info(*t);
    state.counters["rules"] = benchmark::Counter(info.rules);
    state.counters["rows"] = benchmark::Counter(info.rows);
    state.counters["heap_MiB"] = benchmark::Counter(static_cast<double>(info.heap_bytes) / (1 << 20));
    state.counters["build_ms"] = benchmark::Counter(ms);
    policy_table_free(t);
  }
}

void classify_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"apps", "per_app", "subnets", "ranges", "shared", "simd"});
  for (int64_t simd : {64, 128, 256, 512}) {
    b->Args({1, 1, 4, 4, 1, simd});
    b->Args({50, 10, 4, 4, 1, simd});
    b->Args({255, 20, 4, 4, 1, simd});
    b->Args({255, 10, 4, 4, 0, simd});
  }
}
BENCHMARK(BM_Classify)->Apply(classify_args);
BENCHMARK(BM_Build)
    ->ArgNames({"apps", "per_app", "subnets", "ranges", "shared"})
    ->Args({1, 1, 4, 4, 1})
    ->Args({50, 10, 4, 4, 1})
    ->Args({255, 20, 4, 4, 1})
    ->Args({255, 10, 4, 4, 1})
    ->Args({255, 10, 4, 4, 0})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tg::dp

int main(int argc, char** argv) {
  const std::string prefix = "tgpolbench" + std::to_string(getpid());
  std::vector<std::string> args = {"app_policy_bench", "--no-huge", "-m", "4096", "--no-pci",
                                   "--file-prefix", prefix, "-l", "0", "--log-level=lib.eal:error",
                                   "--no-telemetry"};
  std::vector<char*> eal_argv;
  for (auto& a : args) eal_argv.push_back(a.data());
  tg::dp::g_eal = rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) >= 0;
  if (tg::dp::g_eal) tg::dp::testing::eal_runtime_dir_remove_at_exit();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (tg::dp::g_eal) rte_eal_cleanup();
  return 0;
}
