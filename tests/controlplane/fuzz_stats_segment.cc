// libFuzzer target: stats_segment_decode() on arbitrary bytes (the segment image).
// Built only with -Dfuzz=true (clang); links the reader alone, no prometheus-cpp.
// Beyond "no crash, no sanitizer report", it checks the decoder's promises on success.
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>

#include "controlplane/stats_segment_reader.h"

namespace {

/// Fixed clock: a stable input gives a stable result.
constexpr uint64_t kNowNs = 1'700'000'000'000'000'000ULL;

bool name_ok(const std::string& s, size_t max_len) {
  if (s.empty() || s.size() > max_len) {
    return false;
  }
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

void check(bool ok) {
  if (!ok) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::controlplane;
  const SegmentReadResult r =
      stats_segment_decode(std::as_bytes(std::span<const uint8_t>(data, size)), kNowNs);
  if (!r.has_value()) {
    // Only validation errors come out of the pure decoder.
    check(r.error().code != SegmentError::absent && r.error().code != SegmentError::io_error);
    check(static_cast<unsigned>(r.error().code) < kSegmentErrorCount);
    check(!r.error().message.empty());
    return 0;
  }
  const StatsSnapshot& s = r.value();
  check(size >= sizeof(tg::shm::StatsSegment));
  check(name_ok(s.instance, 24));
  check(s.ports.size() <= tg::shm::kMaxPorts);
  std::set<std::string> names;
  for (const PortSnapshot& p : s.ports) {
    check(name_ok(p.name, tg::shm::kPortNameLen - 1));
    check(names.insert(p.name).second);
    check(p.role == PortSnapshot::Role::outside || p.role == PortSnapshot::Role::inside);
  }
  check(s.lcores.size() <= tg::shm::kMaxLcores);
  std::set<uint32_t> ids;
  for (const LcoreSnapshot& l : s.lcores) {
    check(l.lcore_id <= kMaxLcoreId);
    check(ids.insert(l.lcore_id).second);
    check(l.ports.size() == s.ports.size());
  }
  return 0;
}
