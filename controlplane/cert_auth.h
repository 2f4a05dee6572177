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
// is a CA.
//
// CRLs (auth.crl, docs/auth.md "Certificate revocation (CRL)"): one file, PEM with any
// number of CRLs or one DER CRL, at most one CRL per issuing CA, each issued by a CA of the
// bundle. Every certificate checked (the leaf and each intermediate the client sends) is
// looked up in the CRL of its issuer: listed → cert_revoked; that CRL past its nextUpdate →
// crl_expired, or accepted and counted with crl_fail_open. A certificate whose issuer has no
// CRL in the file is not checked for revocation. The file is re-read by
// reload_crl_if_changed(); a bad new file leaves the CRLs in force unchanged.
//
// Thread-safety: create(), verify() and reload_crl_if_changed() run on one thread (the ctl
// server thread): verify() is const but uses wolfSSL CertManagers that reload replaces.
// crl_info() and crl_expired_accepted() may be called from any thread (metrics scrapes).
#pragma once

#include <cstddef>
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
    /// auth.crl: "" = no revocation checks; else a PEM file with one or more
    /// "-----BEGIN X509 CRL-----" blocks (text around them is ignored) or one DER CRL.
    std::string crl_file{};
    /// auth.crl_fail_open: a CRL past its nextUpdate refuses its CA's certificates
    /// (crl_expired) when false; when true they are accepted (unless listed in it) and
    /// counted in crl_expired_accepted().
    bool crl_fail_open = false;
  };

  struct Outcome {
    ctl::CtlResult result = ctl::CtlResult::denied;
    ctl::CtlReason reason = ctl::CtlReason::cert_malformed;
    std::string user;    ///< set when ok
    std::string app;     ///< the app the certificate names ("" = none), when ok
    std::string detail;  ///< why (wolfSSL's error, the revoked serial, ...), for the log
    /// ok only because auth.crl_fail_open let an expired CRL pass (detail says which);
    /// the login was counted in crl_expired_accepted(). Log it as a warning.
    bool stale_crl = false;
  };

  /// What the CRLs in force say, for /metrics (tunnelgate_crl_age_seconds,
  /// tunnelgate_crl_next_update_seconds). Times are Unix seconds (UTC).
  struct CrlInfo {
    bool loaded = false;      ///< auth.crl is set and its CRLs are in force
    int64_t this_update = 0;  ///< the earliest thisUpdate over the CRLs (the oldest one)
    int64_t next_update = 0;  ///< the earliest nextUpdate over the CRLs (the first to expire)
    size_t crls = 0;          ///< CRLs in the file
    size_t revoked = 0;       ///< revoked-certificate entries, summed over the CRLs
  };

  /// Load the CA bundle and, when options.crl_file is set, its CRLs.
  /// @return Error: ENOENT/EACCES (a file unreadable), EINVAL (no usable CA; a CRL that does
  ///         not parse, has no nextUpdate, is not issued by a CA of the bundle, does not
  ///         verify with that CA's key, or shares its issuer with another CRL of the file;
  ///         the message names the file, the CRL's position and its issuer), ENOTSUP
  ///         (crl_file set but this wolfSSL build has no CRL support, see crl_supported()).
  static Expected<std::unique_ptr<CertAuthenticator>> create(Options options);
  /// Whether the linked wolfSSL was built with HAVE_CRL (both of tunnelgate's builds are).
  static bool crl_supported();
  ~CertAuthenticator();
  CertAuthenticator(const CertAuthenticator&) = delete;
  CertAuthenticator& operator=(const CertAuthenticator&) = delete;

  /// Verify `leaf_der` (with optional concatenated DER intermediates) now.
  /// @return ok + user; denied + cert_unknown_ca | cert_expired | cert_not_yet_valid |
  ///         cert_bad_signature | cert_malformed | cert_no_user | cert_revoked (the leaf or
  ///         an intermediate it needs is listed in its issuer's CRL; detail: serial in hex
  ///         and issuer) | crl_expired (its issuer's CRL is past nextUpdate and
  ///         crl_fail_open is off); error + internal. Call on the ctl server thread.
  Outcome verify(std::span<const uint8_t> leaf_der, std::span<const uint8_t> chain_der) const;

  /// Re-read options.crl_file when its device, inode, mtime or size changed since the last
  /// load (replace it by rename(2) so a reader never sees half a file). The new CRLs are
  /// loaded into a new CertManager that replaces the old one only when every CRL is good.
  /// @return true: new CRLs in force; false: unchanged (or no crl_file); Error (ENOENT,
  ///         EACCES, EINVAL as for create()): the CRLs in force stay. A rejected file is
  ///         not re-parsed while it stays unchanged: the same Error is returned.
  ///         Call on the ctl server thread.
  Expected<bool> reload_crl_if_changed();

  /// A copy of what the CRLs in force say. Any thread (a mutex guards the copy).
  CrlInfo crl_info() const;
  /// Logins accepted although their CRL was past nextUpdate (crl_fail_open). Any thread.
  uint64_t crl_expired_accepted() const;

 private:
  CertAuthenticator() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tg::controlplane
