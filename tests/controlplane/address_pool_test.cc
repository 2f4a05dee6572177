// controlplane/address_pool: degenerate prefixes and bad releases first, then exhaustion,
// and a randomized comparison with a naive reference (a std::set of free addresses).
#include "controlplane/address_pool.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace tg::controlplane {
namespace {

constexpr uint32_t ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}

TEST(AddressPool, TooSmallPrefixesHaveNoAddresses) {
  for (uint8_t len : {31, 32}) {
    AddressPool p("p", ip(10, 0, 0, 0), len);
    EXPECT_EQ(p.size(), 0u);
    EXPECT_FALSE(p.allocate());
  }
  AddressPool p30("p", ip(10, 0, 0, 0), 30);
  EXPECT_EQ(p30.size(), 1u);
  EXPECT_EQ(p30.allocate(), ip(10, 0, 0, 2));
  EXPECT_FALSE(p30.allocate());
}

TEST(AddressPool, ReservedAndForeignAddressesAreRefused) {
  AddressPool p("p", ip(10, 1, 2, 77), 24);  // host bits ignored
  EXPECT_EQ(p.network(), ip(10, 1, 2, 0));
  EXPECT_EQ(p.netmask(), ip(255, 255, 255, 0));
  EXPECT_EQ(p.gateway_address(), ip(10, 1, 2, 1));
  for (uint32_t a : {ip(10, 1, 2, 0), ip(10, 1, 2, 1), ip(10, 1, 2, 255), ip(10, 1, 3, 5), 0u,
                     0xffffffffu}) {
    EXPECT_FALSE(p.allocate_specific(a)) << a;
    EXPECT_FALSE(p.release(a)) << a;
  }
  EXPECT_FALSE(p.release(ip(10, 1, 2, 9)));  // never allocated
  EXPECT_EQ(p.in_use(), 0u);
}

TEST(AddressPool, ExhaustionAndRelease) {
  AddressPool p("p", ip(192, 168, 0, 0), 24);
  ASSERT_EQ(p.size(), 253u);
  std::set<uint32_t> got;
  while (auto a = p.allocate()) {
    EXPECT_GE(*a, ip(192, 168, 0, 2));
    EXPECT_LE(*a, ip(192, 168, 0, 254));
    EXPECT_TRUE(got.insert(*a).second);
  }
  EXPECT_EQ(got.size(), 253u);
  EXPECT_EQ(p.in_use(), 253u);
  EXPECT_TRUE(p.release(ip(192, 168, 0, 100)));
  EXPECT_FALSE(p.release(ip(192, 168, 0, 100)));
  EXPECT_EQ(p.allocate(), ip(192, 168, 0, 100));
  EXPECT_FALSE(p.allocate());
}

TEST(AddressPool, MatchesANaiveReference) {
  std::mt19937 rng(12345);
  for (uint8_t len : {30, 29, 26, 23, 20}) {
    SCOPED_TRACE(static_cast<int>(len));
    AddressPool p("p", ip(100, 64, 0, 0), len);
    const uint32_t first = ip(100, 64, 0, 2);
    const uint32_t last = ip(100, 64, 0, 0) + (1u << (32 - len)) - 2;
    std::set<uint32_t> free_ref, used_ref;
    for (uint32_t a = first; a <= last; ++a) free_ref.insert(a);
    ASSERT_EQ(p.size(), free_ref.size());
    for (int step = 0; step < 20000; ++step) {
      const int op = static_cast<int>(rng() % 10);
      if (op < 5) {
        const auto a = p.allocate();
        if (free_ref.empty()) {
          EXPECT_FALSE(a);
        } else {
          ASSERT_TRUE(a);
          ASSERT_EQ(free_ref.erase(*a), 1u) << "handed out an address that was not free";
          used_ref.insert(*a);
        }
      } else if (op < 9 && !used_ref.empty()) {
        auto it = used_ref.begin();
        std::advance(it, rng() % used_ref.size());
        ASSERT_TRUE(p.release(*it));
        free_ref.insert(*it);
        used_ref.erase(it);
      } else {
        const uint32_t a = ip(100, 64, 0, 0) + rng() % (1u << (32 - len));
        const bool expect_ok = free_ref.count(a) != 0;
        ASSERT_EQ(p.allocate_specific(a), expect_ok);
        if (expect_ok) {
          free_ref.erase(a);
          used_ref.insert(a);
        }
      }
      ASSERT_EQ(p.in_use(), used_ref.size());
    }
    for (uint32_t a : used_ref) EXPECT_TRUE(p.in_use_address(a));
  }
}

}  // namespace
}  // namespace tg::controlplane
