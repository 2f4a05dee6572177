// libFuzzer: the incremental HTTP request parser over a pipelined stream, fed whole and
// split at a fuzzer-chosen point. Beyond "no crash, no UB", it checks the property the
// parser is built around: the outcome does not depend on where the stream was split.
// Input: byte 0 picks the limits, bytes 1-2 the split point, the rest is the stream.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/tunnel/http_request.h"

namespace {

using tg::tunnel::HttpMethod;
using tg::tunnel::HttpParseResult;
using tg::tunnel::HttpParseStatus;
using tg::tunnel::HttpRequestLimits;
using tg::tunnel::HttpRequestParser;

constexpr size_t kPrefixBytes = 3;

/// Everything observable about parsing a stream, as text.
std::string run(const HttpRequestLimits& limits, const std::vector<std::string_view>& chunks) {
  HttpRequestParser parser(limits);
  std::string trace;
  std::string tunnel_bytes;
  bool done = false;
  for (std::string_view chunk : chunks) {
    if (done) break;
    if (parser.switched_to_tunnel()) {
      tunnel_bytes += chunk;
      continue;
    }
    HttpParseResult r = parser.feed(chunk);
    while (r.status == HttpParseStatus::kComplete) {
      const auto& q = r.request;
      trace += std::to_string(static_cast<int>(q.method)) + " " + q.target + " " +
               std::to_string(static_cast<int>(q.version)) + " h" +
               std::to_string(q.headers.size()) + " b" + q.body + " k" +
               std::to_string(q.keep_alive()) + "\n";
      for (const auto& h : q.headers) {
        if (h.name.empty()) std::abort();  // the parser never yields an empty name
      }
      // The worker's bearer-token checks run on what the parser yields: never past the value.
      if (const auto token = tg::tunnel::http_bearer_token(q)) {
        if (token->empty()) std::abort();
        trace += "t" + std::to_string(tg::tunnel::jwt_compact_shape(*token, 8192)) + "\n";
      }
      trace += "j" + std::to_string(tg::tunnel::jwt_compact_shape(q.body, 8192)) + "\n";
      if (q.method == HttpMethod::kConnect) {
        tunnel_bytes = parser.take_remaining();
        break;
      }
      r = parser.next();
    }
    if (r.status == HttpParseStatus::kError) {
      trace += "error " + std::to_string(static_cast<int>(r.error.status)) + "\n";
      if (!parser.switched_to_tunnel()) done = true;
    }
  }
  return trace + "tunnel " + tunnel_bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < kPrefixBytes) return 0;
  const uint8_t knob = data[0];
  HttpRequestLimits limits;
  if (knob & 1) {  // tight limits half of the time, so every limit path is reachable
    limits.max_header_bytes = 64 + (knob >> 1) * 8;
    limits.max_body_bytes = knob >> 2;
    limits.max_target_bytes = 4 + (knob >> 3);
    limits.max_header_count = 1 + (knob >> 5);
    limits.max_request_bytes = limits.max_header_bytes + (knob >> 3);
  }
  const std::string_view stream(reinterpret_cast<const char*>(data + kPrefixBytes),
                                size - kPrefixBytes);
  const size_t split = (static_cast<size_t>(data[1]) | (static_cast<size_t>(data[2]) << 8)) %
                       (stream.size() + 1);

  const std::string whole = run(limits, {stream});
  const std::string parts = run(limits, {stream.substr(0, split), stream.substr(split)});
  if (whole != parts) std::abort();  // the verdict depended on the split point
  return 0;
}
