// controlplane/cert_auth: certificates made by make_test_certs.sh (openssl). Refusals first
// (malformed, unknown CA, expired, not yet valid, bad signature, no usable user name), then
// success with each user field, and intermediates sent by the client.
#include "controlplane/cert_auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace tg::controlplane {
namespace {

using ctl::CtlReason;
using ctl::CtlResult;

class CertAuthTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::TempDir() + "certauth-" + std::to_string(getpid());
    const std::string script = std::string(std::getenv("TG_CERT_SCRIPT") ? std::getenv("TG_CERT_SCRIPT") : "");
    ASSERT_FALSE(script.empty()) << "TG_CERT_SCRIPT not set";
    ASSERT_EQ(std::system(("mkdir -p " + dir_ + " && bash " + script + " " + dir_).c_str()), 0);
  }
  static void TearDownTestSuite() { std::system(("rm -rf " + dir_).c_str()); }

  static std::vector<uint8_t> der(const std::string& name) {
    std::ifstream in(dir_ + "/" + name + ".der", std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static std::unique_ptr<CertAuthenticator> make(CertUserField f = CertUserField::subject_cn) {
    auto a = CertAuthenticator::create({dir_ + "/root.pem", f});
    EXPECT_TRUE(a) << a.error().message;
    return a ? std::move(*a) : nullptr;
  }
  static std::string dir_;
};
std::string CertAuthTest::dir_;

TEST_F(CertAuthTest, UnreadableOrEmptyBundleIsAnError) {
  auto missing = CertAuthenticator::create({dir_ + "/absent.pem", CertUserField::subject_cn});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  std::ofstream(dir_ + "/empty.pem") << "not a certificate\n";
  auto empty = CertAuthenticator::create({dir_ + "/empty.pem", CertUserField::subject_cn});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, EINVAL);
  EXPECT_FALSE(cert_user_field_parse("uid"));
  EXPECT_EQ(*cert_user_field_parse("san_email"), CertUserField::san_email);
}

TEST_F(CertAuthTest, Refusals) {
  auto a = make();
  ASSERT_TRUE(a);
  std::vector<uint8_t> tampered = der("alice");
  tampered[tampered.size() - 5] ^= 0x01;  // inside the signature value
  std::vector<uint8_t> truncated = der("alice");
  truncated.resize(truncated.size() / 2);
  const std::vector<uint8_t> garbage(300, 0x30);
  struct Case {
    int number;
    const char* what;
    std::vector<uint8_t> cert;
    CtlReason reason;
  } cases[] = {
      {1, "empty", {}, CtlReason::cert_malformed},
      {2, "garbage", garbage, CtlReason::cert_malformed},
      {3, "truncated", truncated, CtlReason::cert_malformed},
      {4, "another CA", der("stranger"), CtlReason::cert_unknown_ca},
      {5, "intermediate not sent", der("viaint"), CtlReason::cert_unknown_ca},
      {6, "expired", der("expired"), CtlReason::cert_expired},
      {7, "not yet valid", der("future"), CtlReason::cert_not_yet_valid},
      {8, "bad signature", tampered, CtlReason::cert_bad_signature},
      {9, "CN is not a user name", der("badname"), CtlReason::cert_no_user},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "case " << c.number << ": " << c.what);
    const auto o = a->verify(c.cert, {});
    EXPECT_EQ(o.result, CtlResult::denied);
    EXPECT_EQ(ctl::ctl_reason_name(o.reason), std::string(ctl::ctl_reason_name(c.reason))) << o.detail;
    EXPECT_EQ(o.user, "");
  }
}

TEST_F(CertAuthTest, UserFromEachField) {
  EXPECT_EQ(make(CertUserField::subject_cn)->verify(der("alice"), {}).user, "alice");
  EXPECT_EQ(make(CertUserField::san_email)->verify(der("alice"), {}).user, "alice@example.com");
  EXPECT_EQ(make(CertUserField::san_dns)->verify(der("alice"), {}).user, "alice.example.com");
  const auto none = make(CertUserField::san_email)->verify(der("expired"), {});
  EXPECT_EQ(none.reason, CtlReason::cert_expired);  // dates are checked before the name
  const auto no_san = make(CertUserField::san_email)->verify(der("viaint"), der("intermediate"));
  EXPECT_EQ(no_san.reason, CtlReason::cert_no_user);
}

TEST_F(CertAuthTest, AppFromTheConfiguredField) {
  auto with = [](CertAppField f, std::string prefix = "urn:app:") {
    auto a = CertAuthenticator::create({dir_ + "/root.pem", CertUserField::subject_cn, f, prefix});
    EXPECT_TRUE(a) << a.error().message;
    return std::move(*a);
  };
  // Names no app: none, no URI SAN, no OU, a URI with a space, a prefix that matches nothing.
  EXPECT_EQ(with(CertAppField::none)->verify(der("appuri"), {}).app, "");
  EXPECT_EQ(with(CertAppField::san_uri)->verify(der("alice"), {}).app, "");
  EXPECT_EQ(with(CertAppField::subject_ou)->verify(der("alice"), {}).app, "");
  EXPECT_EQ(with(CertAppField::san_uri)->verify(der("appspace"), {}).app, "");
  EXPECT_EQ(with(CertAppField::san_uri, "urn:other:")->verify(der("appuri"), {}).app, "");
  // The first URI with the prefix; the OU.
  const auto uri = with(CertAppField::san_uri)->verify(der("appuri"), {});
  EXPECT_EQ(uri.result, CtlResult::ok);
  EXPECT_EQ(uri.user, "dave");
  EXPECT_EQ(uri.app, "com.example.mail");
  EXPECT_EQ(with(CertAppField::san_uri, "https://example.com/device/")->verify(der("appuri"), {}).app, "7");
  EXPECT_EQ(with(CertAppField::subject_ou)->verify(der("appuri"), {}).app, "com.example.ou");
  EXPECT_FALSE(cert_app_field_parse("subject_o"));
  EXPECT_EQ(*cert_app_field_parse("group"), CertAppField::none);
}

TEST_F(CertAuthTest, IntermediatesFromTheClient) {
  auto a = make();
  const auto ok = a->verify(der("viaint"), der("intermediate"));
  EXPECT_EQ(ok.result, CtlResult::ok) << ok.detail;
  EXPECT_EQ(ok.user, "carol");
  // Order does not matter, and an untrusted extra (another CA's leaf) is ignored.
  std::vector<uint8_t> chain = der("stranger");
  const auto inter = der("intermediate");
  chain.insert(chain.end(), inter.begin(), inter.end());
  EXPECT_EQ(a->verify(der("viaint"), chain).result, CtlResult::ok);
  // A leaf of the other CA does not become trusted by sending its chain-less self.
  EXPECT_EQ(a->verify(der("stranger"), der("stranger")).reason, CtlReason::cert_unknown_ca);
  // A client cannot make a non-CA leaf its "intermediate".
  EXPECT_EQ(a->verify(der("stranger"), der("alice")).reason, CtlReason::cert_unknown_ca);
  // The per-request trust never leaks into later requests.
  EXPECT_EQ(a->verify(der("viaint"), {}).reason, CtlReason::cert_unknown_ca);
}

}  // namespace
}  // namespace tg::controlplane
