// The client side of the OpenConnect HTTP exchange (PROTOCOL.md §2-§4): the requests
// openconnect 9.01 sends (POST / and /auth with config-auth XML, CONNECT /CSCOSSLC/tunnel)
// and a parser of the server's answers (status line, headers, Content-Length body).
//
// Used by tunnelgate-loadgen during login only (not on its traffic path). The parser sees
// server input, so it bounds everything and never throws; it works on the bytes received
// so far and says "need more" until the response is complete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tg::loadgen {

/// Largest header section accepted from a server (ocserv's CONNECT answer is ~1.2 KB).
inline constexpr size_t kMaxResponseHeaderBytes = 16384;
/// Largest body accepted (auth bodies are a few hundred bytes).
inline constexpr size_t kMaxResponseBodyBytes = 65536;
/// Most header lines kept.
inline constexpr size_t kMaxResponseHeaders = 128;

/// The User-Agent of Debian's openconnect 9.01 (ocserv uses it to detect "OpenConnect v4+").
inline constexpr std::string_view kUserAgent = "Open AnyConnect VPN Agent v9.01-3";

enum class HttpParseStatus : uint8_t { kNeedMore, kComplete, kError };

struct HttpResponse {
  int status = 0;                 ///< 200, 401, ...
  std::string reason;             ///< reason phrase
  bool http10 = false;            ///< HTTP/1.0 (implies close)
  bool close = false;             ///< the server closes after this response
  /// Header lines in order: name as sent, value with surrounding blanks removed.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;               ///< the Content-Length body (empty for CONNECT 200)

  /// First value of a header, name compared case-insensitively (HTTP).
  std::optional<std::string_view> header(std::string_view name) const;
  /// The value of the cookie `name` from the Set-Cookie headers (the last one wins, as in
  /// openconnect); nullopt when not set. An empty value (a "clear" cookie) is returned empty.
  std::optional<std::string> cookie(std::string_view name) const;
};

struct HttpParseResult {
  HttpParseStatus status = HttpParseStatus::kNeedMore;
  std::string error;      ///< when kError: what was wrong (safe to print)
  size_t consumed = 0;    ///< when kComplete: bytes of the input this response used
  HttpResponse response;  ///< when kComplete
};

/// Parses one response from the start of `data` (all bytes received so far).
/// @param connect_reply the response to a CONNECT: a 2xx has no body, the bytes after the
///                      blank line are CSTP (consumed stops at the blank line).
/// Malformed input (no "HTTP/1.x NNN" status line, a header line without ':', bare LF,
/// a bad Content-Length, Transfer-Encoding, a Set-Cookie without '=', limits) is kError.
HttpParseResult parse_http_response(std::string_view data, bool connect_reply);

/// A cookie jar of the few cookies a login collects (webvpncontext, webvpn, ...).
class CookieJar {
 public:
  /// Applies every Set-Cookie of a response: a value replaces the old one, an empty value
  /// (ocserv's "clear" cookie) removes it.
  void update(const HttpResponse& response);
  std::optional<std::string_view> get(std::string_view name) const;
  /// "a=1; b=2", or empty when the jar is empty.
  std::string header_value() const;

 private:
  std::vector<std::pair<std::string, std::string>> cookies_;
};

/// What every request carries.
struct RequestContext {
  std::string host;     ///< "192.0.2.1" or "192.0.2.1:8443" (":port" only when not 443)
  std::string cookies;  ///< CookieJar::header_value(); empty = no Cookie header
};

/// `POST path` with the config-auth body and openconnect's headers (PROTOCOL.md §2).
std::string build_post(const RequestContext& context, std::string_view path,
                       std::string_view xml_body);

/// What the CONNECT request asks for (PROTOCOL.md §4.1).
struct ConnectOptions {
  std::string hostname = "loadgen";   ///< X-CSTP-Hostname
  uint16_t base_mtu = 1500;           ///< X-CSTP-Base-MTU
  uint16_t mtu = 1406;                ///< X-CSTP-MTU (a hint)
  bool dtls = true;                   ///< send the X-DTLS-* headers (PSK-NEGOTIATE)
  std::string dtls_master_secret;     ///< 96 hex digits (legacy DTLS; required by servers)
};

/// `CONNECT /CSCOSSLC/tunnel` with `Cookie: webvpn=...` and the X-CSTP-*/X-DTLS-* headers.
std::string build_connect(const RequestContext& context, std::string_view webvpn_cookie,
                          const ConnectOptions& options);

}  // namespace tg::loadgen
