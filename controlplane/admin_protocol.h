// Control plane: the admin socket's wire format (docs/tunnelgatectl.md). One request per
// connection: a JSON object on one line (at most kAdminMaxRequestBytes, '\n'-terminated),
// answered by one JSON object on one line:
//   {"command":"status"}
//   {"command":"sessions"}                      {"command":"sessions","user":"alice"}
//   {"command":"disconnect","id":"5f0c...0001"} {"command":"disconnect","user":"alice"}
//   {"command":"reload"}
// Answers: {"ok":true, ...command fields...} or {"ok":false,"error":CODE,"message":TEXT}
// with CODE one of kAdminError*. Session ids travel as 16 lower-case hex digits: they use all
// 64 bits, more than a JSON number keeps exactly in most readers (2^53).
//
// The parser is the trust boundary for whatever a local client writes (fuzzed:
// tests/controlplane/fuzz_admin_protocol.cc): it never throws, any input gives a Request or
// an Error whose message names the problem.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "controlplane/expected.h"

namespace tg::controlplane {

/// Longest request line accepted, newline included. Requests are tiny; this bounds memory
/// per client.
inline constexpr size_t kAdminMaxRequestBytes = 4096;

/// Error codes of {"ok":false,"error":CODE}.
inline constexpr const char* kAdminErrorBadRequest = "bad_request";  ///< malformed, unknown command
inline constexpr const char* kAdminErrorNotFound = "not_found";      ///< no such session
inline constexpr const char* kAdminErrorFailed = "failed";           ///< e.g. users file rejected
inline constexpr const char* kAdminErrorBusy = "busy";               ///< too many clients, timeout

enum class AdminCommand : uint8_t { status, sessions, disconnect, reload, stats, certs };

struct AdminRequest {
  AdminCommand command = AdminCommand::status;
  std::optional<std::string> user;  ///< sessions: filter; disconnect: every session of the user
  std::optional<uint64_t> id;       ///< disconnect: this session
  std::optional<std::string> app;   ///< sessions: filter; disconnect: every session of the app
};

/// Parse one request line (without or with its trailing '\n'). Errors (code EINVAL) say what
/// is wrong: not JSON, not an object, unknown command, a field of the wrong type, an unknown
/// field, a disconnect without exactly one of id, user and app.
Expected<AdminRequest> admin_parse_request(std::string_view line);

/// "status", "sessions", ...
const char* admin_command_name(AdminCommand c);

/// 16 lower-case hex digits.
std::string admin_session_id_text(uint64_t id);
/// 1-16 hex digits (either case) → the id; nullopt otherwise.
std::optional<uint64_t> admin_session_id_parse(std::string_view text);

/// The answer as one line with '\n'. Invalid UTF-8 in strings (a user name is validated,
/// but a message may quote input) is replaced, never thrown.
std::string admin_response_line(const nlohmann::json& response);
/// {"ok":false,"error":code,"message":message} as a line.
std::string admin_error_line(std::string_view code, std::string_view message);

}  // namespace tg::controlplane
