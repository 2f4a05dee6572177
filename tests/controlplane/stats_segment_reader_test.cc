// Tests of controlplane/stats_segment_reader: stats_segment_decode() on in-memory images.
// Invalid images first (one numbered case per validation error), then valid ones.
#include "controlplane/stats_segment_reader.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <fstream>
#include <functional>
#include <iterator>
#include <vector>

#include "tests/controlplane/segment_builder.h"

namespace tg::controlplane {
namespace {

using test::bytes_of;
using test::kTestNowNs;
using test::make_segment;

TEST(StatsSegmentDecode, EmptyIsTooSmall) {
  SegmentReadResult r = stats_segment_decode({}, kTestNowNs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, SegmentError::too_small);
  EXPECT_TRUE(segment_error_is_failure(r.error().code));
}

TEST(StatsSegmentDecode, ShorterThanFixedHeaderIsTooSmall) {
  auto seg = make_segment();
  SegmentReadResult r = stats_segment_decode(bytes_of(*seg, 15), kTestNowNs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, SegmentError::too_small);
  EXPECT_NE(r.error().message.find("15 bytes"), std::string::npos) << r.error().message;
}

TEST(StatsSegmentDecode, FixedHeaderOnlyIsTruncated) {
  auto seg = make_segment();
  SegmentReadResult r = stats_segment_decode(bytes_of(*seg, 16), kTestNowNs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, SegmentError::truncated);
}

// One malformed image per case: start from a valid segment, break one thing.
struct MalformedCase {
  int number;
  const char* what;
  std::function<void(shm::StatsSegment&)> mutate;
  SegmentError expected;
  const char* message_part;  ///< the value must be named in the message
};

const MalformedCase kMalformed[] = {
    {1, "magic zero: header not published", [](auto& s) { s.magic = 0; },
     SegmentError::not_initialised, "magic is 0"},
    {2, "wrong magic", [](auto& s) { s.magic = 0xdeadbeef; }, SegmentError::bad_magic,
     "0xdeadbeef"},
    {3, "byte-swapped magic", [](auto& s) { s.magic = __builtin_bswap32(shm::kStatsMagic); },
     SegmentError::bad_magic, "0x54475331"},
    {4, "newer version", [](auto& s) { s.version = shm::kStatsVersion + 1; },
     SegmentError::version_mismatch, "(this build reads"},
    {5, "version zero", [](auto& s) { s.version = 0; }, SegmentError::version_mismatch,
     "version is 0"},
    {6, "size one short", [](auto& s) { s.size = sizeof(shm::StatsSegment) - 1; },
     SegmentError::size_mismatch, "header size is"},
    {7, "size huge", [](auto& s) { s.size = UINT64_MAX; }, SegmentError::size_mismatch,
     "18446744073709551615"},
    {8, "instance not NUL-terminated",
     [](auto& s) { std::memset(s.instance, 'a', sizeof s.instance); },
     SegmentError::bad_instance, "not NUL-terminated"},
    {9, "instance empty", [](auto& s) { s.instance[0] = '\0'; }, SegmentError::bad_instance,
     "empty"},
    {10, "instance upper case", [](auto& s) { std::strcpy(s.instance, "TG0"); },
     SegmentError::bad_instance, "0x54"},
    {11, "instance longer than 24", [](auto& s) { std::memset(s.instance, 'a', 25); },
     SegmentError::bad_instance, "25 characters"},
    {12, "n_ports one too many", [](auto& s) { s.n_ports = shm::kMaxPorts + 1; },
     SegmentError::too_many_ports, "n_ports is 10"},
    {13, "n_ports UINT32_MAX", [](auto& s) { s.n_ports = UINT32_MAX; },
     SegmentError::too_many_ports, "4294967295"},
    {14, "port name not NUL-terminated",
     [](auto& s) { std::memset(s.ports[1].name, 'x', shm::kPortNameLen); },
     SegmentError::bad_port_name, "ports[1].name is not NUL-terminated"},
    {15, "port name empty", [](auto& s) { s.ports[0].name[0] = '\0'; },
     SegmentError::bad_port_name, "ports[0].name is empty"},
    {16, "port name with a quote", [](auto& s) { std::strcpy(s.ports[0].name, "out\"side"); },
     SegmentError::bad_port_name, "0x22"},
    {17, "port name with a newline", [](auto& s) { std::strcpy(s.ports[0].name, "out\n"); },
     SegmentError::bad_port_name, "0x0a"},
    {18, "port name with a high byte", [](auto& s) { s.ports[0].name[0] = '\xff'; },
     SegmentError::bad_port_name, "0xff"},
    {19, "duplicate port name", [](auto& s) { std::strcpy(s.ports[1].name, "outside"); },
     SegmentError::duplicate_port_name, "\"outside\""},
    {20, "port role 3", [](auto& s) { s.ports[1].role = 3; }, SegmentError::bad_port_role,
     "role is 3"},
    {21, "lcore active 2", [](auto& s) { s.lcores[1].active = 2; }, SegmentError::bad_lcore,
     "lcores[1].active is 2"},
    {22, "lcore id above kMaxLcoreId", [](auto& s) { s.lcores[0].lcore_id = kMaxLcoreId + 1; },
     SegmentError::bad_lcore, "lcore_id is 1024"},
    {23, "two active slots with one lcore id", [](auto& s) { s.lcores[1].lcore_id = 1; },
     SegmentError::duplicate_lcore, "lcore_id 1"},
    {24, "inactive slot past the ports is still checked only when active",
     [](auto& s) {
       s.lcores[5].lcore_id = 1;  // inactive: a duplicate id there is fine...
       s.lcores[6].active = 7;    // ...but a garbage active flag is not
     },
     SegmentError::bad_lcore, "lcores[6].active is 7"},
    {25, "TLS worker slot with a foreign worker id",
     [](auto& s) {
       s.tls_workers[2].active = 1;
       s.tls_workers[2].worker = 5;
     },
     SegmentError::bad_tls_worker, "tls_workers[2] has active 1 and worker 5"},
    {26, "TLS worker slot with a garbage active flag", [](auto& s) { s.tls_workers[0].active = 3; },
     SegmentError::bad_tls_worker, "tls_workers[0] has active 3"},
    {27, "n_apps above kMaxApps", [](auto& s) { s.n_apps = shm::kMaxApps + 1; }, SegmentError::bad_app,
     "n_apps is 257"},
    {28, "app name without NUL", [](auto& s) { std::memset(s.app_names[2], 'a', shm::kAppNameLen); },
     SegmentError::bad_app, "app_names[2]"},
    {29, "empty app name past index 0", [](auto& s) { s.app_names[1][0] = '\0'; }, SegmentError::bad_app,
     "app_names[1]"},
    {30, "app name with a space", [](auto& s) { std::strcpy(s.app_names[1], "com example"); },
     SegmentError::bad_app, "app_names[1]"},
    {31, "app name repeated", [](auto& s) { std::strcpy(s.app_names[2], "com.example.mail"); },
     SegmentError::bad_app, "repeats"},
    {32, "certificate flag 2", [](auto& s) { s.server_certs[1].active = 2; }, SegmentError::bad_cert,
     "server_certs[1] has configured 1, usable 0, active 2"},
    {33, "unknown certificate finding bit", [](auto& s) { s.server_certs[0].findings = 1u << 31; },
     SegmentError::bad_cert, "findings 0x80000000"},
};

TEST(StatsSegmentDecode, MalformedTable) {
  for (const MalformedCase& c : kMalformed) {
    SCOPED_TRACE(testing::Message() << "case " << c.number << ": " << c.what);
    auto seg = make_segment();
    c.mutate(*seg);
    SegmentReadResult r = stats_segment_decode(bytes_of(*seg), kTestNowNs);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, c.expected) << r.error().message;
    EXPECT_NE(r.error().message.find(c.message_part), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().sys_errno, 0);
  }
}

TEST(StatsSegmentDecode, EveryValidationErrorHasACase) {
  // io_error and absent come only from the system (see stats_segment_shm_test); the
  // truncated and too_small cases are the tests above the table.
  std::vector<bool> seen(kSegmentErrorCount, false);
  for (const MalformedCase& c : kMalformed) {
    seen[static_cast<unsigned>(c.expected)] = true;
  }
  seen[static_cast<unsigned>(SegmentError::too_small)] = true;
  seen[static_cast<unsigned>(SegmentError::truncated)] = true;
  seen[static_cast<unsigned>(SegmentError::absent)] = true;
  seen[static_cast<unsigned>(SegmentError::io_error)] = true;
  for (unsigned i = 0; i < kSegmentErrorCount; ++i) {
    EXPECT_TRUE(seen[i]) << "no malformed case for " << segment_error_label(static_cast<SegmentError>(i));
  }
}

TEST(StatsSegmentDecode, OneByteShortIsTruncated) {
  auto seg = make_segment();
  SegmentReadResult r = stats_segment_decode(bytes_of(*seg, sizeof(shm::StatsSegment) - 1), kTestNowNs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, SegmentError::truncated);
}

TEST(StatsSegmentDecode, OtherInstanceIsRejectedWhenOneIsExpected) {
  auto seg = make_segment(kTestNowNs, "other");
  SegmentReadResult r = stats_segment_decode(bytes_of(*seg), kTestNowNs, "tg0");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, SegmentError::bad_instance);
  EXPECT_NE(r.error().message.find("\"other\""), std::string::npos);
  EXPECT_TRUE(stats_segment_decode(bytes_of(*seg), kTestNowNs, "other").has_value());
}

TEST(StatsSegmentDecode, ErrorLabelsAreUniqueMetricLabelValues) {
  for (unsigned i = 0; i < kSegmentErrorCount; ++i) {
    const std::string label = segment_error_label(static_cast<SegmentError>(i));
    EXPECT_FALSE(label.empty());
    EXPECT_EQ(label.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string::npos) << label;
    for (unsigned j = 0; j < i; ++j) {
      EXPECT_NE(label, segment_error_label(static_cast<SegmentError>(j)));
    }
  }
  EXPECT_STREQ(segment_error_label(SegmentError::count), "unknown");
  EXPECT_FALSE(segment_error_is_failure(SegmentError::absent));
  EXPECT_FALSE(segment_error_is_failure(SegmentError::not_initialised));
  EXPECT_TRUE(segment_error_is_failure(SegmentError::bad_magic));
}

// ---------------------------------------------------------------- valid images

TEST(StatsSegmentDecode, ValidSegmentIsCopiedFieldByField) {
  auto seg = make_segment();
  SegmentReadResult r = stats_segment_decode(bytes_of(*seg), kTestNowNs, "tg0");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  const StatsSnapshot& s = r.value();
  EXPECT_EQ(s.instance, "tg0");
  EXPECT_EQ(s.generation, kTestNowNs - 60'000'000'000ULL);
  EXPECT_EQ(s.pid, 4242u);
  EXPECT_EQ(s.tsc_hz, 2'000'000'000ULL);
  EXPECT_EQ(s.heartbeat_ns, kTestNowNs);
  EXPECT_FALSE(s.stale);
  EXPECT_EQ(s.neigh_entries, 3u);
  EXPECT_EQ(s.mempool_in_use, 512u);
  EXPECT_EQ(s.mempool_size, 8191u);
  EXPECT_FALSE(s.lab_forwarding);

  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_EQ(s.ports[0].name, "outside");
  EXPECT_EQ(s.ports[0].role, PortSnapshot::Role::outside);
  EXPECT_TRUE(s.ports[0].link_up);
  EXPECT_EQ(s.ports[0].link_speed_mbps, 10000u);
  EXPECT_EQ(s.ports[0].ipv4_host, 0xc0000201u);
  EXPECT_EQ(s.ports[0].prefix_len, 24);
  EXPECT_EQ(s.ports[1].name, "inside");
  EXPECT_EQ(s.ports[1].role, PortSnapshot::Role::inside);
  EXPECT_FALSE(s.ports[1].link_up);
  EXPECT_EQ(s.ports[1].dpdk_port_id, 1);
  EXPECT_EQ(s.ports[1].mac, (std::array<uint8_t, 6>{0x02, 0, 0, 0, 0xab, 0xcd}));

  ASSERT_EQ(s.lcores.size(), 2u);
  for (unsigned slot = 0; slot < 2; ++slot) {
    const LcoreSnapshot& l = s.lcores[slot];
    EXPECT_EQ(l.lcore_id, slot + 1);
    EXPECT_EQ(l.loops, 1'000'000u * (slot + 1));
    EXPECT_EQ(l.busy_loops, 250'000u * (slot + 1));
    EXPECT_EQ(l.busy_cycles, 1000u);
    EXPECT_EQ(l.total_cycles, 4000u);
    EXPECT_EQ(l.stage_sample, slot == 0 ? 16u : 0u);
    for (unsigned st = 0; st < shm::kLcoreStageCount; ++st) {
      EXPECT_EQ(l.stages[st].cycles, slot == 0 ? 1000u * (st + 1) : 0u);
      EXPECT_EQ(l.stages[st].packets, slot == 0 ? 32u * (st + 1) : 0u);
      EXPECT_EQ(l.stages[st].bursts, slot == 0 ? st + 1 : 0u);
    }
    EXPECT_EQ(l.events.arp_requests_answered, 11u + slot);
    EXPECT_EQ(l.events.neigh_queued, 18u + slot);
    for (unsigned d = 0; d < shm::kDropReasonCount; ++d) {
      EXPECT_EQ(l.drops[d], test::drops(slot, d));
    }
    ASSERT_EQ(l.ports.size(), 2u);  // n_ports, not kMaxPorts
    for (unsigned p = 0; p < 2; ++p) {
      EXPECT_EQ(l.ports[p].rx_packets, test::rx_packets(slot, p));
      EXPECT_EQ(l.ports[p].rx_bytes, test::rx_bytes(slot, p));
      EXPECT_EQ(l.ports[p].tx_packets, test::tx_packets(slot, p));
      EXPECT_EQ(l.ports[p].tx_bytes, test::tx_bytes(slot, p));
    }
  }
}

TEST(StatsSegmentDecode, InactiveSlotsAndUnusedPortsAreIgnored) {
  auto seg = make_segment();
  seg->n_ports = 1;
  std::strcpy(seg->ports[1].name, "\xff");  // garbage beyond n_ports is never read
  seg->ports[1].role = 200;
  seg->lcores[0].active = 0;
  seg->lcores[40].active = 1;
  seg->lcores[40].lcore_id = kMaxLcoreId;
  SegmentReadResult r = stats_segment_decode(bytes_of(*seg), kTestNowNs);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  ASSERT_EQ(r->ports.size(), 1u);
  ASSERT_EQ(r->lcores.size(), 2u);
  EXPECT_EQ(r->lcores[0].lcore_id, 2u);
  EXPECT_EQ(r->lcores[1].lcore_id, kMaxLcoreId);
  EXPECT_EQ(r->lcores[1].ports.size(), 1u);
}

TEST(StatsSegmentDecode, NoPortsNoLcoresIsValid) {
  auto seg = make_segment();
  seg->n_ports = 0;
  seg->lcores[0].active = 0;
  seg->lcores[1].active = 0;
  SegmentReadResult r = stats_segment_decode(bytes_of(*seg), kTestNowNs);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_TRUE(r->ports.empty());
  EXPECT_TRUE(r->lcores.empty());
}

TEST(StatsSegmentDecode, UnalignedAndLongerImagesDecode) {
  auto seg = make_segment();
  std::vector<std::byte> buf(sizeof(shm::StatsSegment) + 100, std::byte{0x5a});
  std::memcpy(buf.data() + 1, seg.get(), sizeof(shm::StatsSegment));
  SegmentReadResult r =
      stats_segment_decode(std::span<const std::byte>(buf).subspan(1), kTestNowNs);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->lcores.at(1).ports.at(1).tx_bytes, test::tx_bytes(1, 1));
}

TEST(StatsSegmentDecode, StalenessBoundaries) {
  struct Case {
    int number;
    uint64_t heartbeat_ns;
    uint64_t now_ns;
    bool stale;
  };
  const Case cases[] = {
      {1, kTestNowNs, kTestNowNs, false},
      {2, kTestNowNs - kHeartbeatStaleNs, kTestNowNs, false},       // exactly 5 s: still up
      {3, kTestNowNs - kHeartbeatStaleNs - 1, kTestNowNs, true},    // a nanosecond more: down
      {4, kTestNowNs + 3'600'000'000'000ULL, kTestNowNs, false},    // clock stepped back
      {5, 0, kTestNowNs, true},                                     // never beat
      {6, 1, 0, false},                                             // now before the epoch
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "case " << c.number);
    auto seg = make_segment(kTestNowNs);
    seg->heartbeat_ns = c.heartbeat_ns;
    SegmentReadResult r = stats_segment_decode(bytes_of(*seg), c.now_ns);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(r->stale, c.stale);
  }
}

TEST(StatsSegmentDecode, SnapshotOutlivesTheImage) {
  std::optional<SegmentReadResult> r;
  {
    auto seg = make_segment();
    r.emplace(stats_segment_decode(bytes_of(*seg), kTestNowNs));
    std::memset(static_cast<void*>(seg.get()), 0xee, sizeof(shm::StatsSegment));
  }
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ(r->value().ports[0].name, "outside");
}

// The fuzz corpus (tests/controlplane/corpus) is generated from make_segment(). This test
// checks that each committed seed still decodes as intended (so a layout change that makes
// the valid seed invalid is noticed), and rewrites the seeds with TG_REGENERATE_CORPUS=1.
TEST(StatsSegmentCorpus, CommittedSeedsDecodeAsIntended) {
  const char* dir = std::getenv("TG_CORPUS_DIR");
  if (dir == nullptr) {
    GTEST_SKIP() << "TG_CORPUS_DIR not set (run through meson test)";
  }
  auto valid = make_segment();
  auto bad_version = make_segment();
  bad_version->version = shm::kStatsVersion + 1;
  const struct {
    const char* file;
    std::span<const std::byte> bytes;
    std::optional<SegmentError> expected;  ///< nullopt: decodes
  } seeds[] = {
      {"valid_segment.bin", bytes_of(*valid), std::nullopt},
      {"fixed_header_only.bin", bytes_of(*valid, 16), SegmentError::truncated},
      {"bad_version.bin", bytes_of(*bad_version, 64), SegmentError::version_mismatch},
  };
  const bool regenerate = std::getenv("TG_REGENERATE_CORPUS") != nullptr;
  for (const auto& seed : seeds) {
    const std::string path = std::string(dir) + "/" + seed.file;
    SCOPED_TRACE(path);
    if (regenerate) {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(seed.bytes.data()),
                static_cast<std::streamsize>(seed.bytes.size()));
      ASSERT_TRUE(out.good());
    }
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in.good()) << "missing: regenerate with TG_REGENERATE_CORPUS=1";
    const std::vector<char> got{std::istreambuf_iterator<char>(in), {}};
    SegmentReadResult r = stats_segment_decode(
        std::as_bytes(std::span<const char>(got)), kTestNowNs);
    if (!seed.expected) {
      EXPECT_TRUE(r.has_value()) << r.error().message
                                 << " (layout changed? regenerate with TG_REGENERATE_CORPUS=1)";
    } else {
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().code, *seed.expected) << r.error().message;
    }
  }
}

}  // namespace
}  // namespace tg::controlplane
