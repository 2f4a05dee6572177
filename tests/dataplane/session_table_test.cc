#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "dataplane/session_table.h"

namespace tg::dp {
namespace {

std::vector<config::PoolConfig> pools() {
  std::vector<config::PoolConfig> p(2);
  p[0].name = "a";
  p[0].prefix = *config::parse_prefix("198.51.100.0/24");
  p[1].name = "b";
  p[1].prefix = *config::parse_prefix("10.8.0.0/30");
  return p;
}

TEST(SessionTable, RejectsNonPoolAddressesAndZeroTags) {
  SessionTable t(pools());
  EXPECT_FALSE(t.bind(0xC6336500, {0, 1}));  // 198.51.101.0: just past pool a
  EXPECT_FALSE(t.bind(0x0A080004, {0, 1}));  // 10.8.0.4: just past pool b
  EXPECT_FALSE(t.bind(0xC6336402, {0, 0}));  // tag 0 means "free"
  EXPECT_EQ(t.slot_index(0xC63363FF), SessionTable::kNoSlot);
  EXPECT_NE(t.slot_index(0xC6336400), SessionTable::kNoSlot);
  EXPECT_NE(t.slot_index(0x0A080003), SessionTable::kNoSlot);
  EXPECT_EQ(t.lookup(0x01020304), 0u);
}

TEST(SessionTable, BindIsExclusiveAndUnbindNeedsTheOwner) {
  SessionTable t(pools());
  const SessionRef a{1, 7}, b{2, 9};
  ASSERT_TRUE(t.bind(0xC6336402, a));
  EXPECT_FALSE(t.bind(0xC6336402, b));
  EXPECT_EQ(t.lookup(0xC6336402), a.pack());
  EXPECT_FALSE(t.unbind(0xC6336402, b));  // a stale close cannot free someone else's address
  EXPECT_TRUE(t.unbind(0xC6336402, a));
  EXPECT_EQ(t.lookup(0xC6336402), 0u);
  EXPECT_EQ(SessionRef::unpack(b.pack()).worker, 2);
  EXPECT_EQ(SessionRef::unpack(b.pack()).tag, 9u);
}

// Against a naive reference (std::map) with random operations.
TEST(SessionTable, MatchesNaiveReference) {
  SessionTable t(pools());
  std::map<uint32_t, uint64_t> ref;
  std::mt19937 rng(99);
  for (int i = 0; i < 20000; i++) {
    const uint32_t addr = (rng() % 2 ? 0xC6336400 : 0x0A080000) + rng() % 300;
    const SessionRef s{static_cast<uint16_t>(rng() % 4), 1 + rng() % 5};
    const bool in = (addr >= 0xC6336400 && addr <= 0xC63364FF) || (addr >= 0x0A080000 && addr <= 0x0A080003);
    switch (rng() % 3) {
      case 0: {
        const bool want = in && !ref.count(addr);
        ASSERT_EQ(t.bind(addr, s), want);
        if (want) ref[addr] = s.pack();
        break;
      }
      case 1: {
        const bool want = ref.count(addr) && ref[addr] == s.pack();
        ASSERT_EQ(t.unbind(addr, s), want);
        if (want) ref.erase(addr);
        break;
      }
      default:
        ASSERT_EQ(t.lookup(addr), ref.count(addr) ? ref[addr] : 0u);
    }
  }
  EXPECT_EQ(t.count_bound(), ref.size());
}

// Readers racing binders never see anything but 0 or a whole value.
TEST(SessionTable, ConcurrentBindAndLookup) {
  SessionTable t(pools());
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (uint64_t n = 1; !stop.load(std::memory_order_relaxed); n++) {
      const SessionRef s{static_cast<uint16_t>(n % 16), n};
      t.bind(0xC6336402, s);
      t.unbind(0xC6336402, s);
    }
  });
  for (int i = 0; i < 200000; i++) {
    const uint64_t v = t.lookup(0xC6336402);
    if (v != 0) {
      ASSERT_EQ(SessionRef::unpack(v).worker, SessionRef::unpack(v).tag % 16);
    }
  }
  stop = true;
  writer.join();
}

}  // namespace
}  // namespace tg::dp
