// The exception path: what the dataplane hands to the kernel and takes back from it,
// through a net_tun port (L3: raw IPv4, no Ethernet, no ARP on the kernel side).
//
// To the kernel: TCP to the TLS port of an outside address (the TLS workers' sockets
// listen there) and ICMP errors for the gateway's addresses (the kernel's TCP needs them
// for path-MTU discovery). From the kernel: its replies, which must come from one of the
// gateway's addresses; they are routed like any packet (FIB, neighbour) but not forwarded
// (no TTL decrement). Nothing else reaches the kernel.
#pragma once

#include <string>

#include "config/config.h"
#include "dataplane/dataplane.h"

namespace tg::dp {

inline constexpr const char* kExceptionDeviceName = "net_tun_exc";
/// DPDK vdev of the exception port for `cfg` ("net_tun_exc,iface=<exception_iface>").
inline std::string exception_vdev(const config::Config& cfg) {
  return std::string(kExceptionDeviceName) + ",iface=" + cfg.dataplane.exception_iface;
}

/// Main lcore, at start: give the kernel side of the exception port the first outside
/// port's address and prefix, the MTU, and bring it up. Returns an error, empty on success.
std::string exception_iface_configure(const std::string& iface, const config::IpPrefix& address,
                                      uint16_t mtu);

// The tun PMD asks the kernel for a real-time signal (one of SIGRTMIN+1..SIGRTMAX, the
// first free one; sent to the process) each time the kernel queues a packet on the port,
// and reads the port only after one came. The kernel gives a process-directed signal to a
// thread that does not block it, the main thread first: with the poll lcores napping
// (dataplane.idle_sleep_us > 0) that woke the sleeping main thread once per packet (5 % of
// the gateway's CPU in a login burst, perf), while the lcore that must read the packet
// slept on. So every thread starts with the real-time signals blocked (inherited from the
// main thread, blocked before EAL makes any thread), and exactly the threads that should
// take them unblock them: the napping poll lcores, whose nap the signal ends; or, when the
// lcores busy-poll, the main thread as before (a signal per packet on a busy poll lcore
// would cost it ~1 us each).

/// Main thread, before rte_eal_init() creates any thread: block the real-time signals.
void exception_signals_block();
/// The calling thread takes the exception port's signal (see above).
void exception_signals_take();

/// Poll lcore: should this packet for our own address go to the kernel?
bool exception_wanted(const Dataplane& dp, const PortRuntime& port, const uint8_t* l3, const Ipv4Info& ip);
/// Poll lcore: strip the Ethernet header and queue `m` to the kernel.
void exception_output(LcoreCtx& c, rte_mbuf* m);
/// Poll lcore: route a burst received from the kernel (raw IPv4) out of the ports.
void exception_input_burst(LcoreCtx& c, rte_mbuf** pkts, uint16_t n);

}  // namespace tg::dp
