// HTTP response builders: invalid inputs first, then the shapes openconnect needs (§2).
#include "dataplane/tunnel/http_response.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tg::tunnel {
namespace {

/// Splits a built response into its header lines and body, checking the framing the way
/// openconnect reads it (status line, CRLF lines, blank line, Content-Length body).
struct ParsedResponse {
  std::string status_line;
  std::vector<std::string> headers;
  std::string body;
};

ParsedResponse split_response(const std::string& bytes) {
  ParsedResponse out;
  const size_t end = bytes.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos);
  std::string head = bytes.substr(0, end + 2);
  out.body = bytes.substr(end + 4);
  size_t pos = 0;
  while (pos < head.size()) {
    const size_t eol = head.find("\r\n", pos);
    const std::string line = head.substr(pos, eol - pos);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    if (pos == 0) out.status_line = line;
    else out.headers.push_back(line);
    pos = eol + 2;
  }
  return out;
}

/// An error response description; fields are set one by one (no designated initializers:
/// -Wmissing-field-initializers).
HttpErrorResponse error_response(uint16_t status, std::string_view reason_phrase = {},
                                 std::string_view body = {}, std::string_view x_reason = {},
                                 bool close_connection = true) {
  HttpErrorResponse response;
  response.status = status;
  response.reason_phrase = reason_phrase;
  response.body = body;
  response.x_reason = x_reason;
  response.close_connection = close_connection;
  return response;
}

bool has_header(const ParsedResponse& r, const std::string& line) {
  for (const std::string& h : r.headers) {
    if (h == line) return true;
  }
  return false;
}

TEST(HttpResponseInvalid, CookieValuesOpenconnectWouldMisread) {
  const char* bad_values[] = {"", "a;b", "a b", "a,b", "a\"b", "a\\b", "a\r\nX: y", "a\tb",
                              "\x7f", "caf\xc3\xa9"};
  for (const char* value : bad_values) {
    const HttpCookie cookie{"webvpn", value, std::nullopt};
    const HttpBuildResult r = http_response_xml_ok("<?xml?>", std::span(&cookie, 1), false);
    EXPECT_EQ(r.error, HttpBuildError::kBadCookieValue) << value;
    EXPECT_TRUE(r.bytes.empty());
    EXPECT_FALSE(http_cookie_value_valid(value));
  }
}

TEST(HttpResponseInvalid, CookieNamesMustBeTokens) {
  for (const char* name : {"", "web vpn", "a=b", "a;b", "a\r\n"}) {
    const HttpCookie cookie{name, "v", std::nullopt};
    EXPECT_EQ(http_response_xml_ok("x", std::span(&cookie, 1), false).error,
              HttpBuildError::kBadCookieName)
        << name;
  }
}

TEST(HttpResponseInvalid, ErrorResponseRejectsBadStatusAndInjectedLines) {
  EXPECT_EQ(http_response_error(error_response(99)).error, HttpBuildError::kBadStatus);
  EXPECT_EQ(http_response_error(error_response(600)).error, HttpBuildError::kBadStatus);
  EXPECT_EQ(http_response_error(error_response(401, "Bad\r\nSet-Cookie: x=y")).error,
            HttpBuildError::kBadReasonPhrase);
  EXPECT_EQ(http_response_error(error_response(503, {}, {}, "a\nb")).error,
            HttpBuildError::kBadReasonPhrase);
  const std::string huge(kMaxResponseBodyBytes + 1, 'x');
  EXPECT_EQ(http_response_error(error_response(400, {}, huge)).error, HttpBuildError::kBodyTooLarge);
  EXPECT_EQ(http_response_xml_ok(huge, {}, false).error, HttpBuildError::kBodyTooLarge);
}

TEST(HttpResponse, XmlOkWithSessionCookie) {
  const std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<config-auth/>\n";
  const HttpCookie cookies[] = {{"webvpncontext", "Q0xBU1NJRklFRA==", 300},
                                {"webvpn", "Q0xBU1NJRklFRA==", std::nullopt}};
  const HttpBuildResult built = http_response_xml_ok(body, cookies, false);
  ASSERT_TRUE(built.ok()) << built.message;
  const ParsedResponse r = split_response(built.bytes);
  EXPECT_EQ(r.status_line, "HTTP/1.1 200 OK");
  EXPECT_TRUE(has_header(r, "Content-Type: text/xml"));
  EXPECT_TRUE(has_header(r, "Content-Length: " + std::to_string(body.size())));
  EXPECT_TRUE(has_header(r, "X-Transcend-Version: 1"));
  EXPECT_TRUE(has_header(r, "Set-Cookie: webvpncontext=Q0xBU1NJRklFRA==; Max-Age=300; Secure; HttpOnly"));
  EXPECT_TRUE(has_header(r, "Set-Cookie: webvpn=Q0xBU1NJRklFRA==; Secure; HttpOnly"));
  EXPECT_FALSE(has_header(r, "Connection: close"));
  EXPECT_EQ(r.body, body);
  // The body must start with "<?xml" (openconnect check_response_type).
  EXPECT_EQ(r.body.rfind("<?xml", 0), 0u);
}

TEST(HttpResponse, XmlOkClosingConnection) {
  const HttpBuildResult built = http_response_xml_ok("<?xml?>", {}, true);
  ASSERT_TRUE(built.ok());
  const ParsedResponse r = split_response(built.bytes);
  EXPECT_TRUE(has_header(r, "Connection: close"));
  EXPECT_TRUE(has_header(r, "Content-Length: 7"));
}

TEST(HttpResponse, ErrorResponses) {
  HttpBuildResult built = http_response_error(error_response(401, "Cookie is not acceptable"));
  ASSERT_TRUE(built.ok());
  ParsedResponse r = split_response(built.bytes);
  EXPECT_EQ(r.status_line, "HTTP/1.1 401 Cookie is not acceptable");
  EXPECT_TRUE(has_header(r, "Connection: close"));
  EXPECT_TRUE(has_header(r, "Content-Length: 0"));
  EXPECT_TRUE(r.body.empty());

  built = http_response_error(error_response(503, {}, "busy\n", "Server is full"));
  ASSERT_TRUE(built.ok());
  r = split_response(built.bytes);
  EXPECT_EQ(r.status_line, "HTTP/1.1 503 Service Unavailable");
  EXPECT_TRUE(has_header(r, "X-Reason: Server is full"));
  EXPECT_TRUE(has_header(r, "Content-Type: text/plain; charset=utf-8"));
  EXPECT_TRUE(has_header(r, "Content-Length: 5"));
  EXPECT_EQ(r.body, "busy\n");

  built = http_response_error(error_response(413, {}, {}, {}, false));
  ASSERT_TRUE(built.ok());
  r = split_response(built.bytes);
  EXPECT_EQ(r.status_line, "HTTP/1.1 413 Content Too Large");
  EXPECT_FALSE(has_header(r, "Connection: close"));
}

}  // namespace
}  // namespace tg::tunnel
