#include "dataplane/policy_table.h"

#include <rte_errno.h>
#include <rte_fib.h>

namespace tg::dp {

std::string policy_table_install(Dataplane& dp, const config::Config& cfg, int socket_id) {
  size_t n_subnets = 0;
  for (const auto& s : cfg.services) n_subnets += s.subnets.size();
  rte_fib_conf conf{};
  conf.type = RTE_FIB_DIR24_8;
  conf.default_nh = 0;
  conf.max_routes = static_cast<int>(n_subnets * 2 + 16);
  conf.dir24_8.nh_sz = RTE_FIB_DIR24_8_1B;  // a verdict, not a next hop: 16 MiB
  // 1-byte entries allow at most 127 tbl8 groups (one per /24 holding a longer prefix).
  conf.dir24_8.num_tbl8 = 127;
  const std::string name = "tg_policy";
  dp.policy_fib = rte_fib_create(name.c_str(), socket_id, &conf);
  if (dp.policy_fib == nullptr) return "rte_fib_create: " + std::string(rte_strerror(rte_errno));
  for (const auto& service : cfg.services) {
    for (const auto& subnet : service.subnets) {
      const int rc = rte_fib_add(dp.policy_fib, subnet.network().addr.v4_host(), subnet.len, 1);
      if (rc < 0) return "rte_fib_add " + config::to_string(subnet) + ": " + rte_strerror(-rc);
    }
  }
  return {};
}

}  // namespace tg::dp
