// RFC 6479 anti-replay window: a numbered table of cases in the style of WireGuard's
// selftest/counter.c, edge cases one by one, and a randomized comparison against a
// deliberately naive reference (a std::set of every number seen plus the window rule).
#include "dataplane/dtls/replay_window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <vector>

namespace tg::dtls {
namespace {

constexpr uint64_t kMax = replay::kMaxSequence;
constexpr ReplayVerdict kAccept = ReplayVerdict::kAccept;
constexpr ReplayVerdict kTooOld = ReplayVerdict::kTooOld;
constexpr ReplayVerdict kDuplicate = ReplayVerdict::kDuplicate;
constexpr ReplayVerdict kOutOfRange = ReplayVerdict::kOutOfRange;

struct Case {
  uint64_t seq;
  ReplayVerdict expected;
};

// Runs the cases in order on one window. Every record goes through both phases as the
// fast path does them: check() first (must not change the window), then advance() for
// the records check() let through, as if each had authenticated.
template <typename Window>
void run_table(const std::vector<Case>& cases) {
  Window window{};
  for (size_t i = 0; i < cases.size(); i++) {
    const Case& c = cases[i];
    SCOPED_TRACE(testing::Message() << "case #" << (i + 1) << " seq " << c.seq);
    const Window before = window;
    const ReplayVerdict checked = window.check(c.seq);
    EXPECT_EQ(0, std::memcmp(&before, &window, sizeof(Window))) << "check() changed state";
    EXPECT_EQ(c.expected, checked) << replay_verdict_name(checked);
    if (checked == kAccept) {
      EXPECT_EQ(kAccept, window.advance(c.seq));
    } else {
      EXPECT_EQ(checked, window.advance(c.seq)) << "advance() disagrees with check()";
    }
  }
}

// The WireGuard table, with W the window size: W numbers are tracked, top included, so a
// number exactly W below the top is too old and W - 1 below is still inside.
template <typename Window>
std::vector<Case> counter_table() {
  constexpr uint64_t W = Window::kWindowSize;
  return {
      /*  1 */ {0, kAccept},           // seq 0 is a valid first record
      /*  2 */ {1, kAccept},
      /*  3 */ {1, kDuplicate},
      /*  4 */ {9, kAccept},           // a gap
      /*  5 */ {8, kAccept},           // out of order inside the window
      /*  6 */ {7, kAccept},
      /*  7 */ {7, kDuplicate},
      /*  8 */ {W, kAccept},           // seq 0 is now exactly W below the top
      /*  9 */ {W - 1, kAccept},
      /* 10 */ {W - 1, kDuplicate},
      /* 11 */ {W - 2, kAccept},
      /* 12 */ {2, kAccept},           // W - 2 below the top: inside, never seen
      /* 13 */ {2, kDuplicate},
      /* 14 */ {0, kTooOld},           // exactly W below: just out
      /* 15 */ {1, kDuplicate},        // W - 1 below: inside, and seen
      /* 16 */ {3, kAccept},           // W - 3 below, never seen
      /* 17 */ {W + 16, kAccept},
      /* 18 */ {3, kTooOld},           // the window moved past it
      /* 19 */ {W + 16, kDuplicate},
      /* 20 */ {W * 4, kAccept},        // a jump of more than the window
      /* 21 */ {W * 4 - (W - 1), kAccept},  // the oldest number still inside
      /* 22 */ {10, kTooOld},
      /* 23 */ {W * 4 - W, kTooOld},         // exactly W below
      /* 24 */ {W * 4 - (W + 1), kTooOld},
      /* 25 */ {W * 4 - (W - 2), kAccept},
      /* 26 */ {W * 4 + 1 - W, kDuplicate},  // = case 21
      /* 27 */ {0, kTooOld},
      /* 28 */ {kMax, kAccept},              // the last DTLS sequence number
      /* 29 */ {kMax, kDuplicate},
      /* 30 */ {kMax + 1, kOutOfRange},      // not a 48-bit number
      /* 31 */ {kMax - 1, kAccept},
      /* 32 */ {kMax - (W - 1), kAccept},
      /* 33 */ {kMax - W, kTooOld},
      /* 34 */ {kMax - 1, kDuplicate},
      /* 35 */ {W * 4, kTooOld},
      /* 36 */ {0, kTooOld},
      /* 37 */ {UINT64_MAX, kOutOfRange},
  };
}

// The smallest ring (2 words, a 64-number window) makes every word wrap visible.
using TinyWindow = BasicReplayWindow<2>;
using MediumWindow = BasicReplayWindow<4>;

TEST(ReplayWindowTable, TinyWindow) { run_table<TinyWindow>(counter_table<TinyWindow>()); }
TEST(ReplayWindowTable, MediumWindow) { run_table<MediumWindow>(counter_table<MediumWindow>()); }
TEST(ReplayWindowTable, DefaultWindow) { run_table<ReplayWindow>(counter_table<ReplayWindow>()); }

TEST(ReplayWindow, SizesAreAsDocumented) {
  EXPECT_EQ(64u, TinyWindow::kWindowSize);
  EXPECT_EQ(960u, ReplayWindow::kWindowSize);
  EXPECT_EQ(136u, sizeof(ReplayWindow));
}

TEST(ReplayWindow, OutOfRangeOnFreshWindowChangesNothing) {
  ReplayWindow window{};
  EXPECT_EQ(kOutOfRange, window.check(kMax + 1));
  EXPECT_EQ(kOutOfRange, window.advance(kMax + 1));
  EXPECT_EQ(0u, window.top());
  EXPECT_EQ(kAccept, window.check(0));
}

TEST(ReplayWindow, FirstRecordMayBeAnyNumber) {
  for (uint64_t first : {uint64_t{0}, uint64_t{1}, uint64_t{63}, uint64_t{64}, uint64_t{5000}, kMax}) {
    ReplayWindow window{};
    EXPECT_EQ(kAccept, window.check(first)) << first;
    EXPECT_EQ(kAccept, window.advance(first)) << first;
    EXPECT_EQ(first, window.top());
    EXPECT_EQ(kDuplicate, window.check(first)) << first;
  }
}

// check() is read-only, so a forged record (which never reaches advance()) cannot move
// the window: a huge forged sequence number leaves old numbers acceptable.
TEST(ReplayWindow, CheckAloneNeverMovesTheWindow) {
  ReplayWindow window{};
  ASSERT_EQ(kAccept, window.advance(100));
  EXPECT_EQ(kAccept, window.check(kMax));
  EXPECT_EQ(kAccept, window.check(99));
  EXPECT_EQ(kDuplicate, window.check(100));
  EXPECT_EQ(100u, window.top());
}

// Two copies of one record can both pass check() when they are decrypted in one batch;
// only the first advance() accepts.
TEST(ReplayWindow, SecondCopyInOneBatchIsCaughtByAdvance) {
  ReplayWindow window{};
  ASSERT_EQ(kAccept, window.advance(10));
  EXPECT_EQ(kAccept, window.check(11));
  EXPECT_EQ(kAccept, window.check(11));
  EXPECT_EQ(kAccept, window.advance(11));
  EXPECT_EQ(kDuplicate, window.advance(11));
  // Likewise when the batch also moved the window past the other copy.
  EXPECT_EQ(kAccept, window.check(12));
  EXPECT_EQ(kAccept, window.advance(12 + ReplayWindow::kWindowSize));
  EXPECT_EQ(kTooOld, window.advance(12));
}

// Walks forward through the ring many times in steps around the word size and checks
// that the words the window slides over were cleared: each number once accepted, and a
// number that maps to a bit already used by an older (now out of window) number is new.
TEST(ReplayWindow, RingWordsWrapAndAreCleared) {
  for (uint64_t step : {uint64_t{1}, uint64_t{63}, uint64_t{64}, uint64_t{65}, uint64_t{127}, uint64_t{128}, uint64_t{129}}) {
    SCOPED_TRACE(step);
    TinyWindow window{};
    uint64_t seq = 0;
    for (int i = 0; i < 1000; i++, seq += step) {
      ASSERT_EQ(kAccept, window.advance(seq)) << seq;
      ASSERT_EQ(kDuplicate, window.check(seq)) << seq;
      // Same ring bit, one and two rings back: out of the window, so too old, never
      // a false duplicate.
      constexpr uint64_t kRingBits = 2 * replay::kBitsPerWord;
      if (seq >= kRingBits) {
        EXPECT_EQ(kTooOld, window.check(seq - kRingBits));
      }
    }
  }
}

TEST(ReplayWindow, ExactlyOneRingAheadReusesTheSameBit) {
  TinyWindow window{};
  ASSERT_EQ(kAccept, window.advance(5));
  // 5 + 128 lands on the same word and bit as 5; the slide must clear it first.
  EXPECT_EQ(kAccept, window.advance(5 + 2 * replay::kBitsPerWord));
  EXPECT_EQ(kTooOld, window.check(5));
}

TEST(ReplayWindow, JumpOfExactlyTheWindowForgetsOnlyWhatFellOut) {
  TinyWindow window{};
  for (uint64_t seq = 0; seq < 64; seq++) ASSERT_EQ(kAccept, window.advance(seq));
  ASSERT_EQ(kAccept, window.advance(63 + 64));  // window now 64..127
  for (uint64_t seq = 0; seq < 64; seq++) EXPECT_EQ(kTooOld, window.check(seq)) << seq;
  for (uint64_t seq = 64; seq < 127; seq++) EXPECT_EQ(kAccept, window.check(seq)) << seq;
}

TEST(ReplayWindow, ResetForgetsEverything) {
  ReplayWindow window{};
  ASSERT_EQ(kAccept, window.advance(kMax));
  window.reset();
  EXPECT_EQ(0u, window.top());
  EXPECT_EQ(kAccept, window.check(0));
  EXPECT_EQ(kAccept, window.advance(0));
}

// ---- Randomized comparison against a naive reference ----

// Everything ever accepted is remembered; the window rule is applied literally.
class NaiveReplayWindow {
 public:
  explicit NaiveReplayWindow(uint64_t window_size) : window_size_(window_size) {}
  ReplayVerdict accept(uint64_t seq) {
    if (seq > kMax) return kOutOfRange;
    if (!seen_.empty() && seq < top_ && top_ - seq >= window_size_) return kTooOld;
    if (seen_.count(seq) != 0) return kDuplicate;
    seen_.insert(seq);
    if (seq > top_) top_ = seq;
    return kAccept;
  }

 private:
  uint64_t window_size_;
  uint64_t top_ = 0;
  std::set<uint64_t> seen_;
};

template <typename Window>
void compare_with_naive(uint64_t rng_seed, uint64_t start, int records) {
  constexpr uint64_t W = Window::kWindowSize;
  std::mt19937_64 rng(rng_seed);
  Window window{};
  NaiveReplayWindow naive(W);
  uint64_t last = start;
  for (int i = 0; i < records; i++) {
    uint64_t seq = last;
    // Mostly in-order traffic with reordering, duplicates and jumps; numbers around the
    // window's edge and near 2^48 on purpose.
    switch (rng() % 10) {
      case 0: case 1: case 2: seq = last + 1; break;
      case 3: seq = last + 1 + rng() % 8; break;
      case 4: seq = last - std::min(last, rng() % (W + 2)); break;  // behind, maybe too old
      case 5: seq = last; break;                                    // duplicate
      case 6: seq = last - std::min(last, W - 1 + rng() % 3); break;  // the window edge
      case 7: seq = last + rng() % (3 * W); break;                  // a jump
      case 8: seq = last + 1 + rng() % (2 * replay::kBitsPerWord); break;
      case 9: seq = (rng() % 64 == 0) ? kMax - rng() % 4 : last + 2; break;
    }
    const ReplayVerdict expected = naive.accept(seq);
    const ReplayVerdict checked = window.check(seq);
    ASSERT_EQ(expected, checked) << "record " << i << " seq " << seq;
    if (checked == kAccept) {
      ASSERT_EQ(kAccept, window.advance(seq));
    }
    if (seq > last && seq <= kMax) last = seq;
    if (last >= kMax) {  // 2^48 reached: start again from a fresh pair
      window.reset();
      naive = NaiveReplayWindow(W);
      last = start;
    }
  }
}

TEST(ReplayWindowRandom, TinyMatchesNaive) {
  for (uint64_t seed = 1; seed <= 20; seed++) compare_with_naive<TinyWindow>(seed, 0, 20000);
}
TEST(ReplayWindowRandom, MediumMatchesNaive) {
  for (uint64_t seed = 1; seed <= 10; seed++) compare_with_naive<MediumWindow>(seed, 1000, 20000);
}
TEST(ReplayWindowRandom, DefaultMatchesNaive) {
  for (uint64_t seed = 1; seed <= 10; seed++) compare_with_naive<ReplayWindow>(seed, 0, 20000);
}
TEST(ReplayWindowRandom, DefaultNearTheEndOfTheSequenceSpace) {
  for (uint64_t seed = 1; seed <= 5; seed++)
    compare_with_naive<ReplayWindow>(seed, kMax - 50000, 20000);
}

// word_of() names the ring word check() and advance() read, for the record path's prefetch:
// inside the window object, one word per 64 numbers, the ring wrapping after 16 words.
TEST(ReplayWindow, WordOfNamesTheRingWordOfASequenceNumber) {
  ReplayWindow w{};
  const auto* lo = reinterpret_cast<const uint8_t*>(&w);
  const auto* hi = lo + sizeof(w);
  for (uint64_t seq : {uint64_t{0}, uint64_t{63}, uint64_t{64}, uint64_t{1000}, kMax}) {
    const auto* word = reinterpret_cast<const uint8_t*>(w.word_of(seq));
    EXPECT_GE(word, lo + sizeof(uint64_t)) << seq;  // past top
    EXPECT_LT(word, hi) << seq;
  }
  EXPECT_EQ(w.word_of(0), w.word_of(63));
  EXPECT_EQ(w.word_of(64), w.word_of(0) + 1);
  EXPECT_EQ(w.word_of(5), w.word_of(5 + 64 * replay::kDefaultRingWords));
  // Marking a number seen changes exactly the word word_of() names.
  ASSERT_EQ(kAccept, w.advance(700));
  EXPECT_NE(0u, *w.word_of(700));
  EXPECT_EQ(0u, *w.word_of(700 - 64));
}

TEST(ReplayWindow, VerdictNames) {
  EXPECT_STREQ("accept", replay_verdict_name(kAccept));
  EXPECT_STREQ("replay_too_old", replay_verdict_name(kTooOld));
  EXPECT_STREQ("replay_duplicate", replay_verdict_name(kDuplicate));
  EXPECT_STREQ("replay_seq_out_of_range", replay_verdict_name(kOutOfRange));
}

}  // namespace
}  // namespace tg::dtls
