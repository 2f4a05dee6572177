// Per-app policy compiled into rte_acl plus a verdict table (app_policy.h has the contract).
//
// Two steps per packet, the second a plain array read:
//   1. rte_acl over (proto, remote_addr, remote_port), ONE category, no app field. Its rules
//      partition that space into regions that every service treats alike, and each rule's
//      userdata is the index of a verdict row.
//   2. verdict = rows[row][app]: a row holds one PolicyVerdict byte per app index (256).
//
// Why not the app in the rte_acl key (one rule per app x service x subnet x protocol x
// port range, 4 categories for allow / address / protocol / app-known)? That was built
// first and measured against this (bench/app_policy_bench.cc, DPDK 22.11 at the EAL's
// default SIMD width, i.e. rte_acl's AVX512X16 on the 2-core Xeon used; same load). For
// 255 apps x 10 services x 4 subnets (/24) x tcp+udp+icmp x 4 port ranges:
//                                  per-app rules (app 2nd | app last)   this design
//   services shared (pool of 100)  122k rules, 54 | 37 MiB, 1.9 | 2.2 s   4.8k rules, 2.0 MiB, 61 ms
//   each app its own services      122k rules, 53 | 299 MiB, 1.9 | 18 s   122k rules, 49 MiB, 1.8 s
// and per packet (key + classify, bursts of 32): 50/90/150 (app 2nd) and 42/68/112 (app
// last) cycles for 1x1 / 50x10 / 255x20 shared-pool configs, against 46/55/56 here; 148 |
// 200 against 111 for the own-services config. The cost here grows with the number of
// distinct subnets, not with apps x services. rte_acl_build's temporary memory is
// ordinary malloc, about 0.7 GB at 122k rules (~30 MB at 4.8k): a reload's transient cost.
// The rules themselves (80 bytes each) stay inside the rte_acl context after the build.
//
// Regions. Service subnets nest or are disjoint, so the set of services whose subnets
// contain an address is fixed by the longest distinct subnet P that contains it. For each
// P the build emits, with priorities such that a longer P always wins and, at one P, a
// more specific rule wins:
//   - tcp and udp (when a service covering P lists them): P's port space is cut at every
//     range edge of those services; one rule per run of ports that the same non-empty set
//     of them allows, and below it one rule for the protocol at any port (no service
//     allows the port), omitted when a single run covers every port;
//   - icmp: one rule, any port (icmp has no ports), if a service covering P lists it;
//   - any protocol, any port, lowest: the protocols that no service covering P lists
//     (gre, esp, ..., and tcp/udp/icmp when not listed).
// So a subnet costs at most 1 + (1 + R) * 2 + 1 rules for R disjoint port ranges, however
// many apps use it.
//
// Each rule carries three service sets: covering the address (S_addr), also listing the
// protocol (S_proto), also allowing the port (S_allow). For an app with services A the
// verdict is: no_app if A is empty; allow if A meets S_allow; else destination if A misses
// S_addr; else protocol if A misses S_proto; else port. Rows are deduplicated; row 0 is
// "no rule matched" (an address in no service): destination, or no_app for an app without
// services. App indices not in the config (removed, never added, 0 when apps exist) have
// no_app in every row; indices >= kMaxApps are checked in policy_classify.
//
// rte_acl layout: the first field must be 1 byte (proto, BITMASK); later fields fill whole
// 4-byte input groups: remote_addr (MASK), remote_port + pad2 (RANGE each; pad2 always
// 0-65535). Rules are given in host byte order, keys in network byte order.
#include "dataplane/app_policy.h"

#include <rte_acl.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_malloc.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <new>
#include <set>
#include <tuple>
#include <vector>

#include "dataplane/wire.h"

namespace tg::dp {

// ---------------------------------------------------------------- verdicts

const char* policy_verdict_name(PolicyVerdict v) {
  switch (v) {
    case PolicyVerdict::allow: return "allow";
    case PolicyVerdict::deny_destination: return "destination";
    case PolicyVerdict::deny_protocol: return "protocol";
    case PolicyVerdict::deny_port: return "port";
    case PolicyVerdict::deny_no_app: return "no_app";
    case PolicyVerdict::count: break;
  }
  return "?";
}

// ---------------------------------------------------------------- AppRegistry

AppRegistry::AppRegistry() {
  for (Name& n : names_) n.len = 0;
}

int AppRegistry::find(std::string_view id) const {
  if (id.empty()) return -1;  // index 0 has no name that can be looked up
  const unsigned n = size();
  for (unsigned i = 1; i < n; i++) {
    if (names_[i].len == id.size() && std::memcmp(names_[i].text, id.data(), id.size()) == 0)
      return static_cast<int>(i);
  }
  return -1;
}

int AppRegistry::add(std::string_view id) {
  if (id.empty() || id.size() > kMaxAppIdLen) return -1;
  if (const int found = find(id); found >= 0) return found;
  // relaxed: only this (the writer) thread stores count_.
  const unsigned n = count_.load(std::memory_order_relaxed);
  if (n >= kMaxApps) return -1;
  std::memcpy(names_[n].text, id.data(), id.size());
  names_[n].len = static_cast<uint8_t>(id.size());
  // release: the name above is visible to a reader that sees the new count.
  count_.store(n + 1, std::memory_order_release);
  return static_cast<int>(n);
}

std::string_view AppRegistry::name(unsigned index) const {
  if (index == 0 || index >= size()) return {};
  return {names_[index].text, names_[index].len};
}

// ---------------------------------------------------------------- keys

void policy_key_from_ipv4(const uint8_t* l3, uint32_t len, uint16_t app, bool outbound,
                          PolicyKey* key) {
  std::memset(key, 0, sizeof(*key));
  const uint8_t proto = l3[9];
  key->proto = proto;
  key->app = app;
  // Addresses are copied as they are on the wire: already network order.
  std::memcpy(&key->remote_addr, l3 + (outbound ? 16 : 12), 4);

  uint32_t min_l4 = 0;
  if (proto == wire::kIpProtoTcp) min_l4 = 20;
  else if (proto == wire::kIpProtoUdp) min_l4 = 8;
  else return;  // ICMP and other protocols: no port
  if ((load_be16(l3 + 6) & wire::kIpv4OffsetMask) != 0) return;  // non-first fragment
  const uint32_t hdr_len = (l3[0] & 0x0fu) * 4u;
  const uint32_t end = std::min<uint32_t>(len, load_be16(l3 + 2));
  if (hdr_len < wire::kIpv4MinHdrLen || end < hdr_len + min_l4) return;  // truncated
  std::memcpy(&key->remote_port, l3 + hdr_len + (outbound ? 2 : 0), 2);
}

// ---------------------------------------------------------------- the build

namespace {

enum Field : uint8_t { kFieldProto, kFieldAddr, kFieldPort, kFieldPad, kFields };
RTE_ACL_RULE_DEF(PolicyAclRule, kFields);

rte_acl_config acl_config() {
  rte_acl_config c{};
  c.num_categories = 1;
  c.num_fields = kFields;
  c.max_size = 0;  // no limit: rte_acl splits into more tries only when a rule set explodes
  const auto def = [&](Field f, uint8_t type, uint8_t size, uint8_t input, size_t offset) {
    c.defs[f] = rte_acl_field_def{type, size, f, input, static_cast<uint32_t>(offset)};
  };
  def(kFieldProto, RTE_ACL_FIELD_TYPE_BITMASK, 1, 0, offsetof(PolicyKey, proto));
  def(kFieldAddr, RTE_ACL_FIELD_TYPE_MASK, 4, 1, offsetof(PolicyKey, remote_addr));
  def(kFieldPort, RTE_ACL_FIELD_TYPE_RANGE, 2, 2, offsetof(PolicyKey, remote_port));
  def(kFieldPad, RTE_ACL_FIELD_TYPE_RANGE, 2, 2, offsetof(PolicyKey, pad2));
  return c;
}

using Row = std::array<PolicyVerdict, kMaxApps>;
using ServiceSet = std::vector<uint32_t>;  ///< sorted indices into cfg.services

uint32_t mask_of(uint8_t len) { return len == 0 ? 0 : ~0u << (32 - len); }

/// Rule priorities: longest subnet first; at one subnet, port runs before the protocol's
/// any-port rule before the any-protocol rule. Priority = kLevels * (len + 1) + level.
enum Level : uint8_t { kLevelAnyProto, kLevelProto, kLevelPorts, kLevels };

/// One rte_acl rule before it is written out (host byte order).
struct Rule {
  uint8_t proto;  ///< 0 with proto_any
  bool proto_any;
  uint32_t net;
  uint8_t len;
  uint16_t port_first, port_last;
  Level level;
  uint32_t row;
};

struct Service {
  std::vector<std::pair<uint32_t, uint8_t>> subnets;  ///< (network, length)
  bool tcp = false, udp = false, icmp = false;
  std::vector<config::PortRange> ports;  ///< empty = every port
  bool allows_port(uint16_t port) const {
    if (ports.empty()) return true;
    for (const auto& r : ports)
      if (port >= r.first && port <= r.last) return true;
    return false;
  }
  bool lists(uint8_t proto) const {
    return (proto == wire::kIpProtoTcp && tcp) || (proto == wire::kIpProtoUdp && udp) ||
           (proto == wire::kIpProtoIcmp && icmp);
  }
};

std::string check_service(const config::ServiceConfig& in, Service* out) {
  for (const config::IpPrefix& subnet : in.subnets) {
    if (!subnet.addr.is_v4() || subnet.len > 32)
      return "service " + in.name + ": subnet " + config::to_string(subnet) + " is not an IPv4 prefix";
    out->subnets.emplace_back(subnet.addr.v4_host() & mask_of(subnet.len), subnet.len);
  }
  for (const std::string& p : in.protocols) {
    if (p == "tcp") out->tcp = true;
    else if (p == "udp") out->udp = true;
    else if (p == "icmp") out->icmp = true;
    else return "service " + in.name + ": unknown protocol \"" + p + "\"";
  }
  for (const config::PortRange& r : in.ports) {
    if (r.first > r.last)
      return "service " + in.name + ": port range " + std::to_string(r.first) + "-" +
             std::to_string(r.last) + " is empty";
  }
  out->ports = in.ports;
  return {};
}

/// Verdict rows, deduplicated; row 0 is "no rule matched".
class RowBuilder {
 public:
  /// `apps[a]`: the services of app index a (empty: no rules, no_app).
  explicit RowBuilder(std::vector<std::vector<bool>> apps) : apps_(std::move(apps)) {
    // Row 0, "no rule matched", stays out of the deduplication: rules never carry 0 (it is
    // "no match" in rte_acl's results), even when their row reads the same.
    rows_.push_back(make_row({}, {}, {}));
  }
  /// The row of a rule with these service sets (>= 1).
  uint32_t row_for(const ServiceSet& addr, const ServiceSet& proto, const ServiceSet& allow) {
    auto key = std::make_tuple(addr, proto, allow);
    if (auto it = by_sets_.find(key); it != by_sets_.end()) return it->second;
    const Row row = make_row(addr, proto, allow);
    const auto [it, added] = by_row_.emplace(row, static_cast<uint32_t>(rows_.size()));
    if (added) rows_.push_back(row);
    by_sets_.emplace(std::move(key), it->second);
    return it->second;
  }
  const std::vector<Row>& rows() const { return rows_; }

 private:
  Row make_row(const ServiceSet& addr, const ServiceSet& proto, const ServiceSet& allow) const {
    Row row;
    row.fill(PolicyVerdict::deny_no_app);
    for (size_t a = 0; a < apps_.size(); a++) {
      const std::vector<bool>& mine = apps_[a];
      if (mine.empty()) continue;
      const auto meets = [&](const ServiceSet& s) {
        return std::any_of(s.begin(), s.end(), [&](uint32_t i) { return mine[i]; });
      };
      row[a] = meets(allow) ? PolicyVerdict::allow
               : !meets(addr) ? PolicyVerdict::deny_destination
               : !meets(proto) ? PolicyVerdict::deny_protocol
                               : PolicyVerdict::deny_port;
    }
    return row;
  }

  std::vector<std::vector<bool>> apps_;
  std::map<std::tuple<ServiceSet, ServiceSet, ServiceSet>, uint32_t> by_sets_;
  std::map<Row, uint32_t> by_row_;
  std::vector<Row> rows_;
};

/// Rules for tcp or udp at one distinct subnet: one for the protocol at any port (the
/// services listing it, none allowing the port), then one per run of ports that the same
/// non-empty set of services allows, at a higher priority. The port space is cut at every
/// range edge of the services listing the protocol.
void port_rules(uint8_t proto, uint32_t net, uint8_t len, const std::vector<Service>& services,
                const ServiceSet& addr, const ServiceSet& listing, RowBuilder& rows,
                std::vector<Rule>& out) {
  std::set<uint32_t> cuts = {0};  // first port of each elementary run
  for (uint32_t s : listing) {
    for (const auto& r : services[s].ports) {
      cuts.insert(r.first);
      if (r.last < 65535) cuts.insert(uint32_t{r.last} + 1u);
    }
  }
  struct Run {
    uint32_t first, last;
    ServiceSet allow;
  };
  std::vector<Run> runs;
  for (auto it = cuts.begin(); it != cuts.end(); ++it) {
    const uint32_t last = std::next(it) == cuts.end() ? 65535 : *std::next(it) - 1;
    ServiceSet allow;
    for (uint32_t s : listing)
      if (services[s].allows_port(static_cast<uint16_t>(*it))) allow.push_back(s);
    if (!runs.empty() && runs.back().allow == allow) runs.back().last = last;  // same services
    else runs.push_back({*it, last, std::move(allow)});
  }
  if (runs.size() > 1 || runs.front().allow.empty())
    out.push_back({proto, false, net, len, 0, 65535, kLevelProto, rows.row_for(addr, listing, {})});
  for (const Run& r : runs) {
    if (r.allow.empty()) continue;  // the rule above answers "port"
    out.push_back({proto, false, net, len, static_cast<uint16_t>(r.first), static_cast<uint16_t>(r.last),
                   kLevelPorts, rows.row_for(addr, listing, r.allow)});
  }
}

PolicyAclRule acl_rule(const Rule& r) {
  PolicyAclRule a{};
  a.data.category_mask = 1;
  a.data.priority = kLevels * (r.len + 1) + r.level;
  a.data.userdata = r.row;  // >= 1: 0 is "no match" in rte_acl's results
  a.field[kFieldProto].value.u8 = r.proto;
  a.field[kFieldProto].mask_range.u8 = r.proto_any ? 0 : 0xff;
  a.field[kFieldAddr].value.u32 = r.net;
  a.field[kFieldAddr].mask_range.u32 = r.len;
  a.field[kFieldPort].value.u16 = r.port_first;
  a.field[kFieldPort].mask_range.u16 = r.port_last;
  a.field[kFieldPad].value.u16 = 0;
  a.field[kFieldPad].mask_range.u16 = 65535;
  return a;
}

uint64_t dpdk_heap_allocated() {
  uint64_t total = 0;
  for (unsigned i = 0; i < rte_socket_count(); i++) {
    rte_malloc_socket_stats st{};
    if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &st) == 0)
      total += st.heap_allocsz_bytes;
  }
  return total;
}

}  // namespace

struct PolicyTable {
  rte_acl_ctx* acl = nullptr;       ///< nullptr when there are no rules (every key: row 0)
  const PolicyVerdict* rows = nullptr;  ///< row r, app a at rows[r * kMaxApps + a]
  uint64_t generation = 0;
  PolicyTableInfo info{};
};

std::string policy_table_build(const config::Config& cfg, AppRegistry& reg, int socket_id,
                               uint64_t generation, PolicyTable** out) {
  *out = nullptr;
  // App indices: known ids keep theirs; new ids get the next ones in config order. They are
  // added to `reg` only once the table is built (all or nothing; one writer, so the
  // indices predicted here are the ones add() hands out).
  std::vector<uint32_t> app_index(cfg.apps.size());
  std::vector<std::string_view> new_ids;
  for (size_t i = 0; i < cfg.apps.size(); i++) {
    const std::string& id = cfg.apps[i].id;
    if (id.empty() || id.size() > kMaxAppIdLen)
      return "app \"" + id + "\": id must be 1.." + std::to_string(kMaxAppIdLen) + " characters";
    if (const int known = reg.find(id); known >= 0) {
      app_index[i] = static_cast<uint32_t>(known);
      continue;
    }
    const auto seen = std::find(new_ids.begin(), new_ids.end(), id);
    app_index[i] = reg.size() + static_cast<uint32_t>(seen - new_ids.begin());
    if (seen == new_ids.end()) new_ids.push_back(id);
  }
  if (reg.size() + new_ids.size() > kMaxApps)
    return "too many app ids over the process lifetime: " + std::to_string(reg.size() - 1) +
           " known, " + std::to_string(new_ids.size()) + " new, at most " +
           std::to_string(kMaxApps - 1) + " (restart the dataplane to reclaim removed apps' ids)";

  // Services, checked; then each app index's set of services.
  std::vector<Service> services(cfg.services.size());
  std::map<std::string, uint32_t> service_index;
  for (size_t s = 0; s < cfg.services.size(); s++) {
    if (std::string error = check_service(cfg.services[s], &services[s]); !error.empty()) return error;
    service_index.emplace(cfg.services[s].name, static_cast<uint32_t>(s));
  }
  std::vector<std::vector<bool>> app_services(kMaxApps);
  if (cfg.apps.empty() && !services.empty()) app_services[kAppEveryService].assign(services.size(), true);
  for (size_t i = 0; i < cfg.apps.size(); i++) {
    std::vector<bool>& mine = app_services[app_index[i]];
    for (const std::string& name : cfg.apps[i].services) {
      const auto s = service_index.find(name);
      if (s == service_index.end())
        return "app \"" + cfg.apps[i].id + "\": unknown service \"" + name + "\"";
      mine.resize(services.size(), false);
      mine[s->second] = true;
    }
  }
  uint32_t apps_with_rules = 0;
  for (const auto& mine : app_services) apps_with_rules += mine.empty() ? 0 : 1;

  // Distinct subnets -> the services with exactly that subnet.
  std::map<std::pair<uint32_t, uint8_t>, ServiceSet> subnets;
  for (uint32_t s = 0; s < services.size(); s++) {
    for (const auto& sub : services[s].subnets) {
      ServiceSet& set = subnets[sub];
      if (set.empty() || set.back() != s) set.push_back(s);
    }
  }
  RowBuilder rows(std::move(app_services));
  std::vector<Rule> rules;
  for (const auto& [sub, exact] : subnets) {
    const auto [net, len] = sub;
    // Services covering this subnet: those of every distinct subnet containing it.
    std::vector<bool> covering(services.size(), false);
    for (uint8_t l = 0; l <= len; l++) {
      const auto it = subnets.find({net & mask_of(l), l});
      if (it != subnets.end())
        for (uint32_t s : it->second) covering[s] = true;
    }
    ServiceSet addr;
    for (uint32_t s = 0; s < services.size(); s++)
      if (covering[s]) addr.push_back(s);
    for (const uint8_t proto : {wire::kIpProtoTcp, wire::kIpProtoUdp, wire::kIpProtoIcmp}) {
      ServiceSet listing;
      for (uint32_t s : addr)
        if (services[s].lists(proto)) listing.push_back(s);
      if (listing.empty()) continue;  // the any-protocol rule answers "protocol"
      if (proto == wire::kIpProtoIcmp)
        rules.push_back({proto, false, net, len, 0, 65535, kLevelPorts, rows.row_for(addr, listing, listing)});
      else
        port_rules(proto, net, len, services, addr, listing, rows, rules);
    }
    rules.push_back({0, true, net, len, 0, 65535, kLevelAnyProto, rows.row_for(addr, {}, {})});
  }
  const std::vector<Row>& row_list = rows.rows();

  // The table: header and rows in one DPDK allocation on the lcores' socket.
  // Rows start on a cache line: a row is 4 lines, a lookup touches one.
  const uint64_t heap_before = dpdk_heap_allocated();
  const size_t rows_at = RTE_ALIGN_CEIL(sizeof(PolicyTable), RTE_CACHE_LINE_SIZE);
  const size_t rows_bytes = row_list.size() * sizeof(Row);
  auto* mem = static_cast<uint8_t*>(
      rte_zmalloc_socket("tg_policy_table", rows_at + rows_bytes, RTE_CACHE_LINE_SIZE, socket_id));
  if (mem == nullptr) return "rte_zmalloc_socket: out of DPDK memory";
  auto* t = new (mem) PolicyTable();
  auto* row_mem = reinterpret_cast<PolicyVerdict*>(mem + rows_at);
  for (size_t r = 0; r < row_list.size(); r++)
    std::memcpy(row_mem + r * kMaxApps, row_list[r].data(), sizeof(Row));
  t->rows = row_mem;
  t->generation = generation;
  t->info.rules = static_cast<uint32_t>(rules.size());
  t->info.rows = static_cast<uint32_t>(row_list.size());
  t->info.apps = apps_with_rules;

  std::string error;
  if (!rules.empty()) {
    // rte_acl_create returns the existing context when the name is taken (it does not
    // fail), and adding rules to it would change a table in use: refuse a live generation.
    // Names are at most RTE_ACL_NAMESIZE - 1 = 31 characters: "tg_policy_" + 20 digits.
    const std::string name = "tg_policy_" + std::to_string(generation);
    static_assert(sizeof("tg_policy_18446744073709551615") <= RTE_ACL_NAMESIZE);
    if (rte_acl_find_existing(name.c_str()) != nullptr) {
      policy_table_free(t);
      return "policy table generation " + std::to_string(generation) + " exists";
    }
    rte_acl_param param{};
    param.name = name.c_str();
    param.socket_id = socket_id;
    param.rule_size = RTE_ACL_RULE_SZ(kFields);
    param.max_rule_num = t->info.rules;  // rte_acl keeps the rules inside the context
    t->acl = rte_acl_create(&param);
    if (t->acl == nullptr) {
      error = "rte_acl_create " + name + ": " + rte_strerror(rte_errno);
      policy_table_free(t);
      return error;
    }
    constexpr size_t kBatch = 1024;  // rte_acl copies them into the context's own array
    std::vector<PolicyAclRule> batch;
    batch.reserve(kBatch);
    for (size_t at = 0; at < rules.size(); at += kBatch) {
      batch.clear();
      for (size_t i = at; i < std::min(rules.size(), at + kBatch); i++) batch.push_back(acl_rule(rules[i]));
      const int rc = rte_acl_add_rules(t->acl, reinterpret_cast<const rte_acl_rule*>(batch.data()),
                                       static_cast<uint32_t>(batch.size()));
      if (rc != 0) {
        error = "rte_acl_add_rules " + name + ": " + rte_strerror(-rc);
        policy_table_free(t);
        return error;
      }
    }
    const rte_acl_config config = acl_config();
    if (const int rc = rte_acl_build(t->acl, &config); rc != 0) {
      error = "rte_acl_build " + name + " (" + std::to_string(t->info.rules) + " rules): " +
              rte_strerror(-rc);
      policy_table_free(t);
      return error;
    }
  }
  // Approximate if another thread allocates from the DPDK heap meanwhile.
  const uint64_t heap_after = dpdk_heap_allocated();
  t->info.heap_bytes = heap_after > heap_before ? heap_after - heap_before : 0;
  for (const std::string_view id : new_ids) reg.add(id);  // room checked above
  *out = t;
  return {};
}

void policy_table_free(PolicyTable* table) {
  if (table == nullptr) return;
  rte_acl_free(table->acl);
  table->~PolicyTable();
  rte_free(table);
}

uint64_t policy_table_generation(const PolicyTable& table) { return table.generation; }

PolicyTableInfo policy_table_info(const PolicyTable& table) { return table.info; }

// ---------------------------------------------------------------- classify

void policy_classify(const PolicyTable& table, const PolicyKey* const keys[], uint32_t n,
                     PolicyVerdict verdict[]) {
  // Chunks of 64 keys: bounded stack scratch (768 bytes), any n.
  constexpr uint32_t kChunk = 64;
  const uint8_t* data[kChunk];
  uint32_t row[kChunk];
  for (uint32_t base = 0; base < n; base += kChunk) {
    const uint32_t m = std::min(kChunk, n - base);
    if (table.acl != nullptr) {
      // rte_acl wants `const uint8_t**`; copying the pointers avoids reading a PolicyKey*
      // array through another pointer type.
      for (uint32_t i = 0; i < m; i++) data[i] = reinterpret_cast<const uint8_t*>(keys[base + i]);
      // Fails only on a bad category count (1 is always valid).
      rte_acl_classify(table.acl, data, row, m, 1);
    } else {
      std::fill(row, row + m, 0u);
    }
    for (uint32_t i = 0; i < m; i++) {
      const uint32_t app = keys[base + i]->app;
      verdict[base + i] = app < kMaxApps ? table.rows[row[i] * kMaxApps + app] : PolicyVerdict::deny_no_app;
    }
  }
}

}  // namespace tg::dp
