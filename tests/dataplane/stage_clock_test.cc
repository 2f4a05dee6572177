// The stage clock (dataplane/stage_clock.h) without DPDK: which iterations it times, and
// what a mark charges to its stage.
#include "dataplane/stage_clock.h"

#include <gtest/gtest.h>

namespace tg::dp {
namespace {

const shm::StageCounters& stage(const shm::LcoreStats& st, shm::LcoreStage s) {
  return st.stages[static_cast<unsigned>(s)];
}

// Test that 1 in `sample` iterations is timed, evenly, and none with sample 0 or before
// configure().
TEST(StageClock, TimesOneIterationInSample) {
  StageClock clock;
  for (int i = 0; i < 8; i++) {
    clock.begin_iteration(stage_clock_now());
    EXPECT_FALSE(clock.timing()) << "not configured";
  }
  for (uint32_t sample : {1u, 2u, 16u, 65536u}) {
    clock.configure(sample);
    int timed = 0;
    int last = -1;
    for (int i = 0; i < 4 * 65536; i++) {
      clock.begin_iteration(stage_clock_now());
      if (!clock.timing()) continue;
      if (last >= 0) {
        EXPECT_EQ(static_cast<uint32_t>(i - last), sample);
      }
      last = i;
      timed++;
      clock.end_iteration();
      EXPECT_FALSE(clock.timing());
    }
    EXPECT_EQ(static_cast<uint32_t>(timed), 4 * 65536 / sample) << "sample " << sample;
  }
  clock.configure(0);
  for (int i = 0; i < 64; i++) {
    clock.begin_iteration(stage_clock_now());
    EXPECT_FALSE(clock.timing());
  }
}

// Test that a mark charges the cycles since the previous one to its stage with its packets,
// counts a burst only when it had packets, and that nothing is charged outside a timed
// iteration: the stages of an iteration add up to the iteration's time.
TEST(StageClock, MarksChargeTheTimeSinceThePreviousMark) {
  shm::LcoreStats st{};
  StageClock clock;
  clock.configure(1);
  const uint64_t start = stage_clock_now();
  clock.begin_iteration(start);
  clock.mark(st, shm::LcoreStage::rx, 32);
  clock.mark(st, shm::LcoreStage::classify, 32);
  clock.mark(st, shm::LcoreStage::session_lookup, 0);  // cycles only
  clock.mark(st, shm::LcoreStage::tx, 30);
  const uint64_t end = stage_clock_now();
  clock.end_iteration();
  clock.mark(st, shm::LcoreStage::other, 5);  // after the iteration: not timed

  uint64_t sum = 0;
  for (const shm::StageCounters& k : st.stages) sum += k.cycles;
  EXPECT_GT(sum, 0u);
  EXPECT_LE(sum, end - start);
  EXPECT_EQ(stage(st, shm::LcoreStage::rx).packets, 32u);
  EXPECT_EQ(stage(st, shm::LcoreStage::rx).bursts, 1u);
  EXPECT_EQ(stage(st, shm::LcoreStage::classify).packets, 32u);
  EXPECT_EQ(stage(st, shm::LcoreStage::session_lookup).packets, 0u);
  EXPECT_EQ(stage(st, shm::LcoreStage::session_lookup).bursts, 0u) << "no packets, no burst";
  EXPECT_EQ(stage(st, shm::LcoreStage::tx).packets, 30u);
  EXPECT_EQ(stage(st, shm::LcoreStage::other).packets, 0u);
  EXPECT_EQ(stage(st, shm::LcoreStage::other).cycles, 0u);

  // begin_timed() times whatever the sampling (bench/).
  clock.configure(0);
  clock.begin_timed();
  EXPECT_TRUE(clock.timing());
  clock.mark(st, shm::LcoreStage::other, 5);
  clock.end_iteration();
  EXPECT_EQ(stage(st, shm::LcoreStage::other).packets, 5u);
}

// Test that every stage has a label and help, and the labels are distinct (metric labels).
TEST(StageClock, StagesHaveDistinctLabels) {
  for (unsigned i = 0; i < shm::kLcoreStageCount; i++) {
    ASSERT_NE(shm::kLcoreStageInfo[i].label, nullptr);
    EXPECT_NE(shm::kLcoreStageInfo[i].help[0], '\0');
    for (unsigned j = 0; j < i; j++)
      EXPECT_STRNE(shm::kLcoreStageInfo[i].label, shm::kLcoreStageInfo[j].label);
  }
}

}  // namespace
}  // namespace tg::dp
