// A poll lcore's DTLS flows: the client's address and port (a 64-bit key) -> the session's
// DTLS slot (dtls_path.h). One writer and one reader, the lcore itself, so no locks.
//
// Why not rte_hash: every received record looks its flow up, and at 64 bytes rte_hash was
// ~30 cycles of a ~330-cycle path (bucket signatures, a key store a second line away, a
// compare callback per candidate; perf on bench/dtls_record_bench), and two cold lines per
// record with 100,000 sessions. Here a bucket is one cache line holding its four keys and
// their slots, so a lookup reads one line (two only when its home bucket overflowed).
//
// Open addressing over buckets of kWays entries, linear probing from the key's home bucket.
// Each bucket counts the keys that probed past it (`overflow`, as Folly's F14 tables): a
// lookup stops at the first bucket whose count is 0, so a miss costs one line too, and a
// remove needs no tombstone. At most `capacity` keys in 4 x buckets >= 2 x capacity entries:
// the table is at most half full.
//
// Keys: bit 63 must be 0 (DtlsFlowKey's padding); a stored key has it set, so an empty
// entry (0) never matches. The hash is seeded per table (a client cannot aim its flows at
// one bucket without knowing the seed).
//
// Pure C++ over memory the caller provides (hugepage memory on the lcore's socket in the
// dataplane, plain memory in tests and fuzzing).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tg::dp {

class FlowTable {
 public:
  static constexpr uint32_t kMiss = UINT32_MAX;
  static constexpr unsigned kWays = 4;
  static constexpr uint64_t kUsed = uint64_t{1} << 63;

  struct alignas(64) Bucket {
    uint64_t key[kWays];  ///< key | kUsed; 0 = free
    uint32_t slot[kWays];
    uint32_t overflow;    ///< keys whose probe passed this bucket (stored further on)
    uint32_t pad[3];
  };
  static_assert(sizeof(Bucket) == 64, "one cache line per bucket");

  /// Buckets for `capacity` keys (a power of two, at least 2).
  static uint32_t buckets_for(uint32_t capacity);
  /// Bytes of zeroed, 64-byte aligned memory to give the constructor.
  static size_t bytes_for(uint32_t capacity) { return size_t{buckets_for(capacity)} * sizeof(Bucket); }

  /// `mem`: bytes_for(capacity) zeroed bytes, aligned to 64, that outlive the table.
  FlowTable(void* mem, uint32_t capacity, uint64_t seed);

  /// Adds `key` -> `slot`, or replaces the slot of a key already there.
  /// False when the table holds `capacity` keys already, or for a key with bit 63 set.
  bool add(uint64_t key, uint32_t slot);
  /// Removes `key`; false when absent.
  bool remove(uint64_t key);
  /// The slot of `key`, or kMiss.
  uint32_t lookup(uint64_t key) const {
    if (key & kUsed) return kMiss;
    const Where at = find(key | kUsed, home(key));
    return at.bucket == nullptr ? kMiss : at.bucket->slot[at.way];
  }
  /// lookup() of n keys, their home buckets put in flight first (with many flows each is a
  /// cache miss; the misses of a burst overlap).
  void lookup_bulk(const uint64_t* keys, unsigned n, uint32_t* slots) const;

  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }

 private:
  struct Where {
    Bucket* bucket;  ///< nullptr: absent
    unsigned way;
  };
  /// Where the stored key `want` (key | kUsed) is, probing from its home bucket `b` until
  /// a bucket no key probed past.
  Where find(uint64_t want, uint32_t b) const {
    for (uint32_t probes = 0; probes <= mask_; probes++) {
      Bucket& bk = buckets_[b];
      for (unsigned w = 0; w < kWays; w++)
        if (bk.key[w] == want) return {&bk, w};
      if (bk.overflow == 0) break;
      b = (b + 1) & mask_;
    }
    return {nullptr, 0};
  }
  uint32_t home(uint64_t key) const {
    // splitmix64's finalizer over the seeded key: every key bit moves every bucket bit.
    uint64_t h = (key ^ seed_) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 29;
    return static_cast<uint32_t>(h) & mask_;
  }

  Bucket* buckets_;
  uint32_t mask_;      ///< buckets - 1
  uint32_t capacity_;  ///< most keys held at once
  uint32_t size_ = 0;
  uint64_t seed_;
};

}  // namespace tg::dp
