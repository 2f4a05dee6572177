// tunnelgate-wire: a NIC stand-in for the test bed (bench/wire/README.md).
//
// Joins DPDK ports in pairs, back to back: every frame received on one port of a pair is
// sent on the other, unchanged. tools/testbed's TG_PORTS=memif gives the gateway memif
// ports and runs this between each memif and the veth the gateway would otherwise open with
// net_af_packet. The kernel's work of taking a frame from an AF_PACKET ring and delivering
// it through the veth into the peer namespace's stack then runs on the wire's CPU, as a
// NIC's DMA does on real hardware, not on the gateway's poll lcore (docs/performance.md).
//
//   tunnelgate-wire [EAL args] -- --pair NAME,NAME [--pair ...] [--idle-sleep-us N]
//                                  [--stats-file PATH]
//
// NAME is an ethdev name (net_memif0, net_af_packet0, ...). One lcore, one queue pair per
// port. Frames a full TX queue refuses are dropped and counted per direction. Counters go
// to --stats-file as JSON on SIGUSR1 and at exit (SIGINT/SIGTERM), and to stderr at exit.
#include <getopt.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_dump = 0;

constexpr uint16_t kBurst = 32;
constexpr uint16_t kDesc = 1024;
constexpr unsigned kMbufs = 16383;  // 2^n - 1: the mempool's ring holds it best
// Idle backoff as the dataplane's (lcore_loop.cc): a nap after an empty pass over every
// port, doubling while the wire stays idle, up to 2^kIdleSleepMaxShift times the first.
constexpr unsigned kIdleSleepMaxShift = 5;

// One direction of a pair: frames received on `from` are sent on `to`.
struct Direction {
  uint16_t from = 0, to = 0;
  std::string name;  // "net_memif0 -> net_af_packet0"
  uint64_t packets = 0, bytes = 0, dropped = 0;
};

void usage() {
  std::fputs("usage: tunnelgate-wire [EAL args] -- --pair NAME,NAME [--pair NAME,NAME ...]\n"
             "                       [--idle-sleep-us N] [--stats-file PATH]\n", stderr);
}

bool port_by_name(const std::string& name, uint16_t* port) {
  if (rte_eth_dev_get_port_by_name(name.c_str(), port) == 0) return true;
  std::fprintf(stderr, "tunnelgate-wire: no port named '%s' (its --vdev given to EAL?)\n", name.c_str());
  return false;
}

int port_start(uint16_t port, rte_mempool* pool) {
  rte_eth_conf conf{};
  int rc = rte_eth_dev_configure(port, 1, 1, &conf);
  if (rc == 0) rc = rte_eth_rx_queue_setup(port, 0, kDesc, rte_eth_dev_socket_id(port), nullptr, pool);
  if (rc == 0) rc = rte_eth_tx_queue_setup(port, 0, kDesc, rte_eth_dev_socket_id(port), nullptr);
  if (rc == 0) rc = rte_eth_dev_start(port);
  if (rc != 0) return rc;
  // Frames for the far side's addresses, not this port's (an AF_PACKET socket sees them
  // anyway; other PMDs filter). Not every PMD has the knob (memif): not an error.
  rte_eth_promiscuous_enable(port);
  return 0;
}

// {"directions": {"A -> B": {...}}, "ports": {"A": {ethdev stats}}}: the ports' own
// counters say where else a frame was lost (imissed: an AF_PACKET ring the kernel found
// full; rx_nombuf: the wire's pool empty).
void stats_write(const std::string& path, const std::vector<Direction>& dirs) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return;
  std::fputs("{\"directions\":{", f);
  for (size_t i = 0; i < dirs.size(); i++) {
    const Direction& d = dirs[i];
    std::fprintf(f, "%s\"%s\":{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"dropped\":%" PRIu64 "}",
                 i ? "," : "", d.name.c_str(), d.packets, d.bytes, d.dropped);
  }
  std::fputs("},\"ports\":{", f);
  for (size_t i = 0; i < dirs.size(); i++) {
    const uint16_t port = dirs[i].from;  // each port is the `from` of one direction
    char name[RTE_ETH_NAME_MAX_LEN] = "";
    rte_eth_dev_get_name_by_port(port, name);
    rte_eth_stats st{};
    rte_eth_stats_get(port, &st);
    std::fprintf(f, "%s\"%s\":{\"ipackets\":%" PRIu64 ",\"opackets\":%" PRIu64 ",\"imissed\":%" PRIu64
                    ",\"ierrors\":%" PRIu64 ",\"oerrors\":%" PRIu64 ",\"rx_nombuf\":%" PRIu64 "}",
                 i ? "," : "", name, st.ipackets, st.opackets, st.imissed, st.ierrors, st.oerrors, st.rx_nombuf);
  }
  std::fputs("}}\n", f);
  std::fclose(f);
  std::rename(tmp.c_str(), path.c_str());
}

// One burst from d.from to d.to; the number of frames received.
uint16_t forward(Direction& d) {
  rte_mbuf* burst[kBurst];
  const uint16_t n = rte_eth_rx_burst(d.from, 0, burst, kBurst);
  if (n == 0) return 0;
  uint64_t bytes = 0;
  for (uint16_t i = 0; i < n; i++) bytes += rte_pktmbuf_pkt_len(burst[i]);
  const uint16_t sent = rte_eth_tx_burst(d.to, 0, burst, n);
  for (uint16_t i = sent; i < n; i++) {
    bytes -= rte_pktmbuf_pkt_len(burst[i]);
    rte_pktmbuf_free(burst[i]);
  }
  d.packets += sent;
  d.bytes += bytes;
  d.dropped += n - sent;
  return n;
}

void on_signal(int sig) {
  if (sig == SIGUSR1) g_dump = 1;
  else g_stop = 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int eal_argc = rte_eal_init(argc, argv);
  if (eal_argc < 0) {
    std::fprintf(stderr, "tunnelgate-wire: rte_eal_init: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  argc -= eal_argc;
  argv += eal_argc;

  std::vector<std::pair<std::string, std::string>> pairs;
  std::string stats_file;
  unsigned idle_sleep_us = 20;
  static const option kOptions[] = {{"pair", required_argument, nullptr, 'p'},
                                    {"idle-sleep-us", required_argument, nullptr, 'i'},
                                    {"stats-file", required_argument, nullptr, 's'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  optind = 1;
  for (int c; (c = getopt_long(argc, argv, "h", kOptions, nullptr)) != -1;) {
    const std::string v = optarg ? optarg : "";
    if (c == 'p') {
      const size_t comma = v.find(',');
      if (comma == std::string::npos || comma == 0 || comma + 1 == v.size()) {
        std::fprintf(stderr, "tunnelgate-wire: --pair '%s': expected NAME,NAME\n", v.c_str());
        return 2;
      }
      pairs.emplace_back(v.substr(0, comma), v.substr(comma + 1));
    } else if (c == 'i') {
      char* end = nullptr;
      const unsigned long us = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || us > 100000) {
        std::fprintf(stderr, "tunnelgate-wire: --idle-sleep-us '%s': expected 0..100000\n", v.c_str());
        return 2;
      }
      idle_sleep_us = static_cast<unsigned>(us);
    } else if (c == 's') {
      stats_file = v;
    } else {
      usage();
      return c == 'h' ? 0 : 2;
    }
  }
  if (pairs.empty() || optind != argc) {
    usage();
    return 2;
  }

  rte_mempool* pool = rte_pktmbuf_pool_create("wire_mbufs", kMbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                              rte_socket_id());
  if (pool == nullptr) {
    std::fprintf(stderr, "tunnelgate-wire: mbuf pool: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  std::vector<Direction> dirs;
  std::vector<uint16_t> started;
  for (const auto& [a, b] : pairs) {
    uint16_t pa, pb;
    if (!port_by_name(a, &pa) || !port_by_name(b, &pb)) return 1;
    for (uint16_t p : {pa, pb}) {
      if (std::find(started.begin(), started.end(), p) != started.end()) {
        std::fprintf(stderr, "tunnelgate-wire: port '%s' is in two pairs\n", p == pa ? a.c_str() : b.c_str());
        return 2;
      }
      const int rc = port_start(p, pool);
      if (rc != 0) {
        std::fprintf(stderr, "tunnelgate-wire: port '%s': %s\n", p == pa ? a.c_str() : b.c_str(), rte_strerror(-rc));
        return 1;
      }
      started.push_back(p);
    }
    dirs.push_back(Direction{.from = pa, .to = pb, .name = a + " -> " + b});
    dirs.push_back(Direction{.from = pb, .to = pa, .name = b + " -> " + a});
  }

  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  std::fprintf(stderr, "tunnelgate-wire: %zu pair(s) joined\n", pairs.size());

  unsigned idle_shift = 0;
  while (!g_stop) {
    unsigned got = 0;
    for (Direction& d : dirs) got += forward(d);
    if (got != 0) {
      idle_shift = 0;
    } else if (idle_sleep_us) {
      const unsigned us = idle_sleep_us << idle_shift;
      timespec ts{.tv_sec = us / 1'000'000, .tv_nsec = static_cast<long>(us % 1'000'000) * 1000};
      nanosleep(&ts, nullptr);
      if (idle_shift < kIdleSleepMaxShift) idle_shift++;
    }
    if (g_dump) {
      g_dump = 0;
      stats_write(stats_file, dirs);
    }
  }

  stats_write(stats_file, dirs);
  for (const Direction& d : dirs)
    std::fprintf(stderr, "tunnelgate-wire: %s: %" PRIu64 " packets, %" PRIu64 " bytes, %" PRIu64 " dropped\n",
                 d.name.c_str(), d.packets, d.bytes, d.dropped);
  for (uint16_t p : started) {
    rte_eth_dev_stop(p);
    rte_eth_dev_close(p);
  }
  rte_eal_cleanup();
  return 0;
}
