// dataplane/flow_table: the lcore's DTLS flow table against std::unordered_map under random
// adds, replaces and removes, on a table small enough that keys share and overflow buckets;
// its bounds (capacity, the reserved key bit); bulk lookups equal single ones.
#include "dataplane/flow_table.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

namespace tg::dp {
namespace {

struct Table {
  explicit Table(uint32_t capacity, uint64_t seed = 0x1234)
      : mem(static_cast<char*>(std::aligned_alloc(64, FlowTable::bytes_for(capacity))), &std::free),
        table((std::fill_n(mem.get(), FlowTable::bytes_for(capacity), 0), mem.get()), capacity, seed) {}
  std::unique_ptr<char, decltype(&std::free)> mem;
  FlowTable table;
};

// A client flow key as dtls_path builds it: address, port, 16 zero bits.
uint64_t flow(uint32_t ip, uint16_t port) { return uint64_t{ip} | uint64_t{port} << 32; }

// Test that the table is sized at least half empty, in whole lines.
TEST(FlowTable, SizedAtMostHalfFull) {
  for (uint32_t cap : {0u, 1u, 2u, 7u, 64u, 1000u, 262144u}) {
    const uint32_t b = FlowTable::buckets_for(cap);
    EXPECT_GE(uint64_t{b} * FlowTable::kWays, uint64_t{cap} * 2) << cap;
    EXPECT_EQ(b & (b - 1), 0u) << cap;
    EXPECT_EQ(FlowTable::bytes_for(cap), size_t{b} * 64) << cap;
  }
}

// Test that random adds (new and replacing), removes and lookups always agree with a
// reference map: 64 keys competing for a table of 16 (8 buckets of 4 entries), so that
// keys crowd their home buckets and probe past them.
TEST(FlowTable, AgreesWithAReferenceMap) {
  for (uint64_t seed : {1ull, 2ull, 0xdeadbeefull}) {
    Table t(16, seed);
    std::unordered_map<uint64_t, uint32_t> ref;
    std::mt19937_64 rng(seed);
    std::vector<uint64_t> universe;
    for (uint32_t i = 0; i < 64; i++) universe.push_back(flow(0xc0000200u + i, static_cast<uint16_t>(40000 + i)));
    for (int step = 0; step < 20000; step++) {
      const uint64_t k = universe[rng() % universe.size()];
      const uint32_t slot = static_cast<uint32_t>(rng() % 1000);
      switch (rng() % 3) {
        case 0: {
          const bool fits = ref.count(k) != 0 || ref.size() < 16;
          ASSERT_EQ(t.table.add(k, slot), fits) << "step " << step;
          if (fits) ref[k] = slot;
          break;
        }
        case 1:
          ASSERT_EQ(t.table.remove(k), ref.erase(k) == 1) << "step " << step;
          break;
        default: {
          auto it = ref.find(k);
          ASSERT_EQ(t.table.lookup(k), it == ref.end() ? FlowTable::kMiss : it->second) << "step " << step;
        }
      }
      ASSERT_EQ(t.table.size(), ref.size());
    }
    // Every key, at the end, and the same through the bulk lookup.
    std::vector<uint32_t> bulk(universe.size());
    t.table.lookup_bulk(universe.data(), static_cast<unsigned>(universe.size()), bulk.data());
    for (size_t i = 0; i < universe.size(); i++) {
      auto it = ref.find(universe[i]);
      const uint32_t want = it == ref.end() ? FlowTable::kMiss : it->second;
      EXPECT_EQ(t.table.lookup(universe[i]), want);
      EXPECT_EQ(bulk[i], want);
    }
    // Emptied, every bucket's overflow count is back at 0: a miss reads one line again.
    for (const auto& [k, v] : ref) EXPECT_TRUE(t.table.remove(k));
    EXPECT_EQ(t.table.size(), 0u);
    const auto* b = reinterpret_cast<const FlowTable::Bucket*>(t.mem.get());
    for (uint32_t i = 0; i < FlowTable::buckets_for(16); i++) EXPECT_EQ(b[i].overflow, 0u) << "bucket " << i;
  }
}

// Test that a full table refuses a new key (counted by the caller) but still replaces the
// slot of a key it holds, and takes a new one once one is removed.
TEST(FlowTable, FullRefusesNewKeysOnly) {
  Table t(4);
  for (uint32_t i = 0; i < 4; i++) ASSERT_TRUE(t.table.add(flow(0x0a000001u + i, 1), i));
  EXPECT_FALSE(t.table.add(flow(0x0a0000ffu, 1), 9));
  EXPECT_TRUE(t.table.add(flow(0x0a000001u, 1), 7));
  EXPECT_EQ(t.table.lookup(flow(0x0a000001u, 1)), 7u);
  EXPECT_TRUE(t.table.remove(flow(0x0a000002u, 1)));
  EXPECT_TRUE(t.table.add(flow(0x0a0000ffu, 1), 9));
  EXPECT_EQ(t.table.lookup(flow(0x0a0000ffu, 1)), 9u);
  EXPECT_EQ(t.table.size(), 4u);
}

// Test that keys with the reserved top bit are refused and never found (an empty entry is
// 0 and a stored key carries the bit: such a key could alias a stored one).
TEST(FlowTable, ReservedBitKeysAreRefused) {
  Table t(8);
  const uint64_t k = flow(0x0a000001u, 443);
  ASSERT_TRUE(t.table.add(k, 5));
  EXPECT_FALSE(t.table.add(k | FlowTable::kUsed, 6));
  EXPECT_FALSE(t.table.remove(k | FlowTable::kUsed));
  EXPECT_EQ(t.table.lookup(k | FlowTable::kUsed), FlowTable::kMiss);
  uint64_t keys[2] = {k | FlowTable::kUsed, k};
  uint32_t slots[2];
  t.table.lookup_bulk(keys, 2, slots);
  EXPECT_EQ(slots[0], FlowTable::kMiss);
  EXPECT_EQ(slots[1], 5u);
  EXPECT_EQ(t.table.lookup(0), FlowTable::kMiss) << "an empty entry is not key 0";
}

// Test a bulk lookup longer than its internal chunk (dtls_path asks for a burst of 32).
TEST(FlowTable, BulkLookupOfManyKeys) {
  Table t(1000);
  std::vector<uint64_t> keys;
  for (uint32_t i = 0; i < 300; i++) {
    keys.push_back(flow(0xc6120000u + i, static_cast<uint16_t>(i)));
    if (i % 3 != 0) {
      ASSERT_TRUE(t.table.add(keys.back(), i));
    }
  }
  std::vector<uint32_t> slots(keys.size());
  t.table.lookup_bulk(keys.data(), static_cast<unsigned>(keys.size()), slots.data());
  for (uint32_t i = 0; i < keys.size(); i++) EXPECT_EQ(slots[i], i % 3 != 0 ? i : FlowTable::kMiss) << i;
}

}  // namespace
}  // namespace tg::dp
