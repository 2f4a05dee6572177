// CONNECT headers, the MTU rule and the 200 CONNECTED response: bad values first, then the
// real requests and a comparison with ocserv's observed response.
#include "dataplane/tunnel/cstp_connect.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/dataplane/tunnel/test_data.h"

namespace tg::tunnel {
namespace {

using test::read_data_file;

HttpRequest connect_with(const std::vector<std::pair<std::string, std::string>>& headers) {
  HttpRequest request;
  request.method = HttpMethod::kConnect;
  request.target = "/CSCOSSLC/tunnel";
  request.headers.push_back({"Host", "192.0.2.1"});
  for (const auto& [name, value] : headers) request.headers.push_back({name, value});
  return request;
}

HttpRequest parse_file(const char* file) {
  HttpRequestParser parser;
  HttpParseResult r = parser.feed(read_data_file(file));
  EXPECT_EQ(r.status, HttpParseStatus::kComplete);
  return r.request;
}

struct BadConnect {
  const char* name;
  std::vector<std::pair<std::string, std::string>> headers;
  CstpConnectError expected;
};

TEST(CstpConnectMalformed, BadHeaderValues) {
  const std::string hex96(96, 'a');
  const BadConnect cases[] = {
      {"base mtu letters", {{"X-CSTP-Base-MTU", "abc"}}, CstpConnectError::kBadValue},
      {"base mtu zero", {{"X-CSTP-Base-MTU", "0"}}, CstpConnectError::kBadValue},
      {"base mtu negative", {{"X-CSTP-Base-MTU", "-1500"}}, CstpConnectError::kBadValue},
      {"base mtu overflow", {{"X-CSTP-Base-MTU", "65536"}}, CstpConnectError::kBadValue},
      {"base mtu huge", {{"X-CSTP-Base-MTU", "99999999999999999999999"}}, CstpConnectError::kBadValue},
      {"mtu empty", {{"X-CSTP-MTU", ""}}, CstpConnectError::kBadValue},
      {"mtu twice", {{"X-CSTP-MTU", "1390"}, {"x-cstp-mtu", "1400"}}, CstpConnectError::kDuplicateHeader},
      {"version letters", {{"X-CSTP-Version", "one"}}, CstpConnectError::kBadValue},
      {"hostname too long", {{"X-CSTP-Hostname", std::string(300, 'h')}}, CstpConnectError::kValueTooLong},
      {"value too long", {{"X-CSTP-Accept-Encoding", std::string(2000, 'a')}}, CstpConnectError::kValueTooLong},
      {"master secret short", {{"X-DTLS-Master-Secret", "abcd"}}, CstpConnectError::kBadValue},
      {"master secret not hex", {{"X-DTLS-Master-Secret", std::string(95, 'a') + "g"}}, CstpConnectError::kBadValue},
      {"master secret twice", {{"X-DTLS-Master-Secret", hex96}, {"X-DTLS-Master-Secret", hex96}},
       CstpConnectError::kDuplicateHeader},
      {"address bad", {{"X-CSTP-Address", "198.51.100.256"}}, CstpConnectError::kBadValue},
      {"address leading zero", {{"X-CSTP-Address", "198.051.100.1"}}, CstpConnectError::kBadValue},
      {"address short", {{"X-CSTP-Address", "198.51.100"}}, CstpConnectError::kBadValue},
      {"address two v4", {{"X-CSTP-Address", "198.51.100.1"}, {"X-CSTP-Address", "198.51.100.2"}},
       CstpConnectError::kDuplicateHeader},
      {"address bad v6", {{"X-CSTP-Address", "2001:db8::zz"}}, CstpConnectError::kBadValue},
      {"too many cipher tokens", {{"X-DTLS-CipherSuite", [] {
                                     std::string s;
                                     for (int i = 0; i < 40; ++i) s += "A:";
                                     return s;
                                   }()}},
       CstpConnectError::kBadValue},
      {"cipher suites twice", {{"X-DTLS-CipherSuite", "PSK-NEGOTIATE"}, {"X-DTLS-CipherSuite", "X"}},
       CstpConnectError::kDuplicateHeader},
  };
  for (const BadConnect& c : cases) {
    const CstpConnectParseResult r = cstp_connect_parse(connect_with(c.headers));
    EXPECT_EQ(r.error, c.expected) << c.name;
    EXPECT_FALSE(r.message.empty()) << c.name;
  }
  HttpRequest post = connect_with({});
  post.method = HttpMethod::kPost;
  EXPECT_EQ(cstp_connect_parse(post).error, CstpConnectError::kNotConnect);
}

TEST(CstpConnect, ReconnectAddressesAndUnknownHeaders) {
  const CstpConnectParseResult r = cstp_connect_parse(connect_with(
      {{"X-CSTP-Address", "198.51.100.50"},
       {"X-CSTP-Address", "2001:db8::50"},
       {"X-AnyConnect-STRAP-Verify", "whatever"},
       {"X-CSTP-Unknown", "ignored"},
       {"X-CSTP-Address-Type", "IPv4"}}));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.request.previous_ipv4, 0xc6336432u);
  EXPECT_EQ(r.request.previous_ipv6, "2001:db8::50");
  EXPECT_TRUE(r.request.wants_ipv4);
  EXPECT_FALSE(r.request.wants_ipv6);
  EXPECT_FALSE(r.request.session_cookie.has_value());
  EXPECT_FALSE(r.request.dtls_offered());
}

TEST(CstpConnectReal, RequestWithDtls) {
  const CstpConnectParseResult r = cstp_connect_parse(parse_file("connect_dtls.http"));
  ASSERT_TRUE(r.ok()) << r.message;
  const CstpConnectRequest& c = r.request;
  EXPECT_EQ(c.session_cookie, "<COOKIE>");
  EXPECT_EQ(c.cstp_version, 1u);
  EXPECT_EQ(c.hostname, "client-host");
  EXPECT_EQ(c.base_mtu, 1500);
  EXPECT_EQ(c.mtu, 1390);
  EXPECT_TRUE(c.address_type_sent);
  EXPECT_TRUE(c.wants_ipv4);
  EXPECT_TRUE(c.wants_ipv6);
  EXPECT_TRUE(c.full_ipv6_capability);
  EXPECT_FALSE(c.previous_ipv4.has_value());
  EXPECT_EQ(c.cstp_accept_encoding, (std::vector<std::string>{"oc-lz4", "lzs"}));
  EXPECT_EQ(c.dtls_accept_encoding, (std::vector<std::string>{"oc-lz4", "lzs"}));
  ASSERT_TRUE(c.dtls_master_secret.has_value());
  EXPECT_EQ((*c.dtls_master_secret)[0], 0x01);
  EXPECT_EQ((*c.dtls_master_secret)[47], 0xef);
  ASSERT_EQ(c.dtls_cipher_suites.size(), 8u);
  EXPECT_EQ(c.dtls_cipher_suites[0], "PSK-NEGOTIATE");
  EXPECT_EQ(c.dtls_cipher_suites[2], "OC2-DTLS1_2-CHACHA20-POLY1305");
  EXPECT_EQ(c.dtls12_cipher_suites.size(), 8u);
  EXPECT_TRUE(c.dtls_offered());
  EXPECT_TRUE(c.dtls_psk_negotiate());
}

TEST(CstpConnectReal, RequestWithoutDtls) {
  const CstpConnectParseResult r = cstp_connect_parse(parse_file("connect_nodtls.http"));
  ASSERT_TRUE(r.ok()) << r.message;
  EXPECT_EQ(r.request.base_mtu, 1500);
  EXPECT_FALSE(r.request.dtls_offered());
  EXPECT_FALSE(r.request.dtls_psk_negotiate());
  EXPECT_FALSE(r.request.dtls_master_secret.has_value());
}

// ---------------------------------------------------------------------------------------
// MTU (§4.4, §6.8)

struct MtuCase {
  const char* name;
  CstpMtuInputs inputs;
  uint16_t link;
  uint16_t tunnel;
};

TEST(CstpMtu, ObservedNumbersAndClamping) {
  const MtuCase cases[] = {
      {"ocserv AES-GCM (observed)", {1500, 1500, 1500, DtlsRecordCipher::kAesGcm}, 1500, 1434},
      {"ChaCha20 (wolfSSL)", {1500, 1500, std::nullopt, DtlsRecordCipher::kChaCha20Poly1305}, 1500, 1442},
      {"no DTLS (observed)", {1500, 1500, std::nullopt, DtlsRecordCipher::kNone}, 1500, 1472},
      {"client path smaller", {1500, 1400, std::nullopt, DtlsRecordCipher::kAesGcm}, 1400, 1334},
      {"tcp pmtu smaller", {1500, 1500, 1280, DtlsRecordCipher::kChaCha20Poly1305}, 1280, 1222},
      {"jumbo link, client 1500", {9000, 1500, std::nullopt, DtlsRecordCipher::kAesGcm}, 1500, 1434},
      {"no client hint", {1500, std::nullopt, std::nullopt, DtlsRecordCipher::kNone}, 1500, 1472},
      {"absurd hint clamped", {1500, 100, std::nullopt, DtlsRecordCipher::kAesGcm}, 576, 510},
      {"zero config clamped", {0, std::nullopt, std::nullopt, DtlsRecordCipher::kNone}, 576, 548},
  };
  for (const MtuCase& c : cases) {
    const CstpMtu mtu = cstp_compute_mtu(c.inputs);
    EXPECT_EQ(mtu.link_mtu, c.link) << c.name;
    EXPECT_EQ(mtu.tunnel_mtu, c.tunnel) << c.name;
  }
  EXPECT_EQ(dtls_record_overhead(DtlsRecordCipher::kAesGcm), 37);
  EXPECT_EQ(dtls_record_overhead(DtlsRecordCipher::kChaCha20Poly1305), 29);
  EXPECT_EQ(dtls_record_overhead(DtlsRecordCipher::kNone), 0);
}

// ---------------------------------------------------------------------------------------
// Response

/// The values of a header block as openconnect reads them (name: value, one space).
std::multimap<std::string, std::string> headers_of(const std::string& block) {
  std::multimap<std::string, std::string> out;
  size_t pos = block.find("\r\n") + 2;
  while (pos < block.size()) {
    const size_t eol = block.find("\r\n", pos);
    if (eol == pos) break;
    const std::string line = block.substr(pos, eol - pos);
    const size_t colon = line.find(": ");
    out.emplace(line.substr(0, colon), line.substr(colon + 2));
    pos = eol + 2;
  }
  return out;
}

/// The observed ocserv response of the trace, as the same multimap.
std::multimap<std::string, std::string> ocserv_response() {
  return headers_of(
      "HTTP/1.1 200 CONNECTED\r\n"
      "X-CSTP-Version: 1\r\nX-CSTP-Server-Name: ocserv 1.1.6\r\nX-CSTP-Hostname: client-host\r\n"
      "X-CSTP-DPD: 90\r\nX-CSTP-Default-Domain: vpn.test\r\nX-CSTP-Address: 198.51.100.50\r\n"
      "X-CSTP-Netmask: 255.255.255.0\r\nX-CSTP-DNS: 198.51.100.53\r\n"
      "X-CSTP-Split-Include: 198.51.100.0/255.255.255.0\r\n"
      "X-CSTP-Split-Include: 203.0.113.0/255.255.255.0\r\n"
      "X-CSTP-Tunnel-All-DNS: false\r\nX-CSTP-Client-Bypass-Protocol: false\r\n"
      "X-CSTP-Split-Exclude: 203.0.113.128/255.255.255.128\r\nX-CSTP-Keepalive: 32400\r\n"
      "X-CSTP-Idle-Timeout: 1200\r\nX-CSTP-Smartcard-Removal-Disconnect: true\r\n"
      "X-CSTP-Rekey-Time: 172807\r\nX-CSTP-Rekey-Method: ssl\r\nX-CSTP-Session-Timeout: 0\r\n"
      "X-CSTP-Session-Timeout-Remaining: 0\r\nX-CSTP-Disconnected-Timeout: none\r\n"
      "X-CSTP-Keep: true\r\nX-CSTP-TCP-Keepalive: true\r\nX-CSTP-License: accept\r\n"
      "X-DTLS-DPD: 90\r\nX-DTLS-Port: 443\r\nX-DTLS-Rekey-Time: 172817\r\n"
      "X-DTLS-Rekey-Method: ssl\r\nX-DTLS-Keepalive: 32400\r\n"
      "X-DTLS-App-ID: <APP-ID-64-HEX-DIGITS>\r\nX-DTLS-CipherSuite: PSK-NEGOTIATE\r\n"
      "X-CSTP-Base-MTU: 1500\r\nX-CSTP-MTU: 1434\r\n\r\n");
}

/// The lab's session, expressed as our parameters.
CstpTunnelParams lab_params() {
  CstpTunnelParams p;
  p.address = 0xc6336432;           // 198.51.100.50
  p.netmask = 0xffffff00;
  p.dns_servers = {0xc6336435};     // 198.51.100.53
  p.default_domain = "vpn.test";
  p.split_include = {{0xc6336400, 24}, {0xcb007100, 24}};
  p.split_exclude = {{0xcb007180, 25}};
  p.mtu = cstp_compute_mtu({1500, 1500, std::nullopt, DtlsRecordCipher::kAesGcm});
  p.dpd_seconds = 90;
  p.keepalive_seconds = 32400;
  p.idle_timeout_seconds = 1200;
  p.rekey_method = CstpRekeyMethod::kNewTunnel;
  p.rekey_time_seconds = 172800;
  return p;
}

CstpDtlsOffer dtls_offer(uint16_t port, std::vector<uint8_t> app_id,
                         CstpRekeyMethod rekey_method = CstpRekeyMethod::kNone,
                         uint32_t rekey_time_seconds = 0) {
  CstpDtlsOffer offer;
  offer.port = port;
  offer.app_id = std::move(app_id);
  offer.dpd_seconds = 90;
  offer.keepalive_seconds = 32400;
  offer.rekey_method = rekey_method;
  offer.rekey_time_seconds = rekey_time_seconds;
  return offer;
}

TEST(CstpConnectResponseInvalid, ParamsRejected) {
  auto error_for = [](auto mutate) {
    CstpTunnelParams p = lab_params();
    mutate(p);
    const CstpConnectBuildResult r = cstp_connect_build_response(p);
    EXPECT_TRUE(r.bytes.empty());
    return r.ok ? std::string() : r.message;
  };
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.address = 0; }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.netmask = 0; }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.netmask = 0xff00ff00; }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.mtu.tunnel_mtu = 0; }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.dns_servers = {1, 2, 3, 4}; }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.default_domain = "vpn.test\r\nX-CSTP-MTU: 1"; }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.server_name = "a:b"; }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.split_include = {{0xc6336401, 24}}; }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.split_exclude = {{0, 33}}; }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.split_include.resize(300, {0, 0}); }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.rekey_time_seconds = 0; }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.dtls = dtls_offer(0, {1}); }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) { p.dtls = dtls_offer(443, {}); }), "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) {
              p.dtls = dtls_offer(443, std::vector<uint8_t>(33, 1));
            }),
            "");
  EXPECT_NE(error_for([](CstpTunnelParams& p) {
              p.dtls = dtls_offer(443, {1}, CstpRekeyMethod::kNewTunnel);
            }),
            "");
}

TEST(CstpConnectResponse, CstpOnlyByDefault) {
  const CstpTunnelParams p = [] {
    CstpTunnelParams q = lab_params();
    q.mtu = cstp_compute_mtu({1500, 1500, std::nullopt, DtlsRecordCipher::kNone});
    return q;
  }();
  const CstpConnectBuildResult r = cstp_connect_build_response(p);
  ASSERT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.bytes.rfind("HTTP/1.1 200 CONNECTED\r\n", 0), 0u);
  EXPECT_EQ(r.bytes.substr(r.bytes.size() - 4), "\r\n\r\n");
  EXPECT_EQ(r.bytes.find("X-DTLS"), std::string::npos);
  const auto h = headers_of(r.bytes);
  EXPECT_EQ(h.find("X-CSTP-MTU")->second, "1472");  // as ocserv with --no-dtls
  EXPECT_EQ(h.find("X-CSTP-Rekey-Method")->second, "new-tunnel");
  // No Content-Length: the stream becomes CSTP right after the blank line.
  EXPECT_EQ(h.count("Content-Length"), 0u);
}

TEST(CstpConnectResponse, SameValuesAsOcservWhereOurPolicyAgrees) {
  CstpTunnelParams p = lab_params();
  p.dtls = dtls_offer(443, std::vector<uint8_t>(32, 0xab), CstpRekeyMethod::kNewTunnel, 172810);
  const CstpConnectBuildResult r = cstp_connect_build_response(p);
  ASSERT_TRUE(r.ok) << r.message;
  const auto ours = headers_of(r.bytes);
  const auto theirs = ocserv_response();

  // Every header openconnect requires (§9 item 4, 5) is present.
  for (const char* required :
       {"X-CSTP-Version", "X-CSTP-Address", "X-CSTP-Netmask", "X-CSTP-MTU", "X-CSTP-Base-MTU",
        "X-CSTP-DPD", "X-CSTP-Keepalive", "X-DTLS-Port", "X-DTLS-App-ID", "X-DTLS-CipherSuite",
        "X-DTLS-DPD", "X-DTLS-Keepalive"}) {
    EXPECT_EQ(ours.count(required), 1u) << required;
  }
  // Same values as ocserv, except where tunnelgate's policy differs on purpose: the server
  // name, the rekey method (no renegotiation in wolfSSL, §7.1), the (fuzzed) rekey times and
  // the random App-ID. Multi-valued headers compare as lists.
  const std::set<std::string> differ = {"X-CSTP-Server-Name", "X-CSTP-Rekey-Method", "X-CSTP-Rekey-Time",
                                        "X-DTLS-Rekey-Method", "X-DTLS-Rekey-Time", "X-DTLS-App-ID"};
  for (auto it = ours.begin(); it != ours.end(); it = ours.upper_bound(it->first)) {
    const std::string& name = it->first;
    ASSERT_TRUE(name.rfind("X-CSTP-", 0) == 0 || name.rfind("X-DTLS-", 0) == 0) << name;
    ASSERT_EQ(theirs.count(name), ours.count(name)) << name << " (ocserv sends it too)";
    if (differ.count(name)) continue;
    std::vector<std::string> a, b;
    for (auto [x, y] = ours.equal_range(name); x != y; ++x) a.push_back(x->second);
    for (auto [x, y] = theirs.equal_range(name); x != y; ++x) b.push_back(x->second);
    EXPECT_EQ(a, b) << name;
  }
  std::string app_id_hex;
  for (int i = 0; i < 32; ++i) app_id_hex += "ab";
  EXPECT_EQ(ours.find("X-DTLS-App-ID")->second, app_id_hex);
  EXPECT_EQ(ours.find("X-DTLS-Rekey-Method")->second, "new-tunnel");
}

TEST(CstpConnect, Ipv4Text) {
  EXPECT_EQ(ipv4_to_string(0xc6336432), "198.51.100.50");
  EXPECT_EQ(ipv4_to_string(0), "0.0.0.0");
  EXPECT_EQ(ipv4_from_string("255.255.255.255"), 0xffffffffu);
  EXPECT_EQ(ipv4_from_string("0.0.0.0"), 0u);
  for (const char* bad : {"", "1.2.3", "1.2.3.4.", "1.2.3.4.5", "1..2.3", "a.b.c.d", "1.2.3.-4",
                          "1.2.3.1000", "01.2.3.4", " 1.2.3.4"}) {
    EXPECT_FALSE(ipv4_from_string(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace tg::tunnel
