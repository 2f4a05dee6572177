// The dataplane side of the statistics segment (api/stats_shm.h): create, publish, remove.
#pragma once

#include <string>

#include "api/stats_shm.h"

namespace tg::dp {

class StatsSegmentWriter {
 public:
  /// Creates (replacing any left by an earlier run) and maps the segment of `instance`.
  /// Returns an error message, empty on success.
  std::string create(const std::string& instance);
  shm::StatsSegment* segment() { return seg_; }
  /// Makes the header visible to readers (after the ports are filled in).
  void publish();
  /// Unmaps and unlinks: the control plane then reports the dataplane down.
  ~StatsSegmentWriter();

 private:
  shm::StatsSegment* seg_ = nullptr;
  std::string name_;
};

}  // namespace tg::dp
