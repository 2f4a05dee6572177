#include "dataplane/session_table.h"

namespace tg::dp {

namespace {
uint32_t pool_size(const config::PoolConfig& pc) {
  return pc.prefix.len >= 32 ? 1u : (uint32_t{1} << (32 - pc.prefix.len));
}
}  // namespace

uint32_t SessionTable::capacity_of(const std::vector<config::PoolConfig>& pools) {
  uint32_t n = 0;
  for (const auto& pc : pools) n += pool_size(pc);
  return n;
}

SessionTable::SessionTable(const std::vector<config::PoolConfig>& pools, std::atomic<uint64_t>* first,
                           size_t stride_bytes)
    : first_(first), stride_(stride_bytes) {
  for (const auto& pc : pools) {
    pools_.push_back({pc.prefix.network().addr.v4_host(), pool_size(pc), capacity_});
    capacity_ += pool_size(pc);
  }
}

SessionTable::SessionTable(const std::vector<config::PoolConfig>& pools)
    : SessionTable(pools, nullptr, sizeof(std::atomic<uint64_t>)) {
  own_ = std::make_unique<std::atomic<uint64_t>[]>(capacity_);  // value-initialised: 0
  first_ = own_.get();
}

bool SessionTable::bind(uint32_t addr, SessionRef ref) {
  std::atomic<uint64_t>* s = slot(addr);
  if (s == nullptr || ref.tag == 0) return false;
  uint64_t expected = 0;
  // release: whatever the worker set up for the session is visible to lcores that see it.
  return s->compare_exchange_strong(expected, ref.pack(), std::memory_order_release,
                                    std::memory_order_relaxed);
}

bool SessionTable::unbind(uint32_t addr, SessionRef ref) {
  std::atomic<uint64_t>* s = slot(addr);
  if (s == nullptr) return false;
  uint64_t expected = ref.pack();
  // relaxed: nothing is published by removing a binding.
  return s->compare_exchange_strong(expected, 0, std::memory_order_relaxed);
}

uint32_t SessionTable::count_bound() const {
  uint32_t n = 0;
  for (uint32_t i = 0; i < capacity_; i++)
    if (slot_ref(i)->load(std::memory_order_relaxed) != 0) n++;
  return n;
}

}  // namespace tg::dp
