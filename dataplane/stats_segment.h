// The dataplane side of the statistics segment (api/stats_shm.h): create, publish, remove.
#pragma once

#include <string>

#include "api/stats_shm.h"
#include "dataplane/shm_object.h"

namespace tg::dp {

class StatsSegmentWriter {
 public:
  /// Creates (replacing any left by an earlier run) and maps the segment of `instance`.
  /// Returns an error message, empty on success. Unmapped and unlinked on destruction: the
  /// control plane then reports the dataplane down.
  std::string create(const std::string& instance);
  shm::StatsSegment* segment() { return seg_; }
  /// Makes the header visible to readers (after the ports are filled in).
  void publish();

 private:
  ShmObject object_;
  shm::StatsSegment* seg_ = nullptr;
};

}  // namespace tg::dp
