// A two-port dataplane in-process for tests and benchmarks (STYLE #25): EAL without
// hugepages, ports made from rte_rings (the ring PMD), the real FIB and port set-up.
// Frames are fed straight to the stages; what they transmit is read from the TX rings.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include <rte_eal.h>
#include <rte_ring.h>

#include "config/config.h"
#include "dataplane/dataplane.h"
#include "dataplane/tunnel_setup.h"

namespace tg::dp::testing {

/// EAL without hugepages still writes its runtime files to /var/run/dpdk/<file-prefix>/ and
/// never removes them (hundreds of test runs left hundreds of directories): a test or
/// benchmark removes its own at exit. Call once, after rte_eal_init succeeded.
inline void eal_runtime_dir_remove_at_exit() {
  static const std::string dir = rte_eal_get_runtime_dir();
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  });
}

/// Port 0 "outside" 192.0.2.1/24 (TLS port 443 goes to the exception port 2)
/// ..., pool 198.51.100.0/24, one service 198.18.1.0/24, two TLS workers' rings, port 1 "inside" 198.18.0.1/24, 198.18.1.0/24 via
/// 198.18.0.2, lab forwarding on.
inline constexpr const char* kRingDataplaneConfig = R"(
instance = "ringbed";
dataplane = {
  lcores = [1, 2];  # two poll lcores' rings (hand-off tests); contexts are made by the tests
  lab_forwarding = true;
  ports = (
    { name = "outside"; role = "outside"; device = "net_ring_tgt_out"; address = "192.0.2.1/24"; },
    { name = "inside"; role = "inside"; device = "net_ring_tgt_in"; address = "198.18.0.1/24"; }
  );
  routes = ( { prefix = "198.18.1.0/24"; via = "198.18.0.2"; } );
  tls_workers = 2;
};
pools = ( { name = "clients"; prefix = "198.51.100.0/24"; } );
services = ( { name = "web"; subnets = ["198.18.1.0/24"]; } );
)";

/// Ports 0 and 1 as configured; port 2 stands for the exception path's tun port.
struct RingDataplane {
  config::Config cfg;
  rte_ring* rx[3] = {};
  rte_ring* tx[3] = {};
  Dataplane dp;  ///< neighbours and stats are left for the caller to attach
  TunnelResources tunnel;
};

/// Initialise EAL (once per process) and build the ring dataplane with a pool of `mbufs`,
/// from `config` (kRingDataplaneConfig, or a variant of it) with `memory_mb` of EAL memory.
/// Returns an error message, empty on success.
std::string ring_dataplane_create(const std::string& prog, unsigned mbufs, RingDataplane** out,
                                  const std::string& config = kRingDataplaneConfig, unsigned memory_mb = 256);

}  // namespace tg::dp::testing
