#include "dataplane/shm_object.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tg::dp {

std::string ShmObject::create(const std::string& name, size_t size) {
  name_ = name;
  shm_unlink(name_.c_str());
  const int fd = shm_open(name_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0640);
  if (fd < 0) return "shm_open " + name_ + ": " + std::strerror(errno);
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    std::string err = "ftruncate " + name_ + ": " + std::strerror(errno);
    close(fd);
    return err;
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return "mmap " + name_ + ": " + std::strerror(errno);
  addr_ = p;  // ftruncate zero-filled it
  size_ = size;
  return {};
}

ShmObject::~ShmObject() {
  if (addr_ == nullptr) return;
  munmap(addr_, size_);
  shm_unlink(name_.c_str());
}

}  // namespace tg::dp
