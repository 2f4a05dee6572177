#include "dataplane/session_segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace tg::dp {

std::string SessionSegmentWriter::create(const std::string& instance, uint32_t n_records, uint64_t generation) {
  if (n_records > shm::kMaxSessionRecords) {
    return "session segment: " + std::to_string(n_records) + " pool addresses, more than " +
           std::to_string(shm::kMaxSessionRecords);
  }
  name_ = shm::session_shm_name(instance);
  // A fresh object each start: a reader still holding the old one never sees a mix.
  shm_unlink(name_.c_str());
  const int fd = shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0640);
  if (fd < 0) return "shm_open " + name_ + ": " + std::strerror(errno);
  size_ = shm::session_segment_size(n_records);
  if (ftruncate(fd, static_cast<off_t>(size_)) != 0) {
    std::string err = "ftruncate " + name_ + ": " + std::strerror(errno);
    close(fd);
    return err;
  }
  void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return "mmap " + name_ + ": " + std::strerror(errno);
  header_ = static_cast<shm::SessionSegmentHeader*>(p);  // ftruncate zero-filled it
  header_->version = shm::kSessionsVersion;
  header_->size = size_;
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

SessionSegmentWriter::~SessionSegmentWriter() {
  if (header_ == nullptr) return;
  munmap(header_, size_);
  shm_unlink(name_.c_str());
}

}  // namespace tg::dp
