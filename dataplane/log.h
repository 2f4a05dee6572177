// Dataplane logging: DPDK's rte_log under the "tunnelgate.dataplane" log type, one
// key=value line per event, so `--log-level=tunnelgate.dataplane:debug` and syslog work
// as operators of DPDK applications expect. Never called per packet on the poll lcores.
#pragma once

#include <rte_log.h>

extern int tg_dataplane_logtype;

#define TG_LOG(LEVEL, lvl, fmt, ...) \
  rte_log(RTE_LOG_##LEVEL, tg_dataplane_logtype, "level=" lvl " " fmt "\n", ##__VA_ARGS__)
#define TG_ERR(fmt, ...) TG_LOG(ERR, "error", fmt, ##__VA_ARGS__)
#define TG_WARN(fmt, ...) TG_LOG(WARNING, "warn", fmt, ##__VA_ARGS__)
#define TG_INFO(fmt, ...) TG_LOG(INFO, "info", fmt, ##__VA_ARGS__)
#define TG_DEBUG(fmt, ...) TG_LOG(DEBUG, "debug", fmt, ##__VA_ARGS__)
