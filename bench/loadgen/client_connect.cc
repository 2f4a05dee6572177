// CONNECT response of tunnelgate-loadgen (see the header).
#include "bench/loadgen/client_connect.h"

#include <optional>
#include <string_view>

#include "dataplane/tunnel/cstp_connect.h"  // ipv4_from_string: the gateway's own parser

namespace tg::loadgen {

namespace {

/// The single value of a header compared case-sensitively; "dup" when it repeats.
const std::string* exact_header(const HttpResponse& response, std::string_view name, bool* dup) {
  const std::string* found = nullptr;
  for (const auto& [key, value] : response.headers) {
    if (key != name) continue;
    if (found != nullptr) *dup = true;
    found = &value;
  }
  return found;
}

std::optional<uint32_t> parse_u32(std::string_view text) {
  if (text.empty() || text.size() > 10) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(value);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

ConnectReplyResult fail(std::string message) {
  ConnectReplyResult result;
  result.error = std::move(message);
  return result;
}

}  // namespace

ConnectReplyResult parse_connect_reply(const HttpResponse& response) {
  if (response.status != 200) return fail("CONNECT answered " + std::to_string(response.status));
  ConnectReplyResult result;
  TunnelConfig& config = result.config;
  bool dup = false;

  // X-CSTP-Address may come twice (IPv4 and IPv6): take the IPv4 one.
  bool have_address = false;
  for (const auto& [key, value] : response.headers) {
    if (key != "X-CSTP-Address" || value.find(':') != std::string::npos) continue;
    const auto address = tunnel::ipv4_from_string(value);
    if (!address || have_address) return fail("bad or repeated X-CSTP-Address");
    config.address = *address;
    have_address = true;
  }
  if (!have_address) return fail("no IPv4 X-CSTP-Address");
  if (const std::string* netmask = exact_header(response, "X-CSTP-Netmask", &dup)) {
    const auto mask = tunnel::ipv4_from_string(*netmask);
    if (!mask) return fail("bad X-CSTP-Netmask");
    config.netmask = *mask;
  }
  const std::string* mtu = exact_header(response, "X-CSTP-MTU", &dup);
  const auto mtu_value = mtu ? parse_u32(*mtu) : std::nullopt;
  if (!mtu_value || *mtu_value < 68 || *mtu_value > 65535) return fail("bad or missing X-CSTP-MTU");
  config.mtu = static_cast<uint16_t>(*mtu_value);
  for (const auto& [name, field] : {std::pair{"X-CSTP-DPD", &config.dpd_seconds},
                                    std::pair{"X-CSTP-Keepalive", &config.keepalive_seconds}}) {
    if (const std::string* value = exact_header(response, name, &dup)) {
      const auto number = parse_u32(*value);
      if (!number) return fail(std::string("bad ") + name);
      *field = *number;
    }
  }
  if (dup) return fail("a single-valued X-CSTP header repeats");

  const std::string* cipher = exact_header(response, "X-DTLS-CipherSuite", &dup);
  const std::string* port = exact_header(response, "X-DTLS-Port", &dup);
  const std::string* app_id = exact_header(response, "X-DTLS-App-ID", &dup);
  if (dup) return fail("a single-valued X-DTLS header repeats");
  if (cipher != nullptr) config.dtls_cipher = *cipher;
  if (cipher != nullptr && *cipher == tunnel::cstp_connect::kPskNegotiate) {
    const auto port_value = port ? parse_u32(*port) : std::nullopt;
    if (!port_value || *port_value == 0 || *port_value > 65535) return fail("bad or missing X-DTLS-Port");
    if (app_id == nullptr || app_id->empty() || app_id->size() % 2 != 0 ||
        app_id->size() > 2 * kMaxAppIdBytes)
      return fail("bad or missing X-DTLS-App-ID");
    for (size_t i = 0; i < app_id->size(); i += 2) {
      const int hi = hex_digit((*app_id)[i]);
      const int lo = hex_digit((*app_id)[i + 1]);
      if (hi < 0 || lo < 0) return fail("bad X-DTLS-App-ID");
      config.app_id[i / 2] = static_cast<uint8_t>(hi << 4 | lo);
    }
    config.app_id_len = static_cast<uint8_t>(app_id->size() / 2);
    config.dtls_port = static_cast<uint16_t>(*port_value);
    config.dtls = true;
  }
  result.ok = true;
  return result;
}

}  // namespace tg::loadgen
