// Control plane: reading watched files. See file_watch.h.
#include "controlplane/file_watch.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tg::controlplane {

FileIdentity file_identity_of(const struct stat& st) {
  return FileIdentity{st.st_dev, st.st_ino,
                      static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                      st.st_size};
}

Expected<FileIdentity> file_identity(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    const int err = errno;
    return make_error(err, path + ": " + std::strerror(err));
  }
  return file_identity_of(st);
}

Expected<FileContents> file_read_bounded(const std::string& path, size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return make_error(err, path + ": " + std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    return make_error(err, path + ": fstat: " + std::strerror(err));
  }
  FileContents out;
  out.id = file_identity_of(st);
  char buf[8192];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      return make_error(err, path + ": read: " + std::strerror(err));
    }
    if (n == 0) break;
    out.text.append(buf, static_cast<size_t>(n));
    if (out.text.size() > max_bytes) {
      return make_error(EFBIG, path + ": larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  return out;
}

}  // namespace tg::controlplane
