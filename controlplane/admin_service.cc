// Control plane: the admin commands. See admin_service.h.
#include "controlplane/admin_service.h"

#include <arpa/inet.h>

#include <cerrno>
#include <future>
#include <optional>
#include <memory>

#include "config/config.h"
#include "controlplane/ctl_handler.h"
#include "controlplane/ctl_segment_mapping.h"
#include "controlplane/ctl_server.h"
#include "controlplane/log.h"
#include "controlplane/session_segment_reader.h"
#include "controlplane/stats_segment_reader.h"

namespace tg::controlplane {

namespace {

using nlohmann::json;

json error_json(const char* code, std::string message) {
  return json{{"ok", false}, {"error", code}, {"message", std::move(message)}};
}

std::string ipv4_text(uint32_t host_order) {
  const uint32_t be = htonl(host_order);
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &be, buf, sizeof buf);
  return buf;
}

}  // namespace

AdminService::AdminService(Options options, AuthCtlHandler& handler, CtlServer& server)
    : options_(std::move(options)),
      handler_(handler),
      server_(server),
      start_monotonic_ns_(monotonic_now_ns()) {}

std::string AdminService::handle_line(std::string_view line, std::string_view peer) {
  auto request = admin_parse_request(line);
  if (!request) {
    log_line("warn", "admin request refused",
             {{"peer", peer}, {"error", request.error().message}});
    return admin_error_line(kAdminErrorBadRequest, request.error().message);
  }
  const char* name = admin_command_name(request->command);
  json answer = execute(*request);
  const bool ok = answer.value("ok", false);
  log_line("info", "admin command",
           {{"peer", peer}, {"command", name}, {"result", ok ? "ok" : "error"},
            {"user", request->user.value_or("")},
            {"id", request->id ? admin_session_id_text(*request->id) : ""}});
  return admin_response_line(answer);
}

json AdminService::execute(const AdminRequest& request) {
  switch (request.command) {
    case AdminCommand::status: return status();
    case AdminCommand::stats: return stats();
    case AdminCommand::certs: return certs();
    case AdminCommand::sessions: return sessions(request);
    case AdminCommand::disconnect: return disconnect(request);
    case AdminCommand::reload: return reload();
  }
  return error_json(kAdminErrorBadRequest, "unknown command");
}

json AdminService::on_ctl_thread(std::function<json(CtlResponder&)> fn) {
  // Shared: if we give up waiting, the task still runs later and sets a promise nobody reads.
  auto result = std::make_shared<std::promise<json>>();
  std::future<json> done = result->get_future();
  server_.post([result, fn = std::move(fn)](CtlResponder& out) { result->set_value(fn(out)); });
  if (done.wait_for(options_.ctl_timeout) != std::future_status::ready) {
    return error_json(kAdminErrorBusy, "the control plane's ctl thread did not answer in time");
  }
  try {
    return done.get();
  } catch (const std::future_error&) {  // the server stopped and dropped the task
    return error_json(kAdminErrorBusy, "the control plane is stopping");
  }
}

namespace {

/// The server certificate slots the dataplane holds (certs, status): one object each.
json server_certs_json(const StatsSnapshot& snap) {
  static constexpr const char* kSlot[shm::kServerCertSlots] = {"primary", "second"};
  const int64_t now = static_cast<int64_t>(realtime_now_ns() / 1'000'000'000);
  json server = json::array();
  for (unsigned i = 0; i < shm::kServerCertSlots; ++i) {
    const ServerCertSnapshot& c = snap.server_certs[i];
    if (!c.configured) continue;
    json findings = json::array();
    for (unsigned f = 0; f < shm::kCertFindingCount; ++f) {
      if ((c.findings >> f) & 1u)
        findings.push_back({{"finding", shm::kCertFindingInfo[f].code}, {"severity", shm::kCertFindingInfo[f].severity}});
    }
    server.push_back({{"certificate", kSlot[i]},
                      {"active", c.active},
                      {"usable", c.usable},
                      {"not_before", c.not_before},
                      {"not_after", c.not_after},
                      {"expires_in_s", c.not_after - now},
                      {"findings", std::move(findings)}});
  }
  return server;
}

}  // namespace

json AdminService::certs() {
  // The server certificates as the dataplane's TLS workers hold them (stats segment) and the
  // client-certificate CRL as the control plane holds it.
  const SegmentReadResult read = stats_segment_open_and_read(options_.instance, realtime_now_ns());
  json server = read ? server_certs_json(read.value()) : json::array();
  json answer{{"ok", true}, {"server", std::move(server)}};
  if (!read) answer["server_error"] = read.error().message;
  return on_ctl_thread([this, answer](CtlResponder&) mutable {
    const auto crl = handler_.crl_status();
    if (crl && crl->info.loaded) {
      const int64_t t = static_cast<int64_t>(realtime_now_ns() / 1'000'000'000);
      answer["crl"] = {{"crls", crl->info.crls},
                       {"revoked", crl->info.revoked},
                       {"this_update", crl->info.this_update},
                       {"next_update", crl->info.next_update},
                       {"next_update_in_s", crl->info.next_update - t},
                       {"expired_accepted", crl->expired_accepted}};
    }
    return answer;
  });
}

json AdminService::stats() {
  // The dataplane's counters as the stats segment has them now (like `status`, read on this
  // thread): per port summed over the lcores, per lcore, drops by reason (non-zero only), per
  // TLS worker. The same numbers /metrics exports, for an operator without Prometheus.
  const SegmentReadResult read = stats_segment_open_and_read(options_.instance, realtime_now_ns());
  if (!read) {
    return json{{"ok", false},
                {"error", kAdminErrorFailed},
                {"message", std::string("dataplane statistics not readable: ") + read.error().message}};
  }
  const StatsSnapshot& s = read.value();
  json ports = json::array();
  for (size_t p = 0; p < s.ports.size(); p++) {
    uint64_t rx_packets = 0, rx_bytes = 0, tx_packets = 0, tx_bytes = 0;
    for (const LcoreSnapshot& l : s.lcores) {
      rx_packets += l.ports[p].rx_packets;
      rx_bytes += l.ports[p].rx_bytes;
      tx_packets += l.ports[p].tx_packets;
      tx_bytes += l.ports[p].tx_bytes;
    }
    static constexpr const char* kRole[] = {"outside", "inside", "exception"};
    const PortSnapshot& port = s.ports[p];
    ports.push_back({{"name", port.name},
                     {"role", kRole[static_cast<unsigned>(port.role) % 3]},
                     {"link_up", port.link_up},
                     {"rx_packets", rx_packets},
                     {"rx_bytes", rx_bytes},
                     {"tx_packets", tx_packets},
                     {"tx_bytes", tx_bytes},
                     {"rx_missed", port.device.rx_missed},
                     {"rx_errors", port.device.rx_errors},
                     {"tx_errors", port.device.tx_errors}});
  }
  json lcores = json::array();
  json drops = json::object();
  for (const LcoreSnapshot& l : s.lcores) {
    json lcore_drops = json::object();
    for (unsigned r = 0; r < shm::kDropReasonCount; r++) {
      if (l.drops[r] == 0) continue;
      lcore_drops[shm::kDropReasonInfo[r].label] = l.drops[r];
      drops[shm::kDropReasonInfo[r].label] = drops.value(shm::kDropReasonInfo[r].label, uint64_t{0}) + l.drops[r];
    }
    // The stage clock's sums (dataplane/stage_clock.h), in the order a packet meets the
    // stages: those that ran in a timed iteration.
    json stages = json::array();
    for (unsigned st = 0; st < shm::kLcoreStageCount; st++) {
      const shm::StageCounters& k = l.stages[st];
      if (k.cycles == 0) continue;
      stages.push_back({{"stage", shm::kLcoreStageInfo[st].label},
                        {"cycles", k.cycles},
                        {"packets", k.packets},
                        {"bursts", k.bursts}});
    }
    lcores.push_back({{"lcore", l.lcore_id},
                      {"busy_ratio", l.total_cycles == 0 ? 0.0
                                                         : static_cast<double>(l.busy_cycles) /
                                                               static_cast<double>(l.total_cycles)},
                      {"loops", l.loops},
                      {"dtls_sessions", l.dtls_sessions},
                      {"dtls_records_decrypted", l.events.dtls_records_decrypted},
                      {"dtls_records_encrypted", l.events.dtls_records_encrypted},
                      {"tunnel_to_backend", l.events.tunnel_to_backend},
                      {"tunnel_to_client", l.events.tunnel_to_client},
                      {"drops", std::move(lcore_drops)},
                      {"stage_sample", l.stage_sample},
                      {"stages", std::move(stages)}});
  }
  json workers = json::array();
  for (const shm::TlsWorkerStats& w : s.tls_workers) {
    uint64_t tls_failed = 0, dtls_failed = 0;
    for (uint64_t n : w.handshakes_failed) tls_failed += n;
    for (uint64_t n : w.dtls_handshakes_failed) dtls_failed += n;
    workers.push_back({{"worker", w.worker},
                       {"connections", w.connections},
                       {"tunnels", w.tunnels_open},
                       {"dtls_tunnels", w.dtls_established},
                       {"tls_handshakes", w.handshakes_ok},
                       {"tls_handshake_failures", tls_failed},
                       {"dtls_handshakes", w.dtls_handshakes_ok},
                       {"dtls_handshake_failures", dtls_failed},
                       {"cstp_rx_packets", w.cstp_rx_packets},
                       {"cstp_tx_packets", w.cstp_tx_packets}});
  }
  return json{{"ok", true},
              {"mempool", {{"in_use", s.mempool_in_use}, {"size", s.mempool_size}}},
              {"ports", std::move(ports)},
              {"lcores", std::move(lcores)},
              {"drops", std::move(drops)},
              {"workers", std::move(workers)}};
}

json AdminService::status() {
  // The stats segment is read here, not on the ctl thread: it is a system-call sequence
  // (open, mmap, copy) that auth decisions need not wait for.
  const SegmentReadResult stats = stats_segment_open_and_read(options_.instance, realtime_now_ns());
  json dataplane{{"up", stats.has_value()}, {"ctl_attached", server_.attached()}};
  if (!stats) {
    dataplane["stats_error"] = segment_error_label(stats.error().code);
    dataplane["stats_message"] = stats.error().message;
  } else {
    const StatsSnapshot& snap = stats.value();
    static constexpr const char* kRole[] = {"outside", "inside", "exception"};
    json ports = json::array();
    for (const PortSnapshot& p : snap.ports) {
      ports.push_back({{"name", p.name},
                       {"role", kRole[static_cast<unsigned>(p.role)]},
                       {"link_up", p.link_up},
                       {"speed_mbps", p.link_speed_mbps}});
    }
    json lcores = json::array();
    for (const LcoreSnapshot& l : snap.lcores) lcores.push_back(l.lcore_id);
    dataplane["pid"] = snap.pid;
    dataplane["started"] = snap.generation / 1'000'000'000;
    dataplane["lcores"] = std::move(lcores);
    dataplane["tls_workers"] = snap.tls_workers.size();
    dataplane["ports"] = std::move(ports);
    dataplane["certificates"] = server_certs_json(snap);
  }
  json answer = on_ctl_thread([this](CtlResponder&) {
    json pools = json::array();
    for (const AddressPool& p : handler_.pools()) {
      pools.push_back({{"name", p.name()}, {"size", p.size()}, {"in_use", p.in_use()}});
    }
    const SessionRegistry& s = handler_.sessions();
    return json{{"ok", true},
                {"sessions", {{"total", s.size()},
                              {"connected", s.attached_count()},
                              {"detached", s.size() - s.attached_count()}}},
                {"pools", std::move(pools)}};
  });
  if (!answer.value("ok", false)) return answer;
  answer["version"] = options_.version;
  answer["instance"] = options_.instance;
  answer["uptime_s"] = (monotonic_now_ns() - start_monotonic_ns_) / 1'000'000'000;
  answer["dataplane"] = std::move(dataplane);
  return answer;
}

json AdminService::sessions(const AdminRequest& request) {
  // The dataplane's live records (channel, traffic) are read here, on the admin thread: a
  // walk over every pool address that auth decisions need not wait for.
  const Expected<LiveSessions> live = session_segment_open_and_read(options_.instance);
  json answer = on_ctl_thread([this, request](CtlResponder&) {
    // Session times are CLOCK_MONOTONIC; clients want wall-clock time.
    const int64_t mono_to_real = static_cast<int64_t>(realtime_now_ns()) -
                                 static_cast<int64_t>(monotonic_now_ns());
    json list = json::array();
    handler_.sessions().for_each([&](const Session& s) {
      if (request.user && s.user != *request.user) return;
      if (request.app && s.app != *request.app) return;
      const int64_t since_ns = static_cast<int64_t>(s.created_ns) + mono_to_real;
      list.push_back({{"id", admin_session_id_text(s.id)},
                      {"user", s.user},
                      {"group", s.group},
                      {"app", s.app},
                      {"client", s.client},
                      {"address", s.address ? ipv4_text(*s.address) : ""},
                      {"since", since_ns / 1'000'000'000},
                      {"state", s.attached ? "connected" : "detached"}});
    });
    return json{{"ok", true}, {"sessions", std::move(list)}};
  });
  if (!answer.value("ok", false)) return answer;
  if (!live) {
    // Registry facts still stand; the live columns say why they are missing.
    answer["live_error"] = live.error().message;
    return answer;
  }
  for (json& s : answer["sessions"]) {
    const std::optional<uint64_t> id = admin_session_id_parse(s.value("id", ""));
    if (!id) continue;
    const auto it = live->by_session.find(*id);
    // Only a connected session has a tunnel, and only its own record counts: a record
    // for the address under another session id is not this session's.
    if (s.value("state", "") != "connected" || it == live->by_session.end()) continue;
    const shm::SessionLive& v = it->second;
    s["channel"] = shm::session_channel_label(static_cast<shm::SessionChannel>(v.channel));
    s["rx_packets"] = v.rx_packets;
    s["rx_bytes"] = v.rx_bytes;
    s["tx_packets"] = v.tx_packets;
    s["tx_bytes"] = v.tx_bytes;
    s["live_updated"] = v.updated_s;
  }
  return answer;
}

json AdminService::disconnect(const AdminRequest& request) {
  return on_ctl_thread([this, request](CtlResponder& out) {
    const std::vector<uint64_t> ended = handler_.disconnect(
        [&](const Session& s) {
          if (request.id) return s.id == *request.id;
          return request.user ? s.user == *request.user : s.app == *request.app;
        },
        out);
    if (ended.empty()) {
      return error_json(kAdminErrorNotFound,
                        request.id     ? "no session " + admin_session_id_text(*request.id)
                        : request.user ? "no session of user '" + *request.user + "'"
                                       : "no session of app '" + *request.app + "'");
    }
    json ids = json::array();
    for (uint64_t id : ended) ids.push_back(admin_session_id_text(id));
    return json{{"ok", true}, {"disconnected", ended.size()}, {"ids", std::move(ids)}};
  });
}

json AdminService::reload() {
  // The file is read and validated here, on the admin thread: a bad file changes nothing.
  std::optional<config::Config> cfg;
  if (!options_.config_path.empty()) {
    config::LoadResult loaded = config::config_load_file(options_.config_path);
    if (!loaded.ok()) {
      std::string text = options_.config_path + ": configuration not reloaded (nothing changed):";
      for (const config::ConfigError& e : loaded.errors) text += "\n" + e.to_string();
      log_line("error", "reload refused: configuration has errors",
               {{"config", options_.config_path}, {"errors", std::to_string(loaded.errors.size())}});
      return error_json(kAdminErrorFailed, text);
    }
    cfg = std::move(loaded.config);
  }
  // By value: if the wait times out the task still runs later, after this frame is gone.
  return on_ctl_thread([this, cfg](CtlResponder& out) {
    json reloaded = json::array();
    json not_reloaded = json::array();
    auto users = handler_.reload_users_now();
    if (users) {
      reloaded.push_back(json{{"what", "users"},
                              {"file", users->file},
                              {"users", users->users},
                              {"changed", users->changed}});
    } else if (users.error().code != ENOENT) {
      return error_json(kAdminErrorFailed, users.error().message);
    }
    std::string trust_errors;
    for (const AuthCtlHandler::TrustReload& t : handler_.reload_trust_now()) {
      json entry{{"what", t.what}, {"file", t.file}, {"changed", t.changed}};
      if (!t.error.empty()) {
        entry["error"] = t.error;
        trust_errors += "\n" + t.what + ": " + t.error + " (the previous version stays in force)";
      }
      reloaded.push_back(std::move(entry));
    }
    if (cfg) {
      const AuthCtlHandler::PolicyReload p = handler_.reload_policy(*cfg, out);
      reloaded.push_back(json{{"what", "policy"},
                              {"file", options_.config_path},
                              {"generation", p.generation},
                              {"apps", p.apps},
                              {"services", p.services},
                              {"dataplane_notified", p.dataplane_notified}});
      for (const std::string& part : p.not_applied) not_reloaded.push_back(part);
    }
    // Read once at start-up (the dataplane's ports, TLS, limits): restart to change them.
    not_reloaded.push_back("dataplane");
    not_reloaded.push_back("tls");
    not_reloaded.push_back("limits");
    if (!trust_errors.empty()) {
      // Everything else was reloaded; the refused file is the operator's to fix (exit 1).
      json e = error_json(kAdminErrorFailed, "reload incomplete:" + trust_errors);
      e["reloaded"] = std::move(reloaded);
      e["not_reloaded"] = std::move(not_reloaded);
      return e;
    }
    return json{{"ok", true}, {"reloaded", std::move(reloaded)}, {"not_reloaded", std::move(not_reloaded)}};
  });
}

}  // namespace tg::controlplane
