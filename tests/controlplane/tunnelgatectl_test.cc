// tools/tunnelgatectl end to end: usage errors (exit 2), then useradd / passwd / userdel on
// a users file, each checked through the control plane's own PasswordAuthenticator.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "controlplane/password_auth.h"

namespace tg::controlplane {
namespace {

class TunnelgatectlTest : public testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("TG_TUNNELGATECTL_BIN");
    ASSERT_NE(bin, nullptr);
    bin_ = bin;
    dir_ = testing::TempDir() + "tgctl-" + std::to_string(getpid());
    ASSERT_EQ(std::system(("mkdir -p " + dir_).c_str()), 0);
    users_ = dir_ + "/users";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  /// Run `tunnelgatectl ARGS` with `input` on stdin (not a tty); the exit code.
  int run(const std::string& args, const std::string& input = "") {
    const std::string cmd = "printf '%b' '" + input + "' | " + bin_ + " " + args + " >/dev/null 2>&1";
    const int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  PasswordAuthenticator::Outcome check(const std::string& user, const std::string& pw) {
    UsersFile f(users_);
    PasswordAuthenticator auth(f, {});
    return auth.verify(user, pw, "", 0);
  }

  std::string bin_, dir_, users_;
};

TEST_F(TunnelgatectlTest, UsageErrorsExit2) {
  EXPECT_EQ(run(""), 2);
  EXPECT_EQ(run("frobnicate"), 2);
  EXPECT_EQ(run("useradd"), 2);
  EXPECT_EQ(run("useradd alice"), 2);  // no file given
  EXPECT_EQ(run("useradd alice --users-file a --config b"), 2);
  EXPECT_EQ(run("useradd 'bad name' --users-file " + users_), 2);
  EXPECT_EQ(run("useradd alice --group 'a b' --users-file " + users_), 2);
  EXPECT_EQ(run("useradd alice --argon2 m=1,t=1,p=1 --users-file " + users_), 2);
  EXPECT_EQ(run("userdel alice --group g --users-file " + users_), 2);
  EXPECT_EQ(run("useradd alice bob --users-file " + users_), 2);
  for (const char* c : {"--help", "useradd --help", "passwd --help", "userdel -h"}) {
    EXPECT_EQ(run(c), 0) << c;
  }
  EXPECT_NE(access(users_.c_str(), F_OK), 0);  // nothing was written
}

TEST_F(TunnelgatectlTest, UseraddPasswdUserdel) {
  const std::string f = " --users-file " + users_ + " --argon2 m=1024,t=1,p=1";
  EXPECT_EQ(run("useradd alice --group staff" + f, ""), 1);  // empty password
  ASSERT_EQ(run("useradd alice --group staff" + f, "s3cret\\n"), 0);
  struct stat st{};
  ASSERT_EQ(stat(users_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto o = check("alice", "s3cret");
  EXPECT_EQ(o.result, ctl::CtlResult::ok);
  EXPECT_EQ(o.group, "staff");
  EXPECT_EQ(check("alice", "wrong").result, ctl::CtlResult::denied);

  EXPECT_EQ(run("useradd alice" + f, "other\\n"), 1);  // exists
  EXPECT_EQ(run("passwd bob" + f, "x\\n"), 1);         // missing
  ASSERT_EQ(run("passwd alice" + f, "n3w\\n"), 0);
  EXPECT_EQ(check("alice", "s3cret").result, ctl::CtlResult::denied);
  o = check("alice", "n3w");
  EXPECT_EQ(o.result, ctl::CtlResult::ok);
  EXPECT_EQ(o.group, "staff");  // kept

  ASSERT_EQ(run("useradd bob" + f, "pw"), 0);  // no trailing newline is fine
  EXPECT_EQ(check("bob", "pw").result, ctl::CtlResult::ok);
  ASSERT_EQ(run("userdel alice --users-file " + users_), 0);
  EXPECT_EQ(run("userdel alice --users-file " + users_), 1);
  EXPECT_EQ(check("alice", "n3w").result, ctl::CtlResult::denied);
  EXPECT_EQ(check("bob", "pw").result, ctl::CtlResult::ok);
}

TEST_F(TunnelgatectlTest, UsersFileFromTheConfig) {
  const std::string conf = dir_ + "/tg.conf";
  std::ofstream(conf) << "dataplane = { lcores = [1]; ports = ( { name = \"outside\"; role = "
                         "\"outside\"; device = \"net_null0\"; address = \"192.0.2.1/24\"; } ); };\n"
                         "auth = { methods = [\"password\"]; users_file = \"users\"; };\n";
  std::ofstream(users_) << "";  // the config loader wants the file to exist
  const int rc = run("useradd carol --config " + conf + " --argon2 m=1024,t=1,p=1", "pw\\n");
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(check("carol", "pw").result, ctl::CtlResult::ok);
  EXPECT_EQ(run("useradd dave --config " + dir_ + "/absent.conf", "pw\\n"), 1);
}

}  // namespace
}  // namespace tg::controlplane

namespace tg::controlplane {
namespace {

// cert-selfsigned / cert-check: usage errors first, then a certificate written, checked
// (usable with the warning self_signed), never overwritten, and a broken file refused.
TEST_F(TunnelgatectlTest, CertSelfsignedAndCheck) {
  const std::string cert = dir_ + "/s.pem", key = dir_ + "/s.key";
  EXPECT_EQ(run("cert-selfsigned"), 2);
  EXPECT_EQ(run("cert-selfsigned --cert " + cert + " --key " + key), 2);  // no --name
  EXPECT_EQ(run("cert-selfsigned --cert " + cert + " --key " + key + " --name gw --days 0"), 2);
  EXPECT_EQ(run("cert-selfsigned --cert " + cert + " --key " + key + " --name gw --days 826"), 2);
  EXPECT_EQ(run("cert-check"), 2);
  EXPECT_EQ(run("cert-check --cert " + cert + " extra"), 2);
  EXPECT_NE(access(cert.c_str(), F_OK), 0);

  EXPECT_EQ(run("cert-selfsigned --cert " + cert + " --key " + key + " --name gw.example.net"), 0);
  struct stat st {};
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string out = dir_ + "/check.out";
  const int rc = std::system((bin_ + " cert-check --cert " + cert + " --key " + key + " >" + out + " 2>&1").c_str());
  EXPECT_EQ(WEXITSTATUS(rc), 0);
  std::ifstream in(out);
  const std::string text{std::istreambuf_iterator<char>(in), {}};
  EXPECT_NE(text.find("self_signed"), std::string::npos) << text;
  EXPECT_NE(text.find("pin-sha256:"), std::string::npos) << text;
  EXPECT_NE(text.find("\nusable"), std::string::npos) << text;
  // Never overwritten; a key that is not the certificate's is refused (exit 1).
  EXPECT_EQ(run("cert-selfsigned --cert " + cert + " --key " + key + " --name other"), 1);
  EXPECT_EQ(run("cert-selfsigned --cert " + dir_ + "/t.pem --key " + dir_ + "/t.key --name other"), 0);
  EXPECT_EQ(run("cert-check --cert " + cert + " --key " + dir_ + "/t.key"), 1);
  std::ofstream(dir_ + "/garbage.pem") << "not a certificate\n";
  EXPECT_EQ(run("cert-check --cert " + dir_ + "/garbage.pem"), 1);
  EXPECT_EQ(run("cert-check --cert " + dir_ + "/absent.pem"), 1);
}

}  // namespace
}  // namespace tg::controlplane
