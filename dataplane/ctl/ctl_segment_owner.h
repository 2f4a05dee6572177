// Dataplane: creates and owns the control segment (api/ctl_segment.h) for the life of the
// process. Main thread at start and exit; no DPDK.
#pragma once

#include <cstdint>
#include <string>

#include "api/ctl_segment.h"

namespace tg::dataplane {

/// CLOCK_MONOTONIC in nanoseconds (the clock of every control-segment timestamp).
uint64_t ctl_monotonic_ns();

/// The dataplane's control segment: created (old object unlinked first), zero-filled, rings
/// initialised, header published; unmapped and unlinked by the destructor.
/// Thread-safety: create/destroy on one thread before/after the workers run; segment() is
/// then shared by the workers, each using only its own channel.
class CtlSegmentOwner {
 public:
  CtlSegmentOwner() = default;
  ~CtlSegmentOwner();
  CtlSegmentOwner(const CtlSegmentOwner&) = delete;
  CtlSegmentOwner& operator=(const CtlSegmentOwner&) = delete;

  /// Create "/tunnelgate-<instance>-ctl" with mode 0660 (the control plane maps it
  /// read-write; run both processes as one user or group).
  /// @param instance   [a-z0-9_-]{1,24} (config `instance`)
  /// @param n_workers  1..kCtlMaxWorkers channels in use
  /// @param ring_start_index  initial ring index (tests use values near UINT32_MAX)
  /// @return "" on success, else a message naming the object and the failed call.
  std::string create(const std::string& instance, uint32_t n_workers,
                     uint32_t ring_start_index = 0);

  /// Unmap and unlink now (also done by the destructor). Idempotent.
  void destroy();

  shm::CtlSegment* segment() const { return segment_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  shm::CtlSegment* segment_ = nullptr;
};

}  // namespace tg::dataplane
