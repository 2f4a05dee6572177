#include "dataplane/stats_segment.h"

#include <atomic>
#include <cstring>

namespace tg::dp {

std::string StatsSegmentWriter::create(const std::string& instance) {
  if (std::string err = object_.create(shm::stats_shm_name(instance), sizeof(shm::StatsSegment)); !err.empty())
    return err;
  seg_ = static_cast<shm::StatsSegment*>(object_.data());
  seg_->version = shm::kStatsVersion;
  seg_->size = sizeof(shm::StatsSegment);
  std::strncpy(seg_->instance, instance.c_str(), sizeof(seg_->instance) - 1);
  return {};
}

void StatsSegmentWriter::publish() {
  // release: a reader that sees the magic (acquire) sees the header written before it.
  std::atomic_ref<uint32_t>(seg_->magic).store(shm::kStatsMagic, std::memory_order_release);
}

}  // namespace tg::dp
