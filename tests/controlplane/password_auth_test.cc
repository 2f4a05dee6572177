// controlplane/password_auth: wrong, empty and unknown credentials first, then groups, rate
// limiting, the bounded failure table, and that unknown users cost as much as known ones.
#include "controlplane/password_auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>

#include "controlplane/password_hash.h"

namespace tg::controlplane {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;
using ctl::CtlReason;
using ctl::CtlResult;

class PasswordAuthTest : public testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::TempDir() + "pwauth-" + std::to_string(getpid()) + ".txt";
    const Argon2Params cheap{1024, 1, 1};
    std::ofstream(path_) << "alice:staff:" << *password_hash("correct horse", cheap) << "\n"
                         << "bob::" << *password_hash("battery", cheap) << "\n";
  }
  void TearDown() override { unlink(path_.c_str()); }
  std::string path_;
};

TEST_F(PasswordAuthTest, WrongEmptyUnknownAndBadNames) {
  UsersFile users(path_);
  PasswordAuthenticator auth(users, {});
  struct Case {
    const char* user;
    const char* password;
  } cases[] = {{"alice", "wrong"}, {"alice", ""}, {"alice", "correct horse "}, {"carol", "x"},
               {"", "x"},          {"a:b", "x"},  {"ALICE", "correct horse"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.user) + "/" + c.password);
    const auto o = auth.verify(c.user, c.password, "", 0);
    EXPECT_EQ(o.result, CtlResult::denied);
    EXPECT_EQ(o.reason, CtlReason::bad_credentials);
    EXPECT_EQ(o.user, "");
  }
}

TEST_F(PasswordAuthTest, NeverLoadedFileIsTryAgain) {
  UsersFile users(path_ + ".absent");
  PasswordAuthenticator auth(users, {});
  const auto o = auth.verify("alice", "correct horse", "", 0);
  EXPECT_EQ(o.result, CtlResult::try_again);
  EXPECT_EQ(o.reason, CtlReason::internal);
}

TEST_F(PasswordAuthTest, SuccessAndGroups) {
  UsersFile users(path_);
  PasswordAuthenticator auth(users, {});
  auto o = auth.verify("alice", "correct horse", "", 0);
  EXPECT_EQ(o.result, CtlResult::ok);
  EXPECT_EQ(o.user, "alice");
  EXPECT_EQ(o.group, "staff");
  EXPECT_EQ(auth.verify("alice", "correct horse", "staff", 0).result, CtlResult::ok);
  o = auth.verify("alice", "correct horse", "other", 0);
  EXPECT_EQ(o.result, CtlResult::denied);
  EXPECT_EQ(o.reason, CtlReason::group_not_allowed);
  o = auth.verify("bob", "battery", "anything", 0);  // no group in the file: the client's choice
  EXPECT_EQ(o.result, CtlResult::ok);
  EXPECT_EQ(o.group, "anything");
}

TEST_F(PasswordAuthTest, FailuresLockTheNameThenExpire) {
  UsersFile users(path_);
  PasswordAuthenticator auth(users, {.max_failures = 3, .window_ns = 60 * kSecond,
                                     .lockout_ns = 30 * kSecond, .table_size = 16});
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(auth.verify("alice", "wrong", "", i * kSecond).reason, CtlReason::bad_credentials);
  }
  auto o = auth.verify("alice", "correct horse", "", 3 * kSecond);
  EXPECT_EQ(o.result, CtlResult::denied);
  EXPECT_EQ(o.reason, CtlReason::rate_limited);
  EXPECT_EQ(auth.verify("bob", "battery", "", 3 * kSecond).result, CtlResult::ok);  // per name
  EXPECT_EQ(auth.verify("alice", "correct horse", "", 33 * kSecond).result, CtlResult::ok);
  // A success cleared the counter: two more failures do not lock.
  auth.verify("alice", "wrong", "", 34 * kSecond);
  auth.verify("alice", "wrong", "", 35 * kSecond);
  EXPECT_EQ(auth.verify("alice", "correct horse", "", 36 * kSecond).result, CtlResult::ok);
  // Failures spread beyond the window do not add up.
  for (int i = 0; i < 5; ++i) auth.verify("bob", "wrong", "", (100 + 61 * i) * kSecond);
  EXPECT_EQ(auth.verify("bob", "battery", "", 500 * kSecond).result, CtlResult::ok);
}

TEST_F(PasswordAuthTest, FailureTableIsBounded) {
  UsersFile users(path_);
  PasswordAuthenticator auth(users, {.table_size = 4});
  for (int i = 0; i < 20; ++i) auth.verify("user" + std::to_string(i), "x", "", i * kSecond);
  EXPECT_LE(auth.tracked_names(), 4u);
}

// Test that an unknown name costs about as much as a known one (one argon2 verification
// each, with the default parameters the dummy hash uses).
TEST_F(PasswordAuthTest, UnknownUserTakesAsLongAsAKnownOne) {
  std::ofstream(path_) << "alice::" << *password_hash("pw", Argon2Params{}) << "\n";
  UsersFile users(path_);
  PasswordAuthenticator auth(users, {.max_failures = 1000});
  auto median = [&](const char* user) {
    std::vector<double> t;
    for (int i = 0; i < 5; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      auth.verify(user, "wrong", "", 0);
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[2];
  };
  const double known = median("alice");
  const double unknown = median("nobody");
  EXPECT_GT(unknown / known, 0.5);
  EXPECT_LT(unknown / known, 2.0);
}

}  // namespace
}  // namespace tg::controlplane
