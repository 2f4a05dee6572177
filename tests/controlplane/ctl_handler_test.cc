// controlplane/ctl_handler: the auth backend wired to the messages, driven in-process with a
// recording responder and an injected clock. Refusals first (method disabled, bad password,
// bad cookie, no app, session limit, pool exhausted), then login → connect → reconnect →
// close, cookie expiry, and the metrics families.
#include "controlplane/ctl_handler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>

#include "controlplane/password_hash.h"
#include "controlplane/token_sign.h"
#include "tests/controlplane/ctl_test_support.h"

namespace tg::controlplane {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;
using ctl::CtlMessage;
using ctl::CtlReason;
using ctl::CtlResult;
using ctl::CtlType;

using CountingRandom = test::SplitMixRandom;
using test::prefix;
using test::RecordingResponder;

class CtlHandlerTest : public testing::Test {
 protected:
  void SetUp() override {
    users_path_ = testing::TempDir() + "handler-users-" + std::to_string(getpid());
    std::ofstream(users_path_) << "alice:staff:" << *password_hash("pw", Argon2Params{1024, 1, 1}) << "\n";
    cfg_.auth.methods = {"password"};
    cfg_.auth.users_file = users_path_;
    cfg_.pools = {{{}, "clients", prefix("10.10.0.0/24")}, {{}, "tiny", prefix("10.20.0.0/30")}};
    cfg_.services = {{{}, "web", {prefix("192.0.2.0/24"), prefix("198.51.100.0/25")}, {}, {}},
                     {{}, "db", {prefix("203.0.113.0/24"), prefix("192.0.2.0/24")}, {}, {}},
                     {{}, "other", {prefix("172.16.0.0/12")}, {}, {}}};
    config::AppConfig mail;
    mail.id = "com.example.mail";
    mail.services = {"web", "db"};
    mail.pool = "clients";
    mail.dns = {*config::parse_ip("192.0.2.53"), *config::parse_ip("192.0.2.54")};
    mail.search_domains = {"example.com", "corp.example.com"};
    cfg_.apps = {mail};
    cfg_.default_app = "com.example.mail";
  }
  void TearDown() override { unlink(users_path_.c_str()); }

  std::unique_ptr<AuthCtlHandler> make() {
    AuthCtlHandler::Options o;
    o.now = [this] { return now_; };
    auto h = AuthCtlHandler::create(cfg_, o, random_);
    EXPECT_TRUE(h) << h.error().message;
    return h ? std::move(*h) : nullptr;
  }

  CtlMessage login(AuthCtlHandler& h, const char* user, const char* pw, const char* group = "") {
    return call(h, test::password_login_request(user, pw, group));
  }
  /// A second app ("com.example.crm", group "CRM") reaching only "other", and a user
  /// without a users-file group who may choose either.
  void add_crm_app() {
    config::AppConfig crm;
    crm.id = "com.example.crm";
    crm.group = "CRM";
    crm.services = {"other"};
    crm.pool = "clients";
    cfg_.apps[0].group = "Mail";
    cfg_.apps.push_back(crm);
    std::ofstream(users_path_, std::ios::app)
        << "bob::" << *password_hash("pw2", Argon2Params{1024, 1, 1}) << "\n";
  }
  CtlMessage open(AuthCtlHandler& h, const std::string& cookie, uint32_t worker = 0) {
    return call(h, test::session_open_request(cookie, worker));
  }
  CtlMessage close(AuthCtlHandler& h, uint64_t session, uint32_t seq, ctl::CtlCloseReason why) {
    CtlMessage m;
    ctl::ctl_message_init(m, CtlType::session_close);
    m.header.session_id = session;
    m.payload.session_close.attach_seq = seq;
    m.payload.session_close.reason = static_cast<uint8_t>(why);
    return call(h, m);
  }
  CtlMessage call(AuthCtlHandler& h, const CtlMessage& req) {
    const size_t before = out_.replies.size();
    h.handle(req, out_);
    EXPECT_EQ(out_.replies.size(), before + 1);
    return out_.replies.back();
  }

  config::Config cfg_;
  std::string users_path_;
  uint64_t now_ = 1000 * kSecond;
  CountingRandom random_;
  RecordingResponder out_;
};

TEST_F(CtlHandlerTest, RefusedLogins) {
  auto h = make();
  auto r = login(*h, "alice", "wrong");
  EXPECT_EQ(r.payload.auth_result.result, static_cast<uint8_t>(CtlResult::denied));
  EXPECT_EQ(r.payload.auth_result.reason, static_cast<uint16_t>(CtlReason::bad_credentials));
  EXPECT_STREQ(r.payload.auth_result.cookie, "");
  r = login(*h, "nobody", "pw");
  EXPECT_EQ(r.payload.auth_result.reason, static_cast<uint16_t>(CtlReason::bad_credentials));

  CtlMessage cert;
  ctl::ctl_message_init(cert, CtlType::auth_cert);
  cert.payload.auth_cert.cert_len = 1;
  r = call(*h, cert);
  EXPECT_EQ(r.payload.auth_result.reason, static_cast<uint16_t>(CtlReason::method_disabled));
  EXPECT_EQ(h->counters().attempts[0][static_cast<size_t>(CtlResult::denied)].load(), 2u);
  EXPECT_EQ(h->counters().failures[1][static_cast<size_t>(CtlReason::method_disabled)].load(), 1u);

  cfg_.default_app.clear();  // apps configured, none for this client
  auto no_app = make();
  r = login(*no_app, "alice", "pw");
  EXPECT_EQ(r.payload.auth_result.reason, static_cast<uint16_t>(CtlReason::no_app));
}

TEST_F(CtlHandlerTest, BadCookiesAreDenied) {
  auto h = make();
  for (const std::string& c : {std::string(), std::string("nope"), std::string(64, 'a')}) {
    auto r = open(*h, c);
    EXPECT_EQ(r.payload.session_params.result, static_cast<uint8_t>(CtlResult::denied));
    EXPECT_EQ(r.payload.session_params.reason, static_cast<uint16_t>(CtlReason::cookie_invalid));
    EXPECT_EQ(r.payload.session_params.ipv4, 0u);
  }
  auto ack = close(*h, 777, 1, ctl::CtlCloseReason::client_disconnect);
  EXPECT_EQ(ack.payload.session_close_ack.reason, static_cast<uint16_t>(CtlReason::stale_session));
}

TEST_F(CtlHandlerTest, LoginConnectReconnectClose) {
  auto h = make();
  const auto auth = login(*h, "alice", "pw");
  ASSERT_EQ(auth.payload.auth_result.result, static_cast<uint8_t>(CtlResult::ok));
  const std::string cookie(ctl::ctl_get_string(auth.payload.auth_result.cookie));
  EXPECT_EQ(cookie.size(), 64u);
  EXPECT_STREQ(auth.payload.auth_result.user, "alice");
  EXPECT_STREQ(auth.payload.auth_result.group, "staff");
  EXPECT_STREQ(auth.payload.auth_result.app, "com.example.mail");

  const auto p1 = open(*h, cookie, 2);
  const ctl::SessionParamsPayload& s1 = p1.payload.session_params;
  ASSERT_EQ(s1.result, static_cast<uint8_t>(CtlResult::ok));
  EXPECT_EQ(p1.header.session_id, auth.header.session_id);
  EXPECT_EQ(s1.ipv4, 0x0a0a0002u);  // 10.10.0.2: .0 network, .1 the gateway
  EXPECT_EQ(s1.netmask, 0xffffff00u);
  ASSERT_EQ(s1.n_routes, 3u);  // web + db, 192.0.2.0/24 once, not "other"
  EXPECT_EQ(s1.routes[0].network, 0xc0000200u);
  EXPECT_EQ(s1.routes[0].prefix_len, 24);
  EXPECT_EQ(s1.routes[1].network, 0xc6336400u);
  EXPECT_EQ(s1.routes[1].prefix_len, 25);
  EXPECT_EQ(s1.routes[2].network, 0xcb007100u);
  ASSERT_EQ(s1.n_dns, 2u);
  EXPECT_EQ(s1.dns[0], 0xc0000235u);
  EXPECT_STREQ(s1.search_domain, "example.com corp.example.com");
  EXPECT_EQ(s1.dpd_s, 90u);
  EXPECT_EQ(s1.lifetime_remaining_s, 24u * 3600);
  EXPECT_EQ(h->pools()[0].in_use(), 1u);
  EXPECT_EQ(h->sessions().attached_count(), 1u);

  // Reconnect while the first tunnel is up (network change): same address, the old worker
  // is told to close, and its late close is stale.
  now_ += 5 * kSecond;
  const auto p2 = open(*h, cookie, 7);
  ASSERT_EQ(p2.payload.session_params.result, static_cast<uint8_t>(CtlResult::ok));
  EXPECT_EQ(p2.payload.session_params.ipv4, s1.ipv4);
  EXPECT_GT(p2.payload.session_params.attach_seq, s1.attach_seq);
  ASSERT_EQ(out_.notices.size(), 1u);
  EXPECT_EQ(out_.notices[0].first, 2u);
  EXPECT_EQ(out_.notices[0].second.header.type, static_cast<uint16_t>(CtlType::session_terminate));
  EXPECT_EQ(out_.notices[0].second.payload.session_terminate.attach_seq, s1.attach_seq);
  EXPECT_EQ(h->counters().sessions_replaced.load(), 1u);
  auto ack = close(*h, p1.header.session_id, s1.attach_seq, ctl::CtlCloseReason::replaced);
  EXPECT_EQ(ack.payload.session_close_ack.reason, static_cast<uint16_t>(CtlReason::stale_session));
  EXPECT_EQ(h->sessions().attached_count(), 1u);

  // DPD timeout: detached, lease kept; a reconnect gets the same address.
  ack = close(*h, p2.header.session_id, p2.payload.session_params.attach_seq,
              ctl::CtlCloseReason::dpd_timeout);
  EXPECT_EQ(ack.payload.session_close_ack.result, static_cast<uint8_t>(CtlResult::ok));
  EXPECT_EQ(h->sessions().attached_count(), 0u);
  EXPECT_EQ(h->pools()[0].in_use(), 1u);
  const auto p3 = open(*h, cookie, 1);
  EXPECT_EQ(p3.payload.session_params.ipv4, s1.ipv4);

  // Logout: the session, its cookie and its address are gone.
  ack = close(*h, p3.header.session_id, p3.payload.session_params.attach_seq,
              ctl::CtlCloseReason::client_logout);
  EXPECT_EQ(ack.payload.session_close_ack.result, static_cast<uint8_t>(CtlResult::ok));
  EXPECT_EQ(h->pools()[0].in_use(), 0u);
  EXPECT_EQ(h->sessions().size(), 0u);
  EXPECT_EQ(open(*h, cookie).payload.session_params.reason,
            static_cast<uint16_t>(CtlReason::cookie_invalid));
}

TEST_F(CtlHandlerTest, DetachedSessionsExpireAndFreeTheirAddress) {
  auto h = make();
  const std::string cookie(ctl::ctl_get_string(login(*h, "alice", "pw").payload.auth_result.cookie));
  const auto p = open(*h, cookie);
  close(*h, p.header.session_id, p.payload.session_params.attach_seq,
        ctl::CtlCloseReason::client_disconnect);
  EXPECT_EQ(h->pools()[0].in_use(), 1u);
  now_ += 301 * kSecond;  // past the 300 s reconnect window
  h->on_tick(now_);
  EXPECT_EQ(h->pools()[0].in_use(), 0u);
  EXPECT_EQ(open(*h, cookie).payload.session_params.reason,
            static_cast<uint16_t>(CtlReason::cookie_invalid));
}

TEST_F(CtlHandlerTest, DataplaneRestartDetachesEveryTunnel) {
  auto h = make();
  const std::string cookie(ctl::ctl_get_string(login(*h, "alice", "pw").payload.auth_result.cookie));
  const auto p = open(*h, cookie);
  h->on_dataplane_change(2);
  EXPECT_EQ(h->sessions().attached_count(), 0u);
  EXPECT_EQ(open(*h, cookie).payload.session_params.ipv4, p.payload.session_params.ipv4);
  EXPECT_TRUE(out_.notices.empty());  // nothing to replace: the old tunnel died
}

TEST_F(CtlHandlerTest, PoolExhaustionAndSessionLimit) {
  cfg_.apps[0].pool = "tiny";  // a /30: one address
  cfg_.limits.max_sessions = 2;
  auto h = make();
  const std::string c1(ctl::ctl_get_string(login(*h, "alice", "pw").payload.auth_result.cookie));
  const std::string c2(ctl::ctl_get_string(login(*h, "alice", "pw").payload.auth_result.cookie));
  const auto third = login(*h, "alice", "pw");
  EXPECT_EQ(third.payload.auth_result.result, static_cast<uint8_t>(CtlResult::try_again));
  EXPECT_EQ(third.payload.auth_result.reason, static_cast<uint16_t>(CtlReason::session_limit));
  EXPECT_EQ(open(*h, c1).payload.session_params.ipv4, 0x0a140002u);
  const auto full = open(*h, c2);
  EXPECT_EQ(full.payload.session_params.result, static_cast<uint8_t>(CtlResult::try_again));
  EXPECT_EQ(full.payload.session_params.reason, static_cast<uint16_t>(CtlReason::pool_exhausted));
  EXPECT_EQ(h->counters().open_refused[static_cast<size_t>(CtlReason::pool_exhausted)].load(), 1u);
}

TEST_F(CtlHandlerTest, NoAppsMeansEveryServiceAndTheFirstPool) {
  cfg_.apps.clear();
  cfg_.default_app.clear();
  auto h = make();
  ASSERT_NE(h->policy(""), nullptr);
  EXPECT_EQ(h->policy("")->app, "");
  EXPECT_EQ(h->policy("")->pool, 0);
  EXPECT_EQ(h->policy("")->routes.size(), 4u);  // 192.0.2/24, 198.51.100/25, 203.0.113/24, 172.16/12
  EXPECT_EQ(h->policy("com.example.mail"), nullptr);
  cfg_.services.clear();
  EXPECT_TRUE(app_policy_build(cfg_, "", h->pools()).routes.empty());
}

TEST_F(CtlHandlerTest, TheAuthGroupNamesTheApp) {
  add_crm_app();
  auto h = make();
  // Refusals first: a group that is an app id but not configured is no app's label and
  // names nothing (default_app); without a default_app such logins are refused.
  auto r = login(*h, "bob", "pw2", "Unknown");
  EXPECT_EQ(r.payload.auth_result.result, static_cast<uint8_t>(CtlResult::ok));
  EXPECT_STREQ(r.payload.auth_result.app, "com.example.mail");  // default_app
  cfg_.default_app.clear();
  auto strict = make();
  r = login(*strict, "bob", "pw2");
  EXPECT_EQ(r.payload.auth_result.reason, static_cast<uint16_t>(CtlReason::no_app));
  EXPECT_EQ(strict->counters().failures[0][static_cast<size_t>(CtlReason::no_app)].load(), 1u);

  r = login(*h, "bob", "pw2", "CRM");
  ASSERT_EQ(r.payload.auth_result.result, static_cast<uint8_t>(CtlResult::ok));
  EXPECT_STREQ(r.payload.auth_result.app, "com.example.crm");
  const std::string crm_cookie(ctl::ctl_get_string(r.payload.auth_result.cookie));
  const auto crm = open(*h, crm_cookie);
  ASSERT_EQ(crm.payload.session_params.result, static_cast<uint8_t>(CtlResult::ok));
  EXPECT_STREQ(crm.payload.session_params.app, "com.example.crm");
  ASSERT_EQ(crm.payload.session_params.n_routes, 1u);  // exactly the app's service subnets
  EXPECT_EQ(crm.payload.session_params.routes[0].network, 0xac100000u);
  EXPECT_EQ(crm.payload.session_params.routes[0].prefix_len, 12);
  EXPECT_EQ(crm.payload.session_params.n_dns, 0u);

  r = login(*h, "bob", "pw2", "Mail");
  EXPECT_STREQ(r.payload.auth_result.app, "com.example.mail");
  const auto mail = open(*h, std::string(ctl::ctl_get_string(r.payload.auth_result.cookie)));
  EXPECT_EQ(mail.payload.session_params.n_routes, 3u);  // web + db, 192.0.2/24 once
  EXPECT_EQ(mail.payload.session_params.n_dns, 2u);
  EXPECT_STREQ(mail.payload.session_params.search_domain, "example.com corp.example.com");

  // app_from_password = none: the group is only a group.
  cfg_.auth.app_from_password = "none";
  cfg_.default_app = "com.example.mail";
  auto none = make();
  EXPECT_STREQ(login(*none, "bob", "pw2", "CRM").payload.auth_result.app, "com.example.mail");

  std::map<std::string, uint64_t> by_app;
  for (const auto& [app, n] : h->sessions_by_app()) by_app[app] = n;
  EXPECT_EQ(by_app["com.example.mail"], 2u);
  EXPECT_EQ(by_app["com.example.crm"], 1u);
}

TEST_F(CtlHandlerTest, PolicyReloadAppliesToTheNextConnectAndTellsTheDataplane) {
  add_crm_app();
  auto h = make();
  auto r = login(*h, "bob", "pw2", "CRM");
  const std::string cookie(ctl::ctl_get_string(r.payload.auth_result.cookie));
  ASSERT_EQ(open(*h, cookie).payload.session_params.n_routes, 1u);

  // The CRM app gains the web service; pools change too (not applied live).
  cfg_.apps[1].services = {"other", "web"};
  cfg_.pools[1].prefix = prefix("10.30.0.0/30");
  const auto reload = h->reload_policy(cfg_, out_);
  EXPECT_EQ(reload.generation, 1u);
  EXPECT_EQ(reload.apps, 2u);
  EXPECT_TRUE(reload.dataplane_notified);
  EXPECT_EQ(reload.not_applied, std::vector<std::string>{"pools"});
  ASSERT_EQ(out_.notices.size(), 1u);
  EXPECT_EQ(out_.notices[0].first, 0u);
  EXPECT_EQ(out_.notices[0].second.header.type, static_cast<uint16_t>(CtlType::config_reload));
  EXPECT_EQ(out_.notices[0].second.payload.config_reload.generation, 1u);
  EXPECT_EQ(open(*h, cookie).payload.session_params.n_routes, 3u);

  // The app is removed: its sessions cannot CONNECT again; its group names nothing now.
  cfg_.apps.pop_back();
  h->reload_policy(cfg_, out_);
  const auto gone = open(*h, cookie);
  EXPECT_EQ(gone.payload.session_params.result, static_cast<uint8_t>(CtlResult::denied));
  EXPECT_EQ(gone.payload.session_params.reason, static_cast<uint16_t>(CtlReason::unknown_app));
  EXPECT_STREQ(login(*h, "bob", "pw2", "CRM").payload.auth_result.app, "com.example.mail");
}

TEST_F(CtlHandlerTest, PingAndMetrics) {
  auto h = make();
  CtlMessage ping;
  ctl::ctl_message_init(ping, CtlType::ping);
  ping.payload.ping.sent_ns = 99;
  const auto pong = call(*h, ping);
  EXPECT_EQ(pong.header.type, static_cast<uint16_t>(CtlType::pong));
  EXPECT_EQ(pong.payload.ping.sent_ns, 99u);
  login(*h, "alice", "pw");
  AuthMetricsCollector collector(h->counters(), h->sessions(), h->pools(), nullptr);
  std::map<std::string, double> samples;
  for (const auto& f : collector.Collect()) {
    for (const auto& m : f.metric) {
      std::string key = f.name;
      for (const auto& l : m.label) key += "," + l.name + "=" + l.value;
      samples[key] = f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  EXPECT_EQ(samples["tunnelgate_auth_attempts_total,method=password,result=ok"], 1);
  EXPECT_EQ(samples["tunnelgate_sessions_active"], 1);
  EXPECT_EQ(samples["tunnelgate_pool_addresses_size,pool=clients"], 253);
  EXPECT_EQ(samples["tunnelgate_pool_addresses_size,pool=tiny"], 1);
  EXPECT_EQ(samples.count("tunnelgate_pool_addresses_in_use,pool=clients"), 1u);
}

// ---------------------------------------------------------------- per-source failure limit

ctl::CtlAddress client_v4(uint8_t last) {
  ctl::CtlAddress a{};
  a.family = 4;
  a.port = 40000;
  a.bytes[0] = 192;
  a.bytes[1] = 0;
  a.bytes[2] = 2;
  a.bytes[3] = last;
  return a;
}

/// Three failures per 30 s from one source: three at once, then one per 10 s.
class SourceLimitTest : public CtlHandlerTest {
 protected:
  void SetUp() override {
    CtlHandlerTest::SetUp();
    cfg_.limits.auth_failures_per_source = 3;
    cfg_.limits.auth_failure_window_s = 30;
  }
  CtlMessage login_from(AuthCtlHandler& h, const ctl::CtlAddress& from, const char* user, const char* pw) {
    CtlMessage m;
    ctl::ctl_message_init(m, CtlType::auth_password);
    ctl::ctl_set_string(m.payload.auth_password.user, user);
    ctl::ctl_set_string(m.payload.auth_password.password, pw);
    m.payload.auth_password.client = from;
    return call(h, m);
  }
  static uint16_t reason(const CtlMessage& r) { return r.payload.auth_result.reason; }
  static constexpr uint16_t kLimited = static_cast<uint16_t>(CtlReason::source_rate_limited);
  static uint64_t failures(const AuthCtlHandler& h, AuthMethod m, CtlReason r) {
    return h.counters().failures[static_cast<size_t>(m)][static_cast<size_t>(r)].load();
  }
};

TEST_F(SourceLimitTest, OffWhenZero) {
  cfg_.limits.auth_failures_per_source = 0;
  auto h = make();
  EXPECT_EQ(h->source_limiter(), nullptr);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(reason(login_from(*h, client_v4(66), ("u" + std::to_string(i)).c_str(), "x")),
              static_cast<uint16_t>(CtlReason::bad_credentials));
  }
  EXPECT_EQ(login_from(*h, client_v4(66), "alice", "pw").payload.auth_result.result,
            static_cast<uint8_t>(CtlResult::ok));
}

TEST_F(SourceLimitTest, PasswordRefusedUncheckedOnceTheSourceIsOverBudget) {
  auto h = make();
  ASSERT_NE(h->source_limiter(), nullptr);
  const ctl::CtlAddress attacker = client_v4(66), other = client_v4(77);
  // Three wrong passwords for three names: no name reaches the per-user lockout (5).
  for (const char* user : {"mallory", "root", "alice"}) {
    EXPECT_EQ(reason(login_from(*h, attacker, user, "guess")), static_cast<uint16_t>(CtlReason::bad_credentials));
  }
  // The right password from that source is refused, with the reason, and counted.
  CtlMessage r = login_from(*h, attacker, "alice", "pw");
  EXPECT_EQ(r.payload.auth_result.result, static_cast<uint8_t>(CtlResult::denied));
  EXPECT_EQ(reason(r), kLimited);
  EXPECT_EQ(ctl::ctl_get_string(r.payload.auth_result.reason_text), "source_rate_limited");
  EXPECT_EQ(ctl::ctl_get_string(r.payload.auth_result.cookie), "");
  EXPECT_EQ(failures(*h, AuthMethod::password, CtlReason::source_rate_limited), 1u);
  // Refused attempts are not checked: five more wrong passwords for alice would lock her
  // name (5 failures) if they reached the password check. She still logs in elsewhere.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(reason(login_from(*h, attacker, "alice", "wrong")), kLimited) << i;
  EXPECT_EQ(failures(*h, AuthMethod::password, CtlReason::source_rate_limited), 6u);
  EXPECT_EQ(failures(*h, AuthMethod::password, CtlReason::bad_credentials), 3u);
  EXPECT_EQ(login_from(*h, other, "alice", "pw").payload.auth_result.result, static_cast<uint8_t>(CtlResult::ok));
  // The gauges (refreshed on the tick) and the metric families.
  h->on_tick(now_);
  EXPECT_EQ(h->source_limiter()->stats().tracked.load(), 1u);
  EXPECT_EQ(h->source_limiter()->stats().limited.load(), 1u);
  AuthMetricsCollector collector(h->counters(), h->sessions(), h->pools(), nullptr);
  collector.source_limits = &h->source_limiter()->stats();
  std::map<std::string, double> samples;
  for (const auto& f : collector.Collect()) {
    for (const auto& m : f.metric) {
      std::string key = f.name;
      for (const auto& l : m.label) key += "," + l.name + "=" + l.value;
      samples[key] = f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  EXPECT_EQ(samples["tunnelgate_auth_failures_total,method=password,reason=source_rate_limited"], 6);
  EXPECT_EQ(samples["tunnelgate_auth_sources_tracked"], 1);
  EXPECT_EQ(samples["tunnelgate_auth_sources_limited"], 1);
  EXPECT_EQ(samples.count("tunnelgate_auth_sources_evicted_total"), 1u);
  // One failure's worth later (30 s / 3), the right password works from there again.
  now_ += 10 * kSecond - 1;
  EXPECT_EQ(reason(login_from(*h, attacker, "alice", "pw")), kLimited);
  now_ += 1;
  EXPECT_EQ(login_from(*h, attacker, "alice", "pw").payload.auth_result.result,
            static_cast<uint8_t>(CtlResult::ok));
  // A whole window later the source is forgotten.
  now_ += 30 * kSecond;
  h->on_tick(now_);
  EXPECT_EQ(h->source_limiter()->stats().tracked.load(), 0u);
}

TEST_F(SourceLimitTest, SuccessesNeitherCountNorRefill) {
  auto h = make();
  const ctl::CtlAddress office = client_v4(10);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(login_from(*h, office, "alice", "pw").payload.auth_result.result, static_cast<uint8_t>(CtlResult::ok));
  }
  EXPECT_EQ(h->source_limiter()->size(), 0u) << "successes take no slot";
  login_from(*h, office, "alice", "typo");
  login_from(*h, office, "alice", "typo");
  EXPECT_EQ(login_from(*h, office, "alice", "pw").payload.auth_result.result, static_cast<uint8_t>(CtlResult::ok));
  login_from(*h, office, "alice", "typo");  // the third failure
  EXPECT_EQ(reason(login_from(*h, office, "alice", "pw")), kLimited);
}

TEST_F(SourceLimitTest, GroupedByPrefix) {
  cfg_.limits.auth_source_prefix = 24;
  auto h = make();
  for (uint8_t i = 1; i <= 3; ++i) login_from(*h, client_v4(i), "mallory", "guess");  // 3 addresses, one /24
  EXPECT_EQ(reason(login_from(*h, client_v4(200), "alice", "pw")), kLimited);
  ctl::CtlAddress next_net = client_v4(1);
  next_net.bytes[2] = 3;
  EXPECT_EQ(login_from(*h, next_net, "alice", "pw").payload.auth_result.result, static_cast<uint8_t>(CtlResult::ok));
}

/// Certificate and token logins next to passwords: the same budget for all methods.
class SourceLimitMethodsTest : public SourceLimitTest {
 protected:
  static void SetUpTestSuite() {
    certs_ = testing::TempDir() + "handler-certs-" + std::to_string(getpid());
    const char* script = std::getenv("TG_CERT_SCRIPT");
    ASSERT_NE(script, nullptr) << "TG_CERT_SCRIPT not set (run through meson test)";
    ASSERT_EQ(std::system(("mkdir -p " + certs_ + " && bash " + script + " " + certs_ + " > /dev/null 2>&1").c_str()), 0);
  }
  static void TearDownTestSuite() { std::system(("rm -rf " + certs_).c_str()); }
  void SetUp() override {
    SourceLimitTest::SetUp();
    auto key = signing_key_generate(JwsAlg::es256);
    ASSERT_TRUE(key);
    key_ = *key;
    auto jwk = signing_key_public(key_, "k1");
    ASSERT_TRUE(jwk);
    jwks_path_ = testing::TempDir() + "handler-jwks-" + std::to_string(getpid());
    std::ofstream(jwks_path_) << *jwks_upsert("", *jwk);
    cfg_.auth.methods = {"password", "certificate", "token"};
    cfg_.auth.ca = certs_ + "/root.pem";
    cfg_.auth.jwks = jwks_path_;
  }
  void TearDown() override {
    unlink(jwks_path_.c_str());
    SourceLimitTest::TearDown();
  }
  static std::vector<uint8_t> der(const std::string& name) {
    std::ifstream in(certs_ + "/" + name + ".der", std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  CtlMessage cert_from(AuthCtlHandler& h, const ctl::CtlAddress& from, const std::string& name) {
    const std::vector<uint8_t> d = der(name);
    EXPECT_FALSE(d.empty()) << name;
    CtlMessage m;
    ctl::ctl_message_init(m, CtlType::auth_cert);
    m.payload.auth_cert.client = from;
    m.payload.auth_cert.cert_len = static_cast<uint32_t>(d.size());
    std::copy(d.begin(), d.end(), m.payload.auth_cert.cert_der);
    return call(h, m);
  }
  CtlMessage token_from(AuthCtlHandler& h, const ctl::CtlAddress& from, const std::string& token) {
    CtlMessage m;
    ctl::ctl_message_init(m, CtlType::auth_token);
    m.payload.auth_token.client = from;
    m.payload.auth_token.token_len = static_cast<uint32_t>(token.size());
    std::copy(token.begin(), token.end(), m.payload.auth_token.token);
    return call(h, m);
  }
  std::string good_token() {
    const std::string claims = R"({"upn":"alice","exp":)" + std::to_string(std::time(nullptr) + 3600) + "}";
    return *jws_sign(jws_header_json(JwsAlg::es256, "k1"), claims, key_);
  }

  static std::string certs_;
  SigningKey key_;
  std::string jwks_path_;
};
std::string SourceLimitMethodsTest::certs_;

TEST_F(SourceLimitMethodsTest, CertificateRefusedUncheckedOnceOverBudget) {
  auto h = make();
  const ctl::CtlAddress attacker = client_v4(66), other = client_v4(77);
  EXPECT_EQ(cert_from(*h, other, "alice").payload.auth_result.result, static_cast<uint8_t>(CtlResult::ok));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(reason(cert_from(*h, attacker, "stranger")), static_cast<uint16_t>(CtlReason::cert_unknown_ca)) << i;
  }
  // A good certificate from that source is refused without being verified.
  EXPECT_EQ(reason(cert_from(*h, attacker, "alice")), kLimited);
  EXPECT_EQ(failures(*h, AuthMethod::certificate, CtlReason::source_rate_limited), 1u);
  EXPECT_EQ(cert_from(*h, other, "alice").payload.auth_result.result, static_cast<uint8_t>(CtlResult::ok));
  now_ += 10 * kSecond;
  EXPECT_EQ(cert_from(*h, attacker, "alice").payload.auth_result.result, static_cast<uint8_t>(CtlResult::ok));
}

TEST_F(SourceLimitMethodsTest, TokenRefusedUncheckedOnceOverBudget) {
  auto h = make();
  const ctl::CtlAddress attacker = client_v4(66), other = client_v4(77);
  const std::string good = good_token();
  EXPECT_EQ(token_from(*h, other, good).payload.auth_result.result, static_cast<uint8_t>(CtlResult::ok));
  std::string forged = good;  // a signature byte changed (not the last character's pad bits)
  char& c = forged[forged.size() - 10];
  c = c == 'A' ? 'B' : 'A';
  EXPECT_NE(reason(token_from(*h, attacker, "not.a.token")), kLimited);
  EXPECT_NE(reason(token_from(*h, attacker, forged)), kLimited);
  EXPECT_NE(reason(token_from(*h, attacker, forged)), kLimited);
  EXPECT_EQ(reason(token_from(*h, attacker, good)), kLimited);
  EXPECT_EQ(failures(*h, AuthMethod::token, CtlReason::source_rate_limited), 1u);
  EXPECT_EQ(token_from(*h, other, good).payload.auth_result.result, static_cast<uint8_t>(CtlResult::ok));
}

TEST_F(SourceLimitMethodsTest, OneBudgetForEveryMethod) {
  auto h = make();
  const ctl::CtlAddress attacker = client_v4(66);
  login_from(*h, attacker, "alice", "guess");
  cert_from(*h, attacker, "stranger");
  token_from(*h, attacker, "not.a.token");
  EXPECT_EQ(reason(login_from(*h, attacker, "alice", "pw")), kLimited);
  EXPECT_EQ(reason(cert_from(*h, attacker, "alice")), kLimited);
  EXPECT_EQ(reason(token_from(*h, attacker, good_token())), kLimited);
  EXPECT_EQ(failures(*h, AuthMethod::password, CtlReason::source_rate_limited), 1u);
  EXPECT_EQ(failures(*h, AuthMethod::certificate, CtlReason::source_rate_limited), 1u);
  EXPECT_EQ(failures(*h, AuthMethod::token, CtlReason::source_rate_limited), 1u);
}

}  // namespace
}  // namespace tg::controlplane
