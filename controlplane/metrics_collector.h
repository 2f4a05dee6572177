// Control plane: the Prometheus collector behind /metrics.
//
// Runs on the exposer's (civetweb) request threads: Collect() may be called by several
// threads at once; it reads the stats segment afresh on every call (no cache, no lock) and
// keeps only atomic error counters between calls. Every metric is documented in
// docs/metrics.md; label values are bounded (lcore ids, port names, drop reasons, error codes).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "controlplane/stats_segment_reader.h"

namespace tg::controlplane {

class MetricsCollector final : public prometheus::Collectable {
 public:
  /// Produces one read of the segment. Called once per scrape.
  using SegmentSource = std::function<SegmentReadResult()>;

  struct Options {
    std::string instance;             ///< gateway instance (names the segment)
    std::string version;              ///< tunnelgate_build_info{version}
    double start_time_seconds = 0;    ///< this process's start, Unix seconds
    /// Seam for tests. Empty: stats_segment_open_and_read(instance, realtime_now_ns()).
    SegmentSource source;
  };

  explicit MetricsCollector(Options options);

  /// Read the segment and build every metric family. Thread-safe. Never throws for a bad or
  /// absent segment (that is tunnelgate_dataplane_up 0 plus an error count); may throw
  /// std::bad_alloc.
  std::vector<prometheus::MetricFamily> Collect() const override;

  /// Failed reads so far with this code (what tunnelgate_stats_segment_errors_total shows).
  uint64_t segment_errors(SegmentError e) const;

 private:
  Options options_;
  /// Relaxed: independent monotonic counters, read only for reporting.
  mutable std::array<std::atomic<uint64_t>, kSegmentErrorCount> errors_{};
};

}  // namespace tg::controlplane
