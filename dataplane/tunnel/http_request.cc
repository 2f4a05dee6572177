// Incremental HTTP/1.1 request parser (see http_request.h for the contract).
//
// The parser works line by line on an owned buffer: a line is only interpreted once its
// LF has arrived, and every limit is checked on the partial line too, with conditions that
// a partial line can only meet if the complete line meets them as well. That makes the
// outcome independent of how the stream was split (the fuzz target checks exactly that).
#include "dataplane/tunnel/http_request.h"

#include <algorithm>
#include <array>
#include <utility>

namespace tg::tunnel {
namespace {

/// Longest method token we classify; longer tokens are unknown methods (501).
constexpr size_t kMaxMethodBytes = 16;
/// "HTTP/1.1" is the only version shape: 8 bytes.
constexpr std::string_view kHttpVersionPrefix = "HTTP/";
constexpr size_t kHttpVersionBytes = 8;
constexpr size_t kCrlfBytes = 2;
constexpr char kCr = '\r';
constexpr char kLf = '\n';
constexpr char kSp = ' ';
constexpr char kHtab = '\t';
/// Visible ASCII range (RFC 5234 VCHAR) and the start of obs-text.
constexpr unsigned char kFirstVisible = 0x21;
constexpr unsigned char kLastVisible = 0x7e;
constexpr unsigned char kFirstObsText = 0x80;

// RFC 9110 5.6.2 tchar.
bool is_tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  constexpr std::string_view kTcharSymbols = "!#$%&'*+-.^_`|~";
  return kTcharSymbols.find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

// RFC 9110 5.5 field-vchar / SP / HTAB; everything else (NUL, CR, other CTLs, DEL) is out.
bool is_field_value_char(unsigned char c) {
  return c == kSp || c == kHtab || (c >= kFirstVisible && c <= kLastVisible) ||
         c >= kFirstObsText;
}

bool is_ows(char c) { return c == kSp || c == kHtab; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct MethodName {
  std::string_view text;
  bool served;           ///< GET/POST/CONNECT
  HttpMethod method;     ///< valid when served
};
// Served methods, then the standard methods we refuse with 405 (RFC 9110 9.3, PATCH 5789).
constexpr std::array<MethodName, 9> kKnownMethods = {{
    {"GET", true, HttpMethod::kGet},
    {"POST", true, HttpMethod::kPost},
    {"CONNECT", true, HttpMethod::kConnect},
    {"HEAD", false, HttpMethod::kGet},
    {"PUT", false, HttpMethod::kGet},
    {"DELETE", false, HttpMethod::kGet},
    {"OPTIONS", false, HttpMethod::kGet},
    {"TRACE", false, HttpMethod::kGet},
    {"PATCH", false, HttpMethod::kGet},
}};

/// Calls `fn(token)` for each comma-separated, OWS-trimmed, non-empty list element.
template <typename Fn>
void for_each_list_token(std::string_view list, Fn&& fn) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

bool http_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

std::string_view http_status_reason(uint16_t status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

std::optional<std::string_view> http_cookie_find(std::string_view cookie_header,
                                                 std::string_view name) {
  // RFC 6265 4.2.1: cookie-pair *( ";" SP cookie-pair ); we also accept missing/extra OWS.
  while (!cookie_header.empty()) {
    const size_t semi = cookie_header.find(';');
    const std::string_view pair = trim_ows(cookie_header.substr(0, semi));
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      return pair.substr(eq + 1);
    }
    if (semi == std::string_view::npos) break;
    cookie_header.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (http_iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

size_t HttpRequest::header_count(std::string_view name) const {
  return static_cast<size_t>(std::count_if(headers.begin(), headers.end(), [&](const HttpHeader& h) {
    return http_iequals(h.name, name);
  }));
}

std::optional<std::string_view> HttpRequest::cookie(std::string_view name) const {
  for (const HttpHeader& h : headers) {
    if (!http_iequals(h.name, "Cookie")) continue;
    if (auto value = http_cookie_find(h.value, name)) return value;
  }
  return std::nullopt;
}

bool HttpRequest::keep_alive() const {
  bool close = false;
  bool keep = false;
  for (const HttpHeader& h : headers) {
    if (!http_iequals(h.name, "Connection")) continue;
    for_each_list_token(h.value, [&](std::string_view token) {
      if (http_iequals(token, "close")) close = true;
      if (http_iequals(token, "keep-alive")) keep = true;
    });
  }
  if (close) return false;
  return version == HttpVersion::kHttp11 || keep;
}

HttpRequestLimits http_request_limits_from_config(size_t max_request_bytes) {
  HttpRequestLimits limits;
  limits.max_header_bytes = std::min(limits.max_header_bytes, max_request_bytes);
  limits.max_body_bytes = max_request_bytes;
  limits.max_request_bytes = max_request_bytes;
  return limits;
}

HttpRequestParser::HttpRequestParser(const HttpRequestLimits& limits)
    : limits_(limits),
      // "METHOD SP target SP HTTP/1.1 CRLF", never more than the whole header allowance,
      // so an over-long request line is always 414 and never 431.
      request_line_limit_(std::min(kMaxMethodBytes + 1 + limits.max_target_bytes + 1 +
                                       kHttpVersionBytes + kCrlfBytes,
                                   limits.max_header_bytes)) {}

HttpParseResult HttpRequestParser::fail(HttpErrorStatus status, std::string reason) {
  state_ = State::kError;
  error_ = HttpRequestError{status, std::move(reason)};
  HttpParseResult result;
  result.status = HttpParseStatus::kError;
  result.error = error_;
  return result;
}

HttpParseResult HttpRequestParser::feed(std::span<const uint8_t> bytes) {
  if (state_ == State::kRequestLine || state_ == State::kHeaders || state_ == State::kBody) {
    buf_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  return next();
}

HttpParseResult HttpRequestParser::feed(std::string_view bytes) {
  return feed(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()),
                                       bytes.size()));
}

std::string HttpRequestParser::take_remaining() {
  std::string out;
  out.swap(buf_);
  if (state_ != State::kTunnel && state_ != State::kError) reset_for_next_request();
  line_start_ = 0;
  return out;
}

void HttpRequestParser::reset_for_next_request() {
  state_ = State::kRequestLine;
  line_start_ = 0;
  header_bytes_ = 0;
  body_length_ = 0;
  current_ = HttpRequest{};
}

HttpParseResult HttpRequestParser::next() {
  HttpParseResult result;
  switch (state_) {
    case State::kError:
      result.status = HttpParseStatus::kError;
      result.error = error_;
      return result;
    case State::kTunnel:
      // Not sticky: the CSTP bytes stay available through take_remaining().
      result.status = HttpParseStatus::kError;
      result.error = HttpRequestError{HttpErrorStatus::kBadRequest,
                                      "stream switched to CSTP after CONNECT"};
      return result;
    case State::kRequestLine:
    case State::kHeaders:
      if (parse_lines(result)) return result;
      break;
    case State::kBody:
      break;
  }
  if (state_ == State::kBody && buf_.size() - line_start_ >= body_length_) {
    return complete_request();
  }
  return result;  // kNeedMore
}

bool HttpRequestParser::parse_lines(HttpParseResult& result) {
  while (state_ == State::kRequestLine || state_ == State::kHeaders) {
    const bool request_line = state_ == State::kRequestLine;
    const size_t allowance =
        request_line ? request_line_limit_ : limits_.max_header_bytes - header_bytes_;
    const size_t lf = buf_.find(kLf, line_start_);
    // Bytes this line occupies so far (complete: including its LF). A partial line over
    // the allowance implies the complete line is over it too, so splitting cannot change
    // the verdict.
    const size_t line_bytes = (lf == std::string::npos) ? buf_.size() - line_start_
                                                         : lf - line_start_ + 1;
    if (line_bytes > allowance) {
      result = request_line ? fail(HttpErrorStatus::kUriTooLong, "request line too long")
                            : fail(HttpErrorStatus::kHeaderFieldsTooLarge,
                                   "header section too large");
      return true;
    }
    if (lf == std::string::npos) return false;

    std::string_view line(buf_.data() + line_start_, lf - line_start_);
    if (line.empty() || line.back() != kCr) {
      result = fail(HttpErrorStatus::kBadRequest, "bare LF line ending");
      return true;
    }
    line.remove_suffix(1);
    header_bytes_ += line_bytes;
    line_start_ = lf + 1;
    if (line.find(kCr) != std::string_view::npos) {
      result = fail(HttpErrorStatus::kBadRequest, "bare CR in line");
      return true;
    }

    if (request_line) {
      if (parse_request_line(line, result)) return true;
      state_ = State::kHeaders;
    } else if (line.empty()) {
      return finish_headers(result);
    } else if (parse_header_line(line, result)) {
      return true;
    }
  }
  return false;
}

bool HttpRequestParser::parse_request_line(std::string_view line, HttpParseResult& result) {
  if (line.empty()) {
    result = fail(HttpErrorStatus::kBadRequest, "empty request line");
    return true;
  }
  const size_t sp1 = line.find(kSp);
  const size_t sp2 = (sp1 == std::string_view::npos) ? sp1 : line.find(kSp, sp1 + 1);
  if (sp2 == std::string_view::npos) {
    result = fail(HttpErrorStatus::kBadRequest, "request line is not 'METHOD target version'");
    return true;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);

  if (!is_token(method)) {
    result = fail(HttpErrorStatus::kBadRequest, "invalid method token");
    return true;
  }
  if (target.size() > limits_.max_target_bytes) {
    result = fail(HttpErrorStatus::kUriTooLong, "request target too long");
    return true;
  }
  if (target.empty() || target.front() != '/' ||
      !std::all_of(target.begin(), target.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= kFirstVisible && u <= kLastVisible;
      })) {
    result = fail(HttpErrorStatus::kBadRequest, "request target is not an origin-form path");
    return true;
  }
  if (version.size() != kHttpVersionBytes || version.substr(0, kHttpVersionPrefix.size()) !=
                                                 kHttpVersionPrefix ||
      !is_digit(version[5]) || version[6] != '.' || !is_digit(version[7])) {
    result = fail(HttpErrorStatus::kBadRequest, "malformed HTTP version");
    return true;
  }
  if (version == "HTTP/1.1") {
    current_.version = HttpVersion::kHttp11;
  } else if (version == "HTTP/1.0") {
    current_.version = HttpVersion::kHttp10;
  } else {
    result = fail(HttpErrorStatus::kVersionNotSupported, "only HTTP/1.1 and HTTP/1.0");
    return true;
  }

  const auto known = std::find_if(kKnownMethods.begin(), kKnownMethods.end(),
                                  [&](const MethodName& m) { return m.text == method; });
  if (known == kKnownMethods.end()) {
    result = fail(HttpErrorStatus::kNotImplemented, "unknown method");
    return true;
  }
  if (!known->served) {
    result = fail(HttpErrorStatus::kMethodNotAllowed, "method not allowed");
    return true;
  }
  current_.method = known->method;
  current_.target.assign(target);
  return false;
}

bool HttpRequestParser::parse_header_line(std::string_view line, HttpParseResult& result) {
  if (is_ows(line.front())) {
    result = fail(HttpErrorStatus::kBadRequest, "folded header line (obs-fold)");
    return true;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) {
    result = fail(HttpErrorStatus::kBadRequest, "header line without ':'");
    return true;
  }
  const std::string_view name = line.substr(0, colon);
  if (!is_token(name)) {
    result = fail(HttpErrorStatus::kBadRequest, "invalid header name");
    return true;
  }
  const std::string_view raw_value = line.substr(colon + 1);
  if (!std::all_of(raw_value.begin(), raw_value.end(), [](char c) {
        return is_field_value_char(static_cast<unsigned char>(c));
      })) {
    result = fail(HttpErrorStatus::kBadRequest, "invalid character in header " + std::string(name));
    return true;
  }
  if (current_.headers.size() >= limits_.max_header_count) {
    result = fail(HttpErrorStatus::kHeaderFieldsTooLarge, "too many header lines");
    return true;
  }
  current_.headers.push_back(HttpHeader{std::string(name), std::string(trim_ows(raw_value))});
  return false;
}

bool HttpRequestParser::finish_headers(HttpParseResult& result) {
  const size_t host_count = current_.header_count("Host");
  if (host_count > 1 || (host_count == 0 && current_.version == HttpVersion::kHttp11)) {
    // RFC 9112 3.2: exactly one Host in HTTP/1.1.
    result = fail(HttpErrorStatus::kBadRequest, "HTTP/1.1 request needs exactly one Host");
    return true;
  }
  const bool has_length = current_.header_count("Content-Length") > 0;
  if (current_.header_count("Transfer-Encoding") > 0) {
    // RFC 9112 6.1: both framings at once is a smuggling shape; chunked bodies alone are
    // simply not implemented (openconnect always sends Content-Length).
    result = has_length ? fail(HttpErrorStatus::kBadRequest,
                               "both Transfer-Encoding and Content-Length")
                        : fail(HttpErrorStatus::kNotImplemented,
                               "Transfer-Encoding not supported on requests");
    return true;
  }

  body_length_ = 0;
  if (has_length) {
    const std::string_view first = *current_.header("Content-Length");
    for (const HttpHeader& h : current_.headers) {
      // RFC 9112 6.3 lets identical repeats through; anything else is ambiguous framing.
      if (http_iequals(h.name, "Content-Length") && h.value != first) {
        result = fail(HttpErrorStatus::kBadRequest, "conflicting Content-Length headers");
        return true;
      }
    }
    if (first.empty() || !std::all_of(first.begin(), first.end(), is_digit)) {
      result = fail(HttpErrorStatus::kBadRequest, "Content-Length is not a decimal number");
      return true;
    }
    // Accumulate with an early exit so no digit string can overflow.
    size_t length = 0;
    for (char c : first) {
      length = length * 10 + static_cast<size_t>(c - '0');
      if (length > limits_.max_body_bytes) {
        result = fail(HttpErrorStatus::kPayloadTooLarge, "body larger than the limit");
        return true;
      }
    }
    body_length_ = length;
  }
  if (header_bytes_ + body_length_ > limits_.max_request_bytes) {
    result = fail(HttpErrorStatus::kPayloadTooLarge, "request larger than the limit");
    return true;
  }

  if (current_.method == HttpMethod::kConnect) {
    if (body_length_ != 0) {
      result = fail(HttpErrorStatus::kBadRequest, "CONNECT request with a body");
      return true;
    }
    // Everything after the blank line belongs to CSTP: drop only the header bytes.
    buf_.erase(0, line_start_);
    line_start_ = 0;
    state_ = State::kTunnel;
    result.status = HttpParseStatus::kComplete;
    result.request = std::move(current_);
    current_ = HttpRequest{};
    return true;
  }
  state_ = State::kBody;
  if (buf_.size() - line_start_ >= body_length_) {
    result = complete_request();
    return true;
  }
  return false;
}

HttpParseResult HttpRequestParser::complete_request() {
  HttpParseResult result;
  result.status = HttpParseStatus::kComplete;
  current_.body.assign(buf_, line_start_, body_length_);
  result.request = std::move(current_);
  buf_.erase(0, line_start_ + body_length_);
  reset_for_next_request();
  return result;
}

std::optional<std::string_view> http_bearer_token(const HttpRequest& request) {
  const std::optional<std::string_view> value = request.header("Authorization");
  constexpr std::string_view kScheme = "Bearer";
  if (!value || value->size() <= kScheme.size() || !http_iequals(value->substr(0, kScheme.size()), kScheme) ||
      (*value)[kScheme.size()] != ' ')
    return std::nullopt;
  std::string_view token = value->substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

bool jwt_compact_shape(std::string_view text, size_t max_len) {
  if (text.size() < 16 || text.size() > max_len || text.substr(0, 3) != "eyJ") return false;
  int dots = 0;
  char prev = '.';
  for (char ch : text) {
    if (ch == '.') {
      if (prev == '.') return false;  // an empty segment
      dots++;
    } else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                 ch == '_')) {
      return false;
    }
    prev = ch;
  }
  return dots == 2 && prev != '.';
}

}  // namespace tg::tunnel
