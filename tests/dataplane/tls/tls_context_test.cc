// tls_context: invalid inputs first, then the contexts that must load.
#include "dataplane/tls/tls_context.h"

#include <gtest/gtest.h>

#include "tls_test_support.h"

namespace tg::dp::tls {
namespace {

using test::TestPki;
using test::test_pki;

/// The error must name `key` and `file` (and, when set, contain `reason`).
void expect_error(const TlsContextResult& result, const std::string& key, const std::string& file,
                  const std::string& reason = "") {
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error.find(key), std::string::npos) << result.error;
  EXPECT_NE(result.error.find(file), std::string::npos) << result.error;
  if (!reason.empty()) {
    EXPECT_NE(result.error.find(reason), std::string::npos) << result.error;
  }
}

TEST(TlsContextInvalid, MissingCertificateFile) {
  config::TlsConfig tls = test::ec_server_config();
  tls.certificate = "/nonexistent/server.pem";
  expect_error(tls_context_create(tls, {}), "tls.certificate", "/nonexistent/server.pem",
               "No such file");
}

TEST(TlsContextInvalid, MissingKeyFile) {
  config::TlsConfig tls = test::ec_server_config();
  tls.key = "/nonexistent/server.key";
  expect_error(tls_context_create(tls, {}), "tls.key", "/nonexistent/server.key", "No such file");
}

TEST(TlsContextInvalid, EmptyPaths) {
  config::TlsConfig tls;
  EXPECT_FALSE(tls_context_create(tls, {}).ok());
  tls = test::ec_server_config();
  tls.key.clear();
  expect_error(tls_context_create(tls, {}), "tls.key", "");
}

TEST(TlsContextInvalid, KeyDoesNotMatchCertificate) {
  const TestPki* pki = test_pki();
  ASSERT_NE(pki, nullptr);
  config::TlsConfig tls = test::ec_server_config();
  tls.key = pki->server_rsa_key;  // an RSA key with the EC certificate
  expect_error(tls_context_create(tls, {}), "tls.key", pki->server_rsa_key);
  tls.key = pki->client_key;      // same key type, another key
  expect_error(tls_context_create(tls, {}), "tls.key", pki->client_key, "does not match");
}

TEST(TlsContextInvalid, GarbagePem) {
  const TestPki* pki = test_pki();
  ASSERT_NE(pki, nullptr);
  config::TlsConfig tls = test::ec_server_config();
  tls.certificate = pki->garbage_pem;
  expect_error(tls_context_create(tls, {}), "tls.certificate", pki->garbage_pem);
  tls = test::ec_server_config();
  tls.key = pki->garbage_pem;
  expect_error(tls_context_create(tls, {}), "tls.key", pki->garbage_pem);
}

TEST(TlsContextInvalid, EmptyFile) {
  const TestPki* pki = test_pki();
  ASSERT_NE(pki, nullptr);
  config::TlsConfig tls = test::ec_server_config();
  tls.certificate = pki->empty_file;
  expect_error(tls_context_create(tls, {}), "tls.certificate", pki->empty_file, "empty");
}

TEST(TlsContextInvalid, UnsupportedMinVersion) {
  for (const char* version : {"1.1", "1.0", "", "tls1.2", "1.4"}) {
    config::TlsConfig tls = test::ec_server_config();
    tls.min_version = version;
    expect_error(tls_context_create(tls, {}), "tls.min_version", version, "not supported");
  }
}

TEST(TlsContextInvalid, NoUsableCipher) {
  config::TlsConfig tls = test::ec_server_config();
  tls.ciphers = "NOT-A-CIPHER:ALSO-NOT";
  expect_error(tls_context_create(tls, {}), "tls.ciphers", "NOT-A-CIPHER");
}

TEST(TlsContextInvalid, MissingClientCa) {
  config::TlsConfig tls = test::ec_server_config();
  tls.request_client_cert = true;
  TlsContextOptions options;
  options.client_ca_file = "/nonexistent/ca.pem";
  expect_error(tls_context_create(tls, options), "auth.ca", "/nonexistent/ca.pem");
}

TEST(TlsContextValid, EcAndRsaPem) {
  for (const config::TlsConfig& tls : {test::ec_server_config(), test::rsa_server_config()}) {
    TlsContextResult result = tls_context_create(tls, {});
    ASSERT_TRUE(result.ok()) << result.error;
    EXPECT_NE(result.context->native(), nullptr);
    EXPECT_FALSE(result.context->requests_client_cert());
    EXPECT_EQ(result.context->certificate_file(), tls.certificate);
  }
}

TEST(TlsContextValid, Der) {
  const TestPki* pki = test_pki();
  ASSERT_NE(pki, nullptr);
  config::TlsConfig tls;
  tls.certificate = pki->server_ec_der;
  tls.key = pki->server_ec_key_der;
  TlsContextResult result = tls_context_create(tls, {});
  EXPECT_TRUE(result.ok()) << result.error;
}

TEST(TlsContextValid, MinVersionAndCiphersAndClientCa) {
  const TestPki* pki = test_pki();
  ASSERT_NE(pki, nullptr);
  config::TlsConfig tls = test::ec_server_config();
  tls.min_version = "1.3";
  tls.ciphers = "TLS13-AES256-GCM-SHA384";
  tls.request_client_cert = true;
  TlsContextOptions options;
  options.client_ca_file = pki->ca_pem;
  TlsContextResult result = tls_context_create(tls, options);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_TRUE(result.context->requests_client_cert());
}

TEST(TlsContextHolder, ReplaceKeepsOldContextAliveForItsUsers) {
  TlsContextResult first = tls_context_create(test::ec_server_config(), {});
  TlsContextResult second = tls_context_create(test::rsa_server_config(), {});
  ASSERT_TRUE(first.ok() && second.ok());
  const TlsContext* first_raw = first.context.get();
  TlsContextHolder holder(std::move(first.context));
  TlsContextPtr in_use = holder.current();  // as a connection would hold it
  holder.replace(second.context);
  EXPECT_EQ(holder.current().get(), second.context.get());
  EXPECT_EQ(in_use.get(), first_raw);
  EXPECT_NE(in_use->native(), nullptr);  // still valid
}

TEST(TlsErrors, Strings) {
  EXPECT_FALSE(tls_error_string(-501).empty());  // MATCH_SUITE_ERROR
  EXPECT_EQ(to_string(ClientCertStatus::untrusted), "untrusted");
}

}  // namespace
}  // namespace tg::dp::tls
