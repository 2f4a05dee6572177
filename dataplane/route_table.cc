#include "dataplane/route_table.h"

#include <algorithm>

#include <rte_errno.h>
#include <rte_fib.h>

namespace tg::dp {

namespace {
uint32_t mask_of(uint8_t len) { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }
}  // namespace

std::vector<RouteEntry> routes_from_config(const config::Config& cfg) {
  const auto& ports = cfg.dataplane.ports;
  std::vector<RouteEntry> out;
  auto port_for = [&](uint32_t a) -> int {
    for (size_t i = 0; i < ports.size(); i++) {
      const uint32_t m = mask_of(ports[i].address.len);
      if ((a & m) == (ports[i].address.addr.v4_host() & m)) return static_cast<int>(i);
    }
    return -1;
  };
  for (size_t i = 0; i < ports.size(); i++) {
    const auto& p = ports[i];
    const uint32_t m = mask_of(p.address.len);
    out.push_back({p.address.addr.v4_host() & m, p.address.len, {static_cast<uint8_t>(i), 0}});
    if (p.gateway) out.push_back({0, 0, {static_cast<uint8_t>(i), p.gateway->v4_host()}});
  }
  for (const auto& r : cfg.dataplane.routes) {
    const int port = port_for(r.via.v4_host());
    if (port < 0) continue;
    out.push_back({r.prefix.addr.v4_host() & mask_of(r.prefix.len), r.prefix.len,
                   {static_cast<uint8_t>(port), r.via.v4_host()}});
  }
  return out;
}

std::string route_table_install(Dataplane& dp, const std::vector<RouteEntry>& routes, int socket_id,
                                const char* name) {
  rte_fib_conf conf{};
  conf.type = RTE_FIB_DIR24_8;
  conf.default_nh = kNoRoute;
  conf.max_routes = static_cast<int>(std::max<size_t>(routes.size() * 2, 64));
  // 2-byte next hops: a 32 MiB first level instead of 64 MiB; 15-bit ids are plenty.
  conf.dir24_8.nh_sz = RTE_FIB_DIR24_8_2B;
  conf.dir24_8.num_tbl8 = 256;
  dp.fib = rte_fib_create(name, socket_id, &conf);  // names are per process
  if (dp.fib == nullptr) return "rte_fib_create: " + std::string(rte_strerror(rte_errno));
  dp.nexthops.clear();
  for (const RouteEntry& r : routes) {
    // One next-hop id per distinct (port, gateway).
    auto it = std::find_if(dp.nexthops.begin(), dp.nexthops.end(), [&](const Nexthop& h) {
      return h.port == r.nexthop.port && h.gateway == r.nexthop.gateway;
    });
    const uint64_t id = static_cast<uint64_t>(it - dp.nexthops.begin());
    if (it == dp.nexthops.end()) dp.nexthops.push_back(r.nexthop);
    if (id >= kNoRoute) return "too many next hops";
    const int rc = rte_fib_add(dp.fib, r.prefix, r.len, id);
    if (rc < 0) return "rte_fib_add: " + std::string(rte_strerror(-rc));
  }
  return {};
}

}  // namespace tg::dp
