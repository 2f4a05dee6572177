// DPDK telemetry for the dataplane's counters (`dpdk-telemetry.py -f <file-prefix>`), next
// to the ethdev/mempool commands DPDK registers itself:
//   /tunnelgate/drops   every drop reason, summed over the poll lcores
//   /tunnelgate/events  ARP, ICMP, forwarding, exception-path and tunnel events, summed
//   /tunnelgate/ports   per port: rx/tx packets and bytes (summed) and the PMD's losses
// The callbacks run on DPDK's telemetry thread and only read the statistics segment.
#pragma once

#include "api/stats_shm.h"

namespace tg::dp {

/// Register the commands (main lcore, once, after EAL init). `segment` must outlive EAL.
/// Returns 0 or a negative errno from rte_telemetry_register_cmd.
int telemetry_register(const shm::StatsSegment* segment);

}  // namespace tg::dp
