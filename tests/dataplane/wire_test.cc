// Parsers of outside input: malformed input first (STYLE #24), then the good cases.
#include <gtest/gtest.h>

#include <vector>

#include "dataplane/wire.h"

namespace tg::dp {
namespace {

std::vector<uint8_t> ipv4_header(uint8_t proto, uint32_t src, uint32_t dst, uint16_t total_len, uint8_t ttl = 64) {
  std::vector<uint8_t> h(total_len, 0);
  h[0] = 0x45;
  h[2] = static_cast<uint8_t>(total_len >> 8);
  h[3] = static_cast<uint8_t>(total_len);
  h[8] = ttl;
  h[9] = proto;
  for (int i = 0; i < 4; i++) {
    h[12 + i] = static_cast<uint8_t>(src >> (24 - 8 * i));
    h[16 + i] = static_cast<uint8_t>(dst >> (24 - 8 * i));
  }
  uint16_t c = static_cast<uint16_t>(~ones_complement_sum(h.data(), 20));
  h[10] = static_cast<uint8_t>(c >> 8);
  h[11] = static_cast<uint8_t>(c);
  return h;
}

constexpr uint32_t kSrc = 0xC0000202;  // 192.0.2.2
constexpr uint32_t kDst = 0xC612010A;  // 198.18.1.10

TEST(Ipv4Parse, RejectsEveryTruncation) {
  auto h = ipv4_header(17, kSrc, kDst, 28);
  Ipv4Info info;
  for (uint32_t len = 0; len < 20; len++) EXPECT_EQ(parse_ipv4(h.data(), len, &info), DropReason::runt) << len;
  // Total length claims more than the frame holds.
  EXPECT_EQ(parse_ipv4(h.data(), 27, &info), DropReason::ipv4_bad_header);
  EXPECT_EQ(parse_ipv4(h.data(), 28, &info), kPass);
}

TEST(Ipv4Parse, RejectsBadVersionIhlLengthAndChecksum) {
  Ipv4Info info;
  auto h = ipv4_header(6, kSrc, kDst, 40);
  auto v6 = h;
  v6[0] = 0x65;
  EXPECT_EQ(parse_ipv4(v6.data(), 40, &info), DropReason::ipv4_bad_header);
  auto short_ihl = h;
  short_ihl[0] = 0x44;
  EXPECT_EQ(parse_ipv4(short_ihl.data(), 40, &info), DropReason::ipv4_bad_header);
  auto long_ihl = h;
  long_ihl[0] = 0x4f;  // 60-byte header in a 40-byte packet
  EXPECT_EQ(parse_ipv4(long_ihl.data(), 40, &info), DropReason::ipv4_bad_header);
  auto tiny_total = h;
  tiny_total[2] = 0;
  tiny_total[3] = 19;
  EXPECT_EQ(parse_ipv4(tiny_total.data(), 40, &info), DropReason::ipv4_bad_header);
  auto bad_sum = h;
  bad_sum[11] ^= 1;
  EXPECT_EQ(parse_ipv4(bad_sum.data(), 40, &info), DropReason::ipv4_bad_checksum);
}

TEST(Ipv4Parse, RejectsMartians) {
  Ipv4Info info;
  const uint32_t martian_src[] = {0x00000001, 0x7f000001, 0xe0000001, 0xffffffff, 0xf0000001};
  for (uint32_t s : martian_src) {
    auto h = ipv4_header(17, s, kDst, 20);
    EXPECT_EQ(parse_ipv4(h.data(), 20, &info), DropReason::ipv4_martian) << std::hex << s;
  }
  const uint32_t martian_dst[] = {0x00000001, 0x7f000001};
  for (uint32_t d : martian_dst) {
    auto h = ipv4_header(17, kSrc, d, 20);
    EXPECT_EQ(parse_ipv4(h.data(), 20, &info), DropReason::ipv4_martian) << std::hex << d;
  }
}

TEST(Ipv4Parse, ReadsFields) {
  auto h = ipv4_header(17, kSrc, kDst, 48, 7);
  h[6] = 0x40;  // DF
  uint16_t c = 0;
  h[10] = h[11] = 0;
  c = static_cast<uint16_t>(~ones_complement_sum(h.data(), 20));
  h[10] = static_cast<uint8_t>(c >> 8);
  h[11] = static_cast<uint8_t>(c);
  Ipv4Info info;
  ASSERT_EQ(parse_ipv4(h.data(), 60, &info), kPass);  // trailing Ethernet padding is fine
  EXPECT_EQ(info.src, kSrc);
  EXPECT_EQ(info.dst, kDst);
  EXPECT_EQ(info.ttl, 7);
  EXPECT_EQ(info.proto, 17);
  EXPECT_EQ(info.total_len, 48);
  EXPECT_EQ(info.hdr_len, 20);
  EXPECT_TRUE(info.dont_fragment());
  EXPECT_FALSE(info.is_fragment());
}

TEST(EtherParse, RunsAndGroupBits) {
  uint8_t f[14] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06};
  EtherInfo e;
  for (uint32_t len = 0; len < 14; len++) EXPECT_EQ(parse_ether(f, len, &e), DropReason::runt);
  ASSERT_EQ(parse_ether(f, 14, &e), kPass);
  EXPECT_TRUE(e.dst_is_broadcast);
  EXPECT_TRUE(e.dst_is_multicast);
  EXPECT_EQ(e.ether_type, wire::kEtherTypeArp);
  f[0] = 0x01;  // multicast, not broadcast
  ASSERT_EQ(parse_ether(f, 14, &e), kPass);
  EXPECT_FALSE(e.dst_is_broadcast);
  EXPECT_TRUE(e.dst_is_multicast);
}

std::vector<uint8_t> arp(uint16_t op, uint32_t sip, uint32_t tip) {
  std::vector<uint8_t> a = {0, 1, 8, 0, 6, 4, 0, static_cast<uint8_t>(op), 2, 0, 0, 0, 0, 9};
  for (int i = 0; i < 4; i++) a.push_back(static_cast<uint8_t>(sip >> (24 - 8 * i)));
  for (int i = 0; i < 6; i++) a.push_back(0);
  for (int i = 0; i < 4; i++) a.push_back(static_cast<uint8_t>(tip >> (24 - 8 * i)));
  return a;
}

TEST(ArpParse, RejectsMalformed) {
  ArpInfo info;
  auto a = arp(1, kSrc, 0xC0000201);
  for (uint32_t len = 0; len < 28; len++) EXPECT_EQ(parse_arp(a.data(), len, &info), DropReason::arp_malformed);
  auto bad_htype = a;
  bad_htype[1] = 6;
  EXPECT_EQ(parse_arp(bad_htype.data(), 28, &info), DropReason::arp_malformed);
  auto bad_ptype = a;
  bad_ptype[2] = 0x86;
  EXPECT_EQ(parse_arp(bad_ptype.data(), 28, &info), DropReason::arp_malformed);
  auto bad_hlen = a;
  bad_hlen[4] = 8;
  EXPECT_EQ(parse_arp(bad_hlen.data(), 28, &info), DropReason::arp_malformed);
  auto bad_op = arp(3, kSrc, 1);
  EXPECT_EQ(parse_arp(bad_op.data(), 28, &info), DropReason::arp_malformed);
  auto group_sender = a;
  group_sender[8] = 0x01;
  EXPECT_EQ(parse_arp(group_sender.data(), 28, &info), DropReason::arp_malformed);
}

TEST(ArpParse, ReadsRequest) {
  ArpInfo info;
  auto a = arp(1, kSrc, 0xC0000201);
  ASSERT_EQ(parse_arp(a.data(), static_cast<uint32_t>(a.size()), &info), kPass);
  EXPECT_EQ(info.op, wire::kArpOpRequest);
  EXPECT_EQ(info.sender_ip, kSrc);
  EXPECT_EQ(info.target_ip, 0xC0000201u);
  EXPECT_EQ(info.sender_mac[5], 9);
}

TEST(Checksum, IncrementalUpdateMatchesRecomputation) {
  // RFC 1624 against a full recomputation for every TTL value.
  for (int ttl = 1; ttl < 256; ttl++) {
    auto h = ipv4_header(6, kSrc, kDst, 20, static_cast<uint8_t>(ttl));
    const uint16_t old_word = static_cast<uint16_t>(h[8] << 8 | h[9]);
    const uint16_t old_sum = static_cast<uint16_t>(h[10] << 8 | h[11]);
    h[8] -= 1;
    const uint16_t new_word = static_cast<uint16_t>(h[8] << 8 | h[9]);
    const uint16_t inc = checksum_adjust(old_sum, old_word, new_word);
    h[10] = h[11] = 0;
    const uint16_t full = static_cast<uint16_t>(~ones_complement_sum(h.data(), 20));
    EXPECT_EQ(inc, full) << ttl;
  }
}

TEST(Checksum, OddLengthSum) {
  const uint8_t data[3] = {0x01, 0x02, 0x03};
  EXPECT_EQ(ones_complement_sum(data, 3), 0x0102 + 0x0300);
}

// Test that the word-at-a-time sum equals RFC 1071's big-endian 16-bit sum for every length
// up to 80 bytes at every alignment, with carries (bytes near 0xff).
TEST(Wire, OnesComplementSumMatchesTheBigEndianDefinition) {
  std::vector<uint8_t> buf(96);
  uint32_t x = 12345;
  for (uint8_t& b : buf) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(0xf0 | (x >> 24));
  }
  for (uint32_t offset = 0; offset < 8; offset++) {
    for (uint32_t len = 0; len <= 80; len++) {
      const uint8_t* p = buf.data() + offset;
      uint64_t sum = 0;
      for (uint32_t i = 0; i + 1 < len; i += 2) sum += (uint32_t{p[i]} << 8) | p[i + 1];
      if (len % 2) sum += uint32_t{p[len - 1]} << 8;
      while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
      EXPECT_EQ(ones_complement_sum(p, len), sum) << "offset " << offset << " length " << len;
    }
  }
}

// ipv4_header_write sums the field values instead of the bytes it wrote: the header must
// still verify (parse_ipv4) and carry the sum ones_complement_sum gives, for field values
// whose sums carry (addresses and lengths near 0xffff, every TOS and flag word).
TEST(Wire, Ipv4HeaderWriteChecksumsItsOwnFields) {
  uint32_t x = 777;
  const auto next = [&x] { return x = x * 1103515245u + 12345u; };
  for (int round = 0; round < 2000; round++) {
    const auto tos = static_cast<uint8_t>(next() >> 24);
    const auto total = static_cast<uint16_t>(20 + (next() >> 16) % (0xffff - 20));
    const auto frag = static_cast<uint16_t>(next() >> 16);
    const auto proto = static_cast<uint8_t>(next() >> 24);
    const uint32_t src = round % 3 == 0 ? 0xfffffffe : next();
    const uint32_t dst = round % 5 == 0 ? 0xfffeffff : next();
    std::vector<uint8_t> h(20, 0xaa);
    ipv4_header_write(h.data(), tos, total, frag, proto, src, dst);
    EXPECT_EQ(ones_complement_sum(h.data(), 20), 0xffff) << "round " << round;
    EXPECT_EQ(h[0], 0x45);
    EXPECT_EQ(h[1], tos);
    EXPECT_EQ(load_be16(h.data() + 2), total);
    EXPECT_EQ(load_be16(h.data() + 4), 0);
    EXPECT_EQ(load_be16(h.data() + 6), frag);
    EXPECT_EQ(h[8], wire::kDefaultTtl);
    EXPECT_EQ(h[9], proto);
    EXPECT_EQ(load_be32(h.data() + 12), src);
    EXPECT_EQ(load_be32(h.data() + 16), dst);
  }
}

}  // namespace
}  // namespace tg::dp
