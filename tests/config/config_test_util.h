// Helpers shared by the config tests: a minimal valid config and error matchers that print
// every error when they fail (so a failing test shows what the loader actually said).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace tg::config::test {

/// The name given to config_load_string in tests; errors start with "t.conf:".
inline const std::string kTestName = "t.conf";

/// The smallest config that loads: line 1 "dataplane = {", line 2 lcores, line 3-5 one port.
inline const std::string kMinimal =
    "dataplane = {\n"
    "  lcores = [1];\n"
    "  ports = (\n"
    "    { name = \"outside\"; role = \"outside\"; device = \"net_null0\"; address = "
    "\"192.0.2.1/24\"; }\n"
    "  );\n"
    "};\n";

inline LoadResult load(const std::string& text) { return config_load_string(text, kTestName); }

inline std::string all_errors(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += "  " + e.to_string() + "\n";
  return out.empty() ? "  (no errors)\n" : out;
}

/// Passes when some error is on `line` (0 = any line), for `key` exactly, with a message
/// containing `part`.
inline ::testing::AssertionResult HasError(const LoadResult& r, int line, const std::string& key,
                                           const std::string& part) {
  if (r.ok()) return ::testing::AssertionFailure() << "config loaded without errors";
  for (const auto& e : r.errors) {
    if ((line == 0 || e.line == line) && e.key == key && e.message.find(part) != std::string::npos)
      return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no error at line " << line << " key \"" << key
                                       << "\" containing \"" << part << "\"; errors were:\n"
                                       << all_errors(r);
}

/// Passes when the config loaded.
inline ::testing::AssertionResult LoadsOk(const LoadResult& r) {
  if (r.ok() && r.errors.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected no errors, got:\n" << all_errors(r);
}

}  // namespace tg::config::test
