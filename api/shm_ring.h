// Contract: a single-producer/single-consumer ring of fixed-size message slots that lives in
// shared memory and is used by two processes (rte_ring's SP/SC mode, reduced to what the
// control-plane rings need).
//
// Layout: `head` (written only by the producer) and `tail` (written only by the consumer)
// sit on their own cache lines, so the two sides never write the same line; the slots follow.
// Indices are free-running 32-bit counters: they are masked with kSlots - 1 (a power of two)
// only to address a slot, and `head - tail` (modulo 2^32) is the number of full slots, so
// wrap-around at 2^32 needs no special case.
//
// Trust: the peer is another process that may be buggy or dead. Every slot address is
// masked, so corrupt indices cannot make either side touch memory outside the ring; a slot
// length is clamped to kMaxMessageBytes; messages are copied out before they are decoded
// (api/ctl_messages.h ctl_decode()). If the indices are inconsistent (head - tail > kSlots)
// the consumer treats the ring as empty and the producer as full; corrupt() reports it.
//
// Blocking: never. try_push() on a full ring and try_pop() on an empty one return false at
// once; the caller counts and decides (STYLE #14: the dataplane drops and counts).
//
// Thread-safety: exactly one producer thread and one consumer thread (in any processes)
// per ring; init() runs before either side starts. std::atomic<uint32_t> is lock-free and
// therefore address-free, so it works across processes that map the ring at different
// addresses.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

namespace tg::shm {

inline constexpr size_t kCacheLine = 64;

/// One fixed-size slot: a length and the message bytes.
template <uint32_t kSlotBytes>
struct alignas(8) RingSlot {
  static_assert(kSlotBytes > 8 && kSlotBytes % 8 == 0);
  uint32_t length;  ///< bytes of `bytes` in use (untrusted on read: clamped)
  uint32_t reserved;
  uint8_t bytes[kSlotBytes - 8];
};

/// SPSC ring of `kSlots` slots of `kSlotBytes` bytes each (including an 8-byte length
/// prefix). Zero-filled memory is a valid empty ring; init() also sets the start index.
template <uint32_t kSlots, uint32_t kSlotBytes>
struct alignas(kCacheLine) SpscRing {
  static_assert(kSlots >= 2 && (kSlots & (kSlots - 1)) == 0, "kSlots must be a power of two");
  static_assert(kSlots <= (1u << 31), "head - tail must distinguish full from empty");
  static constexpr uint32_t kCapacity = kSlots;
  static constexpr uint32_t kMask = kSlots - 1;
  static constexpr uint32_t kMaxMessageBytes = kSlotBytes - 8;
  using Slot = RingSlot<kSlotBytes>;

  /// Next index the producer writes. Written only by the producer.
  alignas(kCacheLine) std::atomic<uint32_t> head;
  /// Next index the consumer reads. Written only by the consumer.
  alignas(kCacheLine) std::atomic<uint32_t> tail;
  alignas(kCacheLine) Slot slots[kSlots];

  static_assert(std::atomic<uint32_t>::is_always_lock_free,
                "a shared-memory atomic must be lock-free (address-free)");

  /// Make the ring empty with both indices at `start_index` (tests start near UINT32_MAX to
  /// cross the wrap). Only while neither side uses the ring.
  void init(uint32_t start_index = 0) noexcept {
    // relaxed: no other thread may look at the ring yet; whoever publishes the segment
    // (a release store of its magic) orders these stores before any use.
    head.store(start_index, std::memory_order_relaxed);
    tail.store(start_index, std::memory_order_relaxed);
  }

  /// Producer: copy `msg` into the next free slot and publish it.
  /// @return false when the ring is full (or its indices are corrupt) or msg is larger than
  ///         kMaxMessageBytes; nothing is written then.
  bool try_push(std::span<const uint8_t> msg) noexcept {
    if (msg.size() > kMaxMessageBytes) return false;
    // relaxed: only this thread writes head.
    const uint32_t h = head.load(std::memory_order_relaxed);
    // acquire: pairs with the consumer's release of tail, so its reads of the slot we are
    // about to overwrite happened before our writes.
    const uint32_t t = tail.load(std::memory_order_acquire);
    if (h - t >= kSlots) return false;  // full (or > kSlots: corrupt, treated as full)
    Slot& s = slots[h & kMask];
    s.length = static_cast<uint32_t>(msg.size());
    if (!msg.empty()) std::memcpy(s.bytes, msg.data(), msg.size());
    // release: the slot's contents become visible before the consumer can see the new head.
    head.store(h + 1, std::memory_order_release);
    return true;
  }

  /// Consumer: copy the oldest message into `out` and free its slot.
  /// @param out     receives the message; it is kMaxMessageBytes long so any slot fits.
  /// @param length  set to the message length (a corrupt length is clamped to the slot).
  /// @return false when the ring is empty (or its indices are corrupt); nothing is consumed.
  bool try_pop(std::span<uint8_t, kMaxMessageBytes> out, uint32_t& length) noexcept {
    // relaxed: only this thread writes tail.
    const uint32_t t = tail.load(std::memory_order_relaxed);
    // acquire: pairs with the producer's release of head, so the slot's contents written
    // before that store are visible to the reads below.
    const uint32_t h = head.load(std::memory_order_acquire);
    const uint32_t used = h - t;
    if (used == 0 || used > kSlots) return false;  // empty (or corrupt, treated as empty)
    const Slot& s = slots[t & kMask];
    uint32_t n = s.length;
    if (n > kMaxMessageBytes) n = kMaxMessageBytes;
    if (n != 0) std::memcpy(out.data(), s.bytes, n);
    length = n;
    // release: our reads of the slot complete before the producer may reuse it.
    tail.store(t + 1, std::memory_order_release);
    return true;
  }

  /// Full slots as seen now (a snapshot; exact only from the producer or consumer thread).
  uint32_t size() const noexcept {
    // acquire on both: a consistent-enough snapshot for reporting; never used for safety.
    const uint32_t h = head.load(std::memory_order_acquire);
    const uint32_t t = tail.load(std::memory_order_acquire);
    const uint32_t used = h - t;
    return used > kSlots ? kSlots : used;
  }

  /// True when head - tail exceeds the capacity: the peer wrote garbage (or the ring was
  /// never initialised). Such a ring neither accepts nor yields messages.
  bool corrupt() const noexcept {
    const uint32_t h = head.load(std::memory_order_acquire);
    const uint32_t t = tail.load(std::memory_order_acquire);
    return h - t > kSlots;
  }
};

}  // namespace tg::shm
