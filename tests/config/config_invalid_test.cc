// Invalid configurations, one rule per test (STYLE #24: the suite starts with bad input).
// Each test checks the line, the dotted key and the gist of the message, because those are
// what an operator reads.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "config_test_util.h"

namespace tg::config::test {
namespace {

// Builds a config from the minimal one plus extra top-level text (appended after line 6)
// and extra dataplane keys (inserted as line 2, pushing lcores to line 3).
std::string with_top(const std::string& extra) { return kMinimal + extra; }
std::string with_dataplane(const std::string& extra) {
  std::string text = kMinimal;
  text.insert(text.find('\n') + 1, extra + "\n");
  return text;
}

// ---------------------------------------------------------------- layer 1: reading and syntax

TEST(ConfigInvalid, SyntaxErrorHasLine) {
  const auto r =
      load("instance = \"tg0\";\ndataplane = {\n  lcores = [1];\n  mbufs = 9000 ];\n};\n");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].line, 4);
  EXPECT_EQ(r.errors[0].file, kTestName);
  EXPECT_NE(r.errors[0].message.find("syntax error"), std::string::npos);
  EXPECT_EQ(r.errors[0].to_string().rfind("t.conf:4: syntax error", 0), 0u)
      << r.errors[0].to_string();
}

TEST(ConfigInvalid, SyntaxErrorsOfManyKinds) {
  for (const char* text :
       {"dataplane = {", "dataplane = { lcores = [1, \"x\"]; };", "a = 1;\na = 2;\n", "x = ;",
        "dataplane = ( ;", "= 5;", "\"x\";", "a = 1.2.3;"}) {
    const auto r = load(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.errors.at(0).message.find("syntax error"), std::string::npos) << all_errors(r);
  }
}

TEST(ConfigInvalid, MissingFileIsReported) {
  const auto r = config_load_file("/nonexistent/tunnelgate.conf");
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            "/nonexistent/tunnelgate.conf: cannot read file: No such file or directory");
}

TEST(ConfigInvalid, DirectoryIsNotAConfigFile) {
  const auto r = config_load_file("/");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasError(r, 0, "", "not a regular file"));
}

TEST(ConfigInvalid, NulByteIsRejected) {
  const auto r = load(kMinimal + std::string("\ninstance = \"a\0b\";\n", 19));
  EXPECT_TRUE(HasError(r, 8, "", "NUL byte"));
}

TEST(ConfigInvalid, IncludeIsRejected) {
  const auto r = load("@include \"/etc/passwd\"\n" + kMinimal);
  EXPECT_TRUE(HasError(r, 1, "", "@include is not supported"));
  EXPECT_TRUE(HasError(load(kMinimal + "  @INCLUDE \"x\"\n"), 7, "", "@include"));
}

TEST(ConfigInvalid, IntegersBeyond32BitsAreRejectedNotWrapped) {
  // libconfig 1.5 would read 4294968319 as 1023, a valid mbufs value.
  const auto r = load(with_dataplane("  mbufs = 4294968319;"));
  EXPECT_TRUE(HasError(r, 2, "", "integer 4294968319 does not fit in 32 bits"));
  EXPECT_TRUE(HasError(load(with_dataplane("  mbufs = 0x1000003FF;")), 2, "", "does not fit"));
  EXPECT_TRUE(HasError(load(with_dataplane("  mbufs = -99999999999;")), 2, "", "does not fit"));
  EXPECT_TRUE(HasError(load(with_dataplane("  mbufs = 2147483648;")), 2, "", "does not fit"));
  // A float with a long exponent is a float (a type error), not an oversized integer.
  EXPECT_TRUE(HasError(load(with_top("limits = { max_sessions = 1.5e-99999999999; };")), 7,
                       "limits.max_sessions", "expected an integer, found a float"));
  // Not numbers: names with digits, strings, comments.
  EXPECT_TRUE(LoadsOk(load(with_top("# 99999999999\ninstance = \"a99999999999\";\n"))));
}

// ---------------------------------------------------------------- layer 2: schema

TEST(ConfigInvalid, EmptyTextMissesDataplane) {
  const auto r = load("");
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(), "t.conf: dataplane: missing required key");
}

TEST(ConfigInvalid, MissingRequiredKeysUseTheParentLine) {
  const auto r = load(
      "dataplane = {\n"
      "  ports = (\n"
      "    { name = \"outside\";\n"
      "      role = \"outside\"; }\n"
      "  );\n"
      "};\n");
  EXPECT_TRUE(HasError(r, 1, "dataplane.lcores", "missing required key"));
  EXPECT_TRUE(HasError(r, 3, "dataplane.ports.[0].device", "missing required key"));
  EXPECT_TRUE(HasError(r, 3, "dataplane.ports.[0].address", "missing required key"));
  EXPECT_EQ(r.errors.size(), 3u) << all_errors(r);

  EXPECT_TRUE(HasError(load("dataplane = { lcores = [1]; };"), 1, "dataplane.ports",
                       "missing required key"));
  EXPECT_TRUE(HasError(load(with_top("pools = ( { name = \"p\"; } );")), 7, "pools.[0].prefix",
                       "missing required key"));
  EXPECT_TRUE(HasError(load(with_top("services = ( { name = \"s\"; } );")), 7,
                       "services.[0].subnets", "missing required key"));
  EXPECT_TRUE(HasError(load(with_top("apps = ( { services = [\"s\"]; } );")), 7, "apps.[0].id",
                       "missing required key"));
}

TEST(ConfigInvalid, WrongTypesNameTheTypeFound) {
  EXPECT_TRUE(HasError(load(with_dataplane("  mbufs = \"8191\";")), 2, "dataplane.mbufs",
                       "expected an integer, found a string \"8191\""));
  EXPECT_TRUE(HasError(load(with_dataplane("  rx_desc = 1024.0;")), 2, "dataplane.rx_desc",
                       "expected an integer, found a float 1024"));
  EXPECT_TRUE(HasError(load(with_dataplane("  lab_forwarding = 1;")), 2, "dataplane.lab_forwarding",
                       "expected a boolean (true or false), found an integer 1"));
  EXPECT_TRUE(HasError(load(with_dataplane("  eal_args = \"--no-huge\";")), 2, "dataplane.eal_args",
                       "found a string"));
  EXPECT_TRUE(HasError(load(with_dataplane("  eal_args = [1, 2];")), 2, "dataplane.eal_args.[1]",
                       "expected a string, found an integer 2"));
  EXPECT_TRUE(HasError(load(with_dataplane("  neighbour = 5;")), 2, "dataplane.neighbour",
                       "expected a group"));
  EXPECT_TRUE(HasError(load("dataplane = { lcores = [1]; ports = { a = 1; }; };"), 1,
                       "dataplane.ports", "expected a list ( { ... }, ... ), found a group"));
  EXPECT_TRUE(HasError(load(with_top("pools = ( \"default\" );")), 7, "pools.[0]",
                       "expected a group { ... }, found a string \"default\""));
  EXPECT_TRUE(HasError(load(with_top("instance = true;")), 7, "instance",
                       "expected a string, found a boolean true"));
  EXPECT_TRUE(HasError(load(with_top("listeners = { tls_port = \"443\"; };")), 7,
                       "listeners.tls_port", "expected an integer"));
  EXPECT_TRUE(HasError(load("dataplane = [1];"), 1, "dataplane", "found an array"));
}

TEST(ConfigInvalid, OutOfRangeValuesShowTheRange) {
  EXPECT_TRUE(HasError(load(with_dataplane("  mbufs = 100;")), 2, "dataplane.mbufs",
                       "100 is out of range (expected 1023..4194303)"));
  EXPECT_TRUE(HasError(load(with_dataplane("  rx_desc = 1000;")), 2, "dataplane.rx_desc",
                       "1000 is not a power of two"));
  EXPECT_TRUE(HasError(load(with_dataplane("  tx_desc = 32768;")), 2, "dataplane.tx_desc",
                       "out of range (expected 64..16384)"));
  EXPECT_TRUE(HasError(load(with_dataplane("  idle_sleep_us = 1001;")), 2,
                       "dataplane.idle_sleep_us", "out of range"));
  EXPECT_TRUE(HasError(load(with_dataplane("  stage_sample = 10;")), 2, "dataplane.stage_sample",
                       "10 is not 0 or a power of two (expected 0, 1, 2, 4, ..., 65536)"));
  EXPECT_TRUE(HasError(load(with_dataplane("  stage_sample = 131072;")), 2, "dataplane.stage_sample",
                       "out of range (expected 0..65536)"));
  EXPECT_TRUE(HasError(load(with_dataplane("  tls_io = \"uring\";")), 2, "dataplane.tls_io",
                       "\"uring\" is not a socket model (expected \"auto\", \"epoll\" or \"io_uring\")"));
  EXPECT_TRUE(HasError(load(with_dataplane("  main_lcore = 64;")), 2, "dataplane.main_lcore",
                       "out of range (expected 0..63)"));
  EXPECT_TRUE(HasError(load(with_dataplane("  neighbour = { resolve_retries = 0; };")), 2,
                       "dataplane.neighbour.resolve_retries",
                       "0 is out of range (expected 1..10)"));
  EXPECT_TRUE(HasError(load(with_top("listeners = { tls_port = 0; };")), 7, "listeners.tls_port",
                       "expected 1..65535"));
  EXPECT_TRUE(HasError(load(with_top("listeners = { dtls_port = 65536; };")), 7,
                       "listeners.dtls_port", "65536 is out of range"));
  EXPECT_TRUE(HasError(load(with_top("limits = { max_request_bytes = 1023; };")), 7,
                       "limits.max_request_bytes", "expected 1024..1048576"));
  EXPECT_TRUE(HasError(load(with_top("limits = { max_sessions = -1; };")), 7, "limits.max_sessions",
                       "-1 is out of range"));
  EXPECT_TRUE(HasError(load(with_top("limits = { max_sessions = 10000001L; };")), 7,
                       "limits.max_sessions", "10000001 is out of range"));
  EXPECT_TRUE(HasError(load(with_top("auth = { clock_skew_s = 3601; };")), 7, "auth.clock_skew_s",
                       "expected 0..3600"));
  EXPECT_TRUE(HasError(load(with_top("limits = { auth_failures_per_source = 1000001; };")), 7,
                       "limits.auth_failures_per_source", "expected 0..1000000"));
  EXPECT_TRUE(HasError(load(with_top("limits = { auth_failure_window_s = 0; };")), 7,
                       "limits.auth_failure_window_s", "expected 1..86400"));
  EXPECT_TRUE(HasError(load(with_top("limits = { auth_source_prefix = 33; };")), 7,
                       "limits.auth_source_prefix", "expected 8..32"));
  EXPECT_TRUE(HasError(load(with_top("limits = { auth_source_prefix = 7; };")), 7,
                       "limits.auth_source_prefix", "expected 8..32"));
  EXPECT_TRUE(HasError(load(with_top("limits = { auth_sources_max = 15; };")), 7,
                       "limits.auth_sources_max", "expected 16..1048576"));
  EXPECT_TRUE(HasError(load(with_top("limits = { auth_sources_max = 1048577; };")), 7,
                       "limits.auth_sources_max", "1048577 is out of range"));
  EXPECT_TRUE(HasError(load(with_top("limits = { auth_source_prefix = \"24\"; };")), 7,
                       "limits.auth_source_prefix", "expected an integer"));
}

TEST(ConfigInvalid, AppIdentityKeywords) {
  EXPECT_TRUE(HasError(load(with_top("auth = { app_from_password = \"claim\"; };")), 7,
                       "auth.app_from_password", "\"claim\" is not allowed (expected one of \"group\", \"none\")"));
  EXPECT_TRUE(HasError(load(with_top("auth = { app_from_certificate = \"subject_o\"; };")), 7,
                       "auth.app_from_certificate", "is not allowed"));
  EXPECT_TRUE(HasError(load(with_top("auth = { app_from_token = \"\"; };")), 7, "auth.app_from_token",
                       "is not allowed"));
  EXPECT_TRUE(HasError(load(with_top("auth = { cert_user_field = \"uid\"; };")), 7, "auth.cert_user_field",
                       "is not allowed"));
  EXPECT_TRUE(HasError(load(with_top("auth = { cert_app_uri_prefix = \"\"; };")), 7,
                       "auth.cert_app_uri_prefix", "is not a URI prefix"));
  EXPECT_TRUE(HasError(load(with_top("auth = { app_from_token = 1; };")), 7, "auth.app_from_token", ""));
}

TEST(ConfigInvalid, LcoreRules) {
  const auto text = [](const char* lcores) {
    return "dataplane = {\n  main_lcore = 2;\n  lcores = " + std::string(lcores) +
           ";\n  ports = ( { name = \"o\"; role = \"outside\"; device = \"d\"; "
           "address = \"192.0.2.1/24\"; } );\n};\n";
  };
  EXPECT_TRUE(HasError(load(text("[]")), 3, "dataplane.lcores", "is empty"));
  EXPECT_TRUE(HasError(load(text("[64]")), 3, "dataplane.lcores.[0]",
                       "64 is out of range (expected 0..63)"));
  EXPECT_TRUE(HasError(load(text("[1, 2]")), 3, "dataplane.lcores.[1]", "is the main lcore"));
  EXPECT_TRUE(HasError(load(text("[1, 3, 1]")), 3, "dataplane.lcores.[2]", "listed twice"));
  EXPECT_TRUE(HasError(load(text("[1.5]")), 3, "dataplane.lcores.[0]", "found a float"));
}

TEST(ConfigInvalid, UnknownKeyIsAnErrorWithSuggestion) {
  const auto r = load(
      "dataplane = {\n"
      "  lcores = [1];\n"
      "  prots = ();\n"
      "  ports = ( { name = \"o\"; role = \"outside\"; device = \"d\"; address = \"192.0.2.1/24\"; "
      "adress = \"x\"; } );\n"
      "};\n"
      "limit = {};\n");
  EXPECT_TRUE(HasError(r, 3, "dataplane.prots", "unknown key (did you mean \"ports\"?)"));
  EXPECT_TRUE(HasError(r, 3, "dataplane.prots", "expected one of: eal_args, main_lcore, lcores"));
  EXPECT_TRUE(HasError(r, 4, "dataplane.ports.[0].adress", "did you mean \"address\""));
  EXPECT_TRUE(HasError(r, 6, "limit", "did you mean \"limits\""));
  EXPECT_TRUE(HasError(load(with_top("zzzzzz = 1;")), 7, "zzzzzz",
                       "unknown key; expected one of: instance"));
}

TEST(ConfigInvalid, BadPrefixForms) {
  struct Case {
    const char* address;
    const char* message;
  } const cases[] = {
      {"10.0.0.1/33", "\"10.0.0.1/33\" is not an IPv4 prefix (expected a.b.c.d/0-32)"},
      {"10.0.0.1",
       "\"10.0.0.1\" is not an IPv4 prefix (missing \"/length\"; expected a.b.c.d/0-32)"},
      {"10.0.0.1/", "is not an IPv4 prefix"},
      {"/24", "is not an IPv4 prefix"},
      {"10.0.1/24", "is not an IPv4 prefix"},
      {"010.0.0.1/24", "is not an IPv4 prefix"},
      {"garbage", "is not an IPv4 prefix"},
      {"10.0.0.1/024", "is not an IPv4 prefix"},
      {"10.0.0.1 /24", "is not an IPv4 prefix"},
      {"2001:db8::1/64", "IPv6 ports are not supported yet"},
      {"10.0.0.0/24", "is the network address of its subnet"},
      {"10.0.0.255/24", "is the broadcast address of its subnet"},
  };
  for (const auto& c : cases) {
    const auto r = load(
        "dataplane = {\n  lcores = [1];\n  ports = (\n    { name = \"o\"; role = \"outside\"; "
        "device = \"d\";\n      address = \"" +
        std::string(c.address) + "\"; }\n  );\n};\n");
    EXPECT_TRUE(HasError(r, 5, "dataplane.ports.[0].address", c.message)) << c.address;
  }
}

TEST(ConfigInvalid, ErrorTextMatchesTheDocumentedForm) {
  const auto r = config_load_string(
      "dataplane = {\n  lcores = [1];\n  ports = (\n    { name = \"o\"; role = \"outside\"; "
      "device = \"d\"; address = \"10.0.0.1/33\"; }\n  );\n};\n",
      "gw.conf");
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].to_string(),
            "gw.conf:4: dataplane.ports.[0].address: \"10.0.0.1/33\" is not an IPv4 prefix "
            "(expected a.b.c.d/0-32)");
}

TEST(ConfigInvalid, PoolSizeIsBounded) {
  // Every pool address has its session and DTLS slots in DPDK memory, used or not: /14 is
  // the largest (100k tunnels need a /15), /30 the smallest with a client address.
  EXPECT_TRUE(HasError(load(with_top("pools = ( { name = \"p\"; prefix = \"100.64.0.0/13\"; } );")), 7,
                       "pools.[0].prefix", "\"100.64.0.0/13\" is a /13 (expected a pool of /14 to /30)"));
  EXPECT_TRUE(HasError(load(with_top("pools = ( { name = \"p\"; prefix = \"198.51.100.0/31\"; } );")), 7,
                       "pools.[0].prefix", "is a /31 (expected a pool of /14 to /30)"));
}

TEST(ConfigInvalid, HostBitsMustBeZeroInNetworks) {
  EXPECT_TRUE(HasError(
      load(with_top("pools = ( { name = \"p\"; prefix = \"198.51.100.1/24\"; } );")), 7,
      "pools.[0].prefix",
      "\"198.51.100.1/24\" has host bits set (expected the network address 198.51.100.0/24)"));
  EXPECT_TRUE(HasError(
      load(with_dataplane("  routes = ( { prefix = \"198.18.1.7/24\"; via = \"192.0.2.9\"; } );")),
      2, "dataplane.routes.[0].prefix", "host bits set"));
  EXPECT_TRUE(HasError(load(with_top("services = ( { name = \"s\"; subnets = [\"198.18.1.0/24\", "
                                     "\"198.18.2.1/16\"]; } );")),
                       7, "services.[0].subnets.[1]",
                       "host bits set (expected the network address 198.18.0.0/16)"));
}

TEST(ConfigInvalid, OverlappingPortSubnets) {
  const auto r = load(
      "dataplane = {\n"
      "  lcores = [1];\n"
      "  ports = (\n"
      "    { name = \"a\"; role = \"outside\"; device = \"d0\"; address = \"192.0.2.1/24\"; },\n"
      "    { name = \"b\"; role = \"inside\"; device = \"d1\"; address = \"192.0.2.129/25\"; }\n"
      "  );\n"
      "};\n");
  EXPECT_TRUE(HasError(
      r, 5, "dataplane.ports.[1].address",
      "subnet 192.0.2.128/25 overlaps 192.0.2.0/24 of dataplane.ports.[0].address (line 4)"));
  EXPECT_EQ(r.errors.size(), 1u) << all_errors(r);
}

TEST(ConfigInvalid, OverlappingPools) {
  const auto r =
      load(with_top("pools = (\n"
                    "  { name = \"a\"; prefix = \"198.51.100.0/24\"; },\n"
                    "  { name = \"b\"; prefix = \"198.51.100.128/25\"; },\n"
                    "  { name = \"c\"; prefix = \"192.0.2.128/26\"; }\n"
                    ");\n"));
  EXPECT_TRUE(HasError(r, 9, "pools.[1].prefix",
                       "overlaps pool 198.51.100.0/24 of pools.[0].prefix (line 8)"));
  EXPECT_TRUE(HasError(r, 10, "pools.[2].prefix",
                       "overlaps the subnet 192.0.2.0/24 of dataplane.ports.[0].address (line 4)"));
  EXPECT_EQ(r.errors.size(), 2u) << all_errors(r);
}

TEST(ConfigInvalid, DuplicateNames) {
  const auto r = load(
      "dataplane = {\n"
      "  lcores = [1];\n"
      "  ports = (\n"
      "    { name = \"a\"; role = \"outside\"; device = \"d0\"; address = \"192.0.2.1/24\"; },\n"
      "    { name = \"a\"; role = \"inside\"; device = \"d0\"; address = \"198.18.0.1/24\"; }\n"
      "  );\n"
      "  routes = ( { prefix = \"198.18.1.0/24\"; via = \"198.18.0.2\"; },\n"
      "             { prefix = \"198.18.1.0/24\"; via = \"198.18.0.3\"; } );\n"
      "};\n"
      "pools = ( { name = \"p\"; prefix = \"198.51.100.0/25\"; },\n"
      "          { name = \"p\"; prefix = \"198.51.100.128/25\"; } );\n"
      "services = ( { name = \"s\"; subnets = [\"198.18.1.0/24\"]; },\n"
      "             { name = \"s\"; subnets = [\"198.18.2.0/24\"]; } );\n"
      "apps = ( { id = \"x\"; group = \"G\"; services = [\"s\"]; pool = \"p\"; },\n"
      "         { id = \"x\"; group = \"H\"; services = [\"s\"]; pool = \"p\"; },\n"
      "         { id = \"y\"; group = \"G\"; services = [\"s\"]; pool = \"p\"; } );\n");
  EXPECT_TRUE(
      HasError(r, 5, "dataplane.ports.[1].name",
               "duplicate port name \"a\" (first defined at dataplane.ports.[0].name (line 4))"));
  EXPECT_TRUE(HasError(r, 5, "dataplane.ports.[1].device", "duplicate port device \"d0\""));
  EXPECT_TRUE(HasError(r, 8, "dataplane.routes.[1].prefix", "duplicate route 198.18.1.0/24"));
  EXPECT_TRUE(HasError(r, 11, "pools.[1].name", "duplicate pool name \"p\""));
  EXPECT_TRUE(HasError(r, 13, "services.[1].name", "duplicate service name \"s\""));
  EXPECT_TRUE(HasError(r, 15, "apps.[1].id", "duplicate app id \"x\""));
  EXPECT_TRUE(HasError(r, 16, "apps.[2].group", "duplicate app group \"G\""));
  EXPECT_EQ(r.errors.size(), 7u) << all_errors(r);
}

TEST(ConfigInvalid, PortRules) {
  EXPECT_TRUE(HasError(load("dataplane = { lcores = [1]; ports = (); };"), 1, "dataplane.ports",
                       "has 0 entries (expected 1..8 ports)"));
  std::string nine = "dataplane = { lcores = [1]; ports = (";
  for (int i = 0; i < 9; ++i)
    nine += std::string(i ? "," : "") + "{ name = \"p" + std::to_string(i) +
            "\"; role = \"inside\"; device = \"d" + std::to_string(i) + "\"; address = \"10." +
            std::to_string(i) + ".0.1/16\"; }";
  EXPECT_TRUE(HasError(load(nine + "); };"), 1, "dataplane.ports", "has 9 entries"));

  const auto port = [](const std::string& fields) {
    return "dataplane = {\n  lcores = [1];\n  ports = (\n    { " + fields + " }\n  );\n};\n";
  };
  EXPECT_TRUE(HasError(
      load(port(
          "name = \"Out side\"; role = \"outside\"; device = \"d\"; address = \"192.0.2.1/24\";")),
      4, "dataplane.ports.[0].name", "is not a port name (expected 1-15 of a-z 0-9 _ -)"));
  EXPECT_TRUE(HasError(
      load(port("name = \"o\"; role = \"dmz\"; device = \"d\"; address = \"192.0.2.1/24\";")), 4,
      "dataplane.ports.[0].role",
      "\"dmz\" is not a port role (expected \"outside\" or \"inside\")"));
  EXPECT_TRUE(HasError(
      load(port("name = \"o\"; role = \"outside\"; device = \"\"; address = \"192.0.2.1/24\";")), 4,
      "dataplane.ports.[0].device", "is empty"));
  EXPECT_TRUE(HasError(load(port("name = \"o\"; role = \"outside\"; device = \"d\"; address = "
                                 "\"192.0.2.1/24\"; gateway = \"192.0.3.1\";")),
                       4, "dataplane.ports.[0].gateway",
                       "192.0.3.1 is outside the port's subnet 192.0.2.0/24"));
  EXPECT_TRUE(HasError(load(port("name = \"o\"; role = \"outside\"; device = \"d\"; address = "
                                 "\"192.0.2.1/24\"; gateway = \"192.0.2.1\";")),
                       4, "dataplane.ports.[0].gateway", "is the port's own address"));
  EXPECT_TRUE(HasError(load(port("name = \"o\"; role = \"outside\"; device = \"d\"; address = "
                                 "\"192.0.2.1/24\"; gateway = \"2001:db8::1\";")),
                       4, "dataplane.ports.[0].gateway", "IPv6 gateways are not supported yet"));
  const auto two = load(
      "dataplane = {\n  lcores = [1];\n  ports = (\n"
      "    { name = \"a\"; role = \"outside\"; device = \"d0\"; address = \"192.0.2.1/24\"; "
      "gateway = \"192.0.2.2\"; },\n"
      "    { name = \"b\"; role = \"inside\"; device = \"d1\"; address = \"198.18.0.1/24\"; "
      "gateway = \"198.18.0.2\"; }\n"
      "  );\n};\n");
  EXPECT_TRUE(
      HasError(two, 5, "dataplane.ports.[1].gateway",
               "a second default gateway (the first is dataplane.ports.[0].gateway (line 4))"));
}

TEST(ConfigInvalid, RouteNextHopMustBeOnAPortSubnet) {
  const auto r =
      load(with_dataplane("  routes = ( { prefix = \"198.18.1.0/24\"; via = \"198.18.0.2\"; },\n"
                          "             { prefix = \"198.18.2.0/24\"; via = \"192.0.2.1\"; },\n"
                          "             { prefix = \"198.18.3.0/24\"; via = \"x\"; } );"));
  EXPECT_TRUE(HasError(r, 2, "dataplane.routes.[0].via",
                       "198.18.0.2 is not inside any port's subnet (ports: 192.0.2.0/24)"));
  EXPECT_TRUE(
      HasError(r, 3, "dataplane.routes.[1].via", "one of the gateway's own port addresses"));
  EXPECT_TRUE(HasError(r, 4, "dataplane.routes.[2].via",
                       "\"x\" is not an IPv4 address (expected a.b.c.d)"));
  EXPECT_EQ(r.errors.size(), 3u) << all_errors(r);
}

TEST(ConfigInvalid, ServiceRules) {
  const auto r =
      load(with_top("services = (\n"
                    "  { name = \"a\"; subnets = []; },\n"
                    "  { name = \"b\"; subnets = [\"198.18.1.0/24\"]; protocols = [\"tcp\", "
                    "\"sctp\", \"tcp\"]; },\n"
                    "  { name = \"c\"; subnets = [\"198.18.1.0/24\"]; protocols = []; },\n"
                    "  { name = \"d\"; subnets = [\"198.18.1.0/24\"]; ports = [\"80\", \"90-80\", "
                    "\"65536\", \"1-\", \"x\", \"08\"]; },\n"
                    "  { name = \"e f\"; subnets = [\"198.18.1.0/24\"]; ports = [80]; }\n"
                    ");\n"));
  EXPECT_TRUE(
      HasError(r, 8, "services.[0].subnets", "is empty (expected at least one backend prefix)"));
  EXPECT_TRUE(HasError(r, 9, "services.[1].protocols.[1]",
                       "\"sctp\" is not allowed (expected one of tcp, udp, icmp)"));
  EXPECT_TRUE(HasError(r, 9, "services.[1].protocols.[2]", "\"tcp\" is listed twice"));
  EXPECT_TRUE(HasError(r, 10, "services.[2].protocols", "is empty"));
  for (int i : {1, 2, 3, 4, 5})
    EXPECT_TRUE(HasError(
        r, 11, "services.[3].ports.[" + std::to_string(i) + "]",
        "is not a port or port range (expected \"N\" or \"N-M\" with 0 <= N <= M <= 65535)"));
  EXPECT_TRUE(HasError(r, 12, "services.[4].name", "is not a service name"));
  EXPECT_TRUE(HasError(r, 12, "services.[4].ports.[0]", "expected a string, found an integer 80"));
  EXPECT_EQ(r.errors.size(), 11u) << all_errors(r);
}

TEST(ConfigInvalid, AppReferences) {
  const auto r =
      load(with_top("pools = ( { name = \"p1\"; prefix = \"198.51.100.0/25\"; },\n"
                    "          { name = \"p2\"; prefix = \"198.51.100.128/25\"; } );\n"
                    "services = ( { name = \"web\"; subnets = [\"198.18.1.0/24\"]; },\n"
                    "             { name = \"mail\"; subnets = [\"198.18.2.0/24\"]; } );\n"
                    "apps = (\n"
                    "  { id = \"a\"; services = [\"web\", \"wbe\"]; pool = \"p1\"; },\n"
                    "  { id = \"b\"; services = [\"web\"]; },\n"
                    "  { id = \"c\"; services = [\"web\"]; pool = \"p3\"; },\n"
                    "  { id = \"d\"; services = []; pool = \"p1\"; dns = [\"198.18.1.300\"]; "
                    "search_domains = [\"bad..example\"]; }\n"
                    ");\n"
                    "default_app = \"z\";\n"));
  EXPECT_TRUE(
      HasError(r, 12, "apps.[0].services.[1]", "unknown service \"wbe\" (defined: web, mail)"));
  EXPECT_TRUE(HasError(r, 13, "apps.[1].pool",
                       "missing; required when more than one pool is defined (defined: p1, p2)"));
  EXPECT_TRUE(HasError(r, 14, "apps.[2].pool", "unknown pool \"p3\" (defined: p1, p2)"));
  EXPECT_TRUE(HasError(r, 15, "apps.[3].services", "is empty"));
  EXPECT_TRUE(HasError(r, 15, "apps.[3].dns.[0]", "is not an IPv4 address"));
  EXPECT_TRUE(HasError(r, 15, "apps.[3].search_domains.[0]", "is not a domain name"));
  EXPECT_TRUE(HasError(r, 17, "default_app", "unknown app \"z\" (defined: a, b, c, d)"));
  EXPECT_EQ(r.errors.size(), 7u) << all_errors(r);
}

TEST(ConfigInvalid, AppsNeedAPool) {
  const auto r =
      load(with_top("services = ( { name = \"web\"; subnets = [\"198.18.1.0/24\"]; } );\n"
                    "apps = ( { id = \"a\"; services = [\"web\"]; } );\n"));
  EXPECT_TRUE(HasError(r, 8, "apps.[0].pool", "no address pool: `pools` is empty"));
}

TEST(ConfigInvalid, SchemaErrorsDoNotCascade) {
  // A rejected service name is not reported again as an unknown service, a rejected
  // prefix is not compared for overlaps.
  const auto r =
      load(with_top("pools = ( { name = \"p\"; prefix = \"192.0.2.0/33\"; } );\n"
                    "services = ( { name = \"bad name\"; subnets = [\"198.18.1.0/24\"]; } );\n"
                    "apps = ( { id = \"a\"; services = [\"bad name\"]; } );\n"));
  EXPECT_EQ(r.errors.size(), 2u) << all_errors(r);
  EXPECT_TRUE(HasError(r, 7, "pools.[0].prefix", "is not an IPv4 prefix"));
  EXPECT_TRUE(HasError(r, 8, "services.[0].name", "is not a service name"));
}

TEST(ConfigInvalid, TlsAndAuthRules) {
  const auto r =
      load(with_top("tls = {\n"
                    "  certificate = \"/nonexistent/server.pem\";\n"
                    "  second_key = \"/nonexistent/next.key\";\n"
                    "  min_version = \"1.1\";\n"
                    "};\n"
                    "auth = {\n"
                    "  methods = [\"password\", \"kerberos\", \"password\", \"token\"];\n"
                    "  user_claim = \"\";\n"
                    "};\n"));
  EXPECT_TRUE(HasError(r, 8, "tls.key", "missing; required because tls.certificate is set"));
  EXPECT_TRUE(HasError(r, 8, "tls.certificate",
                       "cannot read \"/nonexistent/server.pem\": No such file or directory"));
  EXPECT_TRUE(
      HasError(r, 9, "tls.second_certificate", "missing; required because tls.second_key is set"));
  EXPECT_TRUE(HasError(r, 9, "tls.second_key", "cannot read"));
  EXPECT_TRUE(HasError(r, 10, "tls.min_version",
                       "\"1.1\" is not a TLS version (expected \"1.2\" or \"1.3\")"));
  EXPECT_TRUE(
      HasError(r, 13, "auth.methods.[1]",
               "\"kerberos\" is not allowed (expected one of password, certificate, token)"));
  EXPECT_TRUE(HasError(r, 13, "auth.methods.[2]", "listed twice"));
  EXPECT_TRUE(HasError(r, 13, "auth.users_file",
                       "missing; required because auth.methods lists \"password\""));
  EXPECT_TRUE(
      HasError(r, 13, "auth.jwks", "missing; required because auth.methods lists \"token\""));
  EXPECT_TRUE(HasError(r, 14, "auth.user_claim", "is empty"));
  EXPECT_EQ(r.errors.size(), 10u) << all_errors(r);
}

TEST(ConfigInvalid, FilePathsMustBeReadableRegularFiles) {
  EXPECT_TRUE(HasError(load(with_top("auth = { crl = \"/\"; };")), 7, "auth.crl",
                       "cannot read \"/\": not a regular file"));
  EXPECT_TRUE(HasError(
      load(with_top("auth = { methods = [\"certificate\"]; ca = \"/nonexistent/ca.pem\"; };")), 7,
      "auth.ca", "No such file or directory"));
  if (::geteuid() != 0) {  // root reads anything: permission is only testable as a user
    char dir_template[] = "/tmp/tg-config-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    const std::string path = std::string(dir_template) + "/secret.key";
    std::ofstream(path) << "x";
    ::chmod(path.c_str(), 0);
    EXPECT_TRUE(HasError(
        load(with_top("tls = { certificate = \"" + path + "\"; key = \"" + path + "\"; };")), 7,
        "tls.key", "Permission denied"));
    std::remove(path.c_str());
    ::rmdir(dir_template);
  }
}

TEST(ConfigInvalid, MetricsListenForms) {
  for (const char* listen :
       {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "localhost:", ":9810", "example.com:9810",
        "::1:9810", "[127.0.0.1]:9810", "[::1]9810", "127.0.0.1:09810"}) {
    EXPECT_TRUE(HasError(load(with_top("metrics = { listen = \"" + std::string(listen) + "\"; };")),
                         7, "metrics.listen", "is not a listen address"))
        << listen;
  }
}

TEST(ConfigInvalid, AdminSocketAndGroup) {
  for (const char* socket : {"", "relative.sock", "/run/tunnelgate-controlplane/"}) {
    EXPECT_TRUE(HasError(load(with_top("admin = { socket = \"" + std::string(socket) + "\"; };")),
                         7, "admin.socket", ""))
        << socket;
  }
  EXPECT_TRUE(HasError(load(with_top("admin = { socket = \"/" + std::string(107, 'a') + "\"; };")),
                       7, "admin.socket", "a Unix socket path has at most 107"));
  EXPECT_TRUE(HasError(load(with_top("admin = { socket = 5; };")), 7, "admin.socket", ""));
  for (const char* group : {"-wheel", "has space", "a/b"}) {
    EXPECT_TRUE(HasError(load(with_top("admin = { group = \"" + std::string(group) + "\"; };")),
                         7, "admin.group", "is not a group name"))
        << group;
  }
  EXPECT_TRUE(HasError(load(with_top("admin = { sockett = \"/x\"; };")), 7, "admin.sockett", ""));
}

TEST(ConfigInvalid, InstanceAndIdFormats) {
  EXPECT_TRUE(
      HasError(load(with_top("instance = \"TG0\";")), 7, "instance", "is not an instance name"));
  EXPECT_TRUE(
      HasError(load(with_top("instance = \"\";")), 7, "instance", "is not an instance name"));
  EXPECT_TRUE(HasError(load(with_top("instance = \"abcdefghijklmnopqrstuvwxy\";")), 7, "instance",
                       "is not an instance name"));
  EXPECT_TRUE(HasError(
      load(with_top("pools = ( { name = \"p\"; prefix = \"198.51.100.0/24\"; } );\n"
                    "services = ( { name = \"s\"; subnets = [\"198.18.1.0/24\"]; } );\n"
                    "apps = ( { id = \"has space\"; group = \"\"; services = [\"s\"]; } );")),
      9, "apps.[0].id", "is not an app id"));
}

TEST(ConfigInvalid, ManyErrorsAreAllReportedInLineOrder) {
  const auto r = load(
      "instance = \"Bad!\";\n"                                          // 1
      "dataplane = {\n"                                                 // 2
      "  lcores = [0];\n"                                               // 3  == main_lcore 0
      "  mbufs = 12;\n"                                                 // 4
      "  ports = (\n"                                                   // 5
      "    { name = \"o\"; role = \"outside\"; device = \"d\";\n"       // 6
      "      address = \"192.0.2.1/24\"; },\n"                          // 7
      "    { name = \"i\"; role = \"inside\"; device = \"e\";\n"        // 8
      "      address = \"192.0.2.200/24\"; }\n"                         // 9  overlaps
      "  );\n"                                                          // 10
      "};\n"                                                            // 11
      "listeners = { tls_port = 0; dtls_prt = 443; };\n"                // 12 range + typo
      "pools = ( { name = \"p\"; prefix = \"198.51.100.0/24\"; } );\n"  // 13
      "default_app = \"nope\";\n"                                       // 14
      "metrics = { listen = \"nowhere\"; };\n");                        // 15
  const std::vector<std::pair<int, std::string>> expected = {
      {1, "instance"},
      {3, "dataplane.lcores.[0]"},
      {4, "dataplane.mbufs"},
      {9, "dataplane.ports.[1].address"},
      {12, "listeners.tls_port"},
      {12, "listeners.dtls_prt"},
      {14, "default_app"},
      {15, "metrics.listen"},
  };
  ASSERT_EQ(r.errors.size(), expected.size()) << all_errors(r);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(r.errors[i].line, expected[i].first) << all_errors(r);
    EXPECT_EQ(r.errors[i].key, expected[i].second) << all_errors(r);
  }
  EXPECT_FALSE(r.config.has_value());
}

}  // namespace
}  // namespace tg::config::test
