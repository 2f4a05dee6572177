// api/shm_ring.h: bad input first (oversize, corrupt indices), then full/empty, wrap-around
// of the 32-bit indices, and a two-thread stress test with checksummed messages.
#include "api/shm_ring.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <thread>
#include <vector>

namespace tg::shm {
namespace {

using SmallRing = SpscRing<8, 64>;  // 8 slots of 56 message bytes

static_assert(offsetof(SmallRing, tail) - offsetof(SmallRing, head) == kCacheLine);
static_assert(offsetof(SmallRing, slots) == 2 * kCacheLine);

std::vector<uint8_t> msg(uint32_t seq, size_t len) {
  std::vector<uint8_t> m(len);
  for (size_t i = 0; i < len; ++i) m[i] = static_cast<uint8_t>(seq * 31 + i);
  return m;
}

struct Buffer {
  std::array<uint8_t, SmallRing::kMaxMessageBytes> bytes{};
  uint32_t length = 0;
};

TEST(ShmRing, OversizeMessageIsRefused) {
  auto r = std::make_unique<SmallRing>();
  r->init();
  EXPECT_FALSE(r->try_push(msg(0, SmallRing::kMaxMessageBytes + 1)));
  EXPECT_EQ(r->size(), 0u);
  EXPECT_TRUE(r->try_push(msg(0, SmallRing::kMaxMessageBytes)));
}

TEST(ShmRing, CorruptIndicesNeitherPushNorPop) {
  auto r = std::make_unique<SmallRing>();
  r->init(100);
  r->head.store(100 + SmallRing::kCapacity + 1);  // a peer wrote garbage
  EXPECT_TRUE(r->corrupt());
  Buffer b;
  EXPECT_FALSE(r->try_pop(b.bytes, b.length));
  EXPECT_FALSE(r->try_push(msg(1, 4)));
  EXPECT_EQ(r->size(), SmallRing::kCapacity);
}

TEST(ShmRing, CorruptSlotLengthIsClamped) {
  auto r = std::make_unique<SmallRing>();
  r->init();
  ASSERT_TRUE(r->try_push(msg(1, 4)));
  r->slots[0].length = 0xffffffffu;  // a peer wrote garbage into the slot
  Buffer b;
  ASSERT_TRUE(r->try_pop(b.bytes, b.length));
  EXPECT_EQ(b.length, SmallRing::kMaxMessageBytes);
}

TEST(ShmRing, EmptyThenFullThenEmpty) {
  auto r = std::make_unique<SmallRing>();
  r->init();
  Buffer b;
  EXPECT_FALSE(r->try_pop(b.bytes, b.length));
  for (uint32_t i = 0; i < SmallRing::kCapacity; ++i) ASSERT_TRUE(r->try_push(msg(i, 1 + i)));
  EXPECT_EQ(r->size(), SmallRing::kCapacity);
  EXPECT_FALSE(r->try_push(msg(99, 1)));
  for (uint32_t i = 0; i < SmallRing::kCapacity; ++i) {
    ASSERT_TRUE(r->try_pop(b.bytes, b.length));
    EXPECT_EQ(std::vector<uint8_t>(b.bytes.begin(), b.bytes.begin() + b.length), msg(i, 1 + i));
  }
  EXPECT_FALSE(r->try_pop(b.bytes, b.length));
  EXPECT_EQ(r->size(), 0u);
  EXPECT_FALSE(r->corrupt());
}

TEST(ShmRing, ZeroLengthMessage) {
  auto r = std::make_unique<SmallRing>();
  r->init();
  ASSERT_TRUE(r->try_push({}));
  Buffer b;
  b.length = 77;
  ASSERT_TRUE(r->try_pop(b.bytes, b.length));
  EXPECT_EQ(b.length, 0u);
}

// Indices start just below 2^32 so head and tail wrap while the ring is full and half full.
TEST(ShmRing, WrapsAroundAt2To32) {
  for (uint32_t start : {std::numeric_limits<uint32_t>::max() - 3, std::numeric_limits<uint32_t>::max(),
                         std::numeric_limits<uint32_t>::max() - SmallRing::kCapacity}) {
    SCOPED_TRACE(start);
    auto r = std::make_unique<SmallRing>();
    r->init(start);
    Buffer b;
    uint32_t pushed = 0, popped = 0;
    for (int round = 0; round < 5; ++round) {
      while (r->try_push(msg(pushed, 8))) ++pushed;
      EXPECT_EQ(r->size(), SmallRing::kCapacity);
      for (int k = 0; k < 3; ++k) {
        ASSERT_TRUE(r->try_pop(b.bytes, b.length));
        EXPECT_EQ(std::vector<uint8_t>(b.bytes.begin(), b.bytes.begin() + b.length), msg(popped, 8));
        ++popped;
      }
    }
    while (r->try_pop(b.bytes, b.length)) {
      EXPECT_EQ(std::vector<uint8_t>(b.bytes.begin(), b.bytes.begin() + b.length), msg(popped, 8));
      ++popped;
    }
    EXPECT_EQ(pushed, popped);
    EXPECT_LT(r->head.load(), start);  // the index really wrapped
  }
}

// One producer thread, one consumer thread; every message carries its sequence number, a
// length that varies and a checksum. Nothing lost, duplicated, reordered or torn.
TEST(ShmRing, TwoThreadStressWithChecksums) {
  using Ring = SpscRing<16, 256>;
  auto r = std::make_unique<Ring>();
  r->init(std::numeric_limits<uint32_t>::max() - 1000);
  constexpr uint32_t kMessages = 200000;
  std::thread producer([&] {
    std::vector<uint8_t> m(Ring::kMaxMessageBytes);
    for (uint32_t seq = 0; seq < kMessages;) {
      const size_t len = 8 + seq % (Ring::kMaxMessageBytes - 8);
      std::memcpy(m.data(), &seq, 4);
      uint32_t sum = 0;
      for (size_t i = 8; i < len; ++i) {
        m[i] = static_cast<uint8_t>(seq ^ i);
        sum += m[i];
      }
      std::memcpy(m.data() + 4, &sum, 4);
      if (r->try_push(std::span<const uint8_t>(m.data(), len))) {
        ++seq;
      } else {
        std::this_thread::yield();
      }
    }
  });
  std::array<uint8_t, Ring::kMaxMessageBytes> out{};
  uint32_t len = 0;
  uint32_t expected = 0;
  uint64_t bad = 0;
  while (expected < kMessages) {
    if (!r->try_pop(out, len)) {
      std::this_thread::yield();
      continue;
    }
    uint32_t seq = 0, sum = 0, check = 0;
    std::memcpy(&seq, out.data(), 4);
    std::memcpy(&sum, out.data() + 4, 4);
    for (size_t i = 8; i < len; ++i) check += out[i];
    if (seq != expected || sum != check || len != 8 + seq % (Ring::kMaxMessageBytes - 8)) ++bad;
    ++expected;
  }
  producer.join();
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(r->size(), 0u);
}

}  // namespace
}  // namespace tg::shm
