#include "dataplane/exception_path.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pthread.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <rte_fib.h>

#include "dataplane/stages.h"

namespace tg::dp {

namespace {

std::string ioctl_error(const char* what, const std::string& iface) {
  return std::string(what) + " " + iface + ": " + std::strerror(errno);
}

sigset_t realtime_signals() {
  sigset_t set;
  sigemptyset(&set);
  // SIGRTMIN() is above the two glibc keeps for itself (thread cancellation, setxid).
  for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++) sigaddset(&set, sig);
  return set;
}
}  // namespace

void exception_signals_block() {
  const sigset_t set = realtime_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void exception_signals_take() {
  const sigset_t set = realtime_signals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

std::string exception_iface_configure(const std::string& iface, const config::IpPrefix& address,
                                      uint16_t mtu) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, iface.c_str(), IFNAMSIZ - 1);
  auto set_addr = [&](unsigned long req, uint32_t host_order) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(host_order);
    return ioctl(fd, req, &ifr);
  };
  std::string err;
  const uint32_t mask = address.len == 0 ? 0 : ~uint32_t{0} << (32 - address.len);
  if (set_addr(SIOCSIFADDR, address.addr.v4_host()) != 0) {
    err = ioctl_error("SIOCSIFADDR", iface);
  } else if (set_addr(SIOCSIFNETMASK, mask) != 0) {
    err = ioctl_error("SIOCSIFNETMASK", iface);
  } else {
    ifr.ifr_mtu = mtu;
    if (ioctl(fd, SIOCSIFMTU, &ifr) != 0) {
      err = ioctl_error("SIOCSIFMTU", iface);
    } else if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
      err = ioctl_error("SIOCGIFFLAGS", iface);
    } else {
      ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
      if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) err = ioctl_error("SIOCSIFFLAGS", iface);
    }
  }
  close(fd);
  return err;
}

bool exception_wanted(const Dataplane& dp, const PortRuntime& port, const uint8_t* l3, const Ipv4Info& ip) {
  if (!dp.has_exception) return false;
  const uint32_t l4_len = ip.total_len - ip.hdr_len;
  const uint8_t* l4 = l3 + ip.hdr_len;
  if (ip.proto == wire::kIpProtoTcp) {
    // Only the TLS listener, and only on outside ports: nothing else of the kernel is exposed.
    return port.role == static_cast<uint8_t>(config::PortConfig::Role::outside) && l4_len >= 4 &&
           load_be16(l4 + 2) == dp.tls_port;
  }
  if (ip.proto == wire::kIpProtoIcmp && l4_len >= wire::kIcmpHdrLen) {
    const uint8_t type = l4[0];
    return type == wire::kIcmpUnreachable || type == wire::kIcmpTimeExceeded || type == 12;  // 12: parameter problem
  }
  return false;
}

void exception_output(LcoreCtx& c, rte_mbuf* m) {
  rte_pktmbuf_adj(m, wire::kEtherHdrLen);  // the tun side takes raw IPv4
  c.stats->events.exception_to_kernel += 1;
  tx_enqueue(c, c.dp->exception_index, m);
}

void exception_input_burst(LcoreCtx& c, rte_mbuf** pkts, uint16_t n) {
  const Dataplane& dp = *c.dp;
  rte_mbuf* live[kBurst];
  uint32_t dst[kBurst];
  uint16_t n_live = 0;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* m = pkts[i];
    const uint32_t len = rte_pktmbuf_data_len(m);
    Ipv4Info ip;
    if (parse_ipv4(rte_pktmbuf_mtod(m, const uint8_t*), len, &ip) != kPass) {
      drop_packet(c, m, DropReason::exception_not_ipv4);
      continue;
    }
    // The kernel only ever speaks for the gateway; anything else would be routed traffic.
    if (dp.own_address_port(ip.src) < 0) {
      drop_packet(c, m, DropReason::exception_bad_source);
      continue;
    }
    if (len > ip.total_len) rte_pktmbuf_trim(m, static_cast<uint16_t>(len - ip.total_len));
    if (rte_pktmbuf_prepend(m, wire::kEtherHdrLen) == nullptr) {
      drop_packet(c, m, DropReason::mbuf_alloc_failed);  // no headroom: never with our pool
      continue;
    }
    dst[n_live] = ip.dst;
    live[n_live++] = m;
  }
  if (n_live != 0) route_own_burst(c, dp.exception_index, live, dst, n_live, &c.stats->events.exception_from_kernel);
}

}  // namespace tg::dp
