// Tests of controlplane/metrics_collector: the families built from absent, malformed and
// valid (synthetic) segments, naming rules, and a `promtool check metrics` lint.
#include "controlplane/metrics_collector.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <string>
#include <vector>

#include "tests/controlplane/segment_builder.h"

namespace tg::controlplane {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using test::bytes_of;
using test::kTestNowNs;
using test::make_segment;

using LabelMap = std::map<std::string, std::string>;

/// A collector whose source decodes `seg` (or reports `error` when seg is null).
MetricsCollector collector_for(const shm::StatsSegment* seg,
                               SegmentError error = SegmentError::absent) {
  return MetricsCollector(MetricsCollector::Options{
      .instance = "tg0",
      .version = "9.8.7",
      .start_time_seconds = 1234.5,
      .source = [seg, error]() -> SegmentReadResult {
        if (seg == nullptr) {
          return SegmentReadError{error, 0, "injected"};
        }
        return stats_segment_decode(bytes_of(*seg), kTestNowNs, "tg0");
      },
  });
}

const MetricFamily* find_family(const std::vector<MetricFamily>& fams, const std::string& name) {
  for (const MetricFamily& f : fams) {
    if (f.name == name) {
      return &f;
    }
  }
  return nullptr;
}

LabelMap labels_of(const ClientMetric& m) {
  LabelMap out;
  for (const auto& l : m.label) {
    out[l.name] = l.value;
  }
  return out;
}

double value_of(const MetricFamily& f, const ClientMetric& m) {
  return f.type == MetricType::Counter ? m.counter.value : m.gauge.value;
}

/// The value of the sample of `name` with exactly these labels; fails the test if absent.
double sample(const std::vector<MetricFamily>& fams, const std::string& name,
              const LabelMap& labels = {}) {
  const MetricFamily* f = find_family(fams, name);
  if (f == nullptr) {
    ADD_FAILURE() << "no family " << name;
    return -1;
  }
  for (const ClientMetric& m : f->metric) {
    if (labels_of(m) == labels) {
      return value_of(*f, m);
    }
  }
  ADD_FAILURE() << "no sample of " << name << " with the given labels";
  return -1;
}

// ---------------------------------------------------------------- no or bad segment

TEST(MetricsCollector, AbsentSegmentIsDownButNotAnError) {
  MetricsCollector c = collector_for(nullptr, SegmentError::absent);
  const auto fams = c.Collect();
  EXPECT_EQ(sample(fams, "tunnelgate_dataplane_up"), 0);
  EXPECT_EQ(sample(fams, "tunnelgate_build_info", {{"version", "9.8.7"}}), 1);
  EXPECT_EQ(sample(fams, "tunnelgate_controlplane_start_time_seconds"), 1234.5);
  EXPECT_EQ(find_family(fams, "tunnelgate_port_info"), nullptr);
  EXPECT_EQ(find_family(fams, "tunnelgate_dataplane_drops_total"), nullptr);
  // Every failure reason is exported at zero; absent is not one of them.
  const MetricFamily* errors = find_family(fams, "tunnelgate_stats_segment_errors_total");
  ASSERT_NE(errors, nullptr);
  for (const ClientMetric& m : errors->metric) {
    EXPECT_EQ(m.counter.value, 0);
    EXPECT_NE(labels_of(m).at("error"), "absent");
    EXPECT_NE(labels_of(m).at("error"), "not_initialised");
  }
  EXPECT_EQ(errors->metric.size(), kSegmentErrorCount - 2);
  EXPECT_EQ(c.segment_errors(SegmentError::absent), 0u);
}

TEST(MetricsCollector, NotInitialisedIsDownButNotAnError) {
  MetricsCollector c = collector_for(nullptr, SegmentError::not_initialised);
  const auto fams = c.Collect();
  EXPECT_EQ(sample(fams, "tunnelgate_dataplane_up"), 0);
  EXPECT_EQ(c.segment_errors(SegmentError::not_initialised), 0u);
}

TEST(MetricsCollector, MalformedSegmentIsDownAndCountedByReason) {
  auto seg = make_segment();
  seg->version = 99;
  MetricsCollector c = collector_for(seg.get());
  c.Collect();
  const auto fams = c.Collect();
  EXPECT_EQ(sample(fams, "tunnelgate_dataplane_up"), 0);
  // The second scrape reports both failed reads (its own included).
  EXPECT_EQ(sample(fams, "tunnelgate_stats_segment_errors_total", {{"error", "version_mismatch"}}), 2);
  EXPECT_EQ(sample(fams, "tunnelgate_stats_segment_errors_total", {{"error", "bad_magic"}}), 0);
  EXPECT_EQ(c.segment_errors(SegmentError::version_mismatch), 2u);
  EXPECT_EQ(find_family(fams, "tunnelgate_port_receive_packets_total"), nullptr);
}

// ---------------------------------------------------------------- valid segment

TEST(MetricsCollector, ValidSegmentIsUpWithItsValues) {
  auto seg = make_segment();
  MetricsCollector c = collector_for(seg.get());
  const auto fams = c.Collect();
  EXPECT_EQ(sample(fams, "tunnelgate_dataplane_up"), 1);
  EXPECT_DOUBLE_EQ(sample(fams, "tunnelgate_dataplane_start_time_seconds"),
                   static_cast<double>(kTestNowNs - 60'000'000'000ULL) / 1e9);
  EXPECT_DOUBLE_EQ(sample(fams, "tunnelgate_dataplane_last_heartbeat_seconds"),
                   static_cast<double>(kTestNowNs) / 1e9);
  EXPECT_EQ(sample(fams, "tunnelgate_dataplane_lab_forwarding"), 0);

  EXPECT_EQ(sample(fams, "tunnelgate_port_info",
                   {{"port", "outside"}, {"role", "outside"}, {"mac", "02:00:00:00:00:01"}}),
            1);
  EXPECT_EQ(sample(fams, "tunnelgate_port_info",
                   {{"port", "inside"}, {"role", "inside"}, {"mac", "02:00:00:00:ab:cd"}}),
            1);
  EXPECT_EQ(sample(fams, "tunnelgate_port_link_up", {{"port", "outside"}}), 1);
  EXPECT_EQ(sample(fams, "tunnelgate_port_link_up", {{"port", "inside"}}), 0);
  EXPECT_EQ(sample(fams, "tunnelgate_port_link_speed_bytes", {{"port", "outside"}}), 1.25e9);

  const char* port_names[] = {"outside", "inside"};
  for (unsigned slot = 0; slot < 2; ++slot) {
    const std::string lcore = std::to_string(slot + 1);
    for (unsigned p = 0; p < 2; ++p) {
      const LabelMap l = {{"port", port_names[p]}, {"lcore", lcore}};
      EXPECT_EQ(sample(fams, "tunnelgate_port_receive_packets_total", l), test::rx_packets(slot, p));
      EXPECT_EQ(sample(fams, "tunnelgate_port_receive_bytes_total", l), test::rx_bytes(slot, p));
      EXPECT_EQ(sample(fams, "tunnelgate_port_transmit_packets_total", l), test::tx_packets(slot, p));
      EXPECT_EQ(sample(fams, "tunnelgate_port_transmit_bytes_total", l), test::tx_bytes(slot, p));
      EXPECT_EQ(sample(fams, "tunnelgate_port_receive_bursts_total", l), 10 * (slot + 1) + p);
    }
    const LabelMap l = {{"lcore", lcore}};
    EXPECT_EQ(sample(fams, "tunnelgate_arp_requests_answered_total", l), 11 + slot);
    EXPECT_EQ(sample(fams, "tunnelgate_arp_requests_sent_total", l), 12 + slot);
    EXPECT_EQ(sample(fams, "tunnelgate_arp_replies_received_total", l), 13 + slot);
    EXPECT_EQ(sample(fams, "tunnelgate_garp_sent_total", l), 14 + slot);
    EXPECT_EQ(sample(fams, "tunnelgate_icmp_echo_replies_total", l), 15 + slot);
    EXPECT_EQ(sample(fams, "tunnelgate_icmp_errors_sent_total", l), 16 + slot);
    EXPECT_EQ(sample(fams, "tunnelgate_ipv4_forwarded_total", l), 17 + slot);
    EXPECT_EQ(sample(fams, "tunnelgate_neighbour_queued_total", l), 18 + slot);
    EXPECT_EQ(sample(fams, "tunnelgate_lcore_busy_ratio", l), 0.25);
    EXPECT_EQ(sample(fams, "tunnelgate_lcore_loops_total", l), 1'000'000.0 * (slot + 1));
    EXPECT_EQ(sample(fams, "tunnelgate_lcore_busy_loops_total", l), 250'000.0 * (slot + 1));
    EXPECT_DOUBLE_EQ(sample(fams, "tunnelgate_lcore_busy_seconds_total", l), 1000.0 / 2e9);  // busy cycles / tsc_hz
  }
  // Every stage of an lcore whose stage clock is on, by its label; none of lcore 2 (off).
  for (unsigned st = 0; st < shm::kLcoreStageCount; ++st) {
    const LabelMap l = {{"lcore", "1"}, {"stage", shm::kLcoreStageInfo[st].label}};
    EXPECT_EQ(sample(fams, "tunnelgate_lcore_stage_cycles_total", l), 1000.0 * (st + 1));
    EXPECT_EQ(sample(fams, "tunnelgate_lcore_stage_packets_total", l), 32.0 * (st + 1));
    EXPECT_EQ(sample(fams, "tunnelgate_lcore_stage_bursts_total", l), st + 1.0);
  }
  for (const char* name : {"tunnelgate_lcore_stage_cycles_total", "tunnelgate_lcore_stage_packets_total",
                           "tunnelgate_lcore_stage_bursts_total"}) {
    const auto* f = find_family(fams, name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->metric.size(), shm::kLcoreStageCount) << name;
  }
  EXPECT_EQ(sample(fams, "tunnelgate_neighbour_entries"), 3);
  EXPECT_EQ(sample(fams, "tunnelgate_mempool_mbufs_in_use"), 512);
  EXPECT_EQ(sample(fams, "tunnelgate_mempool_mbufs_size"), 8191);
}

TEST(MetricsCollector, EveryDropReasonForEveryLcoreEvenZero) {
  auto seg = make_segment();
  seg->lcores[0].drops[0] = 0;
  MetricsCollector c = collector_for(seg.get());
  const auto fams = c.Collect();
  const MetricFamily* drops = find_family(fams, "tunnelgate_dataplane_drops_total");
  ASSERT_NE(drops, nullptr);
  EXPECT_EQ(drops->type, MetricType::Counter);
  EXPECT_EQ(drops->metric.size(), 2 * shm::kDropReasonCount);
  for (unsigned slot = 0; slot < 2; ++slot) {
    for (unsigned r = 0; r < shm::kDropReasonCount; ++r) {
      const double want = slot == 0 && r == 0 ? 0 : static_cast<double>(test::drops(slot, r));
      EXPECT_EQ(sample(fams, "tunnelgate_dataplane_drops_total",
                       {{"reason", shm::kDropReasonInfo[r].label},
                        {"lcore", std::to_string(slot + 1)}}),
                want);
      // The table's help text is in the family's HELP.
      EXPECT_NE(drops->help.find(shm::kDropReasonInfo[r].help), std::string::npos)
          << shm::kDropReasonInfo[r].label;
    }
  }
}

TEST(MetricsCollector, StaleSegmentIsDownButKeepsItsLastCounters) {
  auto seg = make_segment(kTestNowNs - kHeartbeatStaleNs - 1);
  MetricsCollector c = collector_for(seg.get());
  const auto fams = c.Collect();
  EXPECT_EQ(sample(fams, "tunnelgate_dataplane_up"), 0);
  EXPECT_EQ(sample(fams, "tunnelgate_port_receive_packets_total",
                   {{"port", "outside"}, {"lcore", "1"}}),
            test::rx_packets(0, 0));
  EXPECT_EQ(c.segment_errors(SegmentError::absent), 0u);
}

TEST(MetricsCollector, BusyRatioIsBoundedAndSafeOnZero) {
  auto seg = make_segment();
  seg->lcores[0].busy_cycles = 5000;  // torn read: busy ahead of total
  seg->lcores[0].total_cycles = 4000;
  seg->lcores[1].busy_cycles = 0;
  seg->lcores[1].total_cycles = 0;  // loop not started yet
  MetricsCollector c = collector_for(seg.get());
  const auto fams = c.Collect();
  EXPECT_EQ(sample(fams, "tunnelgate_lcore_busy_ratio", {{"lcore", "1"}}), 1);
  EXPECT_EQ(sample(fams, "tunnelgate_lcore_busy_ratio", {{"lcore", "2"}}), 0);
}

TEST(MetricsCollector, TlsWorkerCountersCarryTheWorkerLabel) {
  auto seg = make_segment();
  MetricsCollector c = collector_for(seg.get());
  const auto fams = c.Collect();
  EXPECT_EQ(sample(fams, "tunnelgate_tls_connections", {{"worker", "0"}}), 3);
  EXPECT_EQ(sample(fams, "tunnelgate_tunnels_active", {{"worker", "0"}}), 2);
  EXPECT_EQ(sample(fams, "tunnelgate_tls_handshakes_total", {{"worker", "0"}}), 40);
  EXPECT_EQ(sample(fams, "tunnelgate_tls_handshake_failures_total", {{"worker", "0"}, {"reason", "timeout"}}), 100);
  EXPECT_EQ(sample(fams, "tunnelgate_tls_handshake_failures_total", {{"worker", "0"}, {"reason", "out_of_memory"}}),
            107);
  EXPECT_EQ(sample(fams, "tunnelgate_cstp_receive_packets_total", {{"worker", "0"}}), 1000);
  EXPECT_EQ(sample(fams, "tunnelgate_cstp_transmit_bytes_total", {{"worker", "0"}}), 123456);
  // Apps: summed over both lcores, by app id (index 0, "", included).
  EXPECT_EQ(sample(fams, "tunnelgate_policy_generation", {}), 3);
  EXPECT_EQ(sample(fams, "tunnelgate_app_packets_total", {{"app", "com.example.crm"}, {"direction", "to_backend"}}),
            20 + 21);
  EXPECT_EQ(sample(fams, "tunnelgate_app_bytes_total", {{"app", "com.example.mail"}, {"direction", "to_client"}}),
            2000 + 2001);
  EXPECT_EQ(sample(fams, "tunnelgate_app_policy_drops_total", {{"app", "com.example.mail"}, {"reason", "port"}}),
            102 + 103);
  EXPECT_EQ(sample(fams, "tunnelgate_app_policy_drops_total", {{"app", ""}, {"reason", "destination"}}), 0);
  // Certificates.
  EXPECT_EQ(sample(fams, "tunnelgate_certificate_active", {{"certificate", "primary"}}), 1);
  EXPECT_EQ(sample(fams, "tunnelgate_certificate_active", {{"certificate", "second"}}), 0);
  EXPECT_EQ(sample(fams, "tunnelgate_certificate_usable", {{"certificate", "second"}}), 0);
  EXPECT_EQ(sample(fams, "tunnelgate_certificate_not_after_seconds", {{"certificate", "primary"}}), 4000000000.0);
  EXPECT_GT(sample(fams, "tunnelgate_certificate_expires_in_seconds", {{"certificate", "primary"}}), 0);
  EXPECT_EQ(sample(fams, "tunnelgate_certificate_findings", {{"certificate", "primary"}, {"finding", "no_root"}}), 1);
  EXPECT_EQ(sample(fams, "tunnelgate_certificate_findings", {{"certificate", "primary"}, {"finding", "expired"}}), 0);
  EXPECT_EQ(sample(fams, "tunnelgate_certificate_findings", {{"certificate", "second"}, {"finding", "not_yet_valid"}}), 1);
  EXPECT_EQ(sample(fams, "tunnelgate_certificate_reloads_total", {{"result", "failed"}}), 1);
  EXPECT_EQ(sample(fams, "tunnelgate_certificate_switches_total", {}), 1);
}

TEST(MetricsCollector, NamesLabelsAndHelpFollowTheConventions) {
  auto seg = make_segment();
  MetricsCollector c = collector_for(seg.get());
  const auto fams = c.Collect();
  std::set<std::string> names;
  const std::set<std::string> allowed_labels = {"lcore", "port", "role", "mac", "reason",
                                                "error", "version", "worker", "app", "direction",
                                                "certificate", "finding", "result", "stage"};
  for (const MetricFamily& f : fams) {
    SCOPED_TRACE(f.name);
    EXPECT_TRUE(names.insert(f.name).second) << "duplicate family";
    EXPECT_EQ(f.name.rfind("tunnelgate_", 0), 0u);
    const bool total = f.name.size() > 6 && f.name.compare(f.name.size() - 6, 6, "_total") == 0;
    EXPECT_EQ(total, f.type == MetricType::Counter) << "_total iff counter";
    EXPECT_TRUE(f.type == MetricType::Counter || f.type == MetricType::Gauge);
    EXPECT_FALSE(f.help.empty());
    // prometheus-cpp 1.0.1 writes HELP unescaped: a newline or backslash would break it.
    EXPECT_EQ(f.help.find_first_of("\n\\"), std::string::npos);
    EXPECT_FALSE(f.metric.empty());
    std::set<LabelMap> seen;
    for (const ClientMetric& m : f.metric) {
      const LabelMap l = labels_of(m);
      EXPECT_TRUE(seen.insert(l).second) << "duplicate series";
      for (const auto& [name, value] : l) {
        EXPECT_TRUE(allowed_labels.count(name)) << "unbounded or unknown label " << name;
        // "instance" and "job" are Prometheus target labels: never export them.
        EXPECT_NE(name, "instance");
      }
    }
  }
  EXPECT_TRUE(names.count("tunnelgate_dataplane_up"));
}

TEST(MetricsCollector, ConcurrentScrapesCountEveryFailure) {
  auto seg = make_segment();
  seg->magic = 1;
  MetricsCollector c = collector_for(seg.get());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 50; ++i) {
        c.Collect();
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(c.segment_errors(SegmentError::bad_magic), 200u);
}

// docs/metrics.md documents every family, drop reason and error label (TG_METRICS_DOC).
TEST(MetricsCollector, DocsListEveryMetricAndLabelValue) {
  const char* doc_path = std::getenv("TG_METRICS_DOC");
  if (doc_path == nullptr) {
    GTEST_SKIP() << "TG_METRICS_DOC not set (run through meson test)";
  }
  std::ifstream in(doc_path);
  ASSERT_TRUE(in.good()) << doc_path;
  const std::string doc{std::istreambuf_iterator<char>(in), {}};
  auto seg = make_segment();
  MetricsCollector c = collector_for(seg.get());
  for (const MetricFamily& f : c.Collect()) {
    EXPECT_NE(doc.find("`" + f.name + "`"), std::string::npos) << f.name << " not in " << doc_path;
  }
  for (const shm::DropReasonInfo& r : shm::kDropReasonInfo) {
    EXPECT_NE(doc.find(std::string("| `") + r.label + "` |"), std::string::npos)
        << "drop reason " << r.label << " not in " << doc_path;
  }
  for (const shm::LcoreStageInfo& st : shm::kLcoreStageInfo) {
    EXPECT_NE(doc.find(std::string("| `") + st.label + "` |"), std::string::npos)
        << "stage " << st.label << " not in " << doc_path;
  }
  for (unsigned i = 0; i < kSegmentErrorCount; ++i) {
    const auto e = static_cast<SegmentError>(i);
    EXPECT_NE(doc.find(std::string("`") + segment_error_label(e) + "`"), std::string::npos)
        << "error " << segment_error_label(e) << " not in " << doc_path;
  }
}

// ---------------------------------------------------------------- promtool lint

/// promtool from PATH, or empty.
std::string find_promtool() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/promtool";
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

/// Run `promtool check metrics` on `text`; returns its exit status and fills its output.
int promtool_check(const std::string& promtool, const std::string& text, std::string& output) {
  char tmpl[] = "/tmp/tg-metrics-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) {
    output = "mkstemp failed";
    return -1;
  }
  ::close(fd);
  {
    std::ofstream out(tmpl);
    out << text;
  }
  const std::string cmd = promtool + " check metrics < " + tmpl + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    ::unlink(tmpl);
    output = "popen failed";
    return -1;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
    output.append(buf, n);
  }
  const int status = ::pclose(p);
  ::unlink(tmpl);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(MetricsCollectorPromtool, ExpositionIsLintClean) {
  const std::string promtool = find_promtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not in PATH";
  }
  auto seg = make_segment();
  seg->lcores[0].drops[3] = 0;
  MetricsCollector up = collector_for(seg.get());
  MetricsCollector down = collector_for(nullptr);
  for (const MetricsCollector* c : {&up, &down}) {
    const std::string text = prometheus::TextSerializer().Serialize(c->Collect());
    std::string output;
    EXPECT_EQ(promtool_check(promtool, text, output), 0) << output << "\n--- input:\n" << text;
    EXPECT_EQ(output, "") << "promtool reported problems:\n" << output;
  }
}

TEST(MetricsCollectorPromtool, LintCatchesABadExposition) {
  // Guard against a promtool invocation that passes everything.
  const std::string promtool = find_promtool();
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not in PATH";
  }
  std::string output;
  promtool_check(promtool, "# TYPE foo counter\nfoo 1\n", output);
  EXPECT_NE(output.find("_total"), std::string::npos) << output;
}

}  // namespace
}  // namespace tg::controlplane
