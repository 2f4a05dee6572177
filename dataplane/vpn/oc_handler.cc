#include "dataplane/vpn/oc_handler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dataplane/ctl/ctl_segment_owner.h"
#include "dataplane/policy_state.h"
#include "dataplane/session_table.h"
#include "dataplane/tunnel/auth_xml.h"
#include "dataplane/tunnel/cstp_connect.h"
#include "dataplane/tunnel/cstp_frame.h"
#include "dataplane/tunnel/http_response.h"
#include "dataplane/tunnel_path.h"
#include "dataplane/vpn/worker_log.h"

namespace tg::dp::vpn {

namespace {
using tls::Clock;
using tls::CloseReason;
using tls::Connection;

/// How long a CONNECT waits for its address to be released by the tunnel it replaces.
constexpr auto kBindRetryWindow = std::chrono::seconds(2);
/// Packets taken from the mailbox per wake (then the loop serves connections again).
constexpr unsigned kMailboxBurst = 64;
constexpr std::string_view kTunnelPath = "/CSCOSSLC/tunnel";



ctl::CtlAddress ctl_address_of(const tls::PeerAddress& p) {
  ctl::CtlAddress a{};
  a.family = p.address.is_v4() ? 4 : 6;
  a.port = p.port;
  std::memcpy(a.bytes, p.address.bytes.data(), 16);
  return a;
}

std::string peer_text(const Connection& c) {
  return config::to_string(c.peer_address().address) + ":" + std::to_string(c.peer_address().port);
}

/// What the client is told when the control plane refuses a login (openconnect prints it).
std::string refusal_text(ctl::CtlReason reason) {
  const char* text = nullptr;
  switch (reason) {
    case ctl::CtlReason::cert_unknown_ca: text = "Certificate not issued by a trusted CA"; break;
    case ctl::CtlReason::cert_expired: text = "Certificate expired"; break;
    case ctl::CtlReason::cert_not_yet_valid: text = "Certificate not yet valid"; break;
    case ctl::CtlReason::cert_bad_signature: text = "Certificate signature does not verify"; break;
    case ctl::CtlReason::cert_malformed: text = "Certificate malformed"; break;
    case ctl::CtlReason::cert_no_user: text = "No user name in the certificate"; break;
    case ctl::CtlReason::method_disabled: text = "Certificate login is not enabled"; break;
    case ctl::CtlReason::no_app: text = "No application policy for this client"; break;
    case ctl::CtlReason::unknown_app: text = "The application is not configured on this gateway"; break;
    case ctl::CtlReason::token_malformed: text = "Token malformed"; break;
    case ctl::CtlReason::token_unknown_key: text = "Token signed with an unknown key"; break;
    case ctl::CtlReason::token_bad_signature: text = "Token signature does not verify"; break;
    case ctl::CtlReason::token_expired: text = "Token expired"; break;
    case ctl::CtlReason::token_not_yet_valid: text = "Token not yet valid"; break;
    case ctl::CtlReason::token_bad_issuer: text = "Token issuer not accepted"; break;
    case ctl::CtlReason::token_bad_audience: text = "Token audience not accepted"; break;
    case ctl::CtlReason::token_no_user: text = "No user name in the token"; break;
    case ctl::CtlReason::source_rate_limited:
      text = "Too many failed logins from this address; try again later";
      break;
    default: text = "Login refused"; break;
  }
  return std::string(text) + " (" + ctl::ctl_reason_name(reason) + ")";
}

ctl::CtlCloseReason close_reason_for(CloseReason r) {
  switch (r) {
    case CloseReason::peer_closed: return ctl::CtlCloseReason::client_disconnect;
    case CloseReason::idle_timeout: return ctl::CtlCloseReason::dpd_timeout;
    case CloseReason::worker_stopping: return ctl::CtlCloseReason::server_shutdown;
    case CloseReason::local:
    case CloseReason::deadline: return ctl::CtlCloseReason::client_disconnect;
    default: return ctl::CtlCloseReason::error;
  }
}
}  // namespace

/// Per connection (Connection::user_data).
struct OcHandler::Session {
  enum class Phase : uint8_t { http, waiting_control_plane, waiting_bind, tunnel };
  Phase phase = Phase::http;
  tunnel::HttpRequestParser http;
  std::optional<tunnel::CstpDecoder> cstp;
  std::string username;  ///< from the username step (same TLS connection)
  std::string group;
  uint64_t pending_request = 0;
  ctl::CtlType pending_type = ctl::CtlType::ping;
  /// A request the ctl client could not take yet (kCtlMaxInFlight in flight, or the ring
  /// full: a login storm); it waits in submits_waiting_ and is wiped once sent.
  std::unique_ptr<ctl::CtlMessage> queued;
  bool cert_login = false;
  bool token_login = false;  ///< a refusal ends the login with its reason (no password retry)
  // The tunnel (after SESSION_PARAMS).
  uint64_t session_id = 0;
  uint32_t attach_seq = 0;
  uint32_t address = 0;
  uint64_t ref = 0;  ///< packed SessionRef: the connection id with the app index
  bool bound = false;
  tunnel::CstpConnectRequest connect;
  tunnel::CstpTunnelParams params;
  std::optional<ctl::CtlCloseReason> close_reason;  ///< set when the cause is known (BYE, terminate)
  // Whose tunnel this is, as SESSION_PARAMS said: reported again to a control plane that
  // replaced the one that opened it (SESSION_RESYNC), with the cookie in `connect`.
  std::string owner_user, owner_group, owner_app;
  uint64_t expires_ns = 0;  ///< CLOCK_MONOTONIC end of the session's lifetime
  uint64_t rx_bytes = 0, tx_bytes = 0, rx_packets = 0, tx_packets = 0;

  explicit Session(const tunnel::HttpRequestLimits& limits) : http(limits) {}
};

OcHandler::OcHandler(const OcShared& shared, dataplane::CtlClient& ctl, uint16_t worker_index)
    : shared_(shared), ctl_(ctl), worker_index_(worker_index),
      to_lcore_(std::make_unique<LcoreStage[]>(std::max(1u, shared.n_lcores))),
      dtls_(std::make_unique<DtlsChannel>(shared, worker_index)) {
  // The default app's group first: a client that names no group takes the first option
  // (openconnect answers a group list with it), and so gets what default_app gives.
  for (const config::AppConfig& a : shared.cfg->apps) {
    const std::string label = a.group.empty() ? a.id : a.group;
    if (a.id == shared.cfg->default_app) {
      group_labels_.insert(group_labels_.begin(), label);
    } else {
      group_labels_.push_back(label);
    }
  }
  groups_.reserve(group_labels_.size());  // views into group_labels_, which no longer changes
  for (const std::string& g : group_labels_) groups_.push_back({g, g});
  token_enabled_ = std::find(shared.cfg->auth.methods.begin(), shared.cfg->auth.methods.end(), "token") !=
                   shared.cfg->auth.methods.end();
}

OcHandler::~OcHandler() {
  for (unsigned l = 0; l < shared_.n_lcores; l++)
    for (uint16_t i = 0; i < to_lcore_[l].n; i++) rte_pktmbuf_free(to_lcore_[l].pkts[i]);
}

void OcHandler::wake_worker(void* tls_worker) { static_cast<tls::TlsWorker*>(tls_worker)->wake(); }

void OcHandler::on_open(Connection& c) {
  tunnel::HttpRequestLimits limits;
  limits.max_body_bytes = shared_.cfg->limits.max_request_bytes;
  limits.max_header_bytes = std::min<size_t>(shared_.cfg->limits.max_request_bytes, 16384);
  c.set_user_data(new Session(limits));
}

void OcHandler::on_data(Connection& c, std::span<const uint8_t> data) {
  auto* s = static_cast<Session*>(c.user_data());
  if (s == nullptr) return;
  if (s->phase == Session::Phase::tunnel) {
    handle_cstp(c, *s, data);
  } else {
    handle_http(c, *s, data);
  }
  flush_to_lcores();
}

// ---------------------------------------------------------------- HTTP

void OcHandler::send_http(Connection& c, Session&, const std::string& bytes, bool close_after) {
  c.send(bytes);
  if (close_after) c.close(CloseReason::local);
}

void OcHandler::send_error(Connection& c, Session& s, uint16_t status, std::string_view reason, bool close_after) {
  tunnel::HttpErrorResponse e;
  e.status = status;
  e.reason_phrase = tunnel::http_status_reason(status);
  e.body = reason;
  e.x_reason = reason;
  e.close_connection = close_after;
  const tunnel::HttpBuildResult r = tunnel::http_response_error(e);
  if (status == 503) {
    counters_.try_again.add();
  } else if (status != 401) {
    counters_.http_errors.add();
  }
  OC_LOG("warn", "msg=\"http error\" worker=%u peer=%s status=%u reason=\"%.*s\"", worker_index_,
         peer_text(c).c_str(), status, static_cast<int>(reason.size()), reason.data());
  send_http(c, s, r.ok() ? r.bytes : std::string("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"),
            close_after);
}

void OcHandler::handle_http(Connection& c, Session& s, std::span<const uint8_t> data) {
  if (s.phase != Session::Phase::http) {
    // openconnect never pipelines: it waits for each answer. Anything else is a bad client.
    send_error(c, s, 400, "request sent before the previous one was answered");
    return;
  }
  tunnel::HttpParseResult r = s.http.feed(data);
  while (r.status == tunnel::HttpParseStatus::kComplete) {
    handle_request(c, s, r.request);
    if (s.phase != Session::Phase::http || !c.is_open()) return;  // the rest waits for the answer
    r = s.http.next();
  }
  if (r.status == tunnel::HttpParseStatus::kError) {
    send_error(c, s, static_cast<uint16_t>(r.error.status), r.error.reason);
  }
}

void OcHandler::handle_request(Connection& c, Session& s, const tunnel::HttpRequest& req) {
  // The next request (a form answered by a person) gets its own limits.request_timeout_s.
  c.set_deadline(Clock::now() + std::chrono::seconds(shared_.cfg->limits.request_timeout_s));
  const std::string_view path = std::string_view(req.target).substr(0, req.target.find('?'));
  if (req.method == tunnel::HttpMethod::kConnect) {
    if (path != kTunnelPath) {
      send_error(c, s, 404, "unknown tunnel path");
      return;
    }
    tunnel::CstpConnectParseResult p = tunnel::cstp_connect_parse(req);
    if (!p.ok()) {
      send_error(c, s, 400, p.message);
      return;
    }
    if (!p.request.session_cookie || p.request.session_cookie->empty()) {
      counters_.cookie_rejected.add();
      send_error(c, s, 401, "no webvpn cookie");
      return;
    }
    s.connect = std::move(p.request);
    ctl::CtlMessage msg;
    ctl::ctl_message_init(msg, ctl::CtlType::session_open);
    if (!ctl::ctl_set_string(msg.payload.session_open.cookie, *s.connect.session_cookie)) {
      counters_.cookie_rejected.add();
      send_error(c, s, 401, "Cookie is not acceptable");
      return;
    }
    msg.payload.session_open.client = ctl_address_of(c.peer_address());
    submit(c, s, msg);
    return;
  }
  if (req.method != tunnel::HttpMethod::kPost) {
    send_error(c, s, req.method == tunnel::HttpMethod::kGet ? 404 : 405, "only the config-auth POST is served",
               !req.keep_alive());
    return;
  }
  if (path != "/" && path != "/auth") {
    send_error(c, s, 404, "unknown path", !req.keep_alive());
    return;
  }
  tunnel::AuthXmlParseResult a = tunnel::auth_xml_parse_client(req.body, shared_.cfg->limits.max_request_bytes);
  if (!a.ok()) {
    send_error(c, s, 400, a.message);
    return;
  }
  const tunnel::ClientAuthMessage& m = a.content;
  if (m.group_select) s.group = *m.group_select;
  if (m.type == tunnel::AuthMessageType::kLogout) {
    send_http(c, s, tunnel::http_response_xml_ok(tunnel::auth_xml_build_failure("Logged out."), {}, true).bytes, true);
    return;
  }
  // A bearer token in the Authorization header (Microsoft Tunnel's MAM SDK), on any POST.
  if (const auto token = tunnel::http_bearer_token(req); token && token_enabled_) {
    submit_token(c, s, *token);
    return;
  }
  if (m.type == tunnel::AuthMessageType::kInit) {
    // A client certificate from the handshake: the control plane decides on it (§3.8).
    const tls::ClientCertInfo& cert = c.client_cert();
    if (!cert.chain_der.empty()) {
      ctl::CtlMessage msg;
      ctl::ctl_message_init(msg, ctl::CtlType::auth_cert);
      ctl::AuthCertPayload& p = msg.payload.auth_cert;
      p.client = ctl_address_of(c.peer_address());
      const auto& leaf = cert.chain_der.front();
      if (leaf.empty() || leaf.size() > ctl::kCtlMaxCertDer) {
        send_error(c, s, 400, "client certificate too large");
        return;
      }
      p.cert_len = static_cast<uint32_t>(leaf.size());
      std::memcpy(p.cert_der, leaf.data(), leaf.size());
      size_t chain = 0;
      for (size_t i = 1; i < cert.chain_der.size(); i++) {
        const auto& der = cert.chain_der[i];
        if (chain + der.size() > ctl::kCtlMaxChainDer) break;  // the CA bundle may still complete it
        std::memcpy(p.chain_der + chain, der.data(), der.size());
        chain += der.size();
      }
      p.chain_len = static_cast<uint32_t>(chain);
      ctl::ctl_set_string(p.group, s.group);
      s.cert_login = true;
      submit(c, s, msg);
      return;
    }
    counters_.auth_forms.add();
    send_http(c, s, tunnel::http_response_xml_ok(tunnel::auth_xml_build_username_form(groups_, s.group), {}, false).bytes,
              false);
    return;
  }
  // auth-reply: the username step, then the password step (or both at once).
  if (m.username) s.username = *m.username;
  if (!m.password) {
    if (s.username.empty()) {
      counters_.auth_forms.add();
      send_http(c, s, tunnel::http_response_xml_ok(tunnel::auth_xml_build_username_form(groups_, s.group), {}, false).bytes,
                false);
      return;
    }
    counters_.auth_forms.add();
    send_http(c, s, tunnel::http_response_xml_ok(tunnel::auth_xml_build_password_form(), {}, false).bytes, false);
    return;
  }
  // A JWT in the password field (a token-only client still answers the password form).
  if (token_enabled_ && tunnel::jwt_compact_shape(*m.password, ctl::kCtlMaxToken)) {
    submit_token(c, s, *m.password);
    return;
  }
  ctl::CtlMessage msg;
  ctl::ctl_message_init(msg, ctl::CtlType::auth_password);
  ctl::AuthPasswordPayload& p = msg.payload.auth_password;
  if (!ctl::ctl_set_string(p.user, s.username) || !ctl::ctl_set_string(p.password, *m.password) ||
      !ctl::ctl_set_string(p.group, s.group)) {
    send_error(c, s, 400, "user name, password or group too long");
    return;
  }
  p.client = ctl_address_of(c.peer_address());
  submit(c, s, msg);
  std::memset(&p.password, 0, sizeof p.password);  // no copy of the password stays behind
}

void OcHandler::submit_token(Connection& c, Session& s, std::string_view token) {
  if (token.empty() || token.size() > ctl::kCtlMaxToken) {
    send_error(c, s, token.empty() ? 400 : 431, "bearer token empty or too long");
    return;
  }
  ctl::CtlMessage msg;
  ctl::ctl_message_init(msg, ctl::CtlType::auth_token);
  ctl::AuthTokenPayload& p = msg.payload.auth_token;
  if (!ctl::ctl_set_string(p.group, s.group)) {
    send_error(c, s, 400, "group too long");
    return;
  }
  p.client = ctl_address_of(c.peer_address());
  p.token_len = static_cast<uint32_t>(token.size());
  s.token_login = true;
  std::memcpy(p.token, token.data(), token.size());
  submit(c, s, msg);
  std::memset(p.token, 0, sizeof p.token);  // no copy of the credential stays behind
}

bool OcHandler::submit(Connection& c, Session& s, ctl::CtlMessage& msg) {
  const auto type = static_cast<ctl::CtlType>(msg.header.type);
  const dataplane::CtlClient::Submit r = ctl_.submit(msg, dataplane::ctl_monotonic_ns());
  if (r == dataplane::CtlClient::Submit::control_plane_down) {
    // Established tunnels keep forwarding; only logins and CONNECTs need the control plane.
    send_error(c, s, 503, "try again: the gateway's control plane is down (control_plane_down)");
    return false;
  }
  if ((r == dataplane::CtlClient::Submit::too_many_in_flight || r == dataplane::CtlClient::Submit::ring_full) &&
      submits_waiting_.size() < kMaxSubmitsWaiting) {
    // A login storm: wait for room instead of a 503, which openconnect does not retry
    // during auth. The connection's request deadline still bounds the wait.
    s.queued = std::make_unique<ctl::CtlMessage>(msg);
    s.phase = Session::Phase::waiting_control_plane;
    submits_waiting_.push_back(c.id());
    counters_.ctl_queued.add();
    return true;
  }
  if (r != dataplane::CtlClient::Submit::ok) {
    send_error(c, s, 503, std::string("try again: ") + dataplane::ctl_submit_name(r));
    return false;
  }
  s.pending_request = msg.header.request_id;
  s.pending_type = type;
  s.phase = Session::Phase::waiting_control_plane;
  pending_requests_[msg.header.request_id] = c.id();
  return true;
}

// ---------------------------------------------------------------- control-plane answers

void OcHandler::drop_queued(Session& s) {
  if (!s.queued) return;
  explicit_bzero(s.queued.get(), sizeof(ctl::CtlMessage));  // passwords, tokens
  s.queued.reset();
}

void OcHandler::retry_pending_submits() {
  while (!submits_waiting_.empty()) {
    Connection* c = worker_->find(submits_waiting_.front());
    auto* s = c ? static_cast<Session*>(c->user_data()) : nullptr;
    if (s == nullptr || !s->queued || !c->is_open()) {
      submits_waiting_.pop_front();  // closed while it waited (on_close wiped it)
      continue;
    }
    const dataplane::CtlClient::Submit r = ctl_.submit(*s->queued, dataplane::ctl_monotonic_ns());
    if (r == dataplane::CtlClient::Submit::too_many_in_flight || r == dataplane::CtlClient::Submit::ring_full) return;
    submits_waiting_.pop_front();
    const uint64_t id = s->queued->header.request_id;
    const auto type = static_cast<ctl::CtlType>(s->queued->header.type);
    drop_queued(*s);
    if (r != dataplane::CtlClient::Submit::ok) {
      send_error(*c, *s, 503, std::string("try again: the gateway's control plane is down (") +
                                  dataplane::ctl_submit_name(r) + ")");
      continue;
    }
    s->pending_request = id;
    s->pending_type = type;
    pending_requests_[id] = c->id();
  }
}

void OcHandler::on_tick(tls::TlsWorker& worker, Clock::time_point now) {
  poll_control_plane();
  retry_pending_closes();  // first: a close frees an address, a login may wait for one
  retry_pending_submits();
  retry_pending_binds(now);
  drain_mailbox();
  dtls_->drain(*worker_);
  dtls_->on_tick(now);
  // DTLS handshakes count toward the worker's heap trim, as TLS handshakes do.
  const uint64_t churn = dtls_->handshake_heap_churn();
  if (churn != dtls_churn_seen_) worker.note_heap_churn(churn - dtls_churn_seen_);
  dtls_churn_seen_ = churn;
  publish_live_slice();
}

void OcHandler::on_wake(tls::TlsWorker&) {
  drain_mailbox();
  dtls_->drain(*worker_);
}

bool OcHandler::on_pass(tls::TlsWorker&) {
  // One acquire load of the ring when nothing arrived; answers are handled as on the tick
  // (expiry and resync stay on the tick).
  if (ctl_.in_flight() == 0) return false;
  ctl_.poll([this](const ctl::CtlMessage& msg) { on_ctl_message(msg); });
  // Answers free room in flight: what waits for it goes now, not at the next tick.
  if (!closes_waiting_.empty()) retry_pending_closes();
  if (!submits_waiting_.empty()) retry_pending_submits();
  return ctl_.in_flight() > 0;
}

void OcHandler::poll_control_plane() {
  ctl_.poll([this](const ctl::CtlMessage& msg) { on_ctl_message(msg); });
  const uint64_t now = dataplane::ctl_monotonic_ns();
  ctl_.expire(now, [this](uint64_t request_id, ctl::CtlType) {
    // An unanswered SESSION_RESYNC leaves its tunnel up (the next control plane asks again).
    if (resync_requests_.erase(request_id) != 0) return;
    auto it = pending_requests_.find(request_id);
    if (it == pending_requests_.end()) return;
    Connection* c = worker_->find(it->second);
    pending_requests_.erase(it);
    if (c == nullptr) return;
    auto* s = static_cast<Session*>(c->user_data());
    s->pending_request = 0;
    s->phase = Session::Phase::http;
    send_error(*c, *s, 503, "try again: the control plane did not answer");
  });
  if (ctl_.take_new_control_plane(now)) start_resync();
  continue_resync();
}

void OcHandler::start_resync() {
  resync_queue_.clear();
  resync_reported_ = 0;
  // Every tunnel with parameters from a control plane: open ones and those still waiting
  // for their address (they open shortly, or close and report it).
  for (const auto& [session_id, connection] : sessions_) {
    if (worker_->find(connection) != nullptr) resync_queue_.push_back(session_id);
  }
  resync_done_owed_ = true;
  OC_LOG("info", "msg=\"control plane attached: reporting tunnels\" worker=%u tunnels=%zu", worker_index_,
         resync_queue_.size());
}

void OcHandler::continue_resync() {
  while (!resync_queue_.empty()) {
    const uint64_t session_id = resync_queue_.back();
    const auto it = sessions_.find(session_id);
    Connection* c = it != sessions_.end() ? worker_->find(it->second) : nullptr;
    auto* s = c ? static_cast<Session*>(c->user_data()) : nullptr;
    if (s == nullptr || s->session_id != session_id) {  // closed since: nothing to report
      resync_queue_.pop_back();
      continue;
    }
    ctl::CtlMessage msg;
    ctl::ctl_message_init(msg, ctl::CtlType::session_resync);
    msg.header.session_id = session_id;
    ctl::SessionResyncPayload& p = msg.payload.session_resync;
    p.attach_seq = s->attach_seq;
    p.ipv4 = s->address;
    p.expires_ns = s->expires_ns;
    p.client = ctl_address_of(c->peer_address());
    ctl::ctl_set_string(p.cookie, s->connect.session_cookie.value_or(""));
    ctl::ctl_set_string(p.user, s->owner_user);
    ctl::ctl_set_string(p.group, s->owner_group);
    ctl::ctl_set_string(p.app, s->owner_app);
    const dataplane::CtlClient::Submit r = ctl_.submit(msg, dataplane::ctl_monotonic_ns());
    if (r == dataplane::CtlClient::Submit::control_plane_down) {  // gone again: the next one asks
      resync_queue_.clear();
      resync_done_owed_ = false;
      return;
    }
    if (r != dataplane::CtlClient::Submit::ok) return;  // ring or in-flight limit: next tick
    resync_requests_[msg.header.request_id] = c->id();
    resync_queue_.pop_back();
    resync_reported_++;
  }
  if (!resync_done_owed_) return;
  ctl::CtlMessage done;
  ctl::ctl_message_init(done, ctl::CtlType::session_resync);
  done.payload.session_resync.flags = ctl::kResyncDone;
  const dataplane::CtlClient::Submit r = ctl_.submit(done, dataplane::ctl_monotonic_ns());
  if (r == dataplane::CtlClient::Submit::ok || r == dataplane::CtlClient::Submit::control_plane_down) {
    resync_done_owed_ = false;
  }
  if (r == dataplane::CtlClient::Submit::ok) {
    OC_LOG("info", "msg=\"tunnels reported to the control plane\" worker=%u tunnels=%zu", worker_index_,
           resync_reported_);
  }
}

void OcHandler::on_resync_ack(tls::ConnectionId connection, const ctl::CtlMessage& msg) {
  const auto type = static_cast<ctl::CtlType>(msg.header.type);
  // ERROR (the control plane could not read it): the tunnel stays; only a refusal ends it.
  if (type != ctl::CtlType::session_resync_ack ||
      msg.payload.session_resync_ack.result != static_cast<uint8_t>(ctl::CtlResult::denied))
    return;
  Connection* c = worker_->find(connection);
  auto* s = c ? static_cast<Session*>(c->user_data()) : nullptr;
  if (s == nullptr || s->session_id != msg.header.session_id) return;  // closed meanwhile
  const std::string_view reason = ctl::ctl_get_string(msg.payload.session_resync_ack.reason_text);
  OC_LOG("warn", "msg=\"tunnel refused by the new control plane: closing it\" worker=%u peer=%s session=%llu "
         "address=%s reason=%.*s",
         worker_index_, peer_text(*c).c_str(), static_cast<unsigned long long>(s->session_id),
         tunnel::ipv4_to_string(s->address).c_str(), static_cast<int>(reason.size()), reason.data());
  terminate_tunnel(*c, *s, ctl::CtlCloseReason::error);
}

void OcHandler::terminate_tunnel(Connection& c, Session& s, ctl::CtlCloseReason why) {
  s.close_reason = why;
  uint8_t frame[tunnel::cstp::kHeaderBytes];
  tunnel::cstp_encode_header(frame, tunnel::CstpType::kTerminate, 0);
  c.send(std::span<const uint8_t>(frame, sizeof frame));
  c.close(CloseReason::local);
}

void OcHandler::on_ctl_message(const ctl::CtlMessage& msg) {
  const auto type = static_cast<ctl::CtlType>(msg.header.type);
  if (type == ctl::CtlType::session_terminate) {
    auto it = sessions_.find(msg.header.session_id);
    if (it == sessions_.end()) return;
    Connection* c = worker_->find(it->second);
    if (c == nullptr) return;
    auto* s = static_cast<Session*>(c->user_data());
    if (s->attach_seq != msg.payload.session_terminate.attach_seq) return;  // an older tunnel
    // The control plane says why (replaced by a newer CONNECT, or an operator's disconnect);
    // a value this build does not know is taken as "replaced".
    const uint8_t why = msg.payload.session_terminate.reason;
    terminate_tunnel(*c, *s, why < ctl::kCtlCloseReasonCount ? static_cast<ctl::CtlCloseReason>(why)
                                                             : ctl::CtlCloseReason::replaced);
    return;
  }
  if (type == ctl::CtlType::config_reload) {
    // The main lcore re-reads the policy; relaxed: the request carries no data.
    if (shared_.dp->policy != nullptr)
      shared_.dp->policy->reload_requested.store(std::max<uint64_t>(msg.payload.config_reload.generation, 1),
                                                 std::memory_order_relaxed);
    return;
  }
  if (const auto r = resync_requests_.find(msg.header.request_id); r != resync_requests_.end()) {
    const tls::ConnectionId connection = r->second;
    resync_requests_.erase(r);
    on_resync_ack(connection, msg);
    return;
  }
  if (type == ctl::CtlType::session_close_ack || type == ctl::CtlType::pong ||
      type == ctl::CtlType::session_resync_ack)  // the done marker's answer
    return;
  auto it = pending_requests_.find(msg.header.request_id);
  if (it == pending_requests_.end()) return;
  Connection* c = worker_->find(it->second);
  pending_requests_.erase(it);
  if (c == nullptr) return;  // the client left while we waited
  auto* s = static_cast<Session*>(c->user_data());
  s->pending_request = 0;
  s->phase = Session::Phase::http;
  switch (type) {
    case ctl::CtlType::auth_result:
      on_auth_result(*c, *s, msg.payload.auth_result);
      break;
    case ctl::CtlType::session_params:
      on_session_params(*c, *s, msg);
      break;
    case ctl::CtlType::error:
      send_error(*c, *s, 503, "try again: the control plane refused the request");
      break;
    default:
      send_error(*c, *s, 500, "unexpected control-plane answer");
      break;
  }
}

void OcHandler::on_auth_result(Connection& c, Session& s, const ctl::AuthResultPayload& r) {
  const auto result = static_cast<ctl::CtlResult>(r.result);
  const std::string_view reason = ctl::ctl_get_string(r.reason_text);
  if (result == ctl::CtlResult::ok) {
    counters_.auth_ok.add();
    const tunnel::HttpCookie cookie{"webvpn", ctl::ctl_get_string(r.cookie), std::nullopt};
    // A certificate login ends this connection: openconnect reconnects for CONNECT (§3.8).
    const tunnel::HttpBuildResult b =
        tunnel::http_response_xml_ok(tunnel::auth_xml_build_complete(), std::span(&cookie, 1), false);
    if (!b.ok()) {
      send_error(c, s, 500, b.message);
      return;
    }
    send_http(c, s, b.bytes, false);
    return;
  }
  if (result == ctl::CtlResult::denied) {
    counters_.auth_denied.add();
    OC_LOG("info", "msg=\"login refused\" worker=%u peer=%s user=\"%s\" reason=\"%.*s\"", worker_index_,
           peer_text(c).c_str(), s.username.c_str(), static_cast<int>(reason.size()), reason.data());
    // A source over its failure budget is told so and the connection ends: another password
    // on this connection would be refused unchecked anyway.
    if (s.cert_login || s.token_login ||
        r.reason == static_cast<uint16_t>(ctl::CtlReason::source_rate_limited)) {
      const std::string text = refusal_text(static_cast<ctl::CtlReason>(r.reason));
      send_http(c, s, tunnel::http_response_xml_ok(tunnel::auth_xml_build_failure(text), {}, true).bytes, true);
      return;
    }
    // As ocserv: the password form again with the failure, the client decides (§3.4).
    counters_.auth_forms.add();
    send_http(c, s,
              tunnel::http_response_xml_ok(
                  tunnel::auth_xml_build_password_form("Login failed.\nPlease enter your password."), {}, false)
                  .bytes,
              false);
    return;
  }
  send_error(c, s, 503, reason.empty() ? "try again" : reason);
}

void OcHandler::on_session_params(Connection& c, Session& s, const ctl::CtlMessage& msg) {
  const ctl::SessionParamsPayload& p = msg.payload.session_params;
  const auto result = static_cast<ctl::CtlResult>(p.result);
  const std::string_view reason = ctl::ctl_get_string(p.reason_text);
  if (result == ctl::CtlResult::denied) {
    counters_.cookie_rejected.add();
    send_error(c, s, 401, "Cookie is not acceptable");
    return;
  }
  if (result != ctl::CtlResult::ok) {
    send_error(c, s, 503, reason.empty() ? "try again" : reason);
    return;
  }
  if (shared_.dp->sessions == nullptr) {
    send_error(c, s, 503, "no address pools on this gateway");
    return;
  }
  // The app's policy index in this dataplane. Unknown: the control plane has a policy the
  // dataplane has not loaded yet (a reload in flight); the client retries.
  const int app = shared_.dp->policy ? policy_app_index(*shared_.dp->policy, ctl::ctl_get_string(p.app)) : 0;
  if (app < 0) {
    send_error(c, s, 503, "try again: the app's policy is not loaded yet");
    return;
  }
  s.session_id = msg.header.session_id;
  s.attach_seq = p.attach_seq;
  s.address = p.ipv4;
  s.owner_user = std::string(ctl::ctl_get_string(p.user));
  s.owner_group = std::string(ctl::ctl_get_string(p.group));
  s.owner_app = std::string(ctl::ctl_get_string(p.app));
  s.expires_ns = dataplane::ctl_monotonic_ns() + uint64_t{p.lifetime_remaining_s} * 1'000'000'000;
  SessionRef ref = SessionRef::unpack(c.id());
  ref.app = static_cast<uint16_t>(app);
  s.ref = ref.pack();
  tunnel::CstpTunnelParams& t = s.params;
  t.address = p.ipv4;
  t.netmask = p.netmask;
  for (unsigned i = 0; i < p.n_dns && i < tunnel::cstp_connect::kMaxDnsServers; i++) t.dns_servers.push_back(p.dns[i]);
  t.default_domain = std::string(ctl::ctl_get_string(p.search_domain));
  for (unsigned i = 0; i < p.n_routes; i++) t.split_include.push_back({p.routes[i].network, p.routes[i].prefix_len});
  tunnel::CstpMtuInputs mtu_in;
  mtu_in.configured_link_mtu = shared_.link_mtu;
  mtu_in.client_base_mtu = s.connect.base_mtu;
  // With DTLS the tunnel MTU leaves room for a record (§6.8); without, only for UDP/IP.
  if (dtls_->enabled() && s.connect.dtls_psk_negotiate()) mtu_in.dtls_cipher = dtls_->mtu_cipher();
  t.mtu = tunnel::cstp_compute_mtu(mtu_in);
  if (p.mtu != 0) t.mtu.tunnel_mtu = std::min(t.mtu.tunnel_mtu, p.mtu);
  t.dpd_seconds = p.dpd_s;
  t.keepalive_seconds = p.keepalive_s;
  if (p.idle_timeout_s != 0) t.idle_timeout_seconds = p.idle_timeout_s;
  t.session_timeout_remaining_seconds = p.lifetime_remaining_s;
  sessions_[s.session_id] = c.id();
  if (!open_tunnel(c, s)) {
    // The address is still bound to the tunnel this CONNECT replaces: wait for its release.
    s.phase = Session::Phase::waiting_bind;
    binds_waiting_[c.id()] = Clock::now() + kBindRetryWindow;
  }
}

bool OcHandler::open_tunnel(Connection& c, Session& s) {
  if (!shared_.dp->sessions->bind(s.address, SessionRef::unpack(s.ref))) return false;
  s.bound = true;
  if (dtls_->enabled() && s.connect.dtls_psk_negotiate())
    s.params.dtls = dtls_->offer(c.id(), s.ref, s.address, s.params.mtu.tunnel_mtu, s.params.dpd_seconds,
                                 s.params.keepalive_seconds);
  const tunnel::CstpConnectBuildResult b = tunnel::cstp_connect_build_response(s.params);
  if (!b.ok) {
    send_error(c, s, 500, b.message);
    return true;
  }
  c.send(b.bytes);
  s.phase = Session::Phase::tunnel;
  s.cstp.emplace(tunnel::cstp::kMaxPayloadBytes);
  publish_live(c, s, false);
  live_.push_back(c.id());
  c.set_deadline(std::nullopt);
  // The client probes every dpd seconds when it hears nothing; three silent periods = dead.
  if (s.params.dpd_seconds != 0) c.set_idle_timeout(std::chrono::seconds(3 * s.params.dpd_seconds + 5));
  counters_.tunnels_opened.add();
  OC_LOG("info", "msg=\"tunnel open\" worker=%u peer=%s session=%llu address=%s", worker_index_,
         peer_text(c).c_str(), static_cast<unsigned long long>(s.session_id),
         tunnel::ipv4_to_string(s.address).c_str());
  // CSTP frames the client sent right behind the CONNECT.
  const std::string rest = s.http.take_remaining();
  // The HTTP side is over: free the parser's buffer and its last request (KBs per tunnel,
  // at 100k tunnels). open_tunnel runs on the control plane's answer or a bind retry, never
  // under handle_request, so nothing refers to the parser's request any more.
  s.http = tunnel::HttpRequestParser();
  if (!rest.empty()) {
    handle_cstp(c, s, std::span(reinterpret_cast<const uint8_t*>(rest.data()), rest.size()));
    flush_to_lcores();
  }
  return true;
}

void OcHandler::retry_pending_closes() {
  while (!closes_waiting_.empty()) {
    ctl::CtlMessage msg;
    ctl::ctl_message_init(msg, ctl::CtlType::session_close);
    msg.header.session_id = closes_waiting_.front().session_id;
    msg.payload.session_close = closes_waiting_.front().payload;
    const dataplane::CtlClient::Submit r = ctl_.submit(msg, dataplane::ctl_monotonic_ns());
    if (r == dataplane::CtlClient::Submit::too_many_in_flight || r == dataplane::CtlClient::Submit::ring_full) return;
    closes_waiting_.pop_front();  // sent, or the control plane is down (it expires the session)
  }
}

void OcHandler::retry_pending_binds(Clock::time_point now) {
  for (auto it = binds_waiting_.begin(); it != binds_waiting_.end();) {
    Connection* c = worker_->find(it->first);
    auto* s = c ? static_cast<Session*>(c->user_data()) : nullptr;
    if (s == nullptr || s->phase != Session::Phase::waiting_bind) {
      it = binds_waiting_.erase(it);
    } else if (open_tunnel(*c, *s)) {
      it = binds_waiting_.erase(it);
    } else if (now > it->second) {
      s->close_reason = ctl::CtlCloseReason::error;
      send_error(*c, *s, 503, "try again: the address is still in use");
      it = binds_waiting_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---------------------------------------------------------------- CSTP

void OcHandler::handle_cstp(Connection& c, Session& s, std::span<const uint8_t> data) {
  while (!data.empty() && c.is_open()) {
    const tunnel::CstpDecodeResult r = s.cstp->decode(data);
    data = data.subspan(r.consumed);
    if (r.status == tunnel::CstpDecodeStatus::kNeedMore) return;
    if (r.status == tunnel::CstpDecodeStatus::kError) {
      counters_.cstp_errors.add();
      OC_LOG("warn", "msg=\"bad CSTP frame\" worker=%u peer=%s error=%.*s", worker_index_, peer_text(c).c_str(),
             static_cast<int>(tunnel::cstp_error_name(r.error).size()), tunnel::cstp_error_name(r.error).data());
      s.close_reason = ctl::CtlCloseReason::error;
      c.close(CloseReason::local);
      return;
    }
    switch (r.type) {
      case tunnel::CstpType::kData:
        if (s.params.dtls) dtls_->on_cstp_data(s.address);
        stage_to_lcore(s, s.ref, r.payload);
        break;
      case tunnel::CstpType::kDpdRequest: {
        uint8_t frame[tunnel::cstp::kHeaderBytes];
        tunnel::cstp_encode_header(frame, tunnel::CstpType::kDpdResponse, 0);
        c.send(std::span<const uint8_t>(frame, sizeof frame));
        counters_.dpd_answered.add();
        break;
      }
      case tunnel::CstpType::kDisconnect: {
        const tunnel::CstpDisconnect d = tunnel::cstp_parse_disconnect(r.payload);
        s.close_reason = d.has_reason && d.reason == tunnel::cstp::kDisconnectReasonUserLogout
                             ? ctl::CtlCloseReason::client_logout
                             : ctl::CtlCloseReason::client_disconnect;
        c.close(CloseReason::local);
        return;
      }
      case tunnel::CstpType::kTerminate:
        s.close_reason = ctl::CtlCloseReason::client_disconnect;
        c.close(CloseReason::local);
        return;
      default:  // DPD response, keepalive: liveness only (the idle timer was reset)
        break;
    }
  }
}

void OcHandler::stage_to_lcore(Session& s, uint64_t ref, std::span<const uint8_t> packet) {
  const Dataplane& dp = *shared_.dp;
  rte_mbuf* m = rte_pktmbuf_alloc(dp.pool);
  if (m == nullptr) {
    counters_.rx_dropped_no_mbuf.add();
    return;
  }
  if (packet.size() > rte_pktmbuf_tailroom(m)) {
    rte_pktmbuf_free(m);
    counters_.rx_dropped_too_big.add();
    return;
  }
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(packet.size())), packet.data(), packet.size());
  s.rx_packets++;
  s.rx_bytes += packet.size();
  counters_.cstp_rx_packets.add();
  counters_.cstp_rx_bytes.add(packet.size());
  mbuf_session_ref(m, dp.session_dynfield) = ref;
  // The session's own lcore (by its tag), so one session's packets stay in order.
  const unsigned lcore = static_cast<unsigned>(SessionRef::unpack(ref).tag % shared_.n_lcores);
  LcoreStage& st = to_lcore_[lcore];
  st.pkts[st.n++] = m;
  if (st.n == kBurst) flush_to_lcores();
}

void OcHandler::flush_to_lcores() {
  const Dataplane& dp = *shared_.dp;
  for (unsigned l = 0; l < shared_.n_lcores; l++) {
    LcoreStage& st = to_lcore_[l];
    if (st.n == 0) continue;
    const unsigned sent =
        rte_ring_enqueue_burst(dp.from_workers[l], reinterpret_cast<void* const*>(st.pkts), st.n, nullptr);
    for (unsigned i = sent; i < st.n; i++) rte_pktmbuf_free(st.pkts[i]);
    counters_.rx_dropped_ring_full.add(st.n - sent);
    st.n = 0;
  }
}

void OcHandler::drain_mailbox() {
  const Dataplane& dp = *shared_.dp;
  if (dp.workers == nullptr) return;
  rte_ring* ring = dp.workers[worker_index_].ring;
  rte_mbuf* pkts[kMailboxBurst];
  for (;;) {
    const unsigned n = rte_ring_dequeue_burst(ring, reinterpret_cast<void**>(pkts), kMailboxBurst, nullptr);
    for (unsigned i = 0; i < n; i++) {
      rte_mbuf* m = pkts[i];
      Connection* c = worker_->find(SessionRef::connection_id(mbuf_session_ref(m, dp.session_dynfield)));
      Session* s = c ? static_cast<Session*>(c->user_data()) : nullptr;
      if (s == nullptr || s->phase != Session::Phase::tunnel) {
        counters_.tx_dropped_stale.add();
        rte_pktmbuf_free(m);
        continue;
      }
      // One CSTP frame per TLS record: openconnect reads a record and expects exactly one
      // frame in it ("Unexpected packet length" otherwise), so frames are never gathered.
      const uint16_t len = static_cast<uint16_t>(rte_pktmbuf_pkt_len(m));
      tx_frame_.resize(tunnel::cstp::kHeaderBytes + len);
      tunnel::cstp_encode_header(tx_frame_.data(), tunnel::CstpType::kData, len);
      std::memcpy(tx_frame_.data() + tunnel::cstp::kHeaderBytes, rte_pktmbuf_mtod(m, const uint8_t*), len);
      rte_pktmbuf_free(m);  // our pools never chain mbufs: one segment holds the packet
      if (!c->send(std::span<const uint8_t>(tx_frame_))) {
        counters_.tx_dropped_backpressure.add();  // the inner TCP retransmits
        continue;
      }
      s->tx_packets++;
      s->tx_bytes += len;
      counters_.cstp_tx_packets.add();
      counters_.cstp_tx_bytes.add(len);
    }
    if (n < kMailboxBurst) break;
  }
}

// ---------------------------------------------------------------- live records

void OcHandler::publish_live(const Connection& c, const Session& s, bool closing) {
  const Dataplane& dp = *shared_.dp;
  const uint32_t slot = dp.sessions->slot_index(s.address);
  if (dp.session_records == nullptr || slot >= dp.n_session_records) return;
  shm::SessionLive v;
  if (!closing) {
    const DtlsChannel::Live d = dtls_->live(c.id());
    v.session_id = s.session_id;
    v.attach_seq = s.attach_seq;
    v.address = s.address;
    v.channel = static_cast<uint8_t>(d.carrying ? shm::SessionChannel::dtls : shm::SessionChannel::cstp);
    v.worker = static_cast<uint8_t>(worker_index_);
    v.rx_packets = s.rx_packets + d.traffic.rx_packets;
    v.rx_bytes = s.rx_bytes + d.traffic.rx_bytes;
    v.tx_packets = s.tx_packets + d.traffic.tx_packets;
    v.tx_bytes = s.tx_bytes + d.traffic.tx_bytes;
  }
  v.updated_s = static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  shm::session_record_store(dp.session_records[slot], v);
}

// All tunnels at once every second took 78 % of each TLS worker's CPU at 16,700 tunnels
// apiece (100,000 on 6 workers: ~8 us a tunnel in cache misses: the session, its DTLS
// state, the record) and slowed logins to a crawl. A slice per tick instead, bounded: each
// record is refreshed about once a second up to 5000 tunnels a worker, less often past
// that (the record says when: updated_s), and the cost stays flat.
void OcHandler::publish_live_slice() {
  constexpr size_t kLivePublishPerTick = 100;
  if (shared_.dp->session_records == nullptr) return;
  const auto ticks_per_second = std::max<tls::Clock::rep>(1, std::chrono::seconds(1) / worker_->options().tick);
  size_t budget = std::min(live_.size() / static_cast<size_t>(ticks_per_second) + 1, kLivePublishPerTick);
  while (budget-- > 0 && !live_.empty()) {
    if (live_cursor_ >= live_.size()) live_cursor_ = 0;
    const Connection* c = worker_->find(live_[live_cursor_]);
    const auto* s = c ? static_cast<const Session*>(c->user_data()) : nullptr;
    if (s != nullptr && s->bound && s->phase == Session::Phase::tunnel) {
      publish_live(*c, *s, false);
      live_cursor_++;
    } else {
      live_[live_cursor_] = live_.back();  // closed: its record was written at the close
      live_.pop_back();
    }
  }
}

// ---------------------------------------------------------------- close

void OcHandler::on_close(Connection& c, CloseReason reason) {
  auto* s = static_cast<Session*>(c.user_data());
  if (s == nullptr) return;
  c.set_user_data(nullptr);
  if (s->pending_request != 0) pending_requests_.erase(s->pending_request);
  drop_queued(*s);
  binds_waiting_.erase(c.id());
  const DtlsChannel::Traffic dtls = dtls_->on_tunnel_closed(c.id());
  s->rx_packets += dtls.rx_packets;  // the session's totals: CSTP and DTLS
  s->rx_bytes += dtls.rx_bytes;
  s->tx_packets += dtls.tx_packets;
  s->tx_bytes += dtls.tx_bytes;
  if (s->bound) {
    // The record first: once the address is unbound another tunnel may take it and its record.
    publish_live(c, *s, true);
    shared_.dp->sessions->unbind(s->address, SessionRef::unpack(s->ref));
  }
  if (s->session_id != 0) {
    auto it = sessions_.find(s->session_id);
    if (it != sessions_.end() && it->second == c.id()) sessions_.erase(it);
    ctl::CtlMessage msg;
    ctl::ctl_message_init(msg, ctl::CtlType::session_close);
    msg.header.session_id = s->session_id;
    ctl::SessionClosePayload& p = msg.payload.session_close;
    p.reason = static_cast<uint8_t>(s->close_reason.value_or(close_reason_for(reason)));
    p.attach_seq = s->attach_seq;
    p.rx_bytes = s->rx_bytes;
    p.tx_bytes = s->tx_bytes;
    p.rx_packets = s->rx_packets;
    p.tx_packets = s->tx_packets;
    // If the control plane is down the close is lost; it expires the session itself. Refused
    // for now (too many in flight, ring full: a logout storm) it waits for the next tick;
    // dropping it would leave the session "connected" and its address taken until expiry.
    const dataplane::CtlClient::Submit r = ctl_.submit(msg, dataplane::ctl_monotonic_ns());
    if ((r == dataplane::CtlClient::Submit::too_many_in_flight || r == dataplane::CtlClient::Submit::ring_full) &&
        closes_waiting_.size() < kMaxClosesWaiting)
      closes_waiting_.push_back({msg.header.session_id, p});
    if (s->phase == Session::Phase::tunnel) {
      counters_.tunnels_closed.add();
      OC_LOG("info", "msg=\"tunnel closed\" worker=%u peer=%s session=%llu reason=%.*s rx_bytes=%llu tx_bytes=%llu",
             worker_index_, peer_text(c).c_str(), static_cast<unsigned long long>(s->session_id),
             static_cast<int>(tls::to_string(reason).size()), tls::to_string(reason).data(),
             static_cast<unsigned long long>(s->rx_bytes), static_cast<unsigned long long>(s->tx_bytes));
    }
  }
  delete s;
}

}  // namespace tg::dp::vpn
