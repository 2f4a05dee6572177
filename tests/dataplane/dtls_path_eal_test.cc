// The DTLS fast path of the poll lcore in-process (STYLE #25): ring ports, a real DTLS 1.2
// PSK handshake between a wolfSSL client (the peer) and our handshake engine, the keys
// installed on the lcore through the TLS workers' message ring, and then records both
// ways through l2_input_burst: the client's records reach the backend as inner packets,
// the lcore's records are read by the wolfSSL client, and replayed, tampered, truncated and
// out-of-window records are dropped with their reasons. Every case runs for every plain-PSK
// AEAD suite of the wolfSSL build with each record back end: the cryptodev (crypto_aesni_mb)
// through its synchronous CPU crypto API, the same device through its queue pair (the path
// of a cryptodev without CPU crypto), and wolfCrypt; and one burst mixes sessions of all
// three. After every test the mbuf pool is full again.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <tuple>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/dtls/dtls_handshake.h"
#include "dataplane/dtls_path.h"
#include "dataplane/record_crypto.h"
#include "dataplane/session_table.h"
#include "dataplane/stages.h"
#include "dataplane/tunnel_path.h"
#include "tests/crypto/wolfssl_dtls_endpoint.h"
#include "tests/support/ring_dataplane.h"

namespace tg::dp {
namespace {

using Bytes = std::vector<uint8_t>;
using test::WolfDtlsEndpoint;

constexpr uint32_t kOutAddr = 0xC0000201;     // 192.0.2.1
constexpr uint32_t kClient = 0xC0000202;      // 192.0.2.2
constexpr uint16_t kClientPort = 40000;
constexpr uint32_t kInAddr = 0xC6120001;      // 198.18.0.1
constexpr uint32_t kBackendRtr = 0xC6120002;  // 198.18.0.2
constexpr uint32_t kBackend = 0xC612010A;     // 198.18.1.10
constexpr uint32_t kPoolAddr = 0xC6336402;    // 198.51.100.2
const MacAddr kClientMac = {{0x02, 0, 0, 0, 0, 0x02}};
const MacAddr kRouterMac = {{0x02, 0, 0, 0, 0, 0x22}};

testing::RingDataplane* g_bed = nullptr;
std::string g_bed_error;

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    testing::RingDataplane* b = nullptr;
    g_bed_error = testing::ring_dataplane_create("dtls_path_eal_test", 2047, &b);
    if (!g_bed_error.empty()) return;
    g_bed = b;
  }
};

enum class Backend { kIpsecMb, kCpuCrypto, kQueuePair, kWolfCrypt };

// Every plain-PSK AEAD suite this wolfSSL build has, with each back end.
using DtlsPathParam = std::tuple<std::string, Backend>;

std::vector<std::string> suites_of_this_build() {
  return test::wolfssl_suites_available({"PSK-AES128-GCM-SHA256", "PSK-AES256-GCM-SHA384", "PSK-CHACHA20-POLY1305"});
}

class DtlsPath : public ::testing::TestWithParam<DtlsPathParam> {
 protected:
  void SetUp() override {
    if (g_bed == nullptr && geteuid() != 0) GTEST_SKIP() << g_bed_error;
    ASSERT_NE(g_bed, nullptr) << g_bed_error;
    b_ = g_bed;
    Dataplane& dp = b_->dp;
    ASSERT_NE(dp.dtls_slots, nullptr) << "DTLS is on by default: the fast path must exist";
    if (backend() != Backend::kWolfCrypt && dp.crypto->dev_id < 0) GTEST_SKIP() << "no cryptodev here";
    if (backend() == Backend::kIpsecMb && dp.crypto->ipsec_mb == nullptr) GTEST_SKIP() << "no intel-ipsec-mb here";
    // DPDK 22.11's crypto_aesni_mb has RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO: the default path.
    ASSERT_TRUE(dp.crypto->dev_id < 0 || dp.crypto->cpu_crypto) << dp.crypto->name << " without CPU crypto";
    neigh_ = std::make_unique<NeighbourTable>(64);
    dp.neighbours = neigh_.get();
    stats_ = std::make_unique<shm::StatsSegment>();
    ctx_ = std::make_unique<LcoreCtx>();
    ctx_->dp = &dp;
    ctx_->stats = &stats_->lcores[0];
    ctx_->held_cap = 4;
    ctx_->held.reserve(4);
    ctx_->dtls = b_->tunnel.dtls_lcores[0];
    ASSERT_TRUE(dp.sessions->bind(kPoolAddr, ref_));
    handshake();
  }
  /// The record back end `b` as cipher_state_create sees it: the process' engines
  /// (dataplane.cryptodev "auto": intel-ipsec-mb for AES-GCM), its cryptodev alone (with its
  /// CPU crypto API, or told to use its queue pair), or none (wolfCrypt).
  RecordCryptoDev dev_for(Backend b) const {
    if (b == Backend::kWolfCrypt) return RecordCryptoDev{};
    RecordCryptoDev d = *b_->dp.crypto;
    if (b != Backend::kIpsecMb) d.ipsec_mb = nullptr;
    if (b == Backend::kQueuePair) d.cpu_crypto = false;
    return d;
  }
  /// The engine a session of `b` gets: intel-ipsec-mb has AES-GCM only, ChaCha20-Poly1305
  /// stays on the cryptodev's CPU crypto.
  RecordEngine engine_of(Backend b) const {
    switch (b) {
      case Backend::kIpsecMb:
        return suite_.find("CHACHA") != std::string::npos ? RecordEngine::kCpuCrypto : RecordEngine::kIpsecMb;
      case Backend::kCpuCrypto: return RecordEngine::kCpuCrypto;
      case Backend::kQueuePair: return RecordEngine::kQueuePair;
      case Backend::kWolfCrypt: break;
    }
    return RecordEngine::kWolfCrypt;
  }
  void TearDown() override {
    if (b_ == nullptr || ctx_ == nullptr) return;
    dtls_lcore_shutdown(*ctx_);  // releases the slot it owns
    EXPECT_EQ(ctx_->stats->dtls_sessions, 0u);
    EXPECT_TRUE(b_->dp.sessions->unbind(kPoolAddr, ref_));
    for (const Peer& p : peers_) EXPECT_TRUE(b_->dp.sessions->unbind(p.addr, p.ref));
    for (auto& h : ctx_->held) rte_pktmbuf_free(h.m);
    for (int p = 0; p < 3; p++)
      for (rte_mbuf* m : sent(p)) rte_pktmbuf_free(m);
    for (unsigned w = 0; w < b_->dp.n_workers; w++) {
      void* obj;
      while (rte_ring_dequeue(b_->dp.workers[w].ring, &obj) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(obj));
      while (rte_ring_dequeue(b_->dp.workers[w].dtls_ring, &obj) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(obj));
    }
    EXPECT_EQ(rte_mempool_in_use_count(b_->dp.pool), 0u) << "mbufs leaked";
  }

  // A wolfSSL client and our handshake engine agree on keys; the keys go to the lcore as a
  // TLS worker sends them (install message), with the backend under test.
  void handshake() {
    suite_ = std::get<0>(GetParam());
    client_ = install_session(backend(), kPoolAddr, kClientPort, ref_);
    if (client_ == nullptr) return;
    // The backend's router and the client are known, so packets leave at once.
    inject(1, {frame(mac(1), kRouterMac, wire::kEtherTypeArp, arp_reply(kRouterMac, kBackendRtr, kInAddr))});
    inject(0, {frame(mac(0), kClientMac, wire::kEtherTypeArp, arp_reply(kClientMac, kClient, kOutAddr))});
  }
  /// A DTLS session of suite_ for pool address `addr` (bound to `ref`) from the client's UDP
  /// port `port`, its records protected by `b` on the lcore. @return the wolfSSL client.
  std::unique_ptr<WolfDtlsEndpoint> install_session(Backend b, uint32_t addr, uint16_t port, SessionRef ref) {
    std::string error;
    const Bytes psk(32, static_cast<uint8_t>(0x5a + port));
    server_ctx_ = dtls::DtlsServerContext::create(suite_, &error);
    EXPECT_NE(server_ctx_, nullptr) << error;
    if (server_ctx_ == nullptr) return nullptr;
    auto server = dtls::DtlsHandshake::create(*server_ctx_, {kClient, port}, psk, &error);
    EXPECT_NE(server, nullptr) << error;
    auto client = WolfDtlsEndpoint::create(WolfDtlsEndpoint::Side::kClient, suite_, psk, &error);
    EXPECT_NE(client, nullptr) << error;
    if (server == nullptr || client == nullptr) return nullptr;
    for (int round = 0; round < 8 && !(client->done() && server->status() == dtls::DtlsHandshake::Status::kDone);
         round++) {
      EXPECT_GE(client->handshake(), 0);
      std::vector<std::vector<uint8_t>> out;
      for (const auto& d : client->take_sent()) server->on_datagram(d, &out);
      client->deliver(out);
    }
    EXPECT_TRUE(client->done());
    EXPECT_EQ(server->status(), dtls::DtlsHandshake::Status::kDone);
    crypto::DtlsRecordKeys keys;
    EXPECT_TRUE(server->export_keys(&keys, &error)) << error;
    CipherState* cs = cipher_state_create(dev_for(b), keys, &error);
    EXPECT_NE(cs, nullptr) << error;
    if (cs == nullptr) return nullptr;
    EXPECT_EQ(cs->engine, engine_of(b)) << "every engine has every suite it is given";
    const auto before = ctx_->stats->dtls_sessions;
    auto* msg = static_cast<DtlsCtlMsg*>(rte_zmalloc("test", sizeof(DtlsCtlMsg), 0));
    new (msg) DtlsCtlMsg();
    msg->slot = b_->dp.sessions->slot_index(addr);
    msg->ref = ref.pack();
    msg->addr = addr;
    msg->client_ip = kClient;
    msg->client_port = port;
    msg->local_ip = kOutAddr;
    msg->rx_epoch = msg->tx_epoch = keys.epoch;
    msg->tx_sequence = keys.tx_next_sequence;
    msg->max_inner = 1400;
    msg->cipher = cs;
    keys.wipe();
    EXPECT_EQ(rte_ring_enqueue(b_->dp.dtls_ctl[0], msg), 0);
    dtls_poll_rings(*ctx_);
    EXPECT_EQ(ctx_->stats->dtls_sessions, before + 1u);
    return client;
  }

  Backend backend() const { return std::get<1>(GetParam()); }
  const uint8_t* mac(int port) { return b_->dp.ports[port].mac.b; }
  uint64_t drops(DropReason r) { return ctx_->stats->drops[static_cast<unsigned>(r)]; }
  const shm::EventCounters& events() { return ctx_->stats->events; }
  void inject(uint8_t port, std::vector<rte_mbuf*> pkts) {
    l2_input_burst(*ctx_, port, pkts.data(), static_cast<uint16_t>(pkts.size()));
    tx_flush_all(*ctx_);
  }
  std::vector<rte_mbuf*> sent(int port) {
    std::vector<rte_mbuf*> out;
    void* obj;
    while (rte_ring_dequeue(b_->tx[port], &obj) == 0) out.push_back(static_cast<rte_mbuf*>(obj));
    return out;
  }
  rte_mbuf* frame(const uint8_t* dst_mac, const MacAddr& src_mac, uint16_t type, const Bytes& l3) {
    rte_mbuf* m = rte_pktmbuf_alloc(b_->dp.pool);
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(14 + l3.size())));
    if (p == nullptr) std::abort();
    std::memcpy(p, dst_mac, 6);
    std::memcpy(p + 6, src_mac.b, 6);
    store_be16(p + 12, type);
    std::memcpy(p + 14, l3.data(), l3.size());
    return m;
  }
  static Bytes arp_reply(const MacAddr& smac, uint32_t sip, uint32_t tip) {
    Bytes a = {0, 1, 8, 0, 6, 4, 0, 2};
    for (uint8_t x : smac.b) a.push_back(x);
    for (int i = 0; i < 4; i++) a.push_back(static_cast<uint8_t>(sip >> (24 - 8 * i)));
    for (int i = 0; i < 6; i++) a.push_back(0);
    for (int i = 0; i < 4; i++) a.push_back(static_cast<uint8_t>(tip >> (24 - 8 * i)));
    return a;
  }
  static Bytes ipv4(uint8_t proto, uint32_t src, uint32_t dst, const Bytes& payload) {
    Bytes h(20, 0);
    h[0] = 0x45;
    store_be16(h.data() + 2, static_cast<uint16_t>(20 + payload.size()));
    h[8] = 64;
    h[9] = proto;
    store_be32(h.data() + 12, src);
    store_be32(h.data() + 16, dst);
    store_be16(h.data() + 10, static_cast<uint16_t>(~ones_complement_sum(h.data(), 20)));
    h.insert(h.end(), payload.begin(), payload.end());
    return h;
  }
  static Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload) {
    Bytes u(8, 0);
    store_be16(u.data(), sport);
    store_be16(u.data() + 2, dport);
    store_be16(u.data() + 4, static_cast<uint16_t>(8 + payload.size()));
    u.insert(u.end(), payload.begin(), payload.end());
    return u;
  }
  /// The inner packet a client sends: UDP to the backend with `n` payload bytes.
  static Bytes inner_packet(size_t n, uint8_t fill = 0xab, uint32_t src = kPoolAddr) {
    return ipv4(wire::kIpProtoUdp, src, kBackend, udp(5000, 7, Bytes(n, fill)));
  }
  /// One record the wolfSSL client writes (OpenConnect type byte + payload), as a datagram.
  Bytes client_record(uint8_t type, const Bytes& payload) { return client_record(*client_, type, payload); }
  static Bytes client_record(WolfDtlsEndpoint& client, uint8_t type, const Bytes& payload) {
    Bytes pt{type};
    pt.insert(pt.end(), payload.begin(), payload.end());
    EXPECT_TRUE(client.write(pt));
    auto d = client.take_sent();
    EXPECT_EQ(d.size(), 1u);
    return d.empty() ? Bytes{} : d.front();
  }
  /// A datagram from the client's socket to the gateway's DTLS port, as a frame.
  rte_mbuf* to_gateway(const Bytes& datagram, uint16_t sport = kClientPort) {
    return frame(mac(0), kClientMac, wire::kEtherTypeIpv4,
                 ipv4(wire::kIpProtoUdp, kClient, kOutAddr, udp(sport, b_->dp.dtls_port, datagram)));
  }
  /// The UDP payload of a frame the gateway sent to the client (checked on the way).
  static Bytes from_gateway(rte_mbuf* m, uint16_t dtls_port, uint16_t client_port = kClientPort) {
    const uint8_t* f = rte_pktmbuf_mtod(m, const uint8_t*);
    const uint8_t* ip = f + 14;
    EXPECT_EQ(load_be16(f + 12), wire::kEtherTypeIpv4);
    EXPECT_EQ(ip[9], wire::kIpProtoUdp);
    EXPECT_EQ(load_be32(ip + 12), kOutAddr);
    EXPECT_EQ(load_be32(ip + 16), kClient);
    EXPECT_EQ(ones_complement_sum(ip, 20), 0xffff);
    EXPECT_EQ(load_be16(ip + 2), rte_pktmbuf_pkt_len(m) - 14);
    const uint8_t* u = ip + 20;
    EXPECT_EQ(load_be16(u), dtls_port);
    EXPECT_EQ(load_be16(u + 2), client_port);
    return Bytes(u + 8, u + load_be16(u + 4));
  }
  /// Reads what the gateway sent to the client with the wolfSSL client: the plaintexts.
  std::vector<Bytes> client_reads() {
    std::vector<Bytes> out;
    for (rte_mbuf* m : sent(0)) {
      client_->deliver(from_gateway(m, b_->dp.dtls_port));
      rte_pktmbuf_free(m);
      Bytes pt;
      const int n = client_->read(&pt);
      EXPECT_GT(n, 0) << "the wolfSSL client refused a record of the fast path";
      if (n > 0) out.push_back(pt);
    }
    return out;
  }

  testing::RingDataplane* b_ = nullptr;
  std::unique_ptr<NeighbourTable> neigh_;
  std::unique_ptr<shm::StatsSegment> stats_;
  std::unique_ptr<LcoreCtx> ctx_;
  std::unique_ptr<dtls::DtlsServerContext> server_ctx_;
  std::unique_ptr<WolfDtlsEndpoint> client_;
  std::string suite_;
  const SessionRef ref_{1, 0x4242};
  /// More sessions of the same client (other UDP ports, other pool addresses).
  struct Peer {
    Backend backend;
    uint32_t addr;
    uint16_t port;
    SessionRef ref;
    std::unique_ptr<WolfDtlsEndpoint> client;
  };
  std::vector<Peer> peers_;
};

// Test that the client's records are opened on the lcore and their packets routed to the
// backend (TTL - 1), for small and MTU-sized packets.
TEST_P(DtlsPath, ClientRecordsReachTheBackend) {
  for (size_t n : {1u, 64u, 512u, 1300u}) {
    const Bytes inner = inner_packet(n);
    inject(0, {to_gateway(client_record(0x00, inner))});
    auto out = sent(1);
    ASSERT_EQ(out.size(), 1u) << "payload " << n << ", suite " << suite_;
    const uint8_t* f = rte_pktmbuf_mtod(out[0], const uint8_t*);
    EXPECT_EQ(0, std::memcmp(f, kRouterMac.b, 6));
    ASSERT_EQ(rte_pktmbuf_pkt_len(out[0]), 14 + inner.size());
    EXPECT_EQ(f[14 + 8], 63);
    EXPECT_EQ(0, std::memcmp(f + 14 + 20, inner.data() + 20, inner.size() - 20));
    rte_pktmbuf_free(out[0]);
  }
  EXPECT_EQ(events().dtls_records_decrypted, 4u);
  EXPECT_EQ(events().tunnel_to_backend, 4u);
  // The slot says where its key is (KeyHint) exactly when the key is intel-ipsec-mb's,
  // and for which AES: rx_process prefetches that key's lines from it.
  const DtlsSlot& slot = b_->dp.dtls_slots[b_->dp.sessions->slot_index(kPoolAddr)];
  ASSERT_NE(slot.cipher, nullptr);
  const KeyHint want = engine_of(backend()) != RecordEngine::kIpsecMb ? KeyHint::kNone
                       : suite_.find("AES256") != std::string::npos  ? KeyHint::kIpsecMbAes256
                                                                      : KeyHint::kIpsecMbAes128;
  EXPECT_EQ(slot.key_hint, want);
  // Only the queue-pair path has ops; CPU crypto and wolfCrypt run on the lcore.
  EXPECT_EQ(events().crypto_enqueued, backend() == Backend::kQueuePair ? 4u : 0u);
  EXPECT_EQ(events().crypto_dequeued, events().crypto_enqueued);
  EXPECT_EQ(events().crypto_failed, 0u);
}

// Test that the stage clock charges each stage of both record paths with the burst's
// packets when an iteration is timed, and nothing when none is (stage_clock.h).
TEST_P(DtlsPath, StageClockChargesTheStagesOfBothPaths) {
  using shm::LcoreStage;
  auto stage = [this](LcoreStage s) { return ctx_->stats->stages[static_cast<unsigned>(s)]; };
  inject(0, {to_gateway(client_record(0x00, inner_packet(64)))});
  for (rte_mbuf* m : sent(1)) rte_pktmbuf_free(m);
  for (const shm::StageCounters& k : ctx_->stats->stages) EXPECT_EQ(k.cycles + k.packets + k.bursts, 0u);

  ctx_->clock.begin_timed();  // client -> backend, a burst of 3
  inject(0, {to_gateway(client_record(0x00, inner_packet(64))), to_gateway(client_record(0x00, inner_packet(512))),
             to_gateway(client_record(0x00, inner_packet(1300)))});
  ctx_->clock.end_iteration();
  std::vector<rte_mbuf*> out = sent(1);
  EXPECT_EQ(out.size(), 3u);
  for (rte_mbuf* m : out) rte_pktmbuf_free(m);
  for (LcoreStage s : {LcoreStage::classify, LcoreStage::session_lookup, LcoreStage::decrypt, LcoreStage::policy,
                       LcoreStage::route, LcoreStage::tx}) {
    SCOPED_TRACE(shm::kLcoreStageInfo[static_cast<unsigned>(s)].label);
    EXPECT_EQ(stage(s).packets, 3u);
    EXPECT_EQ(stage(s).bursts, 1u);
    EXPECT_GT(stage(s).cycles, 0u);
  }
  for (LcoreStage s : {LcoreStage::encrypt, LcoreStage::encap}) EXPECT_EQ(stage(s).packets, 0u);

  ctx_->clock.begin_timed();  // backend -> client, a burst of 2
  std::vector<rte_mbuf*> burst;
  for (size_t n : {64u, 1300u})
    burst.push_back(frame(mac(1), kRouterMac, wire::kEtherTypeIpv4,
                          ipv4(wire::kIpProtoUdp, kBackend, kPoolAddr, udp(7, 5000, Bytes(n, 1)))));
  inject(1, burst);
  ctx_->clock.end_iteration();
  EXPECT_EQ(client_reads().size(), 2u);
  for (LcoreStage s : {LcoreStage::encrypt, LcoreStage::encap}) {
    SCOPED_TRACE(shm::kLcoreStageInfo[static_cast<unsigned>(s)].label);
    EXPECT_EQ(stage(s).packets, 2u);
    EXPECT_EQ(stage(s).bursts, 1u);
    EXPECT_GT(stage(s).cycles, 0u);
  }
  for (LcoreStage s : {LcoreStage::classify, LcoreStage::session_lookup, LcoreStage::route, LcoreStage::tx}) {
    SCOPED_TRACE(shm::kLcoreStageInfo[static_cast<unsigned>(s)].label);
    EXPECT_EQ(stage(s).packets, 3u + 2u);
    EXPECT_EQ(stage(s).bursts, 2u);
  }
  EXPECT_EQ(stage(LcoreStage::decrypt).packets, 3u);
  EXPECT_EQ(stage(LcoreStage::policy).packets, 3u);
}

// Test that the lcore's records for the client are accepted by the wolfSSL client with the
// packet intact, several in a row (sequence numbers advance).
TEST_P(DtlsPath, LcoreRecordsAreReadByTheWolfsslClient) {
  std::vector<rte_mbuf*> burst;
  std::vector<Bytes> want;
  for (size_t n : {1u, 64u, 512u, 1300u}) {
    Bytes pkt = ipv4(wire::kIpProtoUdp, kBackend, kPoolAddr, udp(7, 5000, Bytes(n, static_cast<uint8_t>(n))));
    burst.push_back(frame(mac(1), kRouterMac, wire::kEtherTypeIpv4, pkt));
    pkt[8] -= 1;  // the gateway routes it: TTL - 1 (and the checksum follows)
    store_be16(pkt.data() + 10, 0);
    store_be16(pkt.data() + 10, static_cast<uint16_t>(~ones_complement_sum(pkt.data(), 20)));
    Bytes pt{0x00};
    pt.insert(pt.end(), pkt.begin(), pkt.end());
    want.push_back(pt);
  }
  inject(1, burst);
  const std::vector<Bytes> got = client_reads();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); i++) EXPECT_EQ(got[i], want[i]) << "record " << i;
  EXPECT_EQ(events().dtls_records_encrypted, 4u);
  EXPECT_EQ(events().tunnel_to_client, 0u) << "nothing went to the TLS worker (CSTP)";
}

// Test that a DPD request (openconnect's MTU probe) is echoed as a response of the same
// length with the same bytes, and a keepalive is taken without an answer.
TEST_P(DtlsPath, DpdIsEchoedAndKeepaliveCounted) {
  Bytes probe = {0x57, 0xc5, 0x32, 0xd4};
  probe.resize(1300, 0);
  inject(0, {to_gateway(client_record(0x03, probe))});
  inject(0, {to_gateway(client_record(0x07, {}))});
  const std::vector<Bytes> got = client_reads();
  ASSERT_EQ(got.size(), 1u);
  Bytes want{0x04};
  want.insert(want.end(), probe.begin(), probe.end());
  EXPECT_EQ(got[0], want);
  EXPECT_EQ(events().dtls_dpd_answered, 1u);
  EXPECT_EQ(events().dtls_keepalives, 1u);
}

// Test that a record in a chained mbuf (a port with scatter RX would make one; ours never
// do) is refused as malformed rather than opened and half-trimmed, and that the same record
// in one segment still passes.
TEST_P(DtlsPath, ChainedMbufsAreRefused) {
  const Bytes record = client_record(0x00, inner_packet(100));
  rte_mbuf* head = to_gateway(record);
  rte_mbuf* tail = rte_pktmbuf_alloc(b_->dp.pool);
  ASSERT_NE(tail, nullptr);
  ASSERT_NE(rte_pktmbuf_append(tail, 8), nullptr);
  ASSERT_EQ(rte_pktmbuf_chain(head, tail), 0);
  inject(0, {head});
  EXPECT_EQ(drops(DropReason::dtls_malformed), 1u);
  EXPECT_TRUE(sent(1).empty());
  inject(0, {to_gateway(record)});
  std::vector<rte_mbuf*> passed = sent(1);
  EXPECT_EQ(passed.size(), 1u);
  for (rte_mbuf* m : passed) rte_pktmbuf_free(m);
}

// Test that a replayed record, a tampered one, a truncated one and one older than the
// window are dropped with their reasons, and none reaches the backend.
TEST_P(DtlsPath, ReplayTamperTruncationAndOldRecordsAreDropped) {
  const Bytes first = client_record(0x00, inner_packet(100));
  inject(0, {to_gateway(first)});
  std::vector<rte_mbuf*> passed = sent(1);
  for (rte_mbuf* m : passed) rte_pktmbuf_free(m);
  ASSERT_EQ(passed.size(), 1u) << "the genuine record passes";
  inject(0, {to_gateway(first)});
  EXPECT_EQ(drops(DropReason::dtls_replay), 1u);

  Bytes tampered = client_record(0x00, inner_packet(100));
  tampered[tampered.size() - 20] ^= 0x01;  // ciphertext
  Bytes bad_tag = client_record(0x00, inner_packet(100));
  bad_tag.back() ^= 0x80;
  Bytes bad_aad = client_record(0x00, inner_packet(100));
  bad_aad[10] ^= 0x01;  // sequence number: authenticated as additional data
  inject(0, {to_gateway(tampered), to_gateway(bad_tag), to_gateway(bad_aad)});
  EXPECT_EQ(drops(DropReason::dtls_bad_tag), 3u);

  Bytes truncated = client_record(0x00, inner_packet(100));
  truncated.resize(truncated.size() - 5);  // record length now beyond the datagram
  Bytes too_short(13 + 10, 0);
  too_short[0] = 23;
  store_be16(too_short.data() + 1, 0xfefd);
  too_short[4] = 1;  // epoch 1
  too_short[10] = 0x7f;
  store_be16(too_short.data() + 11, 10);
  inject(0, {to_gateway(truncated), to_gateway(too_short)});
  EXPECT_EQ(drops(DropReason::dtls_malformed), 1u);
  EXPECT_EQ(drops(DropReason::dtls_too_short), 1u);

  // Far ahead, then the old one: outside the window.
  const Bytes old = client_record(0x00, inner_packet(100));
  Bytes latest;
  for (uint64_t i = 0; i <= dtls::ReplayWindow::kWindowSize; i++) latest = client_record(0x07, {});
  inject(0, {to_gateway(latest)});
  inject(0, {to_gateway(old)});
  EXPECT_EQ(drops(DropReason::dtls_replay), 2u);
  passed = sent(1);
  for (rte_mbuf* m : passed) rte_pktmbuf_free(m);
  EXPECT_TRUE(passed.empty()) << "nothing dropped reached the backend";
  EXPECT_EQ(events().dtls_records_decrypted, 2u);  // the first record and the keepalive
}

// Test that application data from another socket of the client is not taken for the
// session, that a ClientHello goes to the TLS worker its App-ID names, and that after a
// remove message the lcore forgets the session.
TEST_P(DtlsPath, UnknownFlowsHandshakesAndRemoval) {
  const Bytes rec = client_record(0x00, inner_packet(10));
  inject(0, {to_gateway(rec, kClientPort + 1)});
  EXPECT_EQ(drops(DropReason::dtls_unknown_session), 1u);

  // openconnect's ClientHello (PROTOCOL.md trace) with an App-ID whose first byte is 1.
  Bytes hello = test::from_hex(
      "16feff0000000000000000009b0100008f000000000000008ffefd0edf99ae06202f511875eb96dc1503e68346b63b72"
      "51eafa254232acf84bf6f520a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf00001000"
      "a9ccabc0a5008d00a8c0a4008c00ae01000035000d00220020040108090804040308070501080a080505030808060108"
      "0b080606030201020300230000ff01000100001c00024000");
  ASSERT_EQ(hello.size(), 168u);
  hello[60] = 0x01;
  inject(0, {to_gateway(hello, kClientPort + 2)});
  EXPECT_EQ(events().dtls_handshake_datagrams, 1u);
  void* obj = nullptr;
  ASSERT_EQ(rte_ring_dequeue(b_->dp.workers[1].dtls_ring, &obj), 0) << "worker 1 got the ClientHello";
  auto* m = static_cast<rte_mbuf*>(obj);
  EXPECT_EQ(load_be32(rte_pktmbuf_mtod(m, const uint8_t*) + 12), kClient) << "as an IPv4 packet";
  EXPECT_EQ(mbuf_session_ref(m, b_->dp.session_dynfield), 0u) << "tagged with the lcore's queue";
  rte_pktmbuf_free(m);

  auto* msg = static_cast<DtlsCtlMsg*>(rte_zmalloc("test", sizeof(DtlsCtlMsg), 0));
  new (msg) DtlsCtlMsg();
  msg->kind = DtlsCtlMsg::Kind::remove;
  msg->slot = b_->dp.sessions->slot_index(kPoolAddr);
  msg->ref = ref_.pack();
  ASSERT_EQ(rte_ring_enqueue(b_->dp.dtls_ctl[0], msg), 0);
  dtls_poll_rings(*ctx_);
  EXPECT_EQ(ctx_->stats->dtls_sessions, 0u);
  inject(0, {to_gateway(client_record(0x00, inner_packet(10)))});
  EXPECT_EQ(drops(DropReason::dtls_unknown_session), 2u);
  // Return traffic now goes to the TLS worker (CSTP).
  inject(1, {frame(mac(1), kRouterMac, wire::kEtherTypeIpv4,
                   ipv4(wire::kIpProtoUdp, kBackend, kPoolAddr, udp(7, 5000, Bytes(20, 1))))});
  EXPECT_EQ(events().tunnel_to_client, 1u);
}

// Test that a packet larger than the tunnel MTU goes to the client over CSTP instead.
TEST_P(DtlsPath, PacketsAboveTheTunnelMtuGoOverCstp) {
  inject(1, {frame(mac(1), kRouterMac, wire::kEtherTypeIpv4,
                   ipv4(wire::kIpProtoUdp, kBackend, kPoolAddr, udp(7, 5000, Bytes(1450, 1))))});
  EXPECT_EQ(events().dtls_to_cstp, 1u);
  EXPECT_EQ(events().tunnel_to_client, 1u);
  std::vector<rte_mbuf*> out = sent(0);
  for (rte_mbuf* m : out) rte_pktmbuf_free(m);
  EXPECT_TRUE(out.empty());
}

// Test that return traffic another lcore receives is handed to the lcore owning the DTLS
// session (its hand-off ring), which seals it: the client reads it.
TEST_P(DtlsPath, ReturnTrafficOnAnotherLcoreIsHandedToTheOwner) {
  auto stats2 = std::make_unique<shm::StatsSegment>();
  LcoreCtx other;
  other.dp = &b_->dp;
  other.queue_id = 1;
  other.stats = &stats2->lcores[1];
  other.held_cap = 4;
  other.held.reserve(4);
  other.dtls = b_->tunnel.dtls_lcores[1];
  Bytes pkt = ipv4(wire::kIpProtoUdp, kBackend, kPoolAddr, udp(7, 5000, Bytes(200, 9)));
  rte_mbuf* m = frame(mac(1), kRouterMac, wire::kEtherTypeIpv4, pkt);
  l2_input_burst(other, 1, &m, 1);
  tx_flush_all(other);
  EXPECT_EQ(other.stats->events.tunnel_to_client, 0u) << "not sent over CSTP";
  EXPECT_EQ(rte_ring_count(b_->dp.dtls_handoff[0]), 1u);
  EXPECT_TRUE(sent(0).empty()) << "only the owner seals";
  EXPECT_EQ(dtls_poll_rings(*ctx_), 1u);
  tx_flush_all(*ctx_);
  const std::vector<Bytes> got = client_reads();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].size(), 1 + pkt.size());
  EXPECT_EQ(0, std::memcmp(got[0].data() + 1 + 20, pkt.data() + 20, pkt.size() - 20));
  dtls_lcore_shutdown(other);
}

// Many clients handshaking at once: every follow-up datagram (after the ClientHello) reaches
// the TLS worker the ClientHello named, even when flows share a bucket of the pending table
// (a direct-mapped table lost the handshake of the older flow on a collision).
TEST_P(DtlsPath, ConcurrentHandshakesAllReachTheirWorker) {
  Bytes hello = test::from_hex(
      "16feff0000000000000000009b0100008f000000000000008ffefd0edf99ae06202f511875eb96dc1503e68346b63b72"
      "51eafa254232acf84bf6f520a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf00001000"
      "a9ccabc0a5008d00a8c0a4008c00ae01000035000d00220020040108090804040308070501080a080505030808060108"
      "0b080606030201020300230000ff01000100001c00024000");
  hello[60] = 0x01;  // App-ID of TLS worker 1
  // A ClientKeyExchange-shaped handshake record (epoch 0, not a ClientHello).
  const Bytes follow = test::from_hex("16fefd0000000000000001000e" "1000000200010000000000020000");
  constexpr uint16_t kFlows = 120;  // 120 live flows: a direct-mapped 1024 table collides ~7 times
  // The ClientHello rate limit (GCRA) is the lcore's, which every case before this one
  // shares: start with its full burst, as a fresh lcore would.
  ctx_->dtls->handshake_tat_tsc = 0;
  auto drain_worker = [&] {
    unsigned n = 0;
    void* obj;
    while (rte_ring_dequeue(b_->dp.workers[1].dtls_ring, &obj) == 0) {
      rte_pktmbuf_free(static_cast<rte_mbuf*>(obj));
      n++;
    }
    return n;
  };
  for (const Bytes* datagram : std::initializer_list<const Bytes*>{&hello, &follow}) {
    for (uint16_t i = 0; i < kFlows; i += 30) {
      std::vector<rte_mbuf*> burst;
      for (uint16_t k = i; k < i + 30 && k < kFlows; k++) burst.push_back(to_gateway(*datagram, 20000 + k * 7));
      inject(0, burst);
    }
    EXPECT_EQ(drain_worker(), kFlows) << (datagram == &hello ? "ClientHellos" : "follow-ups");
  }
  EXPECT_EQ(drops(DropReason::dtls_unknown_flow), 0u);
  EXPECT_EQ(drops(DropReason::dtls_handshake_rate_limited), 0u);
}

// A lcore holds a DTLS session for every pool address (its flow table is sized by them): a
// table made before the slots were known once held 64, and the 65th client silently got no
// DTLS keys on the lcore.
TEST_P(DtlsPath, ALcoreHoldsMoreThan64Sessions) {
  Dataplane& dp = b_->dp;
  constexpr uint32_t kMore = 200;  // the ring bed's pool is a /24
  crypto::DtlsRecordKeys keys;
  keys.cipher = crypto::DtlsCipher::kAes128Gcm;
  keys.epoch = 1;
  keys.rx.key_len = keys.tx.key_len = crypto::dtls_cipher_key_len(keys.cipher);
  keys.rx.iv_len = keys.tx.iv_len = crypto::dtls_cipher_iv_len(keys.cipher);
  const RecordCryptoDev dev = dev_for(backend());
  for (uint32_t i = 0; i < kMore; i++) {
    std::string error;
    CipherState* cs = cipher_state_create(dev, keys, &error);
    ASSERT_NE(cs, nullptr) << error;
    auto* msg = static_cast<DtlsCtlMsg*>(rte_zmalloc("test", sizeof(DtlsCtlMsg), 0));
    new (msg) DtlsCtlMsg();
    msg->addr = kPoolAddr + 10 + i;
    msg->slot = dp.sessions->slot_index(msg->addr);
    msg->ref = SessionRef{1, 0x9000 + i}.pack();
    msg->client_ip = 0x64400000 + i;  // 100.64.0.0/10: a client each
    msg->client_port = kClientPort;
    msg->local_ip = kOutAddr;
    msg->rx_epoch = msg->tx_epoch = 1;
    msg->max_inner = 1400;
    msg->cipher = cs;
    while (rte_ring_enqueue(dp.dtls_ctl[0], msg) != 0) dtls_poll_rings(*ctx_);
  }
  while (!rte_ring_empty(dp.dtls_ctl[0])) dtls_poll_rings(*ctx_);
  EXPECT_EQ(ctx_->stats->dtls_sessions, 1u + kMore);
  EXPECT_EQ(events().dtls_sessions_installed, 1u + kMore);
  EXPECT_EQ(events().dtls_sessions_refused, 0u);
}

// Test that one burst mixing sessions of every back end (this case's, and the two others),
// runs of one session and single records, sizes from 1 to 1300 bytes, is opened record by
// record: every genuine record reaches the backend intact and in order, the two with a
// tampered tag or ciphertext are dropped as bad tags (and no other record with them); and
// that a burst of return traffic to all the sessions is read by each wolfSSL client.
TEST_P(DtlsPath, MixedBurstOfSessionsAndBackendsBothWays) {
  Dataplane& dp = b_->dp;
  for (Backend b : {Backend::kIpsecMb, Backend::kCpuCrypto, Backend::kQueuePair, Backend::kWolfCrypt}) {
    if (b == backend() || (b != Backend::kWolfCrypt && dp.crypto->dev_id < 0)) continue;
    if (b == Backend::kIpsecMb && dp.crypto->ipsec_mb == nullptr) continue;
    Peer p{b, kPoolAddr + 1 + static_cast<uint32_t>(peers_.size()), static_cast<uint16_t>(kClientPort + 1 + peers_.size()),
           SessionRef{1, 0x4243 + static_cast<uint32_t>(peers_.size())}, nullptr};
    ASSERT_TRUE(dp.sessions->bind(p.addr, p.ref));
    peers_.push_back(std::move(p));
    Peer& q = peers_.back();
    q.client = install_session(b, q.addr, q.port, q.ref);
    ASSERT_NE(q.client, nullptr);
  }
  // Session 0 is the fixture's; then the peers.
  struct Sender {
    WolfDtlsEndpoint* client;
    uint32_t addr;
    uint16_t port;
  };
  std::vector<Sender> senders{{client_.get(), kPoolAddr, kClientPort}};
  for (Peer& p : peers_) senders.push_back({p.client.get(), p.addr, p.port});
  // Which session each record of the burst comes from: runs and singles, all of them.
  const std::vector<unsigned> from = {0, 0, 0, 1, 2, 2, 0, 1, 1, 1, 2, 0, 2, 1, 0, 0,
                                      2, 2, 2, 2, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 1};
  const std::vector<size_t> sizes = {1, 64, 1300, 512, 7, 100, 1000, 64, 1300, 33, 480, 1200, 16, 64, 300, 900};
  ASSERT_EQ(from.size(), kBurst);
  std::vector<rte_mbuf*> burst;
  std::vector<Bytes> want;
  const std::set<size_t> tampered = {5, 17};
  for (size_t i = 0; i < from.size(); i++) {
    const Sender& s = senders[from[i] % senders.size()];
    const Bytes inner = inner_packet(sizes[i % sizes.size()], static_cast<uint8_t>(i), s.addr);
    Bytes rec = client_record(*s.client, 0x00, inner);
    if (i == 5) rec.back() ^= 0x01;               // the tag
    if (i == 17) rec[rec.size() - 17] ^= 0x40;    // the last ciphertext byte
    if (!tampered.contains(i)) want.push_back(inner);
    burst.push_back(to_gateway(rec, s.port));
  }
  inject(0, burst);
  EXPECT_EQ(drops(DropReason::dtls_bad_tag), tampered.size());
  EXPECT_EQ(events().crypto_failed, 0u) << "a bad tag is a drop, not a device failure";
  std::vector<rte_mbuf*> out = sent(1);
  ASSERT_EQ(out.size(), want.size());
  for (size_t k = 0; k < out.size(); k++) {
    const uint8_t* f = rte_pktmbuf_mtod(out[k], const uint8_t*);
    ASSERT_EQ(rte_pktmbuf_pkt_len(out[k]), 14 + want[k].size()) << "packet " << k;
    EXPECT_EQ(load_be32(f + 14 + 12), load_be32(want[k].data() + 12)) << "packet " << k << ": its session's address";
    EXPECT_EQ(0, std::memcmp(f + 14 + 20, want[k].data() + 20, want[k].size() - 20)) << "packet " << k;
    rte_pktmbuf_free(out[k]);
  }
  EXPECT_EQ(events().dtls_records_decrypted, want.size());

  // Back: a burst to every session's address, mixed sizes; each client reads its own.
  burst.clear();
  std::vector<std::vector<Bytes>> want_back(senders.size());
  for (size_t i = 0; i < from.size(); i++) {
    const unsigned who = from[(i * 7) % from.size()] % senders.size();
    Bytes pkt = ipv4(wire::kIpProtoUdp, kBackend, senders[who].addr,
                     udp(7, 5000, Bytes(sizes[(i + 3) % sizes.size()], static_cast<uint8_t>(i))));
    burst.push_back(frame(mac(1), kRouterMac, wire::kEtherTypeIpv4, pkt));
    pkt[8] -= 1;  // routed: TTL - 1, checksum updated
    store_be16(pkt.data() + 10, 0);
    store_be16(pkt.data() + 10, static_cast<uint16_t>(~ones_complement_sum(pkt.data(), 20)));
    Bytes pt{0x00};
    pt.insert(pt.end(), pkt.begin(), pkt.end());
    want_back[who].push_back(pt);
  }
  inject(1, burst);
  std::vector<std::vector<Bytes>> got_back(senders.size());
  for (rte_mbuf* m : sent(0)) {
    const uint16_t port = load_be16(rte_pktmbuf_mtod(m, const uint8_t*) + 14 + 20 + 2);
    unsigned who = 0;
    while (who < senders.size() && senders[who].port != port) who++;
    if (who == senders.size()) {
      ADD_FAILURE() << "a record to port " << port;
      rte_pktmbuf_free(m);
      continue;
    }
    senders[who].client->deliver(from_gateway(m, dp.dtls_port, port));
    rte_pktmbuf_free(m);
    Bytes pt;
    EXPECT_GT(senders[who].client->read(&pt), 0) << "session " << who << " refused a record";
    got_back[who].push_back(pt);
  }
  for (size_t who = 0; who < senders.size(); who++) EXPECT_EQ(got_back[who], want_back[who]) << "session " << who;
  EXPECT_EQ(events().dtls_records_encrypted, from.size());
}

/// A job for `record` in `m`; the caller sets what a seal or an open needs besides.
RecordJob record_job(rte_mbuf* m, const CipherState* cs, uint8_t* record, bool seal) {
  RecordJob job{};
  job.m = m;
  job.cs = cs;
  job.record = record;
  job.seal = seal;
  return job;
}

/// Epoch-1 record keys of `cipher`, a different fixed pattern per direction.
crypto::DtlsRecordKeys fixed_keys(crypto::DtlsCipher cipher) {
  crypto::DtlsRecordKeys keys;
  keys.cipher = cipher;
  keys.epoch = 1;
  keys.rx.key_len = keys.tx.key_len = crypto::dtls_cipher_key_len(cipher);
  keys.rx.iv_len = keys.tx.iv_len = crypto::dtls_cipher_iv_len(cipher);
  for (size_t i = 0; i < keys.tx.key.size(); i++) keys.tx.key[i] = static_cast<uint8_t>(3 * i + 1);
  for (size_t i = 0; i < keys.tx.iv.size(); i++) keys.tx.iv[i] = static_cast<uint8_t>(7 * i + 2);
  for (size_t i = 0; i < keys.rx.key.size(); i++) keys.rx.key[i] = static_cast<uint8_t>(5 * i + 9);
  for (size_t i = 0; i < keys.rx.iv.size(); i++) keys.rx.iv[i] = static_cast<uint8_t>(11 * i + 4);
  return keys;
}

// Test that set-up believes RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO only when a record goes through:
// DPDK 22.11's crypto_chacha20_poly1305 sets the flag without implementing the call, so its
// sessions use the queue pair (with a warning) and their records are right; crypto_aesni_gcm
// has the call and gets CPU crypto.
TEST(RecordCryptoSetup, CpuCryptoOnlyWhereARecordGoesThrough) {
  if (g_bed == nullptr && geteuid() != 0) GTEST_SKIP() << g_bed_error;
  ASSERT_NE(g_bed, nullptr) << g_bed_error;
  if (g_bed->dp.crypto->dev_id < 0) GTEST_SKIP() << "no intel-ipsec-mb PMDs here";
  for (const char* driver : {"crypto_chacha20_poly1305", "crypto_aesni_gcm"}) {
    SCOPED_TRACE(driver);
    const bool chacha = std::string(driver) == "crypto_chacha20_poly1305";
    RecordCryptoDev dev;
    std::string warning;
    ASSERT_EQ(record_crypto_setup(driver, 1, 4, 0, &dev, &warning), "");
    EXPECT_EQ(dev.cpu_crypto, !chacha);
    EXPECT_EQ(warning.find("CPU crypto refused") != std::string::npos, chacha) << warning;
    // One record sealed through the device (either API) opens with wolfCrypt.
    const crypto::DtlsCipher cipher = chacha ? crypto::DtlsCipher::kChacha20Poly1305 : crypto::DtlsCipher::kAes128Gcm;
    const crypto::DtlsRecordKeys keys = fixed_keys(cipher);
    crypto::RecordAead peer;
    ASSERT_TRUE(peer.init(cipher, keys.tx));
    std::string error;
    CipherState* cs = cipher_state_create(dev, keys, &error);
    ASSERT_NE(cs, nullptr) << error;
    EXPECT_GE(cs->dev_id, 0);
    EXPECT_EQ(cs->engine, chacha ? RecordEngine::kQueuePair : RecordEngine::kCpuCrypto) << "a named device: no intel-ipsec-mb";
    rte_mbuf* m = rte_pktmbuf_alloc(g_bed->dp.pool);
    ASSERT_NE(m, nullptr);
    const Bytes pt = {0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    auto* record = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(13 + cs->overhead + pt.size())));
    ASSERT_NE(record, nullptr);
    std::memcpy(record + 13 + cs->explicit_nonce, pt.data(), pt.size());
    RecordJob job{};
    job.m = m;
    job.cs = cs;
    job.record = record;
    job.seal = true;
    job.plaintext_len = static_cast<uint16_t>(pt.size());
    job.epoch = 1;
    job.sequence = 5;
    uint64_t enq = 0, deq = 0, failed = 0, depth = 0;
    record_crypto_run(dev, 0, &job, 1, {&enq, &deq, &failed, &depth});
    EXPECT_TRUE(job.ok);
    EXPECT_EQ(enq, chacha ? 1u : 0u) << "the queue pair only without CPU crypto";
    EXPECT_EQ(failed, 0u);
    dtls::DtlsRecord rec;
    ASSERT_EQ(dtls::dtls_record_parse({record, rte_pktmbuf_data_len(m)}, 0, &rec), dtls::DtlsParseError::kOk);
    EXPECT_EQ(rec.sequence, 5u);
    std::span<uint8_t> opened;
    ASSERT_TRUE(peer.open(rec, record, &opened));
    EXPECT_EQ(Bytes(opened.begin(), opened.end()), pt);
    rte_pktmbuf_free(m);
    cipher_state_free(cs);
    record_crypto_teardown(&dev);
  }
}

// Test that "auto" gives AES-GCM to intel-ipsec-mb and ChaCha20-Poly1305 to the cryptodev,
// and that intel-ipsec-mb's records are wolfCrypt's, byte for byte, both ways, for AES-128
// and AES-256 and lengths around the block and the VAES code's 16-block boundaries (0: a
// record of its tag only); a flipped tag bit, ciphertext bit or sequence number is refused.
TEST(RecordCryptoSetup, IpsecMbRecordsAreWolfCryptsBothWays) {
  if (g_bed == nullptr && geteuid() != 0) GTEST_SKIP() << g_bed_error;
  ASSERT_NE(g_bed, nullptr) << g_bed_error;
  const RecordCryptoDev& dev = *g_bed->dp.crypto;
  ASSERT_NE(dev.ipsec_mb, nullptr) << "libIPSec_MB is linked in: \"auto\" always has it";
  EXPECT_EQ(dev.engine_for(crypto::DtlsCipher::kAes128Gcm), RecordEngine::kIpsecMb);
  EXPECT_EQ(dev.engine_for(crypto::DtlsCipher::kAes256Gcm), RecordEngine::kIpsecMb);
  if (dev.dev_id >= 0) {
    EXPECT_EQ(dev.engine_for(crypto::DtlsCipher::kChacha20Poly1305), RecordEngine::kCpuCrypto);
  }
  for (crypto::DtlsCipher cipher : {crypto::DtlsCipher::kAes128Gcm, crypto::DtlsCipher::kAes256Gcm}) {
    SCOPED_TRACE(crypto::dtls_cipher_name(cipher));
    const crypto::DtlsRecordKeys keys = fixed_keys(cipher);
    crypto::RecordAead peer_open, peer_seal;  // the client: opens what we seal, seals what we open
    ASSERT_TRUE(peer_open.init(cipher, keys.tx));
    ASSERT_TRUE(peer_seal.init(cipher, keys.rx));
    std::string error;
    CipherState* cs = cipher_state_create(dev, keys, &error);
    ASSERT_NE(cs, nullptr) << error;
    EXPECT_EQ(cs->engine, RecordEngine::kIpsecMb);
    EXPECT_LT(cs->dev_id, 0) << "no cryptodev session";
    // The layout rx_process's early key prefetch relies on (KeyHint, ipsec_mb_key_behind).
    EXPECT_EQ(ipsec_mb_key_behind(cs, false), cs->key_rx);
    EXPECT_EQ(ipsec_mb_key_behind(cs, true), cs->key_tx);
    uint64_t enq = 0, deq = 0, failed = 0, depth = 0;
    const RecordCryptoCounters counters{&enq, &deq, &failed, &depth};
    uint64_t seq = 1;
    for (uint16_t len : {0, 1, 15, 16, 17, 63, 64, 255, 256, 257, 767, 768, 1400}) {
      SCOPED_TRACE(len);
      Bytes pt(len);
      for (size_t i = 0; i < pt.size(); i++) pt[i] = static_cast<uint8_t>(i * 13 + len);
      // Sealed here, opened by wolfCrypt.
      rte_mbuf* m = rte_pktmbuf_alloc(g_bed->dp.pool);
      ASSERT_NE(m, nullptr);
      auto* record = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(13 + cs->overhead + len)));
      ASSERT_NE(record, nullptr);
      std::memcpy(record + 13 + cs->explicit_nonce, pt.data(), len);
      RecordJob job = record_job(m, cs, record, true);
      job.plaintext_len = len;
      job.epoch = 1;
      job.sequence = seq++;
      record_crypto_run(dev, 0, &job, 1, counters);
      EXPECT_TRUE(job.ok);
      dtls::DtlsRecord rec;
      ASSERT_EQ(dtls::dtls_record_parse({record, rte_pktmbuf_data_len(m)}, 0, &rec), dtls::DtlsParseError::kOk);
      std::span<uint8_t> opened;
      ASSERT_TRUE(peer_open.open(rec, record, &opened));
      EXPECT_EQ(Bytes(opened.begin(), opened.end()), pt);
      // Sealed by wolfCrypt, opened here; then with one bit flipped in the tag, the first
      // ciphertext byte (when there is one) and the sequence number: refused.
      for (int flip = 0; flip < 4; flip++) {
        SCOPED_TRACE(flip);
        if (flip == 2 && len == 0) continue;
        std::memcpy(record + 13 + cs->explicit_nonce, pt.data(), len);
        ASSERT_NE(peer_seal.seal(record, len, 1, seq), 0u);
        if (flip == 1) record[13 + cs->overhead + len - 1] ^= 0x01;
        if (flip == 2) record[13 + cs->explicit_nonce] ^= 0x80;
        ASSERT_EQ(dtls::dtls_record_parse({record, rte_pktmbuf_data_len(m)}, 0, &rec), dtls::DtlsParseError::kOk);
        if (flip == 3) {  // the AAD's seq_num is the header's
          rec.sequence ^= 1;
          record[10] ^= 1;
        }
        RecordJob open = record_job(m, cs, record, false);
        open.rec = rec;
        record_crypto_run(dev, 0, &open, 1, counters);
        EXPECT_EQ(open.ok, flip == 0);
        if (flip == 0) {
          EXPECT_EQ(Bytes(open.plaintext.begin(), open.plaintext.end()), pt);
        }
      }
      seq++;
      rte_pktmbuf_free(m);
    }
    EXPECT_EQ(failed + enq + deq, 0u) << "no device work, no failure";
    cipher_state_free(cs);
  }
}

INSTANTIATE_TEST_SUITE_P(SuitesAndBackends, DtlsPath,
                         ::testing::Combine(::testing::ValuesIn(suites_of_this_build()),
                                            ::testing::Values(Backend::kIpsecMb, Backend::kCpuCrypto,
                                                              Backend::kQueuePair, Backend::kWolfCrypt)),
                         [](const ::testing::TestParamInfo<DtlsPathParam>& i) {
                           std::string name;
                           for (char ch : std::get<0>(i.param)) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           switch (std::get<1>(i.param)) {
                             case Backend::kIpsecMb: return name + "_ipsecmb";
                             case Backend::kCpuCrypto: return name + "_cpucrypto";
                             case Backend::kQueuePair: return name + "_queuepair";
                             case Backend::kWolfCrypt: break;
                           }
                           return name + "_wolfcrypt";
                         });

}  // namespace
}  // namespace tg::dp

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new tg::dp::Env);
  return RUN_ALL_TESTS();
}
