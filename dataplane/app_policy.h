// Per-app policy: which inner packets a tunnel session may exchange with the backends.
//
// The configuration's services (backend subnets, protocols, port ranges) and apps (each a
// list of services) are compiled into one PolicyTable per policy version: an rte_acl
// context over (protocol, address, port) and a verdict per app for each of its results.
// The poll lcores build a PolicyKey per inner packet (app index of the session, protocol,
// the backend's address and port) and classify a whole burst with one policy_classify
// call; the verdict names why a packet is refused, for the per-app and per-reason drop
// counters.
//
// Tables are immutable once built: a reload builds a new one next to the one in use (both
// answer at once; DPDK object names carry the generation), the caller publishes the new
// pointer and frees the old one after every lcore has passed a quiescent state (RCU,
// STYLE #15). Nothing here synchronises lcores; policy_classify only reads.
//
// App indices come from an AppRegistry that lives as long as the process: a session keeps
// the index it got at open across reloads. An app removed by a reload keeps its index (no
// rules: deny_no_app); an app added later gets a new one. Index 0 is reserved: it is
// "every service" when the configuration has no apps, and has no rules otherwise.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"

namespace tg::dp {

/// Capacity of an AppRegistry, index 0 included (so at most kMaxApps - 1 app ids).
inline constexpr unsigned kMaxApps = 256;
/// The app index of a session when the configuration has no apps: every service.
inline constexpr uint16_t kAppEveryService = 0;
/// Longest app id (config validation: 1-255 visible ASCII characters).
inline constexpr unsigned kMaxAppIdLen = 255;

/// What policy_classify says about one packet. Values index per-reason counter arrays.
enum class PolicyVerdict : uint8_t {
  allow = 0,
  deny_destination,  ///< the remote address is in none of the app's services
  deny_protocol,     ///< no service of the app covering the address lists the protocol
  deny_port,         ///< those that do exclude the port (tcp/udp only)
  deny_no_app,       ///< the app index has no services (unknown, removed, >= kMaxApps, 0 with apps)
  count,             ///< number of verdicts (not a verdict)
};
inline constexpr unsigned kPolicyVerdicts = static_cast<unsigned>(PolicyVerdict::count);

/// "allow", "destination", "protocol", "port", "no_app" (a metrics label); "?" otherwise.
const char* policy_verdict_name(PolicyVerdict v);

/// App id -> index, stable for the process lifetime: append-only, so a reload adds new ids
/// and never reuses or reorders an index. Index 0 is reserved (kAppEveryService, name "",
/// never found by find()).
///
/// Thread-safety: find(), size() and name() from any thread (TLS workers at session open);
/// add() from one writer thread at a time (the thread that builds policy tables). Lock-free:
/// a fixed array of names and a count published with release; a name is written before
/// the count that covers it and never changed after, so readers need no other ordering.
class AppRegistry {
 public:
  AppRegistry();
  AppRegistry(const AppRegistry&) = delete;
  AppRegistry& operator=(const AppRegistry&) = delete;

  /// Index of `id`, or -1 if it was never added. Linear in size() (at session open only).
  int find(std::string_view id) const;
  /// Index of `id`, adding it if new. -1 when the registry is full (kMaxApps) or `id` is
  /// empty or longer than kMaxAppIdLen. Writer thread only.
  int add(std::string_view id);
  /// Number of indices handed out, the reserved index 0 included (>= 1).
  unsigned size() const { return count_.load(std::memory_order_acquire); }
  /// The id of `index`; "" for index 0 and for indices not (yet) handed out.
  std::string_view name(unsigned index) const;

 private:
  struct Name {
    uint8_t len;
    char text[kMaxAppIdLen];
  };
  Name names_[kMaxApps];
  // release in add() after the name is written; acquire in readers before they read names
  // below the count.
  std::atomic<unsigned> count_{1};
};

/// What policy_classify looks up: one per packet, built by policy_key_from_ipv4. The rte_acl
/// fields (proto, remote_addr, remote_port) are in network byte order, as rte_acl_classify
/// requires; `app` is not an rte_acl field and is in host order. Pads are zero. The layout
/// follows rte_acl's rules: a 1-byte first field, then whole 4-byte input groups.
struct PolicyKey {
  uint8_t proto;         ///< IP protocol
  uint8_t pad[3];
  uint32_t remote_addr;  ///< the backend's address (network order)
  uint16_t remote_port;  ///< the backend's TCP/UDP port (network order), 0 if none (see below)
  uint16_t pad2;         ///< completes the port's 4-byte input group (an always-wild field)
  uint16_t app;          ///< the session's app index (host order)
  uint16_t pad3;
};
static_assert(sizeof(PolicyKey) == 16, "rte_acl field offsets assume this layout");

/// Fills `key` from an IPv4 packet already validated by parse_ipv4 (dataplane/wire.h):
/// `l3` points at the header, `len` is the bytes available there.
/// @param app the session's app index.
/// @param outbound true for client -> backend (remote = destination address and port),
///   false for backend -> client (remote = source address and port).
/// Ports are read for TCP and UDP only, and only from the first fragment holding the whole
/// minimum L4 header (TCP 20 bytes, UDP 8; a tiny first fragment could otherwise split the
/// ports from the rest, RFC 1858). Otherwise the port is 0: non-first fragments, truncated
/// L4 headers, ICMP and every other protocol. A service with port ranges that exclude 0 thus
/// refuses non-first fragments of its TCP/UDP traffic (deny_port): nothing is reassembled.
/// Reads the 20-byte fixed header and, for the ports, 4 bytes right after the header
/// (options included), never past min(len, total length). Pure, no EAL; any thread.
void policy_key_from_ipv4(const uint8_t* l3, uint32_t len, uint16_t app, bool outbound,
                          PolicyKey* key);

/// A compiled policy version (opaque): an rte_acl context over (proto, address, port) whose
/// results index verdict rows, one verdict byte per app index; see app_policy.cc.
struct PolicyTable;

/// Compiles cfg.services and cfg.apps into a new table, adding the app ids of cfg.apps to
/// `reg` (ids already there keep their index; new ones are numbered in config order).
/// Returns "" on success and *out set, or an error text and *out == nullptr: nothing
/// allocated is left behind and `reg` is unchanged (all or nothing). Never touches a table
/// in use. A new app's index exists from the moment this returns: a session that opens
/// with it before the caller publishes the table gets deny_no_app from the old one.
///
/// Rules: with apps, app `a` may reach an address in a subnet of one of its services with a
/// protocol that service lists and, for tcp/udp, a port in its ranges (none = every port);
/// icmp ignores ports; other IP protocols are never allowed. Without apps, index 0 gets
/// every service. Verdict precedence: allow if one service matches fully; else no_app if
/// the index has no services; else destination if no service of the app covers the address;
/// else protocol if none of those lists the protocol; else port.
///
/// @param socket_id NUMA socket of the table's memory (SOCKET_ID_ANY allowed).
/// @param generation the policy version; part of the DPDK object names, which must be
///   unique: a generation whose table still exists is refused ("exists").
/// Main/control thread only (not thread-safe with itself on the same `reg`). Needs the EAL.
std::string policy_table_build(const config::Config& cfg, AppRegistry& reg, int socket_id,
                               uint64_t generation, PolicyTable** out);

/// Frees a table no lcore can still be reading. nullptr is a no-op.
void policy_table_free(PolicyTable* table);

uint64_t policy_table_generation(const PolicyTable& table);

/// Sizes of a built table, for logs and the report of a reload.
struct PolicyTableInfo {
  uint32_t rules;       ///< rte_acl rules (they depend on the services, not on the apps)
  uint32_t rows;        ///< verdict rows of kMaxApps bytes (deduplicated)
  uint32_t apps;        ///< app indices with at least one service
  uint64_t heap_bytes;  ///< DPDK heap taken by the table (rte_acl context and tries, rows);
                        ///< approximate if other threads allocate during the build
};
PolicyTableInfo policy_table_info(const PolicyTable& table);

/// One call per burst: verdict[i] for keys[i], i < n. Any n (0 included); keys are read
/// only. No allocation, no locks, no logging: for the poll lcores; any number of threads
/// may classify against the same table at once.
void policy_classify(const PolicyTable& table, const PolicyKey* const keys[], uint32_t n,
                     PolicyVerdict verdict[]);

}  // namespace tg::dp
