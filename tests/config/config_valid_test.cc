// Valid configurations: the shipped example, defaults, and the accepted edge forms.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "config_test_util.h"

namespace tg::config::test {
namespace {

// Set by tests/config/meson.build to config/examples/tunnelgate.conf in the source tree.
std::string example_path() {
  const char* path = std::getenv("TG_CONFIG_EXAMPLE");
  return path != nullptr ? path : "";
}

TEST(ConfigValid, ExampleFileLoads) {
  ASSERT_FALSE(example_path().empty()) << "TG_CONFIG_EXAMPLE is not set (run through meson test)";
  const auto r = config_load_file(example_path());
  ASSERT_TRUE(LoadsOk(r));
  const Config& c = *r.config;
  EXPECT_EQ(c.source_file, example_path());
  EXPECT_EQ(c.instance, "tg0");
  ASSERT_EQ(c.dataplane.ports.size(), 2u);
  EXPECT_EQ(c.dataplane.ports[0].role, PortConfig::Role::outside);
  EXPECT_EQ(to_string(c.dataplane.ports[0].address), "192.0.2.1/24");
  ASSERT_TRUE(c.dataplane.ports[0].gateway.has_value());
  EXPECT_EQ(to_string(*c.dataplane.ports[0].gateway), "192.0.2.254");
  EXPECT_EQ(c.dataplane.ports[1].role, PortConfig::Role::inside);
  EXPECT_FALSE(c.dataplane.ports[1].gateway.has_value());
  EXPECT_EQ(c.dataplane.eal_args, (std::vector<std::string>{"--no-huge", "-m", "512", "--no-pci"}));
  ASSERT_EQ(c.dataplane.routes.size(), 2u);
  EXPECT_EQ(to_string(c.dataplane.routes[1].prefix), "198.18.2.0/24");
  EXPECT_GT(c.dataplane.routes[1].pos.line, c.dataplane.routes[0].pos.line);
  EXPECT_EQ(c.dataplane.routes[0].pos.file, example_path());
  ASSERT_EQ(c.services.size(), 2u);
  ASSERT_EQ(c.services[0].ports.size(), 3u);
  EXPECT_EQ(c.services[0].ports[2].first, 5201);
  EXPECT_EQ(c.services[0].ports[2].last, 5210);
  ASSERT_EQ(c.apps.size(), 2u);
  EXPECT_EQ(c.apps[0].group, "Mail");
  EXPECT_EQ(c.apps[1].pool, "default") << "the only pool is the default pool";
  EXPECT_EQ(c.default_app, "com.example.mail");
  EXPECT_TRUE(c.auth.methods.empty());
}

TEST(ConfigValid, MinimalConfigGetsTheDefaults) {
  const auto r = load(kMinimal);
  ASSERT_TRUE(LoadsOk(r));
  const Config& c = *r.config;
  const Config defaults;
  EXPECT_EQ(c.source_file, kTestName);
  EXPECT_EQ(c.instance, defaults.instance);
  EXPECT_EQ(c.dataplane.lcores, std::vector<uint32_t>{1});
  EXPECT_EQ(c.dataplane.main_lcore, defaults.dataplane.main_lcore);
  EXPECT_EQ(c.dataplane.mbufs, defaults.dataplane.mbufs);
  EXPECT_EQ(c.dataplane.rx_desc, defaults.dataplane.rx_desc);
  EXPECT_EQ(c.dataplane.tx_desc, defaults.dataplane.tx_desc);
  EXPECT_EQ(c.dataplane.idle_sleep_us, 0u);
  EXPECT_EQ(c.dataplane.stage_sample, 16u);
  EXPECT_EQ(c.dataplane.tls_io, "auto");
  EXPECT_FALSE(c.dataplane.lab_forwarding);
  EXPECT_EQ(c.dataplane.neighbour.reachable_s, 300u);
  EXPECT_EQ(c.dataplane.neighbour.table_size, 4096u);
  EXPECT_EQ(c.listeners.tls_port, 443);
  EXPECT_EQ(c.listeners.dtls_port, 443);
  EXPECT_EQ(c.tls.min_version, "1.2");
  EXPECT_EQ(c.auth.user_claim, "upn");
  EXPECT_EQ(c.auth.app_claim, "appid");
  EXPECT_EQ(c.auth.clock_skew_s, 120u);
  EXPECT_EQ(c.metrics.listen, "127.0.0.1:9810");
  EXPECT_EQ(c.admin.socket, "/run/tunnelgate-controlplane/" + c.instance + ".sock");  // from the instance
  EXPECT_TRUE(c.admin.group.empty());
  EXPECT_EQ(c.limits.max_sessions, 10000u);
  EXPECT_EQ(c.limits.icmp_errors_per_second, 100u);
  EXPECT_EQ(c.limits.auth_failures_per_source, 20u);
  EXPECT_EQ(c.limits.auth_failure_window_s, 300u);
  EXPECT_EQ(c.limits.auth_source_prefix, 32u);
  EXPECT_EQ(c.limits.auth_sources_max, 65536u);
  EXPECT_TRUE(c.pools.empty());
  EXPECT_TRUE(c.apps.empty());
  ASSERT_EQ(c.dataplane.ports.size(), 1u);
  EXPECT_EQ(c.dataplane.ports[0].pos.line, 4);
}

TEST(ConfigValid, ServiceDefaultsAndAppGroup) {
  const auto r = load(kMinimal +
                      "pools = ( { name = \"p\"; prefix = \"198.51.100.0/24\"; } );\n"
                      "services = ( { name = \"all\"; subnets = [\"0.0.0.0/0\"]; } );\n"
                      "apps = ( { id = \"com.example.a\"; services = [\"all\"]; } );\n");
  ASSERT_TRUE(LoadsOk(r));
  EXPECT_EQ(r.config->services[0].protocols, (std::vector<std::string>{"tcp", "udp", "icmp"}));
  EXPECT_TRUE(r.config->services[0].ports.empty());
  EXPECT_EQ(r.config->apps[0].group, "com.example.a");
  EXPECT_EQ(r.config->apps[0].pool, "p");
}

TEST(ConfigValid, AcceptedEdgeForms) {
  // /31 and /32 port subnets have no network/broadcast address to avoid.
  EXPECT_TRUE(LoadsOk(
      load("dataplane = { lcores = [1, 2, 63]; main_lcore = 5; mbufs = 8191L; rx_desc = 0x40;\n"
           "  ports = ( { name = \"a\"; role = \"outside\"; device = \"d0\"; address = "
           "\"192.0.2.0/31\"; },\n"
           "            { name = \"b\"; role = \"inside\"; device = \"d1\"; address = "
           "\"198.18.0.9/32\"; } ); };\n"
           "services = ( { name = \"s\"; subnets = [\"198.18.1.0/24\"]; ports = [\"0\", "
           "\"0-65535\", \"443\"]; "
           "protocols = [\"icmp\"]; } );\n"
           "listeners = { tls_port = 65535; dtls_port = 1; };\n"
           "tls = { min_version = \"1.3\"; };\n"
           "limits = { icmp_errors_per_second = 0; auth_failures_per_source = 0; "
           "auth_failure_window_s = 86400; auth_source_prefix = 8; auth_sources_max = 16; };\n")));
  {
    const auto r = load(kMinimal + "instance = \"edge-1\";\n"
                        "admin = { socket = \"/var/run/tg/a.sock\"; group = \"tg-admin\"; };\n");
    ASSERT_TRUE(LoadsOk(r));
    EXPECT_EQ(r.config->admin.socket, "/var/run/tg/a.sock");
    EXPECT_EQ(r.config->admin.group, "tg-admin");
    const auto d = load(kMinimal + "instance = \"edge-1\";\nadmin = { group = \"\"; };\n");
    ASSERT_TRUE(LoadsOk(d));
    EXPECT_EQ(d.config->admin.socket, "/run/tunnelgate-controlplane/edge-1.sock");
  }
  for (const char* listen : {"0.0.0.0:1", "localhost:65535", "[::1]:9810", "[::]:9810"})
    EXPECT_TRUE(LoadsOk(load(kMinimal + "metrics = { listen = \"" + listen + "\"; };\n")))
        << listen;
}

TEST(ConfigValid, RelativeFilePathsAreResolvedAgainstTheConfigDirectory) {
  char dir_template[] = "/tmp/tg-config-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  std::ofstream(dir + "/server.pem") << "certificate";
  std::ofstream(dir + "/server.key") << "key";
  std::ofstream(dir + "/users") << "user";
  std::ofstream(dir + "/tunnelgate.conf")
      << kMinimal << "tls = { certificate = \"server.pem\"; key = \"" << dir
      << "/server.key\"; };\n"
      << "auth = { methods = [\"password\"]; users_file = \"users\"; };\n";
  const auto r = config_load_file(dir + "/tunnelgate.conf");
  ASSERT_TRUE(LoadsOk(r));
  EXPECT_EQ(r.config->tls.certificate, dir + "/server.pem");
  EXPECT_EQ(r.config->tls.key, dir + "/server.key");
  EXPECT_EQ(r.config->auth.users_file, dir + "/users");
  for (const char* name : {"server.pem", "server.key", "users", "tunnelgate.conf"})
    std::remove((dir + "/" + name).c_str());
  ::rmdir(dir.c_str());
}

TEST(ConfigValid, LoadingIsRepeatable) {
  // The loader keeps no state between calls: same text, same result.
  const auto first = load(kMinimal + "limits = { max_sessions = 0; };\n");
  const auto second = load(kMinimal + "limits = { max_sessions = 0; };\n");
  ASSERT_EQ(first.errors.size(), 1u);
  EXPECT_EQ(first.errors[0].to_string(), second.errors[0].to_string());
}

}  // namespace
}  // namespace tg::config::test
