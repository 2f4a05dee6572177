// Control plane: builds the /metrics families from a stats-segment snapshot.
// Runs on the exposer's request threads (see metrics_collector.h).
#include "controlplane/metrics_collector.h"

#include <cstdio>
#include <string_view>
#include <tuple>
#include <utility>

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

#include "controlplane/metric_family.h"

namespace tg::controlplane {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = MetricLabels;

constexpr double kNsPerSecond = 1e9;
constexpr double kBytesPerSecondPerMbps = 1e6 / 8;

std::string format_mac(const std::array<uint8_t, 6>& mac) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return buf;
}

const char* role_label(PortSnapshot::Role r) {
  switch (r) {
    case PortSnapshot::Role::outside: return "outside";
    case PortSnapshot::Role::inside: return "inside";
    case PortSnapshot::Role::exception: return "exception";
  }
  return "unknown";
}

/// HELP of the drops family: one family, so every reason's help from the table goes into it.
std::string drops_help() {
  std::string help = "Packets dropped by the dataplane poll lcores, by reason:";
  for (unsigned i = 0; i < shm::kDropReasonCount; ++i) {
    help += i == 0 ? " " : "; ";
    help += shm::kDropReasonInfo[i].label;
    help += " = ";
    help += shm::kDropReasonInfo[i].help;
  }
  help += ".";
  return help;
}

std::string segment_errors_help() {
  std::string help =
      "Reads of the dataplane stats segment that failed validation, by reason "
      "(an absent segment is not an error):";
  bool first = true;
  for (unsigned i = 0; i < kSegmentErrorCount; ++i) {
    const auto e = static_cast<SegmentError>(i);
    if (!segment_error_is_failure(e)) {
      continue;
    }
    help += first ? " " : "; ";
    first = false;
    help += segment_error_label(e);
    help += " = ";
    help += segment_error_help(e);
  }
  help += ".";
  return help;
}

/// One per-lcore counter family: value of `field` for every active lcore.
template <typename Get>
MetricFamily lcore_counter(const StatsSnapshot& s, std::string name, std::string help, Get get) {
  MetricFamily f = make_family(std::move(name), std::move(help), MetricType::Counter);
  for (const LcoreSnapshot& l : s.lcores) {
    add_sample(f, {{"lcore", std::to_string(l.lcore_id)}}, static_cast<double>(get(l)));
  }
  return f;
}

/// One per-port, per-lcore counter family.
template <typename Get>
MetricFamily port_counter(const StatsSnapshot& s, std::string name, std::string help, Get get) {
  MetricFamily f = make_family(std::move(name), std::move(help), MetricType::Counter);
  for (size_t p = 0; p < s.ports.size(); ++p) {
    for (const LcoreSnapshot& l : s.lcores) {
      add_sample(f, {{"port", s.ports[p].name}, {"lcore", std::to_string(l.lcore_id)}},
                 static_cast<double>(get(l.ports[p])));
    }
  }
  return f;
}

// Each group of families is its own function: civetweb runs the scrape on a small thread
// stack, and one function holding every family's locals overflowed it in the ASan build.
[[gnu::noinline]] void append_port_families(const StatsSnapshot& s, std::vector<MetricFamily>& out) {
  {
    MetricFamily f = make_family("tunnelgate_dataplane_start_time_seconds",
                                 "Start time of the dataplane process since the Unix epoch.",
                                 MetricType::Gauge);
    add_sample(f, {}, static_cast<double>(s.generation) / kNsPerSecond);
    out.push_back(std::move(f));
  }
  {
    MetricFamily f = make_family(
        "tunnelgate_dataplane_last_heartbeat_seconds",
        "Last heartbeat of the dataplane main lcore since the Unix epoch (about every second).",
        MetricType::Gauge);
    add_sample(f, {}, static_cast<double>(s.heartbeat_ns) / kNsPerSecond);
    out.push_back(std::move(f));
  }
  {
    MetricFamily f = make_family("tunnelgate_dataplane_lab_forwarding",
                                 "1 when LAB ONLY plain IPv4 forwarding between ports is on.",
                                 MetricType::Gauge);
    add_sample(f, {}, s.lab_forwarding ? 1 : 0);
    out.push_back(std::move(f));
  }

  // Ports.
  {
    MetricFamily info = make_family("tunnelgate_port_info",
                                    "Dataplane port: configured name, role and MAC address.",
                                    MetricType::Gauge);
    MetricFamily link = make_family("tunnelgate_port_link_up",
                                    "1 when the port's link is up (refreshed about every second).",
                                    MetricType::Gauge);
    MetricFamily speed = make_family("tunnelgate_port_link_speed_bytes",
                                     "Negotiated link speed of the port in bytes per second.",
                                     MetricType::Gauge);
    for (const PortSnapshot& p : s.ports) {
      add_sample(info, {{"port", p.name}, {"role", role_label(p.role)}, {"mac", format_mac(p.mac)}},
                 1);
      add_sample(link, {{"port", p.name}}, p.link_up ? 1 : 0);
      add_sample(speed, {{"port", p.name}}, p.link_speed_mbps * kBytesPerSecondPerMbps);
    }
    out.push_back(std::move(info));
    out.push_back(std::move(link));
    out.push_back(std::move(speed));
  }
  // What the PMD counted itself: packets lost before any lcore saw them.
  {
    struct DeviceCounter {
      const char* name;
      const char* help;
      uint64_t shm::PortDeviceCounters::*field;
    };
    static constexpr DeviceCounter kDeviceCounters[] = {
        {"tunnelgate_port_receive_missed_packets_total",
         "Packets the port dropped because its RX queue (for af_packet: the kernel ring) was full.",
         &shm::PortDeviceCounters::rx_missed},
        {"tunnelgate_port_receive_errors_total", "Erroneous frames counted by the port.",
         &shm::PortDeviceCounters::rx_errors},
        {"tunnelgate_port_transmit_errors_total", "Failed transmissions counted by the port.",
         &shm::PortDeviceCounters::tx_errors},
        {"tunnelgate_port_receive_nombuf_total", "RX mbuf allocation failures of the port.",
         &shm::PortDeviceCounters::rx_nombuf},
    };
    for (const DeviceCounter& d : kDeviceCounters) {
      MetricFamily f = make_family(d.name, d.help, MetricType::Counter);
      for (const PortSnapshot& p : s.ports) {
        add_sample(f, {{"port", p.name}}, static_cast<double>(p.device.*d.field));
      }
      out.push_back(std::move(f));
    }
  }
  out.push_back(port_counter(s, "tunnelgate_port_receive_packets_total",
                             "Packets received on the port by the lcore.",
                             [](const shm::PortCounters& c) { return c.rx_packets; }));
  out.push_back(port_counter(s, "tunnelgate_port_receive_bytes_total",
                             "Bytes received on the port by the lcore (Ethernet frames).",
                             [](const shm::PortCounters& c) { return c.rx_bytes; }));
  out.push_back(port_counter(s, "tunnelgate_port_receive_bursts_total",
                             "Non-empty RX bursts on the port by the lcore.",
                             [](const shm::PortCounters& c) { return c.rx_bursts; }));
  out.push_back(port_counter(s, "tunnelgate_port_transmit_packets_total",
                             "Packets transmitted on the port by the lcore.",
                             [](const shm::PortCounters& c) { return c.tx_packets; }));
  out.push_back(port_counter(s, "tunnelgate_port_transmit_bytes_total",
                             "Bytes transmitted on the port by the lcore (Ethernet frames).",
                             [](const shm::PortCounters& c) { return c.tx_bytes; }));

  // Drops: every reason of the table for every lcore, zeros included, so rate() and alerts
  // see a series from the first scrape on.
  {
    MetricFamily f = make_family("tunnelgate_dataplane_drops_total", drops_help(),
                                 MetricType::Counter);
    for (const LcoreSnapshot& l : s.lcores) {
      const std::string lcore = std::to_string(l.lcore_id);
      for (unsigned r = 0; r < shm::kDropReasonCount; ++r) {
        add_sample(f, {{"reason", shm::kDropReasonInfo[r].label}, {"lcore", lcore}},
                   static_cast<double>(l.drops[r]));
      }
    }
    out.push_back(std::move(f));
  }

}


[[gnu::noinline]] void append_app_families(const StatsSnapshot& s, std::vector<MetricFamily>& out) {
  // Apps: summed over lcores (bounded labels: at most kMaxApps configured app ids).
  {
    MetricFamily gen = make_family("tunnelgate_policy_generation",
                                   "Generation of the per-app policy the dataplane enforces (1 at "
                                   "start, +1 per reload that it applied).",
                                   MetricType::Gauge);
    add_sample(gen, {}, static_cast<double>(s.policy_generation));
    out.push_back(std::move(gen));
    MetricFamily packets = make_family(
        "tunnelgate_app_packets_total",
        "Inner packets of an app's sessions: to_backend passed the app's policy, to_client "
        "went into its tunnels.",
        MetricType::Counter);
    MetricFamily bytes = make_family("tunnelgate_app_bytes_total",
                                     "Inner bytes (IP header included) of an app's sessions, "
                                     "each way.",
                                     MetricType::Counter);
    MetricFamily denied = make_family(
        "tunnelgate_app_policy_drops_total",
        "Inner packets from an app's clients dropped by its policy, by reason (destination, "
        "protocol, port, no_app).",
        MetricType::Counter);
    for (size_t a = 0; a < s.apps.size(); ++a) {
      shm::AppCounters sum{};
      for (const LcoreSnapshot& l : s.lcores) {
        if (a >= l.apps.size()) continue;
        const shm::AppCounters& c = l.apps[a];
        sum.to_backend_packets += c.to_backend_packets;
        sum.to_backend_bytes += c.to_backend_bytes;
        sum.to_client_packets += c.to_client_packets;
        sum.to_client_bytes += c.to_client_bytes;
        for (unsigned r = 0; r < shm::kPolicyDropCount; ++r) sum.policy_drops[r] += c.policy_drops[r];
      }
      const std::string& app = s.apps[a];
      add_sample(packets, {{"app", app}, {"direction", "to_backend"}}, static_cast<double>(sum.to_backend_packets));
      add_sample(packets, {{"app", app}, {"direction", "to_client"}}, static_cast<double>(sum.to_client_packets));
      add_sample(bytes, {{"app", app}, {"direction", "to_backend"}}, static_cast<double>(sum.to_backend_bytes));
      add_sample(bytes, {{"app", app}, {"direction", "to_client"}}, static_cast<double>(sum.to_client_bytes));
      for (unsigned r = 0; r < shm::kPolicyDropCount; ++r) {
        add_sample(denied, {{"app", app}, {"reason", shm::kPolicyDropLabels[r]}},
                   static_cast<double>(sum.policy_drops[r]));
      }
    }
    out.push_back(std::move(packets));
    out.push_back(std::move(bytes));
    out.push_back(std::move(denied));
  }

}


[[gnu::noinline]] void append_certificate_families(const StatsSnapshot& s, std::vector<MetricFamily>& out) {
  // Server certificates the TLS workers hold (slot 0 primary, 1 second).
  {
    static constexpr const char* kSlot[shm::kServerCertSlots] = {"primary", "second"};
    MetricFamily expires = make_family(
        "tunnelgate_certificate_expires_in_seconds",
        "Seconds until the server certificate's notAfter (negative once expired), at scrape time.",
        MetricType::Gauge);
    MetricFamily not_after = make_family("tunnelgate_certificate_not_after_seconds",
                                         "notAfter of the server certificate, Unix time.",
                                         MetricType::Gauge);
    MetricFamily active = make_family("tunnelgate_certificate_active",
                                      "1 for the server certificate new TLS handshakes use.",
                                      MetricType::Gauge);
    MetricFamily usable = make_family("tunnelgate_certificate_usable",
                                      "1 when the server certificate loaded without a validation error.",
                                      MetricType::Gauge);
    MetricFamily findings = make_family(
        "tunnelgate_certificate_findings",
        "1 for each validation finding of the server certificate (errors make it unusable; "
        "warnings such as no_root, root_mismatch, self_signed, expires_soon do not).",
        MetricType::Gauge);
    const double now_s = static_cast<double>(realtime_now_ns()) / kNsPerSecond;
    for (unsigned i = 0; i < shm::kServerCertSlots; ++i) {
      const ServerCertSnapshot& c = s.server_certs[i];
      if (!c.configured) continue;
      add_sample(active, {{"certificate", kSlot[i]}}, c.active ? 1 : 0);
      add_sample(usable, {{"certificate", kSlot[i]}}, c.usable ? 1 : 0);
      if (c.not_after != 0) {
        add_sample(not_after, {{"certificate", kSlot[i]}}, static_cast<double>(c.not_after));
        add_sample(expires, {{"certificate", kSlot[i]}}, static_cast<double>(c.not_after) - now_s);
      }
      for (unsigned f = 0; f < shm::kCertFindingCount; ++f) {
        add_sample(findings, {{"certificate", kSlot[i]}, {"finding", shm::kCertFindingInfo[f].code}},
                   (c.findings >> f) & 1u);
      }
    }
    for (MetricFamily* f : {&expires, &not_after, &active, &usable, &findings}) {
      if (!f->metric.empty()) out.push_back(std::move(*f));
    }
    MetricFamily reloads = make_family("tunnelgate_certificate_reloads_total",
                                       "Server certificate reloads (SIGHUP, tunnelgatectl reload) by "
                                       "result: ok took effect, failed kept the certificates in use.",
                                       MetricType::Counter);
    add_sample(reloads, {{"result", "ok"}}, static_cast<double>(s.cert_reloads_ok));
    add_sample(reloads, {{"result", "failed"}}, static_cast<double>(s.cert_reloads_failed));
    out.push_back(std::move(reloads));
    MetricFamily switches = make_family("tunnelgate_certificate_switches_total",
                                        "Changes of the certificate new handshakes use (the primary "
                                        "expired or entered tls.expiry_margin_s, or a reload).",
                                        MetricType::Counter);
    add_sample(switches, {}, static_cast<double>(s.cert_switches));
    out.push_back(std::move(switches));
  }

}


[[gnu::noinline]] void append_lcore_families(const StatsSnapshot& s, std::vector<MetricFamily>& out) {
  // Events (api/stats_shm.h TG_EVENT_COUNTERS).
  for (const shm::EventCounterInfo& ev : shm::kEventCounterInfo) {
    out.push_back(lcore_counter(s, ev.metric, ev.help,
                                [&ev](const LcoreSnapshot& l) { return l.events.*ev.member; }));
  }

  // Lcore load.
  {
    MetricFamily f = make_family(
        "tunnelgate_lcore_busy_ratio",
        "Share of the poll lcore's TSC cycles spent in loop iterations that had packets "
        "(0..1, since the dataplane started).",
        MetricType::Gauge);
    for (const LcoreSnapshot& l : s.lcores) {
      // The two counters are read without a lock and may be from neighbouring iterations:
      // clamp to [0, 1].
      double ratio = 0;
      if (l.total_cycles != 0) {
        ratio = static_cast<double>(l.busy_cycles) / static_cast<double>(l.total_cycles);
        ratio = ratio > 1 ? 1 : ratio;
      }
      add_sample(f, {{"lcore", std::to_string(l.lcore_id)}}, ratio);
    }
    out.push_back(std::move(f));
  }
  // Seconds, not a ratio since start: rate() of it is the lcore's recent busy share, and it
  // is the lcore's work to divide throughput by (its OS CPU time is 100 % by design).
  if (s.tsc_hz != 0) {
    const double hz = static_cast<double>(s.tsc_hz);
    MetricFamily busy = make_family("tunnelgate_lcore_busy_seconds_total",
                                    "Seconds the poll lcore spent in loop iterations that had packets (TSC).",
                                    MetricType::Counter);
    for (const LcoreSnapshot& l : s.lcores)
      add_sample(busy, {{"lcore", std::to_string(l.lcore_id)}}, static_cast<double>(l.busy_cycles) / hz);
    out.push_back(std::move(busy));
  }
  out.push_back(lcore_counter(s, "tunnelgate_lcore_loops_total",
                              "Poll loop iterations of the lcore.",
                              [](const LcoreSnapshot& l) { return l.loops; }));
  out.push_back(lcore_counter(s, "tunnelgate_lcore_busy_loops_total",
                              "Poll loop iterations of the lcore that received packets.",
                              [](const LcoreSnapshot& l) { return l.busy_loops; }));
  // Per stage (api/stats_shm.h TG_LCORE_STAGES), of the iterations the stage clock timed
  // (dataplane.stage_sample): rate(cycles) / rate(packets) is a stage's cycles per packet.
  // Lcores whose clock is off have no series; no family when every clock is off.
  for (auto [name, help, field] :
       {std::tuple{"tunnelgate_lcore_stage_cycles_total",
                   "TSC cycles of the lcore's stage in the iterations its stage clock timed "
                   "(1 in dataplane.stage_sample).",
                   &shm::StageCounters::cycles},
        std::tuple{"tunnelgate_lcore_stage_packets_total",
                   "Packets the lcore's stage handled in the iterations its stage clock timed.",
                   &shm::StageCounters::packets},
        std::tuple{"tunnelgate_lcore_stage_bursts_total",
                   "Bursts the lcore's stage handled in the iterations its stage clock timed "
                   "(packets / bursts: its mean burst).",
                   &shm::StageCounters::bursts}}) {
    MetricFamily f = make_family(name, help, MetricType::Counter);
    for (const LcoreSnapshot& l : s.lcores) {
      if (l.stage_sample == 0) continue;
      for (unsigned st = 0; st < shm::kLcoreStageCount; st++)
        add_sample(f, {{"lcore", std::to_string(l.lcore_id)}, {"stage", shm::kLcoreStageInfo[st].label}},
                   static_cast<double>(l.stages[st].*field));
    }
    if (!f.metric.empty()) out.push_back(std::move(f));
  }
  for (auto [name, help, field] :
       {std::tuple{"tunnelgate_dtls_sessions", "DTLS sessions whose records the poll lcore protects.",
                   &LcoreSnapshot::dtls_sessions},
        std::tuple{"tunnelgate_crypto_queue_depth_max",
                   "Most record crypto operations in flight at once on the lcore's cryptodev queue pair.",
                   &LcoreSnapshot::crypto_queue_depth_max}}) {
    MetricFamily f = make_family(name, help, MetricType::Gauge);
    for (const LcoreSnapshot& l : s.lcores)
      add_sample(f, {{"lcore", std::to_string(l.lcore_id)}}, static_cast<double>(l.*field));
    out.push_back(std::move(f));
  }

}


[[gnu::noinline]] void append_worker_families(const StatsSnapshot& s, std::vector<MetricFamily>& out) {
  // TLS workers (the OpenConnect servers), labelled by worker index.
  {
    using W = shm::TlsWorkerStats;
    struct WorkerMetric {
      const char* name;
      const char* help;
      MetricType type;
      uint64_t W::*field;
    };
    static constexpr WorkerMetric kWorkerMetrics[] = {
        {"tunnelgate_tls_connections", "TCP connections the TLS worker holds.", MetricType::Gauge, &W::connections},
        {"tunnelgate_tunnels_active", "CSTP tunnels up on the TLS worker.", MetricType::Gauge, &W::tunnels_open},
        {"tunnelgate_tls_handshakes_total", "Completed TLS handshakes.", MetricType::Counter, &W::handshakes_ok},
        {"tunnelgate_tls_accept_errors_total",
         "Connections the TLS worker could not accept: out of descriptors (EMFILE/ENFILE) or memory.",
         MetricType::Counter, &W::accept_errors},
        {"tunnelgate_tls_connections_over_limit_total",
         "Connections closed at accept: the worker held its share of limits.max_sessions.", MetricType::Counter,
         &W::connections_over_limit},
        {"tunnelgate_ctl_requests_queued_total",
         "Logins and CONNECTs that waited for room in the TLS worker's control-plane client (a login storm).",
         MetricType::Counter, &W::ctl_requests_queued},
        {"tunnelgate_http_errors_total", "Requests answered with an HTTP error for being malformed or unsupported.",
         MetricType::Counter, &W::http_errors},
        {"tunnelgate_http_try_again_total",
         "Requests answered 503 (try again): control plane down, slow or overloaded.", MetricType::Counter,
         &W::try_again},
        {"tunnelgate_cookie_rejected_total", "CONNECT requests refused with 401 (cookie missing or not accepted).",
         MetricType::Counter, &W::cookie_rejected},
        {"tunnelgate_tunnels_opened_total", "CSTP tunnels opened (200 CONNECTED).", MetricType::Counter,
         &W::tunnels_opened},
        {"tunnelgate_tunnels_closed_total", "CSTP tunnels closed.", MetricType::Counter, &W::tunnels_closed},
        {"tunnelgate_cstp_errors_total", "Malformed CSTP frames (each ended its session).", MetricType::Counter,
         &W::cstp_errors},
        {"tunnelgate_cstp_receive_packets_total", "Packets received from clients over CSTP.", MetricType::Counter,
         &W::cstp_rx_packets},
        {"tunnelgate_cstp_receive_bytes_total", "Bytes of packets received from clients over CSTP.",
         MetricType::Counter, &W::cstp_rx_bytes},
        {"tunnelgate_cstp_transmit_packets_total", "Packets sent to clients over CSTP.", MetricType::Counter,
         &W::cstp_tx_packets},
        {"tunnelgate_cstp_transmit_bytes_total", "Bytes of packets sent to clients over CSTP.", MetricType::Counter,
         &W::cstp_tx_bytes},
        {"tunnelgate_cstp_receive_dropped_total",
         "Client packets lost before a poll lcore (ring full, no mbuf, too big).", MetricType::Counter,
         &W::rx_dropped},
        {"tunnelgate_cstp_transmit_dropped_total",
         "Packets for clients lost (tunnel gone, or the client reads too slowly).", MetricType::Counter,
         &W::tx_dropped},
        {"tunnelgate_cstp_dpd_answered_total", "CSTP dead-peer-detection requests answered.", MetricType::Counter,
         &W::dpd_answered},
        {"tunnelgate_dtls_handshakes_started_total", "DTLS handshakes started (a ClientHello for a known App-ID).",
         MetricType::Counter, &W::dtls_handshakes_started},
        {"tunnelgate_dtls_handshakes_total", "DTLS handshakes completed (keys handed to a poll lcore).",
         MetricType::Counter, &W::dtls_handshakes_ok},
        {"tunnelgate_dtls_handshakes_active", "DTLS handshakes under way.", MetricType::Gauge,
         &W::dtls_handshakes_active},
        {"tunnelgate_dtls_tunnels_active", "Tunnels whose DTLS channel is keyed.", MetricType::Gauge,
         &W::dtls_established},
        {"tunnelgate_dtls_removes_deferred_total",
         "Closed tunnels whose DTLS keys waited for room in a poll lcore's control ring (sent later, in order).",
         MetricType::Counter, &W::dtls_removes_deferred},
    };
    for (const WorkerMetric& m : kWorkerMetrics) {
      MetricFamily f = make_family(m.name, m.help, m.type);
      for (const W& w : s.tls_workers) add_sample(f, {{"worker", std::to_string(w.worker)}}, static_cast<double>(w.*m.field));
      out.push_back(std::move(f));
    }
    MetricFamily failures = make_family("tunnelgate_tls_handshake_failures_total",
                                        "TLS handshakes that failed, by reason.", MetricType::Counter);
    for (const W& w : s.tls_workers) {
      for (unsigned r = 0; r < shm::kTlsHandshakeFailureCount; r++) {
        add_sample(failures, {{"worker", std::to_string(w.worker)}, {"reason", shm::kTlsHandshakeFailureLabels[r]}},
                   static_cast<double>(w.handshakes_failed[r]));
      }
    }
    out.push_back(std::move(failures));
    MetricFamily dtls_failures = make_family("tunnelgate_dtls_handshake_failures_total",
                                             "DTLS handshakes that failed or were refused, by reason.",
                                             MetricType::Counter);
    for (const W& w : s.tls_workers) {
      for (unsigned r = 0; r < shm::kDtlsHandshakeFailureCount; r++) {
        add_sample(dtls_failures,
                   {{"worker", std::to_string(w.worker)}, {"reason", shm::kDtlsHandshakeFailureLabels[r]}},
                   static_cast<double>(w.dtls_handshakes_failed[r]));
      }
    }
    out.push_back(std::move(dtls_failures));
  }

  // Main-lcore gauges.
  struct GaugeMetric {
    const char* name;
    const char* help;
    double value;
  };
  const GaugeMetric gauges[] = {
      {"tunnelgate_neighbour_entries", "Resolved entries in the neighbour (ARP) table.",
       static_cast<double>(s.neigh_entries)},
      {"tunnelgate_mempool_mbufs_in_use", "Packet buffers (mbufs) currently in use.",
       static_cast<double>(s.mempool_in_use)},
      {"tunnelgate_mempool_mbufs_size", "Packet buffers (mbufs) in the pool.",
       static_cast<double>(s.mempool_size)},
  };
  for (const GaugeMetric& g : gauges) {
    MetricFamily f = make_family(g.name, g.help, MetricType::Gauge);
    add_sample(f, {}, g.value);
    out.push_back(std::move(f));
  }
}

void append_dataplane_families(const StatsSnapshot& s, std::vector<MetricFamily>& out) {
  append_port_families(s, out);
  append_app_families(s, out);
  append_certificate_families(s, out);
  append_lcore_families(s, out);
  append_worker_families(s, out);
}

}  // namespace

MetricsCollector::MetricsCollector(Options options) : options_(std::move(options)) {
  if (!options_.source) {
    options_.source = [instance = options_.instance] {
      return stats_segment_open_and_read(instance, realtime_now_ns());
    };
  }
}

uint64_t MetricsCollector::segment_errors(SegmentError e) const {
  const auto i = static_cast<unsigned>(e);
  return i < kSegmentErrorCount ? errors_[i].load(std::memory_order_relaxed) : 0;
}

std::vector<MetricFamily> MetricsCollector::Collect() const {
  const SegmentReadResult read = options_.source();
  if (!read.has_value() && segment_error_is_failure(read.error().code)) {
    errors_[static_cast<unsigned>(read.error().code)].fetch_add(1, std::memory_order_relaxed);
  }

  std::vector<MetricFamily> out;
  {
    MetricFamily f = make_family("tunnelgate_build_info",
                                 "Version of tunnelgate-controlplane; always 1.", MetricType::Gauge);
    add_sample(f, {{"version", options_.version}}, 1);
    out.push_back(std::move(f));
  }
  {
    MetricFamily f = make_family("tunnelgate_controlplane_start_time_seconds",
                                 "Start time of the control-plane process since the Unix epoch.",
                                 MetricType::Gauge);
    add_sample(f, {}, options_.start_time_seconds);
    out.push_back(std::move(f));
  }
  {
    // Every failure code is exported from the first scrape on (zeros included).
    MetricFamily f = make_family("tunnelgate_stats_segment_errors_total", segment_errors_help(),
                                 MetricType::Counter);
    for (unsigned i = 0; i < kSegmentErrorCount; ++i) {
      const auto e = static_cast<SegmentError>(i);
      if (segment_error_is_failure(e)) {
        add_sample(f, {{"error", segment_error_label(e)}},
                   static_cast<double>(errors_[i].load(std::memory_order_relaxed)));
      }
    }
    out.push_back(std::move(f));
  }
  {
    MetricFamily f = make_family(
        "tunnelgate_dataplane_up",
        "1 when the dataplane stats segment is valid and its heartbeat is at most 5 s old.",
        MetricType::Gauge);
    add_sample(f, {}, read.has_value() && !read.value().stale ? 1 : 0);
    out.push_back(std::move(f));
  }
  // A valid but stale segment still shows its last counters (a hung main lcore does not
  // stop the poll lcores; a dead dataplane's counters are flat, and rate() reads 0).
  if (read.has_value()) {
    append_dataplane_families(read.value(), out);
  }
  return out;
}

}  // namespace tg::controlplane
