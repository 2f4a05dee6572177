// Routes: the authoritative list is compiled from the configuration (connected subnets,
// static routes, a port's default gateway) and then installed into an rte_fib, the compact
// table the poll lcores look up in bulk (DPDK's rib/fib split).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "dataplane/dataplane.h"

namespace tg::dp {

struct RouteEntry {
  uint32_t prefix;  ///< host order, host bits zero
  uint8_t len;
  Nexthop nexthop;
};

/// The route list for `cfg` (pure: no EAL). Next-hop ports are indexes into cfg's ports.
/// A static route whose `via` is on no port's subnet was already refused by validation;
/// it is skipped here.
std::vector<RouteEntry> routes_from_config(const config::Config& cfg);

/// Create dp.fib and dp.nexthops from `routes`. Returns an error message, empty on success.
/// `name`: the rte_fib's, unique in the process (benchmarks make more than one).
std::string route_table_install(Dataplane& dp, const std::vector<RouteEntry>& routes, int socket_id,
                                const char* name = "tg_fib");

}  // namespace tg::dp
