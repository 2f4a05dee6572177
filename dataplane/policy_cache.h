// A poll lcore's memo of per-app policy verdicts (dataplane/app_policy.h): the verdict of
// each (app, protocol, remote address, remote port) it classified last, valid for the table
// generation it was classified with.
//
// Why: rte_acl costs ~29 cycles per inner packet even in bursts of 32 (a tenth of the 64-byte
// decrypt path, bench/dtls_record_bench), and a flow's packets all carry the same key, so a
// verdict is looked up again far more often than it changes. A hit is a multiply and one
// 16-byte entry; the misses of a burst go to rte_acl together, as before, and are remembered.
//
// Direct-mapped, kEntries entries (8 KiB, in L1 with the rest of the burst's state); a key
// that collides replaces the older one. The cache holds one table generation: the first
// burst classified against another generation (a reload, dataplane/policy_state.h) empties
// it, so a verdict never outlives its table. Generations only grow (policy_state_reload), so
// a new table can never be taken for the old one, even at the old one's address.
//
// Thread-safety: one per poll lcore (LcoreCtx), used by that lcore only.
#pragma once

#include <cstdint>
#include <cstring>

#include "dataplane/app_policy.h"

namespace tg::dp {

class PolicyVerdictCache {
 public:
  static constexpr unsigned kEntries = 512;  ///< power of two

  /// Empties the cache unless it already holds verdicts of `generation`.
  void use_generation(uint64_t generation) {
    if (generation == generation_) return;
    std::memset(entries_, 0, sizeof entries_);
    generation_ = generation;
  }

  /// The cached verdict of `key`, if any.
  bool find(const PolicyKey& key, PolicyVerdict* verdict) const {
    if (key.app > kMaxPackedApp) return false;
    const uint64_t k = pack(key);
    const Entry& e = entries_[index(k)];
    if (e.verdict_plus_1 == 0 || e.key != k) return false;
    *verdict = static_cast<PolicyVerdict>(e.verdict_plus_1 - 1);
    return true;
  }

  /// Remembers `verdict` for `key` (of the generation last given to use_generation).
  void insert(const PolicyKey& key, PolicyVerdict verdict) {
    if (key.app > kMaxPackedApp) return;  // no session has one (SessionRef: 8 bits); never cached
    const uint64_t k = pack(key);
    Entry& e = entries_[index(k)];
    e.key = k;
    e.verdict_plus_1 = static_cast<uint8_t>(static_cast<uint8_t>(verdict) + 1);
  }

  /// Every field rte_acl matches on, and the app, in 64 bits: nothing else decides a verdict
  /// (PolicyKey's pads are always zero). For apps up to kMaxPackedApp.
  static constexpr uint16_t kMaxPackedApp = 0xff;
  static uint64_t pack(const PolicyKey& key) {
    return uint64_t{key.proto} | uint64_t{static_cast<uint8_t>(key.app)} << 8 | uint64_t{key.remote_port} << 16 |
           uint64_t{key.remote_addr} << 32;
  }

 private:
  struct Entry {
    uint64_t key;
    uint8_t verdict_plus_1;  ///< 0: empty
  };
  static unsigned index(uint64_t k) {
    constexpr unsigned kBits = __builtin_ctz(kEntries);
    return static_cast<unsigned>((k * 0x9e3779b97f4a7c15ull) >> (64 - kBits));
  }
  static_assert((kEntries & (kEntries - 1)) == 0);

  Entry entries_[kEntries] = {};
  uint64_t generation_ = 0;  ///< of the entries (they start empty: any first generation is right)
};

}  // namespace tg::dp
