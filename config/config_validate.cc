// Layer 3 of validation: rules that relate two or more values, and the files the config names.
//
// Runs after the schema layer on a Config whose rejected values are still at their defaults,
// so every rule first asks diag.key_ok() for the keys it reads: a value that already has an
// error is not compared with anything (no "overlaps 0.0.0.0/0" after "bad prefix").
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "config/config_layers.h"

namespace tg::config::detail {
namespace {

std::string list_names(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string at_line(const Diagnostics& diag, const std::string& key) {
  return key + " (line " + std::to_string(diag.line_of(key)) + ")";
}

// Reports the second and later occurrences of a name; returns the set of distinct names.
// `name_of(i)` returns the name of element i, `key_of(i)` its dotted key.
template <typename NameOf, typename KeyOf>
std::vector<std::string> check_unique(size_t count, NameOf name_of, KeyOf key_of, const char* what,
                                      Diagnostics& diag) {
  std::map<std::string, std::string> first_key;
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) {
    const std::string key = key_of(i);
    if (!diag.key_ok(key)) continue;
    const std::string name = name_of(i);
    auto [it, inserted] = first_key.emplace(name, key);
    if (inserted) {
      names.push_back(name);
    } else {
      diag.add(key, std::string("duplicate ") + what + " " + quote(name) + " (first defined at " +
                        at_line(diag, it->second) + ")");
    }
  }
  return names;
}

// ---------------------------------------------------------------- dataplane

void check_lcores(const DataplaneConfig& dp, Diagnostics& diag) {
  if (!diag.subtree_ok("dataplane.lcores")) return;
  const bool main_ok = diag.key_ok("dataplane.main_lcore");
  std::map<uint32_t, size_t> seen;
  for (size_t i = 0; i < dp.lcores.size(); ++i) {
    const std::string key = key_element("dataplane.lcores", i);
    const uint32_t lcore = dp.lcores[i];
    if (main_ok && lcore == dp.main_lcore) {
      diag.add(key,
               "lcore " + std::to_string(lcore) +
                   " is the main lcore (dataplane.main_lcore); poll lcores must differ from it");
    } else if (auto [it, inserted] = seen.emplace(lcore, i); !inserted) {
      diag.add(key, "lcore " + std::to_string(lcore) + " is listed twice (first at " +
                        key_element("dataplane.lcores", it->second) + ")");
    }
  }
}

void check_ports(const DataplaneConfig& dp, Diagnostics& diag) {
  const auto port_key = [](size_t i, const char* field) {
    return key_child(key_element("dataplane.ports", i), field);
  };
  check_unique(
      dp.ports.size(), [&](size_t i) { return dp.ports[i].name; },
      [&](size_t i) { return port_key(i, "name"); }, "port name", diag);
  check_unique(
      dp.ports.size(), [&](size_t i) { return dp.ports[i].device; },
      [&](size_t i) { return port_key(i, "device"); }, "port device", diag);

  std::string first_gateway_key;
  for (size_t i = 0; i < dp.ports.size(); ++i) {
    const PortConfig& port = dp.ports[i];
    const std::string address_key = port_key(i, "address");
    const bool address_ok = diag.key_ok(address_key);
    if (address_ok) {
      for (size_t j = 0; j < i; ++j) {
        const std::string other_key = port_key(j, "address");
        if (diag.key_ok(other_key) && dp.ports[j].address.overlaps(port.address))
          diag.add(address_key, "subnet " + to_string(port.address.network()) + " overlaps " +
                                    to_string(dp.ports[j].address.network()) + " of " +
                                    at_line(diag, other_key) +
                                    "; connected subnets of ports must be disjoint");
      }
    }
    const std::string gateway_key = port_key(i, "gateway");
    if (!port.gateway || !diag.key_ok(gateway_key)) continue;
    if (!first_gateway_key.empty()) {
      diag.add(gateway_key, "a second default gateway (the first is " +
                                at_line(diag, first_gateway_key) + "); at most one port has one");
    } else {
      first_gateway_key = gateway_key;
    }
    if (!address_ok) continue;
    if (!port.address.contains(*port.gateway)) {
      diag.add(gateway_key, to_string(*port.gateway) + " is outside the port's subnet " +
                                to_string(port.address.network()) +
                                " (expected a next hop on that subnet)");
    } else if (*port.gateway == port.address.addr) {
      diag.add(gateway_key, to_string(*port.gateway) +
                                " is the port's own address (expected a next hop on its subnet)");
    }
  }
}

void check_routes(const DataplaneConfig& dp, Diagnostics& diag) {
  std::map<std::string, std::string> first_key;
  for (size_t i = 0; i < dp.routes.size(); ++i) {
    const RouteConfig& route = dp.routes[i];
    const std::string route_key = key_element("dataplane.routes", i);
    const std::string prefix_key = key_child(route_key, "prefix");
    if (diag.key_ok(prefix_key)) {
      auto [it, inserted] = first_key.emplace(to_string(route.prefix), prefix_key);
      if (!inserted)
        diag.add(prefix_key, "duplicate route " + to_string(route.prefix) + " (first at " +
                                 at_line(diag, it->second) + ")");
    }
    const std::string via_key = key_child(route_key, "via");
    if (!diag.key_ok(via_key)) continue;
    bool on_link = false;
    bool own_address = false;
    bool all_ports_known = true;
    std::vector<std::string> subnets;
    for (size_t p = 0; p < dp.ports.size(); ++p) {
      if (!diag.key_ok(key_child(key_element("dataplane.ports", p), "address"))) {
        all_ports_known = false;
        continue;
      }
      const IpPrefix& address = dp.ports[p].address;
      subnets.push_back(to_string(address.network()));
      on_link = on_link || address.contains(route.via);
      own_address = own_address || address.addr == route.via;
    }
    if (own_address) {
      diag.add(via_key, to_string(route.via) +
                            " is one of the gateway's own port addresses "
                            "(expected a neighbour's address)");
    } else if (!on_link && all_ports_known && diag.key_ok("dataplane.ports")) {
      diag.add(via_key, to_string(route.via) + " is not inside any port's subnet (ports: " +
                            list_names(subnets) + ")");
    }
  }
}

// ---------------------------------------------------------------- pools / services / apps

void check_pools(const Config& cfg, Diagnostics& diag) {
  for (size_t i = 0; i < cfg.pools.size(); ++i) {
    const std::string key = key_child(key_element("pools", i), "prefix");
    if (!diag.key_ok(key)) continue;
    const IpPrefix& prefix = cfg.pools[i].prefix;
    for (size_t j = 0; j < i; ++j) {
      const std::string other = key_child(key_element("pools", j), "prefix");
      if (diag.key_ok(other) && cfg.pools[j].prefix.overlaps(prefix))
        diag.add(key, to_string(prefix) + " overlaps pool " + to_string(cfg.pools[j].prefix) +
                          " of " + at_line(diag, other) + "; pools must be disjoint");
    }
    const auto& ports = cfg.dataplane.ports;
    for (size_t p = 0; p < ports.size(); ++p) {
      const std::string port_key = key_child(key_element("dataplane.ports", p), "address");
      if (diag.key_ok(port_key) && ports[p].address.overlaps(prefix))
        diag.add(key, to_string(prefix) + " overlaps the subnet " +
                          to_string(ports[p].address.network()) + " of " + at_line(diag, port_key) +
                          "; client addresses must not collide with port subnets");
    }
  }
}

// True when every element of `list_key` has an accepted `field`: only then is a name
// missing from the defined names really unknown rather than one the schema rejected.
bool names_complete(const char* list_key, size_t count, const char* field,
                    const Diagnostics& diag) {
  if (!diag.key_ok(list_key)) return false;
  for (size_t i = 0; i < count; ++i) {
    if (!diag.key_ok(key_child(key_element(list_key, i), field))) return false;
  }
  return true;
}

// `service_names` and `pool_names` are the distinct accepted names (see check_unique).
void check_apps(Config& cfg, const std::vector<std::string>& service_names,
                const std::vector<std::string>& pool_names, Diagnostics& diag) {
  const auto app_key = [](size_t i, const char* field) {
    return key_child(key_element("apps", i), field);
  };
  const bool services_complete = names_complete("services", cfg.services.size(), "name", diag);
  const bool pools_complete = names_complete("pools", cfg.pools.size(), "name", diag);
  const bool apps_complete = names_complete("apps", cfg.apps.size(), "id", diag);
  const auto contains = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };

  const auto app_ids = check_unique(
      cfg.apps.size(), [&](size_t i) { return cfg.apps[i].id; },
      [&](size_t i) { return app_key(i, "id"); }, "app id", diag);
  check_unique(
      cfg.apps.size(), [&](size_t i) { return cfg.apps[i].group; },
      [&](size_t i) { return app_key(i, "group"); }, "app group", diag);

  for (size_t i = 0; i < cfg.apps.size(); ++i) {
    AppConfig& app = cfg.apps[i];
    if (!diag.key_ok(key_element("apps", i))) continue;
    const std::string services_key = app_key(i, "services");
    if (services_complete && diag.subtree_ok(services_key)) {
      for (size_t s = 0; s < app.services.size(); ++s) {
        if (!contains(service_names, app.services[s]))
          diag.add(key_element(services_key, s), "unknown service " + quote(app.services[s]) +
                                                     " (defined: " + list_names(service_names) +
                                                     ")");
      }
    }
    const std::string pool_key = app_key(i, "pool");
    if (!pools_complete || !diag.key_ok(pool_key)) continue;
    if (app.pool.empty()) {
      if (cfg.pools.size() == 1) {
        app.pool = cfg.pools.front().name;  // the only pool is every app's pool
      } else if (cfg.pools.empty()) {
        diag.add(diag.line_of(key_element("apps", i)), pool_key,
                 "no address pool: `pools` is empty (define a pool for client addresses)");
      } else {
        diag.add(diag.line_of(key_element("apps", i)), pool_key,
                 "missing; required when more than one pool is defined (defined: " +
                     list_names(pool_names) + ")");
      }
    } else if (!contains(pool_names, app.pool)) {
      diag.add(pool_key,
               "unknown pool " + quote(app.pool) + " (defined: " + list_names(pool_names) + ")");
    }
  }

  if (!cfg.default_app.empty() && diag.key_ok("default_app") && apps_complete &&
      !contains(app_ids, cfg.default_app))
    diag.add("default_app",
             "unknown app " + quote(cfg.default_app) + " (defined: " + list_names(app_ids) + ")");
}

// ---------------------------------------------------------------- tls / auth / files

void check_tls_and_auth(const Config& cfg, Diagnostics& diag) {
  const TlsConfig& tls = cfg.tls;
  const auto require_pair = [&](const std::string& have, const char* have_key,
                                const std::string& need, const char* need_key) {
    if (!have.empty() && need.empty() && diag.key_ok(have_key) && diag.key_ok(need_key))
      diag.add(diag.line_of(have_key), need_key,
               std::string("missing; required because ") + have_key + " is set");
  };
  require_pair(tls.certificate, "tls.certificate", tls.key, "tls.key");
  require_pair(tls.key, "tls.key", tls.certificate, "tls.certificate");
  require_pair(tls.second_certificate, "tls.second_certificate", tls.second_key, "tls.second_key");
  require_pair(tls.second_key, "tls.second_key", tls.second_certificate, "tls.second_certificate");
  require_pair(tls.second_certificate, "tls.second_certificate", tls.certificate,
               "tls.certificate");

  const AuthConfig& auth = cfg.auth;
  const struct {
    const char* method;
    const std::string& file;
    const char* file_key;
  } needs[] = {{"password", auth.users_file, "auth.users_file"},
               {"certificate", auth.ca, "auth.ca"},
               {"token", auth.jwks, "auth.jwks"}};
  for (const auto& need : needs) {
    if (std::find(auth.methods.begin(), auth.methods.end(), need.method) == auth.methods.end())
      continue;
    if (need.file.empty() && diag.key_ok(need.file_key))
      diag.add(diag.line_of("auth.methods"), need.file_key,
               std::string("missing; required because auth.methods lists \"") + need.method + "\"");
  }
}

// Requires a regular file, checked with stat() before any open(): opening a device node
// can have effects (a watchdog starts its timer, a tape rewinds), and a FIFO would block.
// Returns "" when readable, else why not.
std::string readable_file_problem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::strerror(errno);
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  ::close(fd);
  return "";
}

void check_files(Config& cfg, const std::string& base_dir, Diagnostics& diag) {
  const std::pair<const char*, std::string*> files[] = {
      {"tls.certificate", &cfg.tls.certificate},
      {"tls.key", &cfg.tls.key},
      {"tls.second_certificate", &cfg.tls.second_certificate},
      {"tls.second_key", &cfg.tls.second_key},
      {"tls.key_password_file", &cfg.tls.key_password_file},
      {"auth.users_file", &cfg.auth.users_file},
      {"auth.ca", &cfg.auth.ca},
      {"auth.crl", &cfg.auth.crl},
      {"auth.jwks", &cfg.auth.jwks},
  };
  for (auto [key, path] : files) {
    if (path->empty() || !diag.key_ok(key)) continue;
    // Relative to the config file, so the processes find the same file whatever their
    // working directory; the resolved path is what they will open.
    if ((*path)[0] != '/' && !base_dir.empty()) *path = base_dir + "/" + *path;
    if (path->find('\0') != std::string::npos) {
      diag.add(key, quote(*path) + " contains a NUL byte (expected a file path)");
      continue;
    }
    if (const std::string problem = readable_file_problem(*path); !problem.empty())
      diag.add(key, "cannot read " + quote(*path) + ": " + problem);
  }
}

}  // namespace

void config_semantics_check(Config& cfg, const std::string& base_dir, Diagnostics& diag) {
  check_lcores(cfg.dataplane, diag);
  check_ports(cfg.dataplane, diag);
  check_routes(cfg.dataplane, diag);
  const auto pool_names = check_unique(
      cfg.pools.size(), [&](size_t i) { return cfg.pools[i].name; },
      [](size_t i) { return key_child(key_element("pools", i), "name"); }, "pool name", diag);
  const auto service_names = check_unique(
      cfg.services.size(), [&](size_t i) { return cfg.services[i].name; },
      [](size_t i) { return key_child(key_element("services", i), "name"); }, "service name", diag);
  check_pools(cfg, diag);
  check_apps(cfg, service_names, pool_names, diag);
  check_tls_and_auth(cfg, diag);
  check_files(cfg, base_dir, diag);
}

}  // namespace tg::config::detail
