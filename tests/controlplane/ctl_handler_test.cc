// controlplane/ctl_handler: the auth backend wired to the messages, driven in-process with a
// recording responder and an injected clock. Refusals first (method disabled, bad password,
// bad cookie, no app, session limit, pool exhausted), then login → connect → reconnect →
// close, cookie expiry, and the metrics families.
#include "controlplane/ctl_handler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "controlplane/password_hash.h"

namespace tg::controlplane {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;
using ctl::CtlMessage;
using ctl::CtlReason;
using ctl::CtlResult;
using ctl::CtlType;

class RecordingResponder final : public CtlResponder {
 public:
  std::vector<CtlMessage> replies;
  std::vector<std::pair<uint32_t, CtlMessage>> notices;
  bool notify_ok = true;
  void reply(CtlMessage& m) override { replies.push_back(m); }
  bool notify(uint32_t worker, CtlMessage& m) override {
    notices.emplace_back(worker, m);
    return notify_ok;
  }
};

class CountingRandom final : public RandomSource {
 public:
  bool fill(uint8_t* out, size_t len) override {
    for (size_t i = 0; i < len; ++i) {  // splitmix64: deterministic, no repeats in a test
      uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      out[i] = static_cast<uint8_t>(z ^ (z >> 31));
    }
    return true;
  }

 private:
  uint64_t state_ = 0;
};

config::IpPrefix prefix(const char* text) { return *config::parse_prefix(text); }

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
    CtlMessage m;
    ctl::ctl_message_init(m, CtlType::auth_password);
    ctl::ctl_set_string(m.payload.auth_password.user, user);
    ctl::ctl_set_string(m.payload.auth_password.password, pw);
    ctl::ctl_set_string(m.payload.auth_password.group, group);
    return call(h, m);
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
    CtlMessage m;
    ctl::ctl_message_init(m, CtlType::session_open);
    m.header.worker_id = worker;
    ctl::ctl_set_string(m.payload.session_open.cookie, cookie);
    return call(h, m);
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

}  // namespace
}  // namespace tg::controlplane
