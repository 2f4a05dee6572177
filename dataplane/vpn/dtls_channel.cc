#include "dataplane/vpn/dtls_channel.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/random.h>

#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/dtls/client_hello.h"
#include "dataplane/dtls_path.h"
#include "dataplane/record_crypto.h"
#include "dataplane/session_table.h"
#include "dataplane/tunnel_path.h"
#include "dataplane/vpn/oc_handler.h"
#include "dataplane/vpn/worker_log.h"

namespace tg::dp::vpn {
namespace {

using shm::DtlsHandshakeFailure;

constexpr unsigned kDrainBurst = 32;
/// Handshakes one worker runs at once; more are refused (counted) until some finish.
constexpr size_t kMaxHandshakes = 4096;
/// PROTOCOL.md §6.2: RFC 5705 exporter, this label, no context, 32 bytes.
constexpr std::string_view kPskLabel = "EXPORTER-openconnect-psk";
constexpr size_t kPskBytes = 32;
constexpr uint16_t kUdpHdrLen = 8;
/// How long a finished handshake answers retransmissions of the client's last flight.
constexpr auto kFinishedLinger = std::chrono::seconds(5);

uint64_t flow_of(uint32_t ip, uint16_t port) { return uint64_t{ip} << 16 | port; }

std::string ip_text(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string(a >> 16 & 0xff) + "." + std::to_string(a >> 8 & 0xff) +
         "." + std::to_string(a & 0xff);
}

DtlsHandshakeFailure failure_of(std::string_view reason) {
  if (reason == "bad_psk") return DtlsHandshakeFailure::bad_psk;
  if (reason == "alert") return DtlsHandshakeFailure::alert;
  if (reason == "timeout") return DtlsHandshakeFailure::timeout;
  if (reason == "no_shared_cipher") return DtlsHandshakeFailure::no_shared_cipher;
  if (reason == "internal") return DtlsHandshakeFailure::internal;
  return DtlsHandshakeFailure::protocol_error;
}

}  // namespace

size_t DtlsChannel::AppIdHash::operator()(const AppId& a) const {
  uint64_t h;
  std::memcpy(&h, a.data() + 8, sizeof h);  // random bytes: any 8 of them are a good hash
  return static_cast<size_t>(h);
}

DtlsChannel::DtlsChannel(const OcShared& shared, uint16_t worker_index)
    : shared_(shared), worker_index_(worker_index), deferred_(std::max(1u, shared.n_lcores)) {
  const Dataplane& dp = *shared.dp;
  if (!shared.cfg->listeners.dtls || dp.dtls_slots == nullptr || dp.workers == nullptr ||
      dp.workers[worker_index].dtls_ring == nullptr)
    return;
  rng_ = wc_rng_new(nullptr, 0, nullptr);
  if (rng_ == nullptr) {
    OC_LOG("error", "msg=\"DTLS off: no random number generator\" worker=%u", worker_index_);
    return;
  }
  std::string error;
  ctx_ = dtls::DtlsServerContext::create(shared.cfg->tls.dtls_ciphers, &error);
  if (ctx_ == nullptr) {
    OC_LOG("error", "msg=\"DTLS off: no DTLS server context\" worker=%u err=\"%s\"", worker_index_, error.c_str());
    return;
  }
  mtu_cipher_ = ctx_->cipher_list().find("GCM") != std::string::npos ? tunnel::DtlsRecordCipher::kAesGcm
                                                                      : tunnel::DtlsRecordCipher::kChaCha20Poly1305;
  if (worker_index == 0) {
    std::fprintf(stderr, "level=info msg=\"DTLS PSK suites\" ciphers=\"%s\"\n", ctx_->cipher_list().c_str());
  }
}

DtlsChannel::~DtlsChannel() {
  for (auto& queue : deferred_)
    for (DtlsCtlMsg* msg : queue) rte_free(msg);
  if (rng_ != nullptr) wc_rng_free(rng_);
}

std::optional<tunnel::CstpDtlsOffer> DtlsChannel::offer(tls::ConnectionId conn, uint64_t ref, uint32_t address, uint16_t tunnel_mtu,
                                                        uint32_t dpd_s, uint32_t keepalive_s) {
  if (!enabled()) return std::nullopt;
  const uint32_t slot = shared_.dp->sessions->slot_index(address);
  if (slot >= shared_.dp->n_dtls_slots) return std::nullopt;
  AppId id;
  id[0] = static_cast<uint8_t>(worker_index_);  // dtls_input routes ClientHellos by it
  if (wc_RNG_GenerateBlock(rng_, id.data() + 1, static_cast<word32>(id.size() - 1)) != 0) return std::nullopt;
  on_tunnel_closed(conn);  // one App-ID per tunnel
  Tunnel t;
  t.conn = conn;
  t.ref = ref;
  t.address = address;
  t.slot = slot;
  t.max_inner = tunnel_mtu;
  tunnels_[id] = t;
  app_id_of_[conn] = id;
  tunnel::CstpDtlsOffer o;
  o.port = shared_.cfg->listeners.dtls_port;
  o.app_id.assign(id.begin(), id.end());
  o.dpd_seconds = dpd_s;
  o.keepalive_seconds = keepalive_s;
  return o;
}

void DtlsChannel::send_remove(const Tunnel& t) {
  if (t.owner_queue < 0) return;
  auto* msg = static_cast<DtlsCtlMsg*>(rte_zmalloc("tg_dtls_ctl", sizeof(DtlsCtlMsg), 0));
  if (msg == nullptr) return;  // the lcore drops the state when the address is rebound
  new (msg) DtlsCtlMsg();
  msg->kind = DtlsCtlMsg::Kind::remove;
  msg->slot = t.slot;
  msg->ref = t.ref;
  std::deque<DtlsCtlMsg*>& waiting = deferred_[static_cast<size_t>(t.owner_queue)];
  if (!waiting.empty() || rte_ring_enqueue(shared_.dp->dtls_ctl[t.owner_queue], msg) != 0) {
    waiting.push_back(msg);
    counters_.removes_deferred.add();
  }
}

void DtlsChannel::flush_deferred() {
  for (size_t q = 0; q < deferred_.size(); q++) {
    std::deque<DtlsCtlMsg*>& waiting = deferred_[q];
    while (!waiting.empty() && rte_ring_enqueue(shared_.dp->dtls_ctl[q], waiting.front()) == 0) waiting.pop_front();
  }
}

DtlsChannel::Live DtlsChannel::live(tls::ConnectionId conn) const {
  Live live;
  const auto it = app_id_of_.find(conn);
  if (it == app_id_of_.end()) return live;
  const auto t = tunnels_.find(it->second);
  if (t == tunnels_.end() || t->second.owner_queue < 0) return live;
  // Written by the owning lcore with relaxed stores; a snapshot is all `sessions` needs.
  const DtlsSlot& slot = shared_.dp->dtls_slots[t->second.slot];
  live.traffic = {slot.rx_packets.load(std::memory_order_relaxed), slot.rx_bytes.load(std::memory_order_relaxed),
                  slot.tx_packets.load(std::memory_order_relaxed), slot.tx_bytes.load(std::memory_order_relaxed)};
  live.carrying = slot.owner.load(std::memory_order_relaxed) != 0 && slot.use_dtls.load(std::memory_order_relaxed);
  return live;
}

DtlsChannel::Traffic DtlsChannel::on_tunnel_closed(tls::ConnectionId conn) {
  Traffic traffic;
  auto it = app_id_of_.find(conn);
  if (it == app_id_of_.end()) return traffic;
  const AppId id = it->second;
  app_id_of_.erase(it);
  auto t = tunnels_.find(id);
  if (t == tunnels_.end()) return traffic;
  if (t->second.owner_queue >= 0) {
    // Read before the remove: the lcore keeps the counters until it reuses the slot.
    const DtlsSlot& slot = shared_.dp->dtls_slots[t->second.slot];
    traffic = {slot.rx_packets.load(std::memory_order_relaxed), slot.rx_bytes.load(std::memory_order_relaxed),
               slot.tx_packets.load(std::memory_order_relaxed), slot.tx_bytes.load(std::memory_order_relaxed)};
    send_remove(t->second);
    counters_.established.sub();
  }
  tunnels_.erase(t);
  for (auto h = handshakes_.begin(); h != handshakes_.end();) {
    if (h->second.app_id == id) {
      if (!h->second.done) counters_.active.sub();
      h = handshakes_.erase(h);
    } else {
      ++h;
    }
  }
  return traffic;
}

void DtlsChannel::on_cstp_data(uint32_t address) {
  const Dataplane& dp = *shared_.dp;
  if (dp.dtls_slots == nullptr) return;
  const uint32_t slot = dp.sessions->slot_index(address);
  if (slot >= dp.n_dtls_slots) return;
  std::atomic<bool>& use = dp.dtls_slots[slot].use_dtls;
  if (use.load(std::memory_order_relaxed)) use.store(false, std::memory_order_relaxed);
}

void DtlsChannel::drain(tls::TlsWorker& worker) {
  flush_deferred();
  const Dataplane& dp = *shared_.dp;
  rte_ring* ring = dp.workers[worker_index_].dtls_ring;
  if (ring == nullptr) return;
  rte_mbuf* pkts[kDrainBurst];
  for (;;) {
    const unsigned n = rte_ring_dequeue_burst(ring, reinterpret_cast<void**>(pkts), kDrainBurst, nullptr);
    for (unsigned i = 0; i < n; i++) {
      if (enabled()) on_datagram(worker, pkts[i]);
      rte_pktmbuf_free(pkts[i]);
    }
    if (n < kDrainBurst) return;
  }
}

void DtlsChannel::on_datagram(tls::TlsWorker& worker, rte_mbuf* m) {
  const Dataplane& dp = *shared_.dp;
  // The lcore checked the IPv4 and UDP headers and put its queue in the session field.
  const uint8_t* ip = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint16_t ihl = static_cast<uint16_t>((ip[0] & 0x0f) * 4);
  const uint8_t* udp = ip + ihl;
  const uint16_t udp_len = load_be16(udp + 4);
  const std::span<const uint8_t> datagram(udp + kUdpHdrLen, udp_len - kUdpHdrLen);
  const uint32_t client_ip = load_be32(ip + 12);
  const uint16_t client_port = load_be16(udp);
  const uint64_t flow = flow_of(client_ip, client_port);
  const auto queue = static_cast<uint16_t>(mbuf_session_ref(m, dp.session_dynfield));

  auto h = handshakes_.find(flow);
  dtls::ClientHelloInfo hello;
  if (dtls::client_hello_parse(datagram, &hello) == dtls::ClientHelloError::kOk) {
    AppId id{};
    if (hello.app_id.size() != id.size()) {
      counters_.failed[static_cast<size_t>(DtlsHandshakeFailure::unknown_app_id)].add();
      return;
    }
    std::memcpy(id.data(), hello.app_id.data(), id.size());
    auto t = tunnels_.find(id);
    tls::Connection* c = t == tunnels_.end() ? nullptr : worker.find(t->second.conn);
    if (c == nullptr) {
      counters_.failed[static_cast<size_t>(DtlsHandshakeFailure::unknown_app_id)].add();
      OC_LOG("warn", "msg=\"DTLS ClientHello for an unknown App-ID\" worker=%u peer=%s:%u", worker_index_,
             ip_text(client_ip).c_str(), client_port);
      return;
    }
    if (h != handshakes_.end() && (h->second.app_id != id || h->second.done)) {
      // The client starts over: another tunnel, or a new DTLS session after a finished one.
      if (!h->second.done) counters_.active.sub();
      handshakes_.erase(h);
      h = handshakes_.end();
    }
    if (h == handshakes_.end()) {
      if (handshakes_.size() >= kMaxHandshakes) {
        counters_.failed[static_cast<size_t>(DtlsHandshakeFailure::too_many)].add();
        return;
      }
      // The PSK comes from the tunnel's TLS session as it is now (§6.2), never cached.
      std::array<uint8_t, kPskBytes> psk{};
      std::string error;
      std::unique_ptr<dtls::DtlsHandshake> hs;
      if (c->export_keying_material(kPskLabel, std::nullopt, psk))
        hs = dtls::DtlsHandshake::create(*ctx_, dtls::DtlsPeer{client_ip, client_port}, psk, &error);
      std::fill(psk.begin(), psk.end(), 0);
      if (hs == nullptr) {
        counters_.failed[static_cast<size_t>(DtlsHandshakeFailure::internal)].add();
        OC_LOG("error", "msg=\"DTLS handshake not started\" worker=%u peer=%s:%u err=\"%s\"", worker_index_,
               ip_text(client_ip).c_str(), client_port, error.empty() ? "no keying material" : error.c_str());
        return;
      }
      Handshake nh;
      nh.hs = std::move(hs);
      nh.app_id = id;
      nh.client_ip = client_ip;
      nh.client_port = client_port;
      const auto now = tls::Clock::now();
      nh.deadline = now + std::chrono::seconds(shared_.cfg->limits.dtls_handshake_timeout_s);
      nh.next_timeout = now + std::chrono::seconds(1);
      h = handshakes_.emplace(flow, std::move(nh)).first;
      counters_.started.add();
      counters_.active.add();
    }
  } else if (h == handshakes_.end()) {
    return;  // not ours (a late retransmission, an alert after the end)
  }
  Handshake& hs = h->second;
  out_.clear();
  if (hs.done) {  // a retransmitted Finished: the handshake resends its last flight
    hs.hs->on_datagram(datagram, &out_);
    send_datagrams(hs);
    return;
  }
  hs.local_ip = load_be32(ip + 16);
  hs.queue = queue;
  const dtls::DtlsHandshake::Status st = hs.hs->on_datagram(datagram, &out_);
  hs.next_timeout = tls::Clock::now() + hs.hs->retransmit_timeout();
  if (st == dtls::DtlsHandshake::Status::kDone) {
    // Keys first: the lcore applies its message ring before it sends our last flight, so
    // the client's first record (sent once it has our Finished) finds the session.
    advance(flow, hs, st);
    send_datagrams(hs);
    return;
  }
  send_datagrams(hs);  // a failure may carry an alert: send it before forgetting the handshake
  advance(flow, hs, st);
}

void DtlsChannel::advance(uint64_t flow, Handshake& h, dtls::DtlsHandshake::Status status) {
  if (status == dtls::DtlsHandshake::Status::kInProgress) return;
  if (status == dtls::DtlsHandshake::Status::kFailed) {
    fail(flow, failure_of(h.hs->failure_reason()), h.hs->failure_reason());
    return;
  }
  finish(h);
  h.done = true;
  h.deadline = tls::Clock::now() + kFinishedLinger;
  counters_.active.sub();
}

void DtlsChannel::fail(uint64_t flow, DtlsHandshakeFailure why, const char* detail) {
  auto h = handshakes_.find(flow);
  if (h == handshakes_.end()) return;
  if (h->second.done) {  // lingered long enough
    handshakes_.erase(h);
    return;
  }
  counters_.failed[static_cast<size_t>(why)].add();
  OC_LOG("warn", "msg=\"DTLS handshake failed\" worker=%u peer=%s:%u reason=%s", worker_index_,
         ip_text(h->second.client_ip).c_str(), h->second.client_port, detail);
  handshakes_.erase(h);
  counters_.active.sub();
}

void DtlsChannel::finish(Handshake& h) {
  const Dataplane& dp = *shared_.dp;
  auto t = tunnels_.find(h.app_id);
  if (t == tunnels_.end()) return;  // the tunnel closed meanwhile
  Tunnel& tun = t->second;
  crypto::DtlsRecordKeys keys;
  std::string error;
  CipherState* cs = nullptr;
  if (h.hs->export_keys(&keys, &error)) cs = cipher_state_create(*dp.crypto, keys, &error);
  const std::string cipher = h.hs->cipher_name();
  auto* msg = cs == nullptr ? nullptr : static_cast<DtlsCtlMsg*>(rte_zmalloc("tg_dtls_ctl", sizeof(DtlsCtlMsg), 0));
  if (msg == nullptr) {
    keys.wipe();
    cipher_state_free(cs);
    counters_.failed[static_cast<size_t>(DtlsHandshakeFailure::key_export)].add();
    OC_LOG("error", "msg=\"DTLS keys not installed\" worker=%u peer=%s:%u err=\"%s\"", worker_index_,
           ip_text(h.client_ip).c_str(), h.client_port, error.empty() ? "out of memory" : error.c_str());
    return;
  }
  new (msg) DtlsCtlMsg();
  msg->kind = DtlsCtlMsg::Kind::install;
  msg->slot = tun.slot;
  msg->ref = tun.ref;
  msg->addr = tun.address;
  msg->client_ip = h.client_ip;
  msg->client_port = h.client_port;
  msg->local_ip = h.local_ip;
  msg->rx_epoch = keys.epoch;
  msg->tx_epoch = keys.epoch;
  msg->tx_sequence = keys.tx_next_sequence;
  msg->max_inner = tun.max_inner;
  msg->cipher = cs;
  const RecordEngine engine = cs->engine;
  keys.wipe();
  // A client that moved to another lcore (new source port after a reconnect): the old one
  // lets go first; the new one waits for that before it installs.
  if (tun.owner_queue >= 0 && tun.owner_queue != h.queue) send_remove(tun);
  // An install must not overtake a remove still waiting for that lcore (the same slot may
  // be in both): treated as a full ring.
  flush_deferred();
  const bool behind = !deferred_[h.queue].empty();
  if (behind || rte_ring_enqueue(dp.dtls_ctl[h.queue], msg) != 0) {
    cipher_state_free(cs);
    rte_free(msg);
    counters_.failed[static_cast<size_t>(DtlsHandshakeFailure::internal)].add();
    return;
  }
  if (tun.owner_queue < 0) counters_.established.add();
  tun.owner_queue = h.queue;
  counters_.ok.add();
  OC_LOG("info", "msg=\"DTLS established\" worker=%u peer=%s:%u address=%s cipher=%s record_crypto=%s",
         worker_index_, ip_text(h.client_ip).c_str(), h.client_port, ip_text(tun.address).c_str(), cipher.c_str(),
         record_engine_name(engine));
}

void DtlsChannel::send_datagrams(const Handshake& h) {
  const Dataplane& dp = *shared_.dp;
  for (const std::vector<uint8_t>& d : out_) {
    rte_mbuf* m = rte_pktmbuf_alloc(dp.pool);
    const size_t len = wire::kIpv4MinHdrLen + kUdpHdrLen + d.size();
    uint8_t* ip = m == nullptr || len > 0xffff ? nullptr
                                               : reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, static_cast<uint16_t>(len)));
    if (ip == nullptr) {
      rte_pktmbuf_free(m);  // the client retransmits
      continue;
    }
    ipv4_header_write(ip, 0, static_cast<uint16_t>(len), 0, wire::kIpProtoUdp, h.local_ip, h.client_ip);
    uint8_t* udp = ip + wire::kIpv4MinHdrLen;
    store_be16(udp, shared_.cfg->listeners.dtls_port);
    store_be16(udp + 2, h.client_port);
    store_be16(udp + 4, static_cast<uint16_t>(kUdpHdrLen + d.size()));
    store_be16(udp + 6, 0);
    std::memcpy(udp + kUdpHdrLen, d.data(), d.size());
    if (rte_ring_enqueue(dp.to_outside[h.queue], m) != 0) rte_pktmbuf_free(m);
  }
  out_.clear();
}

void DtlsChannel::on_tick(tls::Clock::time_point now) {
  for (auto h = handshakes_.begin(); h != handshakes_.end();) {
    Handshake& hs = h->second;
    const uint64_t flow = h->first;
    ++h;  // advance() and fail() may erase the current entry
    if (now >= hs.deadline) {
      fail(flow, DtlsHandshakeFailure::timeout, "timeout");
      continue;
    }
    if (hs.done || now < hs.next_timeout) continue;
    out_.clear();
    const dtls::DtlsHandshake::Status st = hs.hs->on_timeout(&out_);
    hs.next_timeout = now + hs.hs->retransmit_timeout();
    if (st == dtls::DtlsHandshake::Status::kDone) advance(flow, hs, st);  // keys before the flight
    send_datagrams(hs);
    if (st != dtls::DtlsHandshake::Status::kDone) advance(flow, hs, st);
  }
}

}  // namespace tg::dp::vpn
