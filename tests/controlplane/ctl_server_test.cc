// controlplane/ctl_server: a real control segment shared by this process (playing the
// dataplane with CtlSegmentOwner + CtlClient) and fork()ed control planes running CtlServer.
// Covers: control plane down → refused at once; round trips; a killed control plane →
// pending requests reported within the heartbeat bound, then a restart; a graceful stop;
// a second control plane locked out until the first dies; a dataplane restart (re-map);
// malformed requests answered with ERROR.
#include "controlplane/ctl_server.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "controlplane/ctl_segment_mapping.h"
#include "dataplane/ctl/ctl_client.h"
#include "dataplane/ctl/ctl_segment_owner.h"

namespace tg::controlplane {
namespace {

using dataplane::CtlClient;
using dataplane::CtlSegmentOwner;
using dataplane::ctl_monotonic_ns;

constexpr uint64_t kSlowPing = 0x5105;  ///< ping payload that makes the handler stall

/// Echo handler: pong with the same sent_ns; auth_password → ok with the user echoed.
class EchoHandler final : public CtlHandler {
 public:
  void handle(const ctl::CtlMessage& req, CtlResponder& out) override {
    ctl::CtlMessage m;
    switch (static_cast<ctl::CtlType>(req.header.type)) {
      case ctl::CtlType::ping:
        if (req.payload.ping.sent_ns == kSlowPing) sleep(30);  // killed before it answers
        ctl::ctl_message_init(m, ctl::CtlType::pong);
        m.payload.ping.sent_ns = req.payload.ping.sent_ns;
        break;
      case ctl::CtlType::auth_password:
        ctl::ctl_message_init(m, ctl::CtlType::auth_result);
        ctl::ctl_set_string(m.payload.auth_result.user,
                            ctl::ctl_get_string(req.payload.auth_password.user));
        break;
      default:
        return;  // the server answers ERROR for an unanswered request
    }
    out.reply(m);
  }
};

/// fork() a control plane that serves until SIGTERM (graceful) or SIGKILL.
pid_t start_control_plane(CtlServer::Options options) {
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: no gtest assertions here, only _exit codes.
  pthread_sigmask(SIG_BLOCK, &term, nullptr);
  EchoHandler handler;
  CtlServer server(std::move(options), handler);
  server.start();
  int sig = 0;
  sigwait(&term, &sig);
  server.stop();
  _exit(0);
}

void stop_control_plane(pid_t pid, int sig) {
  kill(pid, sig);
  int status = 0;
  waitpid(pid, &status, 0);
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

class CtlServerProcessTest : public testing::Test {
 protected:
  void SetUp() override {
    instance_ = "t-ctlsrv-" + std::to_string(getpid());
    ASSERT_EQ(owner_.create(instance_, 2), "");
  }
  void TearDown() override {
    for (pid_t p : children_) stop_control_plane(p, SIGKILL);
  }
  pid_t spawn() { return spawn({.instance = instance_, .remap_interval_ns = 50'000'000}); }
  pid_t spawn(CtlServer::Options options) {
    const pid_t p = start_control_plane(std::move(options));
    children_.push_back(p);
    return p;
  }
  void reap(pid_t p, int sig) {
    stop_control_plane(p, sig);
    std::erase(children_, p);
  }

  /// Send a ping and wait up to `limit` for its pong. True when it came back.
  bool ping_round_trip(CtlClient& c, uint64_t value, std::chrono::milliseconds limit) {
    ctl::CtlMessage m;
    ctl::ctl_message_init(m, ctl::CtlType::ping);
    m.payload.ping.sent_ns = value;
    if (c.submit(m, ctl_monotonic_ns()) != CtlClient::Submit::ok) return false;
    bool got = false;
    wait_for([&] {
      c.poll([&](const ctl::CtlMessage& r) {
        got = got || (r.header.type == static_cast<uint16_t>(ctl::CtlType::pong) &&
                      r.header.request_id == m.header.request_id && r.payload.ping.sent_ns == value);
      });
      return got;
    }, limit);
    return got;
  }

  std::string instance_;
  CtlSegmentOwner owner_;
  std::vector<pid_t> children_;
};

// Test that a request wakes an idle control plane through the segment's doorbell: with its
// heartbeat, remap check, tick and idle wait all a minute apart, the control plane's only
// reason to wake before a minute is the worker's ring of the doorbell.
TEST_F(CtlServerProcessTest, ARequestWakesAnIdleControlPlane) {
  constexpr uint64_t kMinute = 60'000'000'000;
  spawn({.instance = instance_, .heartbeat_interval_ns = kMinute, .idle_wait_ns = kMinute,
         .remap_interval_ns = kMinute, .tick_interval_ns = kMinute});
  CtlClient c(*owner_.segment(), {.worker_id = 0, .heartbeat_timeout_ns = 2 * kMinute});
  ASSERT_TRUE(wait_for([&] { return c.control_plane_up(ctl_monotonic_ns()); }, std::chrono::seconds(10)));
  for (uint64_t i = 1; i <= 3; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // it is waiting again
    EXPECT_TRUE(ping_round_trip(c, i, std::chrono::seconds(20))) << "request " << i;
  }
}

// Test that work posted by another thread of the control plane (the admin socket's) wakes
// the server thread waiting on the doorbell, instead of waiting for the end of its wait:
// here a minute, as above. Also that the server says it sleeps while it waits, and that
// the task's responder reaches the mapped segment's workers, and that stop() does not wait
// for the end of the wait either.
TEST_F(CtlServerProcessTest, APostedTaskWakesAnIdleControlPlane) {
  constexpr uint64_t kMinute = 60'000'000'000;
  EchoHandler handler;
  CtlServer server({.instance = instance_, .heartbeat_interval_ns = kMinute, .idle_wait_ns = kMinute,
                    .remap_interval_ns = kMinute, .tick_interval_ns = kMinute}, handler);
  server.start();
  CtlClient c(*owner_.segment(), {.worker_id = 0, .heartbeat_timeout_ns = 2 * kMinute});
  ASSERT_TRUE(wait_for([&] { return c.control_plane_up(ctl_monotonic_ns()); }, std::chrono::seconds(10)));
  for (int i = 1; i <= 3; i++) {
    ASSERT_TRUE(wait_for([&] { return owner_.segment()->server.sleeping.load() == 1; }, std::chrono::seconds(10)))
        << "the server never waits on the doorbell";
    std::atomic<bool> ran{false};
    server.post([&, i](CtlResponder& r) {
      ctl::CtlMessage m;
      ctl::ctl_message_init(m, ctl::CtlType::session_terminate);
      m.header.session_id = static_cast<uint64_t>(i);
      ran = r.notify(0, m);
    });
    EXPECT_TRUE(wait_for([&] { return ran.load(); }, std::chrono::seconds(20))) << "task " << i;
    uint64_t got = 0;
    EXPECT_TRUE(wait_for([&] {
      c.poll([&](const ctl::CtlMessage& r) { got = r.header.session_id; });
      return got == static_cast<uint64_t>(i);
    }, std::chrono::seconds(2))) << "notice " << i;
  }
  ASSERT_TRUE(wait_for([&] { return owner_.segment()->server.sleeping.load() == 1; }, std::chrono::seconds(10)));
  const auto t0 = std::chrono::steady_clock::now();
  server.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30)) << "stop() waited for the idle wait's end";
}

TEST_F(CtlServerProcessTest, ControlPlaneDownIsRefusedAtOnce) {
  CtlClient c(*owner_.segment(), {.worker_id = 0});
  ctl::CtlMessage m;
  ctl::ctl_message_init(m, ctl::CtlType::auth_password);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c.submit(m, ctl_monotonic_ns()), CtlClient::Submit::control_plane_down);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(10));
}

TEST_F(CtlServerProcessTest, RoundTripsOnEveryWorker) {
  spawn();
  CtlClient w0(*owner_.segment(), {.worker_id = 0});
  CtlClient w1(*owner_.segment(), {.worker_id = 1});
  ASSERT_TRUE(wait_for([&] { return w0.control_plane_up(ctl_monotonic_ns()); },
                       std::chrono::seconds(3)));
  for (uint64_t i = 1; i <= 50; ++i) {
    ASSERT_TRUE(ping_round_trip(i % 2 ? w0 : w1, i, std::chrono::seconds(2))) << i;
  }
  ctl::CtlMessage a;
  ctl::ctl_message_init(a, ctl::CtlType::auth_password);
  ctl::ctl_set_string(a.payload.auth_password.user, "alice");
  ASSERT_EQ(w1.submit(a, ctl_monotonic_ns()), CtlClient::Submit::ok);
  std::string user;
  ASSERT_TRUE(wait_for([&] {
    w1.poll([&](const ctl::CtlMessage& r) {
      user = std::string(ctl::ctl_get_string(r.payload.auth_result.user));
    });
    return !user.empty();
  }, std::chrono::seconds(2)));
  EXPECT_EQ(user, "alice");
}

TEST_F(CtlServerProcessTest, MalformedRequestIsAnsweredWithError) {
  spawn();
  CtlClient c(*owner_.segment(), {.worker_id = 0});
  ASSERT_TRUE(wait_for([&] { return c.control_plane_up(ctl_monotonic_ns()); },
                       std::chrono::seconds(3)));
  ctl::CtlMessage a;
  ctl::ctl_message_init(a, ctl::CtlType::auth_password);
  std::memset(a.payload.auth_password.user, 'a', sizeof a.payload.auth_password.user);
  ASSERT_EQ(c.submit(a, ctl_monotonic_ns()), CtlClient::Submit::ok);
  uint16_t decode_error = 0;
  ASSERT_TRUE(wait_for([&] {
    c.poll([&](const ctl::CtlMessage& r) {
      if (r.header.type == static_cast<uint16_t>(ctl::CtlType::error)) {
        decode_error = r.payload.error.decode_error;
      }
    });
    return decode_error != 0;
  }, std::chrono::seconds(2)));
  EXPECT_EQ(decode_error, static_cast<uint16_t>(ctl::CtlDecodeError::unterminated_string));
  // A request the handler does not answer (session_close here) gets ERROR, not silence.
  ctl::CtlMessage close;
  ctl::ctl_message_init(close, ctl::CtlType::session_close);
  ASSERT_EQ(c.submit(close, ctl_monotonic_ns()), CtlClient::Submit::ok);
  bool got_error = false;
  ASSERT_TRUE(wait_for([&] {
    c.poll([&](const ctl::CtlMessage& r) {
      got_error = r.header.request_id == close.header.request_id &&
                  r.header.type == static_cast<uint16_t>(ctl::CtlType::error);
    });
    return got_error;
  }, std::chrono::seconds(2)));
}

// Test that a control plane killed mid-request leaves the worker with a bounded wait:
// the pending request is reported as soon as the heartbeat is stale (2 s), new requests are
// refused at once, and a restarted control plane serves again.
TEST_F(CtlServerProcessTest, KilledControlPlaneThenRestart) {
  const pid_t cp = spawn();
  CtlClient c(*owner_.segment(), {.worker_id = 0, .request_timeout_ns = 60'000'000'000});
  ASSERT_TRUE(wait_for([&] { return c.control_plane_up(ctl_monotonic_ns()); },
                       std::chrono::seconds(3)));
  ctl::CtlMessage slow;
  ctl::ctl_message_init(slow, ctl::CtlType::ping);
  slow.payload.ping.sent_ns = kSlowPing;
  ASSERT_EQ(c.submit(slow, ctl_monotonic_ns()), CtlClient::Submit::ok);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the handler is now stuck
  reap(cp, SIGKILL);
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t expired_id = 0;
  ASSERT_TRUE(wait_for([&] {
    c.expire(ctl_monotonic_ns(), [&](uint64_t id, ctl::CtlType) { expired_id = id; });
    return expired_id != 0;
  }, std::chrono::seconds(4)));
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(expired_id, slow.header.request_id);
  EXPECT_LE(waited, std::chrono::milliseconds(2500)) << "bounded by the heartbeat timeout";
  ctl::CtlMessage m;
  ctl::ctl_message_init(m, ctl::CtlType::ping);
  EXPECT_EQ(c.submit(m, ctl_monotonic_ns()), CtlClient::Submit::control_plane_down);

  spawn();  // the kernel released the dead process's flock
  ASSERT_TRUE(wait_for([&] { return c.control_plane_up(ctl_monotonic_ns()); },
                       std::chrono::seconds(3)));
  EXPECT_TRUE(ping_round_trip(c, 77, std::chrono::seconds(2)));
}

TEST_F(CtlServerProcessTest, GracefulStopIsSeenAtOnce) {
  const pid_t cp = spawn();
  CtlClient c(*owner_.segment(), {.worker_id = 1});
  ASSERT_TRUE(wait_for([&] { return c.control_plane_up(ctl_monotonic_ns()); },
                       std::chrono::seconds(3)));
  reap(cp, SIGTERM);
  EXPECT_FALSE(c.control_plane_up(ctl_monotonic_ns()));  // heartbeat cleared on the way out
}

TEST_F(CtlServerProcessTest, SecondControlPlaneWaitsForTheLock) {
  const pid_t first = spawn();
  ASSERT_TRUE(wait_for([&] { return owner_.segment()->server.pid.load() == uint32_t(first); },
                       std::chrono::seconds(3)));
  const pid_t second = spawn();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(owner_.segment()->server.pid.load(), uint32_t(first));
  reap(first, SIGKILL);
  ASSERT_TRUE(wait_for([&] { return owner_.segment()->server.pid.load() == uint32_t(second); },
                       std::chrono::seconds(3)));
  CtlClient c(*owner_.segment(), {.worker_id = 0});
  ASSERT_TRUE(wait_for([&] { return c.control_plane_up(ctl_monotonic_ns()); },
                       std::chrono::seconds(3)));
  EXPECT_TRUE(ping_round_trip(c, 5, std::chrono::seconds(2)));
}

TEST_F(CtlServerProcessTest, DataplaneRestartIsRemapped) {
  spawn();
  {
    CtlClient c(*owner_.segment(), {.worker_id = 0});
    ASSERT_TRUE(wait_for([&] { return c.control_plane_up(ctl_monotonic_ns()); },
                         std::chrono::seconds(3)));
    ASSERT_TRUE(ping_round_trip(c, 1, std::chrono::seconds(2)));
  }
  ASSERT_EQ(owner_.create(instance_, 1), "");  // unlink + a new object, as a restart does
  CtlClient c(*owner_.segment(), {.worker_id = 0});
  EXPECT_FALSE(c.control_plane_up(ctl_monotonic_ns()));
  ASSERT_TRUE(wait_for([&] { return c.control_plane_up(ctl_monotonic_ns()); },
                       std::chrono::seconds(3)));
  EXPECT_TRUE(ping_round_trip(c, 2, std::chrono::seconds(2)));
}

TEST(CtlSegmentMapping, RefusesAbsentAndForeignSegments) {
  const std::string instance = "t-ctlmap-" + std::to_string(getpid());
  auto none = CtlSegmentMapping::open(instance);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ENOENT);
  CtlSegmentOwner owner;
  ASSERT_EQ(owner.create(instance, 1), "");
  owner.segment()->version = 99;
  auto bad = CtlSegmentMapping::open(instance);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, EPROTO);
  owner.segment()->version = shm::kCtlSegmentVersion;
  owner.segment()->n_workers = 0;
  auto bad_workers = CtlSegmentMapping::open(instance);
  ASSERT_FALSE(bad_workers);
  EXPECT_EQ(bad_workers.error().code, EPROTO);
  owner.segment()->n_workers = 1;
  auto ok = CtlSegmentMapping::open(instance);
  ASSERT_TRUE(ok) << ok.error().message;
  auto locked = CtlSegmentMapping::open(instance);
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().code, EAGAIN);
  EXPECT_TRUE((*ok)->still_current());
  owner.destroy();
  EXPECT_FALSE((*ok)->still_current());
}

}  // namespace
}  // namespace tg::controlplane
