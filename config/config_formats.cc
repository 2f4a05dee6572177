// Formats of single configuration values; see config_formats.h.
#include "config/config_formats.h"

#include <algorithm>

#include "config/config_diagnostics.h"

namespace tg::config::detail {
namespace {

constexpr const char* kExpectedPrefix = "expected a.b.c.d/0-32";
constexpr unsigned kMaxPort = 65535;
constexpr size_t kMaxPortDigits = 5;
constexpr size_t kMaxObjectName = 64;
constexpr size_t kMaxAppId = 255;
constexpr size_t kMaxLabel = 64;
constexpr size_t kMaxDomain = 253;
constexpr size_t kMaxDomainLabel = 63;
// Subnets of length 31 (RFC 3021) and 32 have no network or broadcast address to avoid.
constexpr unsigned kFirstLenWithoutBroadcast = 31;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || is_digit(c); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// Decimal 0..65535 without sign, spaces or leading zeros.
std::optional<unsigned> parse_port_number(const std::string& text) {
  if (text.empty() || text.size() > kMaxPortDigits) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), is_digit)) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  const unsigned value = static_cast<unsigned>(std::stoul(text));
  if (value > kMaxPort) return std::nullopt;
  return value;
}

}  // namespace

std::optional<IpPrefix> parse_v4_prefix_for(const std::string& text, HostBits rule,
                                            const char* v6_subject, std::string& error) {
  const auto prefix = parse_prefix(text);
  if (!prefix) {
    const bool no_length = text.find('/') == std::string::npos;
    error = quote(text) + " is not an IPv4 prefix (" + (no_length ? "missing \"/length\"; " : "") +
            kExpectedPrefix + ")";
    return std::nullopt;
  }
  if (!prefix->addr.is_v4()) {
    error = quote(text) + " is an IPv6 prefix: IPv6 " + v6_subject + " are not supported yet (" +
            kExpectedPrefix + ")";
    return std::nullopt;
  }
  const IpPrefix network = prefix->network();
  if (rule == HostBits::zero && network != *prefix) {
    error = quote(text) + " has host bits set (expected the network address " + to_string(network) +
            ")";
    return std::nullopt;
  }
  if (rule == HostBits::host_address && prefix->len < kFirstLenWithoutBroadcast) {
    const uint32_t host_mask = prefix->len == 0 ? ~0u : (~0u >> prefix->len);
    const uint32_t host_part = prefix->addr.v4_host() & host_mask;
    if (host_part == 0 || host_part == host_mask) {
      const char* which = host_part == 0 ? "network" : "broadcast";
      const IpAddr first = IpAddr::from_v4_host(network.addr.v4_host() + 1);
      error = quote(text) + " is the " + which + " address of its subnet (expected a host " +
              "address with its length, such as " + to_string(first) + "/" +
              std::to_string(prefix->len) + ")";
      return std::nullopt;
    }
  }
  return prefix;
}

std::optional<IpAddr> parse_v4_addr_for(const std::string& text, const char* v6_subject,
                                        std::string& error) {
  const auto addr = parse_ip(text);
  if (!addr) {
    error = quote(text) + " is not an IPv4 address (expected a.b.c.d)";
    return std::nullopt;
  }
  if (!addr->is_v4()) {
    error = quote(text) + " is an IPv6 address: IPv6 " + v6_subject +
            " are not supported yet (expected a.b.c.d)";
    return std::nullopt;
  }
  return addr;
}

std::optional<PortRange> parse_port_range(const std::string& text, std::string& error) {
  const auto dash = text.find('-');
  const auto first = parse_port_number(text.substr(0, dash));
  const auto last = dash == std::string::npos ? first : parse_port_number(text.substr(dash + 1));
  if (!first || !last || *first > *last) {
    error = quote(text) + " is not a port or port range (expected \"N\" or \"N-M\" with " +
            "0 <= N <= M <= 65535)";
    return std::nullopt;
  }
  return PortRange{static_cast<uint16_t>(*first), static_cast<uint16_t>(*last)};
}

bool check_listen_address(const std::string& text, std::string& error) {
  error = quote(text) + " is not a listen address (expected a.b.c.d:port, [v6]:port or " +
          "localhost:port, port 1..65535)";
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  const std::string host = text.substr(0, colon);
  const auto port = parse_port_number(text.substr(colon + 1));
  if (!port || *port == 0) return false;
  bool host_ok = false;
  if (host == "localhost") {
    host_ok = true;
  } else if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    const auto addr = parse_ip(host.substr(1, host.size() - 2));
    host_ok = addr && !addr->is_v4();
  } else {
    const auto addr = parse_ip(host);
    host_ok = addr && addr->is_v4();
  }
  if (host_ok) error.clear();
  return host_ok;
}

bool is_lower_name(const std::string& text, size_t max_len) {
  return !text.empty() && text.size() <= max_len &&
         std::all_of(text.begin(), text.end(),
                     [](char c) { return is_lower_alnum(c) || c == '_' || c == '-'; });
}

bool is_object_name(const std::string& text) {
  return !text.empty() && text.size() <= kMaxObjectName &&
         std::all_of(text.begin(), text.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '-' || c == '.'; });
}

bool is_app_id(const std::string& text) {
  return !text.empty() && text.size() <= kMaxAppId &&
         std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7F; });
}

bool is_label(const std::string& text) {
  return !text.empty() && text.size() <= kMaxLabel &&
         std::all_of(text.begin(), text.end(), [](char c) {
           const auto u = static_cast<unsigned char>(c);
           return u >= 0x20 && u != 0x7F;
         });
}

bool is_domain_name(const std::string& text) {
  if (text.empty() || text.size() > kMaxDomain) return false;
  size_t label_len = 0;
  for (char c : text) {
    if (c == '.') {
      if (label_len == 0) return false;
      label_len = 0;
    } else if (is_alnum(c) || c == '-') {
      if (++label_len > kMaxDomainLabel) return false;
    } else {
      return false;
    }
  }
  return label_len != 0;
}

}  // namespace tg::config::detail
