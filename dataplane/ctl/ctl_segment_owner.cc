// Dataplane: control segment creation (main thread). See ctl_segment_owner.h.
#include "dataplane/ctl/ctl_segment_owner.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace tg::dataplane {

uint64_t ctl_monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

namespace {

uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

CtlSegmentOwner::~CtlSegmentOwner() { destroy(); }

std::string CtlSegmentOwner::create(const std::string& instance, uint32_t n_workers,
                                    uint32_t ring_start_index) {
  destroy();
  if (n_workers == 0 || n_workers > shm::kCtlMaxWorkers) {
    return "ctl segment: n_workers " + std::to_string(n_workers) + " not in 1.." +
           std::to_string(shm::kCtlMaxWorkers);
  }
  if (instance.empty() || instance.size() >= sizeof(shm::CtlSegment::instance)) {
    return "ctl segment: instance name '" + instance + "' is empty or too long";
  }
  name_ = shm::ctl_shm_name(instance);
  // A previous dataplane that crashed left its object: replace it (new inode, so a control
  // plane still mapping the old one notices and re-maps).
  shm_unlink(name_.c_str());
  const int fd = shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0660);
  if (fd < 0) return "shm_open " + name_ + ": " + std::strerror(errno);
  // The umask may have cleared the group bits; the control plane needs read-write.
  (void)fchmod(fd, 0660);
  if (ftruncate(fd, sizeof(shm::CtlSegment)) != 0) {
    std::string err = "ftruncate " + name_ + ": " + std::strerror(errno);
    close(fd);
    shm_unlink(name_.c_str());
    return err;
  }
  void* p = mmap(nullptr, sizeof(shm::CtlSegment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    std::string err = "mmap " + name_ + ": " + std::strerror(errno);
    shm_unlink(name_.c_str());
    return err;
  }
  // ftruncate zero-filled it: every atomic is 0, every ring empty. Placement-new starts the
  // objects' lifetimes without touching the slots (only the atomics are initialised, to 0).
  segment_ = new (p) shm::CtlSegment;
  segment_->version = shm::kCtlSegmentVersion;
  segment_->size = sizeof(shm::CtlSegment);
  segment_->generation = realtime_ns();
  segment_->dataplane_pid = static_cast<uint32_t>(getpid());
  segment_->n_workers = n_workers;
  std::memcpy(segment_->instance, instance.data(), instance.size());
  for (shm::CtlWorkerChannel& ch : segment_->workers) {
    ch.requests.init(ring_start_index);
    ch.responses.init(ring_start_index);
  }
  // release: a control plane that reads the magic (acquire) sees the header and the ring
  // indices written above.
  segment_->magic.store(shm::kCtlSegmentMagic, std::memory_order_release);
  return "";
}

void CtlSegmentOwner::destroy() {
  if (segment_ != nullptr) {
    munmap(segment_, sizeof(shm::CtlSegment));
    segment_ = nullptr;
    shm_unlink(name_.c_str());
  }
}

}  // namespace tg::dataplane
