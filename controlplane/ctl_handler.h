// Control plane: the auth/session request handler behind the ctl server. Wires the backend
// to the messages (api/ctl_messages.h):
//   AUTH_PASSWORD -> PasswordAuthenticator -> session + cookie -> AUTH_RESULT
//   AUTH_CERT     -> CertAuthenticator     -> session + cookie -> AUTH_RESULT
//   AUTH_TOKEN    -> TokenVerifier (JWKS)  -> session + cookie -> AUTH_RESULT
//   SESSION_OPEN  -> cookie -> address from the app's pool, routes/DNS of the app -> SESSION_PARAMS
//                    (a live tunnel of the same session is replaced: SESSION_TERMINATE to its worker)
//   SESSION_CLOSE -> detach (reconnect possible) or end the session (logout, idle, admin)
//   SESSION_RESYNC-> adopt a live tunnel of a previous control plane (session_resync.cc): same
//                    id and cookie, its address reserved; until every worker has reported
//                    (or resync_timeout_ns), CONNECTs that need a new address wait (try again)
//   PING          -> PONG
// Apps (docs/apps.md): each login method names an app or none (auth.app_from_password,
// _certificate, _token: the auth group, the certificate's SAN URI or OU, a token claim). A
// session gets the app named (refused as unknown_app when it is not configured), or
// default_app when none is named (refused as no_app when there is no default_app). With no
// apps configured, every session gets every service's subnets and the first pool. The
// policy (routes, DNS, pool) is the session's app's at each CONNECT; reload_policy() swaps
// it for new CONNECTs and tells the dataplane to swap its tables (CONFIG_RELOAD).
// Brute force: with limits.auth_failures_per_source > 0, every AUTH_* from a source whose
// failure budget is spent is refused as source_rate_limited before its credential is
// checked (auth_source_limiter.h, docs/auth.md).
//
// Thread-safety: everything runs on the ctl server thread; counters() and the gauges of
// sessions() and pools() are safe to read from the metrics threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "controlplane/address_pool.h"
#include "controlplane/auth_metrics.h"
#include "controlplane/auth_source_limiter.h"
#include "controlplane/cert_auth.h"
#include "controlplane/ctl_server.h"
#include "controlplane/expected.h"
#include "controlplane/password_auth.h"
#include "controlplane/session_registry.h"
#include "controlplane/token_verifier.h"
#include "controlplane/users_file.h"

namespace tg::controlplane {

/// What a session on an app gets: computed once from the config.
struct AppPolicy {
  std::string app;  ///< "" when no apps are configured
  int pool = -1;    ///< index into the pools, -1 = none usable
  std::vector<ctl::CtlRouteV4> routes;  ///< split-include, at most kCtlMaxRoutes
  std::vector<uint32_t> dns;            ///< host byte order, at most kCtlMaxDns
  std::string search_domain;            ///< search domains joined by spaces
};

class AuthCtlHandler final : public CtlHandler {
 public:
  struct Options {
    SessionRegistry::Options sessions;    ///< max_sessions is taken from limits.max_sessions
    PasswordAuthenticator::Options password;
    CertUserField cert_user_field = CertUserField::subject_cn;
    uint16_t mtu = 1400;            ///< upper bound; the worker lowers it for its path (§4.4)
    uint32_t dpd_s = 90;            ///< ocserv's default
    uint32_t keepalive_s = 32400;   ///< ocserv's default
    uint32_t idle_timeout_s = 1200; ///< ocserv's default; 0 = none
    /// How long after attaching CONNECTs that need a new address wait for the workers'
    /// resync (a worker that never reports must not block them for ever).
    uint64_t resync_timeout_ns = 10'000'000'000;
    /// Clock (CLOCK_MONOTONIC ns); empty = the real one. Seam for tests.
    std::function<uint64_t()> now;
    /// Wall clock (Unix seconds) for token exp/nbf; empty = the real one. Seam for tests.
    std::function<int64_t()> unix_now;
  };

  /// What reload_policy() changed.
  struct PolicyReload {
    uint64_t generation = 0;     ///< counts successful policy reloads (1 = the first)
    size_t apps = 0;
    size_t services = 0;
    bool dataplane_notified = false;  ///< CONFIG_RELOAD fitted worker 0's ring
    std::vector<std::string> not_applied;  ///< parts that need a restart (pools)
  };

  /// Build pools, policies, the users file and the CA store from `config`.
  /// @param random  outlives the handler (cookies, session ids)
  /// @return the handler, or an Error naming what could not be loaded (CA bundle, users
  ///         file never loadable is NOT an error: it is reported and retried).
  static Expected<std::unique_ptr<AuthCtlHandler>> create(const config::Config& config,
                                                          Options options, RandomSource& random);

  void handle(const ctl::CtlMessage& request, CtlResponder& out) override;
  void on_tick(uint64_t now_ns) override;
  void on_dataplane_change(uint64_t generation) override;
  void on_attach(uint32_t n_workers) override;
  /// wolfCrypt's per-thread ECC point cache (token and certificate checks fill it).
  void on_thread_exit() override;
  /// True while some worker has not finished reporting its tunnels since on_attach (and
  /// resync_timeout_ns has not passed): addresses handed out now could be a live tunnel's.
  bool resync_pending(uint64_t now_ns);

  // ---- admin socket (docs/tunnelgatectl.md); ctl server thread only (CtlServer::post).

  /// End every session `match` accepts, like a logout: the cookie dies, the address returns
  /// to the pool, and the worker holding a live tunnel gets SESSION_TERMINATE (the client is
  /// sent a CSTP TERMINATE and dropped). A terminate that does not fit the worker's ring is
  /// counted (terminate_dropped); the session is gone anyway, so the worker's next
  /// SESSION_CLOSE is stale and a reconnect is refused.
  /// @return the ids of the sessions ended.
  std::vector<uint64_t> disconnect(const std::function<bool(const Session&)>& match,
                                   CtlResponder& out);

  /// What `reload` did with the users file.
  struct UsersReload {
    std::string file;
    size_t users = 0;
    bool changed = false;  ///< a new version was loaded (false: unchanged on disk)
  };
  /// Re-read the users file now if it changed (on_tick also does, once a second). A file
  /// with errors changes nothing. @return what was loaded, or the Error with every
  /// "file:line: problem" (ENOENT when password logins are not configured).
  Expected<UsersReload> reload_users_now();

  /// What `reload` did with a trust file: the client-certificate CRL (auth.crl) or the
  /// token keys (auth.jwks). A file with errors changes nothing (`error` says why).
  struct TrustReload {
    std::string what;  ///< "crl" or "jwks"
    std::string file;
    bool changed = false;  ///< a new version was loaded
    std::string error;     ///< "" = loaded or unchanged
  };
  /// Re-read the CRL and the JWKS now if they changed (on_tick also does, once a second);
  /// one entry per configured file.
  std::vector<TrustReload> reload_trust_now();

  /// Take apps, services, default_app and the app_from_* rules from `config` (already
  /// validated) for every login and CONNECT from now on, and send CONFIG_RELOAD to worker 0
  /// so the dataplane's lcores enforce the new services on the next packets. Pools are not
  /// changed live (leases refer to them): a change there is reported in not_applied.
  PolicyReload reload_policy(const config::Config& config, CtlResponder& out);

  const AuthCounters& counters() const { return counters_; }
  const SessionRegistry& sessions() const { return *sessions_; }
  SessionRegistry& sessions_for_test() { return *sessions_; }
  const std::vector<AddressPool>& pools() const { return pools_; }
  /// The per-source failure limit; nullptr when off (limits.auth_failures_per_source = 0).
  const AuthSourceLimiter* source_limiter() const { return source_limiter_.get(); }
  /// The policy of app `id` ("" when no apps are configured), nullptr when unknown.
  const AppPolicy* policy(const std::string& id) const;
  /// The CRL in force (auth.crl) and how many logins an expired one let through
  /// (auth.crl_fail_open); nullopt without certificate logins. Any thread.
  struct CrlStatus {
    CertAuthenticator::CrlInfo info;
    uint64_t expired_accepted = 0;
  };
  std::optional<CrlStatus> crl_status() const;
  /// Sessions per app (metrics; read from the metrics threads under a lock).
  std::vector<std::pair<std::string, uint64_t>> sessions_by_app() const;

 private:
  explicit AuthCtlHandler(Options options);
  uint64_t now() const;
  void on_auth_password(const ctl::CtlMessage& req, CtlResponder& out);
  void on_auth_cert(const ctl::CtlMessage& req, CtlResponder& out);
  void on_auth_token(const ctl::CtlMessage& req, CtlResponder& out);
  TrustReload reload_jwks();
  TrustReload reload_crl();
  /// Refuse (and answer) an attempt from a source over its failure budget; false = go on.
  bool source_refused(AuthMethod method, const ctl::CtlAddress& client, CtlResponder& out);
  /// Count a failed attempt against its source (only reasons auth_failure_counts() names).
  void source_failed(const ctl::CtlAddress& client, ctl::CtlReason reason);
  /// Create the session and answer AUTH_RESULT for a verified user. `named_app` is the app
  /// the credential names ("" = none: default_app).
  void finish_login(AuthMethod method, const std::string& user, const std::string& group,
                    const std::string& named_app, CtlResponder& out);
  /// The app a login method names from the auth group (app_from_* = "group").
  std::string app_of_group(const std::string& group) const;
  void apply_policy(const config::Config& config);
  void reply_auth(AuthMethod method, ctl::CtlResult result, ctl::CtlReason reason,
                  CtlResponder& out);
  void on_session_open(const ctl::CtlMessage& req, CtlResponder& out);
  void on_session_close(const ctl::CtlMessage& req, CtlResponder& out);
  void on_session_resync(const ctl::CtlMessage& req, CtlResponder& out);  // session_resync.cc
  /// Why the tunnel of a SESSION_RESYNC cannot be adopted (none: adopted, `*adopted` set).
  ctl::CtlReason adopt_resynced(const ctl::CtlMessage& req, uint64_t now_ns, Session** adopted);
  void release_lease(const Session& s);
  void reload_users();

  Options options_;
  bool password_enabled_ = false;
  bool cert_enabled_ = false;
  std::vector<AddressPool> pools_;
  // The policy in force (apply_policy): swapped whole by reload_policy.
  bool apps_configured_ = false;
  std::string default_app_;                        ///< "" = refuse clients naming no app
  std::map<std::string, AppPolicy> policies_;      ///< by app id ("" when no apps)
  std::map<std::string, std::string> group_apps_;  ///< auth group label → app id
  config::AuthConfig auth_;                        ///< app_from_* rules
  uint64_t policy_generation_ = 0;
  mutable std::mutex app_sessions_mutex_;           ///< metrics threads read app_sessions_
  std::map<std::string, uint64_t> app_sessions_;   ///< live sessions per app
  std::unique_ptr<UsersFile> users_;
  std::unique_ptr<PasswordAuthenticator> password_;
  std::unique_ptr<CertAuthenticator> cert_;
  std::unique_ptr<TokenVerifier> token_;
  std::string last_jwks_error_;
  std::string last_crl_error_;
  std::unique_ptr<SessionRegistry> sessions_;
  AuthCounters counters_;
  std::string last_users_error_;
  // Resync (session_resync.cc): workers that have not sent kResyncDone since on_attach.
  uint32_t resync_waiting_ = 0;  ///< bit per worker
  uint64_t resync_deadline_ns_ = 0;
  uint64_t resync_adopted_round_ = 0, resync_refused_round_ = 0;  ///< for the summary log
  std::unique_ptr<AuthSourceLimiter> source_limiter_;
};

/// Frees what wolfCrypt keeps per thread (the ECC point cache): call at the end of every
/// control-plane thread that verified a token or a certificate (the main thread included).
void auth_thread_exit();

/// "a.b.c.d:port" or "[v6]:port" of a client; "" when the worker did not know the address.
std::string client_address_text(const ctl::CtlAddress& a);

/// The policy of `app_id` ("" = no apps configured: all services, first pool).
AppPolicy app_policy_build(const config::Config& config, const std::string& app_id,
                           const std::vector<AddressPool>& pools);

}  // namespace tg::controlplane
