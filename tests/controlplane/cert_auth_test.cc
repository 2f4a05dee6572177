// controlplane/cert_auth: certificates made by make_test_certs.sh (openssl). Refusals first
// (malformed, unknown CA, expired, not yet valid, bad signature, no usable user name), then
// success with each user field, and intermediates sent by the client. Then CRLs: files that
// are refused, revoked certificates (direct and via an intermediate), a CA without a CRL,
// an expired CRL failing closed and open, reload, and crl_info() against openssl.
#include "controlplane/cert_auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
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
  static std::string text(const std::string& name) {
    std::ifstream in(dir_ + "/" + name, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  }
  /// Write `content` to a temporary file and rename it over `name` (a new inode each time).
  static std::string put(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path + ".tmp", std::ios::binary) << content;
    EXPECT_EQ(std::rename((path + ".tmp").c_str(), path.c_str()), 0);
    return path;
  }
  /// The serial make_test_certs.sh wrote for `name` (hex, as openssl prints it).
  static std::string serial(const std::string& name) {
    std::string s = text(name + ".serial");
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
  }
  static Expected<std::unique_ptr<CertAuthenticator>> with_crl(const std::string& ca,
                                                               const std::string& crl_path,
                                                               bool fail_open = false) {
    CertAuthenticator::Options o;
    o.ca_file = dir_ + "/" + ca;
    o.crl_file = crl_path;
    o.crl_fail_open = fail_open;
    return CertAuthenticator::create(std::move(o));
  }
  static std::unique_ptr<CertAuthenticator> must(Expected<std::unique_ptr<CertAuthenticator>> a) {
    EXPECT_TRUE(a) << a.error().message;
    return a ? std::move(*a) : nullptr;
  }
  static std::string dir_;
};
std::string CertAuthTest::dir_;

// Both of tunnelgate's wolfSSL builds have HAVE_CRL; a build without it refuses auth.crl.
#define TG_SKIP_WITHOUT_CRL()                                                       \
  do {                                                                              \
    if (!CertAuthenticator::crl_supported())                                        \
      GTEST_SKIP() << "this wolfSSL build has no CRL support (HAVE_CRL undefined)"; \
  } while (0)

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

// ---------------------------------------------------------------------------------- CRLs

TEST_F(CertAuthTest, CrlFilesThatAreRefused) {
  if (!CertAuthenticator::crl_supported()) {
    auto a = with_crl("root.pem", dir_ + "/crl_root.pem");
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().code, ENOTSUP);
    EXPECT_NE(a.error().message.find("not supported by this wolfSSL build"), std::string::npos);
  }
  TG_SKIP_WITHOUT_CRL();
  const std::string pem = text("crl_root.pem");
  const std::string der_crl = text("crl_root.der");
  std::string bad_base64 = pem;
  bad_base64[bad_base64.find('\n') + 10] = '*';
  std::string tampered = der_crl;
  tampered[tampered.size() - 3] ^= 0x01;  // inside the signature value
  const std::string root_b64 = text("root.pem").substr(text("root.pem").find('\n') + 1);
  struct Case {
    int number;
    const char* what;
    std::string content;
    const char* message;  ///< a part of the error message
  } cases[] = {
      {1, "empty", "", "no CRL"},
      {2, "text", "not a CRL\n", "no CRL"},
      {3, "garbage DER", std::string("\x30\x82\x01\x00garbage", 12), "not a DER CertificateList"},
      {4, "truncated PEM", pem.substr(0, pem.size() / 2), "no '-----END X509 CRL-----' line"},
      {5, "bad base64", bad_base64, "bad base64"},
      {6, "truncated DER", der_crl.substr(0, der_crl.size() / 2), "not a DER CertificateList"},
      {7, "DER with trailing bytes", der_crl + "xx", "bytes after the CertificateList"},
      {8, "a certificate as a CRL",
       "-----BEGIN X509 CRL-----\n" + root_b64.substr(0, root_b64.find("-----END")) +
           "-----END X509 CRL-----\n",
       "CRL 1"},
      {9, "signed by a CA not in the bundle", text("crl_other.pem"), "is not a CA of"},
      {10, "the root's name, another key", text("crl_forged.pem"), "signature does not verify"},
      {11, "the same, expired (checked by tunnelgate)", text("crl_forged_expired.pem"),
       "signature does not verify"},
      {12, "tampered signature", tampered, "signature does not verify"},
      {13, "two CRLs of one issuer", pem + text("crl_root_alice.pem"), "CRL 2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "case " << c.number << ": " << c.what);
    const std::string path = put("bad.crl", c.content);
    auto a = with_crl("root.pem", path);
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().code, EINVAL);
    EXPECT_NE(a.error().message.find(path), std::string::npos) << a.error().message;
    EXPECT_NE(a.error().message.find(c.message), std::string::npos) << a.error().message;
  }
  auto missing = with_crl("root.pem", dir_ + "/absent.crl");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_NE(missing.error().message.find("absent.crl"), std::string::npos);
  // A bad CA bundle is reported as such, CRL or not.
  std::ofstream(dir_ + "/empty.pem") << "not a certificate\n";
  auto no_ca = with_crl("empty.pem", dir_ + "/crl_root.pem");
  ASSERT_FALSE(no_ca);
  EXPECT_NE(no_ca.error().message.find("no usable CA"), std::string::npos) << no_ca.error().message;
}

TEST_F(CertAuthTest, RevokedCertificatesAreRefused) {
  TG_SKIP_WITHOUT_CRL();
  // PEM (with text around it, as `openssl crl -text` writes) and DER say the same.
  const std::string commented =
      put("commented.crl", "# the root's CRL\n" + text("crl_root.pem") + "end\n");
  for (const std::string& file : {commented, dir_ + "/crl_root.der"}) {
    SCOPED_TRACE(file);
    auto a = must(with_crl("root.pem", file));
    ASSERT_TRUE(a);
    struct Case {
      int number;
      const char* what;
      std::string leaf;
      std::string chain;
      CtlReason reason;
      std::string in_detail;
    } cases[] = {
        {1, "revoked leaf", "bob", "", CtlReason::cert_revoked, serial("bob")},
        {2, "revoked intermediate sent", "dan", "revint", CtlReason::cert_revoked,
         serial("revint")},
        {3, "revoked intermediate not sent", "dan", "", CtlReason::cert_unknown_ca, ""},
        {4, "expired and good: dates first", "expired", "", CtlReason::cert_expired, ""},
        {5, "another CA", "stranger", "", CtlReason::cert_unknown_ca, ""},
    };
    for (const Case& c : cases) {
      SCOPED_TRACE(testing::Message() << "case " << c.number << ": " << c.what);
      const auto o =
          a->verify(der(c.leaf), c.chain.empty() ? std::vector<uint8_t>() : der(c.chain));
      EXPECT_EQ(o.result, CtlResult::denied);
      EXPECT_EQ(ctl::ctl_reason_name(o.reason), std::string(ctl::ctl_reason_name(c.reason)))
          << o.detail;
      EXPECT_NE(o.detail.find(c.in_detail), std::string::npos) << o.detail;
      if (c.reason == CtlReason::cert_revoked) {
        EXPECT_NE(o.detail.find("/CN=tunnelgate test root CA"), std::string::npos) << o.detail;
      }
      EXPECT_EQ(o.user, "");
    }
    // Not listed: accepted, with and without intermediates (whose own CA has no CRL here).
    const auto alice = a->verify(der("alice"), {});
    EXPECT_EQ(alice.result, CtlResult::ok) << alice.detail;
    EXPECT_FALSE(alice.stale_crl);
    EXPECT_EQ(a->verify(der("viaint"), der("intermediate")).result, CtlResult::ok);
    EXPECT_EQ(a->crl_expired_accepted(), 0u);
  }
}

TEST_F(CertAuthTest, CrlOfAnIntermediateInTheBundle) {
  TG_SKIP_WITHOUT_CRL();
  // Two CRLs in one PEM file, one per CA of the bundle.
  auto a = must(with_crl("root_int.pem",
                         put("two.crl", text("crl_root.pem") + text("crl_intermediate.pem"))));
  ASSERT_TRUE(a);
  for (const std::vector<uint8_t>& chain : {std::vector<uint8_t>(), der("intermediate")}) {
    const auto eve = a->verify(der("eve"), chain);
    EXPECT_EQ(eve.reason, CtlReason::cert_revoked) << eve.detail;
    EXPECT_NE(eve.detail.find(serial("eve")), std::string::npos) << eve.detail;
    EXPECT_NE(eve.detail.find("/CN=tunnelgate test intermediate"), std::string::npos) << eve.detail;
    EXPECT_EQ(a->verify(der("viaint"), chain).result, CtlResult::ok);
  }
  EXPECT_EQ(a->verify(der("bob"), {}).reason, CtlReason::cert_revoked);
  EXPECT_EQ(a->verify(der("alice"), {}).result, CtlResult::ok);
}

TEST_F(CertAuthTest, CaWithoutCrlIsNotChecked) {
  TG_SKIP_WITHOUT_CRL();
  // Only the root has a CRL: the other CA's certificates are not checked for revocation
  // (wolfSSL's CRL_MISSING for them is accepted), the root's are.
  auto a = must(with_crl("root_other.pem", dir_ + "/crl_root.pem"));
  ASSERT_TRUE(a);
  const auto stranger = a->verify(der("stranger"), {});
  EXPECT_EQ(stranger.result, CtlResult::ok) << stranger.detail;
  EXPECT_EQ(stranger.user, "mallory");
  EXPECT_FALSE(stranger.stale_crl);
  EXPECT_EQ(a->verify(der("bob"), {}).reason, CtlReason::cert_revoked);
}

TEST_F(CertAuthTest, ExpiredCrlFailsClosed) {
  TG_SKIP_WITHOUT_CRL();
  auto a = must(with_crl("root_other.pem", dir_ + "/crl_root_expired.pem"));
  ASSERT_TRUE(a);
  const auto alice = a->verify(der("alice"), {});
  EXPECT_EQ(alice.result, CtlResult::denied);
  EXPECT_EQ(alice.reason, CtlReason::crl_expired) << alice.detail;
  EXPECT_NE(alice.detail.find("2020-01-02T00:00:00Z"), std::string::npos) << alice.detail;
  // Listed in the expired CRL: still revoked. An intermediate checked against it: expired.
  EXPECT_EQ(a->verify(der("bob"), {}).reason, CtlReason::cert_revoked);
  EXPECT_EQ(a->verify(der("viaint"), der("intermediate")).reason, CtlReason::crl_expired);
  // The other CA has no CRL: unaffected.
  EXPECT_EQ(a->verify(der("stranger"), {}).result, CtlResult::ok);
  EXPECT_EQ(a->crl_expired_accepted(), 0u);
  // An RSA CA's expired CRL (its signature checked by tunnelgate, not wolfSSL).
  auto rsa = must(with_crl("root_rsa.pem", dir_ + "/crl_rsa_expired.pem"));
  ASSERT_TRUE(rsa);
  EXPECT_EQ(rsa->verify(der("frank"), {}).reason, CtlReason::crl_expired);
  EXPECT_EQ(rsa->verify(der("alice"), {}).result, CtlResult::ok);
}

TEST_F(CertAuthTest, ExpiredCrlFailOpenAcceptsAndCounts) {
  TG_SKIP_WITHOUT_CRL();
  auto a = must(with_crl("root_other.pem", dir_ + "/crl_root_expired.pem", true));
  ASSERT_TRUE(a);
  const auto alice = a->verify(der("alice"), {});
  EXPECT_EQ(alice.result, CtlResult::ok) << alice.detail;
  EXPECT_EQ(alice.user, "alice");
  EXPECT_TRUE(alice.stale_crl);
  EXPECT_NE(alice.detail.find("auth.crl_fail_open"), std::string::npos) << alice.detail;
  EXPECT_EQ(a->crl_expired_accepted(), 1u);
  // Listed: refused all the same, not counted.
  EXPECT_EQ(a->verify(der("bob"), {}).reason, CtlReason::cert_revoked);
  EXPECT_EQ(a->crl_expired_accepted(), 1u);
  // Via an intermediate checked against the expired CRL: one login, counted once.
  const auto carol = a->verify(der("viaint"), der("intermediate"));
  EXPECT_EQ(carol.result, CtlResult::ok) << carol.detail;
  EXPECT_TRUE(carol.stale_crl);
  EXPECT_EQ(a->crl_expired_accepted(), 2u);
  // A CA without a CRL does not count; nor does a refusal for another reason.
  EXPECT_FALSE(a->verify(der("stranger"), {}).stale_crl);
  EXPECT_EQ(a->verify(der("badname"), {}).reason, CtlReason::cert_no_user);
  EXPECT_EQ(a->crl_expired_accepted(), 2u);
  auto rsa = must(with_crl("root_rsa.pem", dir_ + "/crl_rsa_expired.pem", true));
  ASSERT_TRUE(rsa);
  EXPECT_EQ(rsa->verify(der("frank"), {}).result, CtlResult::ok);
  EXPECT_EQ(rsa->crl_expired_accepted(), 1u);
}

TEST_F(CertAuthTest, ReloadReplacesTheCrls) {
  TG_SKIP_WITHOUT_CRL();
  const std::string live = put("live.crl", text("crl_root.pem"));
  auto a = must(with_crl("root.pem", live));
  ASSERT_TRUE(a);
  auto unchanged = a->reload_crl_if_changed();
  ASSERT_TRUE(unchanged) << unchanged.error().message;
  EXPECT_FALSE(*unchanged);
  EXPECT_EQ(a->verify(der("alice"), {}).result, CtlResult::ok);
  // A new CRL revoking alice: in force after the reload.
  put("live.crl", text("crl_root_alice.pem"));
  auto changed = a->reload_crl_if_changed();
  ASSERT_TRUE(changed) << changed.error().message;
  EXPECT_TRUE(*changed);
  EXPECT_EQ(a->verify(der("alice"), {}).reason, CtlReason::cert_revoked);
  EXPECT_EQ(a->crl_info().revoked, 3u);
  EXPECT_FALSE(*a->reload_crl_if_changed());
  // A bad file: an error naming it, every time while it is unchanged; the CRLs stay.
  put("live.crl", text("crl_root_alice.pem").substr(0, 200));
  for (int i = 0; i < 2; ++i) {
    auto bad = a->reload_crl_if_changed();
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, EINVAL);
    EXPECT_NE(bad.error().message.find(live), std::string::npos) << bad.error().message;
  }
  EXPECT_EQ(a->verify(der("alice"), {}).reason, CtlReason::cert_revoked);
  EXPECT_EQ(a->verify(der("bob"), {}).reason, CtlReason::cert_revoked);
  EXPECT_EQ(a->crl_info().revoked, 3u);
  // A CRL of a CA that is not in the bundle, a vanished file: the same.
  put("live.crl", text("crl_other.pem"));
  EXPECT_FALSE(a->reload_crl_if_changed());
  ASSERT_EQ(unlink(live.c_str()), 0);
  auto gone = a->reload_crl_if_changed();
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ENOENT);
  EXPECT_EQ(a->verify(der("alice"), {}).reason, CtlReason::cert_revoked);
  // Back to the first CRL.
  put("live.crl", text("crl_root.pem"));
  auto back = a->reload_crl_if_changed();
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(*back);
  EXPECT_EQ(a->verify(der("alice"), {}).result, CtlResult::ok);
  EXPECT_EQ(a->crl_info().revoked, 2u);
  // Without auth.crl there is nothing to reload.
  auto none = make();
  ASSERT_TRUE(none);
  auto nothing = none->reload_crl_if_changed();
  ASSERT_TRUE(nothing);
  EXPECT_FALSE(*nothing);
}

TEST_F(CertAuthTest, CrlInfoMatchesOpenssl) {
  TG_SKIP_WITHOUT_CRL();
  // NAME.times: `openssl crl -noout -lastupdate -nextupdate` as Unix seconds.
  auto times = [](const std::string& name) {
    std::istringstream in(text(name + ".times"));
    int64_t last = 0, next = 0;
    in >> last >> next;
    return std::make_pair(last, next);
  };
  EXPECT_FALSE(make()->crl_info().loaded);
  const auto root = times("crl_root");
  auto a = must(with_crl("root.pem", dir_ + "/crl_root.der"));
  ASSERT_TRUE(a);
  CertAuthenticator::CrlInfo i = a->crl_info();
  EXPECT_TRUE(i.loaded);
  EXPECT_EQ(i.this_update, root.first);
  EXPECT_EQ(i.next_update, root.second);
  EXPECT_EQ(i.crls, 1u);
  EXPECT_EQ(i.revoked, 2u);
  // Several CRLs: the oldest thisUpdate, the first nextUpdate, the entries summed.
  const auto expired = times("crl_root_expired");
  EXPECT_EQ(expired, std::make_pair(int64_t{1577836800}, int64_t{1577923200}));
  const auto inter = times("crl_intermediate");
  const std::string both = text("crl_intermediate.pem") + text("crl_root_expired.pem");
  auto two = must(with_crl("root_int.pem", put("info.crl", both)));
  ASSERT_TRUE(two);
  i = two->crl_info();
  EXPECT_EQ(i.crls, 2u);
  EXPECT_EQ(i.revoked, 2u);
  EXPECT_EQ(i.this_update, std::min(inter.first, expired.first));
  EXPECT_EQ(i.next_update, std::min(inter.second, expired.second));
}

}  // namespace
}  // namespace tg::controlplane
