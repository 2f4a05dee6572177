#include "dataplane/telemetry.h"

#include <cctype>
#include <string>

#include <rte_telemetry.h>

namespace tg::dp {

namespace {
// telemetry_cb has no user argument, so the segment is reached through this one pointer,
// set once before the commands are registered and never changed.
const shm::StatsSegment* g_segment = nullptr;

int cmd_drops(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (unsigned r = 0; r < shm::kDropReasonCount; r++) {
    uint64_t sum = 0;
    for (const auto& l : g_segment->lcores)
      if (l.active) sum += l.drops[r];
    rte_tel_data_add_dict_u64(d, shm::kDropReasonInfo[r].label, sum);
  }
  return 0;
}

int cmd_events(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  for (const shm::EventCounterInfo& ev : shm::kEventCounterInfo) {
    uint64_t sum = 0;
    for (const auto& l : g_segment->lcores)
      if (l.active) sum += l.events.*ev.member;
    rte_tel_data_add_dict_u64(d, ev.field, sum);
  }
  return 0;
}

int cmd_ports(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  const unsigned n = g_segment->n_ports < shm::kMaxPorts ? g_segment->n_ports : shm::kMaxPorts;
  for (unsigned p = 0; p < n; p++) {
    rte_tel_data* port = rte_tel_data_alloc();
    if (port == nullptr) return -ENOMEM;
    rte_tel_data_start_dict(port);
    uint64_t rx = 0, rx_bytes = 0, tx = 0, tx_bytes = 0;
    for (const auto& l : g_segment->lcores) {
      if (!l.active) continue;
      rx += l.ports[p].rx_packets;
      rx_bytes += l.ports[p].rx_bytes;
      tx += l.ports[p].tx_packets;
      tx_bytes += l.ports[p].tx_bytes;
    }
    const shm::PortInfo& info = g_segment->ports[p];
    rte_tel_data_add_dict_u64(port, "rx_packets", rx);
    rte_tel_data_add_dict_u64(port, "rx_bytes", rx_bytes);
    rte_tel_data_add_dict_u64(port, "tx_packets", tx);
    rte_tel_data_add_dict_u64(port, "tx_bytes", tx_bytes);
    rte_tel_data_add_dict_u64(port, "rx_missed", info.device.rx_missed);
    rte_tel_data_add_dict_u64(port, "rx_errors", info.device.rx_errors);
    rte_tel_data_add_dict_u64(port, "tx_errors", info.device.tx_errors);
    rte_tel_data_add_dict_u64(port, "link_up", info.link_up);
    // Telemetry names take letters, digits and '_' only: "tg-exc" becomes "tg_exc".
    char name[shm::kPortNameLen];
    for (unsigned i = 0; i < sizeof name; i++) {
      const char ch = info.name[i];
      name[i] = (ch == '\0' || std::isalnum(static_cast<unsigned char>(ch))) ? ch : '_';
      if (ch == '\0') break;
    }
    name[sizeof name - 1] = '\0';
    if (rte_tel_data_add_dict_container(d, name, port, 0) != 0) rte_tel_data_free(port);  // else the dict owns it
  }
  return 0;
}
int cmd_lcores(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "tsc_hz", g_segment->tsc_hz);
  for (const auto& l : g_segment->lcores) {
    if (!l.active) continue;
    rte_tel_data* lc = rte_tel_data_alloc();
    if (lc == nullptr) return -ENOMEM;
    rte_tel_data_start_dict(lc);
    rte_tel_data_add_dict_u64(lc, "busy_cycles", l.busy_cycles);
    rte_tel_data_add_dict_u64(lc, "total_cycles", l.total_cycles);
    rte_tel_data_add_dict_u64(lc, "loops", l.loops);
    rte_tel_data_add_dict_u64(lc, "busy_loops", l.busy_loops);
    rte_tel_data_add_dict_u64(lc, "stage_sample", l.stage_sample);
    // Per stage (dataplane/stage_clock.h): cycles, packets and bursts of the sampled iterations.
    for (unsigned s = 0; s < shm::kLcoreStageCount; s++) {
      const std::string stage = shm::kLcoreStageInfo[s].label;
      rte_tel_data_add_dict_u64(lc, (stage + "_cycles").c_str(), l.stages[s].cycles);
      rte_tel_data_add_dict_u64(lc, (stage + "_packets").c_str(), l.stages[s].packets);
      rte_tel_data_add_dict_u64(lc, (stage + "_bursts").c_str(), l.stages[s].bursts);
    }
    const std::string name = "lcore_" + std::to_string(l.lcore_id);
    if (rte_tel_data_add_dict_container(d, name.c_str(), lc, 0) != 0) rte_tel_data_free(lc);
  }
  return 0;
}
}  // namespace

int telemetry_register(const shm::StatsSegment* segment) {
  g_segment = segment;
  int rc = rte_telemetry_register_cmd("/tunnelgate/drops", cmd_drops,
                                      "Packets dropped by the poll lcores, by reason (summed). No parameters");
  if (rc == 0) {
    rc = rte_telemetry_register_cmd("/tunnelgate/events", cmd_events,
                                    "ARP, ICMP, forwarding, exception-path and tunnel events (summed). No parameters");
  }
  if (rc == 0) {
    rc = rte_telemetry_register_cmd("/tunnelgate/ports", cmd_ports,
                                    "Per port: packets and bytes each way, PMD losses, link. No parameters");
  }
  if (rc == 0) {
    rc = rte_telemetry_register_cmd("/tunnelgate/lcores", cmd_lcores,
                                    "Per poll lcore: busy/total TSC cycles, loops, each stage's cycles/packets/bursts; "
                                    "tsc_hz. No parameters");
  }
  return rc;
}

}  // namespace tg::dp
