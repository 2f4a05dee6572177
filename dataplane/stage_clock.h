// Per-stage cycle accounting of a poll lcore, as VPP's "show runtime" gives per graph node:
// which stage of the record path the lcore's cycles go to (api/stats_shm.h
// TG_LCORE_STAGES), per packet and per burst, on a running gateway and in bench/.
//
// One poll iteration in dataplane.stage_sample is timed (0: none); the others pay a
// predictable branch per stage. A timed iteration reads the TSC at its start and at the end
// of each stage, and charges the cycles since the previous read to the stage that just
// ended: the stages of a timed iteration add up to its busy cycles, with nothing timed
// twice. A TSC read costs ~25 cycles (AMD EPYC VM), once per stage per burst, in every
// timed figure; 1 in 16 iterations makes the clock's share of the lcore well below 1 %.
// Sampling by iteration count, not by what an iteration carries, keeps the cycles per
// packet unbiased.
#pragma once

#include <cstdint>

#include "api/stats_shm.h"

namespace tg::dp {

/// rte_rdtsc()'s reading (the TSC; the generic timer on aarch64, as DPDK's default build),
/// without DPDK's headers: dataplane.h, which holds a StageClock in every LcoreCtx, is also
/// compiled into the DPDK-free units (tg_dataplane_pure).
inline uint64_t stage_clock_now() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_ia32_rdtsc();
#elif defined(__aarch64__)
  uint64_t v;
  asm volatile("mrs %0, cntvct_el0" : "=r"(v));
  return v;
#else
#error "stage_clock_now: no cycle counter for this architecture"
#endif
}

class StageClock {
 public:
  /// `sample`: 0 (never) or a power of two (config dataplane.stage_sample).
  void configure(uint32_t sample) {
    enabled_ = sample != 0;
    mask_ = sample != 0 ? sample - 1 : 0;
    turn_ = 0;
    on_ = false;
  }
  /// At the top of every poll iteration (`now`: its TSC): times this one or not.
  void begin_iteration(uint64_t now) {
    on_ = enabled_ && (++turn_ & mask_) == 0;
    last_ = now;
  }
  /// Times from now until end_iteration(), whatever the sampling (bench/).
  void begin_timed() {
    on_ = true;
    last_ = stage_clock_now();
  }
  void end_iteration() { on_ = false; }
  /// `stage` just ended, after handling `packets` packets (0: cycles only, e.g. control
  /// messages, or packets another stage counted already).
  void mark(shm::LcoreStats& st, shm::LcoreStage stage, uint32_t packets) {
    if (!on_) [[likely]]
      return;
    const uint64_t now = stage_clock_now();
    shm::StageCounters& k = st.stages[static_cast<unsigned>(stage)];
    k.cycles += now - last_;
    k.packets += packets;
    k.bursts += packets != 0;
    last_ = now;
  }
  bool timing() const { return on_; }

 private:
  uint64_t last_ = 0;  ///< TSC of the iteration's start or its last mark
  uint32_t mask_ = 0;
  uint32_t turn_ = 0;
  bool enabled_ = false;
  bool on_ = false;
};

}  // namespace tg::dp
