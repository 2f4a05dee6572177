// Control plane: bitmap IPv4 pool. See address_pool.h.
#include "controlplane/address_pool.h"

#include <bit>

namespace tg::controlplane {

namespace {
constexpr uint32_t kMaxPoolAddresses = 1u << 24;
}

AddressPool::AddressPool(std::string name, uint32_t network, uint8_t prefix_len)
    : name_(std::move(name)), prefix_len_(prefix_len > 32 ? 32 : prefix_len) {
  const uint64_t total = uint64_t{1} << (32 - prefix_len_);
  network_ = prefix_len_ == 0 ? 0 : network & ~static_cast<uint32_t>(total - 1);
  first_ = network_ + 2;
  // network, gateway (network + 1) and broadcast are not handed out.
  size_ = total > 3 ? static_cast<uint32_t>(std::min<uint64_t>(total - 3, kMaxPoolAddresses)) : 0;
  used_.assign((size_ + 63) / 64, 0);
}

AddressPool::AddressPool(AddressPool&& o) noexcept
    : name_(std::move(o.name_)),
      network_(o.network_),
      prefix_len_(o.prefix_len_),
      first_(o.first_),
      size_(o.size_),
      used_(std::move(o.used_)),
      cursor_(o.cursor_),
      in_use_(o.in_use_.load(std::memory_order_relaxed)) {}

uint32_t AddressPool::netmask() const {
  return prefix_len_ == 0 ? 0 : ~uint32_t{0} << (32 - prefix_len_);
}

std::optional<uint32_t> AddressPool::index_of(uint32_t address) const {
  const uint32_t i = address - first_;  // wraps for addresses below first_
  if (i >= size_) return std::nullopt;
  return i;
}

std::optional<uint32_t> AddressPool::allocate() {
  if (in_use() >= size_) return std::nullopt;
  const auto words = static_cast<uint32_t>(used_.size());
  for (uint32_t n = 0; n < words; ++n) {
    const uint32_t w = (cursor_ + n) % words;
    uint64_t free_bits = ~used_[w];
    if (w == words - 1 && size_ % 64 != 0) free_bits &= (uint64_t{1} << (size_ % 64)) - 1;
    if (free_bits == 0) continue;
    const auto bit = static_cast<uint32_t>(std::countr_zero(free_bits));
    used_[w] |= uint64_t{1} << bit;
    // Next search starts after this word once it is full, else here (round-robin by word).
    cursor_ = used_[w] == ~uint64_t{0} ? (w + 1) % words : w;
    in_use_.store(in_use() + 1, std::memory_order_relaxed);
    return first_ + w * 64 + bit;
  }
  return std::nullopt;
}

bool AddressPool::allocate_specific(uint32_t address) {
  const auto i = index_of(address);
  if (!i) return false;
  uint64_t& word = used_[*i / 64];
  const uint64_t bit = uint64_t{1} << (*i % 64);
  if (word & bit) return false;
  word |= bit;
  in_use_.store(in_use() + 1, std::memory_order_relaxed);
  return true;
}

bool AddressPool::release(uint32_t address) {
  const auto i = index_of(address);
  if (!i) return false;
  uint64_t& word = used_[*i / 64];
  const uint64_t bit = uint64_t{1} << (*i % 64);
  if (!(word & bit)) return false;
  word &= ~bit;
  in_use_.store(in_use() - 1, std::memory_order_relaxed);
  return true;
}

bool AddressPool::in_use_address(uint32_t address) const {
  const auto i = index_of(address);
  return i && (used_[*i / 64] & (uint64_t{1} << (*i % 64))) != 0;
}

}  // namespace tg::controlplane
