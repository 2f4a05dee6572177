#include <gtest/gtest.h>

#include "config/config.h"
#include "dataplane/eal_args.h"
#include "dataplane/route_table.h"

namespace tg::dp {
namespace {

config::Config load(const std::string& text) {
  config::LoadResult r = config::config_load_string(text, "test.conf");
  for (const auto& e : r.errors) ADD_FAILURE() << e.to_string();
  return r.ok() ? *r.config : config::Config{};
}

const char* kTwoPorts = R"(
instance = "t1";
dataplane = {
  eal_args = ["--no-huge", "-m", "512"];
  main_lcore = 0;
  lcores = [1, 2];
  ports = (
    { name = "outside"; role = "outside"; device = "net_af_packet0,iface=o"; address = "192.0.2.1/24"; gateway = "192.0.2.254"; },
    { name = "inside"; role = "inside"; device = "0000:03:00.1"; address = "198.18.0.1/24"; }
  );
  routes = ( { prefix = "198.18.1.0/24"; via = "198.18.0.2"; } );
};
)";

TEST(EalArgs, DeviceNames) {
  EXPECT_EQ(port_device_name("net_af_packet0,iface=x,qpairs=2"), "net_af_packet0");
  EXPECT_EQ(port_device_name("0000:03:00.0"), "0000:03:00.0");
  EXPECT_TRUE(port_device_is_vdev("net_tap0,iface=t"));
  EXPECT_FALSE(port_device_is_vdev("0000:03:00.0"));
}

TEST(EalArgs, BuildsLcoresDevicesAndExtras) {
  const config::Config cfg = load(kTwoPorts);
  const auto argv = eal_argv(cfg, "prog", {"--log-level=8"});
  const std::vector<std::string> want = {"prog", "-l", "0,1,2", "--main-lcore", "0",
                                         "--vdev=net_af_packet0,iface=o,qpairs=2", "-a", "0000:03:00.1",
                                         "--vdev=net_tun_exc,iface=tg-exc",
                                         "--no-huge", "-m", "512", "--log-level=8"};
  EXPECT_EQ(argv, want);
}

TEST(EalArgs, NoPciWhenOnlyVirtualPorts) {
  config::Config cfg = load(kTwoPorts);
  cfg.dataplane.ports.pop_back();
  cfg.dataplane.ports[0].device = "net_af_packet0,iface=o,qpairs=4";
  const auto argv = eal_argv(cfg, "prog", {});
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--no-pci"), argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--vdev=net_af_packet0,iface=o,qpairs=4"), argv.end());
}

TEST(RoutesFromConfig, ConnectedDefaultAndStatic) {
  const config::Config cfg = load(kTwoPorts);
  const auto routes = routes_from_config(cfg);
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[0].prefix, 0xC0000200u);  // 192.0.2.0/24 connected on outside
  EXPECT_EQ(routes[0].len, 24);
  EXPECT_EQ(routes[0].nexthop.port, 0);
  EXPECT_EQ(routes[0].nexthop.gateway, 0u);
  EXPECT_EQ(routes[1].len, 0);               // default via the outside gateway
  EXPECT_EQ(routes[1].nexthop.gateway, 0xC00002FEu);
  EXPECT_EQ(routes[2].prefix, 0xC6120000u);  // 198.18.0.0/24 connected on inside
  EXPECT_EQ(routes[2].nexthop.port, 1);
  EXPECT_EQ(routes[3].prefix, 0xC6120100u);  // static, via 198.18.0.2 on inside
  EXPECT_EQ(routes[3].nexthop.port, 1);
  EXPECT_EQ(routes[3].nexthop.gateway, 0xC6120002u);
}

}  // namespace
}  // namespace tg::dp
