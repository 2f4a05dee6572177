// Control plane: client-certificate verification with wolfSSL's CertManager. See cert_auth.h.
#include "controlplane/cert_auth.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "controlplane/users_file.h"

namespace tg::controlplane {

namespace {

struct CmDeleter {
  void operator()(WOLFSSL_CERT_MANAGER* cm) const { wolfSSL_CertManagerFree(cm); }
};
using CmPtr = std::unique_ptr<WOLFSSL_CERT_MANAGER, CmDeleter>;

struct X509Deleter {
  void operator()(WOLFSSL_X509* x) const { wolfSSL_X509_free(x); }
};

ctl::CtlReason reason_of(int err) {
  switch (err) {
    case ASN_NO_SIGNER_E: return ctl::CtlReason::cert_unknown_ca;
    case ASN_AFTER_DATE_E: return ctl::CtlReason::cert_expired;
    case ASN_BEFORE_DATE_E: return ctl::CtlReason::cert_not_yet_valid;
    case ASN_SIG_CONFIRM_E:
    case ASN_SIG_OID_E:
    case ASN_SIG_HASH_E:
    case ASN_SIG_KEY_E: return ctl::CtlReason::cert_bad_signature;
    default: return ctl::CtlReason::cert_malformed;
  }
}

/// Split concatenated DER certificates (SEQUENCE, definite length). Stops at the first
/// element that is not a well-formed SEQUENCE fitting in the rest.
std::vector<std::span<const uint8_t>> split_der(std::span<const uint8_t> der) {
  std::vector<std::span<const uint8_t>> out;
  size_t pos = 0;
  while (der.size() - pos >= 2 && out.size() < 16) {
    if (der[pos] != 0x30) break;
    size_t len = der[pos + 1];
    size_t header = 2;
    if (len & 0x80) {
      const size_t n = len & 0x7f;
      if (n == 0 || n > 3 || der.size() - pos < 2 + n) break;
      len = 0;
      for (size_t i = 0; i < n; ++i) len = (len << 8) | der[pos + 2 + i];
      header = 2 + n;
    }
    if (der.size() - pos - header < len) break;
    out.push_back(der.subspan(pos, header + len));
    pos += header + len;
  }
  return out;
}

std::string ia5(WOLFSSL_ASN1_STRING* s) {
  if (s == nullptr) return {};
  const unsigned char* d = wolfSSL_ASN1_STRING_data(s);
  const int n = wolfSSL_ASN1_STRING_length(s);
  return d != nullptr && n > 0 ? std::string(reinterpret_cast<const char*>(d), static_cast<size_t>(n))
                               : std::string();
}

/// The user name from the configured field, or "" when there is none.
std::string user_of(std::span<const uint8_t> der, CertUserField field) {
  std::unique_ptr<WOLFSSL_X509, X509Deleter> x(
      wolfSSL_X509_d2i(nullptr, der.data(), static_cast<int>(der.size())));
  if (!x) return {};
  if (field == CertUserField::subject_cn) {
    char buf[256] = {};
    WOLFSSL_X509_NAME* name = wolfSSL_X509_get_subject_name(x.get());
    const int n = name ? wolfSSL_X509_NAME_get_text_by_NID(name, NID_commonName, buf, sizeof buf) : -1;
    return n > 0 ? std::string(buf, strnlen(buf, sizeof buf)) : std::string();
  }
  auto* names = static_cast<WOLFSSL_GENERAL_NAMES*>(
      wolfSSL_X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return {};
  const int want = field == CertUserField::san_email ? GEN_EMAIL : GEN_DNS;
  std::string user;
  for (int i = 0; i < wolfSSL_sk_GENERAL_NAME_num(names) && user.empty(); ++i) {
    WOLFSSL_GENERAL_NAME* gn = wolfSSL_sk_GENERAL_NAME_value(names, i);
    if (gn != nullptr && gn->type == want) user = ia5(gn->d.ia5);
  }
  wolfSSL_GENERAL_NAMES_free(names);
  return user;
}

/// The app id the configured field names, "" when none. Ids are 1..255 visible ASCII
/// characters (config/config_formats.h); anything else names no app.
std::string app_of(std::span<const uint8_t> der, CertAppField field, const std::string& prefix) {
  if (field == CertAppField::none) return {};
  std::unique_ptr<WOLFSSL_X509, X509Deleter> x(
      wolfSSL_X509_d2i(nullptr, der.data(), static_cast<int>(der.size())));
  if (!x) return {};
  std::string app;
  if (field == CertAppField::subject_ou) {
    char buf[256] = {};
    WOLFSSL_X509_NAME* name = wolfSSL_X509_get_subject_name(x.get());
    const int n = name ? wolfSSL_X509_NAME_get_text_by_NID(name, NID_organizationalUnitName, buf,
                                                            sizeof buf)
                       : -1;
    if (n > 0) app.assign(buf, strnlen(buf, sizeof buf));
  } else {
    auto* names = static_cast<WOLFSSL_GENERAL_NAMES*>(
        wolfSSL_X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr));
    if (names == nullptr) return {};
    for (int i = 0; i < wolfSSL_sk_GENERAL_NAME_num(names) && app.empty(); ++i) {
      WOLFSSL_GENERAL_NAME* gn = wolfSSL_sk_GENERAL_NAME_value(names, i);
      if (gn == nullptr || gn->type != GEN_URI) continue;
      const std::string uri = ia5(gn->d.uniformResourceIdentifier);
      if (uri.size() > prefix.size() && uri.compare(0, prefix.size(), prefix) == 0)
        app = uri.substr(prefix.size());
    }
    wolfSSL_GENERAL_NAMES_free(names);
  }
  const bool visible = app.size() <= 255 && std::all_of(app.begin(), app.end(), [](char c) {
                         return c > 0x20 && c < 0x7f;
                       });
  return visible ? app : std::string();
}

}  // namespace

Expected<CertAppField> cert_app_field_parse(const std::string& text) {
  if (text == "san_uri") return CertAppField::san_uri;
  if (text == "subject_ou") return CertAppField::subject_ou;
  if (text == "none" || text == "group") return CertAppField::none;
  return make_error(EINVAL, "certificate app field '" + text +
                                "' is not san_uri, subject_ou, group or none");
}

struct CertAuthenticator::Impl {
  Options options;
  std::string ca_pem;  ///< the bundle, reloaded into per-request managers when a chain comes
  CmPtr cm;            ///< the CA bundle alone (the usual case: no intermediates sent)
  bool wolfssl_initialised = false;
  ~Impl() {
    cm.reset();
    if (wolfssl_initialised) wolfSSL_Cleanup();
  }
};

Expected<CertUserField> cert_user_field_parse(const std::string& text) {
  if (text == "subject_cn") return CertUserField::subject_cn;
  if (text == "san_email") return CertUserField::san_email;
  if (text == "san_dns") return CertUserField::san_dns;
  return make_error(EINVAL, "certificate user field '" + text +
                                "' is not subject_cn, san_email or san_dns");
}

Expected<std::unique_ptr<CertAuthenticator>> CertAuthenticator::create(Options options) {
  std::unique_ptr<CertAuthenticator> a(new CertAuthenticator());
  a->impl_ = std::make_unique<Impl>();
  a->impl_->wolfssl_initialised = wolfSSL_Init() == WOLFSSL_SUCCESS;
  std::ifstream in(options.ca_file, std::ios::binary);
  if (!in) {
    const int err = errno != 0 ? errno : ENOENT;
    return make_error(err, options.ca_file + ": cannot read the CA bundle: " + std::strerror(err));
  }
  std::ostringstream text;
  text << in.rdbuf();
  a->impl_->ca_pem = text.str();
  a->impl_->cm.reset(wolfSSL_CertManagerNew());
  if (!a->impl_->cm) return make_error(ENOMEM, "wolfSSL_CertManagerNew failed");
  const int rc = wolfSSL_CertManagerLoadCA(a->impl_->cm.get(), options.ca_file.c_str(), nullptr);
  if (rc != WOLFSSL_SUCCESS) {
    return make_error(EINVAL, options.ca_file + ": no usable CA certificate (wolfSSL " +
                                  std::to_string(rc) + ": " + wc_GetErrorString(rc) + ")");
  }
  a->impl_->options = std::move(options);
  return a;
}

CertAuthenticator::~CertAuthenticator() = default;

CertAuthenticator::Outcome CertAuthenticator::verify(std::span<const uint8_t> leaf,
                                                     std::span<const uint8_t> chain) const {
  Outcome out;
  if (leaf.empty()) return out;
  WOLFSSL_CERT_MANAGER* cm = impl_->cm.get();
  CmPtr with_chain;
  if (!chain.empty()) {
    with_chain.reset(wolfSSL_CertManagerNew());
    if (!with_chain ||
        wolfSSL_CertManagerLoadCABuffer(with_chain.get(),
                                        reinterpret_cast<const unsigned char*>(impl_->ca_pem.data()),
                                        static_cast<long>(impl_->ca_pem.size()),
                                        WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
      out.result = ctl::CtlResult::error;
      out.reason = ctl::CtlReason::internal;
      out.detail = "cannot build the trust store for the chain";
      return out;
    }
    // Add each intermediate that verifies against what is trusted so far, in any order.
    std::vector<std::span<const uint8_t>> pending = split_der(chain);
    for (bool progress = true; progress && !pending.empty();) {
      progress = false;
      for (auto it = pending.begin(); it != pending.end();) {
        const int rc = wolfSSL_CertManagerVerifyBuffer(with_chain.get(), it->data(),
                                                       static_cast<long>(it->size()),
                                                       WOLFSSL_FILETYPE_ASN1);
        if (rc == WOLFSSL_SUCCESS) {
          // LoadCABuffer refuses a certificate that is not a CA (NOT_CA_ERROR).
          (void)wolfSSL_CertManagerLoadCABuffer(with_chain.get(), it->data(),
                                                static_cast<long>(it->size()),
                                                WOLFSSL_FILETYPE_ASN1);
          it = pending.erase(it);
          progress = true;
        } else {
          ++it;
        }
      }
    }
    cm = with_chain.get();
  }
  const int rc = wolfSSL_CertManagerVerifyBuffer(cm, leaf.data(), static_cast<long>(leaf.size()),
                                                 WOLFSSL_FILETYPE_ASN1);
  if (rc != WOLFSSL_SUCCESS) {
    out.reason = reason_of(rc);
    out.detail = std::string("wolfSSL ") + std::to_string(rc) + ": " + wc_GetErrorString(rc);
    return out;
  }
  std::string user = user_of(leaf, impl_->options.user_field);
  if (!user_name_valid(user)) {
    out.reason = ctl::CtlReason::cert_no_user;
    out.detail = user.empty() ? "no user name in the configured field"
                              : "user name '" + user.substr(0, 64) + "' has characters outside [A-Za-z0-9._@-]";
    return out;
  }
  out.result = ctl::CtlResult::ok;
  out.reason = ctl::CtlReason::none;
  out.user = std::move(user);
  out.app = app_of(leaf, impl_->options.app_field, impl_->options.app_uri_prefix);
  return out;
}

}  // namespace tg::controlplane
