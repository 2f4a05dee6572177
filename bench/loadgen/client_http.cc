// HTTP requests and response parsing of tunnelgate-loadgen (see the header).
#include "bench/loadgen/client_http.h"

#include <algorithm>
#include <cctype>

namespace tg::loadgen {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// The cookie of one Set-Cookie value: name and value up to the first ';' (openconnect).
bool split_set_cookie(std::string_view header, std::string_view* name, std::string_view* value) {
  const std::string_view pair = header.substr(0, header.find(';'));
  const size_t eq = pair.find('=');
  if (eq == std::string_view::npos || eq == 0) return false;
  *name = trim(pair.substr(0, eq));
  *value = trim(pair.substr(eq + 1));
  return !name->empty();
}

HttpParseResult fail(std::string message) {
  HttpParseResult result;
  result.status = HttpParseStatus::kError;
  result.error = std::move(message);
  return result;
}

}  // namespace

std::optional<std::string_view> HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name)) return std::string_view(value);
  return std::nullopt;
}

std::optional<std::string> HttpResponse::cookie(std::string_view name) const {
  std::optional<std::string> found;
  for (const auto& [key, value] : headers) {
    std::string_view cookie_name, cookie_value;
    if (iequals(key, "Set-Cookie") && split_set_cookie(value, &cookie_name, &cookie_value) &&
        cookie_name == name)
      found = std::string(cookie_value);
  }
  return found;
}

HttpParseResult parse_http_response(std::string_view data, bool connect_reply) {
  const size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (data.size() > kMaxResponseHeaderBytes) return fail("response header section too large");
    // A status line that is already wrong need not wait for more bytes.
    if (data.size() >= 5 && data.substr(0, 5) != "HTTP/") return fail("not an HTTP response");
    return {};
  }
  if (end + 4 > kMaxResponseHeaderBytes) return fail("response header section too large");
  const std::string_view head = data.substr(0, end);
  if (head.find('\0') != std::string_view::npos) return fail("NUL byte in the response header");

  HttpParseResult result;
  HttpResponse& response = result.response;
  size_t line_start = 0;
  bool first = true;
  while (line_start <= head.size()) {
    size_t line_end = head.find("\r\n", line_start);
    if (line_end == std::string_view::npos) line_end = head.size();
    const std::string_view line = head.substr(line_start, line_end - line_start);
    line_start = line_end + 2;
    if (line.find('\n') != std::string_view::npos || line.find('\r') != std::string_view::npos)
      return fail("bare CR or LF in the response header");
    if (first) {
      first = false;
      // "HTTP/1.1 200 OK" (openconnect accepts HTTP/1.0 and HTTP/1.1 only, §2).
      if (line.size() < 12 || (line.substr(0, 9) != "HTTP/1.1 " && line.substr(0, 9) != "HTTP/1.0 "))
        return fail("bad status line");
      response.http10 = line[7] == '0';
      const std::string_view code = line.substr(9, 3);
      if (!std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
          (line.size() > 12 && line[12] != ' '))
        return fail("bad status code");
      response.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
      if (response.status < 100) return fail("bad status code");
      response.reason = std::string(line.size() > 13 ? line.substr(13) : std::string_view());
      continue;
    }
    if (line.empty()) return fail("empty header line");
    if (line.front() == ' ' || line.front() == '\t') return fail("folded header line");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail("header line without a name");
    const std::string_view name = line.substr(0, colon);
    if (name.find_first_of(" \t") != std::string_view::npos) return fail("blank in a header name");
    if (response.headers.size() >= kMaxResponseHeaders) return fail("too many header lines");
    response.headers.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
    if (iequals(name, "Set-Cookie")) {
      std::string_view n, v;
      if (!split_set_cookie(response.headers.back().second, &n, &v))
        return fail("Set-Cookie without name=value");
    }
  }
  if (first) return fail("bad status line");

  if (response.header("Transfer-Encoding")) return fail("Transfer-Encoding is not supported");
  const auto connection = response.header("Connection");
  response.close = response.http10 ? !(connection && iequals(*connection, "keep-alive"))
                                   : (connection && iequals(*connection, "close"));
  size_t body_bytes = 0;
  if (const auto length = response.header("Content-Length")) {
    if (length->empty() || length->size() > 9 ||
        !std::all_of(length->begin(), length->end(), [](char c) { return c >= '0' && c <= '9'; }))
      return fail("bad Content-Length");
    body_bytes = std::stoul(std::string(*length));
    if (body_bytes > kMaxResponseBodyBytes) return fail("response body too large");
  } else if (!(connect_reply && response.status / 100 == 2)) {
    // Without a length the body runs until close; the servers we talk to always send one,
    // and a response without one is only complete for us when it has no body.
    body_bytes = 0;
  }
  if (connect_reply && response.status / 100 == 2) body_bytes = 0;  // CSTP follows
  const size_t total = end + 4 + body_bytes;
  if (data.size() < total) return {};
  response.body = std::string(data.substr(end + 4, body_bytes));
  result.status = HttpParseStatus::kComplete;
  result.consumed = total;
  return result;
}

void CookieJar::update(const HttpResponse& response) {
  for (const auto& [key, value] : response.headers) {
    std::string_view name, cookie_value;
    if (!iequals(key, "Set-Cookie") || !split_set_cookie(value, &name, &cookie_value)) continue;
    auto it = std::find_if(cookies_.begin(), cookies_.end(),
                           [&](const auto& c) { return c.first == name; });
    if (cookie_value.empty()) {
      if (it != cookies_.end()) cookies_.erase(it);
    } else if (it != cookies_.end()) {
      it->second = std::string(cookie_value);
    } else {
      cookies_.emplace_back(std::string(name), std::string(cookie_value));
    }
  }
}

std::optional<std::string_view> CookieJar::get(std::string_view name) const {
  for (const auto& [key, value] : cookies_)
    if (key == name) return std::string_view(value);
  return std::nullopt;
}

std::string CookieJar::header_value() const {
  std::string out;
  for (const auto& [key, value] : cookies_) {
    if (!out.empty()) out += "; ";
    out += key + "=" + value;
  }
  return out;
}

std::string build_post(const RequestContext& context, std::string_view path,
                       std::string_view xml_body) {
  // Header order and values as openconnect 9.01 sends them (protocol-traces/), without the
  // STRAP keys of Debian's HPKE build (servers ignore them).
  std::string out;
  out.reserve(512 + xml_body.size());
  out += "POST ";
  out += path;
  out += " HTTP/1.1\r\nHost: " + context.host + "\r\nUser-Agent: ";
  out += kUserAgent;
  out += "\r\n";
  if (!context.cookies.empty()) out += "Cookie: " + context.cookies + "\r\n";
  out += "Accept: */*\r\nAccept-Encoding: identity\r\nX-Transcend-Version: 1\r\n"
         "X-Aggregate-Auth: 1\r\nX-Support-HTTP-Auth: true\r\nX-Pad: 0000000000\r\n"
         "Content-Type: application/xml; charset=utf-8\r\nContent-Length: ";
  out += std::to_string(xml_body.size());
  out += "\r\n\r\n";
  out += xml_body;
  return out;
}

std::string build_connect(const RequestContext& context, std::string_view webvpn_cookie,
                          const ConnectOptions& options) {
  std::string out;
  out.reserve(768);
  out += "CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: " + context.host + "\r\nUser-Agent: ";
  out += kUserAgent;
  out += "\r\nCookie: webvpn=";
  out += webvpn_cookie;
  out += "\r\nX-CSTP-Version: 1\r\nX-CSTP-Hostname: " + options.hostname +
         "\r\nX-CSTP-Base-MTU: " + std::to_string(options.base_mtu) +
         "\r\nX-CSTP-MTU: " + std::to_string(options.mtu) +
         // IPv4 only, as `openconnect --disable-ipv6`; no X-CSTP-Accept-Encoding, as
         // `--no-compression` (the generator compresses nothing).
         "\r\nX-CSTP-Address-Type: IPv4\r\n";
  if (options.dtls) {
    // Only PSK-NEGOTIATE: the legacy master-secret modes are not implemented here. The
    // master secret is still sent, as openconnect always does.
    out += "X-DTLS-Master-Secret: " + options.dtls_master_secret +
           "\r\nX-DTLS-CipherSuite: PSK-NEGOTIATE\r\n";
  }
  out += "\r\n";
  return out;
}

}  // namespace tg::loadgen
