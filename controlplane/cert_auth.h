// Control plane: client-certificate login (PROTOCOL.md §3.8). The leaf the worker saw in the
// TLS handshake (and, optionally, the intermediates the client sent) are verified against
// the configured CA bundle (auth.ca) with wolfSSL's CertManager: signature chain to a CA,
// notBefore/notAfter against the current time. The user name is then taken from one
// configurable field of the leaf:
//   subject_cn (default)  the subject's commonName, as ocserv's cert-user-oid = 2.5.4.3;
//   san_email             the first rfc822Name subjectAltName;
//   san_dns               the first dNSName subjectAltName.
// The value must be a valid user name ([A-Za-z0-9._@-]{1,64}), otherwise cert_no_user.
// The app the certificate names (auth.app_from_certificate, docs/apps.md) comes from
//   san_uri     the first uniformResourceIdentifier subjectAltName starting with the
//               configured prefix (default "urn:app:"), the id being the rest;
//   subject_ou  the subject's organizationalUnitName;
// or nowhere (none/group: the handler decides). A certificate that names no app is not an
// error here: the session then gets default_app.
// Intermediates are never trusted on their own: each is added (to a per-request copy of
// the trust store) only after it verifies against what is already trusted, and only if it
// is a CA. CRLs (auth.crl) are not checked yet.
//
// Thread-safety: verify() is const but uses a wolfSSL CertManager; call it from one thread
// (the ctl server thread).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "api/ctl_messages.h"
#include "controlplane/expected.h"

namespace tg::controlplane {

enum class CertUserField : uint8_t { subject_cn, san_email, san_dns };
enum class CertAppField : uint8_t { none, san_uri, subject_ou };

/// Parse "subject_cn" | "san_email" | "san_dns".
Expected<CertUserField> cert_user_field_parse(const std::string& text);
/// Parse auth.app_from_certificate: "san_uri" | "subject_ou"; "group" and "none" → none
/// (the certificate itself names no app).
Expected<CertAppField> cert_app_field_parse(const std::string& text);

class CertAuthenticator {
 public:
  struct Options {
    std::string ca_file;  ///< PEM bundle of trusted CAs
    CertUserField user_field = CertUserField::subject_cn;
    CertAppField app_field = CertAppField::none;
    std::string app_uri_prefix = "urn:app:";  ///< san_uri
  };

  struct Outcome {
    ctl::CtlResult result = ctl::CtlResult::denied;
    ctl::CtlReason reason = ctl::CtlReason::cert_malformed;
    std::string user;    ///< set when ok
    std::string app;     ///< the app the certificate names ("" = none), when ok
    std::string detail;  ///< wolfSSL's error, for the log
  };

  /// Load the CA bundle. @return Error: ENOENT/EACCES (unreadable), EINVAL (no usable CA).
  static Expected<std::unique_ptr<CertAuthenticator>> create(Options options);
  ~CertAuthenticator();
  CertAuthenticator(const CertAuthenticator&) = delete;
  CertAuthenticator& operator=(const CertAuthenticator&) = delete;

  /// Verify `leaf_der` (with optional concatenated DER intermediates) now.
  /// @return ok + user; denied + cert_unknown_ca | cert_expired | cert_not_yet_valid |
  ///         cert_bad_signature | cert_malformed | cert_no_user; error + internal.
  Outcome verify(std::span<const uint8_t> leaf_der, std::span<const uint8_t> chain_der) const;

 private:
  CertAuthenticator() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tg::controlplane
