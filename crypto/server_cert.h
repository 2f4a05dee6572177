// Server certificates: loading (PEM, DER, PKCS#12, PKCS#7), validation on load with stable
// finding codes, the choice between the primary and a second certificate, and the
// self-signed certificate of a default install. docs/certificates.md is the operator's view.
//
// Who calls it: the control plane (tunnelgate-controlplane: load, validate, export findings
// as metrics, choose, rotate) and tunnelgate-dataplane's TLS context (the PEM chain and the
// key for wolfSSL). No DPDK, wolfSSL/wolfCrypt only; works with Debian's libwolfssl and
// tunnelgate's static build (both 5.5.4, both with PKCS#12, PKCS#7, cert gen).
//
// Error convention (STYLE #19): loaders return Expected<T>; Error::code is an errno value
// (ENOENT/EACCES/EISDIR/EFBIG for the file itself, EINVAL for content, EACCES for a wrong
// password, ENOTSUP for what this wolfSSL build cannot read) and Error::message names the file
// and what is wrong: "server.p12: PKCS#12 MAC check failed: wrong password?". Validation
// never fails: it returns findings.
//
// Thread-safety: every function is reentrant (no shared state besides wolfCrypt's one-time
// init); a CertBundle or CertReport is plain data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/expected.h"

namespace tg::crypto {

// The control plane's result type (plain values, no exceptions), shared by both processes.
using controlplane::Error;
using controlplane::Expected;
using controlplane::Ok;
using controlplane::Status;

/// Files larger than this are refused (EFBIG): a certificate chain is a few KB; a CA bundle
/// of every public root (~150 certificates) is ~220 KB of PEM.
inline constexpr size_t kCertFileMaxBytes = 4u << 20;
/// A server certificate file holds at most this many certificates (leaf + chain).
inline constexpr size_t kBundleMaxCerts = 64;
/// A CA list (cert_list_load) holds at most this many.
inline constexpr size_t kCaListMaxCerts = 4096;
/// A password file is read up to this size; its first line is the password.
inline constexpr size_t kPasswordFileMaxBytes = 4096;
/// Apple's rule for TLS server certificates (support.apple.com/HT210176), which the seed's
/// validation follows: at most 825 days between notBefore and notAfter.
inline constexpr int64_t kLeafMaxValiditySeconds = 825 * 86400;

enum class CertKeyType : uint8_t { rsa, ecdsa };
std::string_view to_string(CertKeyType type);

/// How a file was recognised (by content, never by extension).
enum class CertFileFormat : uint8_t { pem, der, pkcs12, pkcs7 };
std::string_view to_string(CertFileFormat format);  ///< "PEM", "DER", "PKCS#12", "PKCS#7"

/// What cert_bundle_load() read. certs[0] is the leaf: the certificate whose public key is
/// the private key's; when none is, the first that is not a CA (basicConstraints), else the
/// first. The others keep file order. Duplicates (same DER) are dropped.
/// The destructor wipes key_der (moved-from bundles hold nothing to wipe).
struct CertBundle {
  std::vector<std::vector<uint8_t>> certs;  ///< DER
  std::vector<uint8_t> key_der;  ///< unencrypted DER: PKCS#8 or traditional (PKCS#1 / SEC1)
  CertKeyType key_type = CertKeyType::ecdsa;
  CertFileFormat cert_format = CertFileFormat::pem;
  CertFileFormat key_format = CertFileFormat::pem;
  std::string cert_name;  ///< the certificate file as named by the caller (messages)
  std::string key_name;   ///< the key file, or cert_name when the key came from it

  CertBundle() = default;
  CertBundle(const CertBundle&) = default;
  CertBundle(CertBundle&&) noexcept = default;
  CertBundle& operator=(const CertBundle&) = default;
  CertBundle& operator=(CertBundle&&) noexcept = default;
  ~CertBundle();
};

/// Load a server certificate and its key.
/// @param cert_path PEM (one or more certificates; a private key may be in the same file),
///        DER (one certificate), PKCS#12 (certificate, chain and key) or PKCS#7 (.p7b, chain).
/// @param key_path the key: PEM (PKCS#8, PKCS#1, SEC1; encrypted PKCS#8 or "Proc-Type"
///        encrypted with `password`), DER (PKCS#8, traditional, encrypted PKCS#8) or PKCS#12.
///        Empty or equal to cert_path: the key is taken from the certificate file.
/// @param password for PKCS#12 and encrypted keys (cert_password_read()); ignored otherwise.
/// @return the bundle; Error as described at the top. Keys must be RSA or ECDSA.
Expected<CertBundle> cert_bundle_load(const std::string& cert_path, const std::string& key_path,
                                      const std::string& password);

/// cert_bundle_load() on bytes already read (tests, fuzzing, an upload). `cert_name` and
/// `key_name` appear in messages; an empty `key_name` means "no key file": the key comes from
/// the certificate bytes (then `key_file` is ignored).
Expected<CertBundle> cert_bundle_parse(std::span<const uint8_t> cert_file,
                                       std::string_view cert_name,
                                       std::span<const uint8_t> key_file, std::string_view key_name,
                                       const std::string& password);

/// Certificates only, for CA bundles and group certificates (client authentication): PEM
/// (.pem/.crt/.cer with any number of certificates), DER (.der/.cer, one), PKCS#7
/// (.p7b/.p7c, DER or PEM) or PKCS#12 (its certificates; needs `password`). Private keys in
/// the file are ignored. @return at least one certificate, in file order; Error otherwise.
Expected<std::vector<std::vector<uint8_t>>> cert_list_load(const std::string& path,
                                                           const std::string& password);
Expected<std::vector<std::vector<uint8_t>>> cert_list_parse(std::span<const uint8_t> file,
                                                            std::string_view name,
                                                            const std::string& password);

/// The password of tls.key_password_file (its first line, without "\n" or "\r\n") or of the
/// environment variable tls.key_password_env. Both empty: "" (no password).
/// @return Error: EINVAL if both are set or the password is empty (an empty file is a
///         mistake, not "no password": leave both unset for that) or holds a NUL byte;
///         ENOENT if the variable is not set; the file's errno; EFBIG over 4 KiB.
Expected<std::string> cert_password_read(const std::string& file, const std::string& env_name);

// ---------------------------------------------------------------------------- validation

enum class CertSeverity : uint8_t { warning, error };
std::string_view to_string(CertSeverity severity);

/// Every finding: code (a stable metric label), its severity, what it means. docs/certificates.md
/// says what to do about each. not_yet_valid is an error for the primary certificate and a
/// warning for a second certificate prepared in advance. Append only: the enum values are
/// bit positions in the stats segment (api/stats_shm.h TG_SERVER_CERT_FINDINGS mirrors this
/// table in order, checked at compile time by dataplane/vpn/server_certs.cc).
// clang-format off
#define TG_CERT_FINDINGS(X)                                                                        \
  X(malformed, error, "a certificate or the key cannot be parsed")                                 \
  X(no_key, error, "no private key")                                                               \
  X(key_mismatch, error, "the private key is not the leaf certificate's")                          \
  X(unsupported_key, error, "the leaf's key is neither RSA nor ECDSA P-256/P-384/P-521")           \
  X(no_ca, error, "no CA certificate in the file and the leaf is not self-signed")                 \
  X(no_chain, error, "the leaf is not signed by any CA in the file")                               \
  X(expired, error, "the leaf or a CA of its chain is past its notAfter")                          \
  X(not_yet_valid, error, "the leaf or a CA of its chain is before its notBefore")                 \
  X(no_server_auth, error, "the leaf's extendedKeyUsage lacks serverAuth")                         \
  X(key_usage, error, "the leaf's keyUsage lacks digitalSignature (needed by ECDHE suites)")       \
  X(no_root, warning, "the chain ends in an intermediate: no self-signed root in the file")        \
  X(root_mismatch, warning, "the root in the file did not sign the leaf's intermediate")           \
  X(self_signed, warning, "the leaf is self-signed: fine for a lab, replace it")                   \
  X(expires_soon, warning, "the chain expires within the configured margin")                       \
  X(weak_key, warning, "an RSA key under 2048 bits or an EC key under 256 bits in the chain")      \
  X(weak_signature, warning, "a certificate of the chain is signed with SHA-1 or MD5")             \
  X(long_validity, warning, "the leaf is valid for more than 825 days (Apple clients refuse)")     \
  X(no_san, warning, "the leaf has no DNS or IP subjectAltName (clients ignore the CN)")
// clang-format on

enum class CertCode : uint8_t {
#define TG_CERT_CODE_ENUM(code, severity, meaning) code,
  TG_CERT_FINDINGS(TG_CERT_CODE_ENUM)
#undef TG_CERT_CODE_ENUM
};
inline constexpr size_t kCertCodeCount = 0
#define TG_CERT_CODE_COUNT(code, severity, meaning) +1
    TG_CERT_FINDINGS(TG_CERT_CODE_COUNT)
#undef TG_CERT_CODE_COUNT
    ;
std::string_view to_string(CertCode code);          ///< "no_root"
std::string_view cert_code_meaning(CertCode code);  ///< the table's text
CertSeverity cert_code_severity(CertCode code);     ///< the table's severity

/// One finding. `message` names the certificate (wolfSSL's one-line subject) and the value:
/// "the intermediate /CN=Example CA expired at 2023-01-01T00:00:00Z".
struct CertFinding {
  CertSeverity severity = CertSeverity::error;
  CertCode code = CertCode::malformed;
  std::string message;
};

struct CertReport {
  std::vector<CertFinding> findings;  ///< in the order checked; empty = nothing to say
  /// When the chain served is valid (Unix seconds): the leaf's dates narrowed by those of the
  /// CAs on its path (the latest notBefore, the earliest notAfter). 0 when the leaf is
  /// malformed.
  int64_t not_before = 0, not_after = 0;
  std::string subject, issuer;  ///< the leaf's, wolfSSL one-line form "/CN=.../O=..."
  /// "pin-sha256:<base64 of SHA-256 of the leaf's SubjectPublicKeyInfo DER>", as
  /// `openconnect --servercert` takes it. Empty when the leaf is malformed.
  std::string spki_pin;
  size_t chain_length = 0;  ///< certificates on the leaf's path, the leaf and a root included

  bool usable() const;            ///< no finding of severity error
  bool has(CertCode code) const;  ///< some finding has this code
  const CertFinding* find(CertCode code) const;
};

/// Validate `bundle` at `now` (Unix seconds; the caller's clock, so tests inject it).
/// @param not_yet_valid_is_error true for the primary; false for a second certificate
///        prepared in advance (then not_yet_valid is a warning).
/// @param expires_soon_margin_s warn (expires_soon) when not_after - now < margin; 0 = never.
/// Checks, in order: parse (malformed), key (no_key, key_mismatch, unsupported_key), chain
/// (self_signed | no_ca | no_chain | no_root | root_mismatch), dates of every certificate on
/// the path (expired, not_yet_valid, expires_soon), the leaf's usage (no_server_auth,
/// key_usage; anyExtendedKeyUsage counts as serverAuth), then Apple's rules (weak_key,
/// weak_signature, long_validity, no_san). A self-signed root's own signature algorithm is
/// not judged (clients trust the root itself, not its signature).
CertReport cert_bundle_validate(const CertBundle& bundle, int64_t now, bool not_yet_valid_is_error,
                                uint32_t expires_soon_margin_s);

/// The chain for wolfSSL_CTX_use_certificate_chain_buffer(): PEM, the leaf first, then each
/// CA of its path in order (each signed the one before). The self-signed root is left out
/// (clients must have it; RFC 8446 §4.4.2 lets the server omit it), so are certificates of the
/// file that are not on the path. The key goes to wolfSSL_CTX_use_PrivateKey_buffer() as
/// `bundle.key_der` with WOLFSSL_FILETYPE_ASN1. Empty when the bundle has no parsable leaf.
std::string cert_bundle_chain_pem(const CertBundle& bundle);

/// PEM text of DER certificates (CERTIFICATE blocks, in order): for
/// wolfSSL_CertManagerLoadCABuffer() / wolfSSL_CTX_load_verify_buffer() with a CA list.
std::string cert_list_pem(const std::vector<std::vector<uint8_t>>& certs);

/// "pin-sha256:..." of a DER certificate's SubjectPublicKeyInfo; "" if it cannot be parsed.
std::string cert_spki_pin(std::span<const uint8_t> cert_der);

// ------------------------------------------------------------------- primary and second

enum class CertChoice : uint8_t { primary, second, none };
std::string_view to_string(CertChoice choice);

/// Which certificate new handshakes use at `now`. A report counts when it has no error
/// finding other than expired / not_yet_valid and not_before <= now <= not_after: dates are
/// judged again here, at `now` (a report was made at load time; a primary loaded before its
/// notBefore counts from then on, one that expired never again).
///   1. the primary, if it counts and not_after - now >= margin_s;
///   2. else the second, if it counts and (the primary does not count, or the second's
///      not_after is later than the primary's: switching to a certificate that expires
///      sooner would gain nothing);
///   3. else the primary, if it counts (still valid, inside the margin);
///   4. else none.
/// Pure. `second` may be nullptr (none configured); so may `primary` (failed to load).
CertChoice cert_choose(const CertReport* primary, const CertReport* second, int64_t now,
                       uint32_t margin_s);

/// The earliest time after `now` at which cert_choose() may answer differently (a notBefore,
/// a notAfter - margin or a notAfter of either report, + 1 second for notAfter), or
/// INT64_MAX when none is ahead: when to re-run the choice without polling.
int64_t cert_choice_next_change(const CertReport* primary, const CertReport* second, int64_t now,
                                uint32_t margin_s);

// ------------------------------------------------------------------------- default install

/// A self-signed ECDSA P-256 certificate for a default install: subject CN=`common_name`,
/// O=tunnelgate self-signed; subjectAltName = iPAddress when `common_name` is an IPv4/IPv6
/// literal, else dNSName; keyUsage digitalSignature, extendedKeyUsage serverAuth, a random
/// serial; valid from `now` for `days` days (825 or fewer keep clear of long_validity).
/// Written as PEM: the certificate (mode 0644) to `cert_path`, the PKCS#8 key (mode 0600) to
/// `key_path`, each through a temporary file linked into place, so an existing file is never
/// overwritten (EEXIST) and a crash leaves no half-written file.
/// @return Error: EINVAL (bad name or days outside 1..3650), EEXIST, the file's errno;
///         ENOTSUP when this wolfSSL build lacks certificate generation (WOLFSSL_CERT_GEN,
///         WOLFSSL_CERT_EXT, WOLFSSL_KEY_GEN, HAVE_ECC; both builds have them).
Status cert_make_self_signed(const std::string& cert_path, const std::string& key_path,
                             const std::string& common_name, int days, int64_t now);

}  // namespace tg::crypto
