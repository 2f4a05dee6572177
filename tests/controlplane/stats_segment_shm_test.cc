// Tests of controlplane/stats_segment_reader: stats_segment_open_and_read() on real POSIX
// shared-memory objects. Each test uses an instance name unique to this process and
// unlinks what it created.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>

#include "controlplane/stats_segment_reader.h"
#include "tests/controlplane/segment_builder.h"

namespace tg::controlplane {
namespace {

using test::kTestNowNs;
using test::make_segment;
using test::ShmObject;
using test::unique_instance;

TEST(StatsSegmentShm, InvalidInstanceNameIsRejectedBeforeShmOpen) {
  for (const char* bad : {"", "../etc", "a/b", "UPPER", "aaaaaaaaaaaaaaaaaaaaaaaaa"}) {
    SegmentReadResult r = stats_segment_open_and_read(bad, kTestNowNs);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, SegmentError::bad_instance) << bad;
  }
}

TEST(StatsSegmentShm, AbsentIsNotAFailure) {
  SegmentReadResult r = stats_segment_open_and_read(unique_instance("absent"), kTestNowNs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, SegmentError::absent);
  EXPECT_EQ(r.error().sys_errno, ENOENT);
  EXPECT_FALSE(segment_error_is_failure(r.error().code));
}

TEST(StatsSegmentShm, EmptyObjectIsNotInitialised) {
  const std::string inst = unique_instance("empty");
  ShmObject obj(inst, nullptr);
  ASSERT_TRUE(obj.ok());
  SegmentReadResult r = stats_segment_open_and_read(inst, kTestNowNs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, SegmentError::not_initialised);
}

TEST(StatsSegmentShm, ShortObjectIsTruncated) {
  const std::string inst = unique_instance("short");
  auto seg = make_segment(kTestNowNs, inst);
  ShmObject obj(inst, seg.get(), 4096);
  ASSERT_TRUE(obj.ok());
  SegmentReadResult r = stats_segment_open_and_read(inst, kTestNowNs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, SegmentError::truncated);
  EXPECT_NE(r.error().message.find(obj.name()), std::string::npos) << r.error().message;
}

TEST(StatsSegmentShm, OddSizedObjectIsTruncatedNotOverread) {
  const std::string inst = unique_instance("odd");
  auto seg = make_segment(kTestNowNs, inst);
  ShmObject obj(inst, seg.get(), 21);
  ASSERT_TRUE(obj.ok());
  SegmentReadResult r = stats_segment_open_and_read(inst, kTestNowNs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, SegmentError::truncated);
}

TEST(StatsSegmentShm, SegmentOfAnotherInstanceIsRejected) {
  const std::string inst = unique_instance("mixup");
  auto seg = make_segment(kTestNowNs, "someone-else");
  ShmObject obj(inst, seg.get());
  ASSERT_TRUE(obj.ok());
  SegmentReadResult r = stats_segment_open_and_read(inst, kTestNowNs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, SegmentError::bad_instance);
}

TEST(StatsSegmentShm, ValidObjectIsReadAndLeftUntouched) {
  const std::string inst = unique_instance("valid");
  auto seg = make_segment(kTestNowNs, inst);
  ShmObject obj(inst, seg.get());
  ASSERT_TRUE(obj.ok());
  SegmentReadResult r = stats_segment_open_and_read(inst, kTestNowNs + 1'000'000'000ULL);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->instance, inst);
  EXPECT_FALSE(r->stale);
  ASSERT_EQ(r->lcores.size(), 2u);
  EXPECT_EQ(r->lcores[1].ports[0].rx_packets, test::rx_packets(1, 0));
  // Read again much later: still valid, now stale.
  SegmentReadResult later = stats_segment_open_and_read(inst, kTestNowNs + 6'000'000'000ULL);
  ASSERT_TRUE(later.has_value());
  EXPECT_TRUE(later->stale);
}

TEST(StatsSegmentShm, RestartedDataplaneIsPickedUp) {
  // The dataplane unlinks and recreates its segment on restart, with a new generation.
  const std::string inst = unique_instance("restart");
  auto first = make_segment(kTestNowNs, inst);
  std::optional<ShmObject> obj;
  obj.emplace(inst, first.get());
  ASSERT_TRUE(obj->ok());
  SegmentReadResult r1 = stats_segment_open_and_read(inst, kTestNowNs);
  ASSERT_TRUE(r1.has_value());

  obj.reset();  // unlinked: the dataplane is gone
  SegmentReadResult gone = stats_segment_open_and_read(inst, kTestNowNs);
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.error().code, SegmentError::absent);

  auto second = make_segment(kTestNowNs + 10'000'000'000ULL, inst);
  obj.emplace(inst, second.get());
  ASSERT_TRUE(obj->ok());
  SegmentReadResult r2 = stats_segment_open_and_read(inst, kTestNowNs + 10'000'000'000ULL);
  ASSERT_TRUE(r2.has_value());
  EXPECT_GT(r2->generation, r1->generation);
}

TEST(StatsSegmentShm, UnreadableObjectIsAnIoError) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root can open a mode-0000 object";
  }
  const std::string inst = unique_instance("noperm");
  auto seg = make_segment(kTestNowNs, inst);
  ShmObject obj(inst, seg.get());
  ASSERT_TRUE(obj.ok());
  const int fd = ::shm_open(obj.name().c_str(), O_RDWR, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fchmod(fd, 0), 0);
  ::close(fd);
  SegmentReadResult r = stats_segment_open_and_read(inst, kTestNowNs);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, SegmentError::io_error);
  EXPECT_EQ(r.error().sys_errno, EACCES);
}

TEST(StatsSegmentShm, DirectoryInPlaceOfTheObjectIsAnIoError) {
  // Works as root too: a directory opens read-only but cannot be mapped.
  const std::string inst = unique_instance("dir");
  const std::string path = "/dev/shm" + shm::stats_shm_name(inst);
  if (::mkdir(path.c_str(), 0700) != 0) {
    GTEST_SKIP() << "cannot create " << path;
  }
  SegmentReadResult r = stats_segment_open_and_read(inst, kTestNowNs);
  ::rmdir(path.c_str());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, SegmentError::io_error) << r.error().message;
  EXPECT_NE(r.error().sys_errno, 0);
  EXPECT_TRUE(segment_error_is_failure(r.error().code));
}

}  // namespace
}  // namespace tg::controlplane
