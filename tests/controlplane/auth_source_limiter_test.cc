// controlplane/auth_source_limiter: the per-source failure budget, driven by an injected
// clock (no sleeps). Sources without an address first, then the threshold, the refill,
// prefix grouping, eviction of a full table, the log cap, the sweep, the reason table, and
// a randomized comparison with a naive token bucket.
#include "controlplane/auth_source_limiter.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace tg::controlplane {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;
using ctl::CtlAddress;
using ctl::CtlReason;

CtlAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port = 40000) {
  CtlAddress x{};
  x.family = 4;
  x.port = port;
  x.bytes[0] = a;
  x.bytes[1] = b;
  x.bytes[2] = c;
  x.bytes[3] = d;
  return x;
}

AuthSourceLimiter::Options opts(uint32_t n, uint64_t window_s, uint8_t prefix = 32,
                                uint32_t capacity = 1024) {
  AuthSourceLimiter::Options o;
  o.max_failures = n;
  o.window_ns = window_s * kSecond;
  o.prefix_len = prefix;
  o.capacity = capacity;
  return o;
}

TEST(AuthSourceLimiter, NoAddressIsNeverLimited) {
  AuthSourceLimiter l(opts(1, 60));
  const CtlAddress none{};
  for (int i = 0; i < 10; ++i) l.record_failure(none, 1000 * kSecond);
  EXPECT_FALSE(l.check(none, 1000 * kSecond).refused);
  EXPECT_EQ(l.size(), 0u);
  EXPECT_EQ(l.source_text(none), "");
}

TEST(AuthSourceLimiter, RefusedAfterNFailuresUntilTheBucketRefills) {
  // 3 failures per 30 s: 3 at once, then one every 10 s.
  AuthSourceLimiter l(opts(3, 30));
  const CtlAddress a = v4(192, 0, 2, 7);
  uint64_t t = 1000 * kSecond;
  for (int i = 0; i < 2; ++i) {
    EXPECT_FALSE(l.check(a, t).refused) << i;
    l.record_failure(a, t);
  }
  EXPECT_FALSE(l.check(a, t).refused) << "N-1 failures: still allowed";
  l.record_failure(a, t);
  AuthSourceLimiter::Decision d = l.check(a, t);
  ASSERT_TRUE(d.refused);
  EXPECT_EQ(d.retry_after_ns, 10 * kSecond);
  // Refused attempts do not count: hammering does not extend the wait.
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(l.check(a, t + i * kSecond / 20).refused);
  EXPECT_TRUE(l.check(a, t + 10 * kSecond - 1).refused);
  EXPECT_FALSE(l.check(a, t + 10 * kSecond).refused) << "one failure's worth refilled";
  // One more failure then empties it again, for another 10 s.
  l.record_failure(a, t + 10 * kSecond);
  d = l.check(a, t + 10 * kSecond);
  EXPECT_TRUE(d.refused);
  EXPECT_EQ(d.retry_after_ns, 10 * kSecond);
  // After a whole window without failures the bucket is full: 3 failures again.
  t += 50 * kSecond;
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(l.check(a, t).refused) << i;
    l.record_failure(a, t);
  }
  EXPECT_TRUE(l.check(a, t).refused);
}

TEST(AuthSourceLimiter, SlowFailuresNeverLimit) {
  AuthSourceLimiter l(opts(3, 30));
  const CtlAddress a = v4(192, 0, 2, 7);
  for (uint64_t i = 0; i < 100; ++i) {  // one failure per 10 s = exactly the refill rate
    ASSERT_FALSE(l.check(a, i * 10 * kSecond).refused) << i;
    l.record_failure(a, i * 10 * kSecond);
  }
}

TEST(AuthSourceLimiter, PrefixGroupsAddresses) {
  AuthSourceLimiter per_address(opts(2, 60, 32));
  AuthSourceLimiter per_24(opts(2, 60, 24));
  const uint64_t t = 1000 * kSecond;
  for (AuthSourceLimiter* l : {&per_address, &per_24}) {
    l->record_failure(v4(10, 1, 2, 3), t);
    l->record_failure(v4(10, 1, 2, 200, 1), t);  // another address (and port) in the /24
  }
  EXPECT_FALSE(per_address.check(v4(10, 1, 2, 3), t).refused);
  EXPECT_FALSE(per_address.check(v4(10, 1, 2, 200), t).refused);
  EXPECT_TRUE(per_24.check(v4(10, 1, 2, 3), t).refused);
  EXPECT_TRUE(per_24.check(v4(10, 1, 2, 99), t).refused);
  EXPECT_FALSE(per_24.check(v4(10, 1, 3, 3), t).refused) << "the next /24 is another source";
  EXPECT_EQ(per_24.size(), 1u);
  EXPECT_EQ(per_24.source_text(v4(10, 1, 2, 99)), "10.1.2.0/24");
  EXPECT_EQ(per_address.source_text(v4(10, 1, 2, 99)), "10.1.2.99/32");
  AuthSourceLimiter per_8(opts(2, 60, 8));
  EXPECT_EQ(per_8.key_of(v4(10, 200, 2, 3)), per_8.key_of(v4(10, 1, 1, 1)));
  EXPECT_NE(per_8.key_of(v4(10, 200, 2, 3)), per_8.key_of(v4(11, 200, 2, 3)));
}

TEST(AuthSourceLimiter, Ipv6SourcesAreGroupedBy64) {
  AuthSourceLimiter l(opts(1, 60));
  CtlAddress a{};
  a.family = 6;
  a.bytes[0] = 0x20;
  a.bytes[1] = 0x01;
  a.bytes[2] = 0x0d;
  a.bytes[3] = 0xb8;
  a.bytes[15] = 1;
  CtlAddress same_64 = a;
  same_64.bytes[15] = 2;
  CtlAddress other_64 = a;
  other_64.bytes[7] = 1;
  l.record_failure(a, kSecond);
  EXPECT_TRUE(l.check(same_64, kSecond).refused);
  EXPECT_FALSE(l.check(other_64, kSecond).refused);
  EXPECT_EQ(l.source_text(a), "2001:db8:0:0::/64");
  // An IPv4 address whose bits look like the /64 is another source.
  EXPECT_FALSE(l.check(v4(0, 0, 0, 0), kSecond).refused);
}

TEST(AuthSourceLimiter, FullTableEvictsTheLeastRecentlyFailed) {
  AuthSourceLimiter l(opts(1, 3600, 32, 16));
  uint64_t t = 1000 * kSecond;
  for (uint8_t i = 0; i < 16; ++i) l.record_failure(v4(192, 0, 2, i), t + i);
  EXPECT_EQ(l.size(), 16u);
  EXPECT_EQ(l.stats().tracked.load(), 16u);
  // Source 0 fails again: now the most recent; source 1 is the oldest.
  l.record_failure(v4(192, 0, 2, 0), t + 100);
  EXPECT_EQ(l.stats().evicted.load(), 0u);
  // A flood of new sources: each evicts the least recently failed, memory stays at 16.
  for (uint8_t i = 100; i < 105; ++i) l.record_failure(v4(192, 0, 2, i), t + 200 + i);
  EXPECT_EQ(l.size(), 16u);
  EXPECT_EQ(l.stats().evicted.load(), 5u);
  EXPECT_TRUE(l.check(v4(192, 0, 2, 0), t + 1000).refused) << "touched recently: kept";
  for (uint8_t i = 1; i <= 5; ++i) {
    EXPECT_FALSE(l.check(v4(192, 0, 2, i), t + 1000).refused) << "evicted " << int{i};
  }
  for (uint8_t i = 6; i < 16; ++i) EXPECT_TRUE(l.check(v4(192, 0, 2, i), t + 1000).refused) << int{i};
  for (uint8_t i = 100; i < 105; ++i) EXPECT_TRUE(l.check(v4(192, 0, 2, i), t + 1000).refused) << int{i};
  // Many more than the capacity: still 16.
  for (uint32_t i = 0; i < 5000; ++i) {
    l.record_failure(v4(10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)),
                     t + 2000 + i);
  }
  EXPECT_EQ(l.size(), 16u);
  EXPECT_EQ(l.stats().evicted.load(), 5005u);
}

TEST(AuthSourceLimiter, SweepForgetsRefilledSourcesAndCountsLimitedOnes) {
  AuthSourceLimiter l(opts(2, 20));
  const uint64_t t = 1000 * kSecond;
  l.record_failure(v4(192, 0, 2, 1), t);  // half the budget
  l.record_failure(v4(192, 0, 2, 2), t);  // all of it
  l.record_failure(v4(192, 0, 2, 2), t);
  l.sweep(t);
  EXPECT_EQ(l.stats().tracked.load(), 2u);
  EXPECT_EQ(l.stats().limited.load(), 1u);
  l.sweep(t + 10 * kSecond);  // .1 full again, .2 has one failure's room
  EXPECT_EQ(l.stats().tracked.load(), 1u);
  EXPECT_EQ(l.stats().limited.load(), 0u);
  l.sweep(t + 20 * kSecond);
  EXPECT_EQ(l.stats().tracked.load(), 0u);
  EXPECT_EQ(l.size(), 0u);
  // A swept source starts with a full budget.
  l.record_failure(v4(192, 0, 2, 2), t + 20 * kSecond);
  EXPECT_FALSE(l.check(v4(192, 0, 2, 2), t + 20 * kSecond).refused);
}

TEST(AuthSourceLimiter, LogsOncePerLimitedPeriodWithinTheCap) {
  AuthSourceLimiter::Options o = opts(1, 10);
  o.log_lines_per_second = 2;
  AuthSourceLimiter l(o);
  const uint64_t t = 1000 * kSecond;
  for (uint8_t i = 0; i < 5; ++i) l.record_failure(v4(192, 0, 2, i), t);
  EXPECT_TRUE(l.check(v4(192, 0, 2, 0), t).log);
  EXPECT_FALSE(l.check(v4(192, 0, 2, 0), t).log) << "second refusal of the same period";
  EXPECT_TRUE(l.check(v4(192, 0, 2, 1), t).log);
  EXPECT_FALSE(l.check(v4(192, 0, 2, 2), t).log) << "over 2 lines this second";
  EXPECT_FALSE(l.check(v4(192, 0, 2, 3), t).log);
  const AuthSourceLimiter::Decision d = l.check(v4(192, 0, 2, 4), t + kSecond);
  EXPECT_TRUE(d.refused);
  EXPECT_TRUE(d.log);
  EXPECT_EQ(d.suppressed, 2u) << "the next line says how many were not written";
  EXPECT_TRUE(l.check(v4(192, 0, 2, 2), t + kSecond).log) << "not yet logged: logged now";
  // Allowed again, then limited again: a new period, a new line.
  EXPECT_FALSE(l.check(v4(192, 0, 2, 0), t + 10 * kSecond).refused);
  l.record_failure(v4(192, 0, 2, 0), t + 10 * kSecond);
  EXPECT_TRUE(l.check(v4(192, 0, 2, 0), t + 10 * kSecond).log);
}

TEST(AuthSourceLimiter, WhichRefusalsCount) {
  for (CtlReason r : {CtlReason::bad_credentials, CtlReason::rate_limited, CtlReason::cert_unknown_ca,
                      CtlReason::cert_expired, CtlReason::cert_malformed, CtlReason::cert_revoked,
                      CtlReason::token_malformed, CtlReason::token_bad_signature, CtlReason::token_expired,
                      CtlReason::token_no_user}) {
    EXPECT_TRUE(auth_failure_counts(r)) << ctl::ctl_reason_name(r);
  }
  for (CtlReason r : {CtlReason::none, CtlReason::group_not_allowed, CtlReason::method_disabled,
                      CtlReason::session_limit, CtlReason::no_app, CtlReason::unknown_app,
                      CtlReason::internal, CtlReason::crl_expired, CtlReason::source_rate_limited}) {
    EXPECT_FALSE(auth_failure_counts(r)) << ctl::ctl_reason_name(r);
  }
}

// The same decisions as a deliberately naive token bucket (a budget of window ns that
// refills one ns per ns; a failure costs window/N; refused below one failure's cost), over
// random failures from a few sources, with sweeps in between.
TEST(AuthSourceLimiter, MatchesANaiveTokenBucket) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 20; ++round) {
    const uint32_t n = 1 + static_cast<uint32_t>(rng() % 6);
    const uint64_t window = (1 + rng() % 30) * kSecond;
    AuthSourceLimiter l(opts(n, window / kSecond, 32, 1024));
    const uint64_t cost = window / n;
    struct Bucket {
      uint64_t budget;
      uint64_t last;
    };
    std::map<uint8_t, Bucket> naive;
    uint64_t t = 5000 * kSecond;
    for (int step = 0; step < 2000; ++step) {
      t += rng() % (3 * kSecond);
      const auto src = static_cast<uint8_t>(rng() % 4);
      auto it = naive.try_emplace(src, Bucket{window, t}).first;
      Bucket& b = it->second;
      b.budget = std::min(window, b.budget + (t - b.last));
      b.last = t;
      const bool naive_refused = b.budget < cost;
      ASSERT_EQ(l.check(v4(192, 0, 2, src), t).refused, naive_refused) << "round " << round << " step " << step;
      if (!naive_refused && rng() % 3 != 0) {  // two thirds of the allowed attempts fail
        b.budget -= cost;
        l.record_failure(v4(192, 0, 2, src), t);
      }
      if (rng() % 50 == 0) l.sweep(t);
    }
  }
}

}  // namespace
}  // namespace tg::controlplane
