// Tests of controlplane/cli: argument parsing of tunnelgate-controlplane. Invalid first.
#include "controlplane/cli.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tg::controlplane {
namespace {

CliParseResult parse(std::vector<std::string> args) {
  args.insert(args.begin(), "tunnelgate-controlplane");
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  return cli_parse(static_cast<int>(args.size()), argv.data());
}

TEST(CliParse, Invalid) {
  struct Case {
    int number;
    std::vector<std::string> args;
    const char* error_part;
  };
  const Case cases[] = {
      {1, {}, "is required"},
      {2, {"--config"}, "needs an argument"},
      {3, {"--check-config"}, "needs an argument"},
      {4, {"-c"}, "needs an argument"},
      {5, {"--bogus"}, "unknown option"},
      {6, {"-x"}, "unknown option -x"},
      {7, {"--config", "a.conf", "extra"}, "unexpected argument \"extra\""},
      {8, {"a.conf"}, "unexpected argument"},
      {9, {"--config", "a.conf", "--check-config", "b.conf"}, "only one"},
      {10, {"--help", "--version"}, "only one"},
      {11, {"--config", ""}, "empty"},
      {12, {"--config=a.conf", "--config=b.conf"}, "only one"},
      {13, {"--config", "a.conf", "--log-level", "verbose"}, "--log-level \"verbose\": expected debug, info"},
      {14, {"--config", "a.conf", "--log-level"}, "needs an argument"},
      {15, {"--config", "a.conf", "-l", "INFO"}, "expected debug"},
      {16, {"--log-level", "debug"}, "is required"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "case " << c.number);
    const CliParseResult r = parse(c.args);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find(c.error_part), std::string::npos) << r.error;
  }
}

TEST(CliParse, Modes) {
  CliParseResult r = parse({"--config", "/etc/tunnelgate.conf"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.options.mode, CliOptions::Mode::run);
  EXPECT_EQ(r.options.config_path, "/etc/tunnelgate.conf");

  r = parse({"--check-config=x.conf"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.options.mode, CliOptions::Mode::check_config);
  EXPECT_EQ(r.options.config_path, "x.conf");

  r = parse({"-t", "y.conf"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.options.mode, CliOptions::Mode::check_config);

  r = parse({"-c", "z.conf"});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.options.mode, CliOptions::Mode::run);
  EXPECT_EQ(r.options.config_path, "z.conf");

  EXPECT_EQ(parse({"--help"}).options.mode, CliOptions::Mode::help);
  EXPECT_EQ(parse({"-h"}).options.mode, CliOptions::Mode::help);
  EXPECT_EQ(parse({"--version"}).options.mode, CliOptions::Mode::version);
  EXPECT_EQ(parse({"-V"}).options.mode, CliOptions::Mode::version);

  EXPECT_EQ(parse({"-c", "z.conf"}).options.log_level, "info");
  for (const char* level : {"debug", "info", "warn", "error"}) {
    r = parse({"--config", "z.conf", "--log-level", level});
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.options.log_level, level);
  }
}

TEST(CliParse, CanBeCalledRepeatedly) {
  // getopt keeps global state; cli_parse resets it.
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(parse({"--bogus"}).ok);
    EXPECT_TRUE(parse({"--config", "a"}).ok);
  }
}

TEST(CliUsage, NamesEveryOption) {
  const std::string u = cli_usage("prog");
  for (const char* o : {"--config", "--check-config", "--log-level", "--help", "--version", "prog"}) {
    EXPECT_NE(u.find(o), std::string::npos) << o;
  }
}

}  // namespace
}  // namespace tg::controlplane
