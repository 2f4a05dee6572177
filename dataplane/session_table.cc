#include "dataplane/session_table.h"

namespace tg::dp {

SessionTable::SessionTable(const std::vector<config::PoolConfig>& pools) {
  for (const auto& pc : pools) {
    Pool p;
    p.base = pc.prefix.network().addr.v4_host();
    p.size = pc.prefix.len >= 32 ? 1u : (uint32_t{1} << (32 - pc.prefix.len));
    p.slots = std::make_unique<std::atomic<uint64_t>[]>(p.size);  // value-initialised: 0
    pools_.push_back(std::move(p));
  }
}

std::atomic<uint64_t>* SessionTable::slot(uint32_t addr) {
  for (Pool& p : pools_) {
    const uint32_t off = addr - p.base;
    if (off < p.size) return &p.slots[off];
  }
  return nullptr;
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
  for (const Pool& p : pools_)
    for (uint32_t i = 0; i < p.size; i++)
      if (p.slots[i].load(std::memory_order_relaxed) != 0) n++;
  return n;
}

}  // namespace tg::dp
