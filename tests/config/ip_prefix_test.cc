// IpAddr / IpPrefix: rejected forms first, then known answers, then a randomized comparison
// of contains()/overlaps() with a deliberately naive bit-string reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>
#include <string>

#include "config/config.h"

namespace tg::config {
namespace {

// ---------------------------------------------------------------- invalid input

TEST(IpPrefixInvalid, ParseIpRejectsNonAddresses) {
  for (const char* text :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4/32",
        "garbage", "::g", "1:2:3:4:5:6:7:8:9", "0x01.2.3.4"}) {
    EXPECT_FALSE(parse_ip(text).has_value()) << text;
  }
  EXPECT_FALSE(parse_ip(std::string("1.2.3.4\0junk", 12)).has_value()) << "embedded NUL";
}

TEST(IpPrefixInvalid, ParsePrefixRejectsBadForms) {
  for (const char* text : {"",
                           "/",
                           "/24",
                           "1.2.3.4/",
                           "1.2.3.4",
                           "1.2.3/24",
                           "01.2.3.4/24",
                           "1.2.3.4/33",
                           "1.2.3.4/-1",
                           "1.2.3.4/+24",
                           "1.2.3.4/024",
                           "1.2.3.4/ 24",
                           "1.2.3.4 /24",
                           "1.2.3.4/24 ",
                           "1.2.3.4/24/8",
                           "1.2.3.4/1000",
                           "1.2.3.4/2a",
                           "2001:db8::/129",
                           "2001:db8::/",
                           "garbage/8",
                           "1.2.3.4/4294967320"}) {
    EXPECT_FALSE(parse_prefix(text).has_value()) << text;
  }
}

// ---------------------------------------------------------------- known answers

TEST(IpPrefix, ParsesBothFamilies) {
  const auto v4 = parse_ip("192.0.2.1");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->v4_host(), 0xC0000201u);
  EXPECT_EQ(*v4, IpAddr::from_v4_host(0xC0000201u));
  EXPECT_EQ(to_string(*v4), "192.0.2.1");

  const auto v6 = parse_ip("2001:db8::1");
  ASSERT_TRUE(v6);
  EXPECT_FALSE(v6->is_v4());
  EXPECT_EQ(to_string(*v6), "2001:db8::1");

  const auto p = parse_prefix("192.0.2.77/24");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->len, 24);
  EXPECT_EQ(to_string(*p), "192.0.2.77/24");  // host bits are kept as written
  EXPECT_EQ(to_string(p->network()), "192.0.2.0/24");

  EXPECT_EQ(to_string(*parse_prefix("0.0.0.0/0")), "0.0.0.0/0");
  EXPECT_EQ(to_string(*parse_prefix("10.1.2.3/32")), "10.1.2.3/32");
  EXPECT_EQ(to_string(parse_prefix("2001:db8:1:2::7/64")->network()), "2001:db8:1:2::/64");
  EXPECT_EQ(to_string(parse_prefix("2001:db8::1/127")->network()), "2001:db8::/127");
}

TEST(IpPrefix, ContainsAndOverlapsKnownAnswers) {
  const auto p24 = *parse_prefix("198.18.1.0/24");
  EXPECT_TRUE(p24.contains(*parse_ip("198.18.1.255")));
  EXPECT_FALSE(p24.contains(*parse_ip("198.18.2.0")));
  EXPECT_TRUE(parse_prefix("0.0.0.0/0")->contains(*parse_ip("203.0.113.9")));
  EXPECT_FALSE(parse_prefix("0.0.0.0/0")->contains(*parse_ip("::1")));  // other family
  EXPECT_TRUE(parse_prefix("198.18.1.0/25")->overlaps(p24));
  EXPECT_TRUE(p24.overlaps(*parse_prefix("198.18.1.128/25")));
  EXPECT_FALSE(parse_prefix("198.18.0.0/24")->overlaps(p24));
  EXPECT_TRUE(parse_prefix("198.18.0.0/15")->overlaps(p24));
  // Families never overlap, not even ::/0 with 0.0.0.0/0 or v4-mapped addresses.
  EXPECT_FALSE(parse_prefix("::/0")->overlaps(*parse_prefix("0.0.0.0/0")));
  EXPECT_FALSE(parse_prefix("::ffff:198.18.1.0/120")->overlaps(p24));
  EXPECT_TRUE(parse_prefix("2001:db8::/32")->overlaps(*parse_prefix("2001:db8:ff::/48")));
}

// ---------------------------------------------------------------- naive reference

// The address as a string of '0'/'1', one character per bit: slow and obviously right.
std::string bits_of(const IpAddr& a) {
  const size_t n = a.is_v4() ? 4 : 16;
  std::string out;
  for (size_t i = 0; i < n; ++i)
    for (int b = 7; b >= 0; --b) out += ((a.bytes[i] >> b) & 1) ? '1' : '0';
  return out;
}

bool naive_contains(const IpPrefix& p, const IpAddr& a) {
  return p.addr.family == a.family &&
         bits_of(p.addr).substr(0, p.len) == bits_of(a).substr(0, p.len);
}

bool naive_overlaps(const IpPrefix& x, const IpPrefix& y) {
  if (x.addr.family != y.addr.family) return false;
  const std::string bx = bits_of(x.addr).substr(0, x.len);
  const std::string by = bits_of(y.addr).substr(0, y.len);
  return bx.starts_with(by) || by.starts_with(bx);
}

// Random prefixes that often share leading bits: a few base addresses per family with a
// couple of random bit flips, so overlaps are neither always nor never true.
class PrefixSource {
 public:
  explicit PrefixSource(uint32_t seed) : rng_(seed) {
    for (auto& base : bases_)
      for (auto& byte : base.bytes) byte = static_cast<uint8_t>(rng_());
  }
  IpAddr address() {
    IpAddr a = bases_[rng_() % bases_.size()];
    a.family = (rng_() % 2) ? IpAddr::Family::v4 : IpAddr::Family::v6;
    if (a.is_v4()) std::fill(a.bytes.begin() + 4, a.bytes.end(), 0);
    const unsigned bits = a.is_v4() ? 32 : 128;
    for (int flips = static_cast<int>(rng_() % 3); flips > 0; --flips) {
      const unsigned bit = rng_() % bits;
      a.bytes[bit / 8] ^= static_cast<uint8_t>(0x80u >> (bit % 8));
    }
    return a;
  }
  IpPrefix prefix() {
    IpPrefix p;
    p.addr = address();
    p.len = static_cast<uint8_t>(rng_() % ((p.addr.is_v4() ? 32 : 128) + 1));
    return p;
  }

 private:
  std::mt19937 rng_;
  std::array<IpAddr, 3> bases_{};
};

TEST(IpPrefixProperty, MatchesNaiveReference) {
  constexpr uint32_t kSeed = 20240501;  // fixed: a failure reproduces
  constexpr int kRounds = 20000;
  PrefixSource source(kSeed);
  int overlapping = 0;
  int containing = 0;
  for (int i = 0; i < kRounds; ++i) {
    const IpPrefix x = source.prefix();
    const IpPrefix y = source.prefix();
    const IpAddr a = source.address();
    ASSERT_EQ(x.overlaps(y), naive_overlaps(x, y)) << to_string(x) << " vs " << to_string(y);
    ASSERT_EQ(x.overlaps(y), y.overlaps(x)) << to_string(x) << " vs " << to_string(y);
    ASSERT_EQ(x.contains(a), naive_contains(x, a)) << to_string(x) << " contains " << to_string(a);
    ASSERT_TRUE(x.contains(x.addr));
    ASSERT_EQ(x.network(), x.network().network());
    ASSERT_TRUE(x.network().overlaps(x));
    // Round trip through text.
    ASSERT_EQ(parse_prefix(to_string(x)), x);
    overlapping += x.overlaps(y);
    containing += x.contains(a);
  }
  // The generator must exercise both outcomes, or the comparison proves little.
  EXPECT_GT(overlapping, kRounds / 20);
  EXPECT_LT(overlapping, kRounds - kRounds / 20);
  EXPECT_GT(containing, kRounds / 20);
  EXPECT_LT(containing, kRounds - kRounds / 20);
}

}  // namespace
}  // namespace tg::config
