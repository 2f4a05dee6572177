#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "dataplane/neighbour_table.h"

namespace tg::dp {
namespace {

MacAddr mac_of(uint32_t v) {
  MacAddr m{};
  for (int i = 0; i < 4; i++) m.b[2 + i] = static_cast<uint8_t>(v >> (8 * i));
  m.b[0] = 0x02;
  return m;
}

TEST(NeighbourTable, FullTableRefusesInsertsButFindsOldKeys) {
  NeighbourTable t(16);
  std::vector<int32_t> idx;
  for (uint32_t ip = 1;; ip++) {
    int32_t i = t.find_or_insert(0, ip);
    if (i < 0) break;
    idx.push_back(i);
    ASSERT_LT(ip, 100u) << "table never filled";
  }
  EXPECT_EQ(idx.size(), 12u);  // 3/4 of 16
  for (uint32_t ip = 1; ip <= idx.size(); ip++) EXPECT_EQ(t.find(0, ip), idx[ip - 1]);
  EXPECT_EQ(t.find(0, 999), -1);
}

TEST(NeighbourTable, PortIsPartOfTheKey) {
  NeighbourTable t(64);
  int32_t a = t.find_or_insert(0, 42);
  int32_t b = t.find_or_insert(1, 42);
  EXPECT_NE(a, b);
  t.learn(a, mac_of(1), 100);
  EXPECT_TRUE(t.read(a).resolved);
  EXPECT_FALSE(t.read(b).resolved);
}

TEST(NeighbourTable, LearnInvalidateAndRequestClaims) {
  NeighbourTable t(64);
  int32_t i = t.find_or_insert(0, 7);
  EXPECT_FALSE(t.read(i).resolved);
  EXPECT_TRUE(t.claim_request(i, 1000, 500));
  EXPECT_FALSE(t.claim_request(i, 1200, 500));  // within the interval
  EXPECT_TRUE(t.claim_request(i, 1600, 500));
  EXPECT_EQ(t.unanswered_requests(i), 2u);
  t.learn(i, mac_of(0xabcdef), 2000);
  NeighbourView v = t.read(i);
  EXPECT_TRUE(v.resolved);
  EXPECT_EQ(v.confirmed_tsc, 2000u);
  EXPECT_EQ(v.mac.b[2], 0xef);
  EXPECT_EQ(t.unanswered_requests(i), 0u);
  EXPECT_EQ(t.count_resolved(), 1u);
  t.invalidate(i);
  EXPECT_FALSE(t.read(i).resolved);
  EXPECT_EQ(t.count_resolved(), 0u);
}

// Against a deliberately naive reference (std::map) with random operations.
TEST(NeighbourTable, MatchesNaiveReference) {
  NeighbourTable t(1024);
  std::map<std::pair<uint16_t, uint32_t>, uint32_t> ref;  // key -> mac value
  std::mt19937 rng(1234);
  for (int op = 0; op < 20000; op++) {
    const uint16_t port = static_cast<uint16_t>(rng() % 3);
    const uint32_t ip = rng() % 600;
    if (rng() % 2) {
      int32_t i = t.find_or_insert(port, ip);
      if (ref.size() < 768 || ref.count({port, ip})) {
        ASSERT_GE(i, 0);
        const uint32_t mac = static_cast<uint32_t>(rng());
        t.learn(i, mac_of(mac), 1);
        ref[{port, ip}] = mac;
      }
    } else {
      int32_t i = t.find(port, ip);
      auto it = ref.find({port, ip});
      ASSERT_EQ(i >= 0, it != ref.end());
      if (i >= 0) {
        NeighbourView v = t.read(i);
        ASSERT_TRUE(v.resolved);
        MacAddr want = mac_of(it->second);
        ASSERT_EQ(0, std::memcmp(v.mac.b, want.b, 6));
      }
    }
  }
}

// Readers never see a torn MAC while writers on other threads update the same entry.
TEST(NeighbourTable, ConcurrentReadersSeeWholeEntries) {
  NeighbourTable t(64);
  const int32_t i = t.find_or_insert(0, 1);
  t.learn(i, mac_of(0), 1);
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; w++) {
    writers.emplace_back([&, w] {
      for (uint32_t n = 0; !stop.load(std::memory_order_relaxed); n++) {
        // MAC bytes all equal, so a mix of two writes shows as unequal bytes.
        const uint8_t v = static_cast<uint8_t>(n * 2 + w);
        MacAddr m;
        for (auto& b : m.b) b = v;
        t.learn(i, m, n);
      }
    });
  }
  for (int r = 0; r < 200000; r++) {
    NeighbourView v = t.read(i);
    if (v.confirmed_tsc == 1) continue;  // the initial value
    for (int b = 1; b < 6; b++) ASSERT_EQ(v.mac.b[b], v.mac.b[0]);
  }
  stop = true;
  for (auto& w : writers) w.join();
}

// Concurrent inserts of overlapping keys give one index per key.
TEST(NeighbourTable, ConcurrentInsertsAgree) {
  NeighbourTable t(4096);
  std::vector<std::vector<int32_t>> got(4, std::vector<int32_t>(1000));
  std::vector<std::thread> th;
  for (int k = 0; k < 4; k++) {
    th.emplace_back([&, k] {
      for (uint32_t ip = 0; ip < 1000; ip++) got[k][ip] = t.find_or_insert(0, ip);
    });
  }
  for (auto& x : th) x.join();
  for (uint32_t ip = 0; ip < 1000; ip++) {
    ASSERT_GE(got[0][ip], 0);
    for (int k = 1; k < 4; k++) ASSERT_EQ(got[k][ip], got[0][ip]);
  }
}

}  // namespace
}  // namespace tg::dp
