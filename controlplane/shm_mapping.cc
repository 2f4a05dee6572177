#include "controlplane/shm_mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tg::controlplane {

ShmMapping::~ShmMapping() {
  if (addr_ != nullptr) ::munmap(addr_, len_);
}

Expected<ShmMapping> ShmMapping::open(const std::string& name, size_t max_len) {
  const int fd = ::shm_open(name.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    const int err = errno;
    return Error{err, name + (err == ENOENT ? ": no such shared-memory object" : ": shm_open: " + std::string(std::strerror(err)))};
  }
  struct stat st {};
  const int stat_rc = ::fstat(fd, &st);
  const int stat_err = errno;
  if (stat_rc != 0 || st.st_size < 0) {
    ::close(fd);
    return Error{stat_rc != 0 ? stat_err : EINVAL, name + ": fstat: " + std::strerror(stat_rc != 0 ? stat_err : EINVAL)};
  }
  if (st.st_size == 0 || max_len == 0) {
    ::close(fd);
    return Error{ENODATA, name + ": empty (its owner is starting)"};
  }
  const size_t len = std::min<size_t>(static_cast<size_t>(st.st_size), max_len);
  void* addr = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
  const int map_err = errno;
  ::close(fd);
  if (addr == MAP_FAILED) return Error{map_err, name + ": mmap: " + std::strerror(map_err)};
  ShmMapping m;
  m.addr_ = addr;
  m.len_ = len;
  return m;
}

}  // namespace tg::controlplane
