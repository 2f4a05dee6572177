// The server's answer to CONNECT /CSCOSSLC/tunnel (PROTOCOL.md §4.2-§4.4, §6): the
// X-CSTP-*/X-DTLS-* headers tunnelgate-loadgen needs to run a tunnel.
//
// Header names are compared case-sensitively, exactly as openconnect 9.01 does (cstp.c):
// a server that writes them otherwise fails with openconnect too.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "bench/loadgen/client_http.h"

namespace tg::loadgen {

/// X-DTLS-App-ID: 1..32 bytes (the DTLS ClientHello session_id).
inline constexpr size_t kMaxAppIdBytes = 32;

struct TunnelConfig {
  uint32_t address = 0;         ///< X-CSTP-Address (IPv4, host order); required
  uint32_t netmask = 0;         ///< X-CSTP-Netmask (host order); 0 when absent
  uint16_t mtu = 0;             ///< X-CSTP-MTU; required
  uint32_t dpd_seconds = 0;     ///< X-CSTP-DPD
  uint32_t keepalive_seconds = 0;  ///< X-CSTP-Keepalive
  bool dtls = false;            ///< the server offers PSK-NEGOTIATE DTLS
  uint16_t dtls_port = 0;       ///< X-DTLS-Port
  std::array<uint8_t, kMaxAppIdBytes> app_id{};  ///< X-DTLS-App-ID
  uint8_t app_id_len = 0;
  std::string dtls_cipher;      ///< X-DTLS-CipherSuite as sent
};

struct ConnectReplyResult {
  bool ok = false;
  std::string error;            ///< when !ok: the header that was wrong (safe to print)
  TunnelConfig config;
};

/// Reads the tunnel parameters of a "200 CONNECTED" response. A missing or malformed
/// X-CSTP-Address or X-CSTP-MTU, a bad number, a DTLS offer without a usable port or
/// App-ID (1..32 bytes of hex) fails. DTLS is on only when X-DTLS-CipherSuite is
/// PSK-NEGOTIATE and X-DTLS-Port and X-DTLS-App-ID are valid; another cipher suite
/// leaves it off (CSTP only), as the generator speaks PSK-NEGOTIATE only.
ConnectReplyResult parse_connect_reply(const HttpResponse& response);

}  // namespace tg::loadgen
