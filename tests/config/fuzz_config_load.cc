// libFuzzer target: config_load_string must never crash, hang, leak or throw, whatever the
// bytes (run under ASan/UBSan with -Dfuzz=true; the seeds are in corpus/).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const tg::config::LoadResult result = tg::config::config_load_string(text, "fuzz.conf");
  // Exercise the error formatting too, and check the contract: a config iff no errors.
  size_t length = 0;
  for (const auto& error : result.errors) length += error.to_string().size();
  if (result.ok() != result.errors.empty()) __builtin_trap();
  return length == SIZE_MAX ? 1 : 0;
}
