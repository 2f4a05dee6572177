// CONNECT request headers, MTU rule and 200 CONNECTED response (see cstp_connect.h).
#include "dataplane/tunnel/cstp_connect.h"

#include <arpa/inet.h>

#include <algorithm>

namespace tg::tunnel {
namespace {

constexpr unsigned kBitsPerOctet = 8;
constexpr uint32_t kOctetMask = 0xff;
constexpr unsigned kIpv4Octets = 4;
constexpr unsigned kIpv4Bits = 32;
constexpr size_t kMaxOctetDigits = 3;
constexpr size_t kHexDigitsPerByte = 2;
constexpr size_t kMaxIpv6TextBytes = 45;   // INET6_ADDRSTRLEN - 1
constexpr uint32_t kMaxMtuValue = 65535;
constexpr unsigned kNibbleBits = 4;
constexpr uint8_t kNibbleMask = 0x0f;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Decimal without sign or spaces, at most `max`.
std::optional<uint32_t> parse_decimal(std::string_view text, uint32_t max) {
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
    if (value > max) return std::nullopt;
  }
  return static_cast<uint32_t>(value);
}

/// Splits on `sep`, dropping empty tokens; false when a limit is exceeded.
bool split_tokens(std::string_view text, char sep, std::vector<std::string>& out) {
  out.clear();
  while (!text.empty()) {
    const size_t at = text.find(sep);
    std::string_view token = text.substr(0, at);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (!token.empty()) {
      if (out.size() >= cstp_connect::kMaxListTokens) return false;
      out.emplace_back(token);
    }
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return true;
}

uint32_t prefix_to_mask(uint8_t prefix_len) {
  return prefix_len == 0 ? 0 : ~uint32_t{0} << (kIpv4Bits - prefix_len);
}

bool netmask_contiguous(uint32_t mask) {
  // A contiguous mask is ones followed by zeros: its complement plus one is a power of two.
  const uint32_t inverted = ~mask;
  return (inverted & (inverted + 1)) == 0;
}

// DNS names in a search list: letters, digits, '-', '.', separated by single spaces.
bool domain_list_valid(std::string_view text) {
  constexpr size_t kMaxDomainListBytes = 1024;
  if (text.size() > kMaxDomainListBytes) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
           c == '.' || c == ' ';
  });
}

std::string_view rekey_method_text(CstpRekeyMethod method) {
  switch (method) {
    case CstpRekeyMethod::kNewTunnel: return "new-tunnel";
    case CstpRekeyMethod::kSsl: return "ssl";
    case CstpRekeyMethod::kNone: break;
  }
  return "none";
}

void add_header(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

void add_header(std::string& out, std::string_view name, uint32_t value) {
  add_header(out, name, std::to_string(value));
}

std::string route_text(const Ipv4Route& route) {
  return ipv4_to_string(route.network) + "/" + ipv4_to_string(prefix_to_mask(route.prefix_len));
}

CstpConnectBuildResult build_fail(std::string message) {
  CstpConnectBuildResult result;
  result.ok = false;
  result.message = std::move(message);
  return result;
}

}  // namespace

std::string ipv4_to_string(uint32_t address) {
  std::string out;
  for (unsigned i = 0; i < kIpv4Octets; ++i) {
    if (i != 0) out += '.';
    const unsigned shift = (kIpv4Octets - 1 - i) * kBitsPerOctet;
    out += std::to_string((address >> shift) & kOctetMask);
  }
  return out;
}

std::optional<uint32_t> ipv4_from_string(std::string_view text) {
  uint32_t address = 0;
  for (unsigned i = 0; i < kIpv4Octets; ++i) {
    const size_t dot = text.find('.');
    const bool last = i + 1 == kIpv4Octets;
    if (last != (dot == std::string_view::npos)) return std::nullopt;
    const std::string_view octet = text.substr(0, dot);
    if (octet.empty() || octet.size() > kMaxOctetDigits || (octet.size() > 1 && octet[0] == '0')) {
      return std::nullopt;
    }
    const auto value = parse_decimal(octet, kOctetMask);
    if (!value) return std::nullopt;
    address = (address << kBitsPerOctet) | *value;
    if (!last) text.remove_prefix(dot + 1);
  }
  return address;
}

bool CstpConnectRequest::dtls_psk_negotiate() const {
  return std::find(dtls_cipher_suites.begin(), dtls_cipher_suites.end(),
                   cstp_connect::kPskNegotiate) != dtls_cipher_suites.end();
}

CstpConnectParseResult cstp_connect_parse(const HttpRequest& request) {
  CstpConnectParseResult result;
  auto fail = [&result](CstpConnectError error, std::string message) {
    result.error = error;
    result.message = std::move(message);
    result.request = CstpConnectRequest{};
    return result;
  };
  if (request.method != HttpMethod::kConnect) {
    return fail(CstpConnectError::kNotConnect, "not a CONNECT request");
  }
  CstpConnectRequest& out = result.request;

  if (auto cookie = request.cookie("webvpn")) {
    if (cookie->size() > cstp_connect::kMaxHeaderValueBytes) {
      return fail(CstpConnectError::kValueTooLong, "webvpn cookie too long");
    }
    out.session_cookie = std::string(*cookie);
  }

  bool seen_version = false, seen_hostname = false, seen_base_mtu = false, seen_mtu = false,
       seen_address_type = false, seen_full_ipv6 = false, seen_cstp_encoding = false,
       seen_dtls_encoding = false, seen_master_secret = false, seen_dtls_suites = false,
       seen_dtls12_suites = false;
  for (const HttpHeader& header : request.headers) {
    const std::string_view name = header.name;
    const std::string_view value = header.value;
    // Checks that a header appears once; the name is safe to log.
    auto once = [&](bool& seen) {
      if (seen) return false;
      seen = true;
      return true;
    };
    auto dup = [&] {
      return fail(CstpConnectError::kDuplicateHeader, std::string(name) + " repeated");
    };
    auto bad = [&] { return fail(CstpConnectError::kBadValue, "bad " + std::string(name)); };
    const bool relevant = name.size() > 2 && http_iequals(name.substr(0, 2), "X-");
    if (!relevant) continue;
    if (value.size() > cstp_connect::kMaxHeaderValueBytes) {
      return fail(CstpConnectError::kValueTooLong, std::string(name) + " too long");
    }

    if (http_iequals(name, "X-CSTP-Version")) {
      if (!once(seen_version)) return dup();
      out.cstp_version = parse_decimal(value, UINT32_MAX);
      if (!out.cstp_version) return bad();
    } else if (http_iequals(name, "X-CSTP-Hostname")) {
      if (!once(seen_hostname)) return dup();
      if (value.size() > cstp_connect::kMaxHostnameBytes) {
        return fail(CstpConnectError::kValueTooLong, "X-CSTP-Hostname too long");
      }
      out.hostname = std::string(value);
    } else if (http_iequals(name, "X-CSTP-Base-MTU")) {
      if (!once(seen_base_mtu)) return dup();
      const auto mtu = parse_decimal(value, kMaxMtuValue);
      if (!mtu || *mtu == 0) return bad();
      out.base_mtu = static_cast<uint16_t>(*mtu);
    } else if (http_iequals(name, "X-CSTP-MTU")) {
      if (!once(seen_mtu)) return dup();
      const auto mtu = parse_decimal(value, kMaxMtuValue);
      if (!mtu || *mtu == 0) return bad();
      out.mtu = static_cast<uint16_t>(*mtu);
    } else if (http_iequals(name, "X-CSTP-Address-Type")) {
      if (!once(seen_address_type)) return dup();
      std::vector<std::string> types;
      if (!split_tokens(value, ',', types)) return bad();
      out.address_type_sent = true;
      out.wants_ipv4 = std::find(types.begin(), types.end(), "IPv4") != types.end();
      out.wants_ipv6 = std::find(types.begin(), types.end(), "IPv6") != types.end();
    } else if (http_iequals(name, "X-CSTP-Full-IPv6-Capability")) {
      if (!once(seen_full_ipv6)) return dup();
      out.full_ipv6_capability = http_iequals(value, "true");
    } else if (http_iequals(name, "X-CSTP-Address")) {
      // On reconnect: the previous IPv4 and, separately, the previous IPv6 address.
      if (value.find(':') != std::string_view::npos) {
        if (out.previous_ipv6) return dup();
        in6_addr parsed{};
        const std::string text(value);
        if (value.size() > kMaxIpv6TextBytes || inet_pton(AF_INET6, text.c_str(), &parsed) != 1) {
          return bad();
        }
        out.previous_ipv6 = text;
      } else {
        if (out.previous_ipv4) return dup();
        out.previous_ipv4 = ipv4_from_string(value);
        if (!out.previous_ipv4) return bad();
      }
    } else if (http_iequals(name, "X-CSTP-Accept-Encoding")) {
      if (!once(seen_cstp_encoding)) return dup();
      if (!split_tokens(value, ',', out.cstp_accept_encoding)) return bad();
    } else if (http_iequals(name, "X-DTLS-Accept-Encoding")) {
      if (!once(seen_dtls_encoding)) return dup();
      if (!split_tokens(value, ',', out.dtls_accept_encoding)) return bad();
    } else if (http_iequals(name, "X-DTLS-Master-Secret")) {
      if (!once(seen_master_secret)) return dup();
      if (value.size() != cstp_connect::kDtlsMasterSecretBytes * kHexDigitsPerByte) return bad();
      std::array<uint8_t, cstp_connect::kDtlsMasterSecretBytes> secret{};
      for (size_t i = 0; i < secret.size(); ++i) {
        const int hi = hex_value(value[i * kHexDigitsPerByte]);
        const int lo = hex_value(value[i * kHexDigitsPerByte + 1]);
        if (hi < 0 || lo < 0) return bad();
        secret[i] = static_cast<uint8_t>((hi << kNibbleBits) | lo);
      }
      out.dtls_master_secret = secret;
    } else if (http_iequals(name, "X-DTLS-CipherSuite")) {
      if (!once(seen_dtls_suites)) return dup();
      if (!split_tokens(value, ':', out.dtls_cipher_suites)) return bad();
    } else if (http_iequals(name, "X-DTLS12-CipherSuite")) {
      if (!once(seen_dtls12_suites)) return dup();
      if (!split_tokens(value, ':', out.dtls12_cipher_suites)) return bad();
    }
    // X-AnyConnect-STRAP-*, X-AnyConnect-Identifier-*, X-Pad ...: ignored.
  }
  return result;
}

uint16_t dtls_record_overhead(DtlsRecordCipher cipher) {
  using namespace cstp_mtu;
  switch (cipher) {
    case DtlsRecordCipher::kAesGcm:
      return kDtlsRecordHeaderBytes + kGcmExplicitNonceBytes + kAeadTagBytes;
    case DtlsRecordCipher::kChaCha20Poly1305:
      return kDtlsRecordHeaderBytes + kAeadTagBytes;
    case DtlsRecordCipher::kNone:
      break;
  }
  return 0;
}

CstpMtu cstp_compute_mtu(const CstpMtuInputs& inputs) {
  using namespace cstp_mtu;
  uint16_t link = inputs.configured_link_mtu;
  if (inputs.client_base_mtu) link = std::min(link, *inputs.client_base_mtu);
  if (inputs.tcp_path_mtu) link = std::min(link, *inputs.tcp_path_mtu);
  link = std::max(link, kMinLinkMtu);

  uint16_t overhead = kIpv4HeaderBytes + kUdpHeaderBytes;
  if (inputs.dtls_cipher != DtlsRecordCipher::kNone) {
    overhead += dtls_record_overhead(inputs.dtls_cipher) + kDtlsTypeByte;
  }
  // link >= kMinLinkMtu (576) exceeds the largest overhead (66), so this cannot wrap.
  return CstpMtu{link, static_cast<uint16_t>(link - overhead)};
}

CstpConnectBuildResult cstp_connect_build_response(const CstpTunnelParams& params) {
  if (params.address == 0) return build_fail("address is 0.0.0.0");
  if (params.netmask == 0 || !netmask_contiguous(params.netmask)) {
    return build_fail("netmask is not a contiguous non-zero mask");
  }
  if (params.mtu.tunnel_mtu == 0 || params.mtu.link_mtu == 0) return build_fail("MTU is 0");
  if (params.dns_servers.size() > cstp_connect::kMaxDnsServers) {
    return build_fail("more than 3 DNS servers");
  }
  if (!domain_list_valid(params.default_domain) || !domain_list_valid(params.server_name)) {
    return build_fail("default domain or server name has characters outside [A-Za-z0-9.- ]");
  }
  if (params.split_include.size() + params.split_exclude.size() > cstp_connect::kMaxSplitRoutes) {
    return build_fail("too many split routes");
  }
  for (const auto* routes : {&params.split_include, &params.split_exclude}) {
    for (const Ipv4Route& route : *routes) {
      if (route.prefix_len > kIpv4Bits) return build_fail("split route prefix length above 32");
      if ((route.network & ~prefix_to_mask(route.prefix_len)) != 0) {
        return build_fail("split route " + route_text(route) + " has host bits set");
      }
    }
  }
  if (params.rekey_method != CstpRekeyMethod::kNone && params.rekey_time_seconds == 0) {
    return build_fail("rekey method without a rekey time");
  }
  if (params.dtls) {
    const CstpDtlsOffer& dtls = *params.dtls;
    if (dtls.port == 0) return build_fail("DTLS port is 0");
    if (dtls.app_id.empty() || dtls.app_id.size() > cstp_connect::kMaxAppIdBytes) {
      return build_fail("DTLS App-ID must be 1..32 bytes");
    }
    if (dtls.rekey_method != CstpRekeyMethod::kNone && dtls.rekey_time_seconds == 0) {
      return build_fail("DTLS rekey method without a rekey time");
    }
  }

  CstpConnectBuildResult result;
  result.ok = true;
  std::string& out = result.bytes;
  out.reserve(1024);
  // Order as ocserv 1.1.6 sends them (§4.2); openconnect does not depend on the order.
  out += "HTTP/1.1 200 CONNECTED\r\n";
  add_header(out, "X-CSTP-Version", "1");
  if (!params.server_name.empty()) add_header(out, "X-CSTP-Server-Name", params.server_name);
  add_header(out, "X-CSTP-DPD", params.dpd_seconds);
  if (!params.default_domain.empty()) {
    add_header(out, "X-CSTP-Default-Domain", params.default_domain);
  }
  add_header(out, "X-CSTP-Address", ipv4_to_string(params.address));
  add_header(out, "X-CSTP-Netmask", ipv4_to_string(params.netmask));
  for (uint32_t dns : params.dns_servers) add_header(out, "X-CSTP-DNS", ipv4_to_string(dns));
  for (const Ipv4Route& route : params.split_include) {
    add_header(out, "X-CSTP-Split-Include", route_text(route));
  }
  for (const Ipv4Route& route : params.split_exclude) {
    add_header(out, "X-CSTP-Split-Exclude", route_text(route));
  }
  add_header(out, "X-CSTP-Keepalive", params.keepalive_seconds);
  if (params.idle_timeout_seconds) {
    add_header(out, "X-CSTP-Idle-Timeout", *params.idle_timeout_seconds);
  } else {
    add_header(out, "X-CSTP-Idle-Timeout", "none");
  }
  if (params.rekey_method != CstpRekeyMethod::kNone) {
    add_header(out, "X-CSTP-Rekey-Time", params.rekey_time_seconds);
    add_header(out, "X-CSTP-Rekey-Method", rekey_method_text(params.rekey_method));
  }
  if (params.session_timeout_seconds != 0) {
    add_header(out, "X-CSTP-Session-Timeout", params.session_timeout_seconds);
  }
  if (params.session_timeout_remaining_seconds != 0) {
    add_header(out, "X-CSTP-Session-Timeout-Remaining", params.session_timeout_remaining_seconds);
  }
  if (params.dtls) {
    const CstpDtlsOffer& dtls = *params.dtls;
    add_header(out, "X-DTLS-DPD", dtls.dpd_seconds);
    add_header(out, "X-DTLS-Port", dtls.port);
    if (dtls.rekey_method != CstpRekeyMethod::kNone) {
      add_header(out, "X-DTLS-Rekey-Time", dtls.rekey_time_seconds);
      add_header(out, "X-DTLS-Rekey-Method", rekey_method_text(dtls.rekey_method));
    }
    add_header(out, "X-DTLS-Keepalive", dtls.keepalive_seconds);
    static constexpr char kHexDigits[] = "0123456789abcdef";
    std::string app_id;
    for (uint8_t byte : dtls.app_id) {
      app_id += kHexDigits[byte >> kNibbleBits];
      app_id += kHexDigits[byte & kNibbleMask];
    }
    add_header(out, "X-DTLS-App-ID", app_id);
    add_header(out, "X-DTLS-CipherSuite", cstp_connect::kPskNegotiate);
  }
  add_header(out, "X-CSTP-Base-MTU", params.mtu.link_mtu);
  add_header(out, "X-CSTP-MTU", params.mtu.tunnel_mtu);
  out += "\r\n";
  return result;
}

}  // namespace tg::tunnel
