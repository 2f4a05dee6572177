// libFuzzer target: session_segment_decode() on arbitrary bytes (the live session segment
// image, api/session_shm.h). Built only with -Dfuzz=true (clang); links the readers alone.
// Beyond "no crash, no sanitizer report", it checks the decoder's promises on success.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

#include "controlplane/session_segment_reader.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A mapping is page-aligned: give the decoder the same (the bytes are copied).
  const size_t n = (size + sizeof(tg::shm::SessionRecord) - 1) / sizeof(tg::shm::SessionRecord);
  auto mem = std::make_unique<tg::shm::SessionRecord[]>(n == 0 ? 1 : n);
  if (size != 0) std::memcpy(static_cast<void*>(mem.get()), data, size);
  const auto r = tg::controlplane::session_segment_decode(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(mem.get()), size));
  if (!r) {
    check(!r.error().message.empty());
    return 0;
  }
  check(r->n_records <= tg::shm::kMaxSessionRecords);
  check(tg::shm::session_segment_size(r->n_records) <= size);
  check(r->by_session.size() + r->busy + r->bad <= r->n_records);
  for (const auto& [id, live] : r->by_session) {
    check(id != 0 && id == live.session_id);
    check(live.channel == 1 || live.channel == 2);
  }
  return 0;
}
