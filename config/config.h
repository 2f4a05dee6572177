// Typed configuration of one tunnelgate instance (both processes read the same file).
//
// The schema is documented key by key in docs/config.md; each field's constraint is
// written next to it here so the two can be compared. Loading never throws to the caller:
// config_load_file()/config_load_string() return every error found (file:line: key: ...).
// Thread-safety: a Config is an immutable value once loaded.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tg::config {

/// An IP address of either family (IPv6 is parsed and kept so the types stay
/// family-neutral; the IPv4-only parts of the gateway reject it in validation).
struct IpAddr {
  enum class Family : uint8_t { v4 = 4, v6 = 6 };
  Family family = Family::v4;
  std::array<uint8_t, 16> bytes{};  ///< network byte order; v4 uses bytes[0..3]

  bool is_v4() const { return family == Family::v4; }
  /// IPv4 address in host byte order (only meaningful when is_v4()).
  uint32_t v4_host() const {
    return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
           uint32_t{bytes[3]};
  }
  static IpAddr from_v4_host(uint32_t a);
  bool operator==(const IpAddr&) const = default;
};

/// A prefix "a.b.c.d/len". `addr` keeps the host bits as written (a port address
/// "192.0.2.1/24" is an address plus its connected subnet).
struct IpPrefix {
  IpAddr addr;
  uint8_t len = 0;  ///< 0..32 for v4, 0..128 for v6
  /// The network (host bits cleared).
  IpPrefix network() const;
  bool contains(const IpAddr& a) const;
  bool overlaps(const IpPrefix& other) const;
  bool operator==(const IpPrefix&) const = default;
};

/// Parse "a.b.c.d" or an IPv6 literal. Returns nullopt on anything else.
std::optional<IpAddr> parse_ip(const std::string& text);
/// Parse "addr/len". Returns nullopt on a missing or out-of-range length or a bad address.
std::optional<IpPrefix> parse_prefix(const std::string& text);
std::string to_string(const IpAddr& a);
std::string to_string(const IpPrefix& p);

/// Where a setting came from, for messages about cross-field problems found after parsing.
struct SourcePos {
  std::string file;
  int line = 0;
};

// ---------------------------------------------------------------- dataplane
struct PortConfig {
  SourcePos pos;
  std::string name;     ///< unique, [a-z0-9_-]{1,15}; used as the metrics label
  enum class Role : uint8_t { outside, inside } role = Role::inside;
  std::string device;   ///< DPDK device: "net_xxx0,args" (a vdev) or a PCI address "0000:03:00.0"
  IpPrefix address;     ///< the gateway's own address and connected subnet (IPv4 for now)
  std::optional<IpAddr> gateway;  ///< default route via this next hop; at most one port has one
};

struct RouteConfig {
  SourcePos pos;
  IpPrefix prefix;  ///< destination; host bits must be zero
  IpAddr via;       ///< next hop; must be inside a port's connected subnet
};

struct NeighbourConfig {
  uint32_t reachable_s = 300;        ///< 1..86400: a resolved entry is re-resolved after this
  uint32_t resolve_timeout_ms = 1000;///< 10..60000: per ARP request before a retry
  uint32_t resolve_retries = 3;      ///< 1..10: requests before the queued packets are dropped
  uint32_t queue_per_lcore = 256;    ///< 1..65536: packets held while resolving, per lcore
  uint32_t table_size = 4096;        ///< 64..1048576: neighbour entries (rounded up to a power of two)
};

struct DataplaneConfig {
  std::vector<std::string> eal_args;  ///< extra EAL arguments (e.g. "--no-huge", "-m", "512")
  uint32_t main_lcore = 0;            ///< 0..63: EAL main lcore: housekeeping, never polls
  std::vector<uint32_t> lcores;       ///< 1..64 poll lcores: ids 0..63, unique, != main_lcore
  uint32_t mbufs = 8191;              ///< 1023..4194303 mbufs in the packet pool
  uint32_t rx_desc = 1024;            ///< 64..16384 RX descriptors per queue (power of two)
  uint32_t tx_desc = 1024;            ///< 64..16384 TX descriptors per queue (power of two)
  uint32_t idle_sleep_us = 0;         ///< 0..1000; >0 sleeps after an empty poll (labs, small VMs), doubling while idle up to 32x
  uint32_t stage_sample = 16;         ///< 0 or a power of two <= 65536: 1 in N poll iterations timed per stage (0: off)
  bool lab_forwarding = false;        ///< LAB ONLY: route plain (non-tunnel) IPv4 between ports
  /// Kernel interface of the exception path (a net_tun port): TCP to the TLS port of an
  /// outside address goes to the kernel through it; 1-15 of a-z 0-9 _ -.
  std::string exception_iface = "tg-exc";
  uint32_t tls_workers = 1;  ///< 1..16 TLS worker threads (not poll lcores: ordinary threads)
  /// How the TLS workers hold their sockets: "epoll" (file descriptors, each counted by
  /// RLIMIT_NOFILE), "io_uring" (slots of one io_uring file table per worker, each table as
  /// large as RLIMIT_NOFILE: tls_workers x RLIMIT_NOFILE connections), or "auto" (epoll when
  /// the descriptor limit holds limits.max_sessions, io_uring when it does not).
  std::string tls_io = "auto";
  /// Record crypto of the DTLS fast path: "auto" (AES-GCM through intel-ipsec-mb on the
  /// poll lcores, the rest through a crypto_aesni_mb vdev, else wolfCrypt with a warning),
  /// "none" (wolfCrypt on the poll lcores), or a cryptodev vdev name (crypto_aesni_mb,
  /// crypto_aesni_gcm, crypto_chacha20_poly1305, crypto_openssl, ...) that must work and
  /// then protects every cipher it has.
  std::string cryptodev = "auto";
  std::vector<PortConfig> ports;      ///< 1..8 ports
  std::vector<RouteConfig> routes;    ///< static routes
  NeighbourConfig neighbour;
};

// ---------------------------------------------------------------- listeners / tls / auth
// File paths (tls.*, auth.users_file/ca/crl/jwks): non-empty ones must name readable regular
// files. config_load_file() prefixes relative paths with the config file's directory, so a
// loaded Config holds the path that was checked whatever the working directory.
struct ListenersConfig {
  uint16_t tls_port = 443;   ///< 1..65535, TCP
  uint16_t dtls_port = 443;  ///< 1..65535, UDP
  bool dtls = true;          ///< offer DTLS (PSK-NEGOTIATE) to clients that ask for it
};

struct TlsConfig {
  std::string certificate;         ///< server certificate (PEM/DER/PKCS#12); required once TLS is on
  std::string key;                 ///< its private key (controlplane only)
  std::string second_certificate;  ///< optional: used when the primary expires
  std::string second_key;
  /// PKCS#12 (.p12/.pfx) password: read from this file (first line) or this environment
  /// variable, never from the command line. Both empty = no password.
  std::string key_password_file;
  std::string key_password_env;   ///< [A-Za-z_][A-Za-z0-9_]{0,63}
  /// New handshakes switch to the second certificate this long before the primary expires.
  uint32_t expiry_margin_s = 0;   ///< 0..31536000
  std::string min_version = "1.2"; ///< "1.2" | "1.3"
  std::string ciphers;             ///< wolfSSL cipher list; empty = strong defaults
  /// wolfSSL cipher list of the DTLS PSK server; empty = every plain-PSK AEAD suite the
  /// wolfSSL build has (AES-256-GCM, AES-128-GCM, ChaCha20-Poly1305).
  std::string dtls_ciphers;
  bool request_client_cert = false;
};

struct AuthConfig {
  std::vector<std::string> methods;  ///< subset of password|certificate|token; each listed method needs its file
  std::string users_file;     ///< local users (argon2id hashes); required for "password"
  std::string ca;             ///< CA bundle for client certificates; required for "certificate"
  std::string crl;            ///< optional CRL file (PEM or DER), re-read when it changes
  /// A CRL past its nextUpdate: false = refuse certificate logins (fail closed, the
  /// default), true = accept them with a warning metric.
  bool crl_fail_open = false;
  std::string jwks;           ///< JWKS file; required for "token"
  std::string token_issuer;   ///< expected iss
  std::string token_audience; ///< expected aud
  std::string user_claim = "upn";
  std::string app_claim = "appid";
  uint32_t clock_skew_s = 120;  ///< 0..3600
  /// Where a client certificate's user name comes from: subject_cn | san_email | san_dns.
  std::string cert_user_field = "subject_cn";
  // Which app a session belongs to, per login method (docs/apps.md). A method that names no
  // app gives the session `default_app` (or refuses it when there is none); a named app that
  // is not configured is refused (unknown_app).
  std::string app_from_password = "group";     ///< group | none
  std::string app_from_certificate = "san_uri"; ///< san_uri | subject_ou | group | none
  std::string app_from_token = "claim";        ///< claim | group | none
  std::string cert_app_uri_prefix = "urn:app:"; ///< san_uri: the app id follows this prefix
};

// ---------------------------------------------------------------- pools / services / apps
// Like ports and routes, pools, service subnets and DNS servers are IPv4-only for now: an
// IPv6 value is rejected with "IPv6 ... are not supported yet" (the types stay neutral).
struct PoolConfig {
  SourcePos pos;
  std::string name;  ///< unique
  IpPrefix prefix;   ///< client addresses, /14../30; host bits zero; disjoint from each other and ports
};

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 65535;
};

struct ServiceConfig {
  SourcePos pos;
  std::string name;                  ///< unique
  std::vector<IpPrefix> subnets;     ///< 1..; backend subnets, host bits zero
  std::vector<std::string> protocols = {"tcp", "udp", "icmp"};  ///< subset of tcp|udp|icmp
  std::vector<PortRange> ports;      ///< "80", "5201-5210"; empty = all ports
};

struct AppConfig {
  SourcePos pos;
  std::string id;                    ///< unique, e.g. "com.example.mail"
  std::string group;                 ///< optional auth group label shown to clients (default: id)
  std::vector<std::string> services; ///< 1..; names from `services`
  std::string pool;                  ///< a name from `pools` (default: the only pool)
  std::vector<IpAddr> dns;
  std::vector<std::string> search_domains;
};

// ---------------------------------------------------------------- metrics / limits
struct MetricsConfig {
  std::string listen = "127.0.0.1:9810";  ///< host:port of /metrics (prometheus-cpp)
};

// ---------------------------------------------------------------- admin socket
/// The control plane's admin socket (tunnelgatectl status/sessions/disconnect/reload).
struct AdminConfig {
  /// Absolute path of the Unix stream socket, at most 107 bytes (sun_path). "" in the file =
  /// the default, filled in by the loader: /run/tunnelgate-controlplane/<instance>.sock.
  std::string socket;
  /// Group that may use the socket besides root ("" = root only). Mode is always 0660.
  std::string group;
};

struct LimitsConfig {
  uint32_t max_sessions = 10000;          ///< 1..10000000
  uint32_t handshakes_per_second = 1000;  ///< 1..1000000
  uint32_t max_request_bytes = 16384;     ///< 1024..1048576: HTTP headers+body
  uint32_t request_timeout_s = 30;        ///< 1..600
  uint32_t icmp_errors_per_second = 100;  ///< 0..1000000 per lcore (0 = never send)
  uint32_t dpd_s = 90;                    ///< 0..3600 X-CSTP-DPD sent to clients (0 = off)
  uint32_t keepalive_s = 32400;           ///< 0..86400 X-CSTP-Keepalive (0 = off)
  uint32_t idle_timeout_s = 1200;         ///< 0..86400 a tunnel without traffic ends (0 = never)
  uint32_t reconnect_s = 300;             ///< 1..86400 a session whose tunnel was lost keeps its
                                          ///< cookie and address this long (ocserv cookie-timeout)
  uint32_t dtls_handshake_timeout_s = 15; ///< 1..120 a DTLS handshake not done by then is dropped
  uint32_t switch_to_tcp_s = 25;          ///< 1..3600 no DTLS from a client this long: send on CSTP
  // Brute force from one address (docs/auth.md): a source may fail this many logins (any
  // method) in a row, then one per auth_failure_window_s / auth_failures_per_source; while
  // over budget its logins are refused (source_rate_limited) without checking them.
  uint32_t auth_failures_per_source = 20; ///< 0..1000000 (0 = no per-source limit)
  uint32_t auth_failure_window_s = 300;   ///< 1..86400 the budget refills completely in this time
  uint8_t auth_source_prefix = 32;        ///< 8..32 IPv4 prefix length that makes one source
  uint32_t auth_sources_max = 65536;      ///< 16..1048576 sources tracked (least recently failed evicted)
};

struct Config {
  std::string source_file;       ///< path the config was read from
  std::string instance = "tg0";  ///< [a-z0-9_-]{1,24}; names the shared-memory segment
  DataplaneConfig dataplane;
  ListenersConfig listeners;
  TlsConfig tls;
  AuthConfig auth;
  std::vector<PoolConfig> pools;
  std::vector<ServiceConfig> services;
  std::vector<AppConfig> apps;
  std::string default_app;       ///< optional: app for clients that name none ("" = refuse them)
  MetricsConfig metrics;
  AdminConfig admin;
  LimitsConfig limits;
};

/// The default admin socket of an instance: "/run/tunnelgate-controlplane/<instance>.sock",
/// inside the control plane unit's RuntimeDirectory (tools/systemd): the only runtime
/// directory its sandbox (ProtectSystem=strict, User=tunnelgate) may write.
inline std::string admin_socket_default(const std::string& instance) {
  return "/run/tunnelgate-controlplane/" + instance + ".sock";
}

/// One problem found in a configuration.
struct ConfigError {
  std::string file;
  int line = 0;         ///< 0 when unknown (e.g. a missing key: the line of its parent)
  std::string key;      ///< dotted path, e.g. "dataplane.ports.[1].address"
  std::string message;  ///< what was found and what is expected
  /// "file:line: key: message"
  std::string to_string() const;
};

struct LoadResult {
  std::optional<Config> config;     ///< set only when errors is empty
  std::vector<ConfigError> errors;  ///< every error found (parse, schema, semantics)
  bool ok() const { return config.has_value(); }
};

/// Read and validate a configuration file. Never throws.
LoadResult config_load_file(const std::string& path);
/// Same, from text; `name` is used as the file name in errors.
LoadResult config_load_string(const std::string& text, const std::string& name);

}  // namespace tg::config
