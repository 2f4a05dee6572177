// HTTP/1.1 response builders (see http_response.h).
#include "dataplane/tunnel/http_response.h"

#include <algorithm>

#include "dataplane/tunnel/http_request.h"

namespace tg::tunnel {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr uint16_t kMinStatus = 100;
constexpr uint16_t kMaxStatus = 599;
constexpr unsigned char kFirstVisible = 0x21;
constexpr unsigned char kLastVisible = 0x7e;
constexpr unsigned char kSpace = 0x20;
constexpr unsigned char kHtab = 0x09;

// RFC 6265 4.1.1 cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
bool is_cookie_octet(unsigned char c) {
  return c >= kFirstVisible && c <= kLastVisible && c != '"' && c != ',' && c != ';' &&
         c != '\\';
}

bool is_token_char(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  constexpr std::string_view kTcharSymbols = "!#$%&'*+-.^_`|~";
  return kTcharSymbols.find(static_cast<char>(c)) != std::string_view::npos;
}

// Text we put on a header line (reason phrase, X-Reason): HTAB / SP / VCHAR only, so no
// caller-supplied value can end the line or inject a header.
bool is_header_text(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == kHtab || c == kSpace || (c >= kFirstVisible && c <= kLastVisible);
  });
}

HttpBuildResult build_error(HttpBuildError error, std::string message) {
  HttpBuildResult result;
  result.error = error;
  result.message = std::move(message);
  return result;
}

}  // namespace

bool http_cookie_value_valid(std::string_view value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return is_cookie_octet(static_cast<unsigned char>(c));
  });
}

HttpBuildResult http_response_xml_ok(std::string_view xml_body,
                                     std::span<const HttpCookie> cookies,
                                     bool close_connection) {
  if (xml_body.size() > kMaxResponseBodyBytes) {
    return build_error(HttpBuildError::kBodyTooLarge, "XML body too large");
  }
  for (const HttpCookie& cookie : cookies) {
    if (cookie.name.empty() || !std::all_of(cookie.name.begin(), cookie.name.end(), [](char c) {
          return is_token_char(static_cast<unsigned char>(c));
        })) {
      return build_error(HttpBuildError::kBadCookieName, "cookie name is not a token");
    }
    if (!http_cookie_value_valid(cookie.value)) {
      return build_error(HttpBuildError::kBadCookieValue,
                         "cookie " + std::string(cookie.name) +
                             ": value empty or not RFC 6265 cookie-octets");
    }
  }

  HttpBuildResult result;
  std::string& out = result.bytes;
  out.reserve(xml_body.size() + 256);
  out += "HTTP/1.1 200 OK\r\n";
  if (close_connection) out += "Connection: close\r\n";
  out += "Content-Type: text/xml\r\n";
  out += "Content-Length: " + std::to_string(xml_body.size()) + "\r\n";
  out += "X-Transcend-Version: 1\r\n";
  for (const HttpCookie& cookie : cookies) {
    out += "Set-Cookie: ";
    out += cookie.name;
    out += '=';
    out += cookie.value;
    if (cookie.max_age_seconds) out += "; Max-Age=" + std::to_string(*cookie.max_age_seconds);
    out += "; Secure; HttpOnly\r\n";
  }
  out += kCrlf;
  out += xml_body;
  return result;
}

HttpBuildResult http_response_error(const HttpErrorResponse& response) {
  if (response.status < kMinStatus || response.status > kMaxStatus) {
    return build_error(HttpBuildError::kBadStatus, "status outside 100..599");
  }
  const std::string_view reason = response.reason_phrase.empty()
                                      ? http_status_reason(response.status)
                                      : response.reason_phrase;
  if (!is_header_text(reason) || !is_header_text(response.x_reason)) {
    return build_error(HttpBuildError::kBadReasonPhrase,
                       "reason phrase or X-Reason has control characters");
  }
  if (response.body.size() > kMaxResponseBodyBytes) {
    return build_error(HttpBuildError::kBodyTooLarge, "error body too large");
  }

  HttpBuildResult result;
  std::string& out = result.bytes;
  out += "HTTP/1.1 " + std::to_string(response.status) + " ";
  out += reason;
  out += kCrlf;
  if (response.close_connection) out += "Connection: close\r\n";
  if (!response.x_reason.empty()) {
    out += "X-Reason: ";
    out += response.x_reason;
    out += kCrlf;
  }
  if (!response.body.empty()) out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  out += kCrlf;
  out += response.body;
  return result;
}

}  // namespace tg::tunnel
