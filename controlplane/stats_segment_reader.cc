// Control plane: validation and decoding of the dataplane's statistics segment.
// Runs on the /metrics scrape threads; see stats_segment_reader.h for the trust model.
#include "controlplane/stats_segment_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <type_traits>

#include "controlplane/shm_mapping.h"

namespace tg::controlplane {

namespace {

using shm::StatsSegment;

// The decoder copies the image into a StatsSegment with memcpy: that is only defined for a
// trivially copyable type, and only safe because no field has invalid byte patterns (no
// bool, no enum: every flag is a uint8_t/uint32_t checked below).
static_assert(std::is_trivially_copyable_v<StatsSegment>);
static_assert(std::is_trivially_copyable_v<shm::PortCounters>);

// The fixed prefix read before anything else: magic, version, size.
constexpr size_t kFixedHeaderBytes = offsetof(StatsSegment, size) + sizeof(StatsSegment::size);
static_assert(offsetof(StatsSegment, magic) == 0);
static_assert(offsetof(StatsSegment, magic) % alignof(uint32_t) == 0);

// Longest name accepted for an instance: the config allows 24 characters.
constexpr size_t kMaxInstanceLen = 24;

struct ErrorInfo {
  const char* label;
  const char* help;
};
constexpr ErrorInfo kSegmentErrorInfo[kSegmentErrorCount] = {
#define TG_X(e, label, help) {label, help},
    TG_SEGMENT_ERRORS(TG_X)
#undef TG_X
};

SegmentReadError make_error(SegmentError code, std::string message, int sys_errno = 0) {
  return SegmentReadError{code, sys_errno, std::move(message)};
}

template <typename T>
T load_unaligned(std::span<const std::byte> bytes, size_t offset) {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

bool name_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/// Validate a NUL-terminated name in a fixed buffer: returns an empty string on success and
/// fills `out`, or a description of the problem.
std::string check_name(const char* buf, size_t cap, size_t max_len, std::string& out) {
  const void* nul = std::memchr(buf, '\0', cap);
  if (nul == nullptr) {
    return "is not NUL-terminated within " + std::to_string(cap) + " bytes";
  }
  const size_t len = static_cast<size_t>(static_cast<const char*>(nul) - buf);
  if (len == 0) {
    return "is empty";
  }
  if (len > max_len) {
    return "is " + std::to_string(len) + " characters long (at most " + std::to_string(max_len) +
           ")";
  }
  for (size_t i = 0; i < len; ++i) {
    if (!name_char_ok(buf[i])) {
      return "has byte 0x" + [](unsigned char c) {
        static constexpr char kHex[] = "0123456789abcdef";
        return std::string{kHex[c >> 4], kHex[c & 0xf]};
      }(static_cast<unsigned char>(buf[i])) + " at offset " + std::to_string(i) +
             " (expected [a-z0-9_-])";
    }
  }
  out.assign(buf, len);
  return {};
}

std::optional<SegmentReadError> decode_ports(const StatsSegment& seg, StatsSnapshot& snap) {
  if (seg.n_ports > shm::kMaxPorts) {
    return make_error(SegmentError::too_many_ports,
                      "n_ports is " + std::to_string(seg.n_ports) + " (at most " +
                          std::to_string(shm::kMaxPorts) + ")");
  }
  snap.ports.reserve(seg.n_ports);
  for (uint32_t i = 0; i < seg.n_ports; ++i) {
    const shm::PortInfo& in = seg.ports[i];
    PortSnapshot p;
    if (std::string why = check_name(in.name, sizeof in.name, shm::kPortNameLen - 1, p.name);
        !why.empty()) {
      return make_error(SegmentError::bad_port_name,
                        "ports[" + std::to_string(i) + "].name " + why);
    }
    for (const PortSnapshot& prev : snap.ports) {
      if (prev.name == p.name) {
        return make_error(SegmentError::duplicate_port_name,
                          "ports[" + std::to_string(i) + "].name \"" + p.name +
                              "\" is used by an earlier port");
      }
    }
    if (in.role > static_cast<uint8_t>(PortSnapshot::Role::exception)) {
      return make_error(SegmentError::bad_port_role,
                        "ports[" + std::to_string(i) + "].role is " + std::to_string(in.role) +
                            " (expected 0 outside or 1 inside)");
    }
    p.dpdk_port_id = in.dpdk_port_id;
    p.role = static_cast<PortSnapshot::Role>(in.role);
    std::copy(std::begin(in.mac), std::end(in.mac), p.mac.begin());
    p.link_up = in.link_up != 0;
    p.link_speed_mbps = in.link_speed_mbps;
    p.device = in.device;
    p.ipv4_host = in.ipv4_host;
    p.prefix_len = std::min<uint8_t>(in.prefix_len, 32);
    snap.ports.push_back(std::move(p));
  }
  return std::nullopt;
}

std::optional<SegmentReadError> decode_tls_workers(const StatsSegment& seg, StatsSnapshot& snap) {
  for (unsigned slot = 0; slot < shm::kMaxTlsWorkers; ++slot) {
    const shm::TlsWorkerStats& in = seg.tls_workers[slot];
    if (in.active == 0) continue;
    // Slot i is worker i: anything else is a corrupt segment.
    if (in.active != 1 || in.worker != slot) {
      return make_error(SegmentError::bad_tls_worker,
                        "tls_workers[" + std::to_string(slot) + "] has active " + std::to_string(in.active) +
                            " and worker " + std::to_string(in.worker) + " (expected 1 and " +
                            std::to_string(slot) + ")");
    }
    snap.tls_workers.push_back(in);
  }
  return std::nullopt;
}

/// App ids as the config allows them: 1..255 visible ASCII characters ("" only at index 0,
/// the app of every session when none is configured); unique.
std::optional<SegmentReadError> decode_apps(const StatsSegment& seg, StatsSnapshot& snap) {
  if (seg.n_apps > shm::kMaxApps) {
    return make_error(SegmentError::bad_app, "n_apps is " + std::to_string(seg.n_apps) +
                                                 " (at most " + std::to_string(shm::kMaxApps) + ")");
  }
  for (unsigned i = 0; i < seg.n_apps; ++i) {
    const char* name = seg.app_names[i];
    const void* nul = std::memchr(name, '\0', shm::kAppNameLen);
    const size_t len = nul ? static_cast<size_t>(static_cast<const char*>(nul) - name) : 0;
    const bool visible = std::all_of(name, name + len, [](char c) { return c > 0x20 && c < 0x7f; });
    if (nul == nullptr || !visible || (len == 0 && i != 0)) {
      return make_error(SegmentError::bad_app,
                        "app_names[" + std::to_string(i) + "] is not an app id (expected 1-255 "
                        "visible ASCII characters, NUL-terminated)");
    }
    std::string id(name, len);
    if (std::find(snap.apps.begin(), snap.apps.end(), id) != snap.apps.end()) {
      return make_error(SegmentError::bad_app,
                        "app_names[" + std::to_string(i) + "] repeats an earlier app id");
    }
    snap.apps.push_back(std::move(id));
  }
  return std::nullopt;
}

std::string hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%x", v);
  return b;
}

std::optional<SegmentReadError> decode_server_certs(const StatsSegment& seg, StatsSnapshot& snap) {
  constexpr uint32_t kKnownFindings = (uint32_t{1} << shm::kCertFindingCount) - 1;
  for (unsigned i = 0; i < shm::kServerCertSlots; ++i) {
    const shm::ServerCertInfo& in = seg.server_certs[i];
    if (in.configured > 1 || in.usable > 1 || in.active > 1 || (in.findings & ~kKnownFindings) != 0) {
      return make_error(SegmentError::bad_cert,
                        "server_certs[" + std::to_string(i) + "] has configured " +
                            std::to_string(in.configured) + ", usable " + std::to_string(in.usable) +
                            ", active " + std::to_string(in.active) + ", findings " +
                            hex32(in.findings) + " (expected 0/1 flags and known finding bits)");
    }
    ServerCertSnapshot& out = snap.server_certs[i];
    out.configured = in.configured != 0;
    out.usable = in.usable != 0;
    out.active = in.active != 0;
    out.findings = in.findings;
    out.not_before = in.not_before;
    out.not_after = in.not_after;
  }
  snap.cert_reloads_ok = seg.cert_reloads_ok;
  snap.cert_reloads_failed = seg.cert_reloads_failed;
  snap.cert_switches = seg.cert_switches;
  return std::nullopt;
}

std::optional<SegmentReadError> decode_lcores(const StatsSegment& seg, StatsSnapshot& snap) {
  const size_t n_ports = snap.ports.size();  // already bounded by kMaxPorts
  const size_t n_apps = snap.apps.size();    // already bounded by kMaxApps
  for (unsigned slot = 0; slot < shm::kMaxLcores; ++slot) {
    const shm::LcoreStats& in = seg.lcores[slot];
    if (in.active == 0) {
      continue;
    }
    if (in.active != 1) {
      return make_error(SegmentError::bad_lcore, "lcores[" + std::to_string(slot) +
                                                     "].active is " + std::to_string(in.active) +
                                                     " (expected 0 or 1)");
    }
    if (in.lcore_id > kMaxLcoreId) {
      return make_error(SegmentError::bad_lcore,
                        "lcores[" + std::to_string(slot) + "].lcore_id is " +
                            std::to_string(in.lcore_id) + " (at most " +
                            std::to_string(kMaxLcoreId) + ")");
    }
    for (const LcoreSnapshot& prev : snap.lcores) {
      if (prev.lcore_id == in.lcore_id) {
        return make_error(SegmentError::duplicate_lcore,
                          "lcores[" + std::to_string(slot) + "].lcore_id " +
                              std::to_string(in.lcore_id) + " is used by an earlier slot");
      }
    }
    LcoreSnapshot l;
    l.lcore_id = in.lcore_id;
    l.loops = in.loops;
    l.busy_loops = in.busy_loops;
    l.busy_cycles = in.busy_cycles;
    l.total_cycles = in.total_cycles;
    l.dtls_sessions = in.dtls_sessions;
    l.crypto_queue_depth_max = in.crypto_queue_depth_max;
    l.events = in.events;
    std::copy(std::begin(in.drops), std::end(in.drops), l.drops.begin());
    l.ports.assign(in.ports, in.ports + n_ports);
    l.apps.assign(in.apps, in.apps + n_apps);
    l.stage_sample = in.stage_sample;
    std::copy(std::begin(in.stages), std::end(in.stages), l.stages.begin());
    snap.lcores.push_back(std::move(l));
  }
  return std::nullopt;
}

}  // namespace

const char* segment_error_label(SegmentError e) {
  const auto i = static_cast<unsigned>(e);
  return i < kSegmentErrorCount ? kSegmentErrorInfo[i].label : "unknown";
}

const char* segment_error_help(SegmentError e) {
  const auto i = static_cast<unsigned>(e);
  return i < kSegmentErrorCount ? kSegmentErrorInfo[i].help : "unknown error";
}

bool segment_error_is_failure(SegmentError e) {
  return e != SegmentError::absent && e != SegmentError::not_initialised;
}

SegmentReadResult stats_segment_decode(std::span<const std::byte> bytes, uint64_t now_ns,
                                       std::string_view expected_instance) {
  // 1. The fixed prefix, read field by field: nothing past it is looked at before the
  //    magic, version and size say the layout is ours.
  if (bytes.size() < kFixedHeaderBytes) {
    return make_error(SegmentError::too_small, std::to_string(bytes.size()) +
                                                   " bytes, fewer than the " +
                                                   std::to_string(kFixedHeaderBytes) +
                                                   "-byte fixed header");
  }
  const auto magic = load_unaligned<uint32_t>(bytes, offsetof(StatsSegment, magic));
  if (magic == 0) {
    return make_error(SegmentError::not_initialised, "magic is 0 (header not published yet)");
  }
  if (magic != shm::kStatsMagic) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%08x", magic);
    return make_error(SegmentError::bad_magic, std::string("magic is ") + buf + " (expected " +
                                                   "0x31534754 \"TGS1\")");
  }
  const auto version = load_unaligned<uint32_t>(bytes, offsetof(StatsSegment, version));
  if (version != shm::kStatsVersion) {
    return make_error(SegmentError::version_mismatch,
                      "layout version is " + std::to_string(version) + " (this build reads " +
                          std::to_string(shm::kStatsVersion) + ")");
  }
  const auto size = load_unaligned<uint64_t>(bytes, offsetof(StatsSegment, size));
  if (size != sizeof(StatsSegment)) {
    return make_error(SegmentError::size_mismatch,
                      "header size is " + std::to_string(size) + " (this build's layout is " +
                          std::to_string(sizeof(StatsSegment)) + " bytes)");
  }
  if (bytes.size() < sizeof(StatsSegment)) {
    return make_error(SegmentError::truncated,
                      std::to_string(bytes.size()) + " bytes, fewer than the header's size " +
                          std::to_string(size));
  }

  // 2. The layout is ours: take a private, aligned copy and check every field that is used
  //    as a bound, an index, a label or an enum. Counters need no check (any value is valid).
  auto seg = std::make_unique<StatsSegment>();
  std::memcpy(seg.get(), bytes.data(), sizeof(StatsSegment));

  StatsSnapshot snap;
  if (std::string why =
          check_name(seg->instance, sizeof seg->instance, kMaxInstanceLen, snap.instance);
      !why.empty()) {
    return make_error(SegmentError::bad_instance, "instance name " + why);
  }
  if (!expected_instance.empty() && snap.instance != expected_instance) {
    return make_error(SegmentError::bad_instance, "instance is \"" + snap.instance +
                                                      "\" (expected \"" +
                                                      std::string(expected_instance) + "\")");
  }
  if (std::optional<SegmentReadError> err = decode_ports(*seg, snap)) {
    return std::move(*err);
  }
  if (std::optional<SegmentReadError> err = decode_apps(*seg, snap)) {
    return std::move(*err);
  }
  if (std::optional<SegmentReadError> err = decode_server_certs(*seg, snap)) {
    return std::move(*err);
  }
  if (std::optional<SegmentReadError> err = decode_lcores(*seg, snap)) {
    return std::move(*err);
  }
  if (std::optional<SegmentReadError> err = decode_tls_workers(*seg, snap)) {
    return std::move(*err);
  }

  snap.generation = seg->generation;
  snap.pid = seg->pid;
  snap.tsc_hz = seg->tsc_hz;
  snap.heartbeat_ns = seg->heartbeat_ns;
  // A heartbeat in the future (the clock was stepped back) is not stale: the main lcore
  // rewrites it from the same clock within a second.
  snap.stale = seg->heartbeat_ns == 0 ||
               (now_ns > seg->heartbeat_ns && now_ns - seg->heartbeat_ns > kHeartbeatStaleNs);
  snap.neigh_entries = seg->neigh_entries;
  snap.mempool_in_use = seg->mempool_in_use;
  snap.mempool_size = seg->mempool_size;
  snap.lab_forwarding = seg->lab_forwarding != 0;
  snap.policy_generation = seg->policy_generation;
  return snap;
}

namespace {

bool instance_name_ok(const std::string& instance) {
  return !instance.empty() && instance.size() <= kMaxInstanceLen &&
         std::all_of(instance.begin(), instance.end(), name_char_ok);
}

/// Copy `len` bytes out of the live mapping into `dst`. The magic is loaded first with
/// acquire order, pairing with the dataplane's release store of it: every header field the
/// dataplane wrote before publishing is then visible to the loads that follow. The rest is
/// copied one aligned 64-bit word at a time with relaxed atomic loads, so each counter
/// (written with plain aligned 64-bit stores by its lcore) is read whole, never torn, which
/// memcpy does not promise.
void copy_from_mapping(const void* src, size_t len, StatsSegment* dst) {
  auto* out = reinterpret_cast<std::byte*>(dst);
  const auto* magic_src = static_cast<const uint32_t*>(src);
  const uint32_t magic = __atomic_load_n(magic_src, __ATOMIC_ACQUIRE);
  const auto* words = static_cast<const uint64_t*>(src);  // mmap is page-aligned
  const size_t n_words = len / sizeof(uint64_t);
  for (size_t i = 0; i < n_words; ++i) {
    const uint64_t w = __atomic_load_n(&words[i], __ATOMIC_RELAXED);
    std::memcpy(out + i * sizeof w, &w, sizeof w);
  }
  const auto* tail = static_cast<const unsigned char*>(src);
  for (size_t i = n_words * sizeof(uint64_t); i < len; ++i) {
    out[i] = static_cast<std::byte>(__atomic_load_n(&tail[i], __ATOMIC_RELAXED));
  }
  std::memcpy(out, &magic, sizeof magic);  // the value we ordered against
}

}  // namespace

SegmentReadResult stats_segment_open_and_read(const std::string& instance, uint64_t now_ns) {
  if (!instance_name_ok(instance)) {
    return make_error(SegmentError::bad_instance,
                      "instance name \"" + instance + "\" is not [a-z0-9_-]{1,24}");
  }
  const std::string name = shm::stats_shm_name(instance);
  // Map no more than our layout: a larger object is rejected by the size field anyway.
  Expected<ShmMapping> map = ShmMapping::open(name, sizeof(StatsSegment));
  if (!map) {
    const Error& e = map.error();
    if (e.code == ENOENT) return make_error(SegmentError::absent, e.message, e.code);
    // Created, not yet sized with ftruncate: the dataplane is starting.
    if (e.code == ENODATA) return make_error(SegmentError::not_initialised, e.message);
    return make_error(SegmentError::io_error, e.message, e.code);
  }
  const size_t len = map->bytes().size();

  auto copy = std::make_unique<StatsSegment>();
  copy_from_mapping(map->bytes().data(), len, copy.get());
  SegmentReadResult r = stats_segment_decode(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(copy.get()), len), now_ns,
      instance);
  if (!r.has_value()) {
    SegmentReadError e = r.error();
    e.message = name + ": " + e.message;
    return e;
  }
  return r;
}

uint64_t realtime_now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace tg::controlplane
