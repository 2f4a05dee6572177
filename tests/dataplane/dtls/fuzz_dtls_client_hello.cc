// libFuzzer target: the ClientHello peek the DTLS receive path runs on every handshake
// datagram from an unknown address, before any session state exists. Traps on a broken
// invariant the session lookup relies on.
#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/dtls/client_hello.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::dtls;
  const std::span<const uint8_t> datagram(data, size);
  ClientHelloInfo info{};
  const ClientHelloError error = client_hello_parse(datagram, &info);
  if (client_hello_error_name(error)[0] == '\0') __builtin_trap();
  if (error != ClientHelloError::kOk) return 0;
  // The App-ID lies inside the datagram, past the fixed headers, 1..32 bytes.
  if (info.app_id.empty() || info.app_id.size() > hello::kMaxAppIdBytes) __builtin_trap();
  if (info.app_id.data() < data + 13 + 12 + 2 + 32 ||
      info.app_id.data() + info.app_id.size() > data + size)
    __builtin_trap();
  if (info.record_version != 0xfeff && info.record_version != 0xfefd) __builtin_trap();
  // All-zero random: the 32 bytes after client_version really are zero.
  bool zero = true;
  for (size_t i = 0; i < 32; i++) zero = zero && data[13 + 12 + 2 + i] == 0;
  if (zero != info.random_all_zero) __builtin_trap();
  return 0;
}
