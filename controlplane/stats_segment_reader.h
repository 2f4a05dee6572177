// Control plane: reads and validates the dataplane's statistics segment (api/stats_shm.h).
//
// Runs on whichever control-plane thread scrapes /metrics (a prometheus-cpp/civetweb worker).
// Every function here is reentrant: no globals, no caching between calls.
//
// Trust model: the segment is written by another process that may be older, newer, buggy or
// in the middle of starting. Nothing in it is used before it is bounded. The bytes are first
// copied out of the mapping into private memory and only the private copy is validated, so
// a concurrent writer cannot change a field between its check and its use.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "api/stats_shm.h"

namespace tg::controlplane {

/// A dataplane whose heartbeat is older than this is reported as down (tunnelgate_dataplane_up 0).
/// The main lcore refreshes the heartbeat about once a second, so 5 s is five missed beats.
inline constexpr uint64_t kHeartbeatStaleNs = 5'000'000'000ULL;

/// Largest lcore id accepted as a label value. DPDK's RTE_MAX_LCORE is 128 in Debian's build
/// and at most 1024 in any build we know of; anything above is a corrupt slot.
inline constexpr uint32_t kMaxLcoreId = 1023;

/// Why a read produced no snapshot. `absent` and `not_initialised` are normal states (the
/// dataplane is not running or still starting); every other code is a failed validation.
/// Append only: the labels are metric label values (tunnelgate_stats_segment_errors_total).
#define TG_SEGMENT_ERRORS(X)                                                                     \
  X(absent, "absent", "no segment: the dataplane is not running")                               \
  X(not_initialised, "not_initialised", "segment exists but its header is not published yet")  \
  X(io_error, "io_error", "shm_open, fstat or mmap failed for another reason than absence")     \
  X(too_small, "too_small", "fewer bytes than the fixed header (magic, version, size)")         \
  X(bad_magic, "bad_magic", "magic is not \"TGS1\"")                                            \
  X(version_mismatch, "version_mismatch", "layout version differs from this build's")           \
  X(size_mismatch, "size_mismatch", "header size field differs from this build's layout")       \
  X(truncated, "truncated", "fewer bytes than the header's size field")                         \
  X(bad_instance, "bad_instance", "instance name not NUL-terminated, invalid or not ours")      \
  X(too_many_ports, "too_many_ports", "n_ports greater than kMaxPorts")                         \
  X(bad_port_name, "bad_port_name", "port name not NUL-terminated, empty or not [a-z0-9_-]")   \
  X(duplicate_port_name, "duplicate_port_name", "two ports with the same name")                 \
  X(bad_port_role, "bad_port_role", "port role neither 0 (outside) nor 1 (inside)")             \
  X(bad_lcore, "bad_lcore", "lcore slot with active not 0/1 or lcore_id above kMaxLcoreId")     \
  X(bad_tls_worker, "bad_tls_worker", "TLS worker slot with active not 0/1 or a foreign worker id")\
  X(duplicate_lcore, "duplicate_lcore", "two active slots with the same lcore_id")           \
  X(bad_app, "bad_app", "n_apps above kMaxApps, or an app name not NUL-terminated or invalid")  \
  X(bad_cert, "bad_cert", "server certificate slot with a flag not 0/1 or unknown finding bits")

enum class SegmentError : uint8_t {
#define TG_X(e, label, help) e,
  TG_SEGMENT_ERRORS(TG_X)
#undef TG_X
      count
};
inline constexpr unsigned kSegmentErrorCount = static_cast<unsigned>(SegmentError::count);

/// Metric label of an error code ("bad_magic", ...).
const char* segment_error_label(SegmentError e);
/// One-line description of an error code.
const char* segment_error_help(SegmentError e);
/// False for `absent` and `not_initialised` (states, not failures); true otherwise.
bool segment_error_is_failure(SegmentError e);

/// Why a read failed: a code for counting, the errno of a failed system call (0 otherwise),
/// and a message naming the object and the offending value.
struct SegmentReadError {
  SegmentError code = SegmentError::absent;
  int sys_errno = 0;
  std::string message;
};

/// One port, as published by the dataplane's main lcore. All strings are validated.
struct PortSnapshot {
  std::string name;  ///< [a-z0-9_-]{1,15}
  uint16_t dpdk_port_id = 0;
  enum class Role : uint8_t { outside = 0, inside = 1, exception = 2 } role = Role::outside;
  std::array<uint8_t, 6> mac{};
  bool link_up = false;
  uint32_t link_speed_mbps = 0;
  uint32_t ipv4_host = 0;
  uint8_t prefix_len = 0;
  shm::PortDeviceCounters device{};  ///< what the PMD counted (losses before any lcore)
};

/// Counters of one active poll lcore. `ports` has exactly StatsSnapshot::ports.size() entries.
struct LcoreSnapshot {
  uint32_t lcore_id = 0;  ///< <= kMaxLcoreId, unique among the snapshot's lcores
  uint64_t loops = 0;
  uint64_t busy_loops = 0;
  uint64_t busy_cycles = 0;
  uint64_t total_cycles = 0;
  uint64_t dtls_sessions = 0;           ///< gauge
  uint64_t crypto_queue_depth_max = 0;  ///< gauge
  shm::EventCounters events{};
  std::array<uint64_t, shm::kDropReasonCount> drops{};
  std::vector<shm::PortCounters> ports;
  std::vector<shm::AppCounters> apps;  ///< StatsSnapshot::apps.size() entries, by app index
  uint32_t stage_sample = 0;           ///< 1 in N poll iterations timed per stage; 0: none
  std::array<shm::StageCounters, shm::kLcoreStageCount> stages{};  ///< by shm::LcoreStage
};

/// One server certificate slot (primary, second) as the dataplane holds it.
struct ServerCertSnapshot {
  bool configured = false;
  bool usable = false;
  bool active = false;
  uint32_t findings = 0;  ///< bit i = shm::CertFindingCode i (checked against the table)
  int64_t not_before = 0;
  int64_t not_after = 0;
};

/// A validated copy of the segment. Owns its data; safe to keep after the segment is gone.
struct StatsSnapshot {
  std::string instance;
  uint64_t generation = 0;    ///< CLOCK_REALTIME ns of the dataplane's start
  uint32_t pid = 0;
  uint64_t tsc_hz = 0;
  uint64_t heartbeat_ns = 0;  ///< CLOCK_REALTIME ns of the last heartbeat
  bool stale = false;         ///< heartbeat missing or older than kHeartbeatStaleNs at read time
  uint32_t neigh_entries = 0;
  uint32_t mempool_in_use = 0;
  uint32_t mempool_size = 0;
  bool lab_forwarding = false;
  uint64_t policy_generation = 0;  ///< 1 at start, +1 per policy reload
  std::vector<std::string> apps;   ///< app index → id (index 0 "" when no apps are configured)
  std::array<ServerCertSnapshot, shm::kServerCertSlots> server_certs{};
  uint64_t cert_reloads_ok = 0;
  uint64_t cert_reloads_failed = 0;
  uint64_t cert_switches = 0;
  std::vector<PortSnapshot> ports;    ///< n_ports (<= kMaxPorts) entries, in slot order
  std::vector<LcoreSnapshot> lcores;  ///< active slots only, in slot order
  std::vector<shm::TlsWorkerStats> tls_workers;  ///< active slots only; worker ids unique
};

/// Result of a read: a snapshot or an error. Mirrors the part of C++23 std::expected we use
/// (the project builds as C++20, where std::expected does not exist yet).
class SegmentReadResult {
 public:
  SegmentReadResult(StatsSnapshot s) : v_(std::move(s)) {}      // NOLINT: implicit like expected
  SegmentReadResult(SegmentReadError e) : v_(std::move(e)) {}   // NOLINT: implicit like unexpected
  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  /// Precondition: has_value().
  const StatsSnapshot& value() const { return std::get<0>(v_); }
  const StatsSnapshot* operator->() const { return &std::get<0>(v_); }
  /// Precondition: !has_value().
  const SegmentReadError& error() const { return std::get<1>(v_); }

 private:
  std::variant<StatsSnapshot, SegmentReadError> v_;
};

/// Validate and decode a segment image. Pure: no system calls, no clock.
///
/// @param bytes    the segment image; any alignment, any length, any content. It must not
///                 change during the call (pass a private copy, not a live mapping).
/// @param now_ns   CLOCK_REALTIME ns used for the staleness check (injected for tests).
/// @param expected_instance  when non-empty, the segment's instance name must equal it.
/// @return a snapshot, or an error whose code is never `absent` or `io_error`.
SegmentReadResult stats_segment_decode(std::span<const std::byte> bytes, uint64_t now_ns,
                                       std::string_view expected_instance = {});

/// Open /tunnelgate-<instance>-stats read-only, map it, copy it, unmap and close it, then
/// validate the copy with stats_segment_decode(). Called on every scrape, so a restarted
/// dataplane (new segment, new generation) is picked up and either process may start first.
///
/// @param instance  the gateway instance name ([a-z0-9_-]{1,24}; anything else is an error).
/// @param now_ns    CLOCK_REALTIME ns for the staleness check.
/// @return a snapshot, or an error: `absent` when the object does not exist,
///         `not_initialised` when it is empty or its magic is still 0, `io_error` with
///         sys_errno for other system-call failures, or any validation error.
/// Precondition: the dataplane never shrinks an existing object (it unlinks and recreates),
/// so the mapping cannot fault while it is copied.
SegmentReadResult stats_segment_open_and_read(const std::string& instance, uint64_t now_ns);

/// CLOCK_REALTIME in nanoseconds (the clock the dataplane's heartbeat uses).
uint64_t realtime_now_ns();

}  // namespace tg::controlplane
