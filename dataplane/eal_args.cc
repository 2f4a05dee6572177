#include "dataplane/eal_args.h"

#include "dataplane/exception_path.h"

namespace tg::dp {

std::string port_device_name(const std::string& device) {
  return device.substr(0, device.find(','));
}

bool port_device_is_vdev(const std::string& device) {
  return device.rfind("net_", 0) == 0 || device.rfind("crypto_", 0) == 0;
}

std::vector<std::string> eal_argv(const config::Config& cfg, const std::string& prog,
                                  const std::vector<std::string>& extra) {
  const auto& dp = cfg.dataplane;
  std::vector<std::string> argv{prog};
  std::string lcores = std::to_string(dp.main_lcore);
  for (uint32_t l : dp.lcores) lcores += "," + std::to_string(l);
  argv.insert(argv.end(), {"-l", lcores, "--main-lcore", std::to_string(dp.main_lcore)});
  bool any_pci = false;
  for (const auto& port : dp.ports) {
    if (port_device_is_vdev(port.device)) {
      std::string dev = port.device;
      // net_af_packet has one queue pair unless told otherwise; each poll lcore owns one.
      if (dev.rfind("net_af_packet", 0) == 0 && dev.find("qpairs=") == std::string::npos) {
        dev += ",qpairs=" + std::to_string(dp.lcores.size());
      }
      argv.push_back("--vdev=" + dev);
    } else {
      argv.insert(argv.end(), {"-a", port.device});
      any_pci = true;
    }
  }
  // The exception path's tun port (kernel side of the TLS listener).
  argv.push_back("--vdev=" + exception_vdev(cfg));
  // Without a PCI port, probe no PCI device at all: never take a NIC nobody configured.
  if (!any_pci) argv.push_back("--no-pci");
  argv.insert(argv.end(), dp.eal_args.begin(), dp.eal_args.end());
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

}  // namespace tg::dp
