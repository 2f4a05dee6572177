// Incremental HTTP/1.1 request parser for the OpenConnect auth exchange and CONNECT.
//
// Used by the TLS worker threads of tunnelgate-dataplane: decrypted TLS record payloads are
// fed as they arrive (a request may be split anywhere, several requests may arrive in one
// record). Pure C++: no sockets, no TLS, no exceptions escape. Strict by design (see
// dataplane/tunnel/README.md "HTTP decisions"): the only client is openconnect, which sends
// canonical requests, so anything ambiguous is an error and the connection is closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tg::tunnel {

/// HTTP status codes the parser reports for a rejected request.
enum class HttpErrorStatus : uint16_t {
  kBadRequest = 400,              ///< malformed syntax, ambiguous framing
  kMethodNotAllowed = 405,        ///< a standard method we do not serve (HEAD, PUT, ...)
  kPayloadTooLarge = 413,         ///< Content-Length above the body limit
  kUriTooLong = 414,              ///< request line / target above its limit
  kHeaderFieldsTooLarge = 431,    ///< header section or header count above its limit
  kNotImplemented = 501,          ///< unknown method token, Transfer-Encoding
  kVersionNotSupported = 505,     ///< well-formed HTTP/x.y other than 1.0 and 1.1
};

/// Methods the gateway serves (openconnect uses POST and CONNECT; GET for a browser probe).
enum class HttpMethod : uint8_t { kGet, kPost, kConnect };

enum class HttpVersion : uint8_t { kHttp10, kHttp11 };

/// Limits on one request. Every byte the parser buffers for an incomplete request is
/// counted against them, so a peer cannot make it buffer more than
/// max_header_bytes + max_body_bytes (+ the caller's last chunk).
struct HttpRequestLimits {
  /// Request line + header lines + the blank line, CRLFs included.
  size_t max_header_bytes = 8192;
  /// Content-Length ceiling (the config's limits.max_request_bytes bounds both).
  size_t max_body_bytes = 16384;
  /// Request target (path) ceiling; the request line is bounded by it (414).
  size_t max_target_bytes = 1024;
  /// Header line count ceiling (431).
  size_t max_header_count = 64;
  /// Header section + body ceiling (413), the config's limits.max_request_bytes.
  size_t max_request_bytes = 8192 + 16384;
};

/// Limits for the config value limits.max_request_bytes (headers + body, 1024..1048576):
/// the whole request within it, the header section within min(it, 8192).
HttpRequestLimits http_request_limits_from_config(size_t max_request_bytes);

/// One header line as received (name case preserved, value with surrounding OWS removed).
struct HttpHeader {
  std::string name;
  std::string value;
};

/// A complete, validated request. Owns its bytes (independent of the parser's buffer).
struct HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  HttpVersion version = HttpVersion::kHttp11;
  std::string target;                ///< origin-form, starts with '/'
  std::vector<HttpHeader> headers;   ///< in arrival order, repeats kept
  std::string body;                  ///< exactly Content-Length bytes (empty for CONNECT)

  /// First header whose name equals `name` case-insensitively.
  /// @return its value, or nullopt when absent. The view lives as long as this request.
  std::optional<std::string_view> header(std::string_view name) const;

  /// Number of headers named `name` (case-insensitive).
  size_t header_count(std::string_view name) const;

  /// Value of cookie `name` from the Cookie header(s) (`Cookie: a=1; webvpn=XYZ`).
  /// Cookie names are case-sensitive (RFC 6265). The first match wins.
  /// @return the raw value (may be empty), or nullopt when no such cookie was sent.
  std::optional<std::string_view> cookie(std::string_view name) const;

  /// Whether the connection may carry another request after the response:
  /// HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
  bool keep_alive() const;
};

/// Why a request was rejected: the status to answer with (then close) and a short reason
/// that names the offending part. The reason never contains request bytes beyond a name,
/// so it is safe to log.
struct HttpRequestError {
  HttpErrorStatus status = HttpErrorStatus::kBadRequest;
  std::string reason;
};

enum class HttpParseStatus : uint8_t {
  kNeedMore,   ///< no complete request yet; feed more bytes
  kComplete,   ///< `request` holds the next request
  kError,      ///< `error` says why; the parser stays in error (close the connection)
};

struct HttpParseResult {
  HttpParseStatus status = HttpParseStatus::kNeedMore;
  HttpRequest request;     ///< valid when status == kComplete
  HttpRequestError error;  ///< valid when status == kError
};

/// Incremental parser of a stream of pipelined requests on one connection.
///
/// Usage by a TLS worker:
/// @code
///   HttpParseResult r = parser.feed(record_bytes);
///   while (r.status == HttpParseStatus::kComplete) {
///     handle(r.request);
///     if (r.request.method == HttpMethod::kConnect) { cstp_bytes = parser.take_remaining(); break; }
///     r = parser.next();
///   }
/// @endcode
/// After a CONNECT request the stream is no longer HTTP: the parser stops, keeps the bytes
/// that followed the CONNECT headers untouched for take_remaining(), and rejects feed().
///
/// Line endings: CRLF only (a bare LF or bare CR is 400). Folded header lines (obs-fold)
/// are 400. Transfer-Encoding is 501 (400 together with Content-Length).
///
/// Thread-safety: none; one parser per connection, used by that connection's TLS worker.
class HttpRequestParser {
 public:
  explicit HttpRequestParser(const HttpRequestLimits& limits = HttpRequestLimits{});

  /// Appends `bytes` to the buffer, then parses as next() does.
  /// @return kNeedMore, kComplete (the first complete request in the buffer) or kError.
  HttpParseResult feed(std::span<const uint8_t> bytes);
  /// Convenience overload for text.
  HttpParseResult feed(std::string_view bytes);

  /// Parses the next request from bytes already buffered (pipelining), without new input.
  HttpParseResult next();

  /// The bytes buffered after the last complete request (after CONNECT: the first CSTP
  /// bytes). Empties the buffer.
  std::string take_remaining();

  /// Bytes buffered and not yet returned as part of a request.
  size_t buffered_bytes() const { return buf_.size(); }

  /// True once a CONNECT request completed: the rest of the stream is CSTP.
  bool switched_to_tunnel() const { return state_ == State::kTunnel; }

 private:
  enum class State : uint8_t { kRequestLine, kHeaders, kBody, kTunnel, kError };

  HttpParseResult fail(HttpErrorStatus status, std::string reason);
  /// Parses complete lines from buf_[line_start_..]; returns true when a result is final.
  bool parse_lines(HttpParseResult& result);
  bool parse_request_line(std::string_view line, HttpParseResult& result);
  bool parse_header_line(std::string_view line, HttpParseResult& result);
  /// Checks framing headers once the header section is complete.
  bool finish_headers(HttpParseResult& result);
  HttpParseResult complete_request();
  void reset_for_next_request();

  HttpRequestLimits limits_;
  size_t request_line_limit_;   ///< bytes incl. CRLF; derived from the target limit
  State state_ = State::kRequestLine;
  std::string buf_;             ///< unconsumed bytes; the current request starts at 0
  size_t line_start_ = 0;       ///< start of the first line not parsed yet
  size_t header_bytes_ = 0;     ///< header-section bytes parsed so far (CRLFs included)
  size_t body_length_ = 0;      ///< Content-Length of the current request
  HttpRequest current_;         ///< fields parsed so far
  HttpRequestError error_;      ///< sticky error
};

/// Value of cookie `name` inside one Cookie header value ("a=1; b=2").
/// @return the value, or nullopt when absent or when the header is malformed at that pair.
std::optional<std::string_view> http_cookie_find(std::string_view cookie_header,
                                                 std::string_view name);

/// ASCII case-insensitive equality (header names, tokens).
bool http_iequals(std::string_view a, std::string_view b);

/// The credentials of an `Authorization: Bearer <token>` header (RFC 6750 §2.1: the scheme
/// case-insensitive, one or more spaces), or nullopt when the request has no such header or
/// its token is empty. The token is not validated here (the control plane does).
std::optional<std::string_view> http_bearer_token(const HttpRequest& request);

/// True when `text` has the shape of a JWS in compact form: three non-empty base64url
/// segments joined by '.', the first a JSON object ("eyJ" = '{"'), at most `max_len` bytes.
/// How a worker tells a token typed into the password field from a password.
bool jwt_compact_shape(std::string_view text, size_t max_len);

/// Standard reason phrase for a status code ("Bad Request"); "Error" when unknown.
std::string_view http_status_reason(uint16_t status);

}  // namespace tg::tunnel
