// Tests of controlplane/log: logfmt formatting.
#include "controlplane/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace tg::controlplane {
namespace {

TEST(LogFormat, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(log_format("info", "listening",
                       {{"metrics", "http://127.0.0.1:9810/metrics"}, {"instance", "tg0"}}),
            "level=info msg=\"listening\" metrics=http://127.0.0.1:9810/metrics instance=tg0");
}

TEST(LogFormat, EscapesHostileValues) {
  EXPECT_EQ(log_format("error", "a \"b\"", {{"k", "x y"}, {"e", ""}, {"n", "1\n2\\"}, {"c", "\x01"}}),
            "level=error msg=\"a \\\"b\\\"\" k=\"x y\" e=\"\" n=\"1\\n2\\\\\" c=\"\\x01\"");
  EXPECT_EQ(log_format("info", "m", {{"eq", "a=b"}}), "level=info msg=\"m\" eq=\"a=b\"");
}

/// What log_line writes to stderr while `fn` runs.
template <typename F>
std::string captured_stderr(F fn) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const int saved = dup(STDERR_FILENO);
  dup2(fds[1], STDERR_FILENO);
  close(fds[1]);
  fn();
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  return out;
}

TEST(LogLevel, LinesBelowTheMinimumAreDropped) {
  EXPECT_FALSE(log_set_min_level("verbose"));
  ASSERT_TRUE(log_set_min_level("warn"));
  const std::string out = captured_stderr([] {
    log_line("debug", "d");
    log_line("info", "i");
    log_line("warn", "w");
    log_line("error", "e");
    log_line("notice", "unknown levels are never hidden");
  });
  EXPECT_EQ(out,
            "level=warn msg=\"w\"\nlevel=error msg=\"e\"\n"
            "level=notice msg=\"unknown levels are never hidden\"\n");
  ASSERT_TRUE(log_set_min_level("debug"));
  EXPECT_EQ(captured_stderr([] { log_line("debug", "d"); }), "level=debug msg=\"d\"\n");
  ASSERT_TRUE(log_set_min_level("info"));  // the default, for the other tests
  EXPECT_EQ(captured_stderr([] { log_line("debug", "d"); }), "");
  EXPECT_TRUE(log_level_known("error"));
  EXPECT_FALSE(log_level_known("ERROR"));
}

}  // namespace
}  // namespace tg::controlplane
