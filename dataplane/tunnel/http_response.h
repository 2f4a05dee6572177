// Builders of the HTTP/1.1 responses of the auth exchange (PROTOCOL.md §2, §3).
//
// Used by the TLS worker threads of tunnelgate-dataplane. Every response starts with
// "HTTP/1.1 ", frames its body with Content-Length (openconnect reads an unframed body until
// close) and carries Connection: close when the worker will close the connection after it.
// The CONNECT response (no body, then CSTP) is built by cstp_connect.h.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tg::tunnel {

/// A cookie to set. openconnect keeps the text up to the first ';' as the value and treats a
/// Set-Cookie without '=' as fatal, so the value must be non-empty RFC 6265 cookie-octets
/// (no ';', ',', '"', '\\', space or control characters).
struct HttpCookie {
  std::string_view name;                  ///< RFC 9110 token, e.g. "webvpn"
  std::string_view value;                 ///< non-empty cookie-octets
  std::optional<uint32_t> max_age_seconds;  ///< Max-Age attribute; none = session cookie
};

/// Build failures: our own inputs were unusable (a caller bug or a bad control-plane value).
enum class HttpBuildError : uint8_t {
  kOk,
  kBadCookieName,
  kBadCookieValue,
  kBadStatus,          ///< status outside 100..599
  kBadReasonPhrase,    ///< CR/LF/control characters in the reason phrase or X-Reason
  kBodyTooLarge,       ///< above kMaxResponseBodyBytes
};

struct HttpBuildResult {
  HttpBuildError error = HttpBuildError::kOk;
  std::string message;  ///< names the offending field when error != kOk
  std::string bytes;    ///< the complete response (headers + body) when ok()
  bool ok() const { return error == HttpBuildError::kOk; }
};

/// Largest body any builder emits (the auth bodies are a few hundred bytes).
inline constexpr size_t kMaxResponseBodyBytes = 65536;

/// `200 OK` with an XML body: Content-Type text/xml, Content-Length, X-Transcend-Version: 1
/// (as ocserv sends), one `Set-Cookie: name=value[; Max-Age=N]; Secure; HttpOnly` per cookie.
/// @param xml_body        the config-auth document (auth_xml.h builders)
/// @param cookies         cookies to set, in order
/// @param close_connection add `Connection: close` (the worker closes after sending)
/// @return the bytes, or kBadCookieName / kBadCookieValue / kBodyTooLarge.
/// Thread-safety: pure function.
HttpBuildResult http_response_xml_ok(std::string_view xml_body,
                                     std::span<const HttpCookie> cookies,
                                     bool close_connection);

/// An error response with a small text/plain body.
struct HttpErrorResponse {
  uint16_t status = 400;
  /// Reason phrase; empty = the standard one (http_status_reason). ocserv uses
  /// "401 Cookie is not acceptable" for a bad CONNECT cookie.
  std::string_view reason_phrase;
  std::string_view body;       ///< short human-readable text; may be empty
  /// `X-Reason:` header, printed by openconnect for a 503 on CONNECT; empty = none.
  std::string_view x_reason;
  bool close_connection = true;
};

/// Builds an error response (status line, Content-Type text/plain when there is a body,
/// Content-Length, optional X-Reason and Connection: close).
/// @return the bytes, or kBadStatus / kBadReasonPhrase / kBodyTooLarge.
/// Thread-safety: pure function.
HttpBuildResult http_response_error(const HttpErrorResponse& response);

/// True when `value` is usable as a cookie value (non-empty RFC 6265 cookie-octets).
bool http_cookie_value_valid(std::string_view value);

}  // namespace tg::tunnel
