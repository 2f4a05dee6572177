// Private to config/: the formats of single string values (prefixes for a given use, port
// ranges, listen addresses, names). Each returns the parsed value, or nullopt and sets
// `error` to a message of the form `"<found>" is not ... (expected ...)`, without the key:
// the caller knows which key it read.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "config/config.h"

namespace tg::config::detail {

enum class HostBits : unsigned char {
  zero,          ///< a network: "198.18.1.0/24" (routes, pools, service subnets)
  host_address,  ///< an interface address plus its subnet: "192.0.2.1/24" (ports)
};

/// An IPv4 prefix. `v6_subject` names what is not IPv6-ready yet, e.g. "ports" gives
/// "IPv6 ports are not supported yet". host_address also rejects the network and broadcast
/// addresses of subnets that have them (length < 31).
std::optional<IpPrefix> parse_v4_prefix_for(const std::string& text, HostBits rule,
                                            const char* v6_subject, std::string& error);
/// An IPv4 address (next hops, DNS servers).
std::optional<IpAddr> parse_v4_addr_for(const std::string& text, const char* v6_subject,
                                        std::string& error);
/// "N" or "N-M", 0 <= N <= M <= 65535, decimal digits only.
std::optional<PortRange> parse_port_range(const std::string& text, std::string& error);
/// "a.b.c.d:port", "[v6]:port" or "localhost:port" with port 1..65535.
bool check_listen_address(const std::string& text, std::string& error);

/// [a-z0-9_-]{1,max_len}: instance and port names (they end up in file and metric names).
bool is_lower_name(const std::string& text, size_t max_len);
/// [A-Za-z0-9._-]{1,64}: pool and service names.
bool is_object_name(const std::string& text);
/// 1..255 visible ASCII characters: app ids are platform bundle/package ids
/// ("com.example.mail", "Microsoft.Office.Outlook_8wekyb3d8bbwe").
bool is_app_id(const std::string& text);
/// 1..64 bytes without control characters (UTF-8 allowed): labels shown to users.
bool is_label(const std::string& text);
/// A DNS name: dot-separated labels of 1..63 [A-Za-z0-9-], 1..253 characters in all.
bool is_domain_name(const std::string& text);

}  // namespace tg::config::detail
