// Port bring-up on any PMD: one RX and one TX queue per poll lcore, promiscuous (we filter
// by MAC ourselves), MTU and MAC read back into PortRuntime. Main lcore, before launch.
#pragma once

#include <string>

#include "config/config.h"
#include "dataplane/dataplane.h"

namespace tg::dp {

/// Configure and start the port of `pc` (already probed by EAL). Returns an error message,
/// empty on success.
std::string port_setup(const config::PortConfig& pc, uint16_t n_queues, uint16_t rx_desc,
                       uint16_t tx_desc, rte_mempool* pool, PortRuntime* out);
void port_shutdown(const PortRuntime& port);

}  // namespace tg::dp
