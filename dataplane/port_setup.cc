#include "dataplane/port_setup.h"

#include <rte_errno.h>
#include <rte_ethdev.h>

#include "dataplane/eal_args.h"

namespace tg::dp {

namespace {
std::string rc_error(const char* what, int rc) {
  return std::string(what) + ": " + rte_strerror(rc < 0 ? -rc : rc);
}
}  // namespace

std::string port_setup(const config::PortConfig& pc, uint16_t n_queues, uint16_t rx_desc,
                       uint16_t tx_desc, rte_mempool* pool, PortRuntime* out) {
  const std::string dev_name = port_device_name(pc.device);
  uint16_t port_id;
  if (rte_eth_dev_get_port_by_name(dev_name.c_str(), &port_id) != 0) {
    return "device \"" + dev_name + "\" was not probed (check the device string and its driver)";
  }
  rte_eth_dev_info info{};
  int rc = rte_eth_dev_info_get(port_id, &info);
  if (rc != 0) return rc_error("rte_eth_dev_info_get", rc);
  if (info.max_rx_queues < n_queues || info.max_tx_queues < n_queues) {
    return "device supports " + std::to_string(info.max_rx_queues) + " RX / " +
           std::to_string(info.max_tx_queues) + " TX queues, " + std::to_string(n_queues) +
           " needed (one per poll lcore)";
  }
  rte_eth_conf conf{};
  if (n_queues > 1 && info.flow_type_rss_offloads != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & RTE_ETH_RSS_IP;
  }
  // The NIC checks each IPv4 header's checksum where it can (SR-IOV VFs, physical NICs):
  // l2_input then trusts its verdict instead of summing the header itself.
  const bool rx_ipv4_cksum = (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
  if (rx_ipv4_cksum) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
  rc = rte_eth_dev_configure(port_id, n_queues, n_queues, &conf);
  if (rc != 0) return rc_error("rte_eth_dev_configure", rc);
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_desc, &tx_desc);
  if (rc != 0) return rc_error("rte_eth_dev_adjust_nb_rx_tx_desc", rc);
  const int socket = rte_eth_dev_socket_id(port_id);
  const unsigned sock = socket < 0 ? SOCKET_ID_ANY : static_cast<unsigned>(socket);
  for (uint16_t q = 0; q < n_queues; q++) {
    rc = rte_eth_rx_queue_setup(port_id, q, rx_desc, sock, nullptr, pool);
    if (rc != 0) return rc_error("rte_eth_rx_queue_setup", rc);
    rc = rte_eth_tx_queue_setup(port_id, q, tx_desc, sock, nullptr);
    if (rc != 0) return rc_error("rte_eth_tx_queue_setup", rc);
  }
  rc = rte_eth_dev_start(port_id);
  if (rc != 0) return rc_error("rte_eth_dev_start", rc);
  // Not every PMD can (net_null); frames for other MACs are filtered in l2_input anyway.
  rte_eth_promiscuous_enable(port_id);

  rte_ether_addr mac;
  rc = rte_eth_macaddr_get(port_id, &mac);
  if (rc != 0) return rc_error("rte_eth_macaddr_get", rc);
  uint16_t mtu = RTE_ETHER_MTU;
  rte_eth_dev_get_mtu(port_id, &mtu);

  out->port_id = port_id;
  out->role = static_cast<uint8_t>(pc.role);
  for (int i = 0; i < 6; i++) out->mac.b[i] = mac.addr_bytes[i];
  out->addr = pc.address.addr.v4_host();
  out->mask = pc.address.len == 0 ? 0 : ~uint32_t{0} << (32 - pc.address.len);
  out->net = out->addr & out->mask;
  out->mtu = mtu;
  out->rx_ipv4_cksum = rx_ipv4_cksum;
  return {};
}

void port_shutdown(const PortRuntime& port) {
  rte_eth_dev_stop(port.port_id);
  rte_eth_dev_close(port.port_id);
}

}  // namespace tg::dp
