// Control plane: maps the dataplane's control segment (api/ctl_segment.h) read-write.
// Used by the CtlServer thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "api/ctl_segment.h"
#include "controlplane/expected.h"

namespace tg::controlplane {

/// CLOCK_MONOTONIC nanoseconds (the clock of every control-segment timestamp).
uint64_t monotonic_now_ns();

/// One mapping of one segment object. Holds an exclusive flock() on the object for its
/// lifetime, so at most one control plane consumes the request rings.
/// Thread-safety: owned and used by one thread.
class CtlSegmentMapping {
 public:
  ~CtlSegmentMapping();
  CtlSegmentMapping(const CtlSegmentMapping&) = delete;
  CtlSegmentMapping& operator=(const CtlSegmentMapping&) = delete;

  /// Open "/tunnelgate-<instance>-ctl", check size, magic (acquire), version, the stored
  /// size and n_workers, then lock it.
  /// @return the mapping, or an Error: ENOENT (no dataplane yet), EAGAIN (not published yet,
  ///         or another control plane holds the lock), EPROTO (wrong magic/version/size),
  ///         or the errno of a failed system call.
  static Expected<std::unique_ptr<CtlSegmentMapping>> open(const std::string& instance);

  shm::CtlSegment& segment() const { return *segment_; }
  uint64_t generation() const { return generation_; }
  uint32_t n_workers() const { return n_workers_; }

  /// False when the name now refers to another object (the dataplane restarted), or to none
  /// (it exited), or the generation changed: the caller drops this mapping and re-opens.
  bool still_current() const;

 private:
  CtlSegmentMapping() = default;
  std::string name_;
  int fd_ = -1;
  shm::CtlSegment* segment_ = nullptr;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  uint64_t generation_ = 0;
  uint32_t n_workers_ = 0;  ///< validated copy of the header's value
};

}  // namespace tg::controlplane
