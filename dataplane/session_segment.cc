#include "dataplane/session_segment.h"

#include <unistd.h>

#include <atomic>

namespace tg::dp {

std::string SessionSegmentWriter::create(const std::string& instance, uint32_t n_records, uint64_t generation) {
  if (n_records > shm::kMaxSessionRecords) {
    return "session segment: " + std::to_string(n_records) + " pool addresses, more than " +
           std::to_string(shm::kMaxSessionRecords);
  }
  const uint64_t size = shm::session_segment_size(n_records);
  if (std::string err = object_.create(shm::session_shm_name(instance), size); !err.empty()) return err;
  header_ = static_cast<shm::SessionSegmentHeader*>(object_.data());
  header_->version = shm::kSessionsVersion;
  header_->size = size;
  header_->generation = generation;
  header_->pid = static_cast<uint32_t>(getpid());
  header_->n_records = n_records;
  header_->record_size = sizeof(shm::SessionRecord);
  records_ = reinterpret_cast<shm::SessionRecord*>(header_ + 1);
  n_records_ = n_records;
  return {};
}

void SessionSegmentWriter::publish() {
  // release: a reader that sees the magic (acquire) sees the header written before it.
  std::atomic_ref<uint32_t>(header_->magic).store(shm::kSessionsMagic, std::memory_order_release);
}

}  // namespace tg::dp
