// controlplane/session_resync.cc: a control plane that replaces a crashed one adopts the
// tunnels the workers report (SESSION_RESYNC). Driven in-process like ctl_handler_test: a
// first handler plays the control plane that died (it makes real sessions), a second one the
// restarted control plane. Refusals first (every reason, nothing leaks), then adoption and
// what it must give back: reconnect with the old cookie, close, disconnect, gauges, metrics,
// the gate on new addresses until every worker has reported, and ids that never collide.
#include "controlplane/ctl_handler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>

#include "controlplane/password_hash.h"
#include "tests/controlplane/ctl_test_support.h"

namespace tg::controlplane {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;
using ctl::CtlMessage;
using ctl::CtlReason;
using ctl::CtlResult;
using ctl::CtlType;

using SeededRandom = test::SplitMixRandom;
using test::prefix;
using test::RecordingResponder;

/// What a worker knows of one of its tunnels (from AUTH_RESULT / SESSION_PARAMS).
struct Tunnel {
  uint64_t id = 0;
  std::string cookie;
  uint32_t attach_seq = 0;
  uint32_t ipv4 = 0;
  std::string app = "com.example.mail";
};

class SessionResyncTest : public testing::Test {
 protected:
  void SetUp() override {
    users_path_ = testing::TempDir() + "resync-users-" + std::to_string(getpid());
    std::ofstream(users_path_) << "alice:staff:" << *password_hash("pw", Argon2Params{1024, 1, 1}) << "\n";
    cfg_.auth.methods = {"password"};
    cfg_.auth.users_file = users_path_;
    cfg_.pools = {{{}, "clients", prefix("10.10.0.0/24")}, {{}, "crm", prefix("10.30.0.0/24")}};
    cfg_.services = {{{}, "web", {prefix("192.0.2.0/24")}, {}, {}}};
    config::AppConfig mail;
    mail.id = "com.example.mail";
    mail.services = {"web"};
    mail.pool = "clients";
    config::AppConfig crm;
    crm.id = "com.example.crm";
    crm.services = {"web"};
    crm.pool = "crm";
    cfg_.apps = {mail, crm};
    cfg_.default_app = "com.example.mail";
  }
  void TearDown() override { unlink(users_path_.c_str()); }

  std::unique_ptr<AuthCtlHandler> make(RandomSource& random) {
    AuthCtlHandler::Options o;
    o.now = [this] { return now_; };
    o.resync_timeout_ns = 10 * kSecond;
    auto h = AuthCtlHandler::create(cfg_, o, random);
    EXPECT_TRUE(h) << h.error().message;
    return h ? std::move(*h) : nullptr;
  }
  CtlMessage call(AuthCtlHandler& h, const CtlMessage& req) {
    const size_t before = out_.replies.size();
    h.handle(req, out_);
    EXPECT_EQ(out_.replies.size(), before + 1);
    return out_.replies.back();
  }
  std::string login(AuthCtlHandler& h) {
    const CtlMessage r = call(h, test::password_login_request("alice", "pw"));
    return std::string(ctl::ctl_get_string(r.payload.auth_result.cookie));
  }
  CtlMessage open(AuthCtlHandler& h, const std::string& cookie, uint32_t worker = 0) {
    return call(h, test::session_open_request(cookie, worker));
  }
  /// A tunnel opened by the control plane that is about to die.
  Tunnel tunnel_of(AuthCtlHandler& old_cp) {
    Tunnel t;
    t.cookie = login(old_cp);
    const CtlMessage p = open(old_cp, t.cookie);
    EXPECT_EQ(p.payload.session_params.result, static_cast<uint8_t>(CtlResult::ok));
    t.id = p.header.session_id;
    t.attach_seq = p.payload.session_params.attach_seq;
    t.ipv4 = p.payload.session_params.ipv4;
    return t;
  }
  CtlMessage resync(AuthCtlHandler& h, const Tunnel& t, uint32_t worker = 1,
                    uint64_t lifetime_left_ns = 3600 * kSecond) {
    CtlMessage m;
    ctl::ctl_message_init(m, CtlType::session_resync);
    m.header.worker_id = worker;
    m.header.session_id = t.id;
    ctl::SessionResyncPayload& p = m.payload.session_resync;
    p.attach_seq = t.attach_seq;
    p.ipv4 = t.ipv4;
    p.expires_ns = now_ + lifetime_left_ns;
    p.client.family = 4;
    p.client.port = 40000;
    const uint8_t client[4] = {192, 0, 2, 2};
    std::memcpy(p.client.bytes, client, 4);
    ctl::ctl_set_string(p.cookie, t.cookie);
    ctl::ctl_set_string(p.user, "alice");
    ctl::ctl_set_string(p.group, "staff");
    ctl::ctl_set_string(p.app, t.app);
    return call(h, m);
  }
  CtlMessage done(AuthCtlHandler& h, uint32_t worker) {
    CtlMessage m;
    ctl::ctl_message_init(m, CtlType::session_resync);
    m.header.worker_id = worker;
    m.payload.session_resync.flags = ctl::kResyncDone;
    return call(h, m);
  }
  static uint16_t reason_of(const CtlMessage& ack) { return ack.payload.session_resync_ack.reason; }
  static bool adopted(const CtlMessage& ack) {
    return ack.header.type == static_cast<uint16_t>(CtlType::session_resync_ack) &&
           ack.payload.session_resync_ack.result == static_cast<uint8_t>(CtlResult::ok);
  }
  static uint64_t app_sessions(const AuthCtlHandler& h, const std::string& app) {
    for (const auto& [a, n] : h.sessions_by_app()) {
      if (a == app) return n;
    }
    return 0;
  }

  config::Config cfg_;
  std::string users_path_;
  uint64_t now_ = 1000 * kSecond;
  SeededRandom old_random_{1};
  SeededRandom new_random_{0x5eed};
  RecordingResponder out_;
};

TEST_F(SessionResyncTest, RefusalsAreCountedAndLeaveNothingBehind) {
  auto old_cp = make(old_random_);
  const Tunnel good = tunnel_of(*old_cp);
  auto cp = make(new_random_);
  cp->on_attach(2);
  ASSERT_TRUE(adopted(resync(*cp, good)));

  struct Case {
    const char* what;
    Tunnel t;
    uint64_t expires_in_s = 3600;
    CtlReason expected;
  };
  auto with = [&](auto edit) {
    Tunnel t = good;
    t.id = good.id + 1000;
    t.cookie = std::string(64, '7');
    t.ipv4 = 0x0a0a0042;  // 10.10.0.66, free
    edit(t);
    return t;
  };
  const Case cases[] = {
      {"address of another session", with([&](Tunnel& t) { t.ipv4 = good.ipv4; }), 3600, CtlReason::address_in_use},
      {"address outside every pool", with([](Tunnel& t) { t.ipv4 = 0x0a630005; }), 3600, CtlReason::address_not_in_pool},
      {"the gateway's own address", with([](Tunnel& t) { t.ipv4 = 0x0a0a0001; }), 3600, CtlReason::address_not_in_pool},
      {"the pool's broadcast address", with([](Tunnel& t) { t.ipv4 = 0x0a0a00ff; }), 3600, CtlReason::address_not_in_pool},
      {"another app's pool", with([](Tunnel& t) { t.ipv4 = 0x0a1e0005; }), 3600, CtlReason::address_not_in_pool},
      {"same id, other cookie", with([&](Tunnel& t) { t.id = good.id; }), 3600, CtlReason::duplicate_session},
      {"same cookie, other id", with([&](Tunnel& t) { t.cookie = good.cookie; }), 3600, CtlReason::duplicate_session},
      {"same id and cookie, other tunnel", with([&](Tunnel& t) { t.id = good.id; t.cookie = good.cookie; t.attach_seq += 1; }),
       3600, CtlReason::duplicate_session},
      {"app not configured", with([](Tunnel& t) { t.app = "com.example.gone"; }), 3600, CtlReason::unknown_app},
      {"no app", with([](Tunnel& t) { t.app = ""; }), 3600, CtlReason::unknown_app},
      {"malformed cookie", with([](Tunnel& t) { t.cookie = std::string(64, 'Z'); }), 3600, CtlReason::cookie_invalid},
      {"empty cookie", with([](Tunnel& t) { t.cookie.clear(); }), 3600, CtlReason::cookie_invalid},
      {"lifetime over", with([](Tunnel&) {}), 0, CtlReason::cookie_invalid},
      {"session id 0", with([](Tunnel& t) { t.id = 0; }), 3600, CtlReason::malformed_request},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const CtlMessage ack = resync(*cp, c.t, 1, c.expires_in_s * kSecond);
    EXPECT_EQ(ack.payload.session_resync_ack.result, static_cast<uint8_t>(CtlResult::denied));
    EXPECT_EQ(ctl::ctl_reason_name(static_cast<CtlReason>(reason_of(ack))),
              std::string(ctl::ctl_reason_name(c.expected)));
    EXPECT_EQ(ack.header.session_id, c.t.id);
  }
  // Counted by reason; only the good tunnel holds a session and an address.
  const AuthCounters& k = cp->counters();
  EXPECT_EQ(k.resync_adopted.load(), 1u);
  EXPECT_EQ(k.resync_refused[static_cast<size_t>(CtlReason::address_in_use)].load(), 1u);
  EXPECT_EQ(k.resync_refused[static_cast<size_t>(CtlReason::address_not_in_pool)].load(), 4u);
  EXPECT_EQ(k.resync_refused[static_cast<size_t>(CtlReason::duplicate_session)].load(), 3u);
  EXPECT_EQ(k.resync_refused[static_cast<size_t>(CtlReason::unknown_app)].load(), 2u);
  EXPECT_EQ(k.resync_refused[static_cast<size_t>(CtlReason::cookie_invalid)].load(), 3u);
  EXPECT_EQ(k.resync_refused[static_cast<size_t>(CtlReason::malformed_request)].load(), 1u);
  EXPECT_EQ(cp->sessions().size(), 1u);
  EXPECT_EQ(cp->pools()[0].in_use(), 1u);
  EXPECT_EQ(cp->pools()[1].in_use(), 0u);
  EXPECT_EQ(app_sessions(*cp, "com.example.mail"), 1u);
  // The same tunnel reported twice (a worker that saw this control plane twice) is simply ours.
  EXPECT_TRUE(adopted(resync(*cp, good)));
  EXPECT_EQ(cp->sessions().size(), 1u);
  EXPECT_EQ(cp->pools()[0].in_use(), 1u);
}

TEST_F(SessionResyncTest, AdoptedSessionsWorkLikeTheirOwn) {
  auto old_cp = make(old_random_);
  const Tunnel a = tunnel_of(*old_cp);
  const Tunnel b = tunnel_of(*old_cp);
  Tunnel c = tunnel_of(*old_cp);
  auto cp = make(new_random_);
  cp->on_attach(2);
  ASSERT_TRUE(adopted(resync(*cp, a, 0)));
  ASSERT_TRUE(adopted(resync(*cp, b, 1)));
  c.app = "com.example.crm";
  c.ipv4 = 0x0a1e0007;  // a CRM tunnel in the crm pool
  ASSERT_TRUE(adopted(resync(*cp, c, 1)));
  EXPECT_EQ(cp->sessions().size(), 3u);
  EXPECT_EQ(cp->sessions().attached_count(), 3u);
  EXPECT_EQ(cp->pools()[0].in_use(), 2u);
  EXPECT_EQ(cp->pools()[1].in_use(), 1u);
  EXPECT_EQ(app_sessions(*cp, "com.example.mail"), 2u);
  EXPECT_EQ(app_sessions(*cp, "com.example.crm"), 1u);

  // A reconnect with the old cookie gets the same address and replaces the reported tunnel.
  const CtlMessage p = open(*cp, a.cookie, 1);
  ASSERT_EQ(p.payload.session_params.result, static_cast<uint8_t>(CtlResult::ok));
  EXPECT_EQ(p.header.session_id, a.id);
  EXPECT_EQ(p.payload.session_params.ipv4, a.ipv4);
  EXPECT_STREQ(p.payload.session_params.user, "alice");
  ASSERT_EQ(out_.notices.size(), 1u);
  EXPECT_EQ(out_.notices[0].first, 0u);
  EXPECT_EQ(out_.notices[0].second.payload.session_terminate.attach_seq, a.attach_seq);

  // The reported tunnel's own close is current: logout ends the session and frees the address.
  CtlMessage close;
  ctl::ctl_message_init(close, CtlType::session_close);
  close.header.worker_id = 1;
  close.header.session_id = b.id;
  close.payload.session_close.attach_seq = b.attach_seq;
  close.payload.session_close.reason = static_cast<uint8_t>(ctl::CtlCloseReason::client_logout);
  EXPECT_EQ(call(*cp, close).payload.session_close_ack.result, static_cast<uint8_t>(CtlResult::ok));
  EXPECT_EQ(cp->pools()[0].in_use(), 1u);
  EXPECT_EQ(app_sessions(*cp, "com.example.mail"), 1u);

  // An operator's disconnect finds it and tells its worker to close exactly that tunnel.
  const auto ended = cp->disconnect([&](const Session& s) { return s.id == c.id; }, out_);
  ASSERT_EQ(ended.size(), 1u);
  ASSERT_EQ(out_.notices.size(), 2u);
  EXPECT_EQ(out_.notices[1].first, 1u);
  EXPECT_EQ(out_.notices[1].second.header.session_id, c.id);
  EXPECT_EQ(out_.notices[1].second.payload.session_terminate.attach_seq, c.attach_seq);
  EXPECT_EQ(cp->pools()[1].in_use(), 0u);
  EXPECT_EQ(app_sessions(*cp, "com.example.crm"), 0u);

  // Metrics: adopted sessions in the gauges, the adoption counted.
  AuthMetricsCollector collector(cp->counters(), cp->sessions(), cp->pools(), nullptr);
  double adopted_total = -1;
  for (const auto& f : collector.Collect()) {
    if (f.name == "tunnelgate_sessions_adopted_total") adopted_total = f.metric.at(0).counter.value;
  }
  EXPECT_EQ(adopted_total, 3.0);
}

TEST_F(SessionResyncTest, NewAddressesWaitForEveryWorker) {
  auto old_cp = make(old_random_);
  const Tunnel t = tunnel_of(*old_cp);  // 10.10.0.2: the address a fresh pool hands out first
  auto cp = make(new_random_);
  cp->on_attach(2);
  EXPECT_TRUE(cp->resync_pending(now_));
  // A login works, but its CONNECT waits: the address it would get may be a live tunnel's.
  const std::string fresh = login(*cp);
  CtlMessage p = open(*cp, fresh);
  EXPECT_EQ(p.payload.session_params.result, static_cast<uint8_t>(CtlResult::try_again));
  EXPECT_EQ(p.payload.session_params.reason, static_cast<uint16_t>(CtlReason::resync_in_progress));
  // So does a cookie nobody has reported yet (it may be one of the tunnels still to come).
  p = open(*cp, t.cookie);
  EXPECT_EQ(p.payload.session_params.reason, static_cast<uint16_t>(CtlReason::resync_in_progress));
  EXPECT_EQ(cp->pools()[0].in_use(), 0u);
  ASSERT_TRUE(adopted(resync(*cp, t, 1)));
  EXPECT_TRUE(adopted(done(*cp, 1)));
  EXPECT_TRUE(cp->resync_pending(now_));  // worker 0 has not finished
  EXPECT_TRUE(adopted(done(*cp, 0)));
  EXPECT_FALSE(cp->resync_pending(now_));
  p = open(*cp, fresh);
  ASSERT_EQ(p.payload.session_params.result, static_cast<uint8_t>(CtlResult::ok));
  EXPECT_NE(p.payload.session_params.ipv4, t.ipv4);
  EXPECT_NE(p.header.session_id, t.id);
  EXPECT_EQ(cp->pools()[0].in_use(), 2u);
}

TEST_F(SessionResyncTest, AWorkerThatNeverReportsBlocksNewAddressesOnlyUntilTheTimeout) {
  auto cp = make(new_random_);
  cp->on_attach(3);
  EXPECT_TRUE(adopted(done(*cp, 0)));
  EXPECT_TRUE(adopted(done(*cp, 2)));
  const std::string fresh = login(*cp);
  EXPECT_EQ(open(*cp, fresh).payload.session_params.reason,
            static_cast<uint16_t>(CtlReason::resync_in_progress));
  now_ += 10 * kSecond;
  EXPECT_FALSE(cp->resync_pending(now_));
  EXPECT_EQ(open(*cp, fresh).payload.session_params.result, static_cast<uint8_t>(CtlResult::ok));
  // A dataplane restart (new segment, empty workers) starts a new round.
  cp->on_dataplane_change(2);
  cp->on_attach(1);
  EXPECT_TRUE(cp->resync_pending(now_));
  EXPECT_TRUE(adopted(done(*cp, 0)));
  EXPECT_FALSE(cp->resync_pending(now_));
}

TEST_F(SessionResyncTest, IdsIssuedAfterAdoptionAreNew) {
  auto old_cp = make(old_random_);
  std::set<uint64_t> ids;
  std::vector<Tunnel> tunnels;
  for (int i = 0; i < 20; ++i) tunnels.push_back(tunnel_of(*old_cp));
  auto cp = make(new_random_);
  cp->on_attach(1);
  for (const Tunnel& t : tunnels) {
    ASSERT_TRUE(adopted(resync(*cp, t, 0)));
    ids.insert(t.id);
  }
  ASSERT_TRUE(adopted(done(*cp, 0)));
  for (int i = 0; i < 20; ++i) {
    const std::string cookie = login(*cp);
    const CtlMessage p = open(*cp, cookie);
    ASSERT_EQ(p.payload.session_params.result, static_cast<uint8_t>(CtlResult::ok));
    EXPECT_TRUE(ids.insert(p.header.session_id).second);
  }
  EXPECT_EQ(cp->sessions().size(), 40u);
  EXPECT_EQ(cp->pools()[0].in_use(), 40u);
}

}  // namespace
}  // namespace tg::controlplane
