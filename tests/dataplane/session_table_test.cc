#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <vector>

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
// The slots kept in the caller's records (as DtlsSlot::bound, tunnel_setup): a 64-byte
// record per address with the slot at byte 8, the rest a pattern that must stay as it is.
struct Record {
  uint64_t before;
  std::atomic<uint64_t> slot{0};
  uint8_t after[48];
};
static_assert(sizeof(Record) == 64);

void matches_naive_reference(SessionTable& t) {
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

TEST(SessionTable, MatchesNaiveReference) {
  SessionTable t(pools());
  matches_naive_reference(t);
}

TEST(SessionTable, MatchesNaiveReferenceInTheCallersRecords) {
  const uint32_t n = SessionTable::capacity_of(pools());
  ASSERT_EQ(n, 256u + 4u);
  std::vector<Record> records(n);
  for (Record& r : records) {
    r.before = 0x5a5a5a5a5a5a5a5a;
    std::memset(r.after, 0xa5, sizeof r.after);
  }
  SessionTable t(pools(), &records[0].slot, sizeof(Record));
  EXPECT_EQ(t.capacity(), n);
  // Slots run on across pools, each in its own record.
  EXPECT_EQ(t.slot_index(0x0A080000), 256u);
  EXPECT_EQ(t.slot_ref(256), &records[256].slot);
  EXPECT_EQ(t.slot_ref(n), nullptr);
  EXPECT_EQ(t.slot_ref(SessionTable::kNoSlot), nullptr);
  const SessionRef a{3, 77};
  ASSERT_TRUE(t.bind(0x0A080003, a));
  EXPECT_EQ(records[259].slot.load(), a.pack());
  ASSERT_TRUE(t.unbind(0x0A080003, a));
  matches_naive_reference(t);
  // Nothing else in a record changed.
  for (const Record& r : records) {
    EXPECT_EQ(r.before, 0x5a5a5a5a5a5a5a5au);
    for (uint8_t b : r.after) ASSERT_EQ(b, 0xa5);
  }
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
