// Contract: the dataplane's live session segment, read by the control plane (what
// `tunnelgatectl sessions` shows beside its own registry: channel and traffic per tunnel).
//
// One POSIX shared-memory object per gateway instance, named session_shm_name(instance)
// ("/tunnelgate-<instance>-sessions"). The dataplane creates it at start (unlinking any
// earlier one) with one SessionRecord per pool address, in SessionTable::slot_index order,
// so a tunnel's record is found without any table: records[slot of its address].
//
// Writers: only the TLS worker holding the tunnel writes its record: when the tunnel opens,
// about once a second while it is up (its CSTP counters plus the DTLS counters the owning
// lcore keeps), and when it closes (session_id back to 0, before the address is unbound, so
// the next owner of the address never races the previous one). The lcores never touch it:
// nothing is added to the fast path.
//
// Readers copy a record under its sequence counter (a seqlock: odd while a writer is in the
// middle, changed when it has written) and trust nothing in it before checking it: the
// control plane matches records to its sessions by session_id and never uses a record's
// numbers as sizes or indices.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace tg::shm {

inline constexpr uint32_t kSessionsMagic = 0x31535354;  // "TSS1" little-endian
inline constexpr uint32_t kSessionsVersion = 1;
/// Pools are at most /16 each (config), 8 of them: never more records than this.
inline constexpr uint32_t kMaxSessionRecords = 8u << 16;

/// Which channel carries the tunnel's packets to the client.
enum class SessionChannel : uint8_t {
  none = 0,  ///< record free
  cstp = 1,  ///< TLS (CSTP frames): no DTLS, DTLS not up yet, or the client fell back
  dtls = 2,  ///< DTLS records on a poll lcore
};
inline constexpr uint8_t kSessionChannelCount = 3;
inline const char* session_channel_label(SessionChannel c) {
  switch (c) {
    case SessionChannel::cstp: return "cstp";
    case SessionChannel::dtls: return "dtls";
    default: return "none";
  }
}

/// The values of one record (what a writer stores and a reader gets back).
struct SessionLive {
  uint64_t session_id = 0;   ///< the control plane's session id; 0 = free
  uint64_t rx_packets = 0;   ///< inner packets received from the client (CSTP + DTLS)
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;   ///< inner packets sent to the client (CSTP + DTLS)
  uint64_t tx_bytes = 0;
  uint32_t attach_seq = 0;   ///< which CONNECT of the session this tunnel is
  uint32_t address = 0;      ///< tunnel (pool) address, host order
  uint32_t updated_s = 0;    ///< CLOCK_REALTIME seconds of the last write
  uint8_t channel = 0;       ///< SessionChannel
  uint8_t worker = 0;        ///< TLS worker holding the tunnel
  uint16_t reserved = 0;
};

/// One cache line per record: `seq` then the values.
struct alignas(64) SessionRecord {
  uint32_t seq;  ///< seqlock counter: odd while being written
  uint32_t pad;
  SessionLive live;
};
static_assert(sizeof(SessionLive) == 56);
static_assert(sizeof(SessionRecord) == 64);

struct alignas(64) SessionSegmentHeader {
  uint32_t magic;      ///< kSessionsMagic, stored last with release order
  uint32_t version;    ///< kSessionsVersion
  uint64_t size;       ///< bytes of the whole object: header + n_records records
  uint64_t generation; ///< CLOCK_REALTIME ns of the dataplane start (as the stats segment's)
  uint32_t pid;        ///< dataplane pid
  uint32_t n_records;  ///< pool addresses, <= kMaxSessionRecords
  uint32_t record_size;  ///< sizeof(SessionRecord)
  uint32_t pad;
};
static_assert(sizeof(SessionSegmentHeader) == 64);

/// Bytes of a segment with `n_records` records.
inline constexpr uint64_t session_segment_size(uint32_t n_records) {
  return sizeof(SessionSegmentHeader) + uint64_t{n_records} * sizeof(SessionRecord);
}

/// "/tunnelgate-<instance>-sessions"
inline std::string session_shm_name(const std::string& instance) {
  return "/tunnelgate-" + instance + "-sessions";
}

/// Writer side (the one TLS worker holding the tunnel): store `v` into `r`.
inline void session_record_store(SessionRecord& r, const SessionLive& v) {
  std::atomic_ref<uint32_t> seq(r.seq);
  const uint32_t s = seq.load(std::memory_order_relaxed);
  seq.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);  // the odd seq is seen before the values
  std::memcpy(&r.live, &v, sizeof v);
  seq.store(s + 2, std::memory_order_release);
}

/// Reader side: copy `r` into `*out`; false when a writer was in the middle (retry or skip).
inline bool session_record_load(const SessionRecord& r, SessionLive* out) {
  std::atomic_ref<uint32_t> seq(const_cast<uint32_t&>(r.seq));
  const uint32_t before = seq.load(std::memory_order_acquire);
  if (before & 1u) return false;
  std::memcpy(out, &r.live, sizeof *out);
  std::atomic_thread_fence(std::memory_order_acquire);  // the copy is done before seq is re-read
  return seq.load(std::memory_order_relaxed) == before;
}

}  // namespace tg::shm
