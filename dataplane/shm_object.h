// A POSIX shared-memory object the dataplane owns and other processes read (the statistics
// and live session segments): created fresh at start, mapped read-write, removed at exit.
#pragma once

#include <cstddef>
#include <string>

namespace tg::dp {

class ShmObject {
 public:
  ShmObject() = default;
  ShmObject(const ShmObject&) = delete;
  ShmObject& operator=(const ShmObject&) = delete;
  /// Unmaps and unlinks: readers then see the owner gone.
  ~ShmObject();

  /// Creates `name` with `size` zero bytes (replacing any object an earlier run left, so a
  /// reader still holding the old one never sees a mix) and maps it. Returns an error
  /// message naming the object and the call, empty on success.
  std::string create(const std::string& name, size_t size);
  void* data() const { return addr_; }

 private:
  void* addr_ = nullptr;
  size_t size_ = 0;
  std::string name_;
};

}  // namespace tg::dp
