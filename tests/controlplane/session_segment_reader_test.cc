// The live session segment (api/session_shm.h): the control plane's decoder against
// well-formed and malformed images, a round trip through a real shared-memory object made
// by the dataplane's writer, and the seqlock under a concurrent writer.
#include "controlplane/session_segment_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include "dataplane/session_segment.h"

namespace tg::controlplane {
namespace {

using shm::SessionLive;
using shm::SessionRecord;
using shm::SessionSegmentHeader;

/// A segment image in 64-byte-aligned memory, as a mapping would be.
struct Image {
  explicit Image(uint32_t n) : n_records(n), mem(std::make_unique<SessionRecord[]>(n + 1)) {
    std::memset(static_cast<void*>(mem.get()), 0, (n + 1) * sizeof(SessionRecord));
    header().magic = shm::kSessionsMagic;
    header().version = shm::kSessionsVersion;
    header().size = shm::session_segment_size(n);
    header().n_records = n;
    header().record_size = sizeof(SessionRecord);
    header().generation = 42;
    header().pid = 7;
  }
  SessionSegmentHeader& header() { return *reinterpret_cast<SessionSegmentHeader*>(mem.get()); }
  SessionRecord& record(uint32_t i) { return mem[i + 1]; }
  std::span<const std::byte> bytes(size_t len) const {
    return {reinterpret_cast<const std::byte*>(mem.get()), len};
  }
  std::span<const std::byte> bytes() const { return bytes(shm::session_segment_size(n_records)); }
  uint32_t n_records;
  std::unique_ptr<SessionRecord[]> mem;
};

SessionLive live(uint64_t id, shm::SessionChannel ch, uint64_t rx_packets) {
  SessionLive v;
  v.session_id = id;
  v.channel = static_cast<uint8_t>(ch);
  v.address = 0xc6336402;
  v.attach_seq = 3;
  v.rx_packets = rx_packets;
  v.rx_bytes = rx_packets * 100;
  v.tx_packets = rx_packets + 1;
  v.tx_bytes = (rx_packets + 1) * 100;
  v.updated_s = 1'800'000'000;
  return v;
}

TEST(SessionSegmentDecode, ReadsRecordsInUseByTheirSessionId) {
  Image img(4);
  shm::session_record_store(img.record(0), live(11, shm::SessionChannel::dtls, 5));
  shm::session_record_store(img.record(2), live(12, shm::SessionChannel::cstp, 9));
  shm::session_record_store(img.record(3), SessionLive{});  // closed: free again
  Expected<LiveSessions> r = session_segment_decode(img.bytes());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->generation, 42u);
  EXPECT_EQ(r->pid, 7u);
  EXPECT_EQ(r->n_records, 4u);
  ASSERT_EQ(r->by_session.size(), 2u);
  const SessionLive& a = r->by_session.at(11);
  EXPECT_EQ(a.channel, static_cast<uint8_t>(shm::SessionChannel::dtls));
  EXPECT_EQ(a.rx_packets, 5u);
  EXPECT_EQ(a.rx_bytes, 500u);
  EXPECT_EQ(a.tx_packets, 6u);
  EXPECT_EQ(a.tx_bytes, 600u);
  EXPECT_EQ(a.address, 0xc6336402u);
  EXPECT_EQ(a.attach_seq, 3u);
  EXPECT_EQ(r->by_session.at(12).channel, static_cast<uint8_t>(shm::SessionChannel::cstp));
  EXPECT_EQ(r->busy, 0u);
  EXPECT_EQ(r->bad, 0u);
}

// Each row breaks one thing in a valid image; the decoder must refuse it with its errno
// and a message naming the field.
TEST(SessionSegmentDecode, RefusesMalformedHeaders) {
  struct Case {
    const char* name;
    void (*mutate)(Image&);
    size_t len_delta;  // bytes cut from the end
    int code;
    const char* says;
  };
  const Case cases[] = {
      {"not published", [](Image& i) { i.header().magic = 0; }, 0, EAGAIN, "not published"},
      {"foreign magic", [](Image& i) { i.header().magic = 0x31534754; }, 0, EPROTO, "magic"},
      {"newer layout", [](Image& i) { i.header().version = shm::kSessionsVersion + 1; }, 0, EPROTO, "version"},
      {"record size", [](Image& i) { i.header().record_size = 128; }, 0, EPROTO, "record_size"},
      {"too many records",
       [](Image& i) { i.header().n_records = shm::kMaxSessionRecords + 1; }, 0, EINVAL, "n_records"},
      {"size lies", [](Image& i) { i.header().size += 64; }, 0, EINVAL, "size"},
      {"count lies", [](Image& i) { i.header().n_records += 1; }, 0, EINVAL, "size"},
      {"truncated object", [](Image&) {}, 64, EINVAL, "fewer than the header's size"},
      {"shorter than a header", [](Image&) {}, shm::session_segment_size(2) - 10, EINVAL, "header"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Image img(2);
    c.mutate(img);
    Expected<LiveSessions> r = session_segment_decode(img.bytes(shm::session_segment_size(2) - c.len_delta));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, c.code);
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << r.error().message;
  }
}

TEST(SessionSegmentDecode, RefusesUnalignedBytes) {
  Image img(1);
  Expected<LiveSessions> r = session_segment_decode(img.bytes().subspan(8));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EINVAL);
}

TEST(SessionSegmentDecode, SkipsBusyAndBrokenRecords) {
  Image img(4);
  shm::session_record_store(img.record(0), live(21, shm::SessionChannel::dtls, 1));
  shm::session_record_store(img.record(1), live(22, shm::SessionChannel::cstp, 1));
  img.record(1).seq |= 1;  // a writer stopped in the middle (crashed): never trusted
  SessionLive unknown_channel = live(23, shm::SessionChannel::cstp, 1);
  unknown_channel.channel = 9;
  shm::session_record_store(img.record(2), unknown_channel);
  SessionLive none_channel = live(24, shm::SessionChannel::cstp, 1);
  none_channel.channel = 0;
  shm::session_record_store(img.record(3), none_channel);
  Expected<LiveSessions> r = session_segment_decode(img.bytes());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->by_session.size(), 1u);
  EXPECT_TRUE(r->by_session.contains(21));
  EXPECT_EQ(r->busy, 1u);
  EXPECT_EQ(r->bad, 2u);
}

TEST(SessionSegmentDecode, FirstRecordWinsForARepeatedSessionId) {
  Image img(2);
  shm::session_record_store(img.record(0), live(31, shm::SessionChannel::dtls, 1));
  shm::session_record_store(img.record(1), live(31, shm::SessionChannel::cstp, 2));
  Expected<LiveSessions> r = session_segment_decode(img.bytes());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->by_session.size(), 1u);
  EXPECT_EQ(r->by_session.at(31).rx_packets, 1u);
}

// The dataplane's writer makes a real object under /dev/shm; the control plane's reader
// maps and decodes it; the writer's destructor removes it.
TEST(SessionSegmentShm, RoundTripThroughTheDataplaneWriter) {
  const std::string instance = "sstest" + std::to_string(getpid());
  {
    dp::SessionSegmentWriter w;
    ASSERT_EQ(w.create(instance, 300, 1234), "");
    Expected<LiveSessions> before = session_segment_open_and_read(instance);
    ASSERT_FALSE(before);
    EXPECT_EQ(before.error().code, EAGAIN);  // created, not published
    w.publish();
    shm::session_record_store(w.records()[299], live(41, shm::SessionChannel::dtls, 77));
    Expected<LiveSessions> r = session_segment_open_and_read(instance);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->generation, 1234u);
    EXPECT_EQ(r->pid, static_cast<uint32_t>(getpid()));
    EXPECT_EQ(r->n_records, 300u);
    ASSERT_EQ(r->by_session.size(), 1u);
    EXPECT_EQ(r->by_session.at(41).rx_packets, 77u);
  }
  Expected<LiveSessions> gone = session_segment_open_and_read(instance);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ENOENT);
  EXPECT_NE(gone.error().message.find("/tunnelgate-" + instance + "-sessions"), std::string::npos);
}

TEST(SessionSegmentShm, WriterRefusesMoreRecordsThanPoolsCanHave) {
  dp::SessionSegmentWriter w;
  EXPECT_NE(w.create("sstoo" + std::to_string(getpid()), shm::kMaxSessionRecords + 1, 1), "");
}

// A writer rewriting one record as fast as it can: every record the reader accepts is one
// the writer stored whole (its fields agree with each other), never a mix of two.
TEST(SessionSegmentSeqlock, ReaderNeverAcceptsATornRecord) {
  Image img(1);
  shm::session_record_store(img.record(0), live(1, shm::SessionChannel::dtls, 1));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (uint64_t n = 2; !stop.load(std::memory_order_relaxed); n++) {
      shm::session_record_store(img.record(0), live(n, shm::SessionChannel::dtls, n));
      // A short gap between writes, so readers also find the record quiet (as the TLS
      // worker's once-a-second refresh leaves it), not only in the middle of a write.
      for (int spin = 0; spin < 64; spin++) (void)stop.load(std::memory_order_relaxed);
    }
  });
  unsigned accepted = 0, refused = 0;
  for (int i = 0; i < 2'000'000 && accepted < 20'000; i++) {
    SessionLive v;
    if (!shm::session_record_load(img.record(0), &v)) {
      refused++;
      continue;
    }
    accepted++;
    ASSERT_EQ(v.rx_packets, v.session_id);
    ASSERT_EQ(v.rx_bytes, v.session_id * 100);
    ASSERT_EQ(v.tx_packets, v.session_id + 1);
    ASSERT_EQ(v.tx_bytes, (v.session_id + 1) * 100);
  }
  stop = true;
  writer.join();
  EXPECT_GT(accepted, 0u);
  (void)refused;  // how many depends on scheduling; correctness is the asserts above
}

}  // namespace
}  // namespace tg::controlplane
