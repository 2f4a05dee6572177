// tunnelgatectl: admin-socket commands. One connection per command: send one JSON request
// line, read one JSON answer line (controlplane/admin_protocol.h), print it as a table or,
// with --json, as received.
#include "tools/tunnelgatectl_admin.h"

#include <getopt.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iterator>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "controlplane/admin_protocol.h"
#include "tools/tunnelgatectl_users.h"

namespace tg::ctl_tool {

namespace {

using nlohmann::json;

/// How long to wait for the control plane's answer (its own limit is 5 s per client).
constexpr int kAnswerTimeoutMs = 10000;
/// An answer larger than this is refused (10000 sessions take about 2.5 MB).
constexpr size_t kMaxAnswerBytes = 64u << 20;

struct AdminArgs {
  std::string socket;
  std::string config;
  std::optional<std::string> user;
  std::optional<std::string> app;
  std::string positional;  ///< disconnect: the session id
  bool json_out = false;
};

struct CommandSpec {
  const char* name;
  const char* synopsis;
  const char* description;
  bool takes_user;
  bool takes_id;
};

constexpr CommandSpec kStatus{"status", "",
                              "Version, uptime, dataplane state (lcores, ports and links, server "
                              "certificates), sessions and pool usage.",
                              false, false};
constexpr CommandSpec kSessions{"sessions", " [--user USER] [--app APP]",
                                "List sessions: id, user, app, client address, tunnel address, "
                                "since, state, channel (dtls/cstp), packets and bytes each way.",
                                true, false};
constexpr CommandSpec kDisconnect{"disconnect", " (ID | --user USER | --app APP)",
                                  "End the session ID (or every session of USER, or of APP) like a logout: "
                                  "the client is\ntaken off, its cookie dies, its address returns "
                                  "to the pool.",
                                  true, true};
constexpr CommandSpec kStats{"stats", "",
                             "The dataplane's counters now: ports (summed over lcores), lcores "
                             "(busy share, DTLS),\ndrops by reason, TLS workers.",
                             false, false};
constexpr CommandSpec kCerts{"certs", "",
                             "The server certificates the TLS workers hold (primary, second: active, "
                             "usable,\nexpiry, validation findings) and the client-certificate CRL.",
                             false, false};
constexpr CommandSpec kReload{"reload", "",
                              "Re-read the users file now (it is also re-read within a second of "
                              "a change).\nA file with errors changes nothing; its errors are "
                              "printed.",
                              false, false};

void usage(const CommandSpec& c, FILE* out) {
  std::fprintf(out,
               "usage: tunnelgatectl %s%s [--socket PATH | --config FILE] [--json]\n\n%s\n\n"
               "%s"
               "  --socket PATH   the control plane's admin socket (default %s)\n"
               "  --config FILE   take the socket from admin.socket of this config\n"
               "  --json          print the control plane's JSON answer as it is\n"
               "  -h, --help      this text\n\n"
               "Exit status: 0 done, 1 error from the control plane (e.g. no such session), "
               "2 usage,\n3 cannot connect to the admin socket.\n",
               c.name, c.synopsis, c.description,
               c.takes_user ? "  --user USER     only the sessions of USER\n"
                              "  --app APP       only the sessions of app APP (its id)\n"
                            : "",
               config::admin_socket_default("tg0").c_str());
}

/// nullopt + exit code on a usage error or --help.
std::optional<AdminArgs> parse(const CommandSpec& c, int argc, char** argv, int& exit_code) {
  static const option kOptions[] = {{"socket", required_argument, nullptr, 's'},
                                    {"config", required_argument, nullptr, 'c'},
                                    {"user", required_argument, nullptr, 'u'},
                                    {"app", required_argument, nullptr, 'a'},
                                    {"json", no_argument, nullptr, 'j'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  AdminArgs a;
  optind = 0;  // GNU: also resets getopt's internal state
  opterr = 0;
  for (;;) {
    const int o = getopt_long(argc, argv, "h", kOptions, nullptr);
    if (o == -1) break;
    switch (o) {
      case 's': a.socket = optarg; break;
      case 'c': a.config = optarg; break;
      case 'u':
        if (!c.takes_user) goto bad_option;
        a.user = optarg;
        break;
      case 'a':
        if (!c.takes_user) goto bad_option;
        a.app = optarg;
        break;
      case 'j': a.json_out = true; break;
      case 'h':
        usage(c, stdout);
        exit_code = kExitOk;
        return std::nullopt;
      default:
      bad_option:
        std::fprintf(stderr, "tunnelgatectl %s: unknown or incomplete option '%s'\n", c.name,
                     optind > 0 && optind <= argc ? argv[optind - 1] : "?");
        usage(c, stderr);
        exit_code = kExitUsage;
        return std::nullopt;
    }
  }
  const int rest = argc - optind;
  if (c.takes_id && rest == 1) {
    a.positional = argv[optind];
  } else if (rest != 0) {
    std::fprintf(stderr, "tunnelgatectl %s: unexpected argument '%s'\n", c.name, argv[optind]);
    usage(c, stderr);
    exit_code = kExitUsage;
    return std::nullopt;
  }
  if (c.takes_id && int{!a.positional.empty()} + int{a.user.has_value()} + int{a.app.has_value()} != 1) {
    std::fprintf(stderr, "tunnelgatectl %s: give exactly one of ID, --user and --app\n", c.name);
    usage(c, stderr);
    exit_code = kExitUsage;
    return std::nullopt;
  }
  if (!a.socket.empty() && !a.config.empty()) {
    std::fprintf(stderr, "tunnelgatectl %s: give at most one of --socket and --config\n", c.name);
    exit_code = kExitUsage;
    return std::nullopt;
  }
  return a;
}

/// The socket path from --socket, --config or the default. "" after printing an error.
std::string socket_of(const AdminArgs& a, const char* cmd) {
  if (!a.socket.empty()) return a.socket;
  if (a.config.empty()) return config::admin_socket_default("tg0");
  config::LoadResult r = config::config_load_file(a.config);
  if (!r.ok()) {
    for (const config::ConfigError& e : r.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
    std::fprintf(stderr, "tunnelgatectl %s: %s: configuration not usable\n", cmd, a.config.c_str());
    return "";
  }
  return r.config->admin.socket;
}

/// Send `request`, return the answer line; nullopt after printing why (exit 3 or 1 in `rc`).
std::optional<std::string> exchange(const std::string& path, const std::string& request,
                                    const char* cmd, int& rc) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    std::fprintf(stderr, "tunnelgatectl %s: %s: socket path too long\n", cmd, path.c_str());
    rc = kExitUsage;
    return std::nullopt;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    std::fprintf(stderr,
                 "tunnelgatectl %s: cannot connect to %s: %s (is the control plane running? "
                 "--socket/--config?)\n",
                 cmd, path.c_str(), std::strerror(err));
    if (fd >= 0) ::close(fd);
    rc = kExitCannotConnect;
    return std::nullopt;
  }
  std::string line = request + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    const ssize_t n = ::send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[65536];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, kAnswerTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      std::fprintf(stderr, "tunnelgatectl %s: no answer from %s within %d s\n", cmd, path.c_str(),
                   kAnswerTimeoutMs / 1000);
      ::close(fd);
      rc = kExitError;
      return std::nullopt;
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
    if (answer.find('\n') != std::string::npos || answer.size() > kMaxAnswerBytes) break;
  }
  ::close(fd);
  if (const size_t nl = answer.find('\n'); nl != std::string::npos) answer.resize(nl);
  if (answer.empty()) {
    std::fprintf(stderr, "tunnelgatectl %s: %s closed the connection without an answer\n", cmd,
                 path.c_str());
    rc = kExitError;
    return std::nullopt;
  }
  return answer;
}

std::string duration_text(uint64_t s) {
  char buf[64];
  if (s >= 86400) {
    std::snprintf(buf, sizeof buf, "%llud%02lluh%02llum%02llus", static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>(s / 3600 % 24),
                  static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lluh%02llum%02llus", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s / 60 % 60), static_cast<unsigned long long>(s % 60));
  }
  return buf;
}


/// j[key] as text for a table ("" when absent or not a string).
std::string str(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}
uint64_t num(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

void print_status(const json& a) {
  const json& dp = a.contains("dataplane") ? a["dataplane"] : json::object();
  const bool up = dp.value("up", false);
  const bool ctl = dp.value("ctl_attached", false);
  std::printf("%-12s %s\n", "version", str(a, "version").c_str());
  std::printf("%-12s %s\n", "instance", str(a, "instance").c_str());
  std::printf("%-12s %s\n", "uptime", duration_text(num(a, "uptime_s")).c_str());
  std::string dp_text = up ? "up" : "down";
  if (!up && dp.contains("stats_error")) dp_text += " (" + str(dp, "stats_error") + ")";
  dp_text += ctl ? ", ctl segment served" : ", ctl segment not served";
  std::printf("%-12s %s\n", "dataplane", dp_text.c_str());
  if (up) {
    std::string lcores;
    for (const json& l : dp.value("lcores", json::array())) {
      lcores += (lcores.empty() ? "" : ",") + (l.is_number_unsigned() ? std::to_string(l.get<uint64_t>()) : "?");
    }
    std::printf("%-12s pid %llu, poll lcores %s, %llu TLS workers\n", "", static_cast<unsigned long long>(num(dp, "pid")),
                lcores.empty() ? "-" : lcores.c_str(), static_cast<unsigned long long>(num(dp, "tls_workers")));
    for (const json& p : dp.value("ports", json::array())) {
      std::string link = p.value("link_up", false) ? "up" : "DOWN";
      if (num(p, "speed_mbps") != 0) link += " " + std::to_string(num(p, "speed_mbps")) + " Mbit/s";
      std::printf("%-12s %s (%s): link %s\n", "port", str(p, "name").c_str(), str(p, "role").c_str(), link.c_str());
    }
    for (const json& c : dp.value("certificates", json::array())) {
      const auto exp = c.find("expires_in_s");
      const int64_t in_s = exp != c.end() && exp->is_number_integer() ? exp->get<int64_t>() : 0;
      unsigned errors = 0, warnings = 0;
      for (const json& f : c.value("findings", json::array())) (str(f, "severity") == "error" ? errors : warnings)++;
      std::printf("%-12s %s: %s%s, %s %s, %u error(s), %u warning(s)\n", "certificate", str(c, "certificate").c_str(),
                  c.value("active", false) ? "active" : "standby", c.value("usable", false) ? "" : ", NOT USABLE",
                  in_s >= 0 ? "expires in" : "EXPIRED",
                  duration_text(static_cast<uint64_t>(in_s >= 0 ? in_s : -in_s)).c_str(), errors, warnings);
    }
  }
  const json& s = a.contains("sessions") ? a["sessions"] : json::object();
  std::printf("%-12s %llu (%llu connected, %llu detached)\n", "sessions",
              static_cast<unsigned long long>(num(s, "total")),
              static_cast<unsigned long long>(num(s, "connected")),
              static_cast<unsigned long long>(num(s, "detached")));
  if (a.contains("pools") && a["pools"].is_array()) {
    for (const json& p : a["pools"]) {
      std::printf("%-12s %s: %llu of %llu addresses in use\n", "pool", str(p, "name").c_str(),
                  static_cast<unsigned long long>(num(p, "in_use")),
                  static_cast<unsigned long long>(num(p, "size")));
    }
  }
}

/// 1234567 -> "1.2M" (a table column; --json has the exact numbers).
std::string count_text(uint64_t n) {
  static constexpr const char* kUnit[] = {"", "k", "M", "G", "T", "P"};
  double v = static_cast<double>(n);
  unsigned u = 0;
  while (v >= 1000.0 && u + 1 < std::size(kUnit)) {
    v /= 1000.0;
    u++;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(n));
  else std::snprintf(buf, sizeof buf, "%.1f%s", v, kUnit[u]);
  return buf;
}

void print_sessions(const json& a) {
  std::printf("%-16s  %-16s  %-16s  %-21s  %-15s  %-20s  %-9s  %-7s  %-15s  %s\n", "ID", "USER", "APP", "CLIENT",
              "ADDRESS", "SINCE", "STATE", "CHANNEL", "RX PKTS/BYTES", "TX PKTS/BYTES");
  if (!a.contains("sessions") || !a["sessions"].is_array()) return;
  for (const json& s : a["sessions"]) {
    const auto since = s.find("since");
    const int64_t since_s = since != s.end() && since->is_number_integer() ? since->get<int64_t>() : 0;
    auto dash = [](std::string v) { return v.empty() ? std::string("-") : v; };
    const bool live = s.contains("channel");
    const std::string rx = live ? count_text(num(s, "rx_packets")) + "/" + count_text(num(s, "rx_bytes")) : "-";
    const std::string tx = live ? count_text(num(s, "tx_packets")) + "/" + count_text(num(s, "tx_bytes")) : "-";
    std::printf("%-16s  %-16s  %-16s  %-21s  %-15s  %-20s  %-9s  %-7s  %-15s  %s\n", str(s, "id").c_str(),
                str(s, "user").c_str(), dash(str(s, "app")).c_str(), dash(str(s, "client")).c_str(),
                dash(str(s, "address")).c_str(), time_text(since_s).c_str(), str(s, "state").c_str(),
                dash(str(s, "channel")).c_str(), rx.c_str(), tx.c_str());
  }
  if (a.contains("live_error")) std::printf("(no channel or traffic: %s)\n", str(a, "live_error").c_str());
}

void print_disconnect(const json& a) {
  std::printf("disconnected %llu session(s)", static_cast<unsigned long long>(num(a, "disconnected")));
  if (a.contains("ids") && a["ids"].is_array()) {
    for (const json& id : a["ids"]) std::printf(" %s", id.is_string() ? id.get<std::string>().c_str() : "?");
  }
  std::printf("\n");
}

void print_stats(const json& a) {
  const json& mp = a.contains("mempool") ? a["mempool"] : json::object();
  std::printf("mbufs in use %llu of %llu\n\n", static_cast<unsigned long long>(num(mp, "in_use")),
              static_cast<unsigned long long>(num(mp, "size")));
  std::printf("%-10s %-9s %-4s %14s %16s %14s %16s %10s\n", "PORT", "ROLE", "LINK", "RX_PACKETS", "RX_BYTES",
              "TX_PACKETS", "TX_BYTES", "RX_MISSED");
  for (const json& p : a.value("ports", json::array())) {
    std::printf("%-10s %-9s %-4s %14llu %16llu %14llu %16llu %10llu\n", str(p, "name").c_str(),
                str(p, "role").c_str(), p.value("link_up", false) ? "up" : "down",
                static_cast<unsigned long long>(num(p, "rx_packets")),
                static_cast<unsigned long long>(num(p, "rx_bytes")),
                static_cast<unsigned long long>(num(p, "tx_packets")),
                static_cast<unsigned long long>(num(p, "tx_bytes")),
                static_cast<unsigned long long>(num(p, "rx_missed")));
  }
  std::printf("\n%-6s %6s %13s %16s %16s\n", "LCORE", "BUSY", "DTLS_SESSIONS", "DTLS_DECRYPTED", "DTLS_ENCRYPTED");
  for (const json& l : a.value("lcores", json::array())) {
    std::printf("%-6llu %5.1f%% %13llu %16llu %16llu\n", static_cast<unsigned long long>(num(l, "lcore")),
                100.0 * l.value("busy_ratio", 0.0), static_cast<unsigned long long>(num(l, "dtls_sessions")),
                static_cast<unsigned long long>(num(l, "dtls_records_decrypted")),
                static_cast<unsigned long long>(num(l, "dtls_records_encrypted")));
  }
  // Where each lcore's cycles went, since it started (the stage clock's timed iterations):
  // cycles per packet, the packets timed, the mean burst.
  bool stage_header = false;
  for (const json& l : a.value("lcores", json::array())) {
    for (const json& k : l.value("stages", json::array())) {
      const std::string stage = str(k, "stage");
      if (!stage_header) {
        std::printf("\n%-6s %-15s %12s %14s %10s   (1 in %llu iterations timed)\n", "LCORE", "STAGE", "CYCLES/PKT",
                    "PACKETS_TIMED", "PKTS/BURST", static_cast<unsigned long long>(num(l, "stage_sample")));
        stage_header = true;
      }
      const uint64_t packets = num(k, "packets"), bursts = num(k, "bursts");
      if (packets == 0) {
        std::printf("%-6llu %-15s %12s %14s %10s   (%llu cycles)\n", static_cast<unsigned long long>(num(l, "lcore")),
                    stage.c_str(), "-", "0", "-", static_cast<unsigned long long>(num(k, "cycles")));
        continue;
      }
      std::printf("%-6llu %-15s %12.1f %14llu %10.1f\n", static_cast<unsigned long long>(num(l, "lcore")), stage.c_str(),
                  static_cast<double>(num(k, "cycles")) / static_cast<double>(packets),
                  static_cast<unsigned long long>(packets),
                  bursts == 0 ? 0.0 : static_cast<double>(packets) / static_cast<double>(bursts));
    }
  }
  std::printf("\n%-30s %14s\n", "DROP REASON", "PACKETS");
  for (const auto& [reason, n] : a.value("drops", json::object()).items()) {
    std::printf("%-30s %14llu\n", reason.c_str(), static_cast<unsigned long long>(n.is_number_unsigned() ? n.get<uint64_t>() : 0));
  }
  std::printf("\n%-6s %11s %8s %12s %14s %15s\n", "WORKER", "CONNECTIONS", "TUNNELS", "DTLS_TUNNELS",
              "TLS_HANDSHAKES", "DTLS_HANDSHAKES");
  for (const json& w : a.value("workers", json::array())) {
    std::printf("%-6llu %11llu %8llu %12llu %14llu %15llu\n", static_cast<unsigned long long>(num(w, "worker")),
                static_cast<unsigned long long>(num(w, "connections")),
                static_cast<unsigned long long>(num(w, "tunnels")),
                static_cast<unsigned long long>(num(w, "dtls_tunnels")),
                static_cast<unsigned long long>(num(w, "tls_handshakes")),
                static_cast<unsigned long long>(num(w, "dtls_handshakes")));
  }
}

void print_reload(const json& a) {
  if (a.contains("reloaded") && a["reloaded"].is_array()) {
    for (const json& r : a["reloaded"]) {
      const std::string what = str(r, "what");
      if (what == "policy") {
        std::printf("policy: %s: %llu apps, %llu services (generation %llu; dataplane %s)\n",
                    str(r, "file").c_str(), static_cast<unsigned long long>(num(r, "apps")),
                    static_cast<unsigned long long>(num(r, "services")),
                    static_cast<unsigned long long>(num(r, "generation")),
                    r.value("dataplane_notified", false) ? "notified" : "NOT notified: retry");
        continue;
      }
      if (what == "crl" || what == "jwks") {
        std::printf("%s: %s: %s\n", what.c_str(), str(r, "file").c_str(),
                    r.contains("error") ? ("NOT reloaded: " + str(r, "error")).c_str()
                    : r.value("changed", false) ? "reloaded" : "unchanged");
        continue;
      }
      std::printf("%s: %s: %llu users (%s)\n", what.c_str(), str(r, "file").c_str(),
                  static_cast<unsigned long long>(num(r, "users")),
                  r.value("changed", false) ? "reloaded" : "unchanged");
    }
  }
  std::string rest;
  if (a.contains("not_reloaded") && a["not_reloaded"].is_array()) {
    for (const json& n : a["not_reloaded"]) {
      if (n.is_string()) rest += (rest.empty() ? "" : ", ") + n.get<std::string>();
    }
  }
  std::printf("not reloaded (restart to change): %s\n", rest.empty() ? "the rest of the config" : rest.c_str());
}

int run(const CommandSpec& c, int argc, char** argv, json request,
        void (*print)(const json&)) {
  int rc = kExitOk;
  const std::optional<AdminArgs> a = parse(c, argc, argv, rc);
  if (!a) return rc;
  if (a->user) request["user"] = *a->user;
  if (a->app) request["app"] = *a->app;
  if (!a->positional.empty()) {
    const auto id = controlplane::admin_session_id_parse(a->positional);
    if (!id) {
      std::fprintf(stderr, "tunnelgatectl %s: '%s' is not a session id (hex, as `sessions` shows)\n",
                   c.name, a->positional.c_str());
      return kExitUsage;
    }
    request["id"] = controlplane::admin_session_id_text(*id);
  }
  const std::string path = socket_of(*a, c.name);
  if (path.empty()) return kExitUsage;
  const auto line = exchange(path, request.dump(), c.name, rc);
  if (!line) return rc;
  const json answer = json::parse(*line, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    std::fprintf(stderr, "tunnelgatectl %s: the control plane's answer is not JSON\n", c.name);
    return kExitError;
  }
  const bool ok = answer.value("ok", false);
  if (a->json_out) {
    std::printf("%s\n", line->c_str());
  } else if (ok) {
    print(answer);
  } else {
    std::fprintf(stderr, "tunnelgatectl %s: %s (%s)\n", c.name, str(answer, "message").c_str(),
                 str(answer, "error").c_str());
  }
  return ok ? kExitOk : kExitError;
}

}  // namespace

std::string time_text(int64_t epoch_s) {
  const time_t t = static_cast<time_t>(epoch_s);
  tm utc{};
  char buf[32] = "?";
  if (gmtime_r(&t, &utc) != nullptr) std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

int cmd_status(int argc, char** argv) {
  return run(kStatus, argc, argv, json{{"command", "status"}}, print_status);
}
int cmd_sessions(int argc, char** argv) {
  return run(kSessions, argc, argv, json{{"command", "sessions"}}, print_sessions);
}
int cmd_disconnect(int argc, char** argv) {
  return run(kDisconnect, argc, argv, json{{"command", "disconnect"}}, print_disconnect);
}
int cmd_stats(int argc, char** argv) {
  return run(kStats, argc, argv, json{{"command", "stats"}}, print_stats);
}
void print_certs(const json& a) {
  std::printf("%-8s %-6s %-6s %-20s %14s  %s\n", "CERT", "ACTIVE", "USABLE", "NOT_AFTER", "EXPIRES_IN_S",
              "FINDINGS");
  for (const json& c : a.value("server", json::array())) {
    std::string findings;
    for (const json& f : c.value("findings", json::array()))
      findings += (findings.empty() ? "" : ",") + str(f, "finding") + (str(f, "severity") == "error" ? "(error)" : "");
    const int64_t not_after = c.value("not_after", int64_t{0});
    const std::string when = not_after != 0 ? time_text(not_after) : "-";
    std::printf("%-8s %-6s %-6s %-20s %14lld  %s\n", str(c, "certificate").c_str(),
                c.value("active", false) ? "yes" : "no", c.value("usable", false) ? "yes" : "no", when.c_str(),
                static_cast<long long>(c.value("expires_in_s", int64_t{0})), findings.empty() ? "-" : findings.c_str());
  }
  if (a.contains("server_error")) std::printf("server certificates: %s\n", str(a, "server_error").c_str());
  if (a.contains("crl") && a["crl"].is_object()) {
    const json& c = a["crl"];
    std::printf("CRL: %llu CRL(s), %llu revoked, next update in %lld s, expired accepted %llu\n",
                static_cast<unsigned long long>(num(c, "crls")), static_cast<unsigned long long>(num(c, "revoked")),
                static_cast<long long>(c.value("next_update_in_s", int64_t{0})),
                static_cast<unsigned long long>(num(c, "expired_accepted")));
  } else {
    std::printf("CRL: none loaded\n");
  }
}

int cmd_certs(int argc, char** argv) {
  return run(kCerts, argc, argv, json{{"command", "certs"}}, print_certs);
}

int cmd_reload(int argc, char** argv) {
  return run(kReload, argc, argv, json{{"command", "reload"}}, print_reload);
}

}  // namespace tg::ctl_tool
