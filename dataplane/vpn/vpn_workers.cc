#include "dataplane/vpn/vpn_workers.h"

#include <pthread.h>
#include <sys/resource.h>

#include <ctime>
#include <iterator>
#include <sched.h>
#include <unistd.h>

#include <rte_lcore.h>

#include "dataplane/log.h"
#include "dataplane/tunnel/auth_xml.h"
#include "dataplane/tunnel_path.h"

namespace tg::dp::vpn {

namespace {
/// The CPUs a TLS worker may run on: every online CPU but the poll lcores' (which must
/// never be disturbed); the main lcore's CPU is fine (it only does housekeeping). Threads
/// started by the main lcore inherit its single-CPU affinity, so without this all workers
/// would share one core. Falls back to the main lcore's CPU when nothing else is left.
cpu_set_t tls_worker_cpus(const config::Config& cfg) {
  cpu_set_t set;
  CPU_ZERO(&set);
  const long n_cpus = sysconf(_SC_NPROCESSORS_ONLN);
  for (long cpu = 0; cpu < n_cpus && cpu < CPU_SETSIZE; cpu++) CPU_SET(static_cast<int>(cpu), &set);
  for (uint32_t lcore : cfg.dataplane.lcores) {
    const rte_cpuset_t poll = rte_lcore_cpuset(lcore);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
      if (CPU_ISSET(cpu, &poll)) CPU_CLR(cpu, &set);
  }
  if (CPU_COUNT(&set) == 0) set = rte_lcore_cpuset(cfg.dataplane.main_lcore);
  return set;
}
/// Each TLS connection is a descriptor of this process (the TCP socket the workers read)
/// unless the workers keep their sockets in io_uring file tables (dataplane.tls_io), so the
/// descriptor limit bounds the tunnels: raise the soft limit to the hard one, choose the
/// socket model, and say so at start when the connections cannot all be held (systemd's
/// LimitNOFILE, or a container's limit) instead of letting the first accept past it fail.
struct SocketModel {
  tls::TlsIo io = tls::TlsIo::epoll;
  uint64_t nofile = 0;  ///< RLIMIT_NOFILE after raising (UINT64_MAX: unlimited)
};
SocketModel choose_socket_model(const config::Config& cfg) {
  rlimit limit{};
  SocketModel model;
  model.nofile = UINT64_MAX;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    if (limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
      getrlimit(RLIMIT_NOFILE, &limit);
    }
    if (limit.rlim_cur != RLIM_INFINITY) model.nofile = limit.rlim_cur;
  }
  // Besides the connections: EAL (with --in-memory one per 2 MB hugepage), ports, the
  // exception path's tap, the segments, epoll and eventfds, the listeners, logs, files read
  // on reload.
  constexpr uint64_t kReserved = 1024;
  const uint64_t connections = tls::tls_connections_max(cfg.limits.max_sessions);
  model.io = tls::tls_io_for(cfg, model.nofile, kReserved);
  if (model.io == tls::TlsIo::io_uring && cfg.dataplane.tls_io == "auto") {
    std::string error;
    if (!tls::SocketRing::create(1, error)) {
      TG_WARN("msg=\"io_uring unavailable: the TLS workers use descriptors\" err=\"%s\"", error.c_str());
      model.io = tls::TlsIo::epoll;
    }
  }
  if (model.io == tls::TlsIo::epoll && model.nofile < connections + kReserved) {
    const unsigned long long room = model.nofile > kReserved ? model.nofile - kReserved : 0;
    TG_WARN("msg=\"descriptor limit below limits.max_sessions: connections past it are refused at accept "
            "(tunnelgate_tls_accept_errors_total)\" nofile=%llu max_sessions=%u connections_max=%llu "
            "fix=\"raise LimitNOFILE (systemd) or ulimit -n to at least %llu, or dataplane.tls_io = io_uring\"",
            static_cast<unsigned long long>(model.nofile), cfg.limits.max_sessions, room,
            static_cast<unsigned long long>(connections + kReserved));
  }
  const uint64_t per_worker = connections / cfg.dataplane.tls_workers + 1;
  if (model.io == tls::TlsIo::io_uring && per_worker > model.nofile) {
    TG_WARN("msg=\"an io_uring file table may not exceed RLIMIT_NOFILE: connections past it are refused at "
            "accept (tunnelgate_tls_connections_over_limit_total)\" nofile=%llu tls_workers=%u "
            "connections_max=%llu fix=\"dataplane.tls_workers = %llu or more, or raise LimitNOFILE\"",
            static_cast<unsigned long long>(model.nofile), cfg.dataplane.tls_workers,
            static_cast<unsigned long long>(model.nofile * cfg.dataplane.tls_workers),
            static_cast<unsigned long long>((connections + model.nofile - 1) / model.nofile));
  }
  return model;
}
}  // namespace

std::string VpnWorkers::start(const config::Config& cfg, Dataplane& dp, uint16_t link_mtu) {
  if (cfg.tls.certificate.empty()) {
    TG_WARN("msg=\"no tls.certificate: no TLS listener, no tunnels\"");
    return {};
  }
  const config::PortConfig* outside = nullptr;
  for (const auto& p : cfg.dataplane.ports)
    if (p.role == config::PortConfig::Role::outside) {
      outside = &p;
      break;
    }
  if (outside == nullptr || !dp.has_exception) return "no outside port and exception path for the TLS listener";
  const SocketModel sockets = choose_socket_model(cfg);
  const uint32_t n = cfg.dataplane.tls_workers;
  if (n > dp.n_workers && dp.n_workers != 0) return "fewer worker mailboxes than tls_workers";

  shared_.cfg = &cfg;
  shared_.dp = &dp;
  shared_.n_lcores = static_cast<unsigned>(cfg.dataplane.lcores.size());
  shared_.link_mtu = link_mtu;

  if (std::string err = ctl_segment_.create(cfg.instance, n); !err.empty()) return "control segment: " + err;
  const int64_t now = static_cast<int64_t>(time(nullptr));
  if (std::string err = certs_.load(cfg, now); !err.empty()) return err;
  active_ = certs_.choice(now);
  contexts_ = std::make_unique<tls::TlsContextHolder>(certs_.context(active_));
  for (const ServerCertificates::Slot* slot : {&certs_.primary(), &certs_.second()}) {
    if (slot->report && slot->report->has(crypto::CertCode::self_signed)) {
      TG_WARN("msg=\"SELF-SIGNED SERVER CERTIFICATE: clients cannot verify this gateway; replace it with a "
              "certificate from a CA they trust (docs/certificates.md)\" certificate=\"%s\"",
              slot->name.c_str());
    }
  }
  const ServerCertificates::Slot& in_use = active_ == crypto::CertChoice::second ? certs_.second() : certs_.primary();
  TG_INFO("msg=\"server certificate\" why=start active=%s certificate=\"%s\" pin=%s",
          std::string(crypto::to_string(active_)).c_str(), in_use.name.c_str(), in_use.report->spki_pin.c_str());
  tunnel::auth_xml_library_init();  // libxml2's global state, before any worker parses

  for (uint32_t w = 0; w < n; w++) {
    auto worker = std::make_unique<Worker>();
    dataplane::CtlClient::Options copt;
    copt.worker_id = w;
    worker->ctl = std::make_unique<dataplane::CtlClient>(*ctl_segment_.segment(), copt);
    worker->handler = std::make_unique<OcHandler>(shared_, *worker->ctl, static_cast<uint16_t>(w));
    tls::ListenResult listener = tls::tls_listen(outside->address.addr, cfg.listeners.tls_port);
    if (!listener.ok()) {
      stop();
      return "TLS listener: " + listener.error;
    }
    tls::TlsWorkerOptions options = tls::TlsWorkerOptions::from_config(cfg, w, n);
    options.io = sockets.io;
    if (options.io == tls::TlsIo::io_uring && options.max_connections > sockets.nofile)
      options.max_connections = static_cast<uint32_t>(sockets.nofile);  // the table's bound (warned above)
    tls::TlsWorkerResult created = tls::TlsWorker::create(options, *contexts_, *worker->handler, listener.fd);
    if (!created.ok()) {
      stop();
      return "TLS worker: " + created.error;
    }
    worker->tls = std::move(created.worker);
    worker->handler->attach(*worker->tls);
    if (dp.workers != nullptr) {
      dp.workers[w].wake_ctx = worker->tls.get();
      // release (by the thread start below): the lcores see the context before the function.
      dp.workers[w].wake = &OcHandler::wake_worker;
    }
    tls::TlsWorker* tls_worker = worker->tls.get();
    const cpu_set_t cpus = tls_worker_cpus(cfg);
    worker->thread = std::thread([tls_worker, w, cpus] {
      pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus);  // before registering: EAL reads it
      const std::string name = "tg-tls-" + std::to_string(w);  // shown by top -H, ps -L
      pthread_setname_np(pthread_self(), name.c_str());
      // A DPDK lcore id for this thread gives it mempool caches; without one it still works.
      const bool registered = rte_thread_register() == 0;
      TG_INFO("msg=\"TLS worker running\" worker=%u dpdk_registered=%d", w, registered ? 1 : 0);
      tls_worker->run();
      tls::tls_thread_exit();
      if (registered) rte_thread_unregister();
    });
    workers_.push_back(std::move(worker));
  }
  TG_INFO("msg=\"TLS listening\" address=%s port=%u workers=%u tls_io=%s connections_per_worker=%u",
          config::to_string(outside->address.addr).c_str(), cfg.listeners.tls_port, n,
          std::string(tls::to_string(sockets.io)).c_str(), workers_.front()->tls->options().max_connections);
  return {};
}

bool VpnWorkers::reload_certificates() {
  if (!contexts_) return false;
  const int64_t now = static_cast<int64_t>(time(nullptr));
  ServerCertificates next;
  if (std::string err = next.load(*shared_.cfg, now); !err.empty()) {
    cert_reloads_failed_++;
    TG_ERR("msg=\"certificate reload refused, the current certificates stay\" err=\"%s\"", err.c_str());
    return false;
  }
  certs_ = std::move(next);
  cert_reloads_ok_++;
  activate(certs_.choice(now), "reload");
  return true;
}

void VpnWorkers::activate(crypto::CertChoice c, const char* why) {
  const bool changed = c != active_;
  active_ = c;
  contexts_->replace(certs_.context(c));  // new handshakes only: connections hold their context
  if (changed) cert_switches_++;
  const ServerCertificates::Slot& slot = c == crypto::CertChoice::second ? certs_.second() : certs_.primary();
  if (c == crypto::CertChoice::none) {
    TG_ERR("msg=\"no valid server certificate: new TLS handshakes fail\" why=%s", why);
  } else if (changed && c == crypto::CertChoice::second) {
    TG_WARN("msg=\"switched to the second certificate\" why=%s certificate=\"%s\" pin=%s", why, slot.name.c_str(),
            slot.report->spki_pin.c_str());
  } else {
    TG_INFO("msg=\"server certificate\" why=%s active=%s certificate=\"%s\" pin=%s", why,
            std::string(crypto::to_string(c)).c_str(), slot.name.c_str(), slot.report->spki_pin.c_str());
  }
}

void VpnWorkers::tick_certificates() {
  if (!contexts_) return;
  // A replaced file (renewal dropped in place, by rename) reloads both certificates; a
  // version that was refused is not retried until it changes again.
  const std::string sig = certs_.files_signature();
  if (sig != certs_.loaded_signature() && sig != rejected_signature_) {
    TG_INFO("msg=\"certificate files changed: reloading\"");
    if (!reload_certificates()) rejected_signature_ = sig;
  }
  const crypto::CertChoice c = certs_.choice(static_cast<int64_t>(time(nullptr)));
  if (c != active_) activate(c, "expiry");
}

// The stats segment's labels (api/ cannot include dataplane/tls) must be the engine's
// reasons, name for name and in order: checked at compile time, not only the count.
namespace {
constexpr const char* kEngineFailureNames[] = {
#define TG_X(name, help) #name,
    TG_TLS_HANDSHAKE_FAILURES(TG_X)
#undef TG_X
};
}  // namespace
static_assert(shm::labels_match(kEngineFailureNames, shm::kTlsHandshakeFailureCount,
                                [](unsigned i) { return shm::kTlsHandshakeFailureLabels[i]; }),
              "TG_TLS_HANDSHAKE_FAILURE_LABELS (api/stats_shm.h) must follow TG_TLS_HANDSHAKE_FAILURES");

void VpnWorkers::publish(shm::StatsSegment& segment) const {
  if (contexts_) certs_.publish(segment.server_certs, active_);
  segment.cert_reloads_ok = cert_reloads_ok_;
  segment.cert_reloads_failed = cert_reloads_failed_;
  segment.cert_switches = cert_switches_;
  for (size_t w = 0; w < workers_.size() && w < shm::kMaxTlsWorkers; w++) {
    const tls::TlsWorkerCounters& t = workers_[w]->tls->counters();
    const OcCounters& o = workers_[w]->handler->counters();
    shm::TlsWorkerStats& s = segment.tls_workers[w];
    s.worker = static_cast<uint32_t>(w);
    s.connections = t.connections.get();
    s.tunnels_open = o.tunnels_opened.get() - o.tunnels_closed.get();
    s.handshakes_ok = t.handshakes_ok.get();
    for (size_t i = 0; i < shm::kTlsHandshakeFailureCount; i++) s.handshakes_failed[i] = t.handshakes_failed[i].get();
    s.http_errors = o.http_errors.get();
    s.try_again = o.try_again.get();
    s.cookie_rejected = o.cookie_rejected.get();
    s.tunnels_opened = o.tunnels_opened.get();
    s.tunnels_closed = o.tunnels_closed.get();
    s.cstp_errors = o.cstp_errors.get();
    s.cstp_rx_packets = o.cstp_rx_packets.get();
    s.cstp_rx_bytes = o.cstp_rx_bytes.get();
    s.cstp_tx_packets = o.cstp_tx_packets.get();
    s.cstp_tx_bytes = o.cstp_tx_bytes.get();
    s.rx_dropped = o.rx_dropped_ring_full.get() + o.rx_dropped_no_mbuf.get() + o.rx_dropped_too_big.get();
    s.tx_dropped = o.tx_dropped_stale.get() + o.tx_dropped_backpressure.get();
    s.dpd_answered = o.dpd_answered.get();
    const DtlsCounters& d = workers_[w]->handler->dtls_counters();
    s.dtls_handshakes_started = d.started.get();
    s.dtls_handshakes_ok = d.ok.get();
    for (size_t i = 0; i < shm::kDtlsHandshakeFailureCount; i++) s.dtls_handshakes_failed[i] = d.failed[i].get();
    s.dtls_handshakes_active = d.active.get();
    s.dtls_established = d.established.get();
    s.dtls_removes_deferred = d.removes_deferred.get();
    s.accept_errors = t.accept_errors.get();
    s.connections_over_limit = t.rejected_over_limit.get();
    s.ctl_requests_queued = o.ctl_queued.get();
    s.active = 1;
  }
}

void VpnWorkers::stop() {
  for (auto& w : workers_)
    if (w->tls) w->tls->stop();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  if (shared_.dp != nullptr && shared_.dp->workers != nullptr) {
    for (unsigned i = 0; i < workers_.size(); i++) shared_.dp->workers[i].wake = nullptr;
  }
  workers_.clear();
}

}  // namespace tg::dp::vpn
