// The DTLS side of one TLS worker (PROTOCOL.md §6): App-IDs for the tunnels it holds, the
// PSK-NEGOTIATE handshakes of their clients, and the keys handed to the poll lcores.
//
//   CONNECT          → offer(): a new App-ID (byte 0 = this worker, so the lcores know where a
//                      ClientHello goes; 31 random bytes), X-DTLS-* headers
//   lcore punts      → drain(): ClientHello → App-ID → the tunnel's TLS connection → PSK from
//                      its keying-material exporter now (§6.2) → DtlsHandshake (wolfSSL, with
//                      a HelloVerifyRequest cookie); later datagrams of the flow → the same one;
//                      answers → Dataplane::to_outside[lcore] as IPv4/UDP packets
//   handshake done   → record keys → CipherState (cryptodev sessions or wolfCrypt) →
//                      install message to the lcore that received the flow; the wolfSSL
//                      object is freed: from now on the lcore owns the records
//   tunnel closes    → remove message; its App-ID is forgotten
//   on_tick          → retransmissions; handshakes past limits.dtls_handshake_timeout_s fail
//
// Worker thread only (like OcHandler, which owns one).
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/stats_shm.h"
#include "dataplane/dtls/dtls_handshake.h"
#include "dataplane/tls/tls_worker.h"
#include "dataplane/tunnel/cstp_connect.h"

struct rte_mbuf;
struct WC_RNG;

namespace tg::dp {
struct DtlsCtlMsg;
}

namespace tg::dp::vpn {

struct OcShared;

struct DtlsCounters {
  tls::RelaxedCounter started;
  tls::RelaxedCounter ok;
  std::array<tls::RelaxedCounter, shm::kDtlsHandshakeFailureCount> failed;  ///< by DtlsHandshakeFailure
  tls::RelaxedCounter active;        ///< gauge: handshakes under way
  tls::RelaxedCounter established;   ///< gauge: tunnels whose DTLS keys are on a lcore
  tls::RelaxedCounter removes_deferred;  ///< a lcore's control ring was full: the remove waited
};

class DtlsChannel {
 public:
  DtlsChannel(const OcShared& shared, uint16_t worker_index);
  ~DtlsChannel();
  DtlsChannel(const DtlsChannel&) = delete;
  DtlsChannel& operator=(const DtlsChannel&) = delete;

  /// False when DTLS is off (listeners.dtls, no fast path, or no DTLS context).
  bool enabled() const { return ctx_ != nullptr; }
  /// The record protection the tunnel MTU is computed for: the one with the most overhead
  /// this server may negotiate (AES-GCM when it offers it).
  tunnel::DtlsRecordCipher mtu_cipher() const { return mtu_cipher_; }
  /// A tunnel opens on connection `conn` with pool address `address`: a new App-ID.
  /// `ref` is the session's packed SessionRef (its app included): what the lcore binds to.
  std::optional<tunnel::CstpDtlsOffer> offer(tls::ConnectionId conn, uint64_t ref, uint32_t address, uint16_t tunnel_mtu,
                                             uint32_t dpd_s, uint32_t keepalive_s);
  /// What a tunnel sent and received over DTLS (inner packets).
  struct Traffic {
    uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
  };
  /// The tunnel of `conn` closed: its handshakes end and its keys leave the lcore.
  /// @return its DTLS traffic, for the session's totals (zero without DTLS).
  Traffic on_tunnel_closed(tls::ConnectionId conn);
  /// A tunnel's DTLS traffic so far, and whether DTLS carries its packets to the client now
  /// (keys on a lcore and the client has not fallen back to CSTP).
  struct Live {
    Traffic traffic;
    bool carrying = false;
  };
  Live live(tls::ConnectionId conn) const;
  /// The client of `address` sent a packet on CSTP: send to it on CSTP too (ocserv does).
  void on_cstp_data(uint32_t address);
  /// Handshake datagrams the lcores punted to this worker.
  void drain(tls::TlsWorker& worker);
  /// Retransmissions, stalled handshakes.
  void on_tick(tls::Clock::time_point now);

  const DtlsCounters& counters() const { return counters_; }
  /// Handshakes created and freed so far (each one's wolfSSL object: ~70 KB of heap, freed a
  /// few seconds after it finished): every one created is counted in `started`.
  uint64_t handshake_heap_churn() const { return 2 * counters_.started.get() - handshakes_.size(); }

 private:
  using AppId = std::array<uint8_t, 32>;
  struct AppIdHash {
    size_t operator()(const AppId& a) const;
  };
  struct Tunnel {
    tls::ConnectionId conn = 0;
    uint64_t ref = 0;  ///< packed SessionRef of the tunnel (conn with the app index)
    uint32_t address = 0;
    uint32_t slot = 0;
    uint16_t max_inner = 0;
    int owner_queue = -1;  ///< lcore holding its keys, -1 = none
  };
  struct Handshake {
    std::unique_ptr<dtls::DtlsHandshake> hs;
    AppId app_id{};
    uint32_t local_ip = 0;
    uint32_t client_ip = 0;
    uint16_t client_port = 0;
    uint16_t queue = 0;  ///< lcore that received the flow: it will own the session
    tls::Clock::time_point deadline;      ///< fail then; after kDone: forget then
    tls::Clock::time_point next_timeout;
    /// Keys installed. The handshake stays a few seconds to answer a client that lost our
    /// last flight and retransmits its Finished (dtls_handshake.h).
    bool done = false;
  };

  void on_datagram(tls::TlsWorker& worker, rte_mbuf* m);
  void advance(uint64_t flow, Handshake& h, dtls::DtlsHandshake::Status status);
  void finish(Handshake& h);
  void fail(uint64_t flow, shm::DtlsHandshakeFailure why, const char* detail);
  void send_datagrams(const Handshake& h);
  void send_remove(const Tunnel& t);
  /// Send the deferred removes, oldest first, as far as the lcores' rings take them.
  void flush_deferred();

  const OcShared& shared_;
  const uint16_t worker_index_;
  std::unique_ptr<dtls::DtlsServerContext> ctx_;
  tunnel::DtlsRecordCipher mtu_cipher_ = tunnel::DtlsRecordCipher::kNone;
  std::unordered_map<AppId, Tunnel, AppIdHash> tunnels_;
  std::unordered_map<tls::ConnectionId, AppId> app_id_of_;
  std::unordered_map<uint64_t, Handshake> handshakes_;  ///< by flow (client ip << 16 | port)
  std::vector<std::vector<uint8_t>> out_;               ///< scratch: datagrams to send
  /// Removes a lcore's control ring had no room for (a burst of closes: 100,000 logouts
  /// filled a 4096-entry ring), by lcore queue. Dropping one would leave the session's keys
  /// on the lcore until its address is bound again; so they wait here, in order, and
  /// nothing else goes to that lcore before them.
  std::vector<std::deque<DtlsCtlMsg*>> deferred_;
  DtlsCounters counters_;
  WC_RNG* rng_ = nullptr;  ///< App-IDs
};

}  // namespace tg::dp::vpn
