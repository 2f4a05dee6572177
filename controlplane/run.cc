// Control plane: process modes (main thread). Threads: see run.h and README.md.
#include "controlplane/run.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include <prometheus/exposer.h>

#include "config/config.h"
#include "controlplane/log.h"
#include "controlplane/metrics_collector.h"
#include "controlplane/stats_segment_reader.h"
#if TG_WITH_AUTH
#include "controlplane/admin_server.h"
#include "controlplane/admin_service.h"
#include "controlplane/auth_metrics.h"
#include "controlplane/ctl_handler.h"
#include "controlplane/ctl_server.h"
#include "controlplane/session_registry.h"
#endif

namespace tg::controlplane {

namespace {

/// Load and validate; print every error on stderr. nullopt when there was any.
std::optional<config::Config> load_config(const std::string& path) {
  config::LoadResult r = config::config_load_file(path);
  if (!r.ok()) {
    for (const config::ConfigError& e : r.errors) {
      std::fprintf(stderr, "%s\n", e.to_string().c_str());
    }
    if (r.errors.empty()) {  // a loader bug; never report failure silently
      std::fprintf(stderr, "%s: configuration rejected without an error message\n",
                   path.c_str());
    }
    return std::nullopt;
  }
  return std::move(r.config);
}

/// "http://HOST:PORT/metrics" for the log: the host as configured, the port as bound
/// (they differ when the configuration asks for port 0).
std::string metrics_url(const std::string& listen, const prometheus::Exposer& exposer) {
  const size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  if (host.empty()) {
    host = "0.0.0.0";
  }
  std::string port = colon == std::string::npos ? listen : listen.substr(colon + 1);
  if (const std::vector<int> ports = exposer.GetListeningPorts(); !ports.empty()) {
    port = std::to_string(ports.front());
  }
  return "http://" + host + ":" + port + "/metrics";
}

}  // namespace

int controlplane_check_config(const std::string& path) {
  if (!load_config(path)) {
    return 1;
  }
  std::printf("%s: OK\n", path.c_str());
  return 0;
}

int controlplane_run(const std::string& path, const std::string& version) {
  const std::optional<config::Config> cfg = load_config(path);
  if (!cfg) {
    return 1;
  }

  // Block the stop signals before any thread exists: civetweb's threads inherit the mask,
  // so SIGINT/SIGTERM are delivered only to sigwait() below. SIGPIPE (a scraper hanging
  // up mid-response) must not kill the process.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (int err = pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); err != 0) {
    log_line("error", "pthread_sigmask failed", {{"error", std::strerror(err)}});
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);

  auto collector = std::make_shared<MetricsCollector>(MetricsCollector::Options{
      .instance = cfg->instance,
      .version = version,
      .start_time_seconds = static_cast<double>(realtime_now_ns()) / 1e9,
      .source = {},
  });

  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(cfg->metrics.listen, 2);
  } catch (const std::exception& e) {
    // civetweb only says "possible problem binding to port": name the address and the
    // usual causes.
    log_line("error", "cannot listen for /metrics (address in use, not local, or not host:port)",
             {{"listen", cfg->metrics.listen}, {"config", path}, {"error", e.what()}});
    return 1;
  }
  exposer->RegisterCollectable(collector);

#if TG_WITH_AUTH
  // Auth decisions for the dataplane's TLS workers over the control segment
  // (/tunnelgate-<instance>-ctl): one server thread, started after the signal mask is set.
  WolfRandom random;
  if (!random.ok()) {
    log_line("error", "wolfCrypt RNG initialisation failed (no cookies without it)");
    return 1;
  }
  auto handler = AuthCtlHandler::create(*cfg, AuthCtlHandler::Options{}, random);
  if (!handler) {
    log_line("error", "auth backend not usable", {{"config", path}, {"error", handler.error().message}});
    return 1;
  }
  CtlServer ctl_server(CtlServer::Options{.instance = cfg->instance}, **handler);
  auto auth_collector = std::make_shared<AuthMetricsCollector>(
      (*handler)->counters(), (*handler)->sessions(), (*handler)->pools(), &ctl_server);
  auth_collector->sessions_by_app = [h = handler->get()] { return h->sessions_by_app(); };
  auth_collector->crl = [h = handler->get()]() -> std::optional<AuthMetricsCollector::CrlMetrics> {
    const auto st = h->crl_status();
    if (!st) return std::nullopt;
    return AuthMetricsCollector::CrlMetrics{st->info.loaded, st->info.this_update, st->info.next_update,
                                            st->info.revoked, st->expired_accepted};
  };
  if (const AuthSourceLimiter* l = (*handler)->source_limiter()) auth_collector->source_limits = &l->stats();
  exposer->RegisterCollectable(auth_collector);
  ctl_server.start();

  // The admin socket (tunnelgatectl): its own thread; commands run on the ctl thread.
  AdminService admin_service(AdminService::Options{.instance = cfg->instance, .version = version, .config_path = path},
                             **handler, ctl_server);
  auto admin = AdminServer::create(
      AdminServer::Options{.socket_path = cfg->admin.socket, .group = cfg->admin.group},
      [&admin_service](std::string_view line, std::string_view peer) {
        return admin_service.handle_line(line, peer);
      });
  if (!admin) {
    log_line("error", "cannot create the admin socket",
             {{"socket", cfg->admin.socket}, {"config", path}, {"error", admin.error().message}});
    ctl_server.stop();
    return 1;
  }
  (*admin)->start();
#endif

  log_line("info", "listening",
           {{"metrics", metrics_url(cfg->metrics.listen, *exposer)},
            {"instance", cfg->instance},
            {"stats_segment", shm::stats_shm_name(cfg->instance)},
            {"admin_socket", cfg->admin.socket}});

  int sig = 0;
  if (int err = sigwait(&stop_signals, &sig); err != 0) {
    log_line("error", "sigwait failed", {{"error", std::strerror(err)}});
    return 1;
  }
  log_line("info", "stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  exposer.reset();  // stops civetweb and joins its threads before the collector goes
#if TG_WITH_AUTH
  (*admin)->stop();   // first: its commands wait for the ctl thread; removes the socket file
  ctl_server.stop();  // clears the heartbeat: workers answer try-again at once
  auth_thread_exit();  // the JWKS and CA were first loaded on this thread
#endif
  return 0;
}

}  // namespace tg::controlplane
