// Control plane: client-certificate verification with wolfSSL's CertManager. See cert_auth.h.
#include "controlplane/cert_auth.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/openssl/x509v3.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/signature.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include "controlplane/file_watch.h"
#include "crypto/server_cert.h"
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


// ------------------------------------------------------------------ DER: what the CRL code reads
// A small walk over X.509 certificates and CRLs (RFC 5280 §4.1, §5.1): wolfSSL 5.5.4 exposes
// neither a CRL's revoked serials nor a certificate's raw issuer Name, and refuses to parse a
// CRL past its nextUpdate at all. Only definite lengths of at most 4 bytes and single-byte
// tags (all that these structures use); every length is checked against what is left.

constexpr uint8_t kTagInteger = 0x02;
constexpr uint8_t kTagBitString = 0x03;
constexpr uint8_t kTagOid = 0x06;
constexpr uint8_t kTagUtcTime = 0x17;
constexpr uint8_t kTagGeneralizedTime = 0x18;
constexpr uint8_t kTagSequence = 0x30;
constexpr uint8_t kTagContext0 = 0xa0;  ///< [0] EXPLICIT: certificate version, CRL extensions

struct Tlv {
  uint8_t tag = 0;
  std::span<const uint8_t> whole;  ///< tag, length and contents
  std::span<const uint8_t> body;   ///< contents
};

/// Take the next element off the front of `in`. false (and `in` unchanged) when malformed.
bool der_take(std::span<const uint8_t>& in, Tlv& out) {
  if (in.size() < 2 || (in[0] & 0x1f) == 0x1f) return false;
  size_t len = in[1];
  size_t header = 2;
  if (len & 0x80) {
    const size_t n = len & 0x7f;
    if (n == 0 || n > 4 || in.size() < 2 + n) return false;
    len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | in[2 + i];
    header += n;
  }
  if (in.size() - header < len) return false;
  out.tag = in[0];
  out.whole = in.first(header + len);
  out.body = in.subspan(header, len);
  in = in.subspan(header + len);
  return true;
}

bool der_take(std::span<const uint8_t>& in, uint8_t tag, Tlv& out) {
  std::span<const uint8_t> rest = in;
  if (!der_take(rest, out) || out.tag != tag) return false;
  in = rest;
  return true;
}

bool der_peek(std::span<const uint8_t> in, uint8_t tag) { return !in.empty() && in[0] == tag; }

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

/// UTCTime YYMMDDHHMMSSZ (YY < 50: 20YY) or GeneralizedTime YYYYMMDDHHMMSSZ, the only forms
/// RFC 5280 allows, as Unix seconds.
std::optional<int64_t> der_time(const Tlv& t) {
  const size_t year_digits = t.tag == kTagUtcTime ? 2 : t.tag == kTagGeneralizedTime ? 4 : 0;
  const std::span<const uint8_t> s = t.body;
  if (year_digits == 0 || s.size() != year_digits + 11 || s.back() != 'Z') return std::nullopt;
  for (size_t i = 0; i + 1 < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  auto num = [&](size_t pos, size_t n) {
    unsigned v = 0;
    for (size_t i = 0; i < n; ++i) v = v * 10 + (s[pos + i] - '0');
    return v;
  };
  int64_t year = num(0, year_digits);
  if (year_digits == 2) year += year < 50 ? 2000 : 1900;
  const size_t p = year_digits;
  const unsigned mon = num(p, 2), day = num(p + 2, 2), hh = num(p + 4, 2), mm = num(p + 6, 2),
                 ss = num(p + 8, 2);
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 59)
    return std::nullopt;
  return days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 + ss;
}

/// What the CRL code needs of a certificate (spans into its DER).
struct CertFields {
  std::span<const uint8_t> serial;   ///< INTEGER contents
  std::span<const uint8_t> issuer;   ///< the Name, tag and length included
  std::span<const uint8_t> subject;  ///< the Name, tag and length included
  std::span<const uint8_t> spki;     ///< SubjectPublicKeyInfo, tag and length included
};

bool cert_fields(std::span<const uint8_t> der, CertFields& f) {
  Tlv cert, tbs, t;
  if (!der_take(der, kTagSequence, cert)) return false;
  std::span<const uint8_t> in = cert.body;
  if (!der_take(in, kTagSequence, tbs)) return false;
  in = tbs.body;
  if (der_peek(in, kTagContext0) && !der_take(in, t)) return false;  // version
  if (!der_take(in, kTagInteger, t) || t.body.empty()) return false;
  f.serial = t.body;
  if (!der_take(in, kTagSequence, t)) return false;  // signature algorithm
  if (!der_take(in, kTagSequence, t)) return false;
  f.issuer = t.whole;
  if (!der_take(in, kTagSequence, t)) return false;  // validity
  if (!der_take(in, kTagSequence, t)) return false;
  f.subject = t.whole;
  if (!der_take(in, kTagSequence, t)) return false;
  f.spki = t.whole;
  return true;
}

/// A CRL as read from its DER (spans into it).
struct CrlFields {
  std::span<const uint8_t> tbs;        ///< tbsCertList, tag and length included: what is signed
  std::span<const uint8_t> sig_oid;    ///< signatureAlgorithm's OID contents
  std::span<const uint8_t> signature;  ///< signatureValue without the unused-bits byte
  std::span<const uint8_t> issuer;     ///< the Name, tag and length included
  int64_t this_update = 0;
  std::optional<int64_t> next_update;
  std::vector<std::span<const uint8_t>> revoked;  ///< serials (INTEGER contents)
};

/// @return "" or what is wrong with the CRL `der` (which must hold nothing else).
std::string crl_fields(std::span<const uint8_t> der, CrlFields& f) {
  Tlv crl, tbs, alg, sig, t;
  std::span<const uint8_t> in = der;
  if (!der_take(in, kTagSequence, crl)) return "not a DER CertificateList (garbage or truncated)";
  if (!in.empty()) return "bytes after the CertificateList";
  in = crl.body;
  if (!der_take(in, kTagSequence, tbs)) return "no tbsCertList";
  f.tbs = tbs.whole;
  if (!der_take(in, kTagSequence, alg)) return "no signatureAlgorithm";
  std::span<const uint8_t> a = alg.body;
  if (!der_take(a, kTagOid, t)) return "signatureAlgorithm has no OID";
  f.sig_oid = t.body;
  if (!der_take(in, kTagBitString, sig) || sig.body.size() < 2 || sig.body[0] != 0)
    return "bad signatureValue";
  f.signature = sig.body.subspan(1);
  if (!in.empty()) return "bytes after the signatureValue";

  in = tbs.body;
  if (der_peek(in, kTagInteger) &&
      (!der_take(in, kTagInteger, t) || t.body.size() != 1 || t.body[0] != 1))
    return "version is not v2";
  if (!der_take(in, kTagSequence, t)) return "tbsCertList has no signature algorithm";
  if (!der_take(in, kTagSequence, t)) return "no issuer";
  f.issuer = t.whole;
  std::optional<int64_t> when;
  if (!der_take(in, t) || !(when = der_time(t))) return "thisUpdate is not a valid time";
  f.this_update = *when;
  if (der_peek(in, kTagUtcTime) || der_peek(in, kTagGeneralizedTime)) {
    if (!der_take(in, t) || !(when = der_time(t))) return "nextUpdate is not a valid time";
    f.next_update = when;
  }
  if (der_peek(in, kTagSequence)) {
    if (!der_take(in, kTagSequence, t)) return "bad revokedCertificates";
    std::span<const uint8_t> list = t.body;
    while (!list.empty()) {
      Tlv entry, serial, date;
      if (!der_take(list, kTagSequence, entry)) return "bad revokedCertificates entry";
      std::span<const uint8_t> e = entry.body;
      if (!der_take(e, kTagInteger, serial) || serial.body.empty() || !der_take(e, date) ||
          !der_time(date))
        return "bad revokedCertificates entry";
      if (!e.empty() && (!der_take(e, kTagSequence, t) || !e.empty()))
        return "bad revokedCertificates entry extensions";
      f.revoked.push_back(serial.body);
    }
  }
  if (der_peek(in, kTagContext0) && !der_take(in, kTagContext0, t)) return "bad crlExtensions";
  if (!in.empty()) return "unexpected fields in tbsCertList";
  return {};
}

/// A serial without the sign-padding zero bytes of its INTEGER, as compared.
std::span<const uint8_t> serial_trim(std::span<const uint8_t> s) {
  while (s.size() > 1 && s[0] == 0) s = s.subspan(1);
  return s;
}

std::string hex_upper(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0x0f];
  }
  return out;
}

/// A Name as wolfSSL prints it ("/CN=tunnelgate test root CA"), control characters as '?'.
std::string name_text(std::span<const uint8_t> name_der) {
  std::vector<unsigned char> copy(name_der.begin(), name_der.end());
  unsigned char* p = copy.data();
  WOLFSSL_X509_NAME* name =
      copy.empty() ? nullptr
                   : wolfSSL_d2i_X509_NAME(nullptr, &p, static_cast<long>(copy.size()));
  if (name == nullptr) return "?";
  char buf[256] = {};
  const bool ok = wolfSSL_X509_NAME_oneline(name, buf, sizeof buf) != nullptr;
  wolfSSL_X509_NAME_free(name);
  std::string out = ok ? std::string(buf, strnlen(buf, sizeof buf)) : std::string("?");
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

std::string utc_text(int64_t t) {
  const auto tt = static_cast<time_t>(t);
  struct tm tm{};
  char buf[32] = "?";
  if (gmtime_r(&tt, &tm) != nullptr) strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string wolfssl_error_text(int rc) {
  switch (rc) {
    case CRL_CERT_REVOKED: return "wolfSSL -361: certificate revoked";
    case CRL_MISSING: return "wolfSSL -362: no CRL for the issuer";
    default: return "wolfSSL " + std::to_string(rc) + ": " + wc_GetErrorString(rc);
  }
}

/// Every "-----BEGIN <label>-----" block of `text`, decoded, in order.
/// @return "" or what is wrong (a block without its END line, bad base64).
std::string pem_blocks(std::string_view text, std::string_view label,
                       std::vector<std::vector<uint8_t>>& out) {
  const std::string begin = "-----BEGIN " + std::string(label) + "-----";
  const std::string end = "-----END " + std::string(label) + "-----";
  for (size_t pos = text.find(begin); pos != std::string_view::npos; pos = text.find(begin, pos)) {
    const std::string which = std::string(label) + " " + std::to_string(out.size() + 1);
    const size_t body = pos + begin.size();
    const size_t stop = text.find(end, body);
    if (stop == std::string_view::npos) return which + ": no '" + end + "' line (truncated?)";
    std::string b64;
    for (char c : text.substr(body, stop - body))
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') b64 += c;
    std::vector<uint8_t> der(b64.size() / 4 * 3 + 3);
    auto len = static_cast<word32>(der.size());
    if (b64.empty() || b64.size() % 4 != 0 ||
        Base64_Decode(reinterpret_cast<const byte*>(b64.data()), static_cast<word32>(b64.size()),
                      der.data(), &len) != 0)
      return which + ": bad base64";
    der.resize(len);
    out.push_back(std::move(der));
    pos = stop + end.size();
  }
  return {};
}

// ------------------------------------------------------------------- CRL signatures (expired)

struct SigAlg {
  std::span<const uint8_t> oid;
  wc_HashType hash;
  wc_SignatureType type;
};

// ecdsa-with-SHA1/256/384/512 (RFC 5758 §3.2) and sha1/256/384/512WithRSAEncryption (RFC 4055).
constexpr uint8_t kEcdsaSha1[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01};
constexpr uint8_t kEcdsaSha256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
constexpr uint8_t kEcdsaSha384[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
constexpr uint8_t kEcdsaSha512[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04};
constexpr uint8_t kRsaSha1[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05};
constexpr uint8_t kRsaSha256[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b};
constexpr uint8_t kRsaSha384[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c};
constexpr uint8_t kRsaSha512[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d};

const SigAlg kSigAlgs[] = {
    {kEcdsaSha1, WC_HASH_TYPE_SHA, WC_SIGNATURE_TYPE_ECC},
    {kEcdsaSha256, WC_HASH_TYPE_SHA256, WC_SIGNATURE_TYPE_ECC},
    {kEcdsaSha384, WC_HASH_TYPE_SHA384, WC_SIGNATURE_TYPE_ECC},
    {kEcdsaSha512, WC_HASH_TYPE_SHA512, WC_SIGNATURE_TYPE_ECC},
    {kRsaSha1, WC_HASH_TYPE_SHA, WC_SIGNATURE_TYPE_RSA_W_ENC},
    {kRsaSha256, WC_HASH_TYPE_SHA256, WC_SIGNATURE_TYPE_RSA_W_ENC},
    {kRsaSha384, WC_HASH_TYPE_SHA384, WC_SIGNATURE_TYPE_RSA_W_ENC},
    {kRsaSha512, WC_HASH_TYPE_SHA512, WC_SIGNATURE_TYPE_RSA_W_ENC},
};

/// Verify the signature of a CRL with wolfCrypt against one public key (SubjectPublicKeyInfo).
/// Only for CRLs past their nextUpdate: wolfSSL 5.5.4 will not load those (its parser fails
/// them before the signature), so the check it makes for current CRLs is made here.
/// @return 0 verified, NOT_COMPILED_IN for an algorithm this code does not handle (RSA-PSS,
///         EdDSA, ...), else a wolfCrypt error (SIG_VERIFY_E: does not verify).
int crl_signature_check(const CrlFields& f, std::span<const uint8_t> spki) {
  const SigAlg* alg = nullptr;
  for (const SigAlg& a : kSigAlgs)
    if (std::ranges::equal(a.oid, f.sig_oid)) alg = &a;
  if (alg == nullptr) return NOT_COMPILED_IN;
  const auto tbs_len = static_cast<word32>(f.tbs.size());
  const auto sig_len = static_cast<word32>(f.signature.size());
  word32 idx = 0;
  int rc;
  if (alg->type == WC_SIGNATURE_TYPE_ECC) {
    ecc_key key;
    if ((rc = wc_ecc_init(&key)) != 0) return rc;
    rc = wc_EccPublicKeyDecode(spki.data(), &idx, &key, static_cast<word32>(spki.size()));
    if (rc == 0)
      rc = wc_SignatureVerify(alg->hash, alg->type, f.tbs.data(), tbs_len, f.signature.data(),
                              sig_len, &key, sizeof key);
    wc_ecc_free(&key);
  } else {
    RsaKey key;
    if ((rc = wc_InitRsaKey(&key, nullptr)) != 0) return rc;
    rc = wc_RsaPublicKeyDecode(spki.data(), &idx, &key, static_cast<word32>(spki.size()));
    if (rc == 0)
      rc = wc_SignatureVerify(alg->hash, alg->type, f.tbs.data(), tbs_len, f.signature.data(),
                              sig_len, &key, sizeof key);
    wc_FreeRsaKey(&key);
  }
  return rc;
}

// ------------------------------------------------------------------------- CRL sets

/// A certificate of the CA bundle, as the CRL code needs it.
struct CaCert {
  std::vector<uint8_t> subject;  ///< Name DER
  std::vector<uint8_t> spki;     ///< SubjectPublicKeyInfo DER
};

/// One CRL of auth.crl.
struct CrlEntry {
  std::vector<uint8_t> der;
  std::vector<uint8_t> issuer;  ///< Name DER, compared byte for byte as wolfSSL does (its hash)
  std::string issuer_text;
  int64_t this_update = 0;
  int64_t next_update = 0;
  std::vector<std::vector<uint8_t>> revoked;  ///< trimmed serials, sorted
  /// Loaded into the CertManager (wolfSSL checks it). false: it was past nextUpdate when the
  /// file was read, wolfSSL cannot load it, its signature was checked by crl_signature_check.
  bool in_wolfssl = false;

  bool lists(std::span<const uint8_t> serial) const {
    const std::span<const uint8_t> s = serial_trim(serial);
    return std::binary_search(revoked.begin(), revoked.end(),
                              std::vector<uint8_t>(s.begin(), s.end()));
  }
};

/// What verify() works with; replaced as a whole by a reload.
struct CrlSet {
  CmPtr cm;                    ///< the CA bundle and the CRLs with in_wolfssl
  std::vector<CrlEntry> crls;  ///< every CRL of the file (none without auth.crl)

  const CrlEntry* find(std::span<const uint8_t> issuer) const {
    for (const CrlEntry& c : crls)
      if (std::ranges::equal(c.issuer, issuer)) return &c;
    return nullptr;
  }
};

/// A new CertManager holding the bundle; with CRL checking enabled when `crl`.
Expected<CmPtr> manager_new(const std::string& ca_pem, const std::string& ca_file, bool crl) {
  CmPtr cm(wolfSSL_CertManagerNew());
  if (!cm) return make_error(ENOMEM, "wolfSSL_CertManagerNew failed");
  const int rc = wolfSSL_CertManagerLoadCABuffer(
      cm.get(), reinterpret_cast<const unsigned char*>(ca_pem.data()),
      static_cast<long>(ca_pem.size()), WOLFSSL_FILETYPE_PEM);
  if (rc != WOLFSSL_SUCCESS) {
    return make_error(EINVAL, ca_file + ": no usable CA certificate (wolfSSL " +
                                  std::to_string(rc) + ": " + wc_GetErrorString(rc) + ")");
  }
  if (crl) {
#ifdef HAVE_CRL
    // CHECKALL matters only to TLS handshakes; here verify() checks each certificate itself.
    if (wolfSSL_CertManagerEnableCRL(cm.get(), WOLFSSL_CRL_CHECKALL) != WOLFSSL_SUCCESS)
      return make_error(ENOMEM, "wolfSSL_CertManagerEnableCRL failed");
#ifdef HAVE_CRL_IO
    // EnableCRL installs wolfSSL's own HTTP fetcher (EmbedCrlLookup) when a certificate's
    // issuer has no CRL loaded: it would download the certificate's CRL distribution point,
    // blocking this thread on the network. CRLs come from auth.crl only.
    (void)wolfSSL_CertManagerSetCRL_IOCb(cm.get(), nullptr);
#endif
#else
    return make_error(ENOTSUP, "CRL checking is not supported by this wolfSSL build");
#endif
  }
  return cm;
}

/// Load a CRL that is current (by wolfSSL's clock) into `cm`; wolfSSL verifies its signature.
int crl_load(WOLFSSL_CERT_MANAGER* cm, std::span<const uint8_t> der) {
#ifdef HAVE_CRL
  return wolfSSL_CertManagerLoadCRLBuffer(cm, der.data(), static_cast<long>(der.size()),
                                          WOLFSSL_FILETYPE_ASN1);
#else
  (void)cm;
  (void)der;
  return NOT_COMPILED_IN;
#endif
}

/// The certificates of the PEM bundle whose fields parse (wolfSSL judges the rest).
std::vector<CaCert> ca_certs(const std::string& ca_pem) {
  std::vector<std::vector<uint8_t>> ders;
  (void)pem_blocks(ca_pem, "CERTIFICATE", ders);  // a bad block: wolfSSL refuses the bundle
  std::vector<CaCert> out;
  for (const auto& der : ders) {
    CertFields f;
    if (cert_fields(der, f))
      out.push_back({{f.subject.begin(), f.subject.end()}, {f.spki.begin(), f.spki.end()}});
  }
  return out;
}

/// The CRL file and its identity, read through one descriptor.
Expected<std::pair<FileIdentity, std::string>> file_read(const std::string& path) {
  auto file = file_read_bounded(path, 64u << 20);
  if (!file) return file.error();
  return std::make_pair(file->id, std::move(file->text));
}

/// Read the CRLs of `text` (the contents of `file`), check each, and build the CertManager
/// that holds the bundle and the current ones.
Expected<std::unique_ptr<CrlSet>> crl_set_load(const std::string& file, std::string_view text,
                                               const std::string& ca_pem,
                                               const std::string& ca_file,
                                               const std::vector<CaCert>& cas) {
  std::vector<std::vector<uint8_t>> ders;
  if (text.find("-----BEGIN X509 CRL-----") == std::string_view::npos && !text.empty() &&
      static_cast<uint8_t>(text[0]) == kTagSequence) {
    ders.emplace_back(text.begin(), text.end());  // one DER CRL
  } else {
    const std::string bad = pem_blocks(text, "X509 CRL", ders);
    if (!bad.empty()) return make_error(EINVAL, file + ": " + bad);
    if (ders.empty()) {
      return make_error(EINVAL, file + ": no CRL (neither '-----BEGIN X509 CRL-----' blocks nor "
                                       "a DER CRL)");
    }
  }
  auto cm = manager_new(ca_pem, ca_file, true);
  if (!cm) return cm.error();
  auto set = std::make_unique<CrlSet>();
  set->cm = std::move(*cm);
  for (size_t i = 0; i < ders.size(); ++i) {
    CrlEntry e;
    e.der = std::move(ders[i]);
    const std::string at = file + ": CRL " + std::to_string(i + 1);
    CrlFields f;
    if (const std::string bad = crl_fields(e.der, f); !bad.empty())
      return make_error(EINVAL, at + ": " + bad);
    e.issuer.assign(f.issuer.begin(), f.issuer.end());
    e.issuer_text = name_text(f.issuer);
    const std::string who = at + " (issuer " + e.issuer_text + ")";
    if (!f.next_update)
      return make_error(EINVAL, who + ": has no nextUpdate (wolfSSL requires one)");
    e.this_update = f.this_update;
    e.next_update = *f.next_update;
    std::vector<const CaCert*> signers;
    for (const CaCert& ca : cas)
      if (std::ranges::equal(ca.subject, e.issuer)) signers.push_back(&ca);
    if (signers.empty()) {
      return make_error(EINVAL, who + ": its issuer is not a CA of " + ca_file +
                                    ", so its signature cannot be checked");
    }
    if (set->find(e.issuer) != nullptr) {
      return make_error(EINVAL, who + ": a second CRL of the same issuer (keep only the newest; "
                                      "wolfSSL would use one of them)");
    }
    for (auto serial : f.revoked) {
      serial = serial_trim(serial);
      e.revoked.emplace_back(serial.begin(), serial.end());
    }
    std::sort(e.revoked.begin(), e.revoked.end());
    // wolfSSL takes a CRL as current while now <= nextUpdate (wc_ValidateDate, AFTER).
    bool current = std::time(nullptr) <= e.next_update;
    if (current) {
      const int rc = crl_load(set->cm.get(), e.der);
      // wolfSSL 5.5.4 reports a CRL past nextUpdate as ASN_PARSE_E: the second may just have
      // turned; then it is checked as an expired one below.
      if (rc != WOLFSSL_SUCCESS && !(rc == ASN_PARSE_E && std::time(nullptr) > e.next_update)) {
        std::string why = wolfssl_error_text(rc);
        if (rc == ASN_CRL_CONFIRM_E)
          why = "its signature does not verify with the CA's key (" + why + ")";
        if (rc == ASN_CRL_NO_SIGNER_E)
          why = "no CA of " + ca_file + " has the key that signed it (" + why + ")";
        return make_error(EINVAL, who + ": " + why);
      }
      current = rc == WOLFSSL_SUCCESS;
    }
    if (!current) {
      int rc = SIG_VERIFY_E;
      for (const CaCert* ca : signers)
        if ((rc = crl_signature_check(f, ca->spki)) == 0) break;
      if (rc == NOT_COMPILED_IN) {
        return make_error(EINVAL, who + ": past its nextUpdate, and its signature algorithm is not "
                                        "one this code can check (ECDSA or RSA PKCS#1 v1.5 with "
                                        "SHA-1/256/384/512)");
      }
      if (rc != 0) {
        return make_error(EINVAL, who + ": its signature does not verify with the CA's key (" +
                                      wolfssl_error_text(rc) + ")");
      }
    }
    e.in_wolfssl = current;
    set->crls.push_back(std::move(e));
  }
  return set;
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
  std::string ca_pem;          ///< the bundle, reloaded into per-request managers and reloads
  std::vector<CaCert> cas;     ///< its certificates (CRL issuers and their keys); with auth.crl
  std::unique_ptr<CrlSet> set; ///< the manager(s) in force; ctl server thread only
  std::optional<FileIdentity> crl_loaded;    ///< of the CRL file in force
  std::optional<FileIdentity> crl_rejected;  ///< of the last rejected version (not re-read)
  std::string crl_rejected_message;
  mutable std::mutex info_mu;
  CrlInfo info;  ///< guarded by info_mu: written by the ctl server thread, read by scrapes
  /// Relaxed: an independent counter, read by scrapes; it orders nothing else.
  mutable std::atomic<uint64_t> expired_accepted{0};
  bool wolfssl_initialised = false;

  ~Impl() {
    set.reset();
    if (wolfssl_initialised) wolfSSL_Cleanup();
  }

  bool crl_enabled() const { return !options.crl_file.empty(); }

  void publish(const CrlSet& s) {
    CrlInfo i;
    i.loaded = !s.crls.empty();
    i.crls = s.crls.size();
    for (size_t n = 0; n < s.crls.size(); ++n) {
      const CrlEntry& c = s.crls[n];
      i.this_update = n == 0 ? c.this_update : std::min(i.this_update, c.this_update);
      i.next_update = n == 0 ? c.next_update : std::min(i.next_update, c.next_update);
      i.revoked += c.revoked.size();
    }
    std::lock_guard lock(info_mu);
    info = i;
  }

  enum class Verdict : uint8_t { pass, pass_stale, refuse };

  /// What wolfSSL's result `rc` for certificate `der` means once the CRLs are taken into
  /// account; on refuse, `out` holds reason and detail; on pass_stale, detail says why.
  /// wolfSSL checks the CRL only after the chain, signature and dates passed (ParseCertRelative
  /// then CheckCertCRL in CM_VerifyBuffer_ex), so CRL_MISSING means "verified, but no usable
  /// CRL of its issuer": none in the file (not checked: pass), or one past its nextUpdate
  /// (wolfSSL skips it and reports it missing) which the file's own copy decides.
  Verdict judge(int rc, std::span<const uint8_t> der, const CrlSet& s, const char* what,
                Outcome& out) const {
    if (rc == WOLFSSL_SUCCESS) return Verdict::pass;
    CertFields f;
    const bool parsed = cert_fields(der, f);
    auto revoked_detail = [&] {
      return std::string(what) + " revoked: serial " + hex_upper(serial_trim(f.serial)) +
             " issuer " + name_text(f.issuer);
    };
    out.result = ctl::CtlResult::denied;
    if (rc == CRL_CERT_REVOKED) {
      out.reason = ctl::CtlReason::cert_revoked;
      out.detail = parsed ? revoked_detail() : std::string(what) + " revoked";
      return Verdict::refuse;
    }
    if (rc == CRL_MISSING && crl_enabled()) {
      if (!parsed) {
        out.reason = ctl::CtlReason::cert_malformed;
        out.detail = std::string(what) + ": cannot read its issuer for the CRL check";
        return Verdict::refuse;
      }
      const CrlEntry* crl = s.find(f.issuer);
      if (crl == nullptr) return Verdict::pass;  // its CA has no CRL: not checked
      const std::string stale = "the CRL of " + crl->issuer_text + " is past its nextUpdate " +
                                utc_text(crl->next_update);
      if (crl->lists(f.serial)) {
        out.reason = ctl::CtlReason::cert_revoked;
        out.detail = revoked_detail() + " (" + stale + ")";
        return Verdict::refuse;
      }
      if (options.crl_fail_open) {
        out.detail = "accepted although " + stale + " (auth.crl_fail_open)";
        return Verdict::pass_stale;
      }
      out.reason = ctl::CtlReason::crl_expired;
      out.detail = std::string(what) + ": " + stale + " (auth.crl_fail_open is off)";
      return Verdict::refuse;
    }
    out.reason = reason_of(rc);
    out.detail = wolfssl_error_text(rc);
    return Verdict::refuse;
  }

  /// A per-request manager: the bundle, and (with auth.crl) the current CRLs of the issuers
  /// of `certs` (all of them when an issuer cannot be read). Loading a CRL parses it and
  /// checks its signature, so only those that can matter are loaded.
  Expected<CmPtr> manager_for(std::span<const std::span<const uint8_t>> certs,
                              const CrlSet& s) const {
    auto cm = manager_new(ca_pem, options.ca_file, crl_enabled());
    if (!cm || !crl_enabled()) return cm;
    std::vector<std::span<const uint8_t>> issuers;
    bool all = false;
    for (const auto& der : certs) {
      CertFields f;
      if (cert_fields(der, f)) issuers.push_back(f.issuer);
      else all = true;
    }
    for (const CrlEntry& c : s.crls) {
      const bool wanted = all || std::ranges::any_of(issuers, [&](std::span<const uint8_t> i) {
                            return std::ranges::equal(i, c.issuer);
                          });
      // A CRL that expired since the file was read no longer loads: judge() then decides
      // with the file's copy, as for the main manager.
      if (wanted && c.in_wolfssl) (void)crl_load(cm->get(), c.der);
    }
    return cm;
  }
};

Expected<CertUserField> cert_user_field_parse(const std::string& text) {
  if (text == "subject_cn") return CertUserField::subject_cn;
  if (text == "san_email") return CertUserField::san_email;
  if (text == "san_dns") return CertUserField::san_dns;
  return make_error(EINVAL, "certificate user field '" + text +
                                "' is not subject_cn, san_email or san_dns");
}

bool CertAuthenticator::crl_supported() {
#ifdef HAVE_CRL
  return true;
#else
  return false;
#endif
}

Expected<std::unique_ptr<CertAuthenticator>> CertAuthenticator::create(Options options) {
  std::unique_ptr<CertAuthenticator> a(new CertAuthenticator());
  a->impl_ = std::make_unique<Impl>();
  Impl& impl = *a->impl_;
  impl.wolfssl_initialised = wolfSSL_Init() == WOLFSSL_SUCCESS;
  // PEM (.pem/.crt/.cer), DER (.der/.cer), PKCS#7 (.p7b) or PKCS#12 certificates, by content
  // (crypto/server_cert.h), handed to wolfSSL as one PEM bundle.
  auto cas = crypto::cert_list_load(options.ca_file, "");
  if (!cas) {
    // cert_list_load's message names the file already.
    return make_error(cas.error().code, "no usable CA certificate in the bundle: " + cas.error().message);
  }
  impl.ca_pem = crypto::cert_list_pem(*cas);
  impl.options = std::move(options);
  if (!impl.crl_enabled()) {
    auto cm = manager_new(impl.ca_pem, impl.options.ca_file, false);
    if (!cm) return cm.error();
    impl.set = std::make_unique<CrlSet>();
    impl.set->cm = std::move(*cm);
    return a;
  }
  if (!crl_supported()) {
    return make_error(ENOTSUP, impl.options.crl_file +
                                   ": CRL checking is not supported by this wolfSSL build "
                                   "(no HAVE_CRL)");
  }
  // The bundle must be usable before its CRLs are looked at (the same error as without).
  if (auto cm = manager_new(impl.ca_pem, impl.options.ca_file, false); !cm) return cm.error();
  impl.cas = ca_certs(impl.ca_pem);
  auto file = file_read(impl.options.crl_file);
  if (!file) return file.error();
  auto set = crl_set_load(impl.options.crl_file, file->second, impl.ca_pem, impl.options.ca_file,
                          impl.cas);
  if (!set) return set.error();
  impl.set = std::move(*set);
  impl.crl_loaded = file->first;
  impl.publish(*impl.set);
  return a;
}

CertAuthenticator::~CertAuthenticator() = default;

Expected<bool> CertAuthenticator::reload_crl_if_changed() {
  Impl& impl = *impl_;
  if (!impl.crl_enabled()) return false;
  auto file = file_read(impl.options.crl_file);
  if (!file) return file.error();
  if (impl.crl_loaded && *impl.crl_loaded == file->first) return false;
  if (impl.crl_rejected && *impl.crl_rejected == file->first)
    return make_error(EINVAL, impl.crl_rejected_message);
  auto set = crl_set_load(impl.options.crl_file, file->second, impl.ca_pem, impl.options.ca_file,
                          impl.cas);
  if (!set) {
    impl.crl_rejected = file->first;
    impl.crl_rejected_message = set.error().message;
    return set.error();
  }
  // Same thread as verify(): no request holds the old manager now.
  impl.set = std::move(*set);
  impl.crl_loaded = file->first;
  impl.crl_rejected.reset();
  impl.publish(*impl.set);
  return true;
}

CertAuthenticator::CrlInfo CertAuthenticator::crl_info() const {
  std::lock_guard lock(impl_->info_mu);
  return impl_->info;
}

uint64_t CertAuthenticator::crl_expired_accepted() const {
  return impl_->expired_accepted.load(std::memory_order_relaxed);
}

CertAuthenticator::Outcome CertAuthenticator::verify(std::span<const uint8_t> leaf,
                                                     std::span<const uint8_t> chain) const {
  Outcome out;
  if (leaf.empty()) return out;
  const Impl& impl = *impl_;
  const CrlSet& set = *impl.set;
  WOLFSSL_CERT_MANAGER* cm = set.cm.get();
  bool stale = false;         // a certificate passed only because of crl_fail_open
  std::string stale_detail;
  std::optional<Outcome> chain_refusal;  // an intermediate refused by a CRL
  CmPtr with_chain;
  if (!chain.empty()) {
    std::vector<std::span<const uint8_t>> pending = split_der(chain);
    std::vector<std::span<const uint8_t>> all = pending;
    all.push_back(leaf);
    auto made = impl.manager_for(all, set);
    if (!made) {
      out.result = ctl::CtlResult::error;
      out.reason = ctl::CtlReason::internal;
      out.detail = "cannot build the trust store for the chain: " + made.error().message;
      return out;
    }
    with_chain = std::move(*made);
    // Add each intermediate that verifies against what is trusted so far, in any order.
    for (bool progress = true; progress && !pending.empty();) {
      progress = false;
      for (auto it = pending.begin(); it != pending.end();) {
        const int rc = wolfSSL_CertManagerVerifyBuffer(with_chain.get(), it->data(),
                                                       static_cast<long>(it->size()),
                                                       WOLFSSL_FILETYPE_ASN1);
        if (rc != WOLFSSL_SUCCESS && rc != CRL_CERT_REVOKED && rc != CRL_MISSING) {
          ++it;  // not (yet) verifiable: perhaps after another intermediate
          continue;
        }
        Outcome o;
        const Impl::Verdict v = impl.judge(rc, *it, set, "intermediate", o);
        if (v == Impl::Verdict::refuse) {
          // Revoked, or its CRL expired: it stays untrusted. Reported if the leaf needs it.
          if (!chain_refusal) chain_refusal = std::move(o);
        } else {
          if (v == Impl::Verdict::pass_stale && !stale) {
            stale = true;
            stale_detail = "intermediate " + o.detail;
          }
          // LoadCABuffer refuses a certificate that is not a CA (NOT_CA_ERROR).
          (void)wolfSSL_CertManagerLoadCABuffer(with_chain.get(), it->data(),
                                                static_cast<long>(it->size()),
                                                WOLFSSL_FILETYPE_ASN1);
          progress = true;
        }
        it = pending.erase(it);
      }
    }
    cm = with_chain.get();
  }
  const int rc = wolfSSL_CertManagerVerifyBuffer(cm, leaf.data(), static_cast<long>(leaf.size()),
                                                 WOLFSSL_FILETYPE_ASN1);
  if (rc == ASN_NO_SIGNER_E && chain_refusal) return *chain_refusal;
  const Impl::Verdict v = impl.judge(rc, leaf, set, "certificate", out);
  if (v == Impl::Verdict::refuse) return out;
  if (v == Impl::Verdict::pass_stale && !stale) {
    stale = true;
    stale_detail = out.detail;
  }
  std::string user = user_of(leaf, impl.options.user_field);
  if (!user_name_valid(user)) {
    out.result = ctl::CtlResult::denied;
    out.reason = ctl::CtlReason::cert_no_user;
    out.detail = user.empty() ? "no user name in the configured field"
                              : "user name '" + user.substr(0, 64) + "' has characters outside [A-Za-z0-9._@-]";
    return out;
  }
  out.result = ctl::CtlResult::ok;
  out.reason = ctl::CtlReason::none;
  out.user = std::move(user);
  out.app = app_of(leaf, impl.options.app_field, impl.options.app_uri_prefix);
  out.detail.clear();
  if (stale) {
    out.stale_crl = true;
    out.detail = std::move(stale_detail);
    impl.expired_accepted.fetch_add(1, std::memory_order_relaxed);
  }
  return out;
}

}  // namespace tg::controlplane
