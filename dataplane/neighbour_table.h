// Neighbour (ARP) table shared by all poll lcores of the dataplane.
//
// Why not rte_hash: entries are only ever inserted (a stale entry is re-resolved, never
// removed), so an insert-only open-addressed array with a CAS on the key gives lock-free
// lookups and inserts with no RCU, and it needs no EAL, so it is unit-tested as plain C++.
// Each entry's MAC and timestamps sit behind a sequence counter (seqlock): readers retry
// while a writer is in progress; writers (ARP input on any lcore, rare) take the counter
// from even to odd with a CAS.
//
// Thread-safety: every method may be called from any lcore concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace tg::dp {

struct MacAddr {
  uint8_t b[6];
};

/// A consistent copy of one entry.
struct NeighbourView {
  bool resolved = false;      ///< a MAC has been learned
  MacAddr mac{};
  uint64_t confirmed_tsc = 0; ///< when the MAC was last learned or confirmed
};

class NeighbourTable {
 public:
  /// @param capacity rounded up to a power of two; the table holds at most capacity*3/4 keys
  explicit NeighbourTable(uint32_t capacity);

  /// Index of (port, ip) or -1 if absent. Lock-free.
  int32_t find(uint16_t port, uint32_t ipv4_host) const;
  /// Index of (port, ip), inserting it (unresolved) if absent; -1 when the table is full.
  int32_t find_or_insert(uint16_t port, uint32_t ipv4_host);

  NeighbourView read(int32_t index) const;
  /// Record a learned MAC (ARP reply, or a request addressed to us).
  void learn(int32_t index, const MacAddr& mac, uint64_t now_tsc);
  /// Forget the MAC after the next hop stopped answering.
  void invalidate(int32_t index);

  /// Claim the right to send the next ARP request for this entry: true for exactly one
  /// caller per `interval_tsc` (so several lcores do not all ask at once).
  bool claim_request(int32_t index, uint64_t now_tsc, uint64_t interval_tsc);
  /// Requests sent since the entry was last confirmed.
  uint32_t unanswered_requests(int32_t index) const;

  uint32_t capacity() const { return mask_ + 1; }
  /// Entries with a resolved MAC (an O(capacity) walk: housekeeping only).
  uint32_t count_resolved() const;

 private:
  struct alignas(64) Entry {
    std::atomic<uint64_t> key{0};       // 0 = empty; else (port + 1) << 32 | ipv4
    std::atomic<uint32_t> seq{0};       // odd while a writer updates the fields below
    std::atomic<uint32_t> requests{0};  // unanswered ARP requests
    std::atomic<uint64_t> mac{0};       // 6 bytes, little-endian packed; bit 63 = resolved
    std::atomic<uint64_t> confirmed_tsc{0};
    std::atomic<uint64_t> last_request_tsc{0};
  };
  static uint64_t make_key(uint16_t port, uint32_t ip) {
    return (uint64_t{port} + 1) << 32 | ip;
  }
  uint32_t slot_of(uint64_t key) const;

  std::unique_ptr<Entry[]> entries_;
  uint32_t mask_;
  uint32_t max_keys_;
  std::atomic<uint32_t> used_{0};
};

}  // namespace tg::dp
