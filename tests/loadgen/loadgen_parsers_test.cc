// Unit tests of tunnelgate-loadgen's parsers of server input (bench/loadgen): HTTP answers,
// config-auth XML from the server, the CONNECT answer, and the probe packets. Malformed
// input first, then the real ocserv bodies and the real client bodies from the traces
// (tests/dataplane/tunnel/data/, copied from ../shared/protocol-traces/).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/loadgen/client_auth.h"
#include "bench/loadgen/client_connect.h"
#include "bench/loadgen/client_http.h"
#include "bench/loadgen/probe.h"

namespace tg::loadgen {
namespace {

std::string read_data(const std::string& name) {
  std::ifstream in(std::string(TG_TUNNEL_TEST_DATA) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string body_of(const std::string& message) {
  const size_t end = message.find("\r\n\r\n");
  return end == std::string::npos ? std::string() : message.substr(end + 4);
}

// ---- HTTP answers ---------------------------------------------------------------------

TEST(HttpResponse, MalformedInputIsAnError) {
  const char* bad[] = {
      "HTTX/1.1 200 OK\r\n\r\n",
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.1 200OK\r\n\r\n",
      "HTTP/1.1 099 Low\r\n\r\n",
      "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
      "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
      "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nA: b\nC: d\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nSet-Cookie: novalue\r\n\r\n",
      "HTTP/1.1 200 OK\r\nSet-Cookie: =x\r\n\r\n",
      "garbage\r\n\r\n",
  };
  for (const char* text : bad) {
    const HttpParseResult r = parse_http_response(text, false);
    EXPECT_EQ(r.status, HttpParseStatus::kError) << text;
    EXPECT_FALSE(r.error.empty()) << text;
  }
  EXPECT_EQ(parse_http_response(std::string("HTTP/1.1 200 OK\r\nA: \0\r\n\r\n", 25), false).status,
            HttpParseStatus::kError);
  EXPECT_EQ(parse_http_response("junk!", false).status, HttpParseStatus::kError);
  EXPECT_EQ(parse_http_response(std::string(kMaxResponseHeaderBytes + 1, 'H'), false).status,
            HttpParseStatus::kError);
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (size_t i = 0; i <= kMaxResponseHeaders; ++i) many += "X: y\r\n";
  EXPECT_EQ(parse_http_response(many + "\r\n", false).status, HttpParseStatus::kError);
}

TEST(HttpResponse, WaitsForTheWholeResponseAtEverySplit) {
  const std::string body = read_data("ocserv_password_form.xml");
  const std::string response =
      "HTTP/1.1 200 OK\r\nSet-Cookie: webvpncontext=abc; Max-Age=300; Secure; HttpOnly\r\n"
      "Content-Type: text/xml\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nX-Transcend-Version: 1\r\n\r\n" + body + "NEXT";
  for (size_t cut = 0; cut < response.size() - 4; ++cut)
    ASSERT_EQ(parse_http_response(response.substr(0, cut), false).status, HttpParseStatus::kNeedMore) << cut;
  const HttpParseResult r = parse_http_response(response, false);
  ASSERT_EQ(r.status, HttpParseStatus::kComplete) << r.error;
  EXPECT_EQ(r.consumed, response.size() - 4);
  EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(r.response.body, body);
  EXPECT_FALSE(r.response.close);
  EXPECT_EQ(r.response.cookie("webvpncontext"), "abc");
  EXPECT_EQ(r.response.header("content-type"), "text/xml");
}

TEST(HttpResponse, CookiesAndConnectionClose) {
  const HttpParseResult r = parse_http_response(
      "HTTP/1.1 200 OK\r\nConnection: close\r\n"
      "Set-Cookie: webvpncontext=; expires=Thu, 01 Jan 1970 22:00:00 GMT; path=/\r\n"
      "Set-Cookie: webvpn=COOKIE==; Secure; HttpOnly\r\nContent-Length: 0\r\n\r\n", false);
  ASSERT_EQ(r.status, HttpParseStatus::kComplete) << r.error;
  EXPECT_TRUE(r.response.close);
  EXPECT_EQ(r.response.cookie("webvpn"), "COOKIE==");
  EXPECT_EQ(r.response.cookie("webvpncontext"), "");
  EXPECT_FALSE(r.response.cookie("other"));
  CookieJar jar;
  jar.update(r.response);
  EXPECT_EQ(jar.header_value(), "webvpn=COOKIE==");
  const HttpParseResult old = parse_http_response("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false);
  ASSERT_EQ(old.status, HttpParseStatus::kComplete);
  EXPECT_TRUE(old.response.close);  // HTTP/1.0 closes
}

TEST(HttpResponse, ConnectAnswerStopsAtTheBlankLine) {
  const std::string head = "HTTP/1.1 200 CONNECTED\r\nX-CSTP-Version: 1\r\n\r\n";
  const HttpParseResult r = parse_http_response(head + "STF\x01", true);
  ASSERT_EQ(r.status, HttpParseStatus::kComplete);
  EXPECT_EQ(r.consumed, head.size());
  // A 401 on CONNECT has a framed body like any other answer.
  const HttpParseResult denied = parse_http_response(
      "HTTP/1.1 401 Cookie is not acceptable\r\nContent-Length: 2\r\n\r\nno", true);
  ASSERT_EQ(denied.status, HttpParseStatus::kComplete);
  EXPECT_EQ(denied.response.status, 401);
}

TEST(HttpRequests, MatchOpenconnect) {
  // The init body is byte for byte openconnect's (trace: 364 bytes).
  ClientIdentity identity;
  identity.group_access = "https://192.0.2.1/";
  EXPECT_EQ(build_init(identity, ""), body_of(read_data("pw_post_init.http")));
  EXPECT_EQ(build_auth_reply(identity, {{"username", "alice"}}, ""),
            body_of(read_data("pw_post_username.http")));
  const std::string post = build_post({"192.0.2.1", "webvpncontext=X"}, "/auth", "<x/>");
  EXPECT_EQ(post.rfind("POST /auth HTTP/1.1\r\nHost: 192.0.2.1\r\nUser-Agent: Open AnyConnect VPN Agent v9.01-3\r\n"
                       "Cookie: webvpncontext=X\r\n", 0), 0u);
  EXPECT_NE(post.find("X-Aggregate-Auth: 1\r\n"), std::string::npos);
  EXPECT_NE(post.find("Content-Length: 4\r\n\r\n<x/>"), std::string::npos);
  ConnectOptions options;
  options.dtls_master_secret = std::string(96, 'A');
  const std::string connect = build_connect({"192.0.2.1", ""}, "COOKIE", options);
  EXPECT_EQ(connect.rfind("CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(connect.find("Cookie: webvpn=COOKIE\r\n"), std::string::npos);
  EXPECT_NE(connect.find("X-DTLS-CipherSuite: PSK-NEGOTIATE\r\n"), std::string::npos);
  options.dtls = false;
  EXPECT_EQ(build_connect({"192.0.2.1", ""}, "C", options).find("X-DTLS"), std::string::npos);
}

// ---- config-auth XML from the server ----------------------------------------------------

TEST(ServerAuth, MalformedBodiesAreErrors) {
  const char* bad[] = {
      "",
      "<config-auth/>",                                      // no <?xml
      "<?xml version=\"1.0\"?><config-auth",                // not well-formed
      "<?xml version=\"1.0\"?><other><auth id=\"x\"/></other>",
      "<?xml version=\"1.0\"?><config-auth type=\"complete\"></config-auth>",  // no <auth>
      "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><config-auth><auth id=\"&a;\"/></config-auth>",
      "<?xml version=\"1.0\"?><config-auth><auth id=\"a\"/><!ELEMENT x ANY></config-auth>",
      "<?xml version=\"1.0\"?><config-auth><auth id=\"\xff\xfe\"/></config-auth>",  // not UTF-8
  };
  for (const char* body : bad) {
    const ServerAuthParseResult r = parse_server_auth(body);
    EXPECT_FALSE(r.ok) << body;
    EXPECT_FALSE(r.error.empty()) << body;
  }
  EXPECT_FALSE(parse_server_auth(std::string("<?xml version=\"1.0\"?><config-auth>\0</config-auth>", 48)).ok);
  EXPECT_FALSE(parse_server_auth("<?xml" + std::string(kMaxServerXmlBytes, ' ')).ok);
}

TEST(ServerAuth, OcservForms) {
  const ServerAuthParseResult user = parse_server_auth(read_data("ocserv_username_form.xml"));
  ASSERT_TRUE(user.ok) << user.error;
  EXPECT_EQ(user.reply.type, "auth-request");
  EXPECT_EQ(user.reply.auth_id, "main");
  EXPECT_EQ(user.reply.action, "/auth");
  ASSERT_EQ(user.reply.inputs.size(), 1u);
  EXPECT_EQ(user.reply.inputs[0].name, "username");
  EXPECT_FALSE(user.reply.success());

  const ServerAuthParseResult pw = parse_server_auth(read_data("ocserv_password_form.xml"));
  ASSERT_TRUE(pw.ok);
  ASSERT_EQ(pw.reply.inputs.size(), 1u);
  EXPECT_EQ(pw.reply.inputs[0].type, "password");

  const ServerAuthParseResult failed = parse_server_auth(read_data("ocserv_login_failed_form.xml"));
  ASSERT_TRUE(failed.ok);
  EXPECT_NE(failed.reply.message.find("Login failed"), std::string::npos);

  const ServerAuthParseResult group = parse_server_auth(read_data("ocserv_group_form.xml"));
  ASSERT_TRUE(group.ok);
  EXPECT_TRUE(group.reply.has_group_list);
  ASSERT_EQ(group.reply.groups.size(), 3u);
  EXPECT_EQ(group.reply.groups[0].value, "DEFAULT");  // <option>DEFAULT</option>: value = text
  const GroupOption* a = find_group(group.reply.groups, "Group A");  // by label
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->value, "grpA");
  ASSERT_NE(find_group(group.reply.groups, "grpB"), nullptr);  // by value
  EXPECT_EQ(find_group(group.reply.groups, "nope"), nullptr);

  const ServerAuthParseResult done = parse_server_auth(read_data("ocserv_complete.xml"));
  ASSERT_TRUE(done.ok);
  EXPECT_TRUE(done.reply.success());
  EXPECT_FALSE(done.reply.has_form);
}

TEST(ServerAuth, FailureBodyAndBounds) {
  const ServerAuthParseResult r = parse_server_auth(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<config-auth client=\"vpn\" type=\"auth-request\">"
      "<auth id=\"failure\"><error>Account disabled</error></auth></config-auth>");
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.reply.error, "Account disabled");
  EXPECT_FALSE(r.reply.has_form);
  std::string many = "<?xml version=\"1.0\"?><config-auth><auth id=\"main\"><form>";
  for (size_t i = 0; i < 2 * kMaxFormInputs; ++i) many += "<input type=\"text\" name=\"f\"/>";
  const ServerAuthParseResult bounded = parse_server_auth(many + "</form></auth></config-auth>");
  ASSERT_TRUE(bounded.ok);
  EXPECT_EQ(bounded.reply.inputs.size(), kMaxFormInputs);
}

// ---- CONNECT answer ---------------------------------------------------------------------

HttpResponse connect_answer(const std::vector<std::pair<std::string, std::string>>& headers, int status = 200) {
  HttpResponse response;
  response.status = status;
  response.headers = headers;
  return response;
}

const std::vector<std::pair<std::string, std::string>> kOcservAnswer = {
    {"X-CSTP-Version", "1"}, {"X-CSTP-DPD", "90"}, {"X-CSTP-Address", "198.51.100.50"},
    {"X-CSTP-Netmask", "255.255.255.0"}, {"X-CSTP-Keepalive", "32400"}, {"X-DTLS-DPD", "90"},
    {"X-DTLS-Port", "443"}, {"X-DTLS-App-ID", "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"},
    {"X-DTLS-CipherSuite", "PSK-NEGOTIATE"}, {"X-CSTP-Base-MTU", "1500"}, {"X-CSTP-MTU", "1434"}};

TEST(ConnectReply, OcservAnswer) {
  const ConnectReplyResult r = parse_connect_reply(connect_answer(kOcservAnswer));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.address, 0xc6336432u);
  EXPECT_EQ(r.config.netmask, 0xffffff00u);
  EXPECT_EQ(r.config.mtu, 1434);
  EXPECT_EQ(r.config.dpd_seconds, 90u);
  EXPECT_TRUE(r.config.dtls);
  EXPECT_EQ(r.config.dtls_port, 443);
  ASSERT_EQ(r.config.app_id_len, 32);
  EXPECT_EQ(r.config.app_id[0], 0xa0);
  EXPECT_EQ(r.config.app_id[31], 0xbf);
}

TEST(ConnectReply, MalformedHeadersAreErrors) {
  const auto with = [](const std::string& name, const std::string& value) {
    auto headers = kOcservAnswer;
    bool replaced = false;
    for (auto& [k, v] : headers)
      if (k == name) { v = value; replaced = true; }
    if (!replaced) headers.emplace_back(name, value);
    return headers;
  };
  const auto without = [](const std::string& name) {
    auto headers = kOcservAnswer;
    std::erase_if(headers, [&](const auto& h) { return h.first == name; });
    return headers;
  };
  const std::vector<std::vector<std::pair<std::string, std::string>>> bad = {
      with("X-CSTP-Address", "198.51.100"), with("X-CSTP-Address", "198.51.100.256"),
      with("X-CSTP-Address", ""), without("X-CSTP-Address"), with("X-CSTP-Netmask", "nope"),
      with("X-CSTP-MTU", "0"), with("X-CSTP-MTU", "70000"), with("X-CSTP-MTU", "14x"), without("X-CSTP-MTU"),
      with("X-CSTP-DPD", "-1"), with("X-CSTP-Keepalive", "99999999999"), with("X-DTLS-Port", "0"),
      with("X-DTLS-Port", "65536"), without("X-DTLS-Port"), with("X-DTLS-App-ID", "abc"),
      with("X-DTLS-App-ID", "zz"), with("X-DTLS-App-ID", std::string(66, 'a')), without("X-DTLS-App-ID"),
  };
  for (const auto& headers : bad) EXPECT_FALSE(parse_connect_reply(connect_answer(headers)).ok);
  auto twice = kOcservAnswer;
  twice.emplace_back("X-CSTP-MTU", "1400");
  EXPECT_FALSE(parse_connect_reply(connect_answer(twice)).ok);
  twice = kOcservAnswer;
  twice.emplace_back("X-CSTP-Address", "198.51.100.51");
  EXPECT_FALSE(parse_connect_reply(connect_answer(twice)).ok);
  EXPECT_FALSE(parse_connect_reply(connect_answer(kOcservAnswer, 401)).ok);
  // Case matters, as in openconnect: a lower-case address header is not seen.
  auto lower = without("X-CSTP-Address");
  lower.emplace_back("x-cstp-address", "198.51.100.50");
  EXPECT_FALSE(parse_connect_reply(connect_answer(lower)).ok);
  // An IPv6 address beside the IPv4 one is skipped; a non-PSK DTLS offer means CSTP only.
  auto v6 = with("X-DTLS-CipherSuite", "OC-DTLS1_2-AES256-GCM");
  v6.emplace_back("X-CSTP-Address", "2001:db8::5");
  const ConnectReplyResult r = parse_connect_reply(connect_answer(v6));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.config.dtls);
}

// ---- probes -----------------------------------------------------------------------------

TEST(Probe, RoundTripAndChecksum) {
  std::vector<uint8_t> buf(1500);
  const ProbeAddressing addr{0xc6336432, 0xc6120a0a, 20001, 9000};
  Probe probe;
  probe.session = 7;
  probe.seq = 123456789;
  probe.sent_ns = 987654321000;
  ASSERT_EQ(build_probe_packet(buf, 512, addr, probe), 512u);
  EXPECT_EQ(ipv4_checksum({buf.data(), kIpv4HeaderBytes}), 0);  // a valid header sums to 0
  uint32_t dst = 0;
  auto back = parse_probe_packet({buf.data(), 512}, &dst);
  ASSERT_TRUE(back);
  EXPECT_EQ(dst, addr.dst_ip);
  EXPECT_EQ(back->session, 7u);
  EXPECT_EQ(back->seq, 123456789u);
  EXPECT_EQ(back->sent_ns, 987654321000u);
  set_probe_echo_count({buf.data() + kIpv4HeaderBytes + kUdpHeaderBytes, 512 - 28}, 42);
  EXPECT_EQ(parse_probe_packet({buf.data(), 512}, nullptr)->echo_count, 42u);
  EXPECT_EQ(build_probe_packet(buf, kMinProbePacketBytes - 1, addr, probe), 0u);
  EXPECT_EQ(build_probe_packet({buf.data(), 100}, 200, addr, probe), 0u);
}

TEST(Probe, MalformedPacketsAreIgnored) {
  std::vector<uint8_t> buf(200);
  ASSERT_EQ(build_probe_packet(buf, 100, {1, 2, 3, 4}, {}), 100u);
  const auto broken = [&](auto&& edit) {
    std::vector<uint8_t> copy(buf.begin(), buf.begin() + 100);
    edit(copy);
    return !parse_probe_packet(copy, nullptr).has_value();
  };
  EXPECT_TRUE(broken([](auto& p) { p[0] = 0x65; }));                 // IPv6 version
  EXPECT_TRUE(broken([](auto& p) { p[0] = 0x44; }));                 // IHL 16 bytes
  EXPECT_TRUE(broken([](auto& p) { p[2] = 0x01; }));                 // total length > packet
  EXPECT_TRUE(broken([](auto& p) { p[3] = 20; p[2] = 0; }));         // no room for UDP
  EXPECT_TRUE(broken([](auto& p) { p[6] = 0x20; }));                 // more fragments
  EXPECT_TRUE(broken([](auto& p) { p[9] = 6; }));                    // TCP
  EXPECT_TRUE(broken([](auto& p) { p[24] = 0xff; }));                // UDP length > IP
  EXPECT_TRUE(broken([](auto& p) { p[25] = 4; p[24] = 0; }));        // UDP length < 8
  EXPECT_TRUE(broken([](auto& p) { p[28] ^= 1; }));                  // magic
  EXPECT_TRUE(broken([](auto& p) { p.resize(10); }));                // truncated
}

TEST(LatencyHistogram, Quantiles) {
  LatencyHistogram h;
  EXPECT_EQ(h.quantile(0.5), 0u);
  for (uint64_t v = 1; v <= 1000; ++v) h.add(v * 1000);  // 1..1000 us
  EXPECT_EQ(h.count(), 1000u);
  const auto near = [](uint64_t got, double want) { return got >= want * 0.99 && got <= want * 1.07; };
  EXPECT_TRUE(near(h.quantile(0.5), 500000)) << h.quantile(0.5);
  EXPECT_TRUE(near(h.quantile(0.99), 990000)) << h.quantile(0.99);
  EXPECT_EQ(h.quantile(1.0), 1000000u);
  EXPECT_EQ(h.max(), 1000000u);
}

}  // namespace
}  // namespace tg::loadgen
