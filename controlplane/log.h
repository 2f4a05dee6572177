// Control plane: structured (logfmt) log lines on stderr, e.g.
//   level=info msg="listening" metrics=http://127.0.0.1:9810/metrics instance=tg0
// Any thread; each line is written with one write(2), so lines from threads do not interleave.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace tg::controlplane {

using LogField = std::pair<std::string_view, std::string_view>;

/// Format one logfmt line (no trailing newline). `msg` is always quoted; other values are
/// quoted only when they contain a space, '"', '=' or a control character, or are empty.
std::string log_format(std::string_view level, std::string_view msg,
                       std::initializer_list<LogField> fields);

/// True for the levels log_line knows: "debug", "info", "warn", "error".
bool log_level_known(std::string_view level);

/// Lines below `level` are dropped from now on (process-wide; set once at start by main,
/// from --log-level; default "info"). An unknown level changes nothing and returns false.
bool log_set_min_level(std::string_view level);

/// log_format() plus '\n', written to stderr, unless `level` is below the minimum level.
void log_line(std::string_view level, std::string_view msg,
              std::initializer_list<LogField> fields = {});

}  // namespace tg::controlplane
