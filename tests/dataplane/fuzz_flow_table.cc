// libFuzzer target: the lcore's DTLS flow table (dataplane/flow_table.h) under any sequence
// of adds, removes and lookups of client flows, against std::unordered_map. The keys come
// from outside (a client's address and port); a small table keeps its buckets crowded.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "dataplane/flow_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tg::dp::FlowTable;
  constexpr uint32_t kCapacity = 8;
  alignas(64) static unsigned char mem[16 * 64];
  if (FlowTable::bytes_for(kCapacity) > sizeof mem) __builtin_trap();
  std::memset(mem, 0, sizeof mem);
  FlowTable table(mem, kCapacity, size);
  std::unordered_map<uint64_t, uint32_t> ref;
  // 3 bytes per operation: what, which of 24 flows (or a key with the reserved bit), slot.
  for (size_t i = 0; i + 3 <= size; i += 3) {
    const uint8_t what = data[i] % 3, which = data[i + 1], slot = data[i + 2];
    uint64_t key = uint64_t{0xc0000200u + which % 24} | uint64_t{1000u + which % 5} << 32;
    if (which >= 250) key |= FlowTable::kUsed;  // refused everywhere
    auto it = ref.find(key);
    if (what == 0) {
      const bool want = !(key & FlowTable::kUsed) && (it != ref.end() || ref.size() < kCapacity);
      if (table.add(key, slot) != want) __builtin_trap();
      if (want) ref[key] = slot;
    } else if (what == 1) {
      if (table.remove(key) != (it != ref.end())) __builtin_trap();
      if (it != ref.end()) ref.erase(it);
    } else {
      uint32_t bulk = 0;
      table.lookup_bulk(&key, 1, &bulk);
      const uint32_t want = it == ref.end() ? FlowTable::kMiss : it->second;
      if (table.lookup(key) != want || bulk != want) __builtin_trap();
    }
    if (table.size() != ref.size()) __builtin_trap();
  }
  return 0;
}
