// tunnelgate-dataplane: the DPDK primary process. The main lcore sets everything up,
// launches the poll lcores and then only does housekeeping (stats header, link state)
// until SIGINT/SIGTERM.
#include <getopt.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_fib.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "config/config.h"
#include "dataplane/dataplane.h"
#include "dataplane/eal_args.h"
#include "dataplane/exception_path.h"
#include "dataplane/log.h"
#include "dataplane/policy_state.h"
#include "dataplane/port_setup.h"
#include "dataplane/tunnel_setup.h"
#include "dataplane/vpn/vpn_workers.h"
#include "dataplane/route_table.h"
#include "dataplane/session_segment.h"
#include "dataplane/stats_segment.h"
#include "dataplane/telemetry.h"

RTE_LOG_REGISTER(tg_dataplane_logtype, tunnelgate.dataplane, INFO);

namespace tg::dp {
namespace {

constexpr const char* kVersion = "0.1.0";
// The only globals: a signal handler has no context.
std::atomic<bool> g_signalled{false};  // SIGINT/SIGTERM: stop
std::atomic<bool> g_reload{false};     // SIGHUP: reload the TLS certificates and the policy

void on_signal(int) { g_signalled.store(true, std::memory_order_relaxed); }
void on_sighup(int) { g_reload.store(true, std::memory_order_relaxed); }

/// Re-read services and apps from the config file and swap the lcores' policy table. A
/// file with errors changes nothing (each error is logged).
void reload_policy(Dataplane& dp, const std::string& path, uint64_t asked_generation) {
  const config::LoadResult r = config::config_load_file(path);
  if (!r.ok()) {
    for (const config::ConfigError& e : r.errors) TG_ERR("msg=\"policy not reloaded\" error=\"%s\"", e.to_string().c_str());
    return;
  }
  if (std::string err = policy_state_reload(*dp.policy, *r.config, dp.stats); !err.empty()) {
    TG_ERR("msg=\"policy not reloaded\" config=%s error=\"%s\"", path.c_str(), err.c_str());
    return;
  }
  const PolicyTableInfo info = policy_table_info(*dp.policy->table.load(std::memory_order_acquire));
  TG_INFO("msg=\"policy reloaded\" generation=%llu control_plane_generation=%llu apps=%zu services=%zu "
          "rules=%u",
          static_cast<unsigned long long>(dp.policy->generation),
          static_cast<unsigned long long>(asked_generation), r.config->apps.size(),
          r.config->services.size(), info.rules);
}

void usage(FILE* out) {
  std::fprintf(out,
               "usage: tunnelgate-dataplane --config FILE [-- EXTRA-EAL-ARGS]\n"
               "       tunnelgate-dataplane --check-config FILE\n"
               "\n"
               "  -c, --config FILE        run the dataplane of this configuration\n"
               "  -t, --check-config FILE  validate FILE, print the errors, exit 0 (valid) or 1\n"
               "  -h, --help               this text\n"
               "  -V, --version            print the version\n"
               "\n"
               "EAL arguments come from dataplane.eal_args and the ports; anything after \"--\"\n"
               "is appended (e.g. --log-level=tunnelgate.dataplane:debug).\n");
}

uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

bool print_errors(const config::LoadResult& r) {
  for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
  return r.ok();
}

/// The exception port (net_tun) after the configured ports: same queues, the kernel side
/// gets the first outside port's address so the TLS workers' sockets can listen on it.
std::string exception_setup(const config::Config& cfg, uint16_t n_queues, Dataplane& dp) {
  const auto& ports = cfg.dataplane.ports;
  const config::PortConfig* outside = nullptr;
  for (const auto& p : ports)
    if (p.role == config::PortConfig::Role::outside) {
      outside = &p;
      break;
    }
  if (outside == nullptr) return "no outside port to take the TLS listener's address from";
  config::PortConfig pc;
  pc.name = cfg.dataplane.exception_iface;
  pc.device = kExceptionDeviceName;
  pc.address = outside->address;
  const uint8_t idx = static_cast<uint8_t>(dp.n_ports);
  PortRuntime& port = dp.ports[idx];
  std::string err = port_setup(pc, n_queues, static_cast<uint16_t>(cfg.dataplane.rx_desc),
                               static_cast<uint16_t>(cfg.dataplane.tx_desc), dp.pool, &port);
  if (!err.empty()) return err;
  port.role = 2;
  // The same MTU as the outside port: the kernel's TCP then chooses an MSS that fits.
  err = exception_iface_configure(cfg.dataplane.exception_iface, outside->address, dp.ports[0].mtu);
  if (!err.empty()) {
    port_shutdown(port);
    return err;
  }
  dp.has_exception = true;
  dp.exception_index = idx;
  dp.tls_port = cfg.listeners.tls_port;
  shm::PortInfo& info = dp.stats->ports[idx];
  std::strncpy(info.name, pc.name.c_str(), sizeof(info.name) - 1);
  info.dpdk_port_id = port.port_id;
  info.role = 2;
  info.ipv4_host = port.addr;
  info.prefix_len = outside->address.len;
  TG_INFO("msg=\"exception path up\" iface=%s address=%s tls_port=%u", pc.name.c_str(),
          config::to_string(outside->address).c_str(), dp.tls_port);
  return {};
}

/// Refreshes what the main lcore publishes about once a second.
void housekeeping(Dataplane& dp) {
  shm::StatsSegment& s = *dp.stats;
  const unsigned n_ports = dp.n_ports + (dp.has_exception ? 1 : 0);
  for (unsigned p = 0; p < n_ports; p++) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(dp.ports[p].port_id, &link) == 0) {
      s.ports[p].link_up = link.link_status ? 1 : 0;
      s.ports[p].link_speed_mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
    }
    rte_eth_stats st{};
    if (rte_eth_stats_get(dp.ports[p].port_id, &st) == 0) {
      s.ports[p].device = {st.imissed, st.ierrors, st.oerrors, st.rx_nombuf};
    }
  }
  s.neigh_entries = dp.neighbours->count_resolved();
  s.mempool_in_use = rte_mempool_in_use_count(dp.pool);
  s.heartbeat_ns = realtime_ns();
}

int run(const config::Config& cfg, const std::vector<std::string>& extra_eal) {
  const auto& dcfg = cfg.dataplane;
  std::vector<std::string> args = eal_argv(cfg, "tunnelgate-dataplane", extra_eal);
  std::string joined;
  for (const auto& a : args) joined += " " + a;
  std::fprintf(stderr, "level=info msg=\"starting EAL\" args=\"%s\"\n", joined.c_str() + 1);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  exception_signals_block();  // before EAL's threads: every thread inherits it (exception_path.h)
  if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0) {
    std::fprintf(stderr, "level=error msg=\"EAL init failed\" err=\"%s\"\n", rte_strerror(rte_errno));
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_sighup);

  auto dp = std::make_unique<Dataplane>();
  dp->cfg = &cfg;
  dp->tsc_hz = rte_get_tsc_hz();
  dp->lab_forwarding = dcfg.lab_forwarding;
  dp->idle_sleep_us = dcfg.idle_sleep_us;
  dp->neigh_reachable_tsc = dp->tsc_hz * dcfg.neighbour.reachable_s;
  dp->neigh_retry_tsc = dp->tsc_hz / 1000 * dcfg.neighbour.resolve_timeout_ms;
  dp->neigh_retries = dcfg.neighbour.resolve_retries;
  if (cfg.limits.icmp_errors_per_second > 0) {
    dp->icmp_error_interval_tsc = dp->tsc_hz / cfg.limits.icmp_errors_per_second;
    dp->icmp_error_burst_tsc = dp->tsc_hz;  // up to one second's worth at once
  }
  if (cfg.dataplane.lab_forwarding) {
    TG_WARN("msg=\"lab_forwarding is on: plain IPv4 is routed between ports (lab use only)\"");
  }

  int rc = 1;
  const uint16_t n_queues = static_cast<uint16_t>(dcfg.lcores.size());
  StatsSegmentWriter segment;
  SessionSegmentWriter session_segment;
  NeighbourTable neighbours(dcfg.neighbour.table_size);
  std::vector<std::unique_ptr<LcoreCtx>> ctxs;
  TunnelResources tunnel;
  unsigned ports_started = 0;
  do {
    for (uint32_t l : dcfg.lcores) {
      if (!rte_lcore_is_enabled(l)) {
        TG_ERR("msg=\"poll lcore not enabled by EAL\" lcore=%u", l);
        goto out;
      }
    }
    // Every RX descriptor may hold an mbuf, plus per-lcore caches and hold queues.
    const uint64_t need = uint64_t(dcfg.ports.size()) * n_queues * (dcfg.rx_desc + dcfg.tx_desc) +
                          uint64_t(n_queues) * (256 + dcfg.neighbour.queue_per_lcore + 4 * kBurst);
    if (dcfg.mbufs < need) {
      TG_WARN("msg=\"mbuf pool may be too small for the descriptors\" mbufs=%u suggested=%llu", dcfg.mbufs,
              static_cast<unsigned long long>(need));
    }
    dp->pool = rte_pktmbuf_pool_create("tg_mbufs", dcfg.mbufs, 256, 0,
                                       RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
    if (dp->pool == nullptr) {
      TG_ERR("msg=\"mbuf pool creation failed\" mbufs=%u err=\"%s\"", dcfg.mbufs, rte_strerror(rte_errno));
      break;
    }
    if (std::string err = segment.create(cfg.instance); !err.empty()) {
      TG_ERR("msg=\"stats segment\" err=\"%s\"", err.c_str());
      break;
    }
    dp->stats = segment.segment();
    dp->neighbours = &neighbours;

    bool ports_ok = true;
    for (const auto& pc : dcfg.ports) {
      PortRuntime& port = dp->ports[dp->n_ports];
      std::string err = port_setup(pc, n_queues, static_cast<uint16_t>(dcfg.rx_desc),
                                   static_cast<uint16_t>(dcfg.tx_desc), dp->pool, &port);
      if (!err.empty()) {
        TG_ERR("msg=\"port setup failed\" port=%s device=\"%s\" err=\"%s\"", pc.name.c_str(), pc.device.c_str(),
               err.c_str());
        ports_ok = false;
        break;
      }
      dp->n_ports++;
      ports_started++;
      shm::PortInfo& info = dp->stats->ports[dp->n_ports - 1];
      std::strncpy(info.name, pc.name.c_str(), sizeof(info.name) - 1);
      info.dpdk_port_id = port.port_id;
      info.role = port.role;
      std::memcpy(info.mac, port.mac.b, 6);
      info.ipv4_host = port.addr;
      info.prefix_len = pc.address.len;
      TG_INFO("msg=\"port up\" port=%s dpdk_port=%u mac=%02x:%02x:%02x:%02x:%02x:%02x address=%s mtu=%u "
              "rx_ipv4_cksum=%d",
              pc.name.c_str(), port.port_id, port.mac.b[0], port.mac.b[1], port.mac.b[2], port.mac.b[3],
              port.mac.b[4], port.mac.b[5], config::to_string(pc.address).c_str(), port.mtu, port.rx_ipv4_cksum ? 1 : 0);
    }
    if (!ports_ok) break;
    if (std::string err = exception_setup(cfg, n_queues, *dp); !err.empty()) {
      TG_ERR("msg=\"exception path\" iface=%s err=\"%s\"", dcfg.exception_iface.c_str(), err.c_str());
      break;
    }
    ports_started++;
    if (std::string err = route_table_install(*dp, routes_from_config(cfg), static_cast<int>(rte_socket_id()));
        !err.empty()) {
      TG_ERR("msg=\"route table\" err=\"%s\"", err.c_str());
      break;
    }
    if (std::string err = tunnel_setup(cfg, *dp, tunnel); !err.empty()) {
      TG_ERR("msg=\"tunnel path\" err=\"%s\"", err.c_str());
      break;
    }
    for (const std::string& w : tunnel.warnings) TG_WARN("msg=\"%s\"", w.c_str());
    if (dp->dtls_port != 0) {
      const RecordCryptoDev& rc = tunnel.crypto;
      TG_INFO("msg=\"DTLS fast path\" port=%u cryptodev=%s aes_gcm=%s chacha20_poly1305=%s", dp->dtls_port,
              rc.dev_id >= 0 ? rc.name.c_str() : "none",
              record_engine_name(rc.engine_for(crypto::DtlsCipher::kAes128Gcm)),
              record_engine_name(rc.engine_for(crypto::DtlsCipher::kChacha20Poly1305)));
    }
    shm::StatsSegment& s = *dp->stats;
    s.generation = realtime_ns();
    if (dp->sessions != nullptr) {
      if (std::string err = session_segment.create(cfg.instance, dp->sessions->capacity(), s.generation);
          !err.empty()) {
        TG_ERR("msg=\"session segment\" err=\"%s\"", err.c_str());
        break;
      }
      dp->session_records = session_segment.records();
      dp->n_session_records = session_segment.n_records();
      session_segment.publish();
    }
    s.pid = static_cast<uint32_t>(getpid());
    s.n_ports = dp->n_ports + (dp->has_exception ? 1 : 0);
    s.tsc_hz = dp->tsc_hz;
    s.mempool_size = dcfg.mbufs;
    s.lab_forwarding = dcfg.lab_forwarding ? 1 : 0;
    for (size_t i = 0; i < dcfg.lcores.size(); i++) {
      auto ctx = std::make_unique<LcoreCtx>();
      ctx->dp = dp.get();
      ctx->lcore_id = dcfg.lcores[i];
      ctx->queue_id = static_cast<uint16_t>(i);
      ctx->stats = &s.lcores[i];
      ctx->stats->lcore_id = dcfg.lcores[i];
      ctx->stats->active = 1;
      ctx->stats->stage_sample = dcfg.stage_sample;
      ctx->clock.configure(dcfg.stage_sample);
      ctx->held_cap = dcfg.neighbour.queue_per_lcore;
      ctx->held.reserve(ctx->held_cap);
      ctx->garp_pending = (i == 0);
      if (i < tunnel.dtls_lcores.size()) ctx->dtls = tunnel.dtls_lcores[i];
      ctxs.push_back(std::move(ctx));
    }
    housekeeping(*dp);
    segment.publish();
    if (telemetry_register(dp->stats) != 0) TG_WARN("msg=\"DPDK telemetry commands not registered\"");

    for (auto& ctx : ctxs) {
      if (rte_eal_remote_launch(lcore_poll_loop, ctx.get(), ctx->lcore_id) != 0) {
        TG_ERR("msg=\"cannot launch poll lcore\" lcore=%u", ctx->lcore_id);
        dp->stop.store(true);
        break;
      }
    }
    vpn::VpnWorkers vpn;
    bool failed = dp->stop.load();  // a poll lcore did not launch
    if (!failed) {
      if (std::string err = vpn.start(cfg, *dp, dp->ports[0].mtu); !err.empty()) {
        TG_ERR("msg=\"TLS workers\" err=\"%s\"", err.c_str());
        failed = true;
        dp->stop.store(true);
      }
    }
    // Busy-polling lcores leave the exception port's signal to this thread; the TLS workers
    // (started above) were made with it blocked. Napping lcores take it themselves.
    if (dcfg.idle_sleep_us == 0) exception_signals_take();
    TG_INFO("msg=\"running\" instance=%s lcores=%zu ports=%u lab_forwarding=%d", cfg.instance.c_str(),
            ctxs.size(), dp->n_ports, dcfg.lab_forwarding ? 1 : 0);
    while (!g_signalled.load(std::memory_order_relaxed) && !dp->stop.load(std::memory_order_relaxed)) {
      housekeeping(*dp);
      vpn.tick_certificates();
      vpn.publish(*dp->stats);
      // relaxed: the flag carries no data; the files are read after it is seen.
      const bool sighup = g_reload.exchange(false, std::memory_order_relaxed);
      // CONFIG_RELOAD from the control plane (tunnelgatectl reload) does what SIGHUP does.
      // relaxed: a request carries no data (the files are read after it is seen).
      const uint64_t asked = dp->policy ? dp->policy->reload_requested.exchange(0, std::memory_order_relaxed) : 0;
      if (sighup || asked != 0) vpn.reload_certificates();
      if (dp->policy != nullptr && (sighup || asked != 0)) reload_policy(*dp, cfg.source_file, asked);
      for (int i = 0; i < 10 && !g_signalled.load(std::memory_order_relaxed); i++) {
        if (dp->policy != nullptr && dp->policy->reload_requested.load(std::memory_order_relaxed) != 0) break;
        rte_delay_us_sleep(100000);
      }
    }
    TG_INFO("msg=\"stopping\"");
    vpn.stop();  // workers first: they feed the lcores' rings
    dp->stop.store(true, std::memory_order_relaxed);
    rte_eal_mp_wait_lcore();
    rc = failed ? 1 : 0;
  } while (false);
out:
  for (unsigned p = 0; p < ports_started; p++) port_shutdown(dp->ports[p]);
  if (dp->fib) rte_fib_free(dp->fib);
  ctxs.clear();
  if (dp->pool) rte_mempool_free(dp->pool);
  rte_eal_cleanup();
  return rc;
}

}  // namespace
}  // namespace tg::dp

int main(int argc, char** argv) {
  using namespace tg;
  static const option kOptions[] = {
      {"config", required_argument, nullptr, 'c'},
      {"check-config", required_argument, nullptr, 't'},
      {"help", no_argument, nullptr, 'h'},
      {"version", no_argument, nullptr, 'V'},
      {nullptr, 0, nullptr, 0},
  };
  std::string config_path, check_path;
  int opt;
  while ((opt = getopt_long(argc, argv, "c:t:hV", kOptions, nullptr)) != -1) {
    switch (opt) {
      case 'c': config_path = optarg; break;
      case 't': check_path = optarg; break;
      case 'h': dp::usage(stdout); return 0;
      case 'V': std::printf("tunnelgate-dataplane %s\n", dp::kVersion); return 0;
      default: dp::usage(stderr); return 2;
    }
  }
  std::vector<std::string> extra_eal(argv + optind, argv + argc);
  if (!check_path.empty()) {
    const config::LoadResult r = config::config_load_file(check_path);
    if (!dp::print_errors(r)) return 1;
    std::printf("%s: OK\n", check_path.c_str());
    return 0;
  }
  if (config_path.empty()) {
    dp::usage(stderr);
    return 2;
  }
  const config::LoadResult r = config::config_load_file(config_path);
  if (!dp::print_errors(r)) return 1;
  return dp::run(*r.config, extra_eal);
}
