// Control plane: the auth/session/ctl metric families (exposer threads). See auth_metrics.h.
#include "controlplane/auth_metrics.h"

#include <ctime>

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

#include "controlplane/address_pool.h"
#include "controlplane/ctl_server.h"
#include "controlplane/metric_family.h"
#include "controlplane/session_registry.h"

namespace tg::controlplane {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

double load(const std::atomic<uint64_t>& a) {
  return static_cast<double>(a.load(std::memory_order_relaxed));
}

}  // namespace

const char* auth_method_name(AuthMethod m) {
  switch (m) {
    case AuthMethod::password: return "password";
    case AuthMethod::certificate: return "certificate";
    case AuthMethod::token: return "token";
  }
  return "unknown";
}

AuthMetricsCollector::AuthMetricsCollector(const AuthCounters& counters,
                                           const SessionRegistry& sessions,
                                           const std::vector<AddressPool>& pools,
                                           const CtlServer* server)
    : counters_(counters), sessions_(sessions), pools_(pools), server_(server) {}

std::vector<MetricFamily> AuthMetricsCollector::Collect() const {
  std::vector<MetricFamily> out;

  auto attempts = make_family("tunnelgate_auth_attempts_total",
                              "Login attempts decided by the control plane, by method and result "
                              "(ok, denied, try_again, error).",
                              MetricType::Counter);
  auto failures = make_family("tunnelgate_auth_failures_total",
                              "Login attempts that did not succeed, by method and reason.",
                              MetricType::Counter);
  for (size_t m = 0; m < kAuthMethodCount; ++m) {
    const std::string method = auth_method_name(static_cast<AuthMethod>(m));
    for (size_t r = 0; r < ctl::kCtlResultCount; ++r) {
      add_sample(attempts, {{"method", method}, {"result", ctl::ctl_result_name(static_cast<ctl::CtlResult>(r))}},
                 load(counters_.attempts[m][r]));
    }
    for (size_t r = 1; r < ctl::kCtlReasonCount; ++r) {
      add_sample(failures, {{"method", method}, {"reason", ctl::ctl_reason_name(static_cast<ctl::CtlReason>(r))}},
                 load(counters_.failures[m][r]));
    }
  }
  out.push_back(std::move(attempts));
  out.push_back(std::move(failures));

  auto refused = make_family("tunnelgate_session_open_refused_total",
                             "CONNECT requests (SESSION_OPEN) refused, by reason.", MetricType::Counter);
  for (size_t r = 1; r < ctl::kCtlReasonCount; ++r) {
    add_sample(refused, {{"reason", ctl::ctl_reason_name(static_cast<ctl::CtlReason>(r))}},
               load(counters_.open_refused[r]));
  }
  out.push_back(std::move(refused));

  push_single(out, "tunnelgate_sessions_replaced_total",
              "CONNECTs that took over a session whose previous tunnel was still up "
              "(client reconnect after a network change).",
              MetricType::Counter, load(counters_.sessions_replaced));

  push_single(out, "tunnelgate_sessions_adopted_total",
              "Live tunnels of a previous control plane adopted after a restart "
              "(SESSION_RESYNC from the dataplane's workers).",
              MetricType::Counter, load(counters_.resync_adopted));
  auto resync_refused = make_family("tunnelgate_session_resync_refused_total",
                                    "Live tunnels reported after a control-plane restart and refused, "
                                    "by reason (the worker closes them).",
                                    MetricType::Counter);
  for (size_t r = 1; r < ctl::kCtlReasonCount; ++r) {
    add_sample(resync_refused, {{"reason", ctl::ctl_reason_name(static_cast<ctl::CtlReason>(r))}},
               load(counters_.resync_refused[r]));
  }
  out.push_back(std::move(resync_refused));

  push_single(out, "tunnelgate_sessions_active",
              "Sessions in the control plane's table (logged in, with or without a tunnel "
              "up); bounded by limits.max_sessions.",
              MetricType::Gauge, sessions_.size());
  push_single(out, "tunnelgate_sessions_connected", "Sessions with a tunnel up (CONNECT done, not yet closed).",
              MetricType::Gauge, sessions_.attached_count());
  if (crl) {
    if (const std::optional<CrlMetrics> c = crl(); c && c->loaded) {
      const double now_s = static_cast<double>(std::time(nullptr));
      push_single(out, "tunnelgate_crl_age_seconds", "Seconds since the thisUpdate of the oldest CRL in auth.crl.",
                  MetricType::Gauge, now_s - static_cast<double>(c->this_update));
      push_single(out, "tunnelgate_crl_next_update_seconds",
                  "Seconds until the earliest nextUpdate of the CRLs in auth.crl (negative: "
                  "expired; certificate logins then fail unless auth.crl_fail_open).",
                  MetricType::Gauge, static_cast<double>(c->next_update) - now_s);
      push_single(out, "tunnelgate_crl_revoked_certificates", "Certificates listed in the CRLs of auth.crl.",
                  MetricType::Gauge, static_cast<double>(c->revoked));
      push_single(out, "tunnelgate_crl_expired_accepted_total",
                  "Certificate logins accepted although a CRL was past its nextUpdate "
                  "(auth.crl_fail_open).",
                  MetricType::Counter, static_cast<double>(c->expired_accepted));
    }
  }
  if (source_limits != nullptr) {
    push_single(out, "tunnelgate_auth_sources_tracked",
                "Client sources (addresses cut to limits.auth_source_prefix) with recent "
                "login failures in the per-source table; at most limits.auth_sources_max.",
                MetricType::Gauge, load(source_limits->tracked));
    push_single(out, "tunnelgate_auth_sources_limited",
                "Sources over their failure budget (limits.auth_failures_per_source): "
                "their logins are refused as source_rate_limited. Refreshed every second.",
                MetricType::Gauge, load(source_limits->limited));
    push_single(out, "tunnelgate_auth_sources_evicted_total",
                "Sources dropped from the full per-source table (least recently failed "
                "first) to make room for a new one: many distinct failing sources.",
                MetricType::Counter, load(source_limits->evicted));
  }
  if (sessions_by_app) {
    auto by_app = make_family("tunnelgate_app_sessions",
                              "Sessions in the control plane's table by app (the app the login "
                              "named, or default_app; \"\" when no apps are configured).",
                              MetricType::Gauge);
    for (const auto& [app, n] : sessions_by_app()) add_sample(by_app, {{"app", app}}, static_cast<double>(n));
    out.push_back(std::move(by_app));
  }

  auto in_use = make_family("tunnelgate_pool_addresses_in_use",
                            "Client addresses leased from the pool (held by sessions, also while they "
                            "wait for a reconnect).",
                            MetricType::Gauge);
  auto size = make_family("tunnelgate_pool_addresses_size",
                          "Addresses the pool can lease (prefix minus network, broadcast and the "
                          "gateway's own address).",
                          MetricType::Gauge);
  for (const AddressPool& p : pools_) {
    add_sample(in_use, {{"pool", p.name()}}, p.in_use());
    add_sample(size, {{"pool", p.name()}}, p.size());
  }
  out.push_back(std::move(in_use));
  out.push_back(std::move(size));

  if (server_ != nullptr) {
    auto requests = make_family("tunnelgate_ctl_requests_total",
                                "Requests from the dataplane's TLS workers answered by the control "
                                "plane, by request type (malformed = rejected by the decoder) and result.",
                                MetricType::Counter);
    for (size_t t = 0; t < CtlServer::kTypeSlots; ++t) {
      for (size_t r = 0; r < ctl::kCtlResultCount; ++r) {
        add_sample(requests,
                   {{"type", CtlServer::type_slot_name(t)},
                   {"result", ctl::ctl_result_name(static_cast<ctl::CtlResult>(r))}},
                   static_cast<double>(server_->requests(t, static_cast<ctl::CtlResult>(r))));
      }
    }
    out.push_back(std::move(requests));
    push_single(out, "tunnelgate_ctl_responses_dropped_total",
                "Answers or notices lost because a worker's response ring was full.",
                MetricType::Counter, static_cast<double>(server_->responses_dropped()));
    push_single(out, "tunnelgate_ctl_attached",
                "1 while the control plane serves the dataplane's control segment.",
                MetricType::Gauge, server_->attached() ? 1 : 0);
  }
  return out;
}

}  // namespace tg::controlplane
