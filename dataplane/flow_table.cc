#include "dataplane/flow_table.h"

namespace tg::dp {

namespace {
// An asm statement, as rte_prefetch0: GCC may drop __builtin_prefetch in a loop whose
// addresses it can prove unused before the next loop (seen in record_crypto.h).
inline void prefetch(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %[p]" : : [p] "m"(*static_cast<const volatile char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}
}  // namespace

uint32_t FlowTable::buckets_for(uint32_t capacity) {
  // kWays x buckets >= 2 x capacity: at most half full.
  const uint64_t want = (uint64_t{capacity} * 2 + kWays - 1) / kWays;
  uint64_t n = 2;
  while (n < want) n <<= 1;
  return static_cast<uint32_t>(n);
}

FlowTable::FlowTable(void* mem, uint32_t capacity, uint64_t seed)
    : buckets_(static_cast<Bucket*>(mem)), mask_(buckets_for(capacity) - 1), capacity_(capacity), seed_(seed) {}

bool FlowTable::add(uint64_t key, uint32_t slot) {
  if (key & kUsed) return false;
  const uint32_t start = home(key);
  // Already there: a new slot for the same flow (a reconnect from the same ip:port).
  if (const Where at = find(key | kUsed, start); at.bucket != nullptr) {
    at.bucket->slot[at.way] = slot;
    return true;
  }
  if (size_ >= capacity_) return false;
  // The first free way from the home bucket on; the buckets passed count the key as theirs.
  uint32_t b = start;
  for (uint32_t probes = 0; probes <= mask_; probes++) {
    Bucket& bk = buckets_[b];
    for (unsigned w = 0; w < kWays; w++) {
      if (bk.key[w] == 0) {
        bk.key[w] = key | kUsed;
        bk.slot[w] = slot;
        for (uint32_t p = start; p != b; p = (p + 1) & mask_) buckets_[p].overflow++;
        size_++;
        return true;
      }
    }
    b = (b + 1) & mask_;
  }
  return false;  // not reached: at most half of the entries are used
}

bool FlowTable::remove(uint64_t key) {
  if (key & kUsed) return false;
  const uint32_t start = home(key);
  const Where at = find(key | kUsed, start);
  if (at.bucket == nullptr) return false;
  at.bucket->key[at.way] = 0;
  at.bucket->slot[at.way] = 0;
  const auto b = static_cast<uint32_t>(at.bucket - buckets_);
  for (uint32_t p = start; p != b; p = (p + 1) & mask_) buckets_[p].overflow--;
  size_--;
  return true;
}

void FlowTable::lookup_bulk(const uint64_t* keys, unsigned n, uint32_t* slots) const {
  constexpr unsigned kMaxBulk = 64;
  uint32_t homes[kMaxBulk];
  for (unsigned i0 = 0; i0 < n; i0 += kMaxBulk) {
    const unsigned m = n - i0 < kMaxBulk ? n - i0 : kMaxBulk;
    for (unsigned i = 0; i < m; i++) {
      homes[i] = home(keys[i0 + i]);
      prefetch(&buckets_[homes[i]]);
    }
    for (unsigned i = 0; i < m; i++) {
      const uint64_t key = keys[i0 + i];
      const Where at = (key & kUsed) ? Where{nullptr, 0} : find(key | kUsed, homes[i]);
      slots[i0 + i] = at.bucket == nullptr ? kMiss : at.bucket->slot[at.way];
    }
  }
}

}  // namespace tg::dp
