// The dataplane side of the live session segment (api/session_shm.h): create, publish,
// remove. The records are written by the TLS workers (dataplane/vpn/oc_handler.cc).
#pragma once

#include <cstdint>
#include <string>

#include "api/session_shm.h"
#include "dataplane/shm_object.h"

namespace tg::dp {

class SessionSegmentWriter {
 public:
  /// Creates (replacing any left by an earlier run) and maps the segment of `instance`
  /// with `n_records` records (SessionTable::capacity()). Returns an error message, empty
  /// on success. Unmapped and unlinked on destruction.
  std::string create(const std::string& instance, uint32_t n_records, uint64_t generation);
  shm::SessionRecord* records() { return records_; }
  uint32_t n_records() const { return n_records_; }
  /// Makes the header visible to readers.
  void publish();

 private:
  ShmObject object_;
  shm::SessionSegmentHeader* header_ = nullptr;
  shm::SessionRecord* records_ = nullptr;
  uint32_t n_records_ = 0;
};

}  // namespace tg::dp
