// controlplane/users_file + password_hash: malformed lines first (a numbered table, each
// with its line number), argon2 parameters out of range, then reloads and edits.
#include "controlplane/users_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "controlplane/password_hash.h"

namespace tg::controlplane {
namespace {

// A real hash made once with cheap parameters (m=1024,t=1,p=1) so the tests stay fast.
const std::string& good_hash() {
  static const std::string h = *password_hash("pw", Argon2Params{1024, 1, 1});
  return h;
}
const std::string kSalt = "c2FsdHNhbHRzYWx0c2FsdA";           // 16 bytes
const std::string kHash = "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";  // 32 bytes
std::string phc(const std::string& params, const std::string& salt = kSalt,
                const std::string& hash = kHash, const std::string& v = "v=19") {
  return "$argon2id$" + v + "$" + params + "$" + salt + "$" + hash;
}

struct BadLine {
  int number;
  std::string line;
  std::string expect;  ///< substring of the message
};

const std::vector<BadLine>& bad_lines() {
  static const std::vector<BadLine> k = {
      {1, "alice", "expected name:group:hash (0 ':' found)"},
      {2, "alice:staff", "expected name:group:hash (1 ':' found)"},
      {3, ":staff:" + phc("m=1024,t=1,p=1"), "user name '' is not"},
      {4, "al ice::" + phc("m=1024,t=1,p=1"), "user name 'al ice' is not"},
      {5, std::string(65, 'a') + "::" + phc("m=1024,t=1,p=1"), "is not [A-Za-z0-9._@-]{1,64}"},
      {6, "alice:st aff:" + phc("m=1024,t=1,p=1"), "group 'st aff' is not empty or"},
      {7, "alice::x:" + phc("m=1024,t=1,p=1"), "more than 3 ':'-separated fields"},
      {8, "alice::", "not an argon2id PHC string"},
      {9, "alice::$argon2i$v=19$m=1024,t=1,p=1$" + kSalt + "$" + kHash, "not an argon2id PHC string"},
      {10, "alice::" + phc("m=1024,t=1,p=1", kSalt, kHash, "v=16"), "version 'v=16' is not v=19"},
      {11, "alice::$argon2id$v=19$m=1024,t=1,p=1$" + kSalt, "fields after the algorithm"},
      {12, "alice::" + phc("t=1,m=1024,p=1"), "must start with m="},
      {13, "alice::" + phc("m=1024,p=1"), "are not m=M,t=T,p=P"},
      {14, "alice::" + phc("m=1023,t=1,p=1"), "memory m=1023 KiB not in 1024..4194304"},
      {15, "alice::" + phc("m=4194305,t=1,p=1"), "memory m=4194305 KiB not in"},
      {16, "alice::" + phc("m=1024,t=0,p=1"), "passes t=0 not in 1..64"},
      {17, "alice::" + phc("m=1024,t=65,p=1"), "passes t=65 not in 1..64"},
      {18, "alice::" + phc("m=1024,t=1,p=0"), "lanes p=0 not in 1..64"},
      {19, "alice::" + phc("m=1024,t=1,p=65"), "lanes p=65 not in 1..64"},
      {20, "alice::" + phc("m=1024,t=1,p=x"), "p 'x' is not a number"},
      {21, "alice::" + phc("m=01024,t=1,p=1"), "m '01024' is not a number"},
      {22, "alice::" + phc("m=99999999999,t=1,p=1"), "is not a number"},
      {23, "alice::" + phc("m=1024,t=1,p=1", "c2Fsd*Rz"), "salt is not unpadded base64"},
      {24, "alice::" + phc("m=1024,t=1,p=1", "c2FsdA"), "salt of 4 bytes not in 8..64"},
      {25, "alice::" + phc("m=1024,t=1,p=1", kSalt, "aGFzaA"), "hash of 4 bytes not in 16..64"},
      {26, "alice::" + phc("m=1024,t=1,p=1", kSalt, kHash + "="), "hash is not unpadded base64"},
  };
  return k;
}

TEST(UsersFileParse, EveryMalformedLineIsReportedWithItsLine) {
  for (const BadLine& b : bad_lines()) {
    SCOPED_TRACE(testing::Message() << "case " << b.number << ": " << b.line);
    const UsersFileParse p = users_file_parse("# header\n\n" + b.line + "\n", "users.txt");
    ASSERT_EQ(p.errors.size(), 1u);
    EXPECT_EQ(p.errors[0].line, 3);
    EXPECT_NE(p.errors[0].to_string().find("users.txt:3: "), std::string::npos);
    EXPECT_NE(p.errors[0].message.find(b.expect), std::string::npos) << p.errors[0].message;
    EXPECT_TRUE(p.users.empty());
  }
}

TEST(UsersFileParse, AllErrorsAtOnceAndDuplicates) {
  std::string text;
  for (const BadLine& b : bad_lines()) text += b.line + "\n";
  text += "bob::" + good_hash() + "\n";
  text += "bob:x:" + good_hash() + "\n";
  const UsersFileParse p = users_file_parse(text, "f");
  ASSERT_EQ(p.errors.size(), bad_lines().size() + 1);
  for (size_t i = 0; i < bad_lines().size(); ++i) EXPECT_EQ(p.errors[i].line, static_cast<int>(i + 1));
  EXPECT_EQ(p.errors.back().message, "user bob already defined on line " +
                                         std::to_string(bad_lines().size() + 1));
  ASSERT_EQ(p.users.size(), 1u);
}

TEST(UsersFileParse, CommentsBlanksCrlfAndNoFinalNewline) {
  const std::string text = "  # comment\r\n\t\n\nalice:staff:" + good_hash() + "\r\nbob::" + good_hash();
  const UsersFileParse p = users_file_parse(text, "f");
  ASSERT_TRUE(p.ok()) << p.errors[0].to_string();
  ASSERT_EQ(p.users.size(), 2u);
  EXPECT_EQ(p.users[0].name, "alice");
  EXPECT_EQ(p.users[0].group, "staff");
  EXPECT_EQ(p.users[0].line, 4);
  EXPECT_EQ(p.users[1].group, "");
  EXPECT_EQ(p.users[1].hash, good_hash());
}

TEST(UserNames, Charset) {
  EXPECT_TRUE(user_name_valid("a.b_c@d-e"));
  EXPECT_TRUE(user_name_valid(std::string(64, 'x')));
  EXPECT_FALSE(user_name_valid(""));
  EXPECT_FALSE(user_name_valid(std::string(65, 'x')));
  EXPECT_FALSE(user_name_valid("a:b"));
  EXPECT_FALSE(user_name_valid("a/b"));
  EXPECT_FALSE(user_name_valid(std::string("a\0b", 3)));
  EXPECT_TRUE(user_group_valid(""));
}

TEST(Argon2Params, ParseAndRanges) {
  EXPECT_FALSE(argon2_params_parse(""));
  EXPECT_FALSE(argon2_params_parse("m=1024,t=1"));
  EXPECT_FALSE(argon2_params_parse("m=1024,t=1,p=1,m=2048"));
  EXPECT_FALSE(argon2_params_parse("m=1024,t=1,q=1"));
  EXPECT_FALSE(argon2_params_parse("m=512,t=1,p=1"));
  EXPECT_FALSE(argon2_params_parse("m=1024,t=1,p=200"));
  EXPECT_FALSE(argon2_params_parse("m=1024,t=1,p=1,"));
  auto ok = argon2_params_parse("p=2,t=3,m=2048");
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, (Argon2Params{2048, 3, 2}));
  EXPECT_FALSE(argon2_params_check({1024, 1, 200}));
  EXPECT_FALSE(password_hash("pw", Argon2Params{100, 1, 1}));
}

TEST(PasswordHash, RoundTripAndWrongPasswords) {
  const std::string& h = good_hash();
  ASSERT_TRUE(phc_parse(h)) << h;
  EXPECT_EQ(phc_parse(h)->params, (Argon2Params{1024, 1, 1}));
  EXPECT_EQ(phc_parse(h)->salt_bytes, kArgon2SaltBytes);
  EXPECT_TRUE(password_verify(h, "pw"));
  EXPECT_FALSE(password_verify(h, ""));
  EXPECT_FALSE(password_verify(h, "pw "));
  EXPECT_FALSE(password_verify(h, "PW"));
  EXPECT_FALSE(password_verify("", "pw"));
  EXPECT_FALSE(password_verify(phc("m=1024,t=1,p=1"), "pw"));  // well-formed, wrong hash
  EXPECT_NE(*password_hash("pw", Argon2Params{1024, 1, 1}), h);  // fresh salt every time
}

class UsersFileOnDisk : public testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::TempDir() + "users-" + std::to_string(getpid()) + ".txt";
  }
  void TearDown() override {
    unlink(path_.c_str());
    unlink((path_ + ".lock").c_str());
  }
  void write(const std::string& text) {
    const std::string tmp = path_ + ".new";
    std::ofstream(tmp) << text;
    ASSERT_EQ(rename(tmp.c_str(), path_.c_str()), 0);  // new inode, like an editor
  }
  std::string path_;
};

TEST_F(UsersFileOnDisk, MissingFileIsAnError) {
  UsersFile f(path_);
  auto st = f.reload_if_changed();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ENOENT);
  EXPECT_EQ(f.loads(), 0u);
}

TEST_F(UsersFileOnDisk, ReloadsOnChangeAndKeepsTheOldTableOnErrors) {
  write("alice::" + good_hash() + "\n");
  UsersFile f(path_);
  ASSERT_TRUE(f.reload_if_changed());
  EXPECT_NE(f.find("alice"), nullptr);
  EXPECT_TRUE(f.reload_if_changed());  // unchanged: no re-read
  EXPECT_EQ(f.loads(), 1u);

  write("alice::" + good_hash() + "\nbob:broken\n");
  auto st = f.reload_if_changed();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find(path_ + ":2: expected name:group:hash"), std::string::npos)
      << st.error().message;
  EXPECT_NE(f.find("alice"), nullptr);  // old table in force
  EXPECT_EQ(f.find("bob"), nullptr);

  write("bob::" + good_hash() + "\n");
  ASSERT_TRUE(f.reload_if_changed());
  EXPECT_EQ(f.find("alice"), nullptr);
  EXPECT_NE(f.find("bob"), nullptr);
  EXPECT_EQ(f.loads(), 2u);
}

TEST_F(UsersFileOnDisk, EditsAreAtomicAndKeepOtherLines) {
  write("# keep me\nalice:staff:" + good_hash() + "\n");
  ASSERT_TRUE(users_file_apply(path_, UserEdit::add, "bob", std::string("ops"), good_hash()));
  auto again = users_file_apply(path_, UserEdit::add, "bob", std::string(), good_hash());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);
  ASSERT_TRUE(users_file_apply(path_, UserEdit::replace, "alice", std::nullopt, good_hash()));
  auto missing = users_file_apply(path_, UserEdit::remove, "carol", std::nullopt, "");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  ASSERT_TRUE(users_file_apply(path_, UserEdit::remove, "bob", std::nullopt, ""));
  std::ifstream in(path_);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "# keep me\nalice:staff:" + good_hash() + "\n");
  struct stat st{};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A broken file is never edited.
  write("broken\n");
  auto refused = users_file_apply(path_, UserEdit::add, "dave", std::string(), good_hash());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find(":1: expected"), std::string::npos);
  // Bad input to the editor itself.
  EXPECT_FALSE(users_file_edit("", "f", UserEdit::add, "bad name", std::string(), good_hash()));
  EXPECT_FALSE(users_file_edit("", "f", UserEdit::add, "ok", std::string("g g"), good_hash()));
  EXPECT_FALSE(users_file_edit("", "f", UserEdit::add, "ok", std::string(), "$argon2id$nope"));
}

}  // namespace
}  // namespace tg::controlplane
