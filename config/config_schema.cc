// Layer 2 of validation: the schema of tunnelgate.conf.
//
// One function per section; each names every key it accepts, with the key's type and range
// at the read (the same ranges are written next to the fields in config.h and in
// docs/config.md). Absent optional keys keep the defaults from config.h. Constraints on a
// single value (formats, ranges, host bits) are checked here; rules relating two values are
// in config_validate.cc.
#include <algorithm>
#include <cctype>
#include <set>

#include "config/config_formats.h"
#include "config/config_group_reader.h"
#include "config/config_layers.h"

namespace tg::config::detail {
namespace {

using libconfig::Setting;

constexpr size_t kMaxInstanceName = 24;
constexpr size_t kMaxPortName = 15;
constexpr uint32_t kMaxLcoreId = 63;  // lcore ids are < 64: one 64-bit mask covers them
constexpr size_t kMaxPollLcores = 64;
constexpr size_t kMaxPorts = 8;
constexpr uint32_t kMaxTlsWorkers = 16;
constexpr uint8_t kMinPoolPrefixLen = 14;  // 262144 addresses (100k tunnels need a /15): 2 MiB of session slots, 64 MiB of DTLS slots
constexpr uint8_t kMaxPoolPrefixLen = 30;  // network, gateway, one client, broadcast
constexpr uint32_t kMaxTcpUdpPort = 65535;

SourcePos position(const Setting& s, const Diagnostics& diag) {
  const char* file = s.getSourceFile();
  return SourcePos{file != nullptr ? file : diag.file(), static_cast<int>(s.getSourceLine())};
}

bool is_power_of_two(uint32_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Reads a descriptor-ring size: a range plus a power of two (NIC rings are masks).
void read_ring_size(GroupReader& r, const char* name, uint32_t& out) {
  constexpr uint32_t kMinDesc = 64;
  constexpr uint32_t kMaxDesc = 16384;
  uint32_t value = 0;
  if (!r.read_uint(name, value, kMinDesc, kMaxDesc)) return;
  if (!is_power_of_two(value)) {
    r.reject(name, std::to_string(value) + " is not a power of two (expected 64, 128, ..., 16384)");
    return;
  }
  out = value;
}

void read_tcp_udp_port(GroupReader& r, const char* name, uint16_t& out) {
  uint32_t value = 0;
  if (r.read_uint(name, value, 1, kMaxTcpUdpPort)) out = static_cast<uint16_t>(value);
}

// "a, b, c", each word quoted when `quoted`: the allowed values in an error message.
std::string keyword_list(const std::vector<std::string>& allowed, bool quoted) {
  std::string text;
  for (const auto& a : allowed) text += (text.empty() ? "" : ", ") + (quoted ? quote(a) : a);
  return text;
}

// Strings drawn from a fixed set, each at most once (protocols, auth methods).
std::vector<std::string> read_keyword_set(GroupReader& r, const char* name,
                                          const std::vector<std::string>& allowed,
                                          Diagnostics& diag, bool& present) {
  std::vector<Element<std::string>> elements;
  present = r.read_string_array(name, elements);
  const std::string allowed_text = keyword_list(allowed, false);
  std::vector<std::string> out;
  for (const auto& e : elements) {
    if (std::find(allowed.begin(), allowed.end(), e.value) == allowed.end()) {
      diag.add(e.key, quote(e.value) + " is not allowed (expected one of " + allowed_text + ")");
    } else if (std::find(out.begin(), out.end(), e.value) != out.end()) {
      diag.add(e.key, quote(e.value) + " is listed twice");
    } else {
      out.push_back(e.value);
    }
  }
  return out;
}

// One string drawn from a fixed set (auth.app_from_*); `out` keeps its default otherwise.
void read_keyword(GroupReader& r, const char* name, const std::vector<std::string>& allowed,
                  std::string& out) {
  std::string value;
  if (!r.read_string(name, value)) return;
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    r.reject(name, quote(value) + " is not allowed (expected one of " + keyword_list(allowed, true) + ")");
    return;
  }
  out = value;
}

// ---------------------------------------------------------------- dataplane

void read_port(const Setting& g, const std::string& path, PortConfig& port, Diagnostics& diag) {
  GroupReader r(g, path, diag);
  port.pos = position(g, diag);
  if (r.read_string("name", port.name, Need::required) && !is_lower_name(port.name, kMaxPortName))
    r.reject("name", quote(port.name) + " is not a port name (expected 1-15 of a-z 0-9 _ -)");

  std::string role;
  if (r.read_string("role", role, Need::required)) {
    if (role == "outside") {
      port.role = PortConfig::Role::outside;
    } else if (role == "inside") {
      port.role = PortConfig::Role::inside;
    } else {
      r.reject("role", quote(role) + " is not a port role (expected \"outside\" or \"inside\")");
    }
  }

  if (r.read_string("device", port.device, Need::required) && port.device.empty())
    r.reject("device",
             "is empty (expected a DPDK device such as \"net_af_packet0,iface=eth1\" "
             "or a PCI address such as \"0000:03:00.0\")");

  std::string address;
  if (r.read_string("address", address, Need::required)) {
    std::string error;
    if (auto p = parse_v4_prefix_for(address, HostBits::host_address, "ports", error))
      port.address = *p;
    else
      r.reject("address", error);
  }

  std::string gateway;
  if (r.read_string("gateway", gateway)) {
    std::string error;
    if (auto a = parse_v4_addr_for(gateway, "gateways", error))
      port.gateway = *a;
    else
      r.reject("gateway", error);
  }
  r.finish();
}

void read_route(const Setting& g, const std::string& path, RouteConfig& route, Diagnostics& diag) {
  GroupReader r(g, path, diag);
  route.pos = position(g, diag);
  std::string prefix;
  if (r.read_string("prefix", prefix, Need::required)) {
    std::string error;
    if (auto p = parse_v4_prefix_for(prefix, HostBits::zero, "routes", error))
      route.prefix = *p;
    else
      r.reject("prefix", error);
  }
  std::string via;
  if (r.read_string("via", via, Need::required)) {
    std::string error;
    if (auto a = parse_v4_addr_for(via, "next hops", error))
      route.via = *a;
    else
      r.reject("via", error);
  }
  r.finish();
}

void read_neighbour(const Setting& g, const std::string& path, NeighbourConfig& n,
                    Diagnostics& diag) {
  GroupReader r(g, path, diag);
  r.read_uint("reachable_s", n.reachable_s, 1, 86400);
  r.read_uint("resolve_timeout_ms", n.resolve_timeout_ms, 10, 60000);
  r.read_uint("resolve_retries", n.resolve_retries, 1, 10);
  r.read_uint("queue_per_lcore", n.queue_per_lcore, 1, 65536);
  r.read_uint("table_size", n.table_size, 64, 1048576);
  r.finish();
}

void read_dataplane(const Setting& g, const std::string& path, DataplaneConfig& dp,
                    Diagnostics& diag) {
  GroupReader r(g, path, diag);
  std::vector<Element<std::string>> eal_args;
  r.read_string_array("eal_args", eal_args);
  for (auto& e : eal_args) dp.eal_args.push_back(std::move(e.value));

  r.read_uint("main_lcore", dp.main_lcore, 0, kMaxLcoreId);
  std::vector<Element<uint32_t>> lcores;
  if (r.read_uint_array("lcores", lcores, 0, kMaxLcoreId, Need::required)) {
    for (const auto& e : lcores) dp.lcores.push_back(e.value);
    if (g["lcores"].getLength() == 0)
      r.reject("lcores", "is empty (expected 1..64 poll lcore ids)");
    else if (dp.lcores.size() > kMaxPollLcores)
      r.reject("lcores", "has " + std::to_string(dp.lcores.size()) + " entries (expected 1..64)");
  }
  r.read_uint("mbufs", dp.mbufs, 1023, 4194303);
  read_ring_size(r, "rx_desc", dp.rx_desc);
  read_ring_size(r, "tx_desc", dp.tx_desc);
  r.read_uint("idle_sleep_us", dp.idle_sleep_us, 0, 1000);
  if (r.read_uint("stage_sample", dp.stage_sample, 0, 65536) && dp.stage_sample != 0 &&
      !is_power_of_two(dp.stage_sample))
    r.reject("stage_sample", std::to_string(dp.stage_sample) + " is not 0 or a power of two (expected 0, 1, 2, 4, ..., 65536)");
  r.read_bool("lab_forwarding", dp.lab_forwarding);
  r.read_uint("tls_workers", dp.tls_workers, 1, kMaxTlsWorkers);
  if (r.read_string("tls_io", dp.tls_io) && dp.tls_io != "auto" && dp.tls_io != "epoll" && dp.tls_io != "io_uring")
    r.reject("tls_io", quote(dp.tls_io) + " is not a socket model (expected \"auto\", \"epoll\" or \"io_uring\")");
  if (r.read_string("cryptodev", dp.cryptodev) && dp.cryptodev != "auto" && dp.cryptodev != "none" &&
      !(dp.cryptodev.starts_with("crypto_") && is_lower_name(dp.cryptodev, 63)))
    r.reject("cryptodev", quote(dp.cryptodev) +
                              " is not a cryptodev (expected \"auto\", \"none\" or a vdev name such as "
                              "\"crypto_aesni_mb\")");
  if (r.read_string("exception_iface", dp.exception_iface) &&
      !is_lower_name(dp.exception_iface, kMaxPortName))
    r.reject("exception_iface", quote(dp.exception_iface) +
                                    " is not an interface name (expected 1-15 of a-z 0-9 _ -)");

  if (const Setting* ports = r.read_list("ports", Need::required)) {
    const std::string key = r.key("ports");
    if (ports->getLength() == 0 || static_cast<size_t>(ports->getLength()) > kMaxPorts)
      r.reject("ports",
               "has " + std::to_string(ports->getLength()) + " entries (expected 1..8 ports)");
    for_each_group_element(
        *ports, key, diag, [&](size_t) { dp.ports.emplace_back(); },
        [&](const Setting& e, const std::string& k) { read_port(e, k, dp.ports.back(), diag); });
  }
  if (const Setting* routes = r.read_list("routes")) {
    for_each_group_element(
        *routes, r.key("routes"), diag, [&](size_t) { dp.routes.emplace_back(); },
        [&](const Setting& e, const std::string& k) { read_route(e, k, dp.routes.back(), diag); });
  }
  if (const Setting* n = r.read_group("neighbour"))
    read_neighbour(*n, r.key("neighbour"), dp.neighbour, diag);
  r.finish();
}

// ---------------------------------------------------------------- listeners / tls / auth

void read_listeners(const Setting& g, const std::string& path, ListenersConfig& l,
                    Diagnostics& diag) {
  GroupReader r(g, path, diag);
  read_tcp_udp_port(r, "tls_port", l.tls_port);
  read_tcp_udp_port(r, "dtls_port", l.dtls_port);
  r.read_bool("dtls", l.dtls);
  r.finish();
}

void read_tls(const Setting& g, const std::string& path, TlsConfig& tls, Diagnostics& diag) {
  GroupReader r(g, path, diag);
  r.read_string("certificate", tls.certificate);
  r.read_string("key", tls.key);
  r.read_string("second_certificate", tls.second_certificate);
  r.read_string("second_key", tls.second_key);
  r.read_string("key_password_file", tls.key_password_file);
  if (r.read_string("key_password_env", tls.key_password_env)) {
    const std::string& v = tls.key_password_env;
    const bool ok = !v.empty() && v.size() <= 64 && !std::isdigit(static_cast<unsigned char>(v[0])) &&
                    std::all_of(v.begin(), v.end(), [](char c) {
                      return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                    });
    if (!ok)
      r.reject("key_password_env", quote(v) + " is not an environment variable name (expected [A-Za-z_][A-Za-z0-9_]{0,63})");
  }
  r.read_uint("expiry_margin_s", tls.expiry_margin_s, 0, 31536000);
  std::string min_version;
  if (r.read_string("min_version", min_version)) {
    if (min_version == "1.2" || min_version == "1.3")
      tls.min_version = min_version;
    else
      r.reject("min_version",
               quote(min_version) + " is not a TLS version (expected \"1.2\" or \"1.3\")");
  }
  r.read_string("ciphers", tls.ciphers);
  r.read_string("dtls_ciphers", tls.dtls_ciphers);
  r.read_bool("request_client_cert", tls.request_client_cert);
  r.finish();
}

void read_auth(const Setting& g, const std::string& path, AuthConfig& auth, Diagnostics& diag) {
  GroupReader r(g, path, diag);
  bool present = false;
  auth.methods =
      read_keyword_set(r, "methods", {"password", "certificate", "token"}, diag, present);
  r.read_string("users_file", auth.users_file);
  r.read_string("ca", auth.ca);
  r.read_string("crl", auth.crl);
  r.read_bool("crl_fail_open", auth.crl_fail_open);
  r.read_string("jwks", auth.jwks);
  r.read_string("token_issuer", auth.token_issuer);
  r.read_string("token_audience", auth.token_audience);
  for (auto [name, field] :
       {std::pair{"user_claim", &auth.user_claim}, std::pair{"app_claim", &auth.app_claim}}) {
    if (r.read_string(name, *field) && field->empty())
      r.reject(name, "is empty (expected the name of a JWT claim)");
  }
  r.read_uint("clock_skew_s", auth.clock_skew_s, 0, 3600);
  read_keyword(r, "cert_user_field", {"subject_cn", "san_email", "san_dns"}, auth.cert_user_field);
  read_keyword(r, "app_from_password", {"group", "none"}, auth.app_from_password);
  read_keyword(r, "app_from_certificate", {"san_uri", "subject_ou", "group", "none"},
               auth.app_from_certificate);
  read_keyword(r, "app_from_token", {"claim", "group", "none"}, auth.app_from_token);
  if (r.read_string("cert_app_uri_prefix", auth.cert_app_uri_prefix) &&
      (auth.cert_app_uri_prefix.empty() || auth.cert_app_uri_prefix.size() > 64))
    r.reject("cert_app_uri_prefix", quote(auth.cert_app_uri_prefix) +
                                        " is not a URI prefix (expected 1-64 characters, e.g. \"urn:app:\")");
  r.finish();
}

// ---------------------------------------------------------------- pools / services / apps

void read_pool(const Setting& g, const std::string& path, PoolConfig& pool, Diagnostics& diag) {
  GroupReader r(g, path, diag);
  pool.pos = position(g, diag);
  if (r.read_string("name", pool.name, Need::required) && !is_object_name(pool.name))
    r.reject("name", quote(pool.name) + " is not a pool name (expected 1-64 of A-Z a-z 0-9 . _ -)");
  std::string prefix;
  if (r.read_string("prefix", prefix, Need::required)) {
    std::string error;
    if (auto p = parse_v4_prefix_for(prefix, HostBits::zero, "pools", error)) {
      pool.prefix = *p;
      // The dataplane keeps one session slot per pool address (8 bytes each).
      if (p->len < kMinPoolPrefixLen || p->len > kMaxPoolPrefixLen)
        r.reject("prefix", quote(prefix) + " is a /" + std::to_string(p->len) +
                               " (expected a pool of /14 to /30)");
    } else {
      r.reject("prefix", error);
    }
  }
  r.finish();
}

void read_service(const Setting& g, const std::string& path, ServiceConfig& service,
                  Diagnostics& diag) {
  GroupReader r(g, path, diag);
  service.pos = position(g, diag);
  if (r.read_string("name", service.name, Need::required) && !is_object_name(service.name))
    r.reject("name",
             quote(service.name) + " is not a service name (expected 1-64 of A-Z a-z 0-9 . _ -)");

  std::vector<Element<std::string>> subnets;
  if (r.read_string_array("subnets", subnets, Need::required)) {
    if (g["subnets"].getLength() == 0)
      r.reject("subnets", "is empty (expected at least one backend prefix)");
    for (const auto& e : subnets) {
      std::string error;
      if (auto p = parse_v4_prefix_for(e.value, HostBits::zero, "service subnets", error))
        service.subnets.push_back(*p);
      else
        diag.add(e.key, error);
    }
  }

  bool present = false;
  auto protocols = read_keyword_set(r, "protocols", {"tcp", "udp", "icmp"}, diag, present);
  if (present) {
    if (g["protocols"].getLength() == 0)
      r.reject("protocols", "is empty (expected one or more of tcp, udp, icmp)");
    service.protocols = std::move(protocols);
  }

  std::vector<Element<std::string>> ports;
  r.read_string_array("ports", ports);
  for (const auto& e : ports) {
    std::string error;
    if (auto range = parse_port_range(e.value, error))
      service.ports.push_back(*range);
    else
      diag.add(e.key, error);
  }
  r.finish();
}

void read_app(const Setting& g, const std::string& path, AppConfig& app, Diagnostics& diag) {
  GroupReader r(g, path, diag);
  app.pos = position(g, diag);
  if (r.read_string("id", app.id, Need::required) && !is_app_id(app.id))
    r.reject("id", quote(app.id) +
                       " is not an app id (expected 1-255 visible ASCII characters, "
                       "e.g. \"com.example.mail\")");
  if (r.read_string("group", app.group) && !is_label(app.group))
    r.reject("group", quote(app.group) +
                          " is not a group label (expected 1-64 characters, "
                          "no control characters)");

  std::vector<Element<std::string>> services;
  if (r.read_string_array("services", services, Need::required)) {
    if (g["services"].getLength() == 0)
      r.reject("services", "is empty (expected at least one service name)");
    for (auto& e : services) app.services.push_back(std::move(e.value));
  }
  r.read_string("pool", app.pool);

  std::vector<Element<std::string>> dns;
  r.read_string_array("dns", dns);
  for (const auto& e : dns) {
    std::string error;
    if (auto a = parse_v4_addr_for(e.value, "DNS servers", error))
      app.dns.push_back(*a);
    else
      diag.add(e.key, error);
  }

  std::vector<Element<std::string>> domains;
  r.read_string_array("search_domains", domains);
  for (auto& e : domains) {
    if (is_domain_name(e.value))
      app.search_domains.push_back(std::move(e.value));
    else
      diag.add(e.key, quote(e.value) +
                          " is not a domain name (expected labels of A-Z a-z 0-9 - "
                          "separated by dots, e.g. \"corp.example\")");
  }
  r.finish();
  if (app.group.empty()) app.group = app.id;
}

// ---------------------------------------------------------------- metrics / limits

void read_metrics(const Setting& g, const std::string& path, MetricsConfig& m, Diagnostics& diag) {
  GroupReader r(g, path, diag);
  std::string listen;
  if (r.read_string("listen", listen)) {
    std::string error;
    if (check_listen_address(listen, error))
      m.listen = listen;
    else
      r.reject("listen", error);
  }
  r.finish();
}

void read_admin(const Setting& g, const std::string& path, AdminConfig& a, Diagnostics& diag) {
  GroupReader r(g, path, diag);
  std::string socket;
  if (r.read_string("socket", socket)) {
    // sun_path holds 108 bytes including the terminating NUL.
    if (socket.empty() || socket[0] != '/')
      r.reject("socket", quote(socket) + " is not an absolute path");
    else if (socket.size() > 107)
      r.reject("socket", "is " + std::to_string(socket.size()) +
                             " bytes long (a Unix socket path has at most 107)");
    else if (socket.back() == '/')
      r.reject("socket", quote(socket) + " names a directory (expected a file path)");
    else
      a.socket = socket;
  }
  std::string group;
  if (r.read_string("group", group)) {
    // POSIX portable user/group names; the group's existence is checked at start-up.
    const bool ok = group.size() <= 32 &&
                    std::all_of(group.begin(), group.end(), [](char c) {
                      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
                    }) &&
                    (group.empty() || group[0] != '-');
    if (ok)
      a.group = group;
    else
      r.reject("group", quote(group) + " is not a group name (expected 0-32 of A-Z a-z 0-9 _ . -)");
  }
  r.finish();
}

void read_limits(const Setting& g, const std::string& path, LimitsConfig& l, Diagnostics& diag) {
  GroupReader r(g, path, diag);
  r.read_uint("max_sessions", l.max_sessions, 1, 10000000);
  r.read_uint("handshakes_per_second", l.handshakes_per_second, 1, 1000000);
  r.read_uint("max_request_bytes", l.max_request_bytes, 1024, 1048576);
  r.read_uint("request_timeout_s", l.request_timeout_s, 1, 600);
  r.read_uint("icmp_errors_per_second", l.icmp_errors_per_second, 0, 1000000);
  r.read_uint("dpd_s", l.dpd_s, 0, 3600);
  r.read_uint("keepalive_s", l.keepalive_s, 0, 86400);
  r.read_uint("idle_timeout_s", l.idle_timeout_s, 0, 86400);
  r.read_uint("reconnect_s", l.reconnect_s, 1, 86400);
  r.read_uint("dtls_handshake_timeout_s", l.dtls_handshake_timeout_s, 1, 120);
  r.read_uint("switch_to_tcp_s", l.switch_to_tcp_s, 1, 3600);
  r.read_uint("auth_failures_per_source", l.auth_failures_per_source, 0, 1000000);
  r.read_uint("auth_failure_window_s", l.auth_failure_window_s, 1, 86400);
  uint32_t prefix = l.auth_source_prefix;
  if (r.read_uint("auth_source_prefix", prefix, 8, 32)) l.auth_source_prefix = static_cast<uint8_t>(prefix);
  r.read_uint("auth_sources_max", l.auth_sources_max, 16, 1048576);
  r.finish();
}

// Reads a top-level list of groups into `out`, one element per list element.
template <typename T, typename ReadOne>
void read_group_list(GroupReader& r, const char* name, std::vector<T>& out, Diagnostics& diag,
                     ReadOne read_one) {
  const Setting* list = r.read_list(name);
  if (list == nullptr) return;
  for_each_group_element(
      *list, r.key(name), diag, [&](size_t) { out.emplace_back(); },
      [&](const Setting& e, const std::string& k) { read_one(e, k, out.back(), diag); });
}

}  // namespace

void config_schema_read(const Setting& root, Config& out, Diagnostics& diag) {
  GroupReader r(root, "", diag);
  if (r.read_string("instance", out.instance) && !is_lower_name(out.instance, kMaxInstanceName))
    r.reject("instance",
             quote(out.instance) + " is not an instance name (expected 1-24 of a-z 0-9 _ -)");
  if (const Setting* g = r.read_group("dataplane", Need::required))
    read_dataplane(*g, "dataplane", out.dataplane, diag);
  if (const Setting* g = r.read_group("listeners"))
    read_listeners(*g, "listeners", out.listeners, diag);
  if (const Setting* g = r.read_group("tls")) read_tls(*g, "tls", out.tls, diag);
  if (const Setting* g = r.read_group("auth")) read_auth(*g, "auth", out.auth, diag);
  read_group_list(r, "pools", out.pools, diag, read_pool);
  read_group_list(r, "services", out.services, diag, read_service);
  read_group_list(r, "apps", out.apps, diag, read_app);
  r.read_string("default_app", out.default_app);
  if (const Setting* g = r.read_group("metrics")) read_metrics(*g, "metrics", out.metrics, diag);
  if (const Setting* g = r.read_group("admin")) read_admin(*g, "admin", out.admin, diag);
  if (const Setting* g = r.read_group("limits")) read_limits(*g, "limits", out.limits, diag);
  r.finish();
  if (out.admin.socket.empty()) out.admin.socket = admin_socket_default(out.instance);
}

}  // namespace tg::config::detail
