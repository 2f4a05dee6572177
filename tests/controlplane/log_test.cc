// Tests of controlplane/log: logfmt formatting.
#include "controlplane/log.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace tg::controlplane
