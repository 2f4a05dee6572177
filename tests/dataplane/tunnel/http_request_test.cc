// HttpRequestParser: malformed input first, then the real openconnect requests split at
// every position, pipelining and the CONNECT hand-over.
#include "dataplane/tunnel/http_request.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/dataplane/tunnel/test_data.h"

namespace tg::tunnel {
namespace {

using test::read_data_file;

constexpr std::string_view kMinimalGet = "GET / HTTP/1.1\r\nHost: gw\r\n\r\n";

HttpParseResult parse_whole(std::string_view input, const HttpRequestLimits& limits = {}) {
  HttpRequestParser parser(limits);
  return parser.feed(input);
}

/// Feeds `input` in two chunks split at `split`; returns the first final result.
HttpParseResult parse_split(std::string_view input, size_t split,
                            const HttpRequestLimits& limits = {}) {
  HttpRequestParser parser(limits);
  HttpParseResult first = parser.feed(input.substr(0, split));
  if (first.status != HttpParseStatus::kNeedMore) return first;
  return parser.feed(input.substr(split));
}

HttpParseResult parse_bytewise(std::string_view input, const HttpRequestLimits& limits = {}) {
  HttpRequestParser parser(limits);
  HttpParseResult result;
  for (char c : input) {
    result = parser.feed(std::string_view(&c, 1));
    if (result.status != HttpParseStatus::kNeedMore) return result;
  }
  return result;
}

void expect_same_request(const HttpRequest& a, const HttpRequest& b) {
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.body, b.body);
  ASSERT_EQ(a.headers.size(), b.headers.size());
  for (size_t i = 0; i < a.headers.size(); ++i) {
    EXPECT_EQ(a.headers[i].name, b.headers[i].name);
    EXPECT_EQ(a.headers[i].value, b.headers[i].value);
  }
}

/// The outcome must not depend on where the stream was split.
void expect_split_invariant(std::string_view input, const HttpRequestLimits& limits = {}) {
  const HttpParseResult whole = parse_whole(input, limits);
  for (size_t split = 0; split <= input.size(); ++split) {
    const HttpParseResult part = parse_split(input, split, limits);
    ASSERT_EQ(part.status, whole.status) << "split at " << split;
    if (whole.status == HttpParseStatus::kError) {
      ASSERT_EQ(part.error.status, whole.error.status) << "split at " << split;
    } else if (whole.status == HttpParseStatus::kComplete) {
      expect_same_request(part.request, whole.request);
    }
  }
  const HttpParseResult bytewise = parse_bytewise(input, limits);
  ASSERT_EQ(bytewise.status, whole.status);
  if (whole.status == HttpParseStatus::kError) {
    EXPECT_EQ(bytewise.error.status, whole.error.status);
  }
}

struct MalformedCase {
  const char* name;
  std::string input;
  HttpErrorStatus expected;
};

std::vector<MalformedCase> malformed_cases() {
  const std::string host = "Host: gw\r\n";
  return {
      {"bare LF request line", "GET / HTTP/1.1\nHost: gw\r\n\r\n", HttpErrorStatus::kBadRequest},
      {"bare LF header", "GET / HTTP/1.1\r\nHost: gw\n\r\n", HttpErrorStatus::kBadRequest},
      {"bare LF end", "GET / HTTP/1.1\r\nHost: gw\r\n\n", HttpErrorStatus::kBadRequest},
      {"bare CR in header", "GET / HTTP/1.1\r\nHost: g\rw\r\n\r\n", HttpErrorStatus::kBadRequest},
      {"empty request line", "\r\nGET / HTTP/1.1\r\n" + host + "\r\n", HttpErrorStatus::kBadRequest},
      {"no version (HTTP/0.9)", "GET /\r\n" + host + "\r\n", HttpErrorStatus::kBadRequest},
      {"double space", "GET  / HTTP/1.1\r\n" + host + "\r\n", HttpErrorStatus::kBadRequest},
      {"trailing space", "GET / HTTP/1.1 \r\n" + host + "\r\n", HttpErrorStatus::kBadRequest},
      {"tab separator", "GET\t/ HTTP/1.1\r\n" + host + "\r\n", HttpErrorStatus::kBadRequest},
      {"lower-case version", "GET / http/1.1\r\n" + host + "\r\n", HttpErrorStatus::kBadRequest},
      {"version without dot", "GET / HTTP/11\r\n" + host + "\r\n", HttpErrorStatus::kBadRequest},
      {"version suffix", "GET / HTTP/1.1x\r\n" + host + "\r\n", HttpErrorStatus::kBadRequest},
      {"version letters", "GET / HTTP/a.b\r\n" + host + "\r\n", HttpErrorStatus::kBadRequest},
      {"HTTP/1.2", "GET / HTTP/1.2\r\n" + host + "\r\n", HttpErrorStatus::kVersionNotSupported},
      {"HTTP/2.0", "GET / HTTP/2.0\r\n" + host + "\r\n", HttpErrorStatus::kVersionNotSupported},
      {"HTTP/0.9", "GET / HTTP/0.9\r\n" + host + "\r\n", HttpErrorStatus::kVersionNotSupported},
      {"unknown method", "BREW / HTTP/1.1\r\n" + host + "\r\n", HttpErrorStatus::kNotImplemented},
      {"lower-case method", "get / HTTP/1.1\r\n" + host + "\r\n", HttpErrorStatus::kNotImplemented},
      {"long method", std::string(40, 'A') + " / HTTP/1.1\r\n" + host + "\r\n",
       HttpErrorStatus::kNotImplemented},
      {"PUT", "PUT / HTTP/1.1\r\n" + host + "\r\n", HttpErrorStatus::kMethodNotAllowed},
      {"HEAD", "HEAD / HTTP/1.1\r\n" + host + "\r\n", HttpErrorStatus::kMethodNotAllowed},
      {"DELETE", "DELETE / HTTP/1.1\r\n" + host + "\r\n", HttpErrorStatus::kMethodNotAllowed},
      {"bad method chars", "G(T / HTTP/1.1\r\n" + host + "\r\n", HttpErrorStatus::kBadRequest},
      {"absolute-form target", "GET http://gw/ HTTP/1.1\r\n" + host + "\r\n",
       HttpErrorStatus::kBadRequest},
      {"authority-form CONNECT", "CONNECT gw:443 HTTP/1.1\r\n" + host + "\r\n",
       HttpErrorStatus::kBadRequest},
      {"NUL in target", std::string("GET /a\0b HTTP/1.1\r\n", 19) + host + "\r\n",
       HttpErrorStatus::kBadRequest},
      {"non-ASCII target", "GET /\xc3\xa9 HTTP/1.1\r\n" + host + "\r\n", HttpErrorStatus::kBadRequest},
      {"target too long", "GET /" + std::string(2000, 'a') + " HTTP/1.1\r\n" + host + "\r\n",
       HttpErrorStatus::kUriTooLong},
      {"request line without end", "GET /" + std::string(5000, 'a'), HttpErrorStatus::kUriTooLong},
      {"obs-fold", "GET / HTTP/1.1\r\n" + host + "X-A: 1\r\n  2\r\n\r\n", HttpErrorStatus::kBadRequest},
      {"whitespace before first header", "GET / HTTP/1.1\r\n " + host + "\r\n",
       HttpErrorStatus::kBadRequest},
      {"space before colon", "GET / HTTP/1.1\r\nHost : gw\r\n\r\n", HttpErrorStatus::kBadRequest},
      {"no colon", "GET / HTTP/1.1\r\n" + host + "NoColon\r\n\r\n", HttpErrorStatus::kBadRequest},
      {"empty name", "GET / HTTP/1.1\r\n" + host + ": v\r\n\r\n", HttpErrorStatus::kBadRequest},
      {"NUL in value", "GET / HTTP/1.1\r\n" + host + std::string("X-A: a\0b\r\n\r\n", 12),
       HttpErrorStatus::kBadRequest},
      {"DEL in value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x7f\r\n\r\n", HttpErrorStatus::kBadRequest},
      {"ctl in value", "GET / HTTP/1.1\r\n" + host + "X-A: a\x01\r\n\r\n", HttpErrorStatus::kBadRequest},
      {"NUL in name", "GET / HTTP/1.1\r\n" + host + std::string("X\0A: a\r\n\r\n", 10),
       HttpErrorStatus::kBadRequest},
      {"no Host in 1.1", "GET / HTTP/1.1\r\n\r\n", HttpErrorStatus::kBadRequest},
      {"two Host", "GET / HTTP/1.1\r\n" + host + host + "\r\n", HttpErrorStatus::kBadRequest},
      {"header section too large",
       "GET / HTTP/1.1\r\n" + host + "X-Big: " + std::string(9000, 'x') + "\r\n\r\n",
       HttpErrorStatus::kHeaderFieldsTooLarge},
      {"header never ends", "GET / HTTP/1.1\r\n" + host + "X-Big: " + std::string(9000, 'x'),
       HttpErrorStatus::kHeaderFieldsTooLarge},
      {"Content-Length letters", "POST / HTTP/1.1\r\n" + host + "Content-Length: abc\r\n\r\n",
       HttpErrorStatus::kBadRequest},
      {"Content-Length negative", "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n",
       HttpErrorStatus::kBadRequest},
      {"Content-Length plus", "POST / HTTP/1.1\r\n" + host + "Content-Length: +5\r\n\r\n",
       HttpErrorStatus::kBadRequest},
      {"Content-Length hex", "POST / HTTP/1.1\r\n" + host + "Content-Length: 0x10\r\n\r\n",
       HttpErrorStatus::kBadRequest},
      {"Content-Length inner space", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1 2\r\n\r\n",
       HttpErrorStatus::kBadRequest},
      {"Content-Length list", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1,1\r\n\r\n",
       HttpErrorStatus::kBadRequest},
      {"Content-Length empty", "POST / HTTP/1.1\r\n" + host + "Content-Length:\r\n\r\n",
       HttpErrorStatus::kBadRequest},
      {"Content-Length conflicting",
       "POST / HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
       HttpErrorStatus::kBadRequest},
      {"Content-Length overflow",
       "POST / HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999999999999\r\n\r\n",
       HttpErrorStatus::kPayloadTooLarge},
      {"Content-Length 2^64", "POST / HTTP/1.1\r\n" + host + "Content-Length: 18446744073709551616\r\n\r\n",
       HttpErrorStatus::kPayloadTooLarge},
      {"body over limit", "POST / HTTP/1.1\r\n" + host + "Content-Length: 16385\r\n\r\n",
       HttpErrorStatus::kPayloadTooLarge},
      {"Transfer-Encoding", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n",
       HttpErrorStatus::kNotImplemented},
      {"Transfer-Encoding + Content-Length",
       "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
       HttpErrorStatus::kBadRequest},
      {"CONNECT with body", "CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\n" + host + "Content-Length: 4\r\n\r\nSTF\x01",
       HttpErrorStatus::kBadRequest},
  };
}

TEST(HttpRequestMalformed, EachCaseIsRejectedWithItsStatusWhateverTheSplit) {
  for (const MalformedCase& c : malformed_cases()) {
    SCOPED_TRACE(c.name);
    const HttpParseResult result = parse_whole(c.input);
    ASSERT_EQ(result.status, HttpParseStatus::kError);
    EXPECT_EQ(result.error.status, c.expected) << result.error.reason;
    EXPECT_FALSE(result.error.reason.empty());
    expect_split_invariant(c.input);
  }
}

TEST(HttpRequestMalformed, TooManyHeaderLinesIs431) {
  std::string input = "GET / HTTP/1.1\r\nHost: gw\r\n";
  for (int i = 0; i < 70; ++i) input += "X-H" + std::to_string(i) + ": v\r\n";
  input += "\r\n";
  const HttpParseResult result = parse_whole(input);
  ASSERT_EQ(result.status, HttpParseStatus::kError);
  EXPECT_EQ(result.error.status, HttpErrorStatus::kHeaderFieldsTooLarge);
}

TEST(HttpRequestMalformed, LimitsComeFromTheConstructor) {
  HttpRequestLimits tight;
  tight.max_header_bytes = 64;
  tight.max_body_bytes = 4;
  tight.max_target_bytes = 8;
  tight.max_header_count = 2;
  EXPECT_EQ(parse_whole("POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhello", tight)
                .error.status,
            HttpErrorStatus::kPayloadTooLarge);
  EXPECT_EQ(parse_whole("GET /123456789 HTTP/1.1\r\nHost: gw\r\n\r\n", tight).error.status,
            HttpErrorStatus::kUriTooLong);
  EXPECT_EQ(parse_whole("GET / HTTP/1.1\r\nHost: gw\r\nA: 1\r\nB: 2\r\n\r\n", tight).error.status,
            HttpErrorStatus::kHeaderFieldsTooLarge);
  EXPECT_EQ(parse_whole("GET / HTTP/1.1\r\nHost: " + std::string(60, 'g') + "\r\n\r\n", tight)
                .error.status,
            HttpErrorStatus::kHeaderFieldsTooLarge);
  const HttpParseResult ok =
      parse_whole("POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\n\r\nabcd", tight);
  ASSERT_EQ(ok.status, HttpParseStatus::kComplete);
  EXPECT_EQ(ok.request.body, "abcd");
  // Every case, split anywhere, gives the same verdict under tight limits too.
  for (const MalformedCase& c : malformed_cases()) expect_split_invariant(c.input, tight);
}

TEST(HttpRequestMalformed, WholeRequestLimitFromTheConfig) {
  const HttpRequestLimits limits = http_request_limits_from_config(1024);
  EXPECT_EQ(limits.max_header_bytes, 1024u);
  EXPECT_EQ(limits.max_body_bytes, 1024u);
  const std::string head = "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000\r\n\r\n";
  const HttpParseResult r = parse_whole(head + std::string(1000, 'x'), limits);
  ASSERT_EQ(r.status, HttpParseStatus::kError);
  EXPECT_EQ(r.error.status, HttpErrorStatus::kPayloadTooLarge);
  const std::string fits = "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 900\r\n\r\n";
  EXPECT_EQ(parse_whole(fits + std::string(900, 'x'), limits).status, HttpParseStatus::kComplete);
  // The real requests fit the config default (16384).
  EXPECT_EQ(parse_whole(read_data_file("pw_post_init.http"), http_request_limits_from_config(16384))
                .status,
            HttpParseStatus::kComplete);
}

TEST(HttpRequestMalformed, ErrorsAreSticky) {
  HttpRequestParser parser;
  const HttpParseResult first = parser.feed("BREW / HTTP/1.1\r\n");
  ASSERT_EQ(first.status, HttpParseStatus::kError);
  const HttpParseResult again = parser.feed(kMinimalGet);
  ASSERT_EQ(again.status, HttpParseStatus::kError);
  EXPECT_EQ(again.error.status, HttpErrorStatus::kNotImplemented);
  EXPECT_EQ(parser.next().status, HttpParseStatus::kError);
}

TEST(HttpRequestMalformed, EveryTruncationOfARealRequestNeedsMore) {
  const std::string input = read_data_file("pw_post_password.http");
  for (size_t len = 0; len < input.size(); ++len) {
    const HttpParseResult result = parse_whole(std::string_view(input).substr(0, len));
    ASSERT_EQ(result.status, HttpParseStatus::kNeedMore) << "prefix " << len;
  }
  EXPECT_EQ(parse_whole(input).status, HttpParseStatus::kComplete);
}

TEST(HttpRequestMalformed, BufferNeverExceedsTheLimitsWhileIncomplete) {
  HttpRequestParser parser;
  std::string junk = "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 16384\r\n\r\n";
  ASSERT_EQ(parser.feed(junk).status, HttpParseStatus::kNeedMore);
  const std::string body(16383, 'x');
  ASSERT_EQ(parser.feed(body).status, HttpParseStatus::kNeedMore);
  EXPECT_LE(parser.buffered_bytes(), HttpRequestLimits{}.max_header_bytes +
                                         HttpRequestLimits{}.max_body_bytes);
  EXPECT_EQ(parser.feed("y").status, HttpParseStatus::kComplete);
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

// ---------------------------------------------------------------------------------------
// Valid requests

TEST(HttpRequest, MinimalGetAndHttp10WithoutHost) {
  HttpParseResult result = parse_whole(kMinimalGet);
  ASSERT_EQ(result.status, HttpParseStatus::kComplete);
  EXPECT_EQ(result.request.method, HttpMethod::kGet);
  EXPECT_EQ(result.request.version, HttpVersion::kHttp11);
  EXPECT_TRUE(result.request.keep_alive());

  result = parse_whole("GET /x HTTP/1.0\r\n\r\n");
  ASSERT_EQ(result.status, HttpParseStatus::kComplete);
  EXPECT_EQ(result.request.version, HttpVersion::kHttp10);
  EXPECT_FALSE(result.request.keep_alive());
}

TEST(HttpRequest, ConnectionSemantics) {
  auto keep = [](std::string_view version, std::string_view connection) {
    std::string input = "GET / " + std::string(version) + "\r\nHost: gw\r\n";
    if (!connection.empty()) input += "Connection: " + std::string(connection) + "\r\n";
    input += "\r\n";
    const HttpParseResult r = parse_whole(input);
    EXPECT_EQ(r.status, HttpParseStatus::kComplete);
    return r.request.keep_alive();
  };
  EXPECT_TRUE(keep("HTTP/1.1", ""));
  EXPECT_FALSE(keep("HTTP/1.1", "close"));
  EXPECT_FALSE(keep("HTTP/1.1", "Upgrade, CLOSE"));
  EXPECT_TRUE(keep("HTTP/1.1", "Keep-Alive"));
  EXPECT_FALSE(keep("HTTP/1.0", ""));
  EXPECT_TRUE(keep("HTTP/1.0", "keep-alive"));
  EXPECT_FALSE(keep("HTTP/1.0", "keep-alive, close"));
}

TEST(HttpRequest, HeaderLookupIsCaseInsensitiveAndKeepsRepeats) {
  const HttpParseResult r = parse_whole(
      "GET / HTTP/1.1\r\nhOsT:gw \r\nX-Rep: 1\r\nx-rep:\t2\r\nX-Empty:\r\n\r\n");
  ASSERT_EQ(r.status, HttpParseStatus::kComplete);
  EXPECT_EQ(r.request.header("host"), "gw");
  EXPECT_EQ(r.request.header("X-REP"), "1");
  EXPECT_EQ(r.request.header_count("x-rep"), 2u);
  EXPECT_EQ(r.request.header("X-Empty"), "");
  EXPECT_FALSE(r.request.header("X-Missing").has_value());
}

TEST(HttpRequest, DuplicateIdenticalContentLengthIsAccepted) {
  const HttpParseResult r = parse_whole(
      "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab");
  ASSERT_EQ(r.status, HttpParseStatus::kComplete);
  EXPECT_EQ(r.request.body, "ab");
}

TEST(HttpRequest, CookieLookup) {
  EXPECT_EQ(http_cookie_find("webvpn=abc; webvpncontext=def", "webvpn"), "abc");
  EXPECT_EQ(http_cookie_find("webvpn=abc; webvpncontext=def", "webvpncontext"), "def");
  EXPECT_EQ(http_cookie_find("webvpncontext=def", "webvpn"), std::nullopt);
  EXPECT_EQ(http_cookie_find("a=1;webvpn=x=y", "webvpn"), "x=y");
  EXPECT_EQ(http_cookie_find("webvpn=", "webvpn"), "");
  EXPECT_EQ(http_cookie_find("WEBVPN=1", "webvpn"), std::nullopt);
  EXPECT_EQ(http_cookie_find("novalue; webvpn=2", "webvpn"), "2");
  EXPECT_EQ(http_cookie_find("", "webvpn"), std::nullopt);

  const HttpParseResult r = parse_whole(
      "GET / HTTP/1.1\r\nHost: gw\r\nCookie: a=1\r\ncookie: webvpn=Z; b=2\r\n\r\n");
  ASSERT_EQ(r.status, HttpParseStatus::kComplete);
  EXPECT_EQ(r.request.cookie("webvpn"), "Z");
  EXPECT_EQ(r.request.cookie("a"), "1");
  EXPECT_EQ(r.request.cookie("c"), std::nullopt);
}

// ---------------------------------------------------------------------------------------
// The real openconnect 9.01 requests (tests/dataplane/tunnel/data)

struct RealRequest {
  const char* file;
  HttpMethod method;
  const char* target;
  size_t body_bytes;
};

TEST(HttpRequestReal, ClientRequestsParseIdenticallyAtEverySplit) {
  const RealRequest requests[] = {
      {"pw_post_init.http", HttpMethod::kPost, "/", 364},
      {"pw_post_username.http", HttpMethod::kPost, "/auth", 362},
      {"pw_post_password.http", HttpMethod::kPost, "/auth", 368},
      {"group_post_init_select.http", HttpMethod::kPost, "/auth", 401},
      {"group_post_username.http", HttpMethod::kPost, "/auth", 395},
      {"connect_dtls.http", HttpMethod::kConnect, "/CSCOSSLC/tunnel", 0},
      {"connect_nodtls.http", HttpMethod::kConnect, "/CSCOSSLC/tunnel", 0},
  };
  for (const RealRequest& expected : requests) {
    SCOPED_TRACE(expected.file);
    const std::string input = read_data_file(expected.file);
    const HttpParseResult r = parse_whole(input);
    ASSERT_EQ(r.status, HttpParseStatus::kComplete) << r.error.reason;
    EXPECT_EQ(r.request.method, expected.method);
    EXPECT_EQ(r.request.target, expected.target);
    EXPECT_EQ(r.request.version, HttpVersion::kHttp11);
    EXPECT_EQ(r.request.header("Host"), "192.0.2.1");
    EXPECT_EQ(r.request.header("User-Agent"), "Open AnyConnect VPN Agent v9.01-3");
    EXPECT_EQ(r.request.body.size(), expected.body_bytes);
    EXPECT_EQ(r.request.body, test::body_of(input));
    EXPECT_TRUE(r.request.keep_alive());
    expect_split_invariant(input);
  }
}

TEST(HttpRequestReal, CookiesOfThePasswordPostAndTheConnect) {
  HttpParseResult r = parse_whole(read_data_file("pw_post_password.http"));
  ASSERT_EQ(r.status, HttpParseStatus::kComplete);
  EXPECT_EQ(r.request.cookie("webvpncontext"), "<COOKIE>");
  EXPECT_EQ(r.request.cookie("webvpn"), std::nullopt);
  EXPECT_EQ(r.request.header("Content-Type"), "application/xml; charset=utf-8");

  r = parse_whole(read_data_file("connect_dtls.http"));
  ASSERT_EQ(r.status, HttpParseStatus::kComplete);
  EXPECT_EQ(r.request.cookie("webvpn"), "<COOKIE>");
}

TEST(HttpRequestReal, PipelinedSessionThenConnectHandsOverCstpBytesAtEverySplit) {
  const std::string cstp_bytes("STF\x01\x00\x00\x03\x00STF\x01\x00\x01\x00\x00\x45", 17);
  const std::string stream = read_data_file("pw_post_init.http") +
                             read_data_file("pw_post_username.http") +
                             read_data_file("pw_post_password.http") +
                             read_data_file("connect_dtls.http") + cstp_bytes;
  const std::vector<std::string> expected_targets = {"/", "/auth", "/auth", "/CSCOSSLC/tunnel"};

  for (size_t split = 0; split <= stream.size(); ++split) {
    HttpRequestParser parser;
    std::vector<std::string> targets;
    std::string remaining;
    for (std::string_view chunk : {std::string_view(stream).substr(0, split),
                                   std::string_view(stream).substr(split)}) {
      if (parser.switched_to_tunnel()) {
        remaining += chunk;  // the worker hands later bytes straight to CSTP
        continue;
      }
      HttpParseResult r = parser.feed(chunk);
      while (r.status == HttpParseStatus::kComplete) {
        targets.push_back(r.request.target);
        if (r.request.method == HttpMethod::kConnect) {
          remaining = parser.take_remaining();
          break;
        }
        r = parser.next();
      }
      ASSERT_NE(r.status, HttpParseStatus::kError) << "split " << split << ": " << r.error.reason;
    }
    ASSERT_EQ(targets, expected_targets) << "split " << split;
    ASSERT_EQ(remaining, cstp_bytes) << "split " << split;
  }
}

TEST(HttpRequestReal, FeedAfterConnectIsRejectedButKeepsTheCstpBytes) {
  HttpRequestParser parser;
  const HttpParseResult r = parser.feed(read_data_file("connect_nodtls.http") + "STF");
  ASSERT_EQ(r.status, HttpParseStatus::kComplete);
  EXPECT_TRUE(parser.switched_to_tunnel());
  EXPECT_EQ(parser.feed("\x01").status, HttpParseStatus::kError);
  EXPECT_EQ(parser.next().status, HttpParseStatus::kError);
  EXPECT_EQ(parser.take_remaining(), "STF");
}

TEST(HttpRequest, StatusReasons) {
  EXPECT_EQ(http_status_reason(400), "Bad Request");
  EXPECT_EQ(http_status_reason(431), "Request Header Fields Too Large");
  EXPECT_EQ(http_status_reason(999), "Error");
}

// Bearer tokens (Microsoft Tunnel's MAM SDK): malformed headers and passwords first, each
// refused; then the accepted forms. The token itself is judged by the control plane.
TEST(HttpBearer, HeaderForms) {
  auto with_auth = [](std::string value) {
    HttpRequest r;
    r.headers.push_back({"Authorization", std::move(value)});
    return r;
  };
  const HttpRequest none;
  EXPECT_FALSE(http_bearer_token(none));
  for (const char* bad : {"", "Bearer", "Bearer ", "Bearer    ", "Bearerx abc", "Basic YWxpY2U6cHc=",
                          "Bear abc", "Bearer\tabc"}) {
    EXPECT_FALSE(http_bearer_token(with_auth(bad))) << "'" << bad << "'";
  }
  EXPECT_EQ(http_bearer_token(with_auth("Bearer abc.def.ghi")), "abc.def.ghi");
  EXPECT_EQ(http_bearer_token(with_auth("bearer   abc")), "abc");
  HttpRequest lower;
  lower.headers.push_back({"authorization", "BEARER t"});
  EXPECT_EQ(http_bearer_token(lower), "t");
}

TEST(HttpBearer, JwtShape) {
  const std::string good = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl";
  struct Case {
    int number;
    std::string text;
  };
  const Case bad[] = {
      {1, ""},
      {2, "correct horse battery staple"},
      {3, "eyJ"},
      {4, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0"},                 // two parts
      {5, good + ".extra"},                                         // four parts
      {6, "eyJhbGciOiJSUzI1NiJ9..c2lnbmF0dXJl"},                    // empty payload
      {7, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0."},                 // empty signature
      {8, "eyJhbGci=iJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"},     // padding
      {9, "eyJhbGci+iJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"},     // base64, not base64url
      {10, "xyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl"},    // not a JSON object
      {11, good + std::string(1, '\0')},
      {12, good.substr(0, 20) + " " + good.substr(20)},
  };
  for (const Case& c : bad) EXPECT_FALSE(jwt_compact_shape(c.text, 8192)) << "case " << c.number;
  EXPECT_FALSE(jwt_compact_shape(good, good.size() - 1)) << "longer than the limit";
  EXPECT_TRUE(jwt_compact_shape(good, good.size()));
  EXPECT_TRUE(jwt_compact_shape("eyJ-_.a.b-_0123456789", 8192));
}

}  // namespace
}  // namespace tg::tunnel
