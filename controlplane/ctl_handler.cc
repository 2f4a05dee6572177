// Control plane: the auth/session ctl handler (ctl server thread). See ctl_handler.h.
#include "controlplane/ctl_handler.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include "controlplane/ctl_segment_mapping.h"
#include "controlplane/log.h"
#include "controlplane/stats_segment_reader.h"

namespace tg::controlplane {

namespace {

bool has_method(const config::Config& c, const char* m) {
  return std::find(c.auth.methods.begin(), c.auth.methods.end(), m) != c.auth.methods.end();
}

void add_route(std::vector<ctl::CtlRouteV4>& routes, const config::IpPrefix& p) {
  if (!p.addr.is_v4()) return;
  const config::IpPrefix net = p.network();
  ctl::CtlRouteV4 r{};
  r.network = net.addr.v4_host();
  r.prefix_len = net.len;
  for (const ctl::CtlRouteV4& have : routes) {
    if (have.network == r.network && have.prefix_len == r.prefix_len) return;
  }
  routes.push_back(r);
}

}  // namespace

std::string client_address_text(const ctl::CtlAddress& a) {
  char buf[64];
  if (a.family == 4) {
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u:%u", a.bytes[0], a.bytes[1], a.bytes[2],
                  a.bytes[3], a.port);
    return buf;
  }
  if (a.family == 6) {
    std::string s = "[";
    for (int i = 0; i < 16; i += 2) {
      std::snprintf(buf, sizeof buf, "%s%x", i == 0 ? "" : ":", (a.bytes[i] << 8) | a.bytes[i + 1]);
      s += buf;
    }
    return s + "]:" + std::to_string(a.port);
  }
  return "";
}

AppPolicy app_policy_build(const config::Config& config, const std::string& app_id,
                           const std::vector<AddressPool>& pools) {
  AppPolicy p;
  p.app = app_id;
  const config::AppConfig* app = nullptr;
  for (const config::AppConfig& a : config.apps) {
    if (a.id == app_id) app = &a;
  }
  if (app == nullptr) {  // no apps: every service, the first pool
    for (const config::ServiceConfig& s : config.services) {
      for (const config::IpPrefix& sub : s.subnets) add_route(p.routes, sub);
    }
    p.pool = pools.empty() ? -1 : 0;
  } else {
    for (const std::string& name : app->services) {
      for (const config::ServiceConfig& s : config.services) {
        if (s.name != name) continue;
        for (const config::IpPrefix& sub : s.subnets) add_route(p.routes, sub);
      }
    }
    for (const config::IpAddr& d : app->dns) {
      if (d.is_v4() && p.dns.size() < ctl::kCtlMaxDns) p.dns.push_back(d.v4_host());
    }
    for (const std::string& d : app->search_domains) {
      if (p.search_domain.size() + 1 + d.size() >= ctl::kCtlDomainSize) break;
      if (!p.search_domain.empty()) p.search_domain += ' ';
      p.search_domain += d;
    }
    const std::string pool_name = !app->pool.empty() ? app->pool
                                  : pools.size() == 1 ? pools[0].name()
                                                      : std::string();
    for (size_t i = 0; i < pools.size(); ++i) {
      if (pools[i].name() == pool_name) p.pool = static_cast<int>(i);
    }
  }
  if (p.routes.size() > ctl::kCtlMaxRoutes) p.routes.resize(ctl::kCtlMaxRoutes);
  return p;
}

AuthCtlHandler::AuthCtlHandler(Options options) : options_(std::move(options)) {}

uint64_t AuthCtlHandler::now() const {
  return options_.now ? options_.now() : monotonic_now_ns();
}

Expected<std::unique_ptr<AuthCtlHandler>> AuthCtlHandler::create(const config::Config& config,
                                                                 Options options,
                                                                 RandomSource& random) {
  options.sessions.max_sessions = config.limits.max_sessions;
  options.sessions.detached_timeout_ns = uint64_t{config.limits.reconnect_s} * 1'000'000'000;
  options.dpd_s = config.limits.dpd_s;
  options.keepalive_s = config.limits.keepalive_s;
  options.idle_timeout_s = config.limits.idle_timeout_s;
  std::unique_ptr<AuthCtlHandler> h(new AuthCtlHandler(std::move(options)));
  for (const config::PoolConfig& pc : config.pools) {
    if (!pc.prefix.addr.is_v4()) continue;
    h->pools_.emplace_back(pc.name, pc.prefix.addr.v4_host(), pc.prefix.len);
  }
  h->apply_policy(config);
  h->password_enabled_ = has_method(config, "password") && !config.auth.users_file.empty();
  h->cert_enabled_ = has_method(config, "certificate") && !config.auth.ca.empty();
  if (h->password_enabled_) {
    h->users_ = std::make_unique<UsersFile>(config.auth.users_file);
    h->password_ = std::make_unique<PasswordAuthenticator>(*h->users_, h->options_.password);
    h->reload_users();
  }
  if (h->cert_enabled_) {
    auto user_field = cert_user_field_parse(config.auth.cert_user_field);
    if (!user_field) return user_field.error();
    auto app_field = cert_app_field_parse(config.auth.app_from_certificate);
    if (!app_field) return app_field.error();
    CertAuthenticator::Options co;
    co.ca_file = config.auth.ca;
    co.user_field = *user_field;
    co.app_field = *app_field;
    co.app_uri_prefix = config.auth.cert_app_uri_prefix;
    co.crl_file = config.auth.crl;
    co.crl_fail_open = config.auth.crl_fail_open;
    auto cert = CertAuthenticator::create(std::move(co));
    if (!cert) return cert.error();
    h->cert_ = std::move(*cert);
  }
  if (has_method(config, "token") && !config.auth.jwks.empty()) {
    TokenRules rules;
    rules.issuer = config.auth.token_issuer;
    rules.audience = config.auth.token_audience;
    rules.user_claim = config.auth.user_claim;
    rules.app_claim = config.auth.app_claim;
    rules.clock_skew_s = config.auth.clock_skew_s;
    auto token = TokenVerifier::create({config.auth.jwks, rules});
    if (!token) return token.error();
    for (const std::string& w : (*token)->warnings()) log_line("warn", "JWKS entry skipped", {{"detail", w}});
    h->token_ = std::move(*token);
  }
  if (config.limits.auth_failures_per_source > 0) {
    AuthSourceLimiter::Options so;
    so.max_failures = config.limits.auth_failures_per_source;
    so.window_ns = uint64_t{config.limits.auth_failure_window_s} * 1'000'000'000;
    so.prefix_len = config.limits.auth_source_prefix;
    so.capacity = config.limits.auth_sources_max;
    h->source_limiter_ = std::make_unique<AuthSourceLimiter>(so);
  }
  AuthCtlHandler* self = h.get();
  h->sessions_ = std::make_unique<SessionRegistry>(
      h->options_.sessions, random,
      [self](const Session& s, SessionEnd) { self->release_lease(s); });
  return h;
}

void AuthCtlHandler::apply_policy(const config::Config& config) {
  apps_configured_ = !config.apps.empty();
  default_app_ = apps_configured_ ? config.default_app : std::string();
  policies_.clear();
  group_apps_.clear();
  if (!apps_configured_) {
    policies_[""] = app_policy_build(config, "", pools_);
  }
  for (const config::AppConfig& a : config.apps) {
    policies_[a.id] = app_policy_build(config, a.id, pools_);
    group_apps_[a.group.empty() ? a.id : a.group] = a.id;
  }
  for (const auto& [id, p] : policies_) {
    if (p.routes.size() >= ctl::kCtlMaxRoutes) {
      log_line("warn", "app has more split-include routes than a session carries: truncated",
               {{"app", id}, {"max", std::to_string(ctl::kCtlMaxRoutes)}});
    }
  }
  auth_ = config.auth;
}

AuthCtlHandler::PolicyReload AuthCtlHandler::reload_policy(const config::Config& config,
                                                           CtlResponder& out) {
  PolicyReload r;
  bool pools_same = config.pools.size() == pools_.size();
  for (size_t i = 0; pools_same && i < config.pools.size(); ++i) {
    pools_same = config.pools[i].name == pools_[i].name() &&
                 config.pools[i].prefix.addr.is_v4() &&
                 config.pools[i].prefix.network().addr.v4_host() == pools_[i].network() &&
                 config.pools[i].prefix.len == pools_[i].prefix_len();
  }
  if (!pools_same) r.not_applied.push_back("pools");
  apply_policy(config);
  r.generation = ++policy_generation_;
  r.apps = config.apps.size();
  r.services = config.services.size();
  ctl::CtlMessage n;
  ctl::ctl_message_init(n, ctl::CtlType::config_reload);
  n.payload.config_reload.generation = r.generation;
  r.dataplane_notified = out.notify(0, n);
  log_line("info", "policy reloaded",
           {{"generation", std::to_string(r.generation)},
            {"apps", std::to_string(r.apps)},
            {"services", std::to_string(r.services)},
            {"dataplane_notified", r.dataplane_notified ? "yes" : "no"}});
  return r;
}

const AppPolicy* AuthCtlHandler::policy(const std::string& id) const {
  const auto it = policies_.find(id);
  return it == policies_.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, uint64_t>> AuthCtlHandler::sessions_by_app() const {
  std::lock_guard lock(app_sessions_mutex_);
  return {app_sessions_.begin(), app_sessions_.end()};
}

std::string AuthCtlHandler::app_of_group(const std::string& group) const {
  if (group.empty()) return {};
  const auto it = group_apps_.find(group);
  // A group that is no app's label (a users-file group used for something else) names no
  // app: the session gets default_app.
  return it != group_apps_.end() ? it->second : std::string();
}

void AuthCtlHandler::reload_users() {
  if (!users_) return;
  auto st = users_->reload_if_changed();
  const std::string err = st ? std::string() : st.error().message;
  if (err != last_users_error_) {  // log each new problem once, and the recovery
    if (err.empty()) {
      log_line("info", "users file loaded",
               {{"file", users_->path()}, {"users", std::to_string(users_->size())}});
    } else {
      log_line("error", "users file not loaded (the previous table stays in force)",
               {{"file", users_->path()}, {"error", err}});
    }
    last_users_error_ = err;
  }
}

void AuthCtlHandler::release_lease(const Session& s) {
  {
    std::lock_guard lock(app_sessions_mutex_);
    const auto it = app_sessions_.find(s.app);
    if (it != app_sessions_.end() && --it->second == 0) app_sessions_.erase(it);
  }
  if (!s.address) return;
  for (AddressPool& p : pools_) {
    if (p.name() == s.pool) p.release(*s.address);
  }
}

void AuthCtlHandler::handle(const ctl::CtlMessage& req, CtlResponder& out) {
  switch (static_cast<ctl::CtlType>(req.header.type)) {
    case ctl::CtlType::auth_password: on_auth_password(req, out); return;
    case ctl::CtlType::auth_cert: on_auth_cert(req, out); return;
    case ctl::CtlType::auth_token: on_auth_token(req, out); return;
    case ctl::CtlType::session_open: on_session_open(req, out); return;
    case ctl::CtlType::session_close: on_session_close(req, out); return;
    case ctl::CtlType::session_resync: on_session_resync(req, out); return;
    case ctl::CtlType::ping: {
      ctl::CtlMessage m;
      ctl::ctl_message_init(m, ctl::CtlType::pong);
      m.payload.ping.sent_ns = req.payload.ping.sent_ns;
      out.reply(m);
      return;
    }
    default: return;  // not a request: the server answers ERROR
  }
}

void AuthCtlHandler::reply_auth(AuthMethod method, ctl::CtlResult result, ctl::CtlReason reason,
                                CtlResponder& out) {
  counters_.count_attempt(method, result, reason);
  ctl::CtlMessage m;
  ctl::ctl_message_init(m, ctl::CtlType::auth_result);
  m.payload.auth_result.result = static_cast<uint8_t>(result);
  m.payload.auth_result.reason = static_cast<uint16_t>(reason);
  ctl::ctl_set_string(m.payload.auth_result.reason_text, ctl::ctl_reason_name(reason));
  out.reply(m);
}

void AuthCtlHandler::on_auth_password(const ctl::CtlMessage& req, CtlResponder& out) {
  if (!password_enabled_) {
    reply_auth(AuthMethod::password, ctl::CtlResult::denied, ctl::CtlReason::method_disabled, out);
    return;
  }
  const ctl::AuthPasswordPayload& p = req.payload.auth_password;
  if (source_refused(AuthMethod::password, p.client, out)) return;
  const auto o = password_->verify(ctl::ctl_get_string(p.user), ctl::ctl_get_string(p.password),
                                   ctl::ctl_get_string(p.group), now());
  if (o.result != ctl::CtlResult::ok) {
    source_failed(p.client, o.reason);
    reply_auth(AuthMethod::password, o.result, o.reason, out);
    return;
  }
  const std::string named = auth_.app_from_password == "group" ? app_of_group(o.group) : "";
  finish_login(AuthMethod::password, o.user, o.group, named, out);
}

void AuthCtlHandler::on_auth_cert(const ctl::CtlMessage& req, CtlResponder& out) {
  if (!cert_enabled_) {
    reply_auth(AuthMethod::certificate, ctl::CtlResult::denied, ctl::CtlReason::method_disabled, out);
    return;
  }
  const ctl::AuthCertPayload& p = req.payload.auth_cert;
  if (source_refused(AuthMethod::certificate, p.client, out)) return;
  const auto o = cert_->verify({p.cert_der, p.cert_len}, {p.chain_der, p.chain_len});
  if (o.result != ctl::CtlResult::ok) {
    source_failed(p.client, o.reason);
    log_line("info", "certificate refused",
             {{"reason", ctl::ctl_reason_name(o.reason)}, {"detail", o.detail}});
    reply_auth(AuthMethod::certificate, o.result, o.reason, out);
    return;
  }
  if (o.stale_crl) {
    log_line("warn", "certificate accepted with an expired CRL (auth.crl_fail_open)",
             {{"user", o.user}, {"detail", o.detail}});
  }
  const std::string group(ctl::ctl_get_string(p.group));
  const std::string named = auth_.app_from_certificate == "group" ? app_of_group(group) : o.app;
  finish_login(AuthMethod::certificate, o.user, group, named, out);
}

void AuthCtlHandler::on_auth_token(const ctl::CtlMessage& req, CtlResponder& out) {
  if (!token_) {
    reply_auth(AuthMethod::token, ctl::CtlResult::denied, ctl::CtlReason::method_disabled, out);
    return;
  }
  const ctl::AuthTokenPayload& p = req.payload.auth_token;
  if (source_refused(AuthMethod::token, p.client, out)) return;
  const int64_t unix_now = options_.unix_now ? options_.unix_now()
                                             : static_cast<int64_t>(realtime_now_ns() / 1'000'000'000);
  const TokenOutcome o =
      token_->verify(std::string_view(p.token, std::min<size_t>(p.token_len, ctl::kCtlMaxToken)), unix_now);
  if (o.result != ctl::CtlResult::ok) {
    source_failed(p.client, o.reason);
    log_line("info", "token refused", {{"reason", ctl::ctl_reason_name(o.reason)}, {"detail", o.detail}});
    reply_auth(AuthMethod::token, o.result, o.reason, out);
    return;
  }
  const std::string group(ctl::ctl_get_string(p.group));
  const std::string named = auth_.app_from_token == "claim"   ? o.app
                            : auth_.app_from_token == "group" ? app_of_group(group)
                                                              : std::string();
  finish_login(AuthMethod::token, o.user, group, named, out);
}

bool AuthCtlHandler::source_refused(AuthMethod method, const ctl::CtlAddress& client,
                                    CtlResponder& out) {
  if (!source_limiter_) return false;
  const AuthSourceLimiter::Decision d = source_limiter_->check(client, now());
  if (!d.refused) return false;
  // One line per source each time it becomes limited, at most 10 a second in all (the
  // limiter decides); every refusal is counted in tunnelgate_auth_failures_total.
  if (d.log) {
    log_line("warn", "auth refused",
             {{"reason", ctl::ctl_reason_name(ctl::CtlReason::source_rate_limited)},
              {"client", client_address_text(client)},
              {"source", source_limiter_->source_text(client)},
              {"method", auth_method_name(method)},
              {"retry_after_s", std::to_string((d.retry_after_ns + 999'999'999) / 1'000'000'000)},
              {"suppressed", std::to_string(d.suppressed)}});
  }
  reply_auth(method, ctl::CtlResult::denied, ctl::CtlReason::source_rate_limited, out);
  return true;
}

void AuthCtlHandler::source_failed(const ctl::CtlAddress& client, ctl::CtlReason reason) {
  if (source_limiter_ && auth_failure_counts(reason)) source_limiter_->record_failure(client, now());
}

AuthCtlHandler::TrustReload AuthCtlHandler::reload_jwks() {
  if (!token_) return {};
  auto st = token_->reload_if_changed();
  const std::string err = st ? std::string() : st.error().message;
  if (st && *st) {
    log_line("info", "JWKS loaded", {{"file", token_->options().jwks_file},
                                     {"keys", std::to_string(token_->keys().keys.size())}});
    for (const std::string& w : token_->warnings()) log_line("warn", "JWKS entry skipped", {{"detail", w}});
  }
  if (err != last_jwks_error_ && !err.empty()) {
    log_line("error", "JWKS not loaded (the previous keys stay in force)",
             {{"file", token_->options().jwks_file}, {"error", err}});
  }
  last_jwks_error_ = err;
  return {"jwks", token_->options().jwks_file, st && *st, err};
}

AuthCtlHandler::TrustReload AuthCtlHandler::reload_crl() {
  if (!cert_ || auth_.crl.empty()) return {};
  auto st = cert_->reload_crl_if_changed();
  const std::string err = st ? std::string() : st.error().message;
  if (st && *st) {
    const CertAuthenticator::CrlInfo i = cert_->crl_info();
    log_line("info", "CRL loaded", {{"crls", std::to_string(i.crls)}, {"revoked", std::to_string(i.revoked)}});
  }
  if (err != last_crl_error_ && !err.empty()) {
    log_line("error", "CRL not loaded (the previous CRLs stay in force)", {{"error", err}});
  }
  last_crl_error_ = err;
  return {"crl", auth_.crl, st && *st, err};
}

void auth_thread_exit() {
  // FP_ECC keeps a cache of ECC points per thread; it is freed only on request.
  wc_ecc_fp_free();
}

void AuthCtlHandler::on_thread_exit() { auth_thread_exit(); }

std::vector<AuthCtlHandler::TrustReload> AuthCtlHandler::reload_trust_now() {
  std::vector<TrustReload> done;
  for (TrustReload r : {reload_crl(), reload_jwks()})
    if (!r.what.empty()) done.push_back(std::move(r));
  return done;
}

std::optional<AuthCtlHandler::CrlStatus> AuthCtlHandler::crl_status() const {
  if (!cert_) return std::nullopt;
  return CrlStatus{cert_->crl_info(), cert_->crl_expired_accepted()};
}

void AuthCtlHandler::finish_login(AuthMethod method, const std::string& user,
                                  const std::string& group, const std::string& named_app,
                                  CtlResponder& out) {
  std::string app;
  if (apps_configured_) {
    app = named_app.empty() ? default_app_ : named_app;
    if (app.empty()) {
      reply_auth(method, ctl::CtlResult::denied, ctl::CtlReason::no_app, out);
      return;
    }
    if (policies_.count(app) == 0) {
      log_line("info", "login names an app that is not configured",
               {{"user", user}, {"method", auth_method_name(method)}, {"app", app.substr(0, 64)}});
      reply_auth(method, ctl::CtlResult::denied, ctl::CtlReason::unknown_app, out);
      return;
    }
  }
  auto s = sessions_->create(user, group, app, now());
  if (!s) {
    const bool full = s.error().code == ENOSPC;
    reply_auth(method, full ? ctl::CtlResult::try_again : ctl::CtlResult::error,
               full ? ctl::CtlReason::session_limit : ctl::CtlReason::internal, out);
    return;
  }
  counters_.count_attempt(method, ctl::CtlResult::ok, ctl::CtlReason::none);
  {
    std::lock_guard lock(app_sessions_mutex_);
    app_sessions_[app] += 1;
  }
  ctl::CtlMessage m;
  ctl::ctl_message_init(m, ctl::CtlType::auth_result);
  m.header.session_id = (*s)->id;
  ctl::AuthResultPayload& r = m.payload.auth_result;
  r.result = static_cast<uint8_t>(ctl::CtlResult::ok);
  ctl::ctl_set_string(r.cookie, (*s)->cookie);
  ctl::ctl_set_string(r.user, user);
  ctl::ctl_set_string(r.group, group);
  ctl::ctl_set_string(r.app, app);
  out.reply(m);
}

void AuthCtlHandler::on_session_open(const ctl::CtlMessage& req, CtlResponder& out) {
  ctl::CtlMessage m;
  ctl::ctl_message_init(m, ctl::CtlType::session_params);
  ctl::SessionParamsPayload& p = m.payload.session_params;
  auto refuse = [&](ctl::CtlResult result, ctl::CtlReason reason) {
    counters_.open_refused[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
    p.result = static_cast<uint8_t>(result);
    p.reason = static_cast<uint16_t>(reason);
    ctl::ctl_set_string(p.reason_text, ctl::ctl_reason_name(reason));
    out.reply(m);
  };
  const uint64_t t = now();
  Session* s = sessions_->find_by_cookie(ctl::ctl_get_string(req.payload.session_open.cookie), t);
  // While workers report their tunnels, an unknown cookie may be one of them and a new
  // address may be a live tunnel's: the client tries again in a moment.
  if ((s == nullptr || !s->address) && resync_pending(t)) {
    return refuse(ctl::CtlResult::try_again, ctl::CtlReason::resync_in_progress);
  }
  if (s == nullptr) return refuse(ctl::CtlResult::denied, ctl::CtlReason::cookie_invalid);
  // The app's policy now (a reload may have changed or removed it since the login).
  const AppPolicy* policy = this->policy(s->app);
  if (policy == nullptr) return refuse(ctl::CtlResult::denied, ctl::CtlReason::unknown_app);
  if (!s->address) {
    if (policy->pool < 0) return refuse(ctl::CtlResult::denied, ctl::CtlReason::no_pool);
    AddressPool& pool = pools_[static_cast<size_t>(policy->pool)];
    const auto a = pool.allocate();
    if (!a) return refuse(ctl::CtlResult::try_again, ctl::CtlReason::pool_exhausted);
    s->address = *a;
    s->pool = pool.name();
  }
  s->client = client_address_text(req.payload.session_open.client);
  const SessionRegistry::Attach att = sessions_->attach(*s, req.header.worker_id);
  if (att.replaced) {
    counters_.sessions_replaced.fetch_add(1, std::memory_order_relaxed);
    ctl::CtlMessage n;
    ctl::ctl_message_init(n, ctl::CtlType::session_terminate);
    n.header.session_id = s->id;
    n.payload.session_terminate.reason = static_cast<uint8_t>(ctl::CtlCloseReason::replaced);
    n.payload.session_terminate.attach_seq = att.old_attach_seq;
    ctl::ctl_set_string(n.payload.session_terminate.reason_text,
                        "session re-used by a new connection");
    if (!out.notify(att.old_worker, n)) {
      counters_.terminate_dropped.fetch_add(1, std::memory_order_relaxed);
    }
  }
  const AddressPool* pool = nullptr;
  for (const AddressPool& ap : pools_) {
    if (ap.name() == s->pool) pool = &ap;
  }
  m.header.session_id = s->id;
  p.result = static_cast<uint8_t>(ctl::CtlResult::ok);
  p.attach_seq = s->attach_seq;
  p.ipv4 = *s->address;
  p.netmask = pool ? pool->netmask() : 0xffffffffu;
  p.mtu = options_.mtu;
  p.dpd_s = options_.dpd_s;
  p.keepalive_s = options_.keepalive_s;
  p.idle_timeout_s = options_.idle_timeout_s;
  p.lifetime_remaining_s = static_cast<uint32_t>((s->expires_ns - t) / 1'000'000'000);
  p.n_routes = static_cast<uint16_t>(policy->routes.size());
  std::copy(policy->routes.begin(), policy->routes.end(), p.routes);
  p.n_dns = static_cast<uint8_t>(policy->dns.size());
  std::copy(policy->dns.begin(), policy->dns.end(), p.dns);
  ctl::ctl_set_string(p.search_domain, policy->search_domain);
  ctl::ctl_set_string(p.user, s->user);
  ctl::ctl_set_string(p.group, s->group);
  ctl::ctl_set_string(p.app, s->app);
  out.reply(m);
}

void AuthCtlHandler::on_session_close(const ctl::CtlMessage& req, CtlResponder& out) {
  ctl::CtlMessage m;
  ctl::ctl_message_init(m, ctl::CtlType::session_close_ack);
  m.header.session_id = req.header.session_id;
  const ctl::SessionClosePayload& c = req.payload.session_close;
  Session* s = sessions_->find(req.header.session_id);
  const bool current = s != nullptr && s->attached && s->attach_seq == c.attach_seq;
  if (!current) {  // unknown, or a tunnel that was already replaced or closed: no effect
    m.payload.session_close_ack.result = static_cast<uint8_t>(ctl::CtlResult::denied);
    m.payload.session_close_ack.reason = static_cast<uint16_t>(ctl::CtlReason::stale_session);
    out.reply(m);
    return;
  }
  switch (static_cast<ctl::CtlCloseReason>(c.reason)) {
    case ctl::CtlCloseReason::client_logout: sessions_->remove(s->id, SessionEnd::logout); break;
    case ctl::CtlCloseReason::idle_timeout: sessions_->remove(s->id, SessionEnd::idle); break;
    case ctl::CtlCloseReason::admin: sessions_->remove(s->id, SessionEnd::admin); break;
    default: sessions_->detach(s->id, c.attach_seq, now()); break;
  }
  m.payload.session_close_ack.result = static_cast<uint8_t>(ctl::CtlResult::ok);
  out.reply(m);
}

std::vector<uint64_t> AuthCtlHandler::disconnect(const std::function<bool(const Session&)>& match,
                                                 CtlResponder& out) {
  // Collect first: remove() changes the table for_each walks.
  struct Victim {
    uint64_t id;
    bool attached;
    uint32_t worker;
    uint32_t attach_seq;
  };
  std::vector<Victim> victims;
  sessions_->for_each([&](const Session& s) {
    if (match(s)) victims.push_back({s.id, s.attached, s.worker, s.attach_seq});
  });
  std::vector<uint64_t> ended;
  for (const Victim& v : victims) {
    if (v.attached) {
      ctl::CtlMessage n;
      ctl::ctl_message_init(n, ctl::CtlType::session_terminate);
      n.header.session_id = v.id;
      n.payload.session_terminate.reason = static_cast<uint8_t>(ctl::CtlCloseReason::admin);
      n.payload.session_terminate.attach_seq = v.attach_seq;
      ctl::ctl_set_string(n.payload.session_terminate.reason_text,
                          "disconnected by an administrator");
      if (!out.notify(v.worker, n)) {
        counters_.terminate_dropped.fetch_add(1, std::memory_order_relaxed);
      }
    }
    // Like a logout: the cookie dies and on_remove releases the address.
    if (sessions_->remove(v.id, SessionEnd::admin)) ended.push_back(v.id);
  }
  return ended;
}

Expected<AuthCtlHandler::UsersReload> AuthCtlHandler::reload_users_now() {
  if (!users_) {
    return make_error(ENOENT, "password logins are not configured (auth.methods, auth.users_file)");
  }
  const uint64_t loads_before = users_->loads();
  auto st = users_->reload_if_changed();
  reload_users();  // logs a change of state once, as the periodic reload does
  if (!st) return st.error();
  return UsersReload{users_->path(), users_->size(), users_->loads() != loads_before};
}

void AuthCtlHandler::on_tick(uint64_t) {
  sessions_->sweep(now());
  if (source_limiter_) source_limiter_->sweep(now());
  reload_users();
  reload_jwks();
  reload_crl();
}

void AuthCtlHandler::on_dataplane_change(uint64_t) {
  // The tunnels died with the previous dataplane; sessions stay for reconnects.
  sessions_->detach_all(now());
}

}  // namespace tg::controlplane
