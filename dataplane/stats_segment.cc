#include "dataplane/stats_segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace tg::dp {

std::string StatsSegmentWriter::create(const std::string& instance) {
  name_ = shm::stats_shm_name(instance);
  // A fresh object each start: a reader still holding the old one never sees a mix.
  shm_unlink(name_.c_str());
  const int fd = shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0640);
  if (fd < 0) return "shm_open " + name_ + ": " + std::strerror(errno);
  if (ftruncate(fd, sizeof(shm::StatsSegment)) != 0) {
    std::string err = "ftruncate " + name_ + ": " + std::strerror(errno);
    close(fd);
    return err;
  }
  void* p = mmap(nullptr, sizeof(shm::StatsSegment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return "mmap " + name_ + ": " + std::strerror(errno);
  seg_ = static_cast<shm::StatsSegment*>(p);  // ftruncate zero-filled it
  seg_->version = shm::kStatsVersion;
  seg_->size = sizeof(shm::StatsSegment);
  std::strncpy(seg_->instance, instance.c_str(), sizeof(seg_->instance) - 1);
  return {};
}

void StatsSegmentWriter::publish() {
  // release: a reader that sees the magic (acquire) sees the header written before it.
  std::atomic_ref<uint32_t>(seg_->magic).store(shm::kStatsMagic, std::memory_order_release);
}

StatsSegmentWriter::~StatsSegmentWriter() {
  if (seg_ == nullptr) return;
  munmap(seg_, sizeof(shm::StatsSegment));
  shm_unlink(name_.c_str());
}

}  // namespace tg::dp
