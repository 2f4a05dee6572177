// dataplane/ctl: CtlClient against a real control segment in this process, with the test
// playing the control plane by hand (heartbeat, popping requests, pushing answers).
#include "dataplane/ctl/ctl_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "dataplane/ctl/ctl_segment_owner.h"

namespace tg::dataplane {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;

class CtlClientTest : public testing::Test {
 protected:
  void SetUp() override {
    instance_ = "t-client-" + std::to_string(getpid());
    ASSERT_EQ(owner_.create(instance_, 2), "");
  }
  shm::CtlSegment& seg() { return *owner_.segment(); }
  void beat(uint64_t now) { seg().server.heartbeat_ns.store(now); }

  /// Pop one request of worker `w` as the control plane would.
  bool pop_request(uint32_t w, ctl::CtlMessage& out) {
    std::array<uint8_t, shm::CtlRequestRing::kMaxMessageBytes> buf{};
    uint32_t len = 0;
    if (!seg().workers[w].requests.try_pop(buf, len)) return false;
    return ctl::ctl_decode(std::span<const uint8_t>(buf.data(), len),
                           ctl::CtlDirection::to_control_plane, out) == ctl::CtlDecodeError::ok;
  }
  void push_response(uint32_t w, ctl::CtlMessage& m) {
    m.header.worker_id = w;
    ASSERT_TRUE(seg().workers[w].responses.try_push(ctl::ctl_message_bytes(m)));
  }

  std::string instance_;
  CtlSegmentOwner owner_;
};

ctl::CtlMessage ping() {
  ctl::CtlMessage m;
  ctl::ctl_message_init(m, ctl::CtlType::ping);
  return m;
}

TEST_F(CtlClientTest, RefusesANonRequest) {
  CtlClient c(seg(), {.worker_id = 0});
  beat(10 * kSecond);
  ctl::CtlMessage m;
  ctl::ctl_message_init(m, ctl::CtlType::pong);
  EXPECT_EQ(c.submit(m, 10 * kSecond), CtlClient::Submit::bad_message);
  m = ping();
  m.header.payload_len += 8;
  EXPECT_EQ(c.submit(m, 10 * kSecond), CtlClient::Submit::bad_message);
  EXPECT_EQ(c.counters().refused_bad_message, 2u);
}

TEST_F(CtlClientTest, NoControlPlaneEverSeenIsDown) {
  CtlClient c(seg(), {.worker_id = 0});
  ctl::CtlMessage m = ping();
  EXPECT_FALSE(c.control_plane_up(5 * kSecond));
  EXPECT_EQ(c.submit(m, 5 * kSecond), CtlClient::Submit::control_plane_down);
  EXPECT_EQ(seg().workers[0].requests.size(), 0u);  // nothing queued for nobody
}

TEST_F(CtlClientTest, StaleHeartbeatIsDown) {
  CtlClient c(seg(), {.worker_id = 0});
  beat(10 * kSecond);
  ctl::CtlMessage m = ping();
  EXPECT_EQ(c.submit(m, 11 * kSecond), CtlClient::Submit::ok);
  EXPECT_EQ(c.submit(m, 12 * kSecond + 1), CtlClient::Submit::control_plane_down);
  // A beat written just after the client read its clock is alive, not "from the future".
  beat(20 * kSecond + 5);
  EXPECT_TRUE(c.control_plane_up(20 * kSecond));
}

TEST_F(CtlClientTest, EachNewControlPlaneIsSeenOnce) {
  CtlClient c(seg(), {.worker_id = 1});
  EXPECT_FALSE(c.take_new_control_plane(1 * kSecond));  // none attached yet
  seg().server.start_ns.store(1 * kSecond);
  EXPECT_FALSE(c.take_new_control_plane(1 * kSecond));  // attached, but no heartbeat yet
  beat(1 * kSecond);
  EXPECT_TRUE(c.take_new_control_plane(1 * kSecond));
  EXPECT_FALSE(c.take_new_control_plane(1 * kSecond + 5));
  // It goes quiet and comes back (a stall, not a restart): not new.
  EXPECT_FALSE(c.take_new_control_plane(9 * kSecond));
  beat(9 * kSecond);
  EXPECT_FALSE(c.take_new_control_plane(9 * kSecond));
  // Killed and replaced within the heartbeat timeout: the worker never saw it down, but the
  // new start time says it knows none of our tunnels.
  seg().server.start_ns.store(9 * kSecond + 100);
  beat(9 * kSecond + 200);
  EXPECT_TRUE(c.take_new_control_plane(9 * kSecond + 300));
  EXPECT_FALSE(c.take_new_control_plane(9 * kSecond + 400));
  EXPECT_EQ(c.counters().control_plane_attaches, 2u);
}

TEST_F(CtlClientTest, RoundTripMatchesRequestIds) {
  CtlClient c(seg(), {.worker_id = 1});
  beat(kSecond);
  ctl::CtlMessage a = ping(), b = ping();
  ASSERT_EQ(c.submit(a, kSecond), CtlClient::Submit::ok);
  ASSERT_EQ(c.submit(b, kSecond), CtlClient::Submit::ok);
  EXPECT_NE(a.header.request_id, b.header.request_id);
  EXPECT_EQ(c.in_flight(), 2u);
  ctl::CtlMessage req;
  ASSERT_TRUE(pop_request(1, req));
  EXPECT_EQ(req.header.worker_id, 1u);
  EXPECT_EQ(req.header.request_id, a.header.request_id);
  ctl::CtlMessage pong;
  ctl::ctl_message_init(pong, ctl::CtlType::pong);
  pong.header.request_id = b.header.request_id;  // answers may come in any order
  push_response(1, pong);
  std::vector<uint64_t> got;
  EXPECT_EQ(c.poll([&](const ctl::CtlMessage& m) { got.push_back(m.header.request_id); }), 1u);
  EXPECT_EQ(got, std::vector<uint64_t>{b.header.request_id});
  EXPECT_EQ(c.in_flight(), 1u);
  // The same answer again is late (no longer pending): dropped and counted.
  push_response(1, pong);
  EXPECT_EQ(c.poll([](const ctl::CtlMessage&) { FAIL(); }), 0u);
  EXPECT_EQ(c.counters().late_responses, 1u);
}

TEST_F(CtlClientTest, InvalidAndMismatchedAnswersAreDropped) {
  CtlClient c(seg(), {.worker_id = 0});
  beat(kSecond);
  ctl::CtlMessage a = ping();
  ASSERT_EQ(c.submit(a, kSecond), CtlClient::Submit::ok);
  ctl::CtlMessage r;
  ctl::ctl_message_init(r, ctl::CtlType::auth_result);  // wrong answer type for a ping
  r.header.request_id = a.header.request_id;
  push_response(0, r);
  ctl::CtlMessage bad = r;
  bad.header.magic = 0;
  push_response(0, bad);
  ctl::CtlMessage other_worker;
  ctl::ctl_message_init(other_worker, ctl::CtlType::pong);
  other_worker.header.request_id = a.header.request_id;
  other_worker.header.worker_id = 1;
  ASSERT_TRUE(seg().workers[0].responses.try_push(ctl::ctl_message_bytes(other_worker)));
  EXPECT_EQ(c.poll([](const ctl::CtlMessage&) { FAIL(); }), 0u);
  EXPECT_EQ(c.counters().mismatched_responses, 1u);
  EXPECT_EQ(c.counters().decode_errors[static_cast<size_t>(ctl::CtlDecodeError::bad_magic)], 1u);
  EXPECT_EQ(c.counters().decode_errors[static_cast<size_t>(ctl::CtlDecodeError::bad_worker_id)], 1u);
  EXPECT_EQ(c.in_flight(), 1u);  // still pending: it expires into try-again
}

TEST_F(CtlClientTest, ErrorAnswersAndNoticesAreDelivered) {
  CtlClient c(seg(), {.worker_id = 0});
  beat(kSecond);
  ctl::CtlMessage a = ping();
  ASSERT_EQ(c.submit(a, kSecond), CtlClient::Submit::ok);
  ctl::CtlMessage e;
  ctl::ctl_message_init(e, ctl::CtlType::error);
  e.header.request_id = a.header.request_id;
  push_response(0, e);
  ctl::CtlMessage n;
  ctl::ctl_message_init(n, ctl::CtlType::session_terminate);
  n.header.session_id = 42;
  push_response(0, n);
  std::vector<uint16_t> types;
  EXPECT_EQ(c.poll([&](const ctl::CtlMessage& m) { types.push_back(m.header.type); }), 2u);
  EXPECT_EQ(types, (std::vector<uint16_t>{0x86, 0x85}));
  EXPECT_EQ(c.counters().notices, 1u);
  EXPECT_EQ(c.in_flight(), 0u);
}

TEST_F(CtlClientTest, InFlightIsBoundedAndRingFullIsReported) {
  CtlClient c(seg(), {.worker_id = 0});
  beat(kSecond);
  for (uint32_t i = 0; i < shm::kCtlMaxInFlight; ++i) {
    ctl::CtlMessage m = ping();
    ASSERT_EQ(c.submit(m, kSecond), CtlClient::Submit::ok);
  }
  ctl::CtlMessage m = ping();
  EXPECT_EQ(c.submit(m, kSecond), CtlClient::Submit::too_many_in_flight);

  // A second client on worker 1 whose ring is already filled by someone else.
  CtlClient d(seg(), {.worker_id = 1});
  ctl::CtlMessage filler = ping();
  filler.header.request_id = 1;
  while (seg().workers[1].requests.try_push(ctl::ctl_message_bytes(filler))) {}
  EXPECT_EQ(d.submit(m, kSecond), CtlClient::Submit::ring_full);
  EXPECT_EQ(d.in_flight(), 0u);
}

TEST_F(CtlClientTest, ExpireReportsDeadlinesAndEverythingWhenDown) {
  CtlClient c(seg(), {.worker_id = 0, .request_timeout_ns = kSecond});
  beat(10 * kSecond);
  ctl::CtlMessage a = ping(), b = ping();
  ASSERT_EQ(c.submit(a, 10 * kSecond), CtlClient::Submit::ok);
  ASSERT_EQ(c.submit(b, 10 * kSecond + kSecond / 2), CtlClient::Submit::ok);
  std::vector<uint64_t> expired;
  auto collect = [&](uint64_t id, ctl::CtlType t) {
    EXPECT_EQ(t, ctl::CtlType::ping);
    expired.push_back(id);
  };
  EXPECT_EQ(c.expire(10 * kSecond + kSecond / 2, collect), 0u);
  EXPECT_EQ(c.expire(11 * kSecond, collect), 1u);
  EXPECT_EQ(expired, std::vector<uint64_t>{a.header.request_id});
  // The control plane stops (heartbeat cleared): the rest is reported at once.
  beat(0);
  EXPECT_EQ(c.expire(11 * kSecond, collect), 1u);
  EXPECT_EQ(c.in_flight(), 0u);
  EXPECT_EQ(c.counters().timeouts, 2u);
}

TEST(CtlSegmentOwner, RejectsBadArguments) {
  CtlSegmentOwner o;
  EXPECT_NE(o.create("x", 0), "");
  EXPECT_NE(o.create("x", shm::kCtlMaxWorkers + 1), "");
  EXPECT_NE(o.create(std::string(40, 'a'), 1), "");
  EXPECT_EQ(o.segment(), nullptr);
}

TEST(CtlSegmentOwner, CreatesPublishesAndUnlinks) {
  const std::string instance = "t-owner-" + std::to_string(getpid());
  const std::string path = "/dev/shm" + shm::ctl_shm_name(instance);
  {
    CtlSegmentOwner o;
    ASSERT_EQ(o.create(instance, 3, 0xfffffff0u), "");
    EXPECT_EQ(o.segment()->magic.load(), shm::kCtlSegmentMagic);
    EXPECT_EQ(o.segment()->n_workers, 3u);
    EXPECT_EQ(o.segment()->workers[2].requests.head.load(), 0xfffffff0u);
    EXPECT_EQ(access(path.c_str(), F_OK), 0);
  }
  EXPECT_NE(access(path.c_str(), F_OK), 0);
}

}  // namespace
}  // namespace tg::dataplane
