// Control plane: logfmt lines on stderr (any thread).
#include "controlplane/log.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>

namespace tg::controlplane {

namespace {

bool needs_quotes(std::string_view v) {
  return v.empty() || std::any_of(v.begin(), v.end(), [](char c) {
           return c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20;
         });
}

void append_quoted(std::string& out, std::string_view v) {
  out += '"';
  for (char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

/// 0 debug, 1 info, 2 warn, 3 error; -1 unknown.
int level_rank(std::string_view level) {
  static constexpr std::string_view kLevels[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++)
    if (level == kLevels[i]) return i;
  return -1;
}

/// The process's minimum level (the one piece of logging state: relaxed, it orders nothing).
std::atomic<int> g_min_rank{1};

}  // namespace

bool log_level_known(std::string_view level) { return level_rank(level) >= 0; }

bool log_set_min_level(std::string_view level) {
  const int rank = level_rank(level);
  if (rank < 0) return false;
  g_min_rank.store(rank, std::memory_order_relaxed);
  return true;
}

std::string log_format(std::string_view level, std::string_view msg,
                       std::initializer_list<LogField> fields) {
  std::string out = "level=";
  out += level;
  out += " msg=";
  append_quoted(out, msg);
  for (const LogField& f : fields) {
    out += ' ';
    out += f.first;
    out += '=';
    if (needs_quotes(f.second)) {
      append_quoted(out, f.second);
    } else {
      out += f.second;
    }
  }
  return out;
}

void log_line(std::string_view level, std::string_view msg,
              std::initializer_list<LogField> fields) {
  // An unknown level is always written: a typo in a call must not hide the line.
  const int rank = level_rank(level);
  if (rank >= 0 && rank < g_min_rank.load(std::memory_order_relaxed)) return;
  std::string line = log_format(level, msg, fields);
  line += '\n';
  // One write per line; a short write to a pipe of this size does not happen in practice,
  // and a log line is not worth a retry loop.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace tg::controlplane
