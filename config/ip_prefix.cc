// IpAddr / IpPrefix: parsing, printing and prefix arithmetic for both families.
//
// Parsing is deliberately strict, because a prefix typo in a gateway config silently
// changes who can reach what: addresses go through inet_pton (which already rejects
// leading zeros such as "01.2.3.4" and short forms such as "1.2.3"), and the length must be
// plain decimal digits without sign, spaces or leading zeros.
#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "config/config.h"

namespace tg::config {
namespace {

constexpr unsigned kV4Bits = 32;
constexpr unsigned kV6Bits = 128;
// Longest "len" we read: "128". Anything longer is a typo, not a large number.
constexpr size_t kMaxLenDigits = 3;

unsigned family_bits(IpAddr::Family f) { return f == IpAddr::Family::v4 ? kV4Bits : kV6Bits; }

// Keeps the first `len` bits of `a` and clears the rest.
IpAddr mask_to_len(const IpAddr& a, unsigned len) {
  IpAddr out = a;
  const unsigned bits = family_bits(a.family);
  for (unsigned byte = 0; byte < bits / 8; ++byte) {
    const unsigned first_bit = byte * 8;
    if (first_bit >= len) {
      out.bytes[byte] = 0;
    } else if (len - first_bit < 8) {
      const auto keep = static_cast<uint8_t>(0xFFu << (8 - (len - first_bit)));
      out.bytes[byte] = static_cast<uint8_t>(out.bytes[byte] & keep);
    }
  }
  return out;
}

// Parses the decimal prefix length; nullopt for "", "+1", "024", "1 ", too many digits.
std::optional<unsigned> parse_len(const std::string& text) {
  if (text.empty() || text.size() > kMaxLenDigits) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  unsigned value = 0;
  for (char c : text) value = value * 10 + static_cast<unsigned>(c - '0');
  return value;
}

}  // namespace

IpAddr IpAddr::from_v4_host(uint32_t a) {
  IpAddr out;
  out.family = Family::v4;
  out.bytes[0] = static_cast<uint8_t>(a >> 24);
  out.bytes[1] = static_cast<uint8_t>(a >> 16);
  out.bytes[2] = static_cast<uint8_t>(a >> 8);
  out.bytes[3] = static_cast<uint8_t>(a);
  return out;
}

std::optional<IpAddr> parse_ip(const std::string& text) {
  // inet_pton reads a C string: an embedded NUL would make "1.2.3.4\0junk" look valid.
  if (text.find('\0') != std::string::npos) return std::nullopt;
  IpAddr out;
  if (inet_pton(AF_INET, text.c_str(), out.bytes.data()) == 1) {
    out.family = IpAddr::Family::v4;
    return out;
  }
  if (inet_pton(AF_INET6, text.c_str(), out.bytes.data()) == 1) {
    out.family = IpAddr::Family::v6;
    return out;
  }
  return std::nullopt;
}

std::optional<IpPrefix> parse_prefix(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos || text.find('/', slash + 1) != std::string::npos)
    return std::nullopt;
  const auto addr = parse_ip(text.substr(0, slash));
  const auto len = parse_len(text.substr(slash + 1));
  if (!addr || !len || *len > family_bits(addr->family)) return std::nullopt;
  IpPrefix out;
  out.addr = *addr;
  out.len = static_cast<uint8_t>(*len);
  return out;
}

std::string to_string(const IpAddr& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  const int af = a.is_v4() ? AF_INET : AF_INET6;
  if (inet_ntop(af, a.bytes.data(), buf, sizeof buf) == nullptr) return "?";
  return buf;
}

std::string to_string(const IpPrefix& p) { return to_string(p.addr) + "/" + std::to_string(p.len); }

IpPrefix IpPrefix::network() const {
  IpPrefix out;
  out.addr = mask_to_len(addr, len);
  out.len = len;
  return out;
}

bool IpPrefix::contains(const IpAddr& a) const {
  if (a.family != addr.family) return false;
  return mask_to_len(a, len) == mask_to_len(addr, len);
}

bool IpPrefix::overlaps(const IpPrefix& other) const {
  if (other.addr.family != addr.family) return false;
  // Two prefixes overlap exactly when the shorter one contains the other's network.
  const unsigned shorter = std::min(len, other.len);
  return mask_to_len(addr, shorter) == mask_to_len(other.addr, shorter);
}

}  // namespace tg::config
