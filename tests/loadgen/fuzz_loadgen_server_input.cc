// libFuzzer target for tunnelgate-loadgen's parsers of server input (bench/loadgen): the
// HTTP answer (auth and CONNECT framing), the cookie jar, the CONNECT headers, the
// server's config-auth XML and the probe packets that come back through a tunnel.
// Invariants: nothing crashes or leaks; a complete response never claims more bytes than
// it was given; the parse of a prefix of a complete response is never "complete" with a
// different length.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "bench/loadgen/client_auth.h"
#include "bench/loadgen/client_connect.h"
#include "bench/loadgen/client_http.h"
#include "bench/loadgen/probe.h"

using namespace tg::loadgen;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const bool connect : {false, true}) {
    const HttpParseResult r = parse_http_response(input, connect);
    if (r.status != HttpParseStatus::kComplete) continue;
    if (r.consumed > size) std::abort();
    const HttpParseResult again = parse_http_response(input.substr(0, r.consumed), connect);
    if (again.status != HttpParseStatus::kComplete || again.consumed != r.consumed) std::abort();
    CookieJar jar;
    jar.update(r.response);
    (void)jar.header_value();
    (void)r.response.cookie("webvpn");
    (void)parse_connect_reply(r.response);
    (void)parse_server_auth(r.response.body);
  }
  const ServerAuthParseResult auth = parse_server_auth(input);
  if (auth.ok) (void)find_group(auth.reply.groups, "grpB");
  uint32_t dst = 0;
  (void)parse_probe_packet(std::span<const uint8_t>(data, size), &dst);
  return 0;
}
