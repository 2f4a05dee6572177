// Contract: the control segment shared by the dataplane's TLS workers and the control plane.
//
// One POSIX shared-memory object per gateway instance, named ctl_shm_name(instance)
// ("/tunnelgate-<instance>-ctl"), with the same life cycle as the statistics segment:
//   - the dataplane creates it at start (unlinking any old object), zero-fills it, writes the
//     header, initialises the rings, then publishes `magic` with a release store; it unlinks
//     the object when it exits. A restarted dataplane makes a new object and a new
//     `generation`.
//   - the control plane maps it read-write, checks magic, version and size before it trusts
//     anything, takes an exclusive flock() on it (two control planes would be two consumers
//     of an SPSC ring), and re-maps when the object behind the name changes (new inode or
//     generation). It writes `server.heartbeat_ns` about every 100 ms.
//
// Rings: one request ring (worker -> control plane) and one response ring (control plane ->
// worker) per worker, kCtlMaxWorkers pairs. Each ring has exactly one producer and one
// consumer, so api/shm_ring.h's SPSC ring is enough and no lock is shared between processes:
// the simplest correct design for several worker threads, at the cost of polling 16 rings.
//
// Wake-up: a worker bumps `server.doorbell` after each request it pushes and, if the control
// plane says it is about to sleep (`server.sleeping`), wakes it (FUTEX_WAKE, not private: the
// word is in a shared mapping). An idle control plane sets `sleeping`, reads the doorbell,
// finds every request ring empty and waits on the value it read (FUTEX_WAIT) for at most
// kCtlIdleWaitNs: it answers at once, and an idle one costs ~50 wake-ups a second instead of
// a poll every 500 us (3.5 % of a core). A busy one costs the workers no system call.
// Every access to both words is seq_cst: either the worker's load of `sleeping` follows the
// control plane's store of 1 (it wakes the waiter), or its bump of the doorbell precedes the
// control plane's read of it (which then finds the request in the ring, or a moved doorbell
// and FUTEX_WAIT returns at once).
//
// Liveness: a worker treats a heartbeat older than kCtlHeartbeatTimeoutNs, or a heartbeat of
// 0 (no control plane seen since the segment was made), as "control plane down" and answers
// try-again at once without queueing. Times are CLOCK_MONOTONIC nanoseconds (one clock for
// all processes of a boot; immune to wall-clock steps).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <type_traits>

#include "api/ctl_messages.h"
#include "api/shm_ring.h"

namespace tg::shm {

inline constexpr uint32_t kCtlSegmentMagic = 0x31435354;  // "TSC1" little-endian
inline constexpr uint32_t kCtlSegmentVersion = 3;  ///< 2: server.doorbell; 3: server.sleeping
inline constexpr uint32_t kCtlMaxWorkers = ctl::kCtlMaxWorkers;

/// Slots per ring. A worker keeps at most kCtlMaxInFlight requests outstanding, so answers
/// always fit its response ring and the rest is room for notices (session_terminate).
inline constexpr uint32_t kCtlRequestSlots = 32;
inline constexpr uint32_t kCtlResponseSlots = 32;
inline constexpr uint32_t kCtlMaxInFlight = 24;
/// Slot sizes: the largest request (AUTH_CERT) and the largest response (SESSION_PARAMS)
/// plus the 8-byte slot prefix, rounded up to a cache line.
inline constexpr uint32_t kCtlRequestSlotBytes = 12544;
inline constexpr uint32_t kCtlResponseSlotBytes = 1408;

inline constexpr uint64_t kCtlHeartbeatIntervalNs = 100'000'000;   ///< control plane writes
inline constexpr uint64_t kCtlHeartbeatTimeoutNs = 2'000'000'000;  ///< workers give up after
inline constexpr uint64_t kCtlIdleWaitNs = 20'000'000;  ///< longest doorbell wait of the control plane

using CtlRequestRing = SpscRing<kCtlRequestSlots, kCtlRequestSlotBytes>;
using CtlResponseRing = SpscRing<kCtlResponseSlots, kCtlResponseSlotBytes>;
static_assert(CtlRequestRing::kMaxMessageBytes >= ctl::kCtlMaxRequestBytes);
static_assert(CtlResponseRing::kMaxMessageBytes >= ctl::kCtlMaxResponseBytes);
static_assert(kCtlMaxInFlight < kCtlResponseSlots && kCtlMaxInFlight <= kCtlRequestSlots);

// Ring layout: head, tail and the slots each start their own cache line.
static_assert(std::is_standard_layout_v<CtlRequestRing> && std::is_standard_layout_v<CtlResponseRing>);
static_assert(offsetof(CtlRequestRing, head) == 0 && offsetof(CtlRequestRing, tail) == kCacheLine &&
              offsetof(CtlRequestRing, slots) == 2 * kCacheLine);
static_assert(offsetof(CtlResponseRing, tail) == kCacheLine &&
              offsetof(CtlResponseRing, slots) == 2 * kCacheLine);
static_assert(sizeof(CtlRequestRing) == 2 * kCacheLine + kCtlRequestSlots * kCtlRequestSlotBytes);
static_assert(sizeof(CtlResponseRing) == 2 * kCacheLine + kCtlResponseSlots * kCtlResponseSlotBytes);

/// The rings of one worker.
struct alignas(kCacheLine) CtlWorkerChannel {
  CtlRequestRing requests;    ///< producer: worker; consumer: control plane
  CtlResponseRing responses;  ///< producer: control plane; consumer: worker
};

/// Written only by the control plane that holds the segment's flock, but for the doorbell.
struct alignas(kCacheLine) CtlServerBlock {
  std::atomic<uint64_t> heartbeat_ns;  ///< CLOCK_MONOTONIC ns of the last beat; 0 = never
  /// CLOCK_MONOTONIC ns when this control plane attached, stored before its first heartbeat.
  /// A value a worker has not seen before means a control plane that knows none of its
  /// tunnels: the worker reports them (SESSION_RESYNC, api/ctl_messages.h).
  std::atomic<uint64_t> start_ns;
  std::atomic<uint32_t> pid;           ///< control-plane pid (diagnostics)
  /// Bumped by the workers (any number of them) after each request they push; the control
  /// plane's futex word (header comment).
  std::atomic<uint32_t> doorbell;
  /// 1 while the control plane is in (or about to enter) its wait on the doorbell; written
  /// by the control plane only. Workers skip FUTEX_WAKE while it is 0 (header comment).
  std::atomic<uint32_t> sleeping;
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint32_t>) == 4 && std::atomic<uint32_t>::is_always_lock_free,
              "the doorbell is a futex word");
static_assert(sizeof(CtlServerBlock) == kCacheLine);

struct alignas(kCacheLine) CtlSegment {
  std::atomic<uint32_t> magic;  ///< kCtlSegmentMagic, stored last with release order
  uint32_t version;             ///< kCtlSegmentVersion
  uint64_t size;                ///< sizeof(CtlSegment) as the dataplane built it
  uint64_t generation;          ///< CLOCK_REALTIME ns at creation (changes on dataplane restart)
  uint32_t dataplane_pid;
  uint32_t n_workers;           ///< worker channels in use, <= kCtlMaxWorkers
  char instance[32];            ///< NUL-terminated
  CtlServerBlock server;
  CtlWorkerChannel workers[kCtlMaxWorkers];
};
static_assert(offsetof(CtlSegment, magic) == 0);
static_assert(offsetof(CtlSegment, server) == kCacheLine);
static_assert(offsetof(CtlSegment, workers) == 2 * kCacheLine);
static_assert(sizeof(CtlSegment) ==
              2 * kCacheLine + kCtlMaxWorkers * sizeof(CtlWorkerChannel));

/// "/tunnelgate-<instance>-ctl"
inline std::string ctl_shm_name(const std::string& instance) {
  return "/tunnelgate-" + instance + "-ctl";
}

/// True when a control plane has beaten within kCtlHeartbeatTimeoutNs of `now_ns`
/// (CLOCK_MONOTONIC). A beat slightly after `now_ns` is normal (the control plane wrote it
/// after the caller read its clock) and counts as alive.
inline bool ctl_server_alive(const CtlSegment& seg, uint64_t now_ns,
                             uint64_t timeout_ns = kCtlHeartbeatTimeoutNs) {
  // acquire: pairs with the control plane's release store of the heartbeat; nothing else
  // is read through it, but it keeps the beat from being read earlier than program order.
  const uint64_t beat = seg.server.heartbeat_ns.load(std::memory_order_acquire);
  return beat != 0 && (beat >= now_ns || now_ns - beat <= timeout_ns);
}

/// After pushing a request (a worker) or posting work (the control plane's own threads):
/// bump the doorbell and wake the control plane if it sleeps on it.
inline void ctl_doorbell_ring(CtlServerBlock& server) {
  // seq_cst: after the ring's release of head in program order, so a control plane that
  // reads the new value also sees the request; and ordered with its store of `sleeping`
  // (header comment).
  server.doorbell.fetch_add(1, std::memory_order_seq_cst);
  if (server.sleeping.load(std::memory_order_seq_cst) != 0)
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&server.doorbell), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

/// Control plane, before it looks for work one last time: say it is about to sleep, and
/// read the doorbell value to sleep on (ctl_doorbell_wait).
inline uint32_t ctl_doorbell_prepare_wait(CtlServerBlock& server) {
  server.sleeping.store(1, std::memory_order_seq_cst);
  return server.doorbell.load(std::memory_order_seq_cst);
}

/// Control plane: sleep until the doorbell is no longer `seen` (a request was pushed since
/// it was read), or `timeout_ns` passed, or a signal; returns at once if it already moved.
/// Ends the `sleeping` state of ctl_doorbell_prepare_wait (call it even when not waiting).
inline void ctl_doorbell_wait(CtlServerBlock& server, uint32_t seen, uint64_t timeout_ns) {
  if (timeout_ns != 0) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&server.doorbell), FUTEX_WAIT, seen, &ts, nullptr, 0);
  }
  server.sleeping.store(0, std::memory_order_seq_cst);
}

}  // namespace tg::shm
