// The lcores' policy verdict cache (dataplane/policy_cache.h): what it returns is what was
// put in for that exact key and table generation, or nothing.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>

#include "dataplane/policy_cache.h"

namespace tg::dp {
namespace {

PolicyKey key(uint8_t proto, uint32_t addr, uint16_t port, uint16_t app) {
  PolicyKey k{};
  k.proto = proto;
  k.remote_addr = addr;
  k.remote_port = port;
  k.app = app;
  return k;
}

TEST(PolicyVerdictCache, EmptyFindsNothing) {
  auto cache = std::make_unique<PolicyVerdictCache>();
  cache->use_generation(1);
  PolicyVerdict v = PolicyVerdict::count;
  EXPECT_FALSE(cache->find(key(17, 0x0a000001, 53, 1), &v));
  EXPECT_FALSE(cache->find(key(0, 0, 0, 0), &v));  // the all-zero key is not "empty"
  EXPECT_EQ(v, PolicyVerdict::count);
}

// Test that every field of the key tells keys apart: a key differing from a cached one in
// any single field (protocol, address, port, app) is not answered with its verdict.
TEST(PolicyVerdictCache, EveryFieldIsPartOfTheKey) {
  auto cache = std::make_unique<PolicyVerdictCache>();
  cache->use_generation(3);
  const PolicyKey base = key(6, 0xc6120a0b, 0x5000, 7);
  cache->insert(base, PolicyVerdict::deny_port);
  PolicyVerdict v{};
  ASSERT_TRUE(cache->find(base, &v));
  EXPECT_EQ(v, PolicyVerdict::deny_port);
  for (const PolicyKey& other : {key(17, 0xc6120a0b, 0x5000, 7), key(6, 0xc6120a0c, 0x5000, 7),
                                 key(6, 0xc6120a0b, 0x5001, 7), key(6, 0xc6120a0b, 0x5000, 8)}) {
    EXPECT_FALSE(cache->find(other, &v));
  }
}

// Test that a verdict never outlives its table: another generation empties the cache, and
// giving the same generation again keeps what it holds.
TEST(PolicyVerdictCache, AnotherGenerationEmptiesIt) {
  auto cache = std::make_unique<PolicyVerdictCache>();
  const PolicyKey k = key(17, 0xc6120101, 443, 1);
  cache->use_generation(1);
  cache->insert(k, PolicyVerdict::allow);
  cache->use_generation(1);
  PolicyVerdict v{};
  EXPECT_TRUE(cache->find(k, &v));
  cache->use_generation(2);
  EXPECT_FALSE(cache->find(k, &v));
}

// Test that app indices past 8 bits are never cached (they would alias a smaller index in
// the packed key): policy_classify must judge them every time (deny_no_app).
TEST(PolicyVerdictCache, AppsPastEightBitsAreNotCached) {
  auto cache = std::make_unique<PolicyVerdictCache>();
  cache->use_generation(1);
  cache->insert(key(17, 1, 2, 256), PolicyVerdict::allow);
  PolicyVerdict v{};
  EXPECT_FALSE(cache->find(key(17, 1, 2, 256), &v));
  EXPECT_FALSE(cache->find(key(17, 1, 2, 0), &v));
}

// Test against a map of everything inserted, with many more keys than entries: a hit is
// always the last verdict inserted for that key (collisions replace, never mix up).
TEST(PolicyVerdictCache, HitsAreAlwaysTheLastVerdictOfTheirKey) {
  auto cache = std::make_unique<PolicyVerdictCache>();
  cache->use_generation(9);
  std::map<uint64_t, PolicyVerdict> truth;
  std::mt19937 rng(5);
  unsigned hits = 0;
  for (int i = 0; i < 20000; i++) {
    const PolicyKey k = key(static_cast<uint8_t>(rng() % 3 == 0 ? 6 : 17), 0xc6120000 | (rng() % 2048),
                            static_cast<uint16_t>(rng() % 4), static_cast<uint16_t>(rng() % 4));
    PolicyVerdict v{};
    if (cache->find(k, &v)) {
      hits++;
      ASSERT_EQ(v, truth.at(PolicyVerdictCache::pack(k))) << i;
    } else {
      v = static_cast<PolicyVerdict>(rng() % kPolicyVerdicts);
      cache->insert(k, v);
      truth[PolicyVerdictCache::pack(k)] = v;
    }
  }
  EXPECT_GT(hits, 0u);
  EXPECT_LT(hits, 20000u);
}

}  // namespace
}  // namespace tg::dp
