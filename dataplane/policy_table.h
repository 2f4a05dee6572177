// Which inner destinations a tunnel session may reach: compiled from the configured
// services into an rte_fib with 1-byte next hops (1 = allowed, default 0 = denied), looked
// up in bulk per burst. Every session may reach every service until per-app policy
// replaces this with a per-app table; the lookup shape stays the same.
#pragma once

#include <string>

#include "config/config.h"
#include "dataplane/dataplane.h"

namespace tg::dp {

/// Create dp.policy_fib from `cfg.services`. Returns an error message, empty on success.
std::string policy_table_install(Dataplane& dp, const config::Config& cfg, int socket_id);

}  // namespace tg::dp
