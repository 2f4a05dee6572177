// EAL command line derived from the configuration (pure; unit-tested without EAL).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace tg::dp {

/// The DPDK device name of a configured port: a vdev's name ("net_af_packet0" of
/// "net_af_packet0,iface=x") or the PCI address as written.
std::string port_device_name(const std::string& device);
/// True when `device` names a virtual device (net_*, crypto_*), false for a bus address.
bool port_device_is_vdev(const std::string& device);

/// argv for rte_eal_init: program name, "-l main,lcores", "--main-lcore", one "--vdev" per
/// virtual port (with "qpairs=<lcores>" added for net_af_packet when it has no qpairs), one
/// "-a" per PCI port, then the configured extra arguments, then `extra` (after "--" on our
/// own command line). Ports are probed only by this list: a vdev's arguments stay as written.
std::vector<std::string> eal_argv(const config::Config& cfg, const std::string& prog,
                                  const std::vector<std::string>& extra);

}  // namespace tg::dp
