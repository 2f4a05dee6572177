// Which tunnel session holds each client (pool) address: the dataplane's lookup from an
// inner address to its session, for return traffic (destination) and for anti-spoofing
// (source of what a client sends).
//
// One 64-bit slot per address of every configured pool (pools are /14../30, so at most
// 2 MiB per pool), indexed directly: no hash, no probing. A slot holds 0 (free) or a
// SessionRef packed into 64 bits. The slots of all pools are one array, in pool order: the
// table's own, or, with DTLS on, a field of each address's DTLS slot (DtlsSlot::bound,
// dtls_path.h; tunnel_setup), so that a packet's session check and its DTLS state are one
// cache line (with 100,000 sessions each packet's is cold: bench/dtls_record_bench).
// Slots are atomics written only by the TLS workers (bind when a tunnel opens, unbind when
// it closes) and read by the poll lcores; nothing is ever freed, so readers need no RCU. A
// reader that races an unbind may deliver one last packet to the worker, which drops it
// (the worker checks the session is still its own).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.h"

namespace tg::dp {

/// A tunnel session as the dataplane knows it: the TLS worker that owns it, the app index
/// of its policy (dataplane/app_policy.h AppRegistry) and a tag that is unique per session
/// over the process lifetime (never 0). Packed: worker in bits 63..56, app in 55..48, tag
/// in 47..0, so the lcores read the app with the session, from the same 64-bit slot. The
/// worker's ConnectionId is the packed ref with app 0 (connection_id()).
struct SessionRef {
  uint16_t worker = 0;  ///< < 256 (kMaxTlsWorkers is 16)
  uint64_t tag = 0;     ///< 48 bits
  uint16_t app = 0;     ///< < 256 (shm::kMaxApps)
  uint64_t pack() const {
    return uint64_t{static_cast<uint8_t>(worker)} << 56 | uint64_t{static_cast<uint8_t>(app)} << 48 |
           (tag & kTagMask);
  }
  static SessionRef unpack(uint64_t v) {
    return {static_cast<uint16_t>(v >> 56), v & kTagMask, static_cast<uint16_t>((v >> 48) & 0xff)};
  }
  /// The app index of a packed ref.
  static uint16_t app_of(uint64_t v) { return static_cast<uint16_t>((v >> 48) & 0xff); }
  /// The worker's ConnectionId of a packed ref (the app bits cleared).
  static uint64_t connection_id(uint64_t v) { return v & ~(uint64_t{0xff} << 48); }
  static constexpr uint64_t kTagMask = (uint64_t{1} << 48) - 1;
};

class SessionTable {
 public:
  /// The slots in an array of its own.
  explicit SessionTable(const std::vector<config::PoolConfig>& pools);
  /// The slots in the caller's memory: slot i at `first` + i * `stride_bytes`, for
  /// capacity_of(pools) slots, zeroed, outliving the table (DtlsSlot::bound of each address).
  SessionTable(const std::vector<config::PoolConfig>& pools, std::atomic<uint64_t>* first, size_t stride_bytes);
  /// Number of pool addresses of `pools` (the range of slot_index).
  static uint32_t capacity_of(const std::vector<config::PoolConfig>& pools);

  /// The packed SessionRef bound to `addr` (host order), 0 when none or not a pool address.
  uint64_t lookup(uint32_t addr) const { return lookup_slot(slot_index(addr)); }
  /// Index of `addr` among all pool addresses (pools in config order), or kNoSlot.
  /// DTLS state is kept in a table indexed this way.
  uint32_t slot_index(uint32_t addr) const {
    for (const Pool& p : pools_) {
      const uint32_t off = addr - p.base;
      if (off < p.size) return p.first + off;
    }
    return kNoSlot;
  }
  /// The packed SessionRef bound to the address at `slot` (from slot_index), 0 when none.
  uint64_t lookup_slot(uint32_t slot) const {
    const std::atomic<uint64_t>* ref = slot_ref(slot);
    // acquire: pairs with bind()'s release, so the session is set up before it is seen.
    return ref != nullptr ? ref->load(std::memory_order_acquire) : 0;
  }
  /// Where the ref of `slot` lives (also for a prefetch ahead of lookup_slot); nullptr when
  /// `slot` is past the pools (kNoSlot included).
  const std::atomic<uint64_t>* slot_ref(uint32_t slot) const {
    if (slot >= capacity_) return nullptr;
    return reinterpret_cast<const std::atomic<uint64_t>*>(reinterpret_cast<const char*>(first_) + slot * stride_);
  }
  /// Number of pool addresses (the range of slot_index).
  uint32_t capacity() const { return capacity_; }
  static constexpr uint32_t kNoSlot = UINT32_MAX;
  /// Bind `addr` to `ref`; false if it is not a pool address or already bound.
  bool bind(uint32_t addr, SessionRef ref);
  /// Unbind `addr` if it still holds `ref`; false otherwise.
  bool unbind(uint32_t addr, SessionRef ref);
  /// Bound addresses (an O(addresses) walk: housekeeping only).
  uint32_t count_bound() const;

 private:
  struct Pool {
    uint32_t base;
    uint32_t size;
    uint32_t first;  ///< slot index of its first address
  };
  std::atomic<uint64_t>* slot(uint32_t addr) {
    return const_cast<std::atomic<uint64_t>*>(slot_ref(slot_index(addr)));
  }
  std::vector<Pool> pools_;
  uint32_t capacity_ = 0;
  std::unique_ptr<std::atomic<uint64_t>[]> own_;  ///< the slots, unless they are the caller's
  std::atomic<uint64_t>* first_ = nullptr;
  size_t stride_ = sizeof(std::atomic<uint64_t>);
};

}  // namespace tg::dp
