// Control plane: mapping of the control segment (CtlServer thread). See ctl_segment_mapping.h.
#include "controlplane/ctl_segment_mapping.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tg::controlplane {

uint64_t monotonic_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

CtlSegmentMapping::~CtlSegmentMapping() {
  if (segment_ != nullptr) munmap(segment_, sizeof(shm::CtlSegment));
  if (fd_ >= 0) close(fd_);  // also releases the flock
}

Expected<std::unique_ptr<CtlSegmentMapping>> CtlSegmentMapping::open(const std::string& instance) {
  std::unique_ptr<CtlSegmentMapping> m(new CtlSegmentMapping());
  m->name_ = shm::ctl_shm_name(instance);
  m->fd_ = shm_open(m->name_.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (m->fd_ < 0) {
    const int err = errno;
    return make_error(err, m->name_ + ": shm_open: " + std::strerror(err));
  }
  struct stat st{};
  if (fstat(m->fd_, &st) != 0) {
    const int err = errno;
    return make_error(err, m->name_ + ": fstat: " + std::strerror(err));
  }
  if (st.st_size != static_cast<off_t>(sizeof(shm::CtlSegment))) {
    // A size of 0 is a dataplane between shm_open and ftruncate: not yet ready.
    return make_error(st.st_size == 0 ? EAGAIN : EPROTO,
                      m->name_ + ": size " + std::to_string(st.st_size) + ", expected " +
                          std::to_string(sizeof(shm::CtlSegment)));
  }
  m->dev_ = st.st_dev;
  m->ino_ = st.st_ino;
  void* p = mmap(nullptr, sizeof(shm::CtlSegment), PROT_READ | PROT_WRITE, MAP_SHARED, m->fd_, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    return make_error(err, m->name_ + ": mmap: " + std::strerror(err));
  }
  m->segment_ = static_cast<shm::CtlSegment*>(p);
  // acquire: pairs with the dataplane's release store of magic; the header and ring
  // indices it wrote before are visible after this load.
  const uint32_t magic = m->segment_->magic.load(std::memory_order_acquire);
  if (magic == 0) return make_error(EAGAIN, m->name_ + ": not published yet (magic 0)");
  if (magic != shm::kCtlSegmentMagic) {
    return make_error(EPROTO, m->name_ + ": bad magic " + std::to_string(magic));
  }
  const shm::CtlSegment& s = *m->segment_;
  if (s.version != shm::kCtlSegmentVersion) {
    return make_error(EPROTO, m->name_ + ": layout version " + std::to_string(s.version) +
                                  ", this control plane speaks " +
                                  std::to_string(shm::kCtlSegmentVersion));
  }
  if (s.size != sizeof(shm::CtlSegment)) {
    return make_error(EPROTO, m->name_ + ": header size " + std::to_string(s.size) +
                                  ", expected " + std::to_string(sizeof(shm::CtlSegment)));
  }
  const uint32_t n_workers = s.n_workers;
  if (n_workers == 0 || n_workers > shm::kCtlMaxWorkers) {
    return make_error(EPROTO, m->name_ + ": n_workers " + std::to_string(n_workers) +
                                  " not in 1.." + std::to_string(shm::kCtlMaxWorkers));
  }
  m->n_workers_ = n_workers;
  m->generation_ = s.generation;
  // Two consumers of one SPSC ring would corrupt it: the lock makes a second control plane
  // wait until the first exits (the kernel drops the lock with the process).
  if (flock(m->fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    return make_error(err == EWOULDBLOCK ? EAGAIN : err,
                      m->name_ + ": flock: " +
                          (err == EWOULDBLOCK ? std::string("another control plane serves it")
                                              : std::string(std::strerror(err))));
  }
  return m;
}

bool CtlSegmentMapping::still_current() const {
  const int fd = shm_open(name_.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return false;
  struct stat st{};
  const bool same = fstat(fd, &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_;
  close(fd);
  return same && segment_->generation == generation_;
}

}  // namespace tg::controlplane
