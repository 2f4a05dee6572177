// The poll lcore's stages in-process (STYLE #25): EAL without hugepages, two ports made
// from rte_rings (the ring PMD), frames built here go through l2_input_burst, and what
// the stages transmit is read back from the TX rings. After every test the mbuf pool is
// full again: nothing leaks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_fib.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "config/config.h"
#include "dataplane/policy_state.h"
#include "dataplane/port_setup.h"
#include "dataplane/route_table.h"
#include "dataplane/exception_path.h"
#include "dataplane/session_table.h"
#include "dataplane/stages.h"
#include "dataplane/telemetry.h"
#include "dataplane/tunnel_path.h"
#include "tests/support/ring_dataplane.h"


namespace tg::dp {
namespace {

constexpr uint32_t kOutAddr = 0xC0000201;     // 192.0.2.1
constexpr uint32_t kClient = 0xC0000202;      // 192.0.2.2
constexpr uint32_t kInAddr = 0xC6120001;      // 198.18.0.1
constexpr uint32_t kBackendRtr = 0xC6120002;  // 198.18.0.2
constexpr uint32_t kBackend = 0xC612010A;     // 198.18.1.10
const MacAddr kClientMac = {{0x02, 0, 0, 0, 0, 0x02}};
const MacAddr kRouterMac = {{0x02, 0, 0, 0, 0, 0x22}};

using testing::RingDataplane;
RingDataplane* g_bed = nullptr;  // built once: EAL can be initialised once per process
std::string g_bed_error;

struct PerTest {
  std::unique_ptr<NeighbourTable> neigh;
  std::unique_ptr<shm::StatsSegment> stats;
  std::unique_ptr<LcoreCtx> ctx;
};

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    RingDataplane* b = nullptr;
    g_bed_error = testing::ring_dataplane_create("stages_eal_test", 1023, &b);
    if (!g_bed_error.empty()) return;
    b->dp.neigh_retry_tsc = b->dp.tsc_hz / 1000;  // 1 ms: tests wait for the give-up
    b->dp.neigh_retries = 2;
    b->dp.icmp_error_interval_tsc = 1;  // effectively unlimited
    g_bed = b;
  }
};

class Stages : public ::testing::Test {
 protected:
  void SetUp() override {
    // Without root EAL cannot start: skip. As root (CI) a failed set-up is a failure.
    if (g_bed == nullptr && geteuid() != 0) GTEST_SKIP() << g_bed_error;
    ASSERT_NE(g_bed, nullptr) << g_bed_error;
    b_ = g_bed;
    t_ = std::make_unique<PerTest>();
    t_->neigh = std::make_unique<NeighbourTable>(64);
    b_->dp.neighbours = t_->neigh.get();
    t_->stats = std::make_unique<shm::StatsSegment>();
    t_->ctx = std::make_unique<LcoreCtx>();
    LcoreCtx& c = *t_->ctx;
    c.dp = &b_->dp;
    c.stats = &t_->stats->lcores[0];
    c.held_cap = 4;
    c.held.reserve(4);
    c.icmp_tat_tsc = 0;
  }
  void TearDown() override {
    if (b_ == nullptr) return;
    for (auto& h : t_->ctx->held) rte_pktmbuf_free(h.m);
    t_->ctx->held.clear();
    for (int p = 0; p < 3; p++) {
      for (rte_mbuf* m : sent(p)) rte_pktmbuf_free(m);
    }
    EXPECT_EQ(rte_mempool_in_use_count(b_->dp.pool), 0u) << "mbufs leaked";
  }

  uint64_t drops(DropReason r) { return t_->stats->lcores[0].drops[static_cast<unsigned>(r)]; }
  const shm::EventCounters& events() { return t_->stats->lcores[0].events; }

  rte_mbuf* frame(const uint8_t* dst_mac, const MacAddr& src_mac, uint16_t type, const std::vector<uint8_t>& l3) {
    rte_mbuf* m = rte_pktmbuf_alloc(b_->dp.pool);
    uint8_t* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(14 + l3.size())));
    if (p == nullptr) std::abort();
    std::memcpy(p, dst_mac, 6);
    std::memcpy(p + 6, src_mac.b, 6);
    p[12] = static_cast<uint8_t>(type >> 8);
    p[13] = static_cast<uint8_t>(type);
    std::memcpy(p + 14, l3.data(), l3.size());
    return m;
  }
  static std::vector<uint8_t> ipv4(uint8_t proto, uint32_t src, uint32_t dst, uint8_t ttl,
                                   std::vector<uint8_t> payload) {
    std::vector<uint8_t> h(20, 0);
    const uint16_t total = static_cast<uint16_t>(20 + payload.size());
    h[0] = 0x45;
    h[2] = static_cast<uint8_t>(total >> 8);
    h[3] = static_cast<uint8_t>(total);
    h[8] = ttl;
    h[9] = proto;
    for (int i = 0; i < 4; i++) {
      h[12 + i] = static_cast<uint8_t>(src >> (24 - 8 * i));
      h[16 + i] = static_cast<uint8_t>(dst >> (24 - 8 * i));
    }
    const uint16_t c = static_cast<uint16_t>(~ones_complement_sum(h.data(), 20));
    h[10] = static_cast<uint8_t>(c >> 8);
    h[11] = static_cast<uint8_t>(c);
    h.insert(h.end(), payload.begin(), payload.end());
    return h;
  }
  static std::vector<uint8_t> echo_request() {
    std::vector<uint8_t> icmp = {8, 0, 0, 0, 0x12, 0x34, 0, 1, 'p', 'i', 'n', 'g'};
    const uint16_t c = static_cast<uint16_t>(~ones_complement_sum(icmp.data(), static_cast<uint32_t>(icmp.size())));
    icmp[2] = static_cast<uint8_t>(c >> 8);
    icmp[3] = static_cast<uint8_t>(c);
    return icmp;
  }
  static std::vector<uint8_t> arp(uint16_t op, const MacAddr& smac, uint32_t sip, uint32_t tip) {
    std::vector<uint8_t> a = {0, 1, 8, 0, 6, 4, 0, static_cast<uint8_t>(op)};
    for (uint8_t x : smac.b) a.push_back(x);  // (vector::insert trips GCC 12's -Warray-bounds)
    for (int i = 0; i < 4; i++) a.push_back(static_cast<uint8_t>(sip >> (24 - 8 * i)));
    for (int i = 0; i < 6; i++) a.push_back(0);
    for (int i = 0; i < 4; i++) a.push_back(static_cast<uint8_t>(tip >> (24 - 8 * i)));
    return a;
  }
  void inject(uint8_t port, std::vector<rte_mbuf*> pkts) {
    l2_input_burst(*t_->ctx, port, pkts.data(), static_cast<uint16_t>(pkts.size()));
    tx_flush_all(*t_->ctx);
  }
  std::vector<rte_mbuf*> sent(int port) {
    std::vector<rte_mbuf*> out;
    void* obj;
    while (rte_ring_dequeue(b_->tx[port], &obj) == 0) out.push_back(static_cast<rte_mbuf*>(obj));
    return out;
  }
  static const uint8_t* bytes(rte_mbuf* m) { return rte_pktmbuf_mtod(m, const uint8_t*); }
  static uint32_t be32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
  }
  const uint8_t* mac(int port) { return b_->dp.ports[port].mac.b; }
  void learn_router() {
    inject(1, {frame(mac(1), kRouterMac, wire::kEtherTypeArp, arp(2, kRouterMac, kBackendRtr, kInAddr))});
  }

  RingDataplane* b_ = nullptr;
  std::unique_ptr<PerTest> t_;
};

const uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// Test that an ARP request for our address gets a reply with the port's MAC.
// Test that the dataplane's DPDK telemetry commands register: DPDK refuses a command whose
// help is 128 characters or more, and then answers it with null (tests/netns/routing.sh
// queries them on a running gateway).
TEST(Telemetry, CommandsRegister) {
  static shm::StatsSegment segment{};
  EXPECT_EQ(telemetry_register(&segment), 0);
}

TEST_F(Stages, ArpRequestForUsIsAnswered) {
  inject(0, {frame(kBroadcast, kClientMac, wire::kEtherTypeArp, arp(1, kClientMac, kClient, kOutAddr))});
  auto out = sent(0);
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* f = bytes(out[0]);
  EXPECT_EQ(0, std::memcmp(f, kClientMac.b, 6));
  EXPECT_EQ(f[21], 2);  // reply
  EXPECT_EQ(0, std::memcmp(f + 22, mac(0), 6));
  EXPECT_EQ(be32(f + 28), kOutAddr);
  EXPECT_EQ(be32(f + 38), kClient);
  EXPECT_EQ(events().arp_requests_answered, 1u);
  rte_pktmbuf_free(out[0]);
  // The requester was learned on the way.
  EXPECT_GE(t_->neigh->find(b_->dp.ports[0].port_id, kClient), 0);
}

// Test that ARP for someone else, and malformed ARP, are dropped and counted.
TEST_F(Stages, ArpNotForUsAndMalformedAreCounted) {
  inject(0, {frame(kBroadcast, kClientMac, wire::kEtherTypeArp, arp(1, kClientMac, kClient, 0xC0000209)),
             frame(kBroadcast, kClientMac, wire::kEtherTypeArp, {0, 1, 8, 0})});
  EXPECT_TRUE(sent(0).empty());
  EXPECT_EQ(drops(DropReason::arp_not_for_us), 1u);
  EXPECT_EQ(drops(DropReason::arp_malformed), 1u);
  // Not talking to us: not learned (a busy segment cannot fill the table).
  EXPECT_LT(t_->neigh->find(b_->dp.ports[0].port_id, kClient), 0);
}

// Test that a ping to our address is answered with a valid echo reply.
TEST_F(Stages, EchoRequestIsAnswered) {
  inject(0, {frame(mac(0), kClientMac, wire::kEtherTypeIpv4, ipv4(1, kClient, kOutAddr, 64, echo_request()))});
  auto out = sent(0);
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* f = bytes(out[0]);
  const uint8_t* ip = f + 14;
  EXPECT_EQ(0, std::memcmp(f, kClientMac.b, 6));
  EXPECT_EQ(be32(ip + 12), kOutAddr);
  EXPECT_EQ(be32(ip + 16), kClient);
  EXPECT_EQ(ones_complement_sum(ip, 20), 0xffff);
  EXPECT_EQ(ip[20], 0);  // echo reply
  EXPECT_EQ(ones_complement_sum(ip + 20, 12), 0xffff);
  EXPECT_EQ(events().icmp_echo_replies, 1u);
  rte_pktmbuf_free(out[0]);
}

// Test that frames for another MAC, runts, bad checksums, IPv6 and unknown ethertypes
// are each dropped with their own reason.
TEST_F(Stages, MalformedFramesHaveReasons) {
  const uint8_t other[6] = {0x02, 9, 9, 9, 9, 9};
  auto bad_sum = ipv4(1, kClient, kOutAddr, 64, echo_request());
  bad_sum[10] ^= 0x55;
  auto bad_icmp = ipv4(1, kClient, kOutAddr, 64, echo_request());
  bad_icmp[22] ^= 0x55;
  inject(0, {frame(other, kClientMac, wire::kEtherTypeIpv4, ipv4(1, kClient, kOutAddr, 64, echo_request())),
             frame(mac(0), kClientMac, wire::kEtherTypeIpv4, {0x45, 0}),
             frame(mac(0), kClientMac, wire::kEtherTypeIpv4, bad_sum),
             frame(mac(0), kClientMac, wire::kEtherTypeIpv4, bad_icmp),
             frame(mac(0), kClientMac, wire::kEtherTypeIpv6, std::vector<uint8_t>(40, 0)),
             frame(mac(0), kClientMac, 0x88cc, {1, 2, 3}),
             frame(mac(0), kClientMac, wire::kEtherTypeIpv4, ipv4(6, kClient, kOutAddr, 64, {0, 80, 0, 80}))});
  EXPECT_TRUE(sent(0).empty());
  EXPECT_EQ(drops(DropReason::l2_not_for_us), 1u);
  EXPECT_EQ(drops(DropReason::runt), 1u);
  EXPECT_EQ(drops(DropReason::ipv4_bad_checksum), 1u);
  EXPECT_EQ(drops(DropReason::icmp_malformed), 1u);
  EXPECT_EQ(drops(DropReason::ipv6_unsupported), 1u);
  EXPECT_EQ(drops(DropReason::l2_unknown_ethertype), 1u);
  EXPECT_EQ(drops(DropReason::local_unhandled), 1u);
}

// Test that a NIC's verdict on the IPv4 header checksum (RX offload, mbuf ol_flags) is
// taken: "good" is not summed again (a wrong checksum passes: the NIC saw the frame as it
// was on the wire), "bad" is dropped as a bad checksum even when the sum is right, and
// "unknown" (the ports without the offload) is summed as before.
TEST_F(Stages, NicChecksumVerdictIsTaken) {
  auto with_flags = [&](std::vector<uint8_t> l3, uint64_t flags) {
    rte_mbuf* m = frame(mac(0), kClientMac, wire::kEtherTypeIpv4, std::move(l3));
    m->ol_flags |= flags;
    return m;
  };
  auto bad_sum = ipv4(1, kClient, kOutAddr, 64, echo_request());
  bad_sum[10] ^= 0x55;
  inject(0, {with_flags(bad_sum, RTE_MBUF_F_RX_IP_CKSUM_GOOD)});
  auto out = sent(0);
  ASSERT_EQ(out.size(), 1u) << "a header the NIC passed is answered";
  rte_pktmbuf_free(out[0]);
  EXPECT_EQ(drops(DropReason::ipv4_bad_checksum), 0u);
  inject(0, {with_flags(ipv4(1, kClient, kOutAddr, 64, echo_request()), RTE_MBUF_F_RX_IP_CKSUM_BAD),
             with_flags(bad_sum, RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN),
             with_flags(bad_sum, RTE_MBUF_F_RX_IP_CKSUM_NONE)});
  EXPECT_TRUE(sent(0).empty());
  EXPECT_EQ(drops(DropReason::ipv4_bad_checksum), 3u);
  EXPECT_EQ(events().icmp_echo_replies, 1u);
}

// Test that with forwarding off, a routable packet is dropped and counted.
TEST_F(Stages, ForwardingOffDropsPlainPackets) {
  b_->dp.lab_forwarding = false;
  inject(0, {frame(mac(0), kClientMac, wire::kEtherTypeIpv4, ipv4(17, kClient, kBackend, 64, {0, 1, 0, 2, 0, 8, 0, 0}))});
  b_->dp.lab_forwarding = true;
  EXPECT_TRUE(sent(1).empty());
  EXPECT_EQ(drops(DropReason::forwarding_disabled), 1u);
}

// Test that a packet to an unresolved next hop waits, an ARP request goes out, and the
// packet follows with the learned MAC, TTL - 1 and a valid checksum once the reply comes.
TEST_F(Stages, ForwardResolvesNextHopThenSends) {
  inject(0, {frame(mac(0), kClientMac, wire::kEtherTypeIpv4, ipv4(17, kClient, kBackend, 64, {0, 1, 0, 2, 0, 8, 0, 0}))});
  auto out = sent(1);
  ASSERT_EQ(out.size(), 1u);  // the ARP request
  const uint8_t* f = bytes(out[0]);
  EXPECT_EQ(0, std::memcmp(f, kBroadcast, 6));
  EXPECT_EQ(be32(f + 38), kBackendRtr);  // asks for the static route's gateway
  EXPECT_EQ(events().arp_requests_sent, 1u);
  EXPECT_EQ(t_->ctx->held.size(), 1u);
  rte_pktmbuf_free(out[0]);

  learn_router();
  neighbour_hold_service(*t_->ctx, rte_rdtsc());
  tx_flush_all(*t_->ctx);
  out = sent(1);
  ASSERT_EQ(out.size(), 1u);
  f = bytes(out[0]);
  EXPECT_EQ(0, std::memcmp(f, kRouterMac.b, 6));
  EXPECT_EQ(0, std::memcmp(f + 6, mac(1), 6));
  EXPECT_EQ(f[14 + 8], 63);
  EXPECT_EQ(ones_complement_sum(f + 14, 20), 0xffff);
  EXPECT_EQ(events().ipv4_forwarded, 1u);
  rte_pktmbuf_free(out[0]);

  // Now resolved: the next packet goes straight out.
  inject(0, {frame(mac(0), kClientMac, wire::kEtherTypeIpv4, ipv4(17, kClient, kBackend, 9, {0, 1, 0, 2, 0, 8, 0, 0}))});
  out = sent(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(bytes(out[0])[14 + 8], 8);
  rte_pktmbuf_free(out[0]);
}

// Test that TTL 1 earns an ICMP time exceeded from the receiving port's address.
TEST_F(Stages, TtlExpiredSendsTimeExceeded) {
  inject(0, {frame(mac(0), kClientMac, wire::kEtherTypeIpv4, ipv4(17, kClient, kBackend, 1, {0, 1, 0, 2, 0, 8, 0, 0}))});
  EXPECT_EQ(drops(DropReason::ttl_exceeded), 1u);
  auto out = sent(0);
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* ip = bytes(out[0]) + 14;
  EXPECT_EQ(be32(ip + 12), kOutAddr);
  EXPECT_EQ(be32(ip + 16), kClient);
  EXPECT_EQ(ip[20], wire::kIcmpTimeExceeded);
  const uint16_t total = static_cast<uint16_t>(ip[2] << 8 | ip[3]);
  EXPECT_EQ(total, 20 + 8 + 28);  // the whole 28-byte original is quoted
  EXPECT_EQ(ones_complement_sum(ip + 20, total - 20), 0xffff);
  EXPECT_EQ(events().icmp_errors_sent, 1u);
  rte_pktmbuf_free(out[0]);
}

// Test that no route earns net unreachable, and that ICMP errors are never sent about
// ICMP errors.
TEST_F(Stages, NoRouteSendsNetUnreachableButNotAboutErrors) {
  std::vector<uint8_t> icmp_err = {3, 1, 0, 0, 0, 0, 0, 0};
  const uint16_t c = static_cast<uint16_t>(~ones_complement_sum(icmp_err.data(), 8));
  icmp_err[2] = static_cast<uint8_t>(c >> 8);
  icmp_err[3] = static_cast<uint8_t>(c);
  inject(0, {frame(mac(0), kClientMac, wire::kEtherTypeIpv4, ipv4(17, kClient, 0xCB007101, 64, {0, 1, 0, 2, 0, 8, 0, 0})),
             frame(mac(0), kClientMac, wire::kEtherTypeIpv4, ipv4(1, kClient, 0xCB007101, 64, icmp_err))});
  EXPECT_EQ(drops(DropReason::no_route), 2u);
  auto out = sent(0);
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* ip = bytes(out[0]) + 14;
  EXPECT_EQ(ip[20], wire::kIcmpUnreachable);
  EXPECT_EQ(ip[21], wire::kIcmpCodeNetUnreachable);
  rte_pktmbuf_free(out[0]);
}

// Test that the hold queue is bounded and that unanswered next hops end in a counted
// drop and an ICMP host unreachable.
TEST_F(Stages, HoldQueueBoundedAndTimesOut) {
  std::vector<rte_mbuf*> burst;
  for (int i = 0; i < 6; i++) {
    burst.push_back(frame(mac(0), kClientMac, wire::kEtherTypeIpv4, ipv4(17, kClient, 0xC6120063, 64, {0, 1, 0, 2, 0, 8, 0, 0})));
  }
  inject(0, burst);
  EXPECT_EQ(t_->ctx->held.size(), 4u);
  EXPECT_EQ(drops(DropReason::neigh_queue_full), 2u);
  for (rte_mbuf* m : sent(1)) rte_pktmbuf_free(m);  // ARP requests
  // A service time older than the packets (taken before they were held) gives up nothing.
  neighbour_hold_service(*t_->ctx, 1);
  EXPECT_EQ(t_->ctx->held.size(), 4u);
  EXPECT_EQ(drops(DropReason::neigh_unresolved), 0u);
  // Past retries x interval (2 x 1 ms), the held packets are given up.
  rte_delay_ms(5);
  neighbour_hold_service(*t_->ctx, rte_rdtsc());
  tx_flush_all(*t_->ctx);
  EXPECT_TRUE(t_->ctx->held.empty());
  EXPECT_EQ(drops(DropReason::neigh_unresolved), 4u);
  auto out = sent(0);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(bytes(out[0])[14 + 21], wire::kIcmpCodeHostUnreachable);
  for (rte_mbuf* m : out) rte_pktmbuf_free(m);
}

// Test that a packet bigger than the outgoing MTU with DF set earns "fragmentation
// needed" carrying the MTU.
TEST_F(Stages, MtuExceededWithDf) {
  learn_router();
  auto big = ipv4(17, kClient, kBackend, 64, std::vector<uint8_t>(1600, 0));
  big[6] = 0x40;
  big[10] = big[11] = 0;
  const uint16_t c = static_cast<uint16_t>(~ones_complement_sum(big.data(), 20));
  big[10] = static_cast<uint8_t>(c >> 8);
  big[11] = static_cast<uint8_t>(c);
  inject(0, {frame(mac(0), kClientMac, wire::kEtherTypeIpv4, big)});
  EXPECT_EQ(drops(DropReason::mtu_exceeded), 1u);
  auto out = sent(0);
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* ip = bytes(out[0]) + 14;
  EXPECT_EQ(ip[21], wire::kIcmpCodeFragNeeded);
  EXPECT_EQ(ip[26] << 8 | ip[27], b_->dp.ports[1].mtu);
  rte_pktmbuf_free(out[0]);
}

std::vector<uint8_t> tcp_segment(uint16_t dport) {
  return {0x9c, 0x40, static_cast<uint8_t>(dport >> 8), static_cast<uint8_t>(dport), 0, 0, 0, 1, 0, 0, 0, 0,
          0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0};
}

// Test that TCP to the TLS port of an outside address goes to the kernel as raw IPv4,
// and that other TCP to us, or TLS-port TCP to an inside address, does not.
TEST_F(Stages, TlsPortGoesToTheKernelOnly) {
  inject(0, {frame(mac(0), kClientMac, wire::kEtherTypeIpv4, ipv4(6, kClient, kOutAddr, 64, tcp_segment(443))),
             frame(mac(0), kClientMac, wire::kEtherTypeIpv4, ipv4(6, kClient, kOutAddr, 64, tcp_segment(22)))});
  inject(1, {frame(mac(1), kRouterMac, wire::kEtherTypeIpv4, ipv4(6, kBackendRtr, kInAddr, 64, tcp_segment(443)))});
  auto out = sent(2);
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* ip = bytes(out[0]);
  EXPECT_EQ(ip[0], 0x45);  // no Ethernet header on the tun side
  EXPECT_EQ(be32(ip + 12), kClient);
  EXPECT_EQ(rte_pktmbuf_pkt_len(out[0]), 40u);
  EXPECT_EQ(events().exception_to_kernel, 1u);
  EXPECT_EQ(drops(DropReason::local_unhandled), 2u);
  rte_pktmbuf_free(out[0]);
}

// Test that the kernel's replies are routed out with the neighbour's MAC and their TTL
// untouched, and that the kernel cannot send from an address that is not ours.
TEST_F(Stages, KernelRepliesAreRoutedAndChecked) {
  // Learn the client (an ARP request from it for our address).
  inject(0, {frame(kBroadcast, kClientMac, wire::kEtherTypeArp, arp(1, kClientMac, kClient, kOutAddr))});
  for (rte_mbuf* m : sent(0)) rte_pktmbuf_free(m);
  auto from_kernel = [&](uint32_t src) {
    auto l3 = ipv4(6, src, kClient, 64, tcp_segment(40000));
    rte_mbuf* m = rte_pktmbuf_alloc(b_->dp.pool);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(l3.size())), l3.data(), l3.size());
    return m;
  };
  rte_mbuf* burst[2] = {from_kernel(kOutAddr), from_kernel(0xC0000263)};
  exception_input_burst(*t_->ctx, burst, 2);
  tx_flush_all(*t_->ctx);
  EXPECT_EQ(drops(DropReason::exception_bad_source), 1u);
  auto out = sent(0);
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* f = bytes(out[0]);
  EXPECT_EQ(0, std::memcmp(f, kClientMac.b, 6));
  EXPECT_EQ(0, std::memcmp(f + 6, mac(0), 6));
  EXPECT_EQ(f[12], 0x08);
  EXPECT_EQ(f[14 + 8], 64);  // not forwarded: no TTL decrement
  EXPECT_EQ(events().exception_from_kernel, 1u);
  rte_pktmbuf_free(out[0]);
}

constexpr uint32_t kPoolAddr = 0xC6336402;  // 198.51.100.2
constexpr uint32_t kOtherPoolAddr = 0xC6336403;

// A session bound for one test, released after it.
class TunnelStages : public Stages {
 protected:
  void SetUp() override {
    Stages::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    ASSERT_TRUE(b_->dp.sessions->bind(kPoolAddr, ref_));
  }
  void TearDown() override {
    if (b_ != nullptr) {
      EXPECT_TRUE(b_->dp.sessions->unbind(kPoolAddr, ref_));
      for (unsigned w = 0; w < b_->dp.n_workers; w++) {
        for (rte_mbuf* m : to_worker(w)) rte_pktmbuf_free(m);
      }
    }
    Stages::TearDown();
  }
  /// What a TLS worker puts on the ring: raw inner IPv4 tagged with its session.
  rte_mbuf* from_client(const std::vector<uint8_t>& l3, uint64_t ref) {
    rte_mbuf* m = rte_pktmbuf_alloc(b_->dp.pool);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(l3.size())), l3.data(), l3.size());
    mbuf_session_ref(m, b_->dp.session_dynfield) = ref;
    return m;
  }
  std::vector<rte_mbuf*> to_worker(unsigned w) {
    std::vector<rte_mbuf*> out;
    void* obj;
    while (rte_ring_dequeue(b_->dp.workers[w].ring, &obj) == 0) out.push_back(static_cast<rte_mbuf*>(obj));
    return out;
  }
  const SessionRef ref_{1, 0x1234};
};

// Test that a client's packet to a service is routed to the backend with TTL - 1, while
// a spoofed source, an untagged packet and a destination outside the services are not.
TEST_F(TunnelStages, ClientPacketsAreCheckedAndRouted) {
  learn_router();
  const std::vector<uint8_t> udp = {0, 1, 0, 2, 0, 8, 0, 0};
  rte_mbuf* burst[4] = {from_client(ipv4(17, kPoolAddr, kBackend, 64, udp), ref_.pack()),
                        from_client(ipv4(17, kOtherPoolAddr, kBackend, 64, udp), ref_.pack()),
                        from_client(ipv4(17, kPoolAddr, kBackend, 64, udp), 0),
                        from_client(ipv4(17, kPoolAddr, 0xC6120201, 64, udp), ref_.pack())};
  tunnel_input_burst(*t_->ctx, burst, 4);
  tx_flush_all(*t_->ctx);
  EXPECT_EQ(drops(DropReason::tunnel_spoofed_source), 2u);
  EXPECT_EQ(drops(DropReason::tunnel_policy_denied), 1u);
  auto out = sent(1);
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* f = bytes(out[0]);
  EXPECT_EQ(0, std::memcmp(f, kRouterMac.b, 6));
  EXPECT_EQ(be32(f + 14 + 12), kPoolAddr);
  EXPECT_EQ(f[14 + 8], 63);
  EXPECT_EQ(ones_complement_sum(f + 14, 20), 0xffff);
  EXPECT_EQ(events().tunnel_to_backend, 1u);
  rte_pktmbuf_free(out[0]);
}

// Test that the lcore's verdict cache (dataplane/policy_cache.h) follows a policy reload: a
// flow allowed, then remembered, is refused after a reload that takes its subnet away, and
// allowed again after the reload that gives it back, without a stale verdict in between.
TEST_F(TunnelStages, CachedVerdictsFollowAPolicyReload) {
  learn_router();
  const std::vector<uint8_t> udp = {0, 1, 0, 2, 0, 8, 0, 0};
  const auto send = [&] {
    rte_mbuf* m = from_client(ipv4(17, kPoolAddr, kBackend, 64, udp), ref_.pack());
    tunnel_input_burst(*t_->ctx, &m, 1);
    tx_flush_all(*t_->ctx);
    const auto out = sent(1);
    for (rte_mbuf* o : out) rte_pktmbuf_free(o);
    return out.size();
  };
  PolicyState& ps = *b_->dp.policy;
  EXPECT_EQ(send(), 1u);
  EXPECT_EQ(send(), 1u);  // the second from the cache
  config::Config elsewhere = b_->cfg;
  elsewhere.services[0].subnets = {*config::parse_prefix("198.18.2.0/24")};
  ASSERT_EQ(policy_state_reload(ps, elsewhere, t_->stats.get()), "");
  EXPECT_EQ(send(), 0u);
  EXPECT_EQ(drops(DropReason::tunnel_policy_denied), 1u);
  ASSERT_EQ(policy_state_reload(ps, b_->cfg, t_->stats.get()), "");
  EXPECT_EQ(send(), 1u);
  EXPECT_EQ(drops(DropReason::tunnel_policy_denied), 1u);
}

// Test that return traffic for a bound pool address reaches its worker's ring, tagged,
// without Ethernet and with TTL - 1; that an unbound pool address is dropped; and that
// pool addresses are never reachable from an outside port.
TEST_F(TunnelStages, ReturnTrafficReachesTheOwningWorker) {
  const std::vector<uint8_t> udp = {0, 2, 0, 1, 0, 8, 0, 0};
  inject(1, {frame(mac(1), kRouterMac, wire::kEtherTypeIpv4, ipv4(17, kBackend, kPoolAddr, 64, udp)),
             frame(mac(1), kRouterMac, wire::kEtherTypeIpv4, ipv4(17, kBackend, kOtherPoolAddr, 64, udp))});
  inject(0, {frame(mac(0), kClientMac, wire::kEtherTypeIpv4, ipv4(17, kClient, kPoolAddr, 64, udp))});
  EXPECT_EQ(drops(DropReason::tunnel_no_session), 1u);
  EXPECT_EQ(drops(DropReason::tunnel_pool_from_outside), 1u);
  EXPECT_TRUE(to_worker(0).empty());
  auto out = to_worker(1);
  ASSERT_EQ(out.size(), 1u);
  const uint8_t* ip = bytes(out[0]);
  EXPECT_EQ(ip[0], 0x45);
  EXPECT_EQ(be32(ip + 16), kPoolAddr);
  EXPECT_EQ(ip[8], 63);
  EXPECT_EQ(ones_complement_sum(ip, 20), 0xffff);
  EXPECT_EQ(mbuf_session_ref(out[0], b_->dp.session_dynfield), ref_.pack());
  EXPECT_EQ(events().tunnel_to_client, 1u);
  rte_pktmbuf_free(out[0]);
}

// Test that a full worker ring drops (counted) instead of blocking the lcore.
TEST_F(TunnelStages, FullWorkerRingDropsAndCounts) {
  rte_ring* ring = b_->dp.workers[1].ring;
  const unsigned free_slots = rte_ring_free_count(ring);
  std::vector<void*> filler(free_slots, reinterpret_cast<void*>(1));
  ASSERT_EQ(rte_ring_enqueue_burst(ring, filler.data(), free_slots, nullptr), free_slots);
  const std::vector<uint8_t> udp = {0, 2, 0, 1, 0, 8, 0, 0};
  inject(1, {frame(mac(1), kRouterMac, wire::kEtherTypeIpv4, ipv4(17, kBackend, kPoolAddr, 64, udp))});
  EXPECT_EQ(drops(DropReason::tunnel_ring_full), 1u);
  void* obj;
  while (rte_ring_dequeue(ring, &obj) == 0) {
  }
}

// Test that FIB lookups agree with a naive longest-prefix match on random addresses.
TEST_F(Stages, FibMatchesNaiveLongestPrefix) {
  const auto routes = routes_from_config(b_->cfg);
  std::srand(7);
  for (int i = 0; i < 5000; i++) {
    uint32_t a = static_cast<uint32_t>(std::rand()) << 1 ^ static_cast<uint32_t>(std::rand());
    if (i % 3 == 0) a = 0xC6120000 | (a & 0x3ff);  // near the configured prefixes
    int best = -1;
    for (size_t r = 0; r < routes.size(); r++) {
      const uint32_t mask = routes[r].len ? ~uint32_t{0} << (32 - routes[r].len) : 0;
      if ((a & mask) == routes[r].prefix && (best < 0 || routes[r].len > routes[best].len)) best = static_cast<int>(r);
    }
    uint64_t nh;
    rte_fib_lookup_bulk(b_->dp.fib, &a, &nh, 1);
    if (best < 0) {
      ASSERT_EQ(nh, kNoRoute) << std::hex << a;
    } else {
      ASSERT_LT(nh, b_->dp.nexthops.size());
      ASSERT_EQ(b_->dp.nexthops[nh].port, routes[best].nexthop.port) << std::hex << a;
      ASSERT_EQ(b_->dp.nexthops[nh].gateway, routes[best].nexthop.gateway) << std::hex << a;
    }
  }
}

}  // namespace
}  // namespace tg::dp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new tg::dp::Env);
  return RUN_ALL_TESTS();
}
