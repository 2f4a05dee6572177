// controlplane/session_registry: malformed and unknown cookies first, then expiry (lifetime
// and detached timeout), reconnect (reuse while up replaces the tunnel), stale detaches,
// limits, adoption of a previous control plane's sessions, and wolfCrypt cookies.
#include "controlplane/session_registry.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <set>
#include <vector>

#include "tests/controlplane/ctl_test_support.h"

namespace tg::controlplane {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;

using CountingRandom = test::SplitMixRandom;

struct Removed {
  uint64_t id;
  SessionEnd why;
};

class SessionRegistryTest : public testing::Test {
 protected:
  SessionRegistry make(SessionRegistry::Options o = {}) {
    return SessionRegistry(o, random_, [this](const Session& s, SessionEnd why) {
      removed_.push_back({s.id, why});
    });
  }
  CountingRandom random_;
  std::vector<Removed> removed_;
};

TEST_F(SessionRegistryTest, MalformedAndUnknownCookies) {
  auto r = make();
  ASSERT_TRUE(r.create("alice", "", "", 0));
  const std::string good = (*r.create("bob", "", "", 0))->cookie;
  EXPECT_TRUE(SessionRegistry::cookie_well_formed(good));
  std::string upper = good;
  upper[0] = 'A';
  for (const std::string& c : {std::string(), std::string(63, 'a'), std::string(65, 'a'),
                               std::string(64, 'g'), upper, std::string(64, 'a')}) {
    EXPECT_EQ(r.find_by_cookie(c, 0), nullptr) << c;
  }
  EXPECT_NE(r.find_by_cookie(good, 0), nullptr);
}

TEST_F(SessionRegistryTest, RngFailureAndSessionLimit) {
  auto r = make({.max_sessions = 2});
  ASSERT_TRUE(r.create("a", "", "", 0));
  random_.fail = true;
  auto e = r.create("b", "", "", 0);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, EIO);
  random_.fail = false;
  ASSERT_TRUE(r.create("b", "", "", 0));
  auto full = r.create("c", "", "", 0);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ENOSPC);
  EXPECT_EQ(r.size(), 2u);
}

TEST_F(SessionRegistryTest, DetachedTimeoutAndLifetime) {
  auto r = make({.lifetime_ns = 100 * kSecond, .detached_timeout_ns = 10 * kSecond});
  Session* a = *r.create("a", "", "", 0);
  const std::string cookie_a = a->cookie;
  const uint64_t id_a = a->id;
  // Never connected: gone after the detached timeout.
  EXPECT_NE(r.find_by_cookie(cookie_a, 9 * kSecond), nullptr);
  EXPECT_EQ(r.find_by_cookie(cookie_a, 10 * kSecond), nullptr);
  ASSERT_EQ(removed_.size(), 1u);
  EXPECT_EQ(removed_[0].id, id_a);
  EXPECT_EQ(removed_[0].why, SessionEnd::detached_timeout);

  // Connected: survives long gaps, but not its lifetime.
  Session* b = *r.create("b", "", "", 20 * kSecond);
  const std::string cookie_b = b->cookie;
  r.attach(*b, 0);
  EXPECT_NE(r.find_by_cookie(cookie_b, 115 * kSecond), nullptr);
  EXPECT_EQ(r.find_by_cookie(cookie_b, 120 * kSecond), nullptr);
  EXPECT_EQ(removed_.back().why, SessionEnd::expired);
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(r.attached_count(), 0u);
}

// Test that a second CONNECT with the cookie while the first tunnel is up replaces it
// (openconnect's reconnect), and that the old tunnel's late close has no effect.
TEST_F(SessionRegistryTest, ReuseWhileUpReplacesTheTunnel) {
  auto r = make();
  Session* s = *r.create("a", "", "", 0);
  s->address = 42;
  auto first = r.attach(*s, 3);
  EXPECT_FALSE(first.replaced);
  const uint32_t seq1 = s->attach_seq;
  auto second = r.attach(*r.find_by_cookie(s->cookie, kSecond), 5);
  EXPECT_TRUE(second.replaced);
  EXPECT_EQ(second.old_worker, 3u);
  EXPECT_EQ(second.old_attach_seq, seq1);
  EXPECT_EQ(s->worker, 5u);
  EXPECT_EQ(s->address, 42u);  // same lease
  EXPECT_FALSE(r.detach(s->id, seq1, 2 * kSecond));  // the replaced tunnel's close
  EXPECT_TRUE(s->attached);
  EXPECT_TRUE(r.detach(s->id, s->attach_seq, 2 * kSecond));
  EXPECT_FALSE(r.detach(s->id, s->attach_seq, 2 * kSecond));  // twice
  EXPECT_EQ(r.attached_count(), 0u);
  // Detached: the cookie still works within the detached timeout (reconnect after DPD).
  EXPECT_NE(r.find_by_cookie(s->cookie, 100 * kSecond), nullptr);
}

TEST_F(SessionRegistryTest, RemoveDetachAllAndSweep) {
  auto r = make({.detached_timeout_ns = 10 * kSecond});
  Session* a = *r.create("a", "", "", 0);
  Session* b = *r.create("b", "", "", 0);
  const uint64_t id_b = b->id;
  r.attach(*a, 0);
  r.attach(*b, 1);
  EXPECT_TRUE(r.remove(a->id, SessionEnd::logout));
  EXPECT_FALSE(r.remove(12345, SessionEnd::logout));
  EXPECT_EQ(removed_.back().why, SessionEnd::logout);
  r.detach_all(5 * kSecond);
  EXPECT_EQ(r.attached_count(), 0u);
  EXPECT_EQ(r.sweep(14 * kSecond), 0u);
  EXPECT_EQ(r.sweep(15 * kSecond), 1u);
  EXPECT_EQ(removed_.back().id, id_b);
  EXPECT_EQ(r.size(), 0u);
}

TEST_F(SessionRegistryTest, IdsAndCookiesAreUnique) {
  auto r = make({.max_sessions = 1000});
  std::set<uint64_t> ids;
  std::set<std::string> cookies;
  for (int i = 0; i < 500; ++i) {
    Session* s = *r.create("u", "", "", 0);
    EXPECT_TRUE(ids.insert(s->id).second);
    EXPECT_TRUE(cookies.insert(s->cookie).second);
  }
}

SessionRegistry::Adopted adopted(uint64_t id, char cookie_digit, uint64_t expires_ns) {
  SessionRegistry::Adopted a;
  a.id = id;
  a.cookie = std::string(64, cookie_digit);
  a.user = "alice";
  a.group = "staff";
  a.app = "mail";
  a.worker = 3;
  a.attach_seq = 7;
  a.expires_ns = expires_ns;
  a.address = 0x0a0a0005;
  a.pool = "clients";
  a.client = "192.0.2.2:40000";
  return a;
}

TEST_F(SessionRegistryTest, AdoptKeepsIdCookieAndTunnel) {
  auto r = make({.lifetime_ns = 100 * kSecond});
  const uint64_t now = 1000 * kSecond;
  auto s = r.adopt(adopted(0xabcd000000000042ull, 'a', now + 60 * kSecond), now);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ((*s)->id, 0xabcd000000000042ull);
  EXPECT_TRUE((*s)->attached);
  EXPECT_EQ((*s)->worker, 3u);
  EXPECT_EQ((*s)->attach_seq, 7u);
  EXPECT_EQ((*s)->created_ns, now - 40 * kSecond);  // expires_ns - lifetime
  EXPECT_EQ((*s)->client, "192.0.2.2:40000");
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(r.attached_count(), 1u);
  EXPECT_EQ(r.find_by_cookie(std::string(64, 'a'), now), *s);
  // The tunnel it reported is the current one: its close detaches, a reconnect replaces it.
  EXPECT_FALSE(r.detach((*s)->id, 6, now));
  const SessionRegistry::Attach att = r.attach(**s, 1);
  EXPECT_TRUE(att.replaced);
  EXPECT_EQ(att.old_worker, 3u);
  EXPECT_EQ(att.old_attach_seq, 7u);
  EXPECT_EQ((*s)->attach_seq, 8u);
  // Its lifetime still ends when the previous control plane said.
  EXPECT_EQ(r.sweep(now + 60 * kSecond), 1u);
  EXPECT_EQ(removed_.back().why, SessionEnd::expired);
}

TEST_F(SessionRegistryTest, AdoptRefusesCollisionsAndBadInput) {
  auto r = make({.max_sessions = 2});
  const uint64_t now = 10 * kSecond;
  const uint64_t later = now + 100 * kSecond;
  ASSERT_TRUE(r.adopt(adopted(0x1111000000000001ull, 'a', later), now));
  struct Case {
    const char* what;
    SessionRegistry::Adopted a;
    int code;
  };
  const Case cases[] = {
      {"same id, other cookie", adopted(0x1111000000000001ull, 'b', later), EEXIST},
      {"other id, same cookie", adopted(0x2222000000000001ull, 'a', later), EEXIST},
      {"id 0", adopted(0, 'c', later), EINVAL},
      {"cookie of 63 digits", [&] { auto a = adopted(3, 'c', later); a.cookie.pop_back(); return a; }(), EINVAL},
      {"upper-case cookie", adopted(3, 'C', later), EINVAL},
      {"lifetime over", adopted(3, 'c', now), ETIME},
  };
  for (const Case& c : cases) {
    auto s = r.adopt(c.a, now);
    ASSERT_FALSE(s) << c.what;
    EXPECT_EQ(s.error().code, c.code) << c.what;
  }
  EXPECT_EQ(r.size(), 1u);
  ASSERT_TRUE(r.adopt(adopted(0x3333000000000001ull, 'd', later), now));
  auto full = r.adopt(adopted(0x4444000000000001ull, 'e', later), now);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ENOSPC);
  EXPECT_EQ(r.attached_count(), 2u);
}

TEST_F(SessionRegistryTest, NewIdsNeverCollideWithAdoptedOnes) {
  auto r = make();
  // Learn this registry's random high bits from a first session, then adopt ids just above
  // it with the same high bits (a previous control plane that drew the same 32 bits).
  Session* first = *r.create("u", "", "", 0);
  const uint64_t high = first->id & 0xffffffff00000000ull;
  const uint64_t low = first->id & 0xffffffffull;
  for (uint64_t i = 1; i <= 3; ++i) {
    ASSERT_TRUE(r.adopt(adopted(high | (low + i), static_cast<char>('a' + i), 100 * kSecond), 0));
  }
  std::set<uint64_t> ids = {first->id, high | (low + 1), high | (low + 2), high | (low + 3)};
  for (int i = 0; i < 10; ++i) {
    Session* s = *r.create("u", "", "", 0);
    EXPECT_TRUE(ids.insert(s->id).second) << std::hex << s->id;
    EXPECT_GT(s->id, high | (low + 3));
  }
}

TEST(WolfRandom, CookiesFromWolfCrypt) {
  WolfRandom rng;
  ASSERT_TRUE(rng.ok());
  SessionRegistry r({}, rng, nullptr);
  std::set<std::string> cookies;
  for (int i = 0; i < 100; ++i) {
    Session* s = *r.create("u", "", "", 0);
    EXPECT_TRUE(SessionRegistry::cookie_well_formed(s->cookie));
    EXPECT_TRUE(cookies.insert(s->cookie).second);
  }
}

}  // namespace
}  // namespace tg::controlplane
