// Control plane: a read-only mapping of a shared-memory object the dataplane owns (the
// statistics and live session segments). Unmapped when it goes out of scope.
// Thread-safety: plain values; any thread.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "controlplane/expected.h"

namespace tg::controlplane {

class ShmMapping {
 public:
  ShmMapping() = default;
  ShmMapping(ShmMapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), len_(std::exchange(o.len_, 0)) {}
  ShmMapping& operator=(ShmMapping&&) = delete;
  ShmMapping(const ShmMapping&) = delete;
  ~ShmMapping();
  std::span<const std::byte> bytes() const { return {static_cast<const std::byte*>(addr_), len_}; }

  /// Maps the object `name` ("/tunnelgate-...") read-only, at most `max_len` bytes of it.
  /// Errors: ENOENT (no such object: its owner is not running), ENODATA (size 0: its owner
  /// is creating it), otherwise the errno of shm_open/fstat/mmap; messages name the object.
  static Expected<ShmMapping> open(const std::string& name, size_t max_len);

 private:
  void* addr_ = nullptr;
  size_t len_ = 0;
};

}  // namespace tg::controlplane
