// The TLS worker threads of tunnelgate-dataplane: the control segment, the TLS context,
// one listening socket per worker (SO_REUSEPORT on the outside address and TLS port; the
// exception path brings the connections to the kernel), and one thread per worker running
// TlsWorker + OcHandler. Main lcore: start() after the poll lcores run, stop() before them.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/stats_shm.h"
#include "config/config.h"
#include "dataplane/ctl/ctl_client.h"
#include "dataplane/ctl/ctl_segment_owner.h"
#include "dataplane/dataplane.h"
#include "dataplane/tls/tls_context.h"
#include "dataplane/tls/tls_worker.h"
#include "dataplane/vpn/oc_handler.h"
#include "dataplane/vpn/server_certs.h"

namespace tg::dp::vpn {

class VpnWorkers {
 public:
  VpnWorkers() = default;
  ~VpnWorkers() { stop(); }
  VpnWorkers(const VpnWorkers&) = delete;
  VpnWorkers& operator=(const VpnWorkers&) = delete;

  /// Start the workers. Without tls.certificate there is no TLS listener (a warning is
  /// logged and "" returned). Returns an error message, empty on success.
  std::string start(const config::Config& cfg, Dataplane& dp, uint16_t link_mtu);
  /// Stop and join every worker (their connections are closed). Idempotent.
  void stop();
  bool running() const { return !workers_.empty(); }
  /// Re-read the certificate and key files (same paths, primary and second) into new TLS
  /// contexts for new handshakes; established connections keep theirs. A file that does not
  /// load or has a validation error changes nothing (logged, counted). Main lcore (SIGHUP,
  /// CONFIG_RELOAD). Returns true when the new certificates are in use.
  bool reload_certificates();
  /// Re-evaluate which certificate new handshakes use (the primary expired or entered
  /// tls.expiry_margin_s: the second takes over). Main lcore, about once a second.
  void tick_certificates();
  /// Copy every worker's counters into the stats segment (main lcore, about once a second).
  void publish(shm::StatsSegment& segment) const;

 private:
  struct Worker {
    std::unique_ptr<dataplane::CtlClient> ctl;
    std::unique_ptr<OcHandler> handler;
    std::unique_ptr<tls::TlsWorker> tls;
    std::thread thread;
  };
  OcShared shared_;
  dataplane::CtlSegmentOwner ctl_segment_;
  std::unique_ptr<tls::TlsContextHolder> contexts_;
  ServerCertificates certs_;
  crypto::CertChoice active_ = crypto::CertChoice::none;
  uint64_t cert_reloads_ok_ = 0, cert_reloads_failed_ = 0, cert_switches_ = 0;
  std::string rejected_signature_;  ///< files of the last refused reload (not retried until they change)
  /// Publish the context of `c` for new handshakes (logs a change of certificate).
  void activate(crypto::CertChoice c, const char* why);
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace tg::dp::vpn
