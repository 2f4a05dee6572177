// libFuzzer: ctl_decode() in both directions must never read outside its input, and what it
// accepts must re-encode to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "api/ctl_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  for (auto dir : {tg::ctl::CtlDirection::to_control_plane, tg::ctl::CtlDirection::to_worker}) {
    static tg::ctl::CtlMessage out;
    if (tg::ctl::ctl_decode(in, dir, out) == tg::ctl::CtlDecodeError::ok) {
      const auto again = tg::ctl::ctl_message_bytes(out);
      if (again.size() != size || std::memcmp(again.data(), data, size) != 0) std::abort();
    }
  }
  return 0;
}
