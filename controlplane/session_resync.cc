// Control plane: adopting the tunnels a previous control plane opened (SESSION_RESYNC), ctl
// server thread. Part of AuthCtlHandler (ctl_handler.h); docs/auth.md, "Control-plane crash
// and resync".
//
// A control plane that attaches to a segment knows no sessions, but the dataplane may hold
// live tunnels opened by the one before it (killed, crashed, restarted). Each worker reports
// them, then sends kResyncDone. A reported tunnel is adopted when everything about it still
// fits this control plane: a well-formed cookie, a lifetime not over, an app it has a policy
// for, an address that is a usable address of that app's pool and free, an id and a cookie
// no other session holds, room under limits.max_sessions. Anything else is refused with a
// counted reason and a log line, and the worker closes that tunnel (the client logs in again).
#include <cerrno>
#include <cstdio>
#include <string>

#include "controlplane/ctl_handler.h"
#include "controlplane/log.h"

namespace tg::controlplane {

namespace {

std::string ipv4_text(uint32_t a) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
  return buf;
}

}  // namespace

void AuthCtlHandler::on_attach(uint32_t n_workers) {
  const uint32_t n = n_workers < ctl::kCtlMaxWorkers ? n_workers : ctl::kCtlMaxWorkers;
  resync_waiting_ = (1u << n) - 1;  // n <= 16
  resync_deadline_ns_ = now() + options_.resync_timeout_ns;
  resync_adopted_round_ = resync_refused_round_ = 0;
}

bool AuthCtlHandler::resync_pending(uint64_t now_ns) {
  if (resync_waiting_ == 0) return false;
  if (now_ns < resync_deadline_ns_) return true;
  std::string workers;
  for (uint32_t w = 0; w < ctl::kCtlMaxWorkers; ++w) {
    if ((resync_waiting_ & (1u << w)) == 0) continue;
    if (!workers.empty()) workers += ',';
    workers += std::to_string(w);
  }
  log_line("warn", "resync incomplete: workers did not report their tunnels in time; new addresses are handed out anyway",
           {{"workers", workers}, {"adopted", std::to_string(resync_adopted_round_)},
            {"refused", std::to_string(resync_refused_round_)}});
  resync_waiting_ = 0;
  return false;
}

ctl::CtlReason AuthCtlHandler::adopt_resynced(const ctl::CtlMessage& req, uint64_t now_ns,
                                              Session** adopted) {
  using R = ctl::CtlReason;
  const ctl::SessionResyncPayload& p = req.payload.session_resync;
  const uint64_t id = req.header.session_id;
  const std::string_view cookie = ctl::ctl_get_string(p.cookie);
  if (id == 0) return R::malformed_request;
  if (!SessionRegistry::cookie_well_formed(cookie) || p.expires_ns <= now_ns) return R::cookie_invalid;
  // The same tunnel reported twice (a worker that saw this control plane twice): already ours.
  if (Session* known = sessions_->find(id); known != nullptr) {
    const bool same = known->cookie == cookie && known->attached && known->worker == req.header.worker_id &&
                      known->attach_seq == p.attach_seq;
    if (!same) return R::duplicate_session;
    *adopted = known;
    return R::none;
  }
  if (sessions_->find_by_cookie(cookie, now_ns) != nullptr) return R::duplicate_session;
  const std::string app(ctl::ctl_get_string(p.app));
  const AppPolicy* policy = this->policy(app);
  if (policy == nullptr) return R::unknown_app;
  if (policy->pool < 0) return R::no_pool;
  AddressPool& pool = pools_[static_cast<size_t>(policy->pool)];
  if (!pool.usable(p.ipv4)) return R::address_not_in_pool;
  if (!pool.allocate_specific(p.ipv4)) return R::address_in_use;
  SessionRegistry::Adopted a;
  a.id = id;
  a.cookie = std::string(cookie);
  a.user = std::string(ctl::ctl_get_string(p.user));
  a.group = std::string(ctl::ctl_get_string(p.group));
  a.app = app;
  a.worker = req.header.worker_id;
  a.attach_seq = p.attach_seq;
  a.expires_ns = p.expires_ns;
  a.address = p.ipv4;
  a.pool = pool.name();
  a.client = client_address_text(p.client);
  auto s = sessions_->adopt(std::move(a), now_ns);
  if (!s) {
    pool.release(p.ipv4);
    switch (s.error().code) {
      case EEXIST: return R::duplicate_session;
      case ENOSPC: return R::session_limit;
      default: return R::cookie_invalid;  // EINVAL, ETIME: checked above already
    }
  }
  {
    std::lock_guard lock(app_sessions_mutex_);
    app_sessions_[app] += 1;
  }
  counters_.resync_adopted.fetch_add(1, std::memory_order_relaxed);
  *adopted = *s;
  return R::none;
}

void AuthCtlHandler::on_session_resync(const ctl::CtlMessage& req, CtlResponder& out) {
  const ctl::SessionResyncPayload& p = req.payload.session_resync;
  const uint32_t worker = req.header.worker_id;
  ctl::CtlMessage m;
  ctl::ctl_message_init(m, ctl::CtlType::session_resync_ack);
  m.header.session_id = req.header.session_id;
  ctl::SessionResyncAckPayload& ack = m.payload.session_resync_ack;
  if ((p.flags & ctl::kResyncDone) != 0) {
    const bool was_waiting = (resync_waiting_ & (1u << worker)) != 0;
    resync_waiting_ &= ~(1u << worker);
    if (was_waiting && resync_waiting_ == 0) {
      log_line("info", "resync complete: every worker reported its tunnels",
               {{"adopted", std::to_string(resync_adopted_round_)},
                {"refused", std::to_string(resync_refused_round_)}});
    }
    ack.result = static_cast<uint8_t>(ctl::CtlResult::ok);
    out.reply(m);
    return;
  }
  const uint64_t t = now();
  Session* s = nullptr;
  const ctl::CtlReason why = adopt_resynced(req, t, &s);
  if (why == ctl::CtlReason::none) {
    ++resync_adopted_round_;
    log_line("info", "session adopted from the dataplane",
             {{"session", std::to_string(s->id)}, {"worker", std::to_string(worker)},
              {"user", s->user}, {"app", s->app}, {"address", ipv4_text(p.ipv4)}, {"client", s->client}});
    ack.result = static_cast<uint8_t>(ctl::CtlResult::ok);
  } else {
    ++resync_refused_round_;
    counters_.resync_refused[static_cast<size_t>(why)].fetch_add(1, std::memory_order_relaxed);
    log_line("warn", "resynced tunnel refused: the worker closes it",
             {{"session", std::to_string(req.header.session_id)}, {"worker", std::to_string(worker)},
              {"user", std::string(ctl::ctl_get_string(p.user)).substr(0, 64)},
              {"app", std::string(ctl::ctl_get_string(p.app)).substr(0, 64)},
              {"address", ipv4_text(p.ipv4)}, {"reason", ctl::ctl_reason_name(why)}});
    ack.result = static_cast<uint8_t>(ctl::CtlResult::denied);
    ack.reason = static_cast<uint16_t>(why);
    ctl::ctl_set_string(ack.reason_text, ctl::ctl_reason_name(why));
  }
  out.reply(m);
}

}  // namespace tg::controlplane
