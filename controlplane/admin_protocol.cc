// Control plane: admin socket requests and answers. See admin_protocol.h.
#include "controlplane/admin_protocol.h"

#include <algorithm>
#include <cerrno>

namespace tg::controlplane {

namespace {

using nlohmann::json;

/// At most `max` bytes of `s` for an error message, with non-printable bytes as '?': a
/// message must stay one readable log line whatever the client sent.
std::string excerpt(std::string_view s, size_t max = 40) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > max) out += "...";
  return out;
}

bool user_name_ok(std::string_view u) {
  // The users file's rule ([A-Za-z0-9._@-]{1,64}); certificate users are CNs, so allow
  // anything printable up to 255 bytes: this is a filter, not an identity check.
  if (u.empty() || u.size() > 255) return false;
  for (char ch : u) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

const char* admin_command_name(AdminCommand c) {
  switch (c) {
    case AdminCommand::status: return "status";
    case AdminCommand::sessions: return "sessions";
    case AdminCommand::disconnect: return "disconnect";
    case AdminCommand::reload: return "reload";
    case AdminCommand::stats: return "stats";
    case AdminCommand::certs: return "certs";
  }
  return "unknown";
}

std::string admin_session_id_text(uint64_t id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, id >>= 4) s[static_cast<size_t>(i)] = kDigits[id & 15];
  return s;
}

std::optional<uint64_t> admin_session_id_parse(std::string_view text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : text) {
    int d = 0;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return std::nullopt;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

Expected<AdminRequest> admin_parse_request(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (line.size() >= kAdminMaxRequestBytes) {
    return make_error(EINVAL, "request longer than " + std::to_string(kAdminMaxRequestBytes - 1) +
                                  " bytes");
  }
  // nlohmann's lexer stops at a NUL as at the end of input: refuse it explicitly, or
  // "{...}\0garbage" would pass.
  if (line.find('\0') != std::string_view::npos) return make_error(EINVAL, "request is not JSON: it contains a NUL byte");
  // No exceptions (allow_exceptions = false): a parse error gives a "discarded" value.
  // Depth is bounded by the line length (4 KiB), so the recursive parser cannot overflow.
  const json j = json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) return make_error(EINVAL, "request is not JSON: '" + excerpt(line) + "'");
  if (!j.is_object()) return make_error(EINVAL, "request is not a JSON object");
  const auto cmd = j.find("command");
  if (cmd == j.end() || !cmd->is_string()) {
    return make_error(EINVAL, "request has no \"command\" string");
  }
  const std::string& name = cmd->get_ref<const std::string&>();
  AdminRequest r;
  if (name == "status") r.command = AdminCommand::status;
  else if (name == "sessions") r.command = AdminCommand::sessions;
  else if (name == "disconnect") r.command = AdminCommand::disconnect;
  else if (name == "reload") r.command = AdminCommand::reload;
  else if (name == "stats") r.command = AdminCommand::stats;
  else if (name == "certs") r.command = AdminCommand::certs;
  else return make_error(EINVAL, "unknown command '" + excerpt(name) + "'");

  const bool takes_user =
      r.command == AdminCommand::sessions || r.command == AdminCommand::disconnect;
  const bool takes_id = r.command == AdminCommand::disconnect;
  for (const auto& [key, value] : j.items()) {
    if (key == "command") continue;
    if (key == "user" && takes_user) {
      if (!value.is_string() || !user_name_ok(value.get_ref<const std::string&>())) {
        return make_error(EINVAL, "\"user\" is not a user name (1-255 printable characters)");
      }
      r.user = value.get<std::string>();
    } else if (key == "app" && takes_user) {
      // App ids: 1..255 visible ASCII characters (config/config_formats.h).
      const bool ok = value.is_string() && !value.get_ref<const std::string&>().empty() &&
                      value.get_ref<const std::string&>().size() <= 255 &&
                      std::all_of(value.get_ref<const std::string&>().begin(),
                                  value.get_ref<const std::string&>().end(),
                                  [](char ch) { return ch > 0x20 && ch < 0x7f; });
      if (!ok) return make_error(EINVAL, "\"app\" is not an app id (1-255 visible ASCII characters)");
      r.app = value.get<std::string>();
    } else if (key == "id" && takes_id) {
      std::optional<uint64_t> id;
      if (value.is_string()) id = admin_session_id_parse(value.get_ref<const std::string&>());
      if (!id) return make_error(EINVAL, "\"id\" is not a session id (1-16 hex digits as a string)");
      r.id = id;
    } else {
      return make_error(EINVAL, "unknown field '" + excerpt(key) + "' for command " + name);
    }
  }
  if (r.command == AdminCommand::disconnect &&
      int{r.id.has_value()} + int{r.user.has_value()} + int{r.app.has_value()} != 1) {
    return make_error(EINVAL, "disconnect needs exactly one of \"id\", \"user\" and \"app\"");
  }
  return r;
}

std::string admin_response_line(const nlohmann::json& response) {
  std::string s = response.dump(-1, ' ', false, json::error_handler_t::replace);
  s += '\n';
  return s;
}

std::string admin_error_line(std::string_view code, std::string_view message) {
  return admin_response_line(
      json{{"ok", false}, {"error", std::string(code)}, {"message", std::string(message)}});
}

}  // namespace tg::controlplane
