#include "dataplane/neighbour_table.h"

#include <bit>

namespace tg::dp {

namespace {
constexpr uint64_t kResolvedBit = uint64_t{1} << 63;

uint64_t pack_mac(const MacAddr& m) {
  uint64_t v = 0;
  for (int i = 0; i < 6; i++) v |= uint64_t{m.b[i]} << (8 * i);
  return v | kResolvedBit;
}
MacAddr unpack_mac(uint64_t v) {
  MacAddr m;
  for (int i = 0; i < 6; i++) m.b[i] = static_cast<uint8_t>(v >> (8 * i));
  return m;
}
}  // namespace

NeighbourTable::NeighbourTable(uint32_t capacity) {
  uint32_t cap = std::bit_ceil(capacity < 16 ? 16u : capacity);
  entries_ = std::make_unique<Entry[]>(cap);
  mask_ = cap - 1;
  max_keys_ = cap / 4 * 3;  // keep probe chains short
}

uint32_t NeighbourTable::slot_of(uint64_t key) const {
  // Fibonacci hashing: addresses of one subnet differ in the low bits only.
  return static_cast<uint32_t>((key * 0x9E3779B97F4A7C15ull) >> 32) & mask_;
}

int32_t NeighbourTable::find(uint16_t port, uint32_t ip) const {
  const uint64_t key = make_key(port, ip);
  for (uint32_t i = slot_of(key), n = 0; n <= mask_; i = (i + 1) & mask_, n++) {
    // acquire: pairs with the CAS that published the key, so the entry is initialised.
    uint64_t k = entries_[i].key.load(std::memory_order_acquire);
    if (k == key) return static_cast<int32_t>(i);
    if (k == 0) return -1;  // keys are never removed, so an empty slot ends the chain
  }
  return -1;
}

int32_t NeighbourTable::find_or_insert(uint16_t port, uint32_t ip) {
  const uint64_t key = make_key(port, ip);
  for (uint32_t i = slot_of(key), n = 0; n <= mask_; i = (i + 1) & mask_, n++) {
    uint64_t k = entries_[i].key.load(std::memory_order_acquire);
    if (k == key) return static_cast<int32_t>(i);
    if (k != 0) continue;
    // Reserve room first so the table never fills beyond max_keys_.
    if (used_.fetch_add(1, std::memory_order_relaxed) >= max_keys_) {
      used_.fetch_sub(1, std::memory_order_relaxed);
      return -1;
    }
    uint64_t expected = 0;
    // acq_rel: publish the (zeroed) entry; on failure read the winner's key.
    if (entries_[i].key.compare_exchange_strong(expected, key, std::memory_order_acq_rel)) {
      return static_cast<int32_t>(i);
    }
    used_.fetch_sub(1, std::memory_order_relaxed);
    if (expected == key) return static_cast<int32_t>(i);  // another lcore inserted it
  }
  return -1;
}

NeighbourView NeighbourTable::read(int32_t index) const {
  const Entry& e = entries_[static_cast<uint32_t>(index)];
  NeighbourView v;
  for (;;) {
    // acquire: the field loads below cannot move before the first sequence read.
    uint32_t s1 = e.seq.load(std::memory_order_acquire);
    if (s1 & 1) continue;  // a writer is mid-update; it finishes in a few instructions
    uint64_t mac = e.mac.load(std::memory_order_relaxed);
    uint64_t tsc = e.confirmed_tsc.load(std::memory_order_relaxed);
    // acquire fence: the field loads complete before the second sequence read.
    std::atomic_thread_fence(std::memory_order_acquire);
    if (e.seq.load(std::memory_order_relaxed) != s1) continue;
    v.resolved = (mac & kResolvedBit) != 0;
    v.mac = unpack_mac(mac);
    v.confirmed_tsc = tsc;
    return v;
  }
}

void NeighbourTable::learn(int32_t index, const MacAddr& mac, uint64_t now_tsc) {
  Entry& e = entries_[static_cast<uint32_t>(index)];
  uint32_t s = e.seq.load(std::memory_order_relaxed);
  // acquire on success: the field stores below stay after the sequence goes odd.
  while ((s & 1) || !e.seq.compare_exchange_weak(s, s + 1, std::memory_order_acquire)) {
    s = e.seq.load(std::memory_order_relaxed);
  }
  e.mac.store(pack_mac(mac), std::memory_order_relaxed);
  e.confirmed_tsc.store(now_tsc, std::memory_order_relaxed);
  e.requests.store(0, std::memory_order_relaxed);
  // release: readers that see the even sequence see the fields above.
  e.seq.store(s + 2, std::memory_order_release);
}

void NeighbourTable::invalidate(int32_t index) {
  Entry& e = entries_[static_cast<uint32_t>(index)];
  uint32_t s = e.seq.load(std::memory_order_relaxed);
  while ((s & 1) || !e.seq.compare_exchange_weak(s, s + 1, std::memory_order_acquire)) {
    s = e.seq.load(std::memory_order_relaxed);
  }
  e.mac.store(0, std::memory_order_relaxed);
  e.seq.store(s + 2, std::memory_order_release);
}

bool NeighbourTable::claim_request(int32_t index, uint64_t now_tsc, uint64_t interval_tsc) {
  Entry& e = entries_[static_cast<uint32_t>(index)];
  uint64_t last = e.last_request_tsc.load(std::memory_order_relaxed);
  if (last != 0 && now_tsc - last < interval_tsc) return false;
  // relaxed: only the claim itself must be unique; no other data is published by it.
  if (!e.last_request_tsc.compare_exchange_strong(last, now_tsc, std::memory_order_relaxed)) {
    return false;
  }
  e.requests.fetch_add(1, std::memory_order_relaxed);
  return true;
}

uint32_t NeighbourTable::unanswered_requests(int32_t index) const {
  return entries_[static_cast<uint32_t>(index)].requests.load(std::memory_order_relaxed);
}

uint32_t NeighbourTable::count_resolved() const {
  uint32_t n = 0;
  for (uint32_t i = 0; i <= mask_; i++) {
    if (entries_[i].key.load(std::memory_order_relaxed) != 0 &&
        (entries_[i].mac.load(std::memory_order_relaxed) & kResolvedBit)) {
      n++;
    }
  }
  return n;
}

}  // namespace tg::dp
