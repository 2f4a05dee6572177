#include "tests/support/ring_dataplane.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_mbuf.h>

#include "dataplane/port_setup.h"
#include "dataplane/route_table.h"

// The stages log through this type; the binary registers it in main.cc.
RTE_LOG_REGISTER(tg_dataplane_logtype, tunnelgate.dataplane, INFO);

namespace tg::dp::testing {

std::string ring_dataplane_create(const std::string& prog, unsigned mbufs, RingDataplane** out,
                                  const std::string& config, unsigned memory_mb) {
  const std::string prefix = "tgring" + std::to_string(getpid());
  // Tests run without hugepages (any machine); a benchmark asks for them with
  // TG_BENCH_HUGEPAGES=1 (bench/run, after reserving them), as the dataplane runs in
  // production: with 4 KB pages, 100k sessions' state takes a TLB miss on every access.
  const char* huge = std::getenv("TG_BENCH_HUGEPAGES");
  const bool hugepages = huge != nullptr && std::string_view(huge) == "1";
  std::vector<std::string> args = {prog, hugepages ? "--in-memory" : "--no-huge", "-m", std::to_string(memory_mb),
                                   "--no-pci", "--file-prefix", prefix, "-l", "0", "--log-level=lib.eal:error",
                                   "--no-telemetry"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) return "EAL init failed (needs root)";
  eal_runtime_dir_remove_at_exit();
  auto r = config::config_load_string(config, "ringbed.conf");
  if (!r.ok()) return "config: " + r.errors.front().to_string();

  auto* b = new RingDataplane;
  b->cfg = *r.config;
  b->dp.cfg = &b->cfg;
  b->dp.pool = rte_pktmbuf_pool_create("tgt_pool", mbufs, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  if (b->dp.pool == nullptr) return "mbuf pool";
  for (int p = 0; p < 2; p++) {
    const std::string n = "tgt_r" + std::to_string(p);
    b->rx[p] = rte_ring_create((n + "rx").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    b->tx[p] = rte_ring_create((n + "tx").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    const auto& pc = b->cfg.dataplane.ports[p];
    // The ring PMD names its ethdev "net_ring_<name>".
    const std::string ring_port = pc.device.substr(std::strlen("net_ring_"));
    if (rte_eth_from_rings(ring_port.c_str(), &b->rx[p], 1, &b->tx[p], 1, 0) < 0) return "ring port";
    const std::string err = port_setup(pc, 1, 256, 256, b->dp.pool, &b->dp.ports[p]);
    if (!err.empty()) return "port_setup: " + err;
    // The ring PMD's MAC may be all zero: give each port its own.
    b->dp.ports[p].mac = MacAddr{{0x02, 0xaa, 0, 0, 0, static_cast<uint8_t>(p + 1)}};
    b->dp.n_ports++;
  }
  // The exception port: a third ring port in place of net_tun (raw IPv4 both ways).
  b->rx[2] = rte_ring_create("tgt_r2rx", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  b->tx[2] = rte_ring_create("tgt_r2tx", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (rte_eth_from_rings("tgt_exc", &b->rx[2], 1, &b->tx[2], 1, 0) < 0) return "exception ring port";
  config::PortConfig exc;
  exc.name = "tg-exc";
  exc.device = "net_ring_tgt_exc";
  exc.address = b->cfg.dataplane.ports[0].address;
  std::string err = port_setup(exc, 1, 256, 256, b->dp.pool, &b->dp.ports[2]);
  if (!err.empty()) return "port_setup exception: " + err;
  b->dp.ports[2].role = 2;
  b->dp.has_exception = true;
  b->dp.exception_index = 2;
  b->dp.tls_port = b->cfg.listeners.tls_port;
  err = route_table_install(b->dp, routes_from_config(b->cfg), 0);
  if (!err.empty()) return "fib: " + err;
  err = tunnel_setup(b->cfg, b->dp, b->tunnel);
  if (!err.empty()) return "tunnel: " + err;
  b->dp.tsc_hz = rte_get_tsc_hz();
  b->dp.lab_forwarding = true;
  b->dp.neigh_reachable_tsc = b->dp.tsc_hz * 300;
  b->dp.neigh_retry_tsc = b->dp.tsc_hz;
  b->dp.neigh_retries = 3;
  b->dp.icmp_error_interval_tsc = b->dp.tsc_hz / 100;
  b->dp.icmp_error_burst_tsc = b->dp.tsc_hz;
  *out = b;
  return {};
}

}  // namespace tg::dp::testing
