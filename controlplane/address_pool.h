// Control plane: IPv4 address allocation from one pool (config `pools`).
//
// The usable addresses of a prefix are all but the network address, the broadcast address
// and the first host address, which is the gateway's own tunnel address (so a /24 gives
// 253; a /30 gives 1; /31 and /32 give none). Allocation takes the lowest free bit of a
// bitmap, starting at the 64-address word of the previous allocation and moving on to the
// next word (round-robin) when that one fills, so freed addresses in other words wait for
// their turn (a late packet for an old holder is less likely to reach a new one). A full
// word is skipped in one step: allocation is O(1) while the pool has room near the cursor
// and O(size / 64) word reads in the worst case; release and lookup are O(1).
//
// Thread-safety: one thread (the ctl server thread); size()/in_use() may be read by the
// metrics thread through relaxed atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tg::controlplane {

class AddressPool {
 public:
  /// @param name        pool name (metric label)
  /// @param network     host byte order; host bits are ignored
  /// @param prefix_len  0..32; prefixes shorter than /8 are refused by the config already,
  ///                    and are capped here at 2^24 addresses to bound the bitmap
  AddressPool(std::string name, uint32_t network, uint8_t prefix_len);
  AddressPool(AddressPool&&) noexcept;

  /// A free address (host byte order), or nullopt when the pool is exhausted.
  std::optional<uint32_t> allocate();
  /// Take a specific address (e.g. to restore a lease). False if outside the usable range
  /// or already in use.
  bool allocate_specific(uint32_t address);
  /// Give an address back. False (and nothing changes) if it was not allocated here.
  bool release(uint32_t address);
  bool in_use_address(uint32_t address) const;
  /// True when `address` is one this pool hands out (in use or not).
  bool usable(uint32_t address) const { return index_of(address).has_value(); }

  const std::string& name() const { return name_; }
  uint32_t network() const { return network_; }
  uint8_t prefix_len() const { return prefix_len_; }
  uint32_t netmask() const;
  /// The gateway's tunnel address (network + 1).
  uint32_t gateway_address() const { return network_ + 1; }
  /// Usable addresses. Any thread.
  uint32_t size() const { return size_; }
  /// Allocated addresses. Any thread (relaxed: a gauge for metrics).
  uint32_t in_use() const { return in_use_.load(std::memory_order_relaxed); }

 private:
  /// Index of `address` in the usable range, or nullopt.
  std::optional<uint32_t> index_of(uint32_t address) const;

  std::string name_;
  uint32_t network_ = 0;
  uint8_t prefix_len_ = 0;
  uint32_t first_ = 0;  ///< first usable address (network + 2)
  uint32_t size_ = 0;
  std::vector<uint64_t> used_;  ///< bit i set = first_ + i allocated
  uint32_t cursor_ = 0;         ///< word where the next search starts
  std::atomic<uint32_t> in_use_{0};
};

}  // namespace tg::controlplane
