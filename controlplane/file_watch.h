// Control plane: files that are re-read when they change (the users file, the JWKS, the
// CRL). A version of a file is its identity (device, inode, mtime, size): an atomic rename
// or an in-place write both change it, so a reload reads a file only when it may differ,
// and a rejected version is not re-parsed until it changes again.
//
// Thread-safety: plain functions and values.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "controlplane/expected.h"

namespace tg::controlplane {

struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  int64_t mtime_ns = 0;
  off_t size = 0;
  bool operator==(const FileIdentity&) const = default;
};

FileIdentity file_identity_of(const struct stat& st);

/// The identity of `path` now (stat). Error: the errno, "PATH: reason".
Expected<FileIdentity> file_identity(const std::string& path);

struct FileContents {
  FileIdentity id;  ///< of the file actually read (fstat of the open descriptor)
  std::string text;
};

/// Read all of `path` through one descriptor. Error: the errno of open/fstat/read
/// ("PATH: reason", "PATH: read: reason"), EFBIG "PATH: larger than N bytes" past `max_bytes`.
Expected<FileContents> file_read_bounded(const std::string& path, size_t max_bytes);

}  // namespace tg::controlplane
