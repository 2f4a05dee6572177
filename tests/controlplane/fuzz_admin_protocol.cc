// libFuzzer: the admin socket's request parser (controlplane/admin_protocol.h) must never
// crash or throw on any line a local client writes, and an accepted request must be
// consistent (a disconnect names exactly one of id and user); the error answer built from a
// rejection must itself be valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "controlplane/admin_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tg::controlplane;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const auto r = admin_parse_request(line);
  if (r) {
    if (r->command == AdminCommand::disconnect && r->id.has_value() == r->user.has_value()) {
      std::abort();
    }
    if (r->id && admin_session_id_parse(admin_session_id_text(*r->id)) != r->id) std::abort();
  } else {
    const std::string answer = admin_error_line(kAdminErrorBadRequest, r.error().message);
    if (answer.empty() || answer.back() != '\n') std::abort();
    if (nlohmann::json::parse(answer, nullptr, false).is_discarded()) std::abort();
  }
  return 0;
}
