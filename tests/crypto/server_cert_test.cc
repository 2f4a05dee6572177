// crypto/server_cert: certificates made by make_server_certs.sh (openssl) in a temporary
// directory, validated at an injected "now" (2024-06-01T00:00:00Z; the script's dates are
// fixed around it). Malformed inputs first (numbered tables), then every validation outcome
// for ECDSA P-256 and RSA-2048, the chain handed to wolfSSL, CA lists, the primary/second
// choice, and the default self-signed certificate.
#include "crypto/server_cert.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

namespace tg::crypto {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr int64_t kNow = 1717200000;        // 2024-06-01T00:00:00Z
constexpr int64_t kLeafStart = 1704067200;  // 2024-01-01
constexpr int64_t kLeafEnd = 1735689600;    // 2025-01-01
constexpr int64_t kCaEnd = 2208988800;      // 2040-01-01
constexpr uint32_t kDay = 86400;

class ServerCertTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::TempDir() + "servercert-" + std::to_string(getpid());
    const char* script = std::getenv("TG_SERVER_CERT_SCRIPT");
    ASSERT_NE(script, nullptr) << "TG_SERVER_CERT_SCRIPT not set";
    ASSERT_EQ(
        std::system(("rm -rf " + dir_ + " && mkdir -p " + dir_ + " && bash " + script + " " + dir_)
                        .c_str()),
        0);
  }
  static void TearDownTestSuite() { std::system(("rm -rf " + dir_).c_str()); }

  static std::string path(const std::string& name) { return dir_ + "/" + name; }
  static Bytes read(const std::string& name) {
    std::ifstream in(path(name), std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static std::string text(const std::string& name) {
    const Bytes b = read(name);
    return std::string(b.begin(), b.end());
  }
  static Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }
  static void write(const std::string& name, const std::string& content) {
    std::ofstream(path(name), std::ios::binary) << content;
  }
  /// Load (key file may be "") and validate at kNow as a primary with no margin.
  static CertReport check(const std::string& cert, const std::string& key,
                          const std::string& pw = "") {
    auto b = cert_bundle_load(path(cert), key.empty() ? "" : path(key), pw);
    EXPECT_TRUE(b) << cert << " + " << key << ": " << (b ? "" : b.error().message);
    if (!b) return {};
    return cert_bundle_validate(*b, kNow, true, 0);
  }
  static std::set<std::string> codes(const CertReport& r) {
    std::set<std::string> out;
    for (const CertFinding& f : r.findings) out.insert(std::string(to_string(f.code)));
    return out;
  }
  static std::string describe(const CertReport& r) {
    std::string s;
    for (const CertFinding& f : r.findings)
      s += std::string(to_string(f.severity)) + " " + std::string(to_string(f.code)) + ": " +
           f.message + "\n";
    return s.empty() ? "(no findings)" : s;
  }
  static std::string dir_;
};
std::string ServerCertTest::dir_;

// ------------------------------------------------------------------------- malformed input

TEST_F(ServerCertTest, MalformedFilesAreRefusedWithTheFileAndTheReason) {
  std::string chain = text("ec-chain.pem");
  const std::string truncated_pem = chain.substr(0, chain.find("-----END CERTIFICATE-----", 700));
  std::string bad_b64 = text("ec-leaf.pem");
  bad_b64[40] = '!';
  Bytes der_half = read("ec-leaf.der");
  der_half.resize(der_half.size() / 2);
  Bytes bad_date = read("ec-leaf.der");
  {
    // notBefore "240101000000Z" → "2x0101000000Z": the structure parses, the date does not.
    const std::string s(bad_date.begin(), bad_date.end());
    const size_t at = s.find("240101000000Z");
    ASSERT_NE(at, std::string::npos);
    bad_date[at + 1] = 'x';
  }
  Bytes p12_half = read("ec-chain.p12");
  p12_half.resize(p12_half.size() / 2);
  Bytes p7_half = read("ec-chain.p7b");
  p7_half.resize(p7_half.size() - 300);
  const std::string crl_only = "-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n";
  const Bytes garbage_der = {0x30, 0x82, 0xff, 0xff, 0x01, 0x02, 0x03};

  struct Case {
    int number;
    const char* what;
    Bytes cert;
    const char* cert_name;
    Bytes key;  // with key_name "" the key comes from the certificate bytes
    const char* key_name;
    std::string password;
    int code;
    const char* message;  // a part of the message (after "cert_name: " or "key_name: ")
  } cases[] = {
      {1,
       "empty file",
       {},
       "server.pem",
       read("ec-leaf.key"),
       "server.key",
       "",
       EINVAL,
       "server.pem: the file is empty"},
      {2, "text garbage", bytes("hello\nworld\n"), "server.pem", read("ec-leaf.key"), "server.key",
       "", EINVAL, "neither PEM nor DER"},
      {3, "DER garbage", garbage_der, "server.der", read("ec-leaf.key"), "server.key", "", EINVAL,
       "truncated"},
      {4, "truncated PEM", bytes(truncated_pem), "server.pem", read("ec-leaf.key"), "server.key",
       "", EINVAL, "has no END line"},
      {5, "PEM with no certificate", bytes(crl_only), "server.pem", read("ec-leaf.key"),
       "server.key", "", EINVAL, "no certificate in the file (PEM blocks found: X509 CRL)"},
      {6, "PEM with bad base64", bytes(bad_b64), "server.pem", read("ec-leaf.key"), "server.key",
       "", EINVAL, "not valid base64"},
      {7, "DER truncated", der_half, "server.der", read("ec-leaf.key"), "server.key", "", EINVAL,
       "truncated"},
      {8, "DER with a bad date", bad_date, "server.der", read("ec-leaf.key"), "server.key", "",
       EINVAL, "certificate #1 is not valid X.509: bad notBefore/notAfter"},
      {9,
       "PKCS#12 wrong password",
       read("ec-chain.p12"),
       "server.p12",
       {},
       "",
       "wrong",
       EACCES,
       "server.p12: PKCS#12 MAC check failed: wrong password?"},
      {10,
       "PKCS#12 no password",
       read("ec-chain.p12"),
       "server.p12",
       {},
       "",
       "",
       EACCES,
       "MAC check failed"},
      {11,
       "PKCS#12 truncated",
       p12_half,
       "server.p12",
       {},
       "",
       "s3cret",
       EINVAL,
       "server.p12: not a valid PKCS#12 file"},
      {12,
       "PKCS#12 -legacy (RC2-40)",
       read("ec-chain-legacy.p12"),
       "server.p12",
       {},
       "",
       "s3cret",
       ENOTSUP,
       "RC2"},
      {13, "PKCS#7 truncated", p7_half, "chain.p7b", read("ec-leaf.key"), "server.key", "", EINVAL,
       "truncated"},
      {14, "key file is a certificate", read("ec-chain.pem"), "server.pem", read("ec-leaf.pem"),
       "server.key", "", EINVAL, "server.key: holds a certificate, not a private key"},
      {15, "key file is a DER certificate", read("ec-chain.pem"), "server.pem", read("ec-leaf.der"),
       "server.key", "", EINVAL, "server.key: holds a certificate, not a private key"},
      {16, "key of another type (Ed25519)", read("ec-chain.pem"), "server.pem", read("ed25519.key"),
       "server.key", "", EINVAL, "server.key: Ed25519 keys are not supported"},
      {17, "key file is a public key", read("ec-chain.pem"), "server.pem", read("ec-leaf.pub"),
       "server.key", "", EINVAL, "server.key: holds a public key"},
      {18, "two keys in the key file", read("ec-chain.pem"), "server.pem", read("two-keys.pem"),
       "server.key", "", EINVAL, "server.key: holds 2 private keys"},
      {19,
       "no key anywhere",
       read("ec-chain.pem"),
       "server.pem",
       {},
       "",
       "",
       EINVAL,
       "server.pem: no private key in the file, and no key file"},
      {20, "certificate file is a key", read("ec-leaf.key"), "server.pem", read("ec-leaf.key"),
       "server.key", "", EINVAL, "server.pem: holds a private key, not a certificate"},
      {21, "encrypted key, no password", read("ec-chain.pem"), "server.pem",
       read("ec-leaf.enc.key"), "server.key", "", EINVAL,
       "server.key: the private key is encrypted"},
      {22, "encrypted PKCS#8, wrong password", read("ec-chain.pem"), "server.pem",
       read("ec-leaf.enc.key"), "server.key", "wrong", EACCES,
       "server.key: cannot decrypt the private key"},
      {23, "Proc-Type key, wrong password", read("rsa-chain.pem"), "server.pem",
       read("rsa-leaf.enc-trad.key"), "server.key", "wrong", EACCES, "wrong password"},
      {24,
       "key file empty",
       read("ec-chain.pem"),
       "server.pem",
       {},
       "server.key",
       "",
       EINVAL,
       "server.key: the file is empty"},
      {25, "key file garbage", read("ec-chain.pem"), "server.pem", bytes("not a key"), "server.key",
       "", EINVAL, "server.key: neither PEM nor DER"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "case " << c.number << ": " << c.what);
    auto b = cert_bundle_parse(c.cert, c.cert_name, c.key, c.key_name, c.password);
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code, c.code) << b.error().message;
    EXPECT_NE(b.error().message.find(c.message), std::string::npos) << b.error().message;
  }
}

TEST_F(ServerCertTest, MissingOrUnreadableFilesAreRefused) {
  struct Case {
    int number;
    std::string cert, key;
    int code;
    std::string message;
  } cases[] = {
      {1, path("absent.pem"), path("ec-leaf.key"), ENOENT, path("absent.pem") + ": "},
      {2, path("ec-chain.pem"), path("absent.key"), ENOENT, path("absent.key") + ": "},
      {3, dir_, path("ec-leaf.key"), EISDIR, "is a directory"},
      {4, path("ec-chain.pem"), dir_, EISDIR, "is a directory"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.number);
    auto b = cert_bundle_load(c.cert, c.key, "");
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error().code, c.code) << b.error().message;
    EXPECT_NE(b.error().message.find(c.message), std::string::npos) << b.error().message;
  }
}

TEST_F(ServerCertTest, PasswordSources) {
  write("pw-empty", "");
  write("pw-newline", "\n");
  write("pw-crlf", "s3cret\r\nsecond line\n");
  write("pw-plain", "s3cret");
  write("pw-nul", std::string("s3\0cret\n", 8));
  ::unsetenv("TG_TEST_PW_UNSET");
  ::setenv("TG_TEST_PW_EMPTY", "", 1);
  ::setenv("TG_TEST_PW", "from env", 1);
  struct Case {
    int number;
    std::string file, env;
    int code;            // 0 = success
    std::string expect;  // the password, or a part of the message
  } cases[] = {
      {1, path("pw-absent"), "", ENOENT, path("pw-absent") + ": "},
      {2, path("pw-empty"), "", EINVAL, "the password is empty"},
      {3, path("pw-newline"), "", EINVAL, "the password is empty"},
      {4, "", "TG_TEST_PW_UNSET", ENOENT, "TG_TEST_PW_UNSET is not set"},
      {5, "", "TG_TEST_PW_EMPTY", EINVAL, "the password is empty"},
      {6, path("pw-plain"), "TG_TEST_PW", EINVAL, "both set"},
      {7, path("pw-nul"), "", EINVAL, "NUL"},
      {8, dir_, "", EISDIR, "is a directory"},
      {9, path("pw-crlf"), "", 0, "s3cret"},
      {10, path("pw-plain"), "", 0, "s3cret"},
      {11, "", "TG_TEST_PW", 0, "from env"},
      {12, "", "", 0, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.number);
    auto pw = cert_password_read(c.file, c.env);
    if (c.code == 0) {
      ASSERT_TRUE(pw) << pw.error().message;
      EXPECT_EQ(*pw, c.expect);
    } else {
      ASSERT_FALSE(pw);
      EXPECT_EQ(pw.error().code, c.code) << pw.error().message;
      EXPECT_NE(pw.error().message.find(c.expect), std::string::npos) << pw.error().message;
    }
  }
}

TEST_F(ServerCertTest, ValidateNeverFailsOnConstructedGarbage) {
  CertBundle empty;
  CertReport r = cert_bundle_validate(empty, kNow, true, 0);
  EXPECT_EQ(codes(r), std::set<std::string>{"malformed"});
  EXPECT_FALSE(r.usable());

  CertBundle junk;
  junk.certs = {Bytes{0x30, 0x03, 0x02, 0x01, 0x00}, read("ec-int.der")};
  junk.key_der = read("ec-leaf.key.der");
  r = cert_bundle_validate(junk, kNow, true, 0);
  EXPECT_EQ(codes(r), std::set<std::string>{"malformed"}) << describe(r);
  EXPECT_TRUE(r.spki_pin.empty());
  EXPECT_EQ(cert_bundle_chain_pem(junk), "");

  CertBundle bad_key;
  bad_key.certs = {read("ec-leaf.der"), read("ec-int.der"), read("ec-root.der")};
  bad_key.key_der = {0x30, 0x00};
  r = cert_bundle_validate(bad_key, kNow, true, 0);
  EXPECT_EQ(codes(r), std::set<std::string>{"malformed"}) << describe(r);
  bad_key.key_der.clear();
  r = cert_bundle_validate(bad_key, kNow, true, 0);
  EXPECT_EQ(codes(r), std::set<std::string>{"no_key"}) << describe(r);

  EXPECT_EQ(cert_spki_pin(Bytes{0x30, 0x00}), "");

  // An Ed25519 leaf (the loader refuses its key; a bundle built by hand reaches validation).
  CertBundle ed;
  ed.certs = {read("ed25519.der")};
  ed.key_der = read("ec-leaf.key.der");
  r = cert_bundle_validate(ed, kNow, true, 0);
  EXPECT_TRUE(r.has(CertCode::unsupported_key)) << describe(r);
  EXPECT_FALSE(r.has(CertCode::key_mismatch)) << describe(r);
  EXPECT_FALSE(r.usable());
  EXPECT_FALSE(r.spki_pin.empty());
}

// ----------------------------------------------------------------------- validation outcomes

class ServerCertOutcomeTest : public ServerCertTest,
                              public testing::WithParamInterface<const char*> {};

TEST_P(ServerCertOutcomeTest, EachOutcome) {
  const std::string a = GetParam();
  const std::string other = a == "ec" ? "rsa" : "ec";
  struct Case {
    int number;
    std::string cert, key, password;
    std::set<std::string> expect;
  } cases[] = {
      {1, a + "-chain.pem", a + "-leaf.key", "", {}},
      {2, a + "-reversed.pem", a + "-leaf.key", "", {}},
      {3, a + "-combined.pem", "", "", {}},
      {4, a + "-direct-chain.pem", a + "-direct.key", "", {}},
      {5, a + "-noroot.pem", a + "-leaf.key", "", {"no_root"}},
      {6, a + "-rootmismatch.pem", a + "-leaf.key", "", {"root_mismatch"}},
      {7, a + "-alone.pem", a + "-leaf.key", "", {"no_ca"}},
      {8, a + "-nochain.pem", a + "-leaf.key", "", {"no_chain"}},
      {9, a + "-strangerchain.pem", a + "-stranger.key", "", {"no_chain"}},
      {10, a + "-self.pem", a + "-self.key", "", {"self_signed"}},
      {11, a + "-clientonly-chain.pem", a + "-clientonly.key", "", {"no_server_auth"}},
      {12, a + "-noeku-chain.pem", a + "-noeku.key", "", {}},
      {13, a + "-anyeku-chain.pem", a + "-anyeku.key", "", {}},
      {14, a + "-expired-chain.pem", a + "-expired.key", "", {"expired"}},
      {15, a + "-future-chain.pem", a + "-future.key", "", {"not_yet_valid"}},
      {16, a + "-long-chain.pem", a + "-long.key", "", {"long_validity"}},
      {17, a + "-nosan-chain.pem", a + "-nosan.key", "", {"no_san"}},
      {18, a + "-kuenc-chain.pem", a + "-kuenc.key", "", {"key_usage"}},
      {19, a + "-chain.pem", a + "-noeku.key", "", {"key_mismatch"}},
      {20, a + "-chain.pem", other + "-leaf.key", "", {"key_mismatch"}},
      {21, a + "-chain.p12", "", "s3cret", {}},
      {22, a + "-chain-3des.p12", "", "s3cret", {}},
      {23, a + "-alone.p12", "", "s3cret", {"no_ca"}},
      {24, a + "-chain.p12", a + "-chain.p12", "s3cret", {}},
      {25, a + "-leaf.der", a + "-leaf.key.der", "", {"no_ca"}},
      {26, a + "-self.der", a + "-self.key", "", {"self_signed"}},
      {27, a + "-chain.pem", a + "-leaf.key.der", "", {}},
      {28, a + "-chain.pem", a + "-leaf.trad.key", "", {}},
      {29, a + "-chain.pem", a + "-leaf.trad.key.der", "", {}},
      {30, a + "-chain.pem", a + "-leaf.enc.key", "s3cret", {}},
      {31, a + "-chain.pem", a + "-leaf.enc-trad.key", "s3cret", {}},
      {32, a + "-chain.p7b", a + "-leaf.key", "", {}},
      {33, a + "-chain.p7b.pem", a + "-leaf.key", "", {}},
      {34, a + "-chain.pem", a + "-chain.p12", "s3cret", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message()
                 << a << " case " << c.number << ": " << c.cert << " + " << c.key);
    const CertReport r = check(c.cert, c.key, c.password);
    EXPECT_EQ(codes(r), c.expect) << describe(r);
    for (const CertFinding& f : r.findings) {
      EXPECT_EQ(f.severity, cert_code_severity(f.code)) << to_string(f.code);
      EXPECT_FALSE(f.message.empty());
    }
    const bool errors = std::any_of(c.expect.begin(), c.expect.end(), [](const std::string& code) {
      return code == "no_ca" || code == "no_chain" || code == "key_mismatch" || code == "expired" ||
             code == "not_yet_valid" || code == "no_server_auth" || code == "key_usage";
    });
    EXPECT_EQ(r.usable(), !errors) << describe(r);
  }
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, ServerCertOutcomeTest, testing::Values("ec", "rsa"));

TEST_F(ServerCertTest, RsaOnlyOutcomes) {
  EXPECT_EQ(codes(check("rsa-sha1-chain.pem", "rsa-sha1.key")),
            std::set<std::string>{"weak_signature"});
  EXPECT_EQ(codes(check("rsa-weak-chain.pem", "rsa-weak.key")), std::set<std::string>{"weak_key"});
  EXPECT_TRUE(check("rsa-sha1-chain.pem", "rsa-sha1.key").usable());
}

TEST_F(ServerCertTest, MessagesNameTheCertificates) {
  const CertReport no_chain = check("ec-nochain.pem", "ec-leaf.key");
  ASSERT_TRUE(no_chain.has(CertCode::no_chain));
  EXPECT_NE(no_chain.find(CertCode::no_chain)->message.find("ec intermediate CA"),
            std::string::npos)
      << describe(no_chain);
  EXPECT_NE(no_chain.find(CertCode::no_chain)->message.find("is not in the file"),
            std::string::npos);

  const CertReport mismatch = check("ec-rootmismatch.pem", "ec-leaf.key");
  const CertFinding* f = mismatch.find(CertCode::root_mismatch);
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->message.find("ec other CA"), std::string::npos) << f->message;
  EXPECT_NE(f->message.find("ec intermediate CA"), std::string::npos) << f->message;
  EXPECT_NE(f->message.find("ec root CA"), std::string::npos) << f->message;

  const CertReport no_root = check("ec-noroot.pem", "ec-leaf.key");
  ASSERT_TRUE(no_root.has(CertCode::no_root));
  EXPECT_NE(no_root.find(CertCode::no_root)->message.find("ec root CA"), std::string::npos);

  const CertReport expired = check("ec-expired-chain.pem", "ec-expired.key");
  EXPECT_NE(expired.find(CertCode::expired)
                ->message.find("the leaf /CN=vpn.example.com expired at 2023-01-01T00:00:00Z"),
            std::string::npos)
      << describe(expired);
}

TEST_F(ServerCertTest, ExpiredIntermediateAndEffectiveDates) {
  const CertReport via_old = check("ec-viaold-chain.pem", "ec-viaold.key");
  EXPECT_EQ(codes(via_old), std::set<std::string>{"expired"}) << describe(via_old);
  EXPECT_NE(via_old.find(CertCode::expired)->message.find("the intermediate"), std::string::npos);

  const CertReport outlive = check("ec-outlive-chain.pem", "ec-outlive.key");
  EXPECT_EQ(codes(outlive), std::set<std::string>{"long_validity"}) << describe(outlive);
  EXPECT_EQ(outlive.not_before, kLeafStart);
  EXPECT_EQ(outlive.not_after, kCaEnd);  // the CA ends before the leaf
}

TEST_F(ServerCertTest, NotYetValidIsAWarningForASecondCertificate) {
  auto b = cert_bundle_load(path("ec-future-chain.pem"), path("ec-future.key"), "");
  ASSERT_TRUE(b) << b.error().message;
  const CertReport primary = cert_bundle_validate(*b, kNow, true, 0);
  const CertReport second = cert_bundle_validate(*b, kNow, false, 0);
  ASSERT_TRUE(primary.has(CertCode::not_yet_valid));
  EXPECT_EQ(primary.find(CertCode::not_yet_valid)->severity, CertSeverity::error);
  EXPECT_FALSE(primary.usable());
  ASSERT_TRUE(second.has(CertCode::not_yet_valid));
  EXPECT_EQ(second.find(CertCode::not_yet_valid)->severity, CertSeverity::warning);
  EXPECT_TRUE(second.usable());
}

TEST_F(ServerCertTest, ExpiresSoonWithinTheMargin) {
  auto b = cert_bundle_load(path("ec-chain.pem"), path("ec-leaf.key"), "");
  ASSERT_TRUE(b);
  struct Case {
    int number;
    int64_t now;
    uint32_t margin;
    std::set<std::string> expect;
  } cases[] = {
      {1, kNow, 30 * kDay, {}},
      {2, kLeafEnd - 10 * kDay, 30 * kDay, {"expires_soon"}},
      {3, kLeafEnd - 10 * kDay, 0, {}},
      {4, kLeafEnd - 30 * kDay, 30 * kDay, {}},  // exactly the margin: not yet inside
      {5, kLeafEnd - 30 * kDay + 1, 30 * kDay, {"expires_soon"}},
      {6, kLeafEnd, 30 * kDay, {"expires_soon"}},  // the last valid second
      {7, kLeafEnd + 1, 30 * kDay, {"expired"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.number);
    const CertReport r = cert_bundle_validate(*b, c.now, true, c.margin);
    EXPECT_EQ(codes(r), c.expect) << describe(r);
  }
}

TEST_F(ServerCertTest, ReportFieldsAndPin) {
  for (const std::string a : {"ec", "rsa"}) {
    SCOPED_TRACE(a);
    auto b = cert_bundle_load(path(a + "-chain.pem"), path(a + "-leaf.key"), "");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->cert_format, CertFileFormat::pem);
    EXPECT_EQ(b->key_type, a == "ec" ? CertKeyType::ecdsa : CertKeyType::rsa);
    const CertReport r = cert_bundle_validate(*b, kNow, true, 0);
    EXPECT_EQ(r.subject, "/CN=vpn.example.com");
    EXPECT_NE(r.issuer.find(a + " intermediate CA"), std::string::npos) << r.issuer;
    EXPECT_EQ(r.not_before, kLeafStart);
    EXPECT_EQ(r.not_after, kLeafEnd);
    EXPECT_EQ(r.chain_length, 3u);
    std::string pin = text(a + "-leaf.pin");
    pin.erase(pin.find_last_not_of('\n') + 1);
    EXPECT_EQ(r.spki_pin, pin);
    EXPECT_EQ(cert_spki_pin(read(a + "-leaf.der")), pin);
  }
}

TEST_F(ServerCertTest, BundleOrderAndFormats) {
  auto reversed = cert_bundle_load(path("ec-reversed.pem"), path("ec-leaf.key"), "");
  ASSERT_TRUE(reversed);
  ASSERT_EQ(reversed->certs.size(), 3u);
  EXPECT_EQ(reversed->certs[0], read("ec-leaf.der"));  // picked by the key
  EXPECT_EQ(reversed->certs[1], read("ec-root.der"));  // the rest in file order
  EXPECT_EQ(reversed->certs[2], read("ec-int.der"));

  auto p12 = cert_bundle_load(path("rsa-chain.p12"), "", "s3cret");
  ASSERT_TRUE(p12) << p12.error().message;
  EXPECT_EQ(p12->cert_format, CertFileFormat::pkcs12);
  EXPECT_EQ(p12->key_format, CertFileFormat::pkcs12);
  EXPECT_EQ(p12->key_name, path("rsa-chain.p12"));
  ASSERT_EQ(p12->certs.size(), 3u);
  EXPECT_EQ(p12->certs[0], read("rsa-leaf.der"));

  auto der = cert_bundle_load(path("ec-leaf.der"), path("ec-leaf.key.der"), "");
  ASSERT_TRUE(der);
  EXPECT_EQ(der->cert_format, CertFileFormat::der);
  EXPECT_EQ(der->key_format, CertFileFormat::der);

  auto p7 = cert_bundle_load(path("ec-chain.p7b"), path("ec-leaf.key"), "");
  ASSERT_TRUE(p7);
  EXPECT_EQ(p7->cert_format, CertFileFormat::pkcs7);
  EXPECT_EQ(p7->certs.size(), 3u);

  // A duplicate certificate is dropped; a SEC1 key without its public key still matches.
  write("dup.pem",
        text("ec-leaf.pem") + text("ec-int.pem") + text("ec-int.pem") + text("ec-root.pem"));
  auto dup = cert_bundle_load(path("dup.pem"), path("ec-leaf.nopub.key"), "");
  ASSERT_TRUE(dup) << dup.error().message;
  EXPECT_EQ(dup->certs.size(), 3u);
  EXPECT_EQ(codes(cert_bundle_validate(*dup, kNow, true, 0)), std::set<std::string>{});
}

TEST_F(ServerCertTest, ChainPemIsWhatWolfSslServes) {
  for (const std::string a : {"ec", "rsa"}) {
    for (const std::string& file : {a + "-chain.pem", a + "-reversed.pem", a + "-chain.p12"}) {
      SCOPED_TRACE(file);
      auto b = cert_bundle_load(path(file), file.ends_with(".p12") ? "" : path(a + "-leaf.key"),
                                "s3cret");
      ASSERT_TRUE(b) << b.error().message;
      const std::string pem = cert_bundle_chain_pem(*b);
      auto list = cert_list_parse(bytes(pem), "chain", "");
      ASSERT_TRUE(list) << list.error().message;
      // The leaf, then the intermediate; the root is left out.
      ASSERT_EQ(list->size(), 2u);
      EXPECT_EQ((*list)[0], read(a + "-leaf.der"));
      EXPECT_EQ((*list)[1], read(a + "-int.der"));

      WOLFSSL_CTX* ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
      ASSERT_NE(ctx, nullptr);
      EXPECT_EQ(wolfSSL_CTX_use_certificate_chain_buffer(
                    ctx, reinterpret_cast<const unsigned char*>(pem.data()),
                    static_cast<long>(pem.size())),
                WOLFSSL_SUCCESS);
      EXPECT_EQ(
          wolfSSL_CTX_use_PrivateKey_buffer(
              ctx, b->key_der.data(), static_cast<long>(b->key_der.size()), WOLFSSL_FILETYPE_ASN1),
          WOLFSSL_SUCCESS);
      EXPECT_EQ(wolfSSL_CTX_check_private_key(ctx), WOLFSSL_SUCCESS);
      wolfSSL_CTX_free(ctx);
    }
  }
  // A self-signed leaf is its own chain; a lone leaf is served alone.
  auto self = cert_bundle_load(path("ec-self.pem"), path("ec-self.key"), "");
  ASSERT_TRUE(self);
  EXPECT_EQ(*cert_list_parse(bytes(cert_bundle_chain_pem(*self)), "chain", ""),
            std::vector<Bytes>{read("ec-self.der")});
  auto noroot = cert_bundle_load(path("ec-noroot.pem"), path("ec-leaf.key"), "");
  ASSERT_TRUE(noroot);
  EXPECT_EQ(cert_list_parse(bytes(cert_bundle_chain_pem(*noroot)), "chain", "")->size(), 2u);
}

// ------------------------------------------------------------------------------- CA lists

TEST_F(ServerCertTest, CaListsInEveryFormat) {
  struct Case {
    int number;
    std::string file, password;
    size_t count;  // 0 = an error
    std::string message;
  } cases[] = {
      {1, "ec-chain.pem", "", 3, ""},
      {2, "ec-root.der", "", 1, ""},
      {3, "ec-chain.p7b", "", 3, ""},
      {4, "ec-chain.p7b.pem", "", 3, ""},
      {5, "many.p7b", "", 20, ""},  // more than wolfSSL's PKCS#7 parser keeps (15)
      {6, "many.pem", "", 20, ""},
      {7, "ec-chain-3des.p12", "s3cret", 3, ""},
      {8, "ec-combined.pem", "", 3, ""},  // the key is ignored
      {9, "ec-leaf.key", "", 0, "holds a key, not a certificate"},
      {10, "ec-leaf.pub", "", 0, "holds a key, not a certificate"},
      {11, "absent.pem", "", 0, "absent.pem: "},
      {12, "ec-chain.p12", "wrong", 0, "MAC check failed"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.number << " " << c.file);
    auto list = cert_list_load(path(c.file), c.password);
    if (c.count == 0) {
      ASSERT_FALSE(list);
      EXPECT_NE(list.error().message.find(c.message), std::string::npos) << list.error().message;
    } else {
      ASSERT_TRUE(list) << list.error().message;
      EXPECT_EQ(list->size(), c.count);
      auto again = cert_list_parse(bytes(cert_list_pem(*list)), "again", "");
      ASSERT_TRUE(again);
      EXPECT_EQ(*again, *list);
    }
  }
}

// ---------------------------------------------------------------------- primary and second

TEST(CertChoose, Table) {
  auto report = [](int64_t nb, int64_t na, bool usable) {
    CertReport r;
    r.not_before = nb;
    r.not_after = na;
    if (!usable)
      r.findings.push_back({CertSeverity::error, CertCode::key_mismatch, "x"});
    else
      r.findings.push_back({CertSeverity::warning, CertCode::no_root, "y"});
    return r;
  };
  const int64_t now = 10000;
  const uint32_t margin = 100;
  const CertReport ok_long = report(0, 20000, true);
  const CertReport ok_longer = report(0, 30000, true);
  const CertReport in_margin = report(0, now + 50, true);
  const CertReport at_margin = report(0, now + 100, true);
  const CertReport shorter_in_margin = report(0, now + 40, true);
  const CertReport expired = report(0, now - 1, true);  // usable when validated, expired since
  const CertReport broken = report(0, 20000, false);
  const CertReport future = report(now + 500, 30000, true);  // a second prepared in advance
  CertReport expired_error = report(0, now - 1, true);       // validated after it expired
  expired_error.findings.push_back({CertSeverity::error, CertCode::expired, "z"});
  CertReport early_primary = report(now - 10, 20000, true);  // validated before its notBefore
  early_primary.findings.push_back({CertSeverity::error, CertCode::not_yet_valid, "z"});
  struct Case {
    int number;
    const char* what;
    const CertReport* primary;
    const CertReport* second;
    uint32_t margin;
    CertChoice expect;
  } cases[] = {
      {1, "both usable", &ok_long, &ok_longer, margin, CertChoice::primary},
      {2, "primary within the margin", &in_margin, &ok_longer, margin, CertChoice::second},
      {3, "primary exactly at the margin", &at_margin, &ok_longer, margin, CertChoice::primary},
      {4, "primary expired", &expired, &ok_longer, margin, CertChoice::second},
      {5, "primary unusable", &broken, &ok_longer, margin, CertChoice::second},
      {6, "both unusable", &broken, &broken, margin, CertChoice::none},
      {7, "no second, primary within the margin", &in_margin, nullptr, margin, CertChoice::primary},
      {8, "no second, primary expired", &expired, nullptr, margin, CertChoice::none},
      {9, "no primary", nullptr, &ok_longer, margin, CertChoice::second},
      {10, "second expires sooner than the primary", &in_margin, &shorter_in_margin, margin,
       CertChoice::primary},
      {11, "second not yet valid, primary within the margin", &in_margin, &future, margin,
       CertChoice::primary},
      {12, "second not yet valid, primary expired", &expired, &future, margin, CertChoice::none},
      {13, "margin 0", &in_margin, &ok_longer, 0, CertChoice::primary},
      {14, "nothing configured", nullptr, nullptr, margin, CertChoice::none},
      {15, "second unusable, primary within the margin", &in_margin, &broken, margin,
       CertChoice::primary},
      {16, "primary validated as expired", &expired_error, &ok_longer, margin, CertChoice::second},
      {17, "primary validated early, valid now", &early_primary, &ok_longer, margin,
       CertChoice::primary},
      {18, "primary validated early, no second", &early_primary, nullptr, margin,
       CertChoice::primary},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.number << ": " << c.what);
    EXPECT_EQ(cert_choose(c.primary, c.second, now, c.margin), c.expect);
  }
}

TEST(CertChoose, NextChange) {
  CertReport p, s;
  p.not_before = 0;
  p.not_after = 20000;
  s.not_before = 15000;
  s.not_after = 40000;
  // primary until 20000 - 100 (inside the margin from 19901), second from then on.
  EXPECT_EQ(cert_choice_next_change(&p, &s, 10000, 100), 15000);
  EXPECT_EQ(cert_choice_next_change(&p, &s, 15000, 100), 19901);
  EXPECT_EQ(cert_choose(&p, &s, 19900, 100), CertChoice::primary);
  EXPECT_EQ(cert_choose(&p, &s, 19901, 100), CertChoice::second);
  EXPECT_EQ(cert_choice_next_change(&p, &s, 19901, 100), 20001);
  EXPECT_EQ(cert_choice_next_change(&p, &s, 20001, 100), 39901);
  EXPECT_EQ(cert_choice_next_change(&p, &s, 40001, 100), INT64_MAX);
  EXPECT_EQ(cert_choice_next_change(nullptr, nullptr, 0, 100), INT64_MAX);
}

TEST(CertCodes, TableIsComplete) {
  std::set<std::string> names;
  for (size_t i = 0; i < kCertCodeCount; ++i) {
    const auto code = static_cast<CertCode>(i);
    names.insert(std::string(to_string(code)));
    EXPECT_FALSE(cert_code_meaning(code).empty());
  }
  EXPECT_EQ(names.size(), kCertCodeCount);
  EXPECT_EQ(cert_code_severity(CertCode::no_root), CertSeverity::warning);
  EXPECT_EQ(cert_code_severity(CertCode::no_chain), CertSeverity::error);
}

// ------------------------------------------------------------------------ default install

TEST_F(ServerCertTest, SelfSignedForTheDefaultInstall) {
  const int64_t now = 1767225600;  // 2026-01-01
  struct Case {
    int number;
    std::string name;
    int days;
    std::set<std::string> expect;
  } cases[] = {
      {1, "vpn.example.com", 365, {"self_signed"}},
      {2, "192.0.2.10", 825, {"self_signed"}},
      {3, "2001:db8::1", 30, {"self_signed"}},
      {4, "gateway", 826, {"self_signed", "long_validity"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string cert = path("self-" + std::to_string(c.number) + ".pem");
    const std::string key = path("self-" + std::to_string(c.number) + ".key");
    Status made = cert_make_self_signed(cert, key, c.name, c.days, now);
    ASSERT_TRUE(made) << made.error().message;
    struct stat st {};
    ASSERT_EQ(::stat(key.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat(cert.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);

    auto b = cert_bundle_load(cert, key, "");
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(b->key_type, CertKeyType::ecdsa);
    const CertReport r = cert_bundle_validate(*b, now, true, 0);
    EXPECT_EQ(codes(r), c.expect) << describe(r);
    EXPECT_NE(r.subject.find("/CN=" + c.name), std::string::npos) << r.subject;
    EXPECT_EQ(r.not_before, now);
    EXPECT_EQ(r.not_after, now + int64_t{c.days} * kDay);

    // The pin is what openssl computes, and openssl reads the certificate and its key.
    const std::string cmd = "openssl x509 -in " + cert +
                            " -pubkey -noout | openssl pkey -pubin -outform der | "
                            "openssl dgst -sha256 -binary | base64";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[128] = {};
    ASSERT_NE(std::fgets(buf, sizeof buf, p), nullptr);
    ::pclose(p);
    std::string pin = buf;
    pin.erase(pin.find_last_not_of('\n') + 1);
    EXPECT_EQ(r.spki_pin, "pin-sha256:" + pin);
    EXPECT_EQ(std::system(("openssl x509 -in " + cert +
                           " -noout -ext subjectAltName,extendedKeyUsage "
                           "| grep -q 'TLS Web Server Authentication'")
                              .c_str()),
              0);
    EXPECT_EQ(std::system(("openssl pkey -in " + key + " -noout").c_str()), 0);
  }

  // Never overwrites; refuses bad names, days and paths.
  const std::string before = text("self-1.pem");
  Status again =
      cert_make_self_signed(path("self-1.pem"), path("self-new.key"), "vpn.example.com", 30, now);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);
  EXPECT_EQ(text("self-1.pem"), before);
  EXPECT_NE(::access(path("self-new.key").c_str(), F_OK), 0);
  struct Bad {
    int number;
    std::string name;
    int days;
    std::string cert, key;
  } bad[] = {
      {1, "", 30, path("b1.pem"), path("b1.key")},
      {2, "bad name", 30, path("b2.pem"), path("b2.key")},
      {3, std::string(64, 'a'), 30, path("b3.pem"), path("b3.key")},
      {4, "vpn.example.com", 0, path("b4.pem"), path("b4.key")},
      {5, "vpn.example.com", 3651, path("b5.pem"), path("b5.key")},
      {6, "vpn.example.com", 30, path("b6.pem"), path("b6.pem")},
  };
  for (const Bad& c : bad) {
    SCOPED_TRACE(c.number);
    Status s = cert_make_self_signed(c.cert, c.key, c.name, c.days, now);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, EINVAL) << s.error().message;
  }
  Status no_dir =
      cert_make_self_signed(path("absent/c.pem"), path("absent/c.key"), "vpn.example.com", 30, now);
  ASSERT_FALSE(no_dir);
  EXPECT_EQ(no_dir.error().code, ENOENT) << no_dir.error().message;
}

}  // namespace
}  // namespace tg::crypto
