// Per-app policy (dataplane/app_policy.h) in-process: EAL without hugepages or ports,
// rte_acl tables built from configurations written here.
//   1. a numbered table of invalid and edge inputs (STYLE #24);
//   2. policy_key_from_ipv4 byte layout; AppRegistry, including readers racing the writer;
//   3. randomized configurations checked against a deliberately naive reference (a loop
//      over services), 10k packets each, both directions;
//   4. reloads: two generations alive and read by several threads at once, removed apps,
//      frees leave no DPDK memory.
// Seeds are fixed (hermetic); a failure prints the seed and the packet.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <rte_acl.h>
#include <rte_eal.h>
#include <rte_malloc.h>

#include "config/config.h"
#include "dataplane/app_policy.h"
#include "dataplane/wire.h"
#include "tests/support/ring_dataplane.h"

namespace tg::dp {
namespace {

using config::Config;
using config::IpPrefix;
using config::PortRange;
using config::ServiceConfig;
using V = PolicyVerdict;

bool g_eal = false;
std::string g_eal_error;

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    const std::string prefix = "tgpolicy" + std::to_string(getpid());
    std::vector<std::string> args = {"app_policy_eal_test", "--no-huge", "-m", "512", "--no-pci",
                                     "--file-prefix", prefix, "-l", "0",
                                     "--log-level=lib.eal:error", "--no-telemetry"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
      g_eal_error = "EAL init failed (needs root)";
      return;
    }
    g_eal = true;
    dp::testing::eal_runtime_dir_remove_at_exit();
  }
  void TearDown() override {
    if (g_eal) rte_eal_cleanup();
  }
};

// Tests that build tables need the EAL: skipped without root, a failure as root (CI).
#define NEED_EAL()                                                    \
  do {                                                                \
    if (!g_eal && geteuid() != 0) GTEST_SKIP() << g_eal_error;        \
    ASSERT_TRUE(g_eal) << g_eal_error;                                \
  } while (0)

uint64_t heap_allocated() {
  uint64_t total = 0;
  for (unsigned i = 0; i < rte_socket_count(); i++) {
    rte_malloc_socket_stats st{};
    if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &st) == 0) total += st.heap_allocsz_bytes;
  }
  return total;
}

// ---------------------------------------------------------------- config and packets

IpPrefix prefix(uint32_t net, uint8_t len) {
  IpPrefix p;
  p.addr = config::IpAddr::from_v4_host(net);
  p.len = len;
  return p;
}

ServiceConfig service(std::string name, std::vector<IpPrefix> subnets,
                      std::vector<std::string> protocols, std::vector<PortRange> ports) {
  ServiceConfig s;
  s.name = std::move(name);
  s.subnets = std::move(subnets);
  if (!protocols.empty()) s.protocols = std::move(protocols);  // else the default: all three
  s.ports = std::move(ports);
  return s;
}

config::AppConfig app(std::string id, std::vector<std::string> services) {
  config::AppConfig a;
  a.id = std::move(id);
  a.services = std::move(services);
  return a;
}

constexpr uint8_t kTcp = wire::kIpProtoTcp;
constexpr uint8_t kUdp = wire::kIpProtoUdp;
constexpr uint8_t kIcmp = wire::kIpProtoIcmp;
constexpr uint8_t kGre = 47;
constexpr uint32_t kClient = 0xC6336402;  // 198.51.100.2, a pool address

/// An inner IPv4 packet. `l4_len` bytes follow the header (ports first, if they fit).
struct Packet {
  uint8_t proto = kTcp;
  uint32_t src = kClient;
  uint32_t dst = 0;
  uint16_t sport = 40000;
  uint16_t dport = 0;
  uint16_t frag = 0;      ///< flags + offset, host order
  uint32_t l4_len = 20;
  uint8_t ihl = 5;        ///< header length in 32-bit words
};

std::vector<uint8_t> bytes_of(const Packet& p) {
  const uint32_t hdr = p.ihl * 4u;
  std::vector<uint8_t> b(hdr + p.l4_len, 0);
  b[0] = static_cast<uint8_t>(0x40 | p.ihl);
  store_be16(&b[2], static_cast<uint16_t>(b.size()));
  store_be16(&b[6], p.frag);
  b[8] = 64;
  b[9] = p.proto;
  store_be32(&b[12], p.src);
  store_be32(&b[16], p.dst);
  store_be16(&b[10], static_cast<uint16_t>(~ones_complement_sum(b.data(), hdr)));
  uint8_t ports[4];
  store_be16(ports, p.sport);
  store_be16(ports + 2, p.dport);
  std::memcpy(&b[hdr], ports, std::min<uint32_t>(4, p.l4_len));
  return b;
}

PolicyKey key_of(const Packet& p, uint16_t app, bool outbound) {
  const auto b = bytes_of(p);
  PolicyKey k;
  policy_key_from_ipv4(b.data(), static_cast<uint32_t>(b.size()), app, outbound, &k);
  return k;
}

V classify_one(const PolicyTable& t, const PolicyKey& k) {
  const PolicyKey* keys[1] = {&k};
  V v[1] = {V::count};
  policy_classify(t, keys, 1, v);
  return v[0];
}

/// A table that frees itself; build() fails the test on an error.
struct Table {
  PolicyTable* t = nullptr;
  Table() = default;
  Table(const Table&) = delete;
  ~Table() { policy_table_free(t); }
  std::string build(const Config& cfg, AppRegistry& reg, uint64_t gen) {
    policy_table_free(t);
    t = nullptr;
    return policy_table_build(cfg, reg, SOCKET_ID_ANY, gen, &t);
  }
};

// ---------------------------------------------------------------- 1. the edge table
//
// services                      subnets          protocols       ports
//   web                         10.1.0.0/16      tcp             80, 443
//   web-alt                     10.1.5.0/24      udp             8443        (inside web)
//   dns                         10.2.0.53/32     tcp, udp        53
//   ping                        10.3.0.0/24      icmp            -
//   any                         10.4.0.0/24      (all three)     -
//   frag                        10.6.0.0/24      udp             0-100       (port 0 allowed)
//   ssh                         10.7.0.0/24      tcp, icmp       22          (icmp ignores ports)
// apps: mail = web, web-alt, dns; ops = ping, any, ssh, dns; frag = frag; alt = web-alt
Config edge_config() {
  Config cfg;
  cfg.services = {
      service("web", {prefix(0x0A010000, 16)}, {"tcp"}, {{80, 80}, {443, 443}}),
      service("web-alt", {prefix(0x0A010500, 24)}, {"udp"}, {{8443, 8443}}),
      service("dns", {prefix(0x0A020035, 32)}, {"tcp", "udp"}, {{53, 53}}),
      service("ping", {prefix(0x0A030000, 24)}, {"icmp"}, {}),
      service("any", {prefix(0x0A040000, 24)}, {}, {}),
      service("frag", {prefix(0x0A060000, 24)}, {"udp"}, {{0, 100}}),
      service("ssh", {prefix(0x0A070000, 24)}, {"tcp", "icmp"}, {{22, 22}}),
  };
  cfg.apps = {app("com.example.mail", {"web", "web-alt", "dns"}),
              app("com.example.ops", {"ping", "any", "ssh", "dns"}),
              app("com.example.frag", {"frag"}), app("com.example.alt", {"web-alt"})};
  return cfg;
}
constexpr uint16_t kMail = 1, kOps = 2, kFrag = 3, kAlt = 4;

struct EdgeCase {
  int number;
  const char* what;
  uint16_t app;
  bool outbound;
  Packet packet;
  V expected;
};

Packet to(uint8_t proto, uint32_t dst, uint16_t dport) {
  Packet p;
  p.proto = proto;
  p.dst = dst;
  p.dport = dport;
  p.l4_len = proto == kTcp ? 20 : 8;
  return p;
}
Packet with(Packet p, void (*edit)(Packet&)) {
  edit(p);
  return p;
}

const EdgeCase kEdgeCases[] = {
    {1, "app index >= kMaxApps (256)", 256, true, to(kTcp, 0x0A010203, 443), V::deny_no_app},
    {2, "app index 65535", 65535, true, to(kTcp, 0x0A010203, 443), V::deny_no_app},
    {3, "index 0 with apps configured", 0, true, to(kTcp, 0x0A010203, 443), V::deny_no_app},
    {4, "index never handed out (5)", 5, true, to(kTcp, 0x0A010203, 443), V::deny_no_app},
    {5, "allowed: tcp to web:443", kMail, true, to(kTcp, 0x0A010203, 443), V::allow},
    {6, "web's range edge: tcp :80", kMail, true, to(kTcp, 0x0A01FFFF, 80), V::allow},
    {7, "port outside: tcp :8080", kMail, true, to(kTcp, 0x0A010203, 8080), V::deny_port},
    {8, "port next to a range: tcp :444", kMail, true, to(kTcp, 0x0A010203, 444), V::deny_port},
    {9, "protocol not listed: udp to web", kMail, true, to(kUdp, 0x0A010203, 443), V::deny_protocol},
    {10, "protocol not listed: icmp to web", kMail, true, to(kIcmp, 0x0A010203, 0), V::deny_protocol},
    {11, "address in no service of the app", kMail, true, to(kTcp, 0x0A090909, 80), V::deny_destination},
    {12, "address of another app's service", kMail, true, to(kIcmp, 0x0A030001, 0), V::deny_destination},
    {13, "just outside a /16", kMail, true, to(kTcp, 0x0A020000, 80), V::deny_destination},
    {14, "overlap: udp to web-alt inside web", kMail, true, to(kUdp, 0x0A010501, 8443), V::allow},
    {15, "overlap: udp to web outside web-alt", kMail, true, to(kUdp, 0x0A010601, 8443), V::deny_protocol},
    {16, "overlap: tcp :8443 inside web-alt", kMail, true, to(kTcp, 0x0A010501, 8443), V::deny_port},
    {17, "nested: web's tcp does not hide web-alt", kAlt, true, to(kTcp, 0x0A010501, 80), V::deny_protocol},
    {18, "nested: only the app's own subnet", kAlt, true, to(kUdp, 0x0A010501, 8443), V::allow},
    {19, "nested: web's address is not alt's", kAlt, true, to(kUdp, 0x0A010601, 8443), V::deny_destination},
    {20, "/32: dns udp :53", kMail, true, to(kUdp, 0x0A020035, 53), V::allow},
    {21, "/32: next address", kMail, true, to(kUdp, 0x0A020036, 53), V::deny_destination},
    {22, "non-first fragment: port 0", kMail, true,
     with(to(kTcp, 0x0A010203, 443), [](Packet& p) { p.frag = 100; }), V::deny_port},
    {23, "first fragment (MF): ports read", kMail, true,
     with(to(kTcp, 0x0A010203, 443), [](Packet& p) { p.frag = wire::kIpv4FlagMf; }), V::allow},
    {24, "non-first fragment, 0 in the range", kFrag, true,
     with(to(kUdp, 0x0A060001, 5000), [](Packet& p) { p.frag = wire::kIpv4FlagMf | 1; }), V::allow},
    {25, "truncated TCP header (10 bytes): port 0", kMail, true,
     with(to(kTcp, 0x0A010203, 443), [](Packet& p) { p.l4_len = 10; }), V::deny_port},
    {26, "udp :5000 outside 0-100", kFrag, true, to(kUdp, 0x0A060001, 5000), V::deny_port},
    {27, "the same truncated (7 bytes): port 0", kFrag, true,
     with(to(kUdp, 0x0A060001, 5000), [](Packet& p) { p.l4_len = 7; }), V::allow},
    {28, "TCP with no L4 bytes: port 0", kMail, true,
     with(to(kTcp, 0x0A010203, 443), [](Packet& p) { p.l4_len = 0; }), V::deny_port},
    {29, "IP options: ports after 24 bytes", kMail, true,
     with(to(kTcp, 0x0A010203, 443), [](Packet& p) { p.ihl = 6; }), V::allow},
    {30, "icmp with ports configured (ssh)", kOps, true, to(kIcmp, 0x0A070001, 0), V::allow},
    {31, "ssh tcp :22", kOps, true, to(kTcp, 0x0A070001, 22), V::allow},
    {32, "ssh tcp :23", kOps, true, to(kTcp, 0x0A070001, 23), V::deny_port},
    {33, "ssh udp", kOps, true, to(kUdp, 0x0A070001, 22), V::deny_protocol},
    {34, "icmp-only service, tcp", kOps, true, to(kTcp, 0x0A030001, 80), V::deny_protocol},
    {35, "GRE to a service with every protocol", kOps, true, to(kGre, 0x0A040001, 0), V::deny_protocol},
    {36, "GRE outside the app's services", kOps, true, to(kGre, 0x0A090001, 0), V::deny_destination},
    {37, "protocol 0 to 'any'", kOps, true, to(0, 0x0A040001, 0), V::deny_protocol},
    {38, "'any': udp, any port", kOps, true, to(kUdp, 0x0A0400FF, 65535), V::allow},
    {39, "'any': tcp port 0", kOps, true, to(kTcp, 0x0A040000, 0), V::allow},
    {40, "inbound: web:443 -> client", kMail, false,
     with(Packet{}, [](Packet& p) { p.src = 0x0A010203; p.dst = kClient; p.sport = 443; p.dport = 50000; }),
     V::allow},
    {41, "inbound: web:8080 -> client", kMail, false,
     with(Packet{}, [](Packet& p) { p.src = 0x0A010203; p.dst = kClient; p.sport = 8080; p.dport = 443; }),
     V::deny_port},
    {42, "inbound: from outside the services", kMail, false,
     with(Packet{}, [](Packet& p) { p.src = 0x0A090203; p.dst = 0x0A010203; p.sport = 443; }),
     V::deny_destination},
    {43, "outbound uses the destination, not the source", kMail, true,
     with(Packet{}, [](Packet& p) { p.src = 0x0A010203; p.dst = kClient; p.sport = 443; p.dport = 443; }),
     V::deny_destination},
};

TEST(AppPolicy, EdgeCaseTable) {
  NEED_EAL();
  AppRegistry reg;
  Table t;
  ASSERT_EQ(t.build(edge_config(), reg, 1), "");
  ASSERT_EQ(reg.find("com.example.mail"), kMail);
  ASSERT_EQ(reg.find("com.example.ops"), kOps);
  ASSERT_EQ(reg.find("com.example.frag"), kFrag);
  ASSERT_EQ(reg.find("com.example.alt"), kAlt);
  for (const EdgeCase& c : kEdgeCases) {
    const auto b = bytes_of(c.packet);
    Ipv4Info info;  // the precondition: a packet parse_ipv4 accepts
    ASSERT_EQ(parse_ipv4(b.data(), static_cast<uint32_t>(b.size()), &info), kPass) << "case " << c.number;
    EXPECT_EQ(classify_one(*t.t, key_of(c.packet, c.app, c.outbound)), c.expected)
        << "case " << c.number << ": " << c.what << " -> "
        << policy_verdict_name(classify_one(*t.t, key_of(c.packet, c.app, c.outbound)));
  }
}

TEST(AppPolicy, EmptyBurstWritesNothing) {
  NEED_EAL();
  AppRegistry reg;
  Table t;
  ASSERT_EQ(t.build(edge_config(), reg, 1), "");
  V v[1] = {V::count};
  policy_classify(*t.t, nullptr, 0, v);
  EXPECT_EQ(v[0], V::count);
}

TEST(AppPolicy, NoAppsMeansIndexZeroReachesEveryService) {
  NEED_EAL();
  Config cfg = edge_config();
  cfg.apps.clear();
  AppRegistry reg;
  Table t;
  ASSERT_EQ(t.build(cfg, reg, 1), "");
  EXPECT_EQ(reg.size(), 1u) << "no app ids to register";
  EXPECT_EQ(classify_one(*t.t, key_of(to(kTcp, 0x0A010203, 443), 0, true)), V::allow);
  EXPECT_EQ(classify_one(*t.t, key_of(to(kIcmp, 0x0A030001, 0), 0, true)), V::allow);
  EXPECT_EQ(classify_one(*t.t, key_of(to(kUdp, 0x0A010501, 8443), 0, true)), V::allow);
  EXPECT_EQ(classify_one(*t.t, key_of(to(kTcp, 0x0A010203, 22), 0, true)), V::deny_port);
  EXPECT_EQ(classify_one(*t.t, key_of(to(kTcp, 0x0A090909, 22), 0, true)), V::deny_destination);
  EXPECT_EQ(classify_one(*t.t, key_of(to(kTcp, 0x0A010203, 443), 1, true)), V::deny_no_app);
}

TEST(AppPolicy, NothingConfiguredRefusesEverything) {
  NEED_EAL();
  AppRegistry reg;
  Table t;
  ASSERT_EQ(t.build(Config{}, reg, 1), "");
  EXPECT_EQ(policy_table_info(*t.t).rules, 0u);
  EXPECT_EQ(classify_one(*t.t, key_of(to(kTcp, 0x0A010203, 443), 0, true)), V::deny_no_app);
}

TEST(AppPolicy, SlashZeroCoversEveryAddress) {
  NEED_EAL();
  Config cfg;
  cfg.services = {service("all", {prefix(0, 0)}, {"udp"}, {{53, 53}})};
  cfg.apps = {app("a", {"all"})};
  AppRegistry reg;
  Table t;
  ASSERT_EQ(t.build(cfg, reg, 1), "");
  EXPECT_EQ(classify_one(*t.t, key_of(to(kUdp, 0xFFFFFFFF, 53), 1, true)), V::allow);
  EXPECT_EQ(classify_one(*t.t, key_of(to(kUdp, 0, 53), 1, true)), V::allow);
  EXPECT_EQ(classify_one(*t.t, key_of(to(kUdp, 0x01020304, 54), 1, true)), V::deny_port);
  EXPECT_EQ(classify_one(*t.t, key_of(to(kTcp, 0x01020304, 53), 1, true)), V::deny_protocol);
}

TEST(AppPolicy, BadConfigsAreErrorsAndChangeNothing) {
  NEED_EAL();
  AppRegistry reg;
  const uint64_t heap = heap_allocated();
  Table t;
  Config unknown = edge_config();
  unknown.apps.push_back(app("new.app", {"nope"}));
  EXPECT_NE(t.build(unknown, reg, 1).find("unknown service"), std::string::npos);
  Config proto = edge_config();
  proto.services[0].protocols = {"sctp"};
  EXPECT_NE(t.build(proto, reg, 1).find("unknown protocol"), std::string::npos);
  Config v6 = edge_config();
  v6.services[0].subnets[0] = *config::parse_prefix("2001:db8::/32");
  EXPECT_NE(t.build(v6, reg, 1).find("not an IPv4 prefix"), std::string::npos);
  Config range = edge_config();
  range.services[0].ports = {{90, 80}};
  EXPECT_NE(t.build(range, reg, 1).find("port range"), std::string::npos);
  EXPECT_EQ(t.t, nullptr);
  EXPECT_EQ(reg.size(), 1u) << "a failed build registers no app id";
  EXPECT_EQ(heap_allocated(), heap) << "a failed build leaves no DPDK memory behind";
}

TEST(AppPolicy, GenerationInUseIsRefused) {
  NEED_EAL();
  AppRegistry reg;
  Table a, b;
  ASSERT_EQ(a.build(edge_config(), reg, 7), "");
  EXPECT_EQ(policy_table_generation(*a.t), 7u);
  Config other = edge_config();
  other.services[0].ports = {{8080, 8080}};
  EXPECT_NE(b.build(other, reg, 7).find("exists"), std::string::npos);
  EXPECT_EQ(b.t, nullptr);
  // The live table is untouched (rte_acl_create would have handed it back for reuse).
  EXPECT_EQ(classify_one(*a.t, key_of(to(kTcp, 0x0A010203, 443), kMail, true)), V::allow);
  EXPECT_EQ(classify_one(*a.t, key_of(to(kTcp, 0x0A010203, 8080), kMail, true)), V::deny_port);
}

TEST(AppPolicy, BurstsOfAnySize) {
  NEED_EAL();
  AppRegistry reg;
  Table t;
  ASSERT_EQ(t.build(edge_config(), reg, 1), "");
  // 1000 keys (several internal chunks) against one-by-one answers.
  std::vector<PolicyKey> keys;
  for (int i = 0; i < 1000; i++) {
    const EdgeCase& c = kEdgeCases[static_cast<size_t>(i) % std::size(kEdgeCases)];
    keys.push_back(key_of(c.packet, c.app, c.outbound));
  }
  std::vector<const PolicyKey*> ptrs;
  for (const auto& k : keys) ptrs.push_back(&k);
  for (uint32_t n : {1u, 31u, 32u, 33u, 64u, 65u, 128u, 1000u}) {
    std::vector<V> v(n, V::count);
    policy_classify(*t.t, ptrs.data(), n, v.data());
    for (uint32_t i = 0; i < n; i++) {
      const EdgeCase& c = kEdgeCases[i % std::size(kEdgeCases)];
      ASSERT_EQ(v[i], c.expected) << "n=" << n << " i=" << i << " case " << c.number;
    }
  }
}

// ---------------------------------------------------------------- 2. keys and the registry

TEST(PolicyKey, AclFieldsAreInNetworkOrderAndPadsZero) {
  Packet p = to(kUdp, 0x0A010203, 0x1234);
  p.sport = 0xABCD;
  PolicyKey k;
  std::memset(&k, 0xEE, sizeof(k));
  const auto b = bytes_of(p);
  policy_key_from_ipv4(b.data(), static_cast<uint32_t>(b.size()), 0x0102, true, &k);
  const auto* raw = reinterpret_cast<const uint8_t*>(&k);
  EXPECT_EQ(k.app, 0x0102) << "host order: not an rte_acl field";
  k.app = 0;
  const uint8_t expected[16] = {kUdp, 0, 0, 0, 10, 1, 2, 3, 0x12, 0x34, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(std::memcmp(raw, expected, 16), 0);
  policy_key_from_ipv4(b.data(), static_cast<uint32_t>(b.size()), 0x0102, false, &k);
  k.app = 0;
  const uint8_t inbound[16] = {kUdp, 0, 0, 0, 198, 51, 100, 2, 0xAB, 0xCD, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(std::memcmp(raw, inbound, 16), 0);
}

TEST(PolicyKey, NeverReadsPastTotalLength) {
  // Bytes after the datagram (link padding) are not L4 header.
  Packet p = to(kUdp, 0x0A010203, 53);
  p.l4_len = 4;  // ports present, UDP header truncated
  auto b = bytes_of(p);
  b.resize(b.size() + 16, 0x77);
  PolicyKey k;
  policy_key_from_ipv4(b.data(), static_cast<uint32_t>(b.size()), 1, true, &k);
  EXPECT_EQ(k.remote_port, 0);
  // A buffer shorter than the total length: the bytes present bound the read.
  Packet q = to(kTcp, 0x0A010203, 443);
  auto c = bytes_of(q);
  policy_key_from_ipv4(c.data(), 30, 1, true, &k);
  EXPECT_EQ(k.remote_port, 0);
}

TEST(AppRegistry, IndexZeroIsReservedAndIdsAreChecked) {
  AppRegistry reg;
  EXPECT_EQ(reg.size(), 1u);
  EXPECT_EQ(reg.name(0), "");
  EXPECT_EQ(reg.find(""), -1);
  EXPECT_EQ(reg.add(""), -1);
  EXPECT_EQ(reg.add(std::string(kMaxAppIdLen + 1, 'x')), -1);
  EXPECT_EQ(reg.add(std::string(kMaxAppIdLen, 'x')), 1);
  EXPECT_EQ(reg.name(1), std::string(kMaxAppIdLen, 'x'));
  EXPECT_EQ(reg.add("a"), 2);
  EXPECT_EQ(reg.add("a"), 2);
  EXPECT_EQ(reg.find("a"), 2);
  EXPECT_EQ(reg.find("b"), -1);
  EXPECT_EQ(reg.name(3), "");
  EXPECT_EQ(reg.size(), 3u);
}

TEST(AppRegistry, FullRegistryRefusesNewIdsButKeepsOldOnes) {
  AppRegistry reg;
  for (unsigned i = 1; i < kMaxApps; i++) ASSERT_EQ(reg.add("app" + std::to_string(i)), static_cast<int>(i));
  EXPECT_EQ(reg.size(), kMaxApps);
  EXPECT_EQ(reg.add("one.more"), -1);
  EXPECT_EQ(reg.add("app7"), 7);
  EXPECT_EQ(reg.find("app255"), 255);
}

TEST(AppRegistry, FullRegistryFailsTheBuildAllOrNothing) {
  NEED_EAL();
  AppRegistry reg;
  for (unsigned i = 1; i < kMaxApps - 1; i++) ASSERT_GE(reg.add("app" + std::to_string(i)), 0);
  Config cfg;
  cfg.services = {service("s", {prefix(0x0A000000, 8)}, {}, {})};
  cfg.apps = {app("app1", {"s"}), app("new1", {"s"}), app("new2", {"s"})};  // 2 new, room for 1
  Table t;
  EXPECT_NE(t.build(cfg, reg, 1).find("too many app ids"), std::string::npos);
  EXPECT_EQ(reg.size(), kMaxApps - 1);
  EXPECT_EQ(reg.find("new1"), -1);
  cfg.apps.pop_back();  // one new id fits
  ASSERT_EQ(t.build(cfg, reg, 2), "");
  EXPECT_EQ(reg.find("new1"), static_cast<int>(kMaxApps - 1));
  EXPECT_EQ(classify_one(*t.t, key_of(to(kTcp, 0x0A000001, 1), kMaxApps - 1, true)), V::allow);
}

TEST(AppRegistry, IndicesAreStableAcrossRebuilds) {
  NEED_EAL();
  AppRegistry reg;
  Config cfg;
  cfg.services = {service("s1", {prefix(0x0A010000, 16)}, {}, {}),
                  service("s2", {prefix(0x0A020000, 16)}, {}, {})};
  cfg.apps = {app("a", {"s1"}), app("b", {"s2"}), app("c", {"s1", "s2"})};
  Table t1;
  ASSERT_EQ(t1.build(cfg, reg, 1), "");
  EXPECT_EQ(reg.find("a"), 1);
  EXPECT_EQ(reg.find("b"), 2);
  EXPECT_EQ(reg.find("c"), 3);
  // Reordered, "b" removed, "d" added: old ids keep their index, "d" gets the next one.
  cfg.apps = {app("d", {"s2"}), app("c", {"s1"}), app("a", {"s2"})};
  Table t2;
  ASSERT_EQ(t2.build(cfg, reg, 2), "");
  EXPECT_EQ(reg.find("a"), 1);
  EXPECT_EQ(reg.find("b"), 2);
  EXPECT_EQ(reg.find("c"), 3);
  EXPECT_EQ(reg.find("d"), 4);
  const PolicyKey to_s1_b = key_of(to(kTcp, 0x0A010001, 1), 2, true);
  EXPECT_EQ(classify_one(*t1.t, to_s1_b), V::deny_destination);
  EXPECT_EQ(classify_one(*t2.t, to_s1_b), V::deny_no_app) << "b was removed";
  EXPECT_EQ(classify_one(*t2.t, key_of(to(kTcp, 0x0A020001, 1), 4, true)), V::allow);
  EXPECT_EQ(classify_one(*t1.t, key_of(to(kTcp, 0x0A020001, 1), 4, true)), V::deny_no_app);
  EXPECT_EQ(classify_one(*t1.t, key_of(to(kTcp, 0x0A010001, 1), 1, true)), V::allow);
  EXPECT_EQ(classify_one(*t2.t, key_of(to(kTcp, 0x0A010001, 1), 1, true)), V::deny_destination);
}

TEST(AppRegistry, ReadersRaceTheWriter) {
  AppRegistry reg;
  const auto id = [](unsigned i) { return "com.example.app" + std::to_string(i * 7919); };
  constexpr int kReaders = 3;
  std::atomic<bool> done{false};
  std::atomic<unsigned> full_passes{0};  // passes that saw the registry full
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; r++) {
    readers.emplace_back([&] {
      bool counted = false;
      while (!done.load(std::memory_order_acquire)) {
        const unsigned n = reg.size();
        for (unsigned i = 1; i < n; i++) {
          // Every index below the published count has its whole name, found at that index.
          if (reg.name(i) != id(i) || reg.find(id(i)) != static_cast<int>(i)) bad++;
        }
        // An id is never found before the count that covers it is published.
        if (n < kMaxApps && reg.find(id(n + 1)) >= 0 && reg.size() <= n) bad++;
        if (n == kMaxApps && !counted) {
          counted = true;
          full_passes++;
        }
      }
    });
  }
  for (unsigned i = 1; i < kMaxApps; i++) {
    ASSERT_EQ(reg.add(id(i)), static_cast<int>(i));
    if (i % 16 == 0) std::this_thread::yield();
  }
  // Stop once every reader has checked the full registry at least once.
  while (full_passes.load() < kReaders) std::this_thread::yield();
  done.store(true, std::memory_order_release);
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// ---------------------------------------------------------------- 3. naive reference

/// The rules written as plainly as possible: a loop over the app's services.
V reference(const Config& cfg, const AppRegistry& reg, uint32_t app, uint8_t proto, uint32_t addr,
            uint16_t port) {
  std::vector<const ServiceConfig*> mine;
  const auto by_name = [&](const std::string& n) {
    for (const auto& s : cfg.services)
      if (s.name == n) return &s;
    return static_cast<const ServiceConfig*>(nullptr);
  };
  if (cfg.apps.empty()) {
    if (app == 0)
      for (const auto& s : cfg.services) mine.push_back(&s);
  } else {
    for (const auto& a : cfg.apps) {
      if (app != 0 && reg.find(a.id) == static_cast<int>(app))
        for (const auto& n : a.services) mine.push_back(by_name(n));
    }
  }
  if (mine.empty()) return V::deny_no_app;
  bool dest = false, prot = false;
  for (const ServiceConfig* s : mine) {
    bool covers = false;
    for (const IpPrefix& p : s->subnets) covers |= p.contains(config::IpAddr::from_v4_host(addr));
    if (!covers) continue;
    dest = true;
    bool listed = false;
    for (const std::string& name : s->protocols) {
      listed |= (name == "tcp" && proto == kTcp) || (name == "udp" && proto == kUdp) ||
                (name == "icmp" && proto == kIcmp);
    }
    if (!listed) continue;
    prot = true;
    if (proto == kIcmp || s->ports.empty()) return V::allow;
    for (const PortRange& r : s->ports)
      if (port >= r.first && port <= r.last) return V::allow;
  }
  return !dest ? V::deny_destination : !prot ? V::deny_protocol : V::deny_port;
}

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  uint64_t below(uint64_t n) { return n == 0 ? 0 : g() % n; }
  bool chance(unsigned percent) { return below(100) < percent; }
  template <class T> const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }
};

uint32_t mask_of(uint8_t len) { return len == 0 ? 0 : ~0u << (32 - len); }

Config random_config(Rng& rng, bool with_apps) {
  Config cfg;
  const unsigned n_services = 1 + static_cast<unsigned>(rng.below(40));
  std::vector<IpPrefix> all_subnets;
  static const uint8_t kLens[] = {8, 12, 16, 20, 22, 24, 24, 26, 28, 30, 31, 32, 32};
  for (unsigned s = 0; s < n_services; s++) {
    std::vector<IpPrefix> subnets;
    const unsigned n_subnets = 1 + static_cast<unsigned>(rng.below(4));
    for (unsigned i = 0; i < n_subnets; i++) {
      uint8_t len = kLens[rng.below(std::size(kLens))];
      if (rng.chance(1)) len = 0;  // 0.0.0.0/0: validation allows it
      uint32_t base = 0x0A000000 | static_cast<uint32_t>(rng.below(8)) << 16 |
                      static_cast<uint32_t>(rng.g() & 0xFFFF);
      if (!all_subnets.empty() && rng.chance(30)) {
        // Inside or around an existing subnet: overlaps on purpose.
        const IpPrefix& other = rng.pick(all_subnets);
        base = other.addr.v4_host() + static_cast<uint32_t>(rng.below(uint64_t{1} << (32 - std::max<uint8_t>(other.len, 8))));
        len = static_cast<uint8_t>(std::min<unsigned>(32, other.len + rng.below(9)));
      }
      subnets.push_back(prefix(base & mask_of(len), len));
      all_subnets.push_back(subnets.back());
    }
    std::vector<std::string> protocols;
    for (const char* p : {"tcp", "udp", "icmp"})
      if (rng.chance(60)) protocols.push_back(p);
    std::shuffle(protocols.begin(), protocols.end(), rng.g);  // empty = the default (all)
    std::vector<PortRange> ports;
    if (rng.chance(60)) {
      const unsigned n = 1 + static_cast<unsigned>(rng.below(4));
      for (unsigned i = 0; i < n; i++) {
        static const uint16_t kEdges[] = {0, 1, 22, 80, 1023, 1024, 49151, 65534, 65535};
        const uint16_t first = rng.chance(40) ? kEdges[rng.below(std::size(kEdges))]
                                              : static_cast<uint16_t>(rng.below(65536));
        const uint16_t last = rng.chance(40) ? first
                              : rng.chance(20) ? 65535
                                               : static_cast<uint16_t>(first + rng.below(65536u - first));
        ports.push_back({first, last});
      }
    }
    cfg.services.push_back(service("svc" + std::to_string(s), subnets, protocols, ports));
  }
  if (with_apps) {
    const unsigned n_apps = 1 + static_cast<unsigned>(rng.below(50));
    for (unsigned a = 0; a < n_apps; a++) {
      std::vector<std::string> names;
      const unsigned n = 1 + static_cast<unsigned>(rng.below(std::min(8u, n_services)));
      for (unsigned i = 0; i < n; i++) names.push_back(rng.pick(cfg.services).name);  // repeats allowed
      cfg.apps.push_back(app("com.example.app" + std::to_string(a), names));
    }
  }
  return cfg;
}

/// A packet and what the reference says of it.
struct Probe {
  std::vector<uint8_t> bytes;
  uint16_t app;
  bool outbound;
  V expected;
  std::string describe() const {
    std::string s = "app " + std::to_string(app) + (outbound ? " out " : " in ");
    char buf[8];
    for (size_t i = 0; i < std::min<size_t>(bytes.size(), 28); i++) {
      snprintf(buf, sizeof buf, "%02x", bytes[i]);
      s += buf;
    }
    return s + " -> " + policy_verdict_name(expected);
  }
};

Probe random_probe(Rng& rng, const Config& cfg, const AppRegistry& reg) {
  Probe pr;
  // App index: mostly a configured one, sometimes 0, unknown, or >= kMaxApps.
  const unsigned r = static_cast<unsigned>(rng.below(100));
  if (cfg.apps.empty()) pr.app = r < 85 ? 0 : static_cast<uint16_t>(1 + rng.below(300));
  else if (r < 85) pr.app = static_cast<uint16_t>(reg.find(rng.pick(cfg.apps).id));
  else if (r < 90) pr.app = 0;
  else if (r < 95) pr.app = static_cast<uint16_t>(reg.size() + rng.below(kMaxApps - reg.size() + 1));
  else pr.app = static_cast<uint16_t>(kMaxApps + rng.below(65536 - kMaxApps));

  const ServiceConfig& s = rng.pick(cfg.services);
  const IpPrefix& net = rng.pick(s.subnets);
  const uint32_t base = net.addr.v4_host();
  const uint64_t size = uint64_t{1} << (32 - net.len);
  uint32_t addr;
  const unsigned a = static_cast<unsigned>(rng.below(100));
  if (a < 60) addr = base + static_cast<uint32_t>(rng.below(size));
  else if (a < 70) addr = base;
  else if (a < 80) addr = static_cast<uint32_t>(base + size - 1);
  else if (a < 85) addr = base - 1;
  else if (a < 90) addr = static_cast<uint32_t>(base + size);
  else addr = static_cast<uint32_t>(rng.g());

  uint8_t proto;
  const unsigned p = static_cast<unsigned>(rng.below(100));
  static const uint8_t kOther[] = {0, kGre, 50, 132, 255, 41};
  proto = p < 30 ? kTcp : p < 60 ? kUdp : p < 85 ? kIcmp : kOther[rng.below(std::size(kOther))];

  uint16_t port;
  if (!s.ports.empty() && rng.chance(60)) {
    const PortRange& range = rng.pick(s.ports);
    const uint16_t edges[] = {static_cast<uint16_t>(range.first - 1), range.first, range.last,
                              static_cast<uint16_t>(range.last + 1)};
    port = edges[rng.below(4)];
  } else {
    port = static_cast<uint16_t>(rng.below(65536));
  }

  Packet pk;
  pk.proto = proto;
  pr.outbound = rng.chance(50);
  const uint32_t other = static_cast<uint32_t>(rng.g());
  const uint16_t other_port = static_cast<uint16_t>(rng.g());
  pk.src = pr.outbound ? other : addr;
  pk.dst = pr.outbound ? addr : other;
  pk.sport = pr.outbound ? other_port : port;
  pk.dport = pr.outbound ? port : other_port;
  const uint32_t min_l4 = proto == kTcp ? 20 : proto == kUdp ? 8 : 0;
  pk.l4_len = std::max<uint32_t>(min_l4, 8) + static_cast<uint32_t>(rng.below(40));
  if (rng.chance(10)) pk.ihl = static_cast<uint8_t>(6 + rng.below(10));
  bool port_seen = min_l4 != 0;
  const unsigned f = static_cast<unsigned>(rng.below(100));
  if (f < 5) {
    pk.frag = static_cast<uint16_t>(1 + rng.below(wire::kIpv4OffsetMask));  // later fragment
    if (rng.chance(50)) pk.frag |= wire::kIpv4FlagMf;
    port_seen = false;
  } else if (f < 10) {
    pk.frag = wire::kIpv4FlagMf;  // first fragment: ports count
  } else if (f < 15) {
    pk.frag = wire::kIpv4FlagDf;
  }
  if (rng.chance(5)) {
    pk.l4_len = static_cast<uint32_t>(rng.below(std::max<uint32_t>(min_l4, 1)));  // truncated
    if (pk.l4_len < min_l4) port_seen = false;
  }
  pr.bytes = bytes_of(pk);
  pr.expected = reference(cfg, reg, pr.app, proto, addr, port_seen ? port : 0);
  return pr;
}

/// Classifies `probes` in bursts of random sizes; returns the number of mismatches (and
/// reports the first few).
int check_probes(const PolicyTable& t, const std::vector<Probe>& probes, Rng& rng, uint64_t seed) {
  std::vector<PolicyKey> keys(probes.size());
  for (size_t i = 0; i < probes.size(); i++) {
    policy_key_from_ipv4(probes[i].bytes.data(), static_cast<uint32_t>(probes[i].bytes.size()),
                         probes[i].app, probes[i].outbound, &keys[i]);
  }
  std::vector<const PolicyKey*> ptrs;
  for (const auto& k : keys) ptrs.push_back(&k);
  std::vector<V> got(probes.size(), V::count);
  for (size_t at = 0; at < probes.size();) {
    const size_t n = std::min<size_t>(probes.size() - at, 1 + rng.below(100));
    policy_classify(t, ptrs.data() + at, static_cast<uint32_t>(n), got.data() + at);
    at += n;
  }
  int bad = 0;
  for (size_t i = 0; i < probes.size(); i++) {
    if (got[i] == probes[i].expected) continue;
    if (++bad <= 5)
      ADD_FAILURE() << "seed " << seed << " probe " << i << ": " << probes[i].describe() << ", got "
                    << policy_verdict_name(got[i]);
  }
  return bad;
}

TEST(AppPolicy, MatchesNaiveReferenceOnRandomConfigs) {
  NEED_EAL();
  constexpr int kConfigs = 40;
  constexpr int kProbes = 10000;
  unsigned verdict_seen[kPolicyVerdicts] = {};
  uint64_t rules = 0;
  for (int c = 0; c < kConfigs; c++) {
    const uint64_t seed = 0x7061706f6c6963ull + static_cast<uint64_t>(c);
    Rng rng(seed);
    const Config cfg = random_config(rng, c % 5 != 4);  // every fifth without apps
    AppRegistry reg;
    Table t;
    ASSERT_EQ(t.build(cfg, reg, static_cast<uint64_t>(c)), "") << "seed " << seed;
    rules += policy_table_info(*t.t).rules;
    std::vector<Probe> probes;
    for (int i = 0; i < kProbes; i++) probes.push_back(random_probe(rng, cfg, reg));
    for (const Probe& p : probes) verdict_seen[static_cast<unsigned>(p.expected)]++;
    ASSERT_EQ(check_probes(*t.t, probes, rng, seed), 0) << "seed " << seed;
  }
  // The generator must exercise every verdict, or the comparison proves little.
  for (unsigned v = 0; v < kPolicyVerdicts; v++)
    EXPECT_GT(verdict_seen[v], 1000u) << policy_verdict_name(static_cast<V>(v));
  RecordProperty("rules", std::to_string(rules));
}

// ---------------------------------------------------------------- 4. reloads and memory

TEST(AppPolicy, TwoGenerationsAnswerAtOnceAndFreeingLeavesNoMemory) {
  NEED_EAL();
  const uint64_t heap_before = heap_allocated();
  AppRegistry reg;
  {
    Rng rng(42);
    const Config old_cfg = random_config(rng, true);
    Config new_cfg = random_config(rng, true);
    new_cfg.apps.erase(new_cfg.apps.begin());  // app0 removed: its index must say no_app
    Table old_t, new_t;
    ASSERT_EQ(old_t.build(old_cfg, reg, 1), "");
    const std::vector<Probe> probes_old = [&] {
      std::vector<Probe> v;
      for (int i = 0; i < 5000; i++) v.push_back(random_probe(rng, old_cfg, reg));
      return v;
    }();
    ASSERT_EQ(new_t.build(new_cfg, reg, 2), "");
    EXPECT_GT(policy_table_info(*old_t.t).heap_bytes, 0u);
    std::vector<Probe> probes_new;
    for (int i = 0; i < 5000; i++) probes_new.push_back(random_probe(rng, new_cfg, reg));
    // The same packets judged by each generation against its own config.
    std::vector<Probe> old_under_new = probes_old;
    for (Probe& p : old_under_new) {
      PolicyKey k;
      policy_key_from_ipv4(p.bytes.data(), static_cast<uint32_t>(p.bytes.size()), p.app, p.outbound, &k);
      // The reference under the new config, from the key's fields (host order).
      const uint32_t addr = load_be32(reinterpret_cast<const uint8_t*>(&k.remote_addr));
      const uint16_t port = load_be16(reinterpret_cast<const uint8_t*>(&k.remote_port));
      p.expected = reference(new_cfg, reg, p.app, k.proto, addr, port);
    }
    EXPECT_EQ(check_probes(*old_t.t, probes_old, rng, 42), 0);
    EXPECT_EQ(check_probes(*new_t.t, probes_new, rng, 42), 0);
    EXPECT_EQ(check_probes(*new_t.t, old_under_new, rng, 42), 0);
    const uint16_t app0 = static_cast<uint16_t>(reg.find("com.example.app0"));
    EXPECT_EQ(classify_one(*new_t.t, key_of(to(kIcmp, 0x0A000001, 0), app0, true)), V::deny_no_app);
    // During a reload's grace period some lcores read the old table, some the new one, and
    // several may read one table: classify from threads in parallel.
    std::atomic<int> bad{0};
    std::vector<std::thread> lcores;
    for (int i = 0; i < 4; i++) {
      lcores.emplace_back([&, i] {
        Rng own(static_cast<uint64_t>(i));
        for (int round = 0; round < 10; round++)
          bad += i % 2 ? check_probes(*old_t.t, probes_old, own, 42) : check_probes(*new_t.t, old_under_new, own, 42);
      });
    }
    for (auto& l : lcores) l.join();
    EXPECT_EQ(bad.load(), 0);
    // The old generation goes (as after an RCU grace period); the new one still answers.
    policy_table_free(old_t.t);
    old_t.t = nullptr;
    EXPECT_EQ(rte_acl_find_existing("tg_policy_1"), nullptr);
    EXPECT_EQ(check_probes(*new_t.t, probes_new, rng, 42), 0);
  }
  EXPECT_EQ(rte_acl_find_existing("tg_policy_2"), nullptr);
  EXPECT_EQ(heap_allocated(), heap_before) << "DPDK memory leaked by build/free";
}

}  // namespace
}  // namespace tg::dp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new tg::dp::Env);
  return RUN_ALL_TESTS();
}
