// The OpenConnect server of one TLS worker thread: the HTTP config-auth exchange, CONNECT,
// and CSTP, glued to the control plane (CtlClient), the session table and the rings to the
// poll lcores (tunnel_path.h). One OcHandler per TlsWorker; worker thread only.
//
//   on_data (HTTP)   → codecs (dataplane/tunnel) → AUTH_* / SESSION_OPEN to the control plane
//   on_tick/on_pass  → control-plane answers → forms, cookie, 200 CONNECTED + X-CSTP-*
//   on_data (CSTP)   → DATA frames → mbufs → Dataplane::from_workers[lcore]
//   on_wake          → WorkerMailbox ring → CSTP DATA frames to the owning connection
//   on_close         → unbind the address, SESSION_CLOSE with the counters
//
// A session's SessionRef (session_table.h) is its ConnectionId ((worker << 56) | sequence)
// with the app index of its policy in bits 55..48, so return packets find their connection
// with TlsWorker::find(SessionRef::connection_id(ref)) and no extra table.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/ctl_messages.h"
#include "config/config.h"
#include "dataplane/ctl/ctl_client.h"
#include "dataplane/dataplane.h"
#include "dataplane/tls/tls_worker.h"
#include "dataplane/tunnel/auth_xml.h"
#include "dataplane/tunnel/http_request.h"
#include "dataplane/vpn/dtls_channel.h"

struct rte_mbuf;

namespace tg::dp::vpn {

/// Counters of one worker's OpenConnect handling (single writer: the worker thread).
struct OcCounters {
  tls::RelaxedCounter http_errors;          ///< malformed or unsupported requests answered 4xx/5xx
  tls::RelaxedCounter auth_forms;           ///< forms sent (username, password, retry)
  tls::RelaxedCounter auth_ok;              ///< logins completed (cookie sent)
  tls::RelaxedCounter auth_denied;          ///< logins refused by the control plane
  tls::RelaxedCounter try_again;            ///< 503: control plane down, slow or overloaded
  tls::RelaxedCounter ctl_queued;           ///< requests that waited for room in the ctl client
  tls::RelaxedCounter tunnels_opened;       ///< 200 CONNECTED sent
  tls::RelaxedCounter tunnels_closed;
  tls::RelaxedCounter cookie_rejected;      ///< 401 on CONNECT
  tls::RelaxedCounter cstp_errors;          ///< bad CSTP frames (the session ends)
  tls::RelaxedCounter cstp_rx_packets;      ///< DATA frames from clients handed to lcores
  tls::RelaxedCounter cstp_rx_bytes;
  tls::RelaxedCounter cstp_tx_packets;      ///< DATA frames written to clients
  tls::RelaxedCounter cstp_tx_bytes;
  tls::RelaxedCounter rx_dropped_ring_full; ///< a lcore's ring was full
  tls::RelaxedCounter rx_dropped_no_mbuf;
  tls::RelaxedCounter rx_dropped_too_big;   ///< DATA larger than an mbuf holds
  tls::RelaxedCounter tx_dropped_stale;     ///< packet for a tunnel that is gone
  tls::RelaxedCounter tx_dropped_backpressure;  ///< the client does not read fast enough
  tls::RelaxedCounter dpd_answered;
};

/// What every worker's handler shares (read-only while workers run).
struct OcShared {
  const config::Config* cfg = nullptr;
  Dataplane* dp = nullptr;       ///< pool, session table, rings, dynfield
  unsigned n_lcores = 0;         ///< entries of dp->from_workers
  uint16_t link_mtu = 1500;      ///< outside port MTU (for the tunnel MTU)
};

class OcHandler final : public tls::TlsHandler {
 public:
  OcHandler(const OcShared& shared, dataplane::CtlClient& ctl, uint16_t worker_index);
  ~OcHandler() override;
  /// The worker this handler serves (set once, before run()).
  void attach(tls::TlsWorker& worker) { worker_ = &worker; }

  void on_open(tls::Connection& connection) override;
  void on_data(tls::Connection& connection, std::span<const uint8_t> data) override;
  void on_close(tls::Connection& connection, tls::CloseReason reason) override;
  void on_tick(tls::TlsWorker& worker, tls::Clock::time_point now) override;
  void on_wake(tls::TlsWorker& worker) override;
  /// While control-plane answers are awaited: takes those that arrived (the control plane
  /// cannot wake the worker, so without this each login step would wait for a tick).
  bool on_pass(tls::TlsWorker& worker) override;

  const OcCounters& counters() const { return counters_; }
  const DtlsCounters& dtls_counters() const { return dtls_->counters(); }

  /// Wake function for WorkerMailbox (lcores call it after enqueueing).
  static void wake_worker(void* tls_worker);

 private:
  struct Session;
  void handle_http(tls::Connection& c, Session& s, std::span<const uint8_t> data);
  void handle_request(tls::Connection& c, Session& s, const tunnel::HttpRequest& r);
  void handle_cstp(tls::Connection& c, Session& s, std::span<const uint8_t> data);
  void send_http(tls::Connection& c, Session& s, const std::string& bytes, bool close_after);
  void send_error(tls::Connection& c, Session& s, uint16_t status, std::string_view reason, bool close_after = true);
  bool submit(tls::Connection& c, Session& s, ctl::CtlMessage& msg);
  void poll_control_plane();
  void on_ctl_message(const ctl::CtlMessage& msg);
  void on_auth_result(tls::Connection& c, Session& s, const ctl::AuthResultPayload& r);
  void on_session_params(tls::Connection& c, Session& s, const ctl::CtlMessage& msg);
  bool open_tunnel(tls::Connection& c, Session& s);
  /// Send the client a CSTP TERMINATE and close its connection (`why` goes to SESSION_CLOSE).
  void terminate_tunnel(tls::Connection& c, Session& s, ctl::CtlCloseReason why);
  /// A control plane that knows none of our tunnels attached: queue every tunnel for
  /// SESSION_RESYNC, then the kResyncDone marker (docs/auth.md, "Control-plane crash and resync").
  void start_resync();
  /// Submit queued SESSION_RESYNCs as far as the in-flight limit allows (every tick).
  void continue_resync();
  void on_resync_ack(tls::ConnectionId connection, const ctl::CtlMessage& msg);
  void retry_pending_binds(tls::Clock::time_point now);
  void retry_pending_closes();
  void drain_mailbox();
  void flush_to_lcores();
  void stage_to_lcore(Session& s, uint64_t ref, std::span<const uint8_t> packet);
  /// Writes the tunnel's live record (api/session_shm.h): channel and traffic so far, or a
  /// free record when `closing`. Only the worker holding the address binding writes it.
  void publish_live(const tls::Connection& c, const Session& s, bool closing);
  /// Refresh a slice of the tunnels' live records (each about once a second, at most
  /// kLivePublishPerTick a tick).
  void publish_live_slice();

  const OcShared& shared_;
  dataplane::CtlClient& ctl_;
  const uint16_t worker_index_;
  tls::TlsWorker* worker_ = nullptr;
  OcCounters counters_;
  std::unordered_map<uint64_t, tls::ConnectionId> pending_requests_;  ///< request id → connection
  std::unordered_map<uint64_t, tls::ConnectionId> sessions_;          ///< ctl session id → connection
  std::unordered_map<tls::ConnectionId, tls::Clock::time_point> binds_waiting_;  ///< address busy: retry
  std::vector<uint64_t> resync_queue_;  ///< ctl session ids still to report to a new control plane
  bool resync_done_owed_ = false;       ///< the kResyncDone marker follows the queue
  size_t resync_reported_ = 0;          ///< tunnels reported in this round (for the log)
  std::unordered_map<uint64_t, tls::ConnectionId> resync_requests_;  ///< SESSION_RESYNC id → connection
  /// SESSION_CLOSEs submit() refused for now (kCtlMaxInFlight requests in flight, or the
  /// ring full: a burst of logouts), sent again on the tick in order. At most one per closed
  /// connection; bounded by kMaxClosesWaiting (the control plane expires what is lost). Only
  /// the session id and payload wait (~64 bytes), not a whole ctl message (12 KiB).
  struct CloseWaiting {
    uint64_t session_id;
    ctl::SessionClosePayload payload;
  };
  std::deque<CloseWaiting> closes_waiting_;
  static constexpr size_t kMaxClosesWaiting = 65536;
  /// Connections whose login or CONNECT request waits for room in the ctl client (the
  /// message itself waits in their Session), sent in order on the tick. Bounded: past it,
  /// 503 as before. Each waiting message is 12 KiB, so 1024 of them are 12 MiB at most.
  std::deque<tls::ConnectionId> submits_waiting_;
  static constexpr size_t kMaxSubmitsWaiting = 1024;
  void retry_pending_submits();
  void drop_queued(Session& s);
  /// Packets from clients staged per lcore during one on_data (one enqueue burst each).
  struct LcoreStage {
    uint16_t n = 0;
    rte_mbuf* pkts[kBurst];
  };
  std::unique_ptr<LcoreStage[]> to_lcore_;
  std::vector<uint8_t> tx_frame_;  ///< scratch: one CSTP frame (header + packet)
  /// The auth groups the username form lists: one per app (its `group` label), so
  /// `openconnect --authgroup` picks the app (auth.app_from_* = "group"). Empty without apps.
  std::vector<std::string> group_labels_;
  std::vector<tunnel::AuthGroupOption> groups_;
  bool token_enabled_ = false;  ///< auth.methods lists "token"
  /// Send a bearer token to the control plane (AUTH_TOKEN).
  void submit_token(tls::Connection& c, Session& s, std::string_view token);
  std::unique_ptr<DtlsChannel> dtls_;
  /// Tunnels whose live record publish_live_slice() refreshes, by connection (swap-removed
  /// when found closed; ids are never reused), and where the next slice starts.
  std::vector<tls::ConnectionId> live_;
  size_t live_cursor_ = 0;
  uint64_t dtls_churn_seen_ = 0;  ///< DtlsChannel::handshake_heap_churn() at the last tick
};

}  // namespace tg::dp::vpn
