// Server certificates: loading, validation, choice, self-signed generation. See server_cert.h.
//
// Runs at startup, on reload and on rotation (any thread); never on a packet path.
//
// What wolfSSL does and what is done here:
//  * wolfSSL/wolfCrypt: X.509 parsing (wc_ParseCert into a DecodedCert: names and their
//    hashes, basicConstraints, key usages, signature and key algorithms), signature checks
//    of one certificate by another's public key (wc_CheckCertSigPubKey), PEM keys with their
//    decryption (wc_KeyPemToDer), encrypted PKCS#8 (wc_DecryptPKCS8Key), RSA/ECC key
//    decoding, PKCS#12 (wc_d2i_PKCS12 + wc_PKCS12_parse), SHA-256, Base64, certificate
//    generation.
//  * Here, with a small bounds-checked DER reader (fuzzed through fuzz_cert_bundle): which
//    format a file is; the certificates of a PKCS#7 bundle (wolfSSL's PKCS#7 parser keeps
//    at most MAX_PKCS7_CERTS = 15 and silently drops the rest); a certificate's validity
//    dates and SubjectPublicKeyInfo bytes (so dates are judged at the caller's `now`, never
//    wolfSSL's clock, and the pin hashes the exact bytes of the certificate); the
//    subjectAltName entries (DecodedCert lists iPAddress names only in builds with
//    WOLFSSL_IP_ALT_NAME, which neither build defines).
#include "crypto/server_cert.h"

// options.h first: the feature macros the library was built with (struct layouts).
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/pkcs12.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/types.h>
#include <wolfssl/wolfcrypt/wc_port.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>

#if !defined(OPENSSL_EXTRA)
// wc_CheckCertSigPubKey() is compiled only with OPENSSL_EXTRA (both builds have it: Debian's
// --enable-distro and ours). Without it nothing here could check a chain.
#error "crypto/server_cert.cc needs a wolfSSL built with OPENSSL_EXTRA (wc_CheckCertSigPubKey)"
#endif

namespace tg::crypto {

using controlplane::make_error;

namespace {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

void library_init_once() {
  // wolfCrypt_Init is reference-counted but not safe against concurrent first calls.
  static std::once_flag once;
  std::call_once(once, [] { wolfCrypt_Init(); });
}

void wipe(void* data, size_t size) {
  if (data != nullptr && size != 0) explicit_bzero(data, size);
}
void wipe(Bytes& b) { wipe(b.data(), b.size()); }
void wipe(std::string& s) { wipe(s.data(), s.size()); }

std::string wolf_text(int code) {
  return std::string(wc_GetErrorString(code)) + " (" + std::to_string(code) + ")";
}

Error fail(int code, std::string_view name, std::string message) {
  return make_error(code, std::string(name) + ": " + std::move(message));
}

// ------------------------------------------------------------------------------- DER reader

/// One DER element: tag, content, and the whole element (header + content).
struct Tlv {
  uint8_t tag = 0;
  ByteSpan content;
  ByteSpan whole;
};

constexpr uint8_t kTagInteger = 0x02, kTagBitString = 0x03, kTagOctetString = 0x04, kTagOid = 0x06,
                  kTagUtcTime = 0x17, kTagGeneralizedTime = 0x18, kTagSequence = 0x30,
                  kTagContext0 = 0xa0;

/// The element at the start of `in`: single-byte tag, definite length (short form or long
/// form with 1..4 length bytes) that fits in `in`. nullopt otherwise (BER indefinite length
/// included: none of the DER read here may use it).
std::optional<Tlv> der_peek(ByteSpan in) {
  if (in.size() < 2) return std::nullopt;
  const uint8_t tag = in[0];
  if ((tag & 0x1f) == 0x1f) return std::nullopt;  // high tag numbers: not in these structures
  size_t len = in[1];
  size_t header = 2;
  if (len & 0x80) {
    const size_t n = len & 0x7f;
    if (n == 0 || n > 4 || in.size() < 2 + n) return std::nullopt;
    len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | in[2 + i];
    header += n;
  }
  if (in.size() - header < len) return std::nullopt;
  return Tlv{tag, in.subspan(header, len), in.first(header + len)};
}

/// The children of a constructed element, at most `max` (nullopt if one does not parse or
/// there are more).
std::optional<std::vector<Tlv>> der_children(ByteSpan content, size_t max) {
  std::vector<Tlv> out;
  while (!content.empty()) {
    auto t = der_peek(content);
    if (!t || out.size() == max) return std::nullopt;
    out.push_back(*t);
    content = content.subspan(t->whole.size());
  }
  return out;
}

bool bytes_equal(ByteSpan a, std::initializer_list<uint8_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Object identifiers (content bytes).
constexpr std::initializer_list<uint8_t> kOidRsa = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                    0x0d, 0x01, 0x01, 0x01};
constexpr std::initializer_list<uint8_t> kOidRsaPss = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                       0x0d, 0x01, 0x01, 0x0a};
constexpr std::initializer_list<uint8_t> kOidEc = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
constexpr std::initializer_list<uint8_t> kOidDsa = {0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01};
constexpr std::initializer_list<uint8_t> kOidEd25519 = {0x2b, 0x65, 0x70};
constexpr std::initializer_list<uint8_t> kOidEd448 = {0x2b, 0x65, 0x71};
constexpr std::initializer_list<uint8_t> kOidX25519 = {0x2b, 0x65, 0x6e};
constexpr std::initializer_list<uint8_t> kOidPkcs7SignedData = {0x2a, 0x86, 0x48, 0x86, 0xf7,
                                                                0x0d, 0x01, 0x07, 0x02};
// pbeWithSHAAnd128BitRC2-CBC and pbeWithSHAAnd40BitRC2-CBC (PKCS#12
// PBE, 1.2.840.113549.1.12.1.5/6).
constexpr std::array<uint8_t, 12> kDerOidRc2_128 = {0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86,
                                                    0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x05};
constexpr std::array<uint8_t, 12> kDerOidRc2_40 = {0x06, 0x0a, 0x2a, 0x86, 0x48, 0x86,
                                                   0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x06};

std::string key_algorithm_name(ByteSpan oid) {
  if (bytes_equal(oid, kOidRsa)) return "RSA";
  if (bytes_equal(oid, kOidRsaPss)) return "RSASSA-PSS";
  if (bytes_equal(oid, kOidEc)) return "EC";
  if (bytes_equal(oid, kOidDsa)) return "DSA";
  if (bytes_equal(oid, kOidEd25519)) return "Ed25519";
  if (bytes_equal(oid, kOidEd448)) return "Ed448";
  if (bytes_equal(oid, kOidX25519)) return "X25519";
  return "unknown";
}

/// What a DER blob that may be a key is.
enum class DerKind { pkcs8, encrypted_pkcs8, rsa, ec, dsa, certificate, public_key, unknown };
struct DerClass {
  DerKind kind = DerKind::unknown;
  std::string algorithm;  ///< PKCS#8 / public key: "RSA", "EC", "Ed25519", ...
};

DerClass der_classify(ByteSpan der) {
  DerClass c;
  auto top = der_peek(der);
  if (!top || top->tag != kTagSequence) return c;
  auto kids = der_children(top->content, 16);
  if (!kids || kids->size() < 2) return c;
  const std::vector<Tlv>& k = *kids;
  auto first_oid = [](const Tlv& seq) -> std::optional<ByteSpan> {
    if (seq.tag != kTagSequence) return std::nullopt;
    auto oid = der_peek(seq.content);
    if (!oid || oid->tag != kTagOid) return std::nullopt;
    return oid->content;
  };
  if (k.size() >= 3 && k[0].tag == kTagInteger && k[2].tag == kTagOctetString) {
    if (auto oid = first_oid(k[1])) {
      c.kind = DerKind::pkcs8;
      c.algorithm = key_algorithm_name(*oid);
      return c;
    }
  }
  if (k.size() == 2 && k[1].tag == kTagOctetString && first_oid(k[0])) {
    c.kind = DerKind::encrypted_pkcs8;
    return c;
  }
  if (k.size() == 2 && k[1].tag == kTagBitString) {
    if (auto oid = first_oid(k[0])) {
      c.kind = DerKind::public_key;
      c.algorithm = key_algorithm_name(*oid);
      return c;
    }
  }
  if (k.size() == 3 && k[0].tag == kTagSequence && k[1].tag == kTagSequence &&
      k[2].tag == kTagBitString) {
    c.kind = DerKind::certificate;
    return c;
  }
  const bool all_int =
      std::all_of(k.begin(), k.end(), [](const Tlv& t) { return t.tag == kTagInteger; });
  if (all_int && k.size() == 9)
    c.kind = DerKind::rsa;
  else if (all_int && k.size() == 6)
    c.kind = DerKind::dsa;
  else if (k[0].tag == kTagInteger && k[1].tag == kTagOctetString)
    c.kind = DerKind::ec;
  return c;
}

// ---------------------------------------------------------------------------------- time

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

/// An X.509 Time (RFC 5280 §4.1.2.5): UTCTime YYMMDDHHMM[SS]Z (YY < 50 is 20YY) or
/// GeneralizedTime YYYYMMDDHHMMSSZ. Unix seconds, or nullopt.
std::optional<int64_t> x509_time(const Tlv& t) {
  const ByteSpan s = t.content;
  auto digits = [&s](size_t at, size_t n) -> std::optional<int> {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (i >= s.size() || s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  int year = 0;
  size_t at = 0;
  if (t.tag == kTagUtcTime && (s.size() == 13 || s.size() == 11)) {
    auto yy = digits(0, 2);
    if (!yy) return std::nullopt;
    year = *yy < 50 ? 2000 + *yy : 1900 + *yy;
    at = 2;
  } else if (t.tag == kTagGeneralizedTime && s.size() == 15) {
    auto yyyy = digits(0, 4);
    if (!yyyy) return std::nullopt;
    year = *yyyy;
    at = 4;
  } else {
    return std::nullopt;
  }
  if (s.back() != 'Z') return std::nullopt;
  auto mo = digits(at, 2), d = digits(at + 2, 2), h = digits(at + 4, 2), mi = digits(at + 6, 2);
  std::optional<int> sec = 0;
  if (s.size() - at == 11) sec = digits(at + 8, 2);
  if (!mo || !d || !h || !mi || !sec || *mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 ||
      *mi > 59 || *sec > 60)
    return std::nullopt;
  return days_from_civil(year, static_cast<unsigned>(*mo), static_cast<unsigned>(*d)) * 86400 +
         *h * 3600 + *mi * 60 + *sec;
}

std::string iso_time(int64_t t) {
  const time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  if (gmtime_r(&tt, &tm) == nullptr) return std::to_string(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// DER of an X.509 Time for certificate generation: UTCTime through 2049, else
/// GeneralizedTime (RFC 5280 §4.1.2.5).
std::optional<Bytes> x509_time_der(int64_t t) {
  const time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  if (t < 0 || gmtime_r(&tt, &tm) == nullptr) return std::nullopt;
  char buf[32];
  const int year = tm.tm_year + 1900;
  if (year > 9999) return std::nullopt;
  const bool utc = year < 2050;
  std::strftime(buf, sizeof buf, utc ? "%y%m%d%H%M%SZ" : "%Y%m%d%H%M%SZ", &tm);
  const size_t n = std::strlen(buf);
  Bytes out{utc ? kTagUtcTime : kTagGeneralizedTime, static_cast<uint8_t>(n)};
  out.insert(out.end(), buf, buf + n);
  return out;
}

// --------------------------------------------------------------------------- public keys

/// A public key reduced to what identifies it: type, curve, and the key bytes (RSA: e and n
/// with a length prefix; EC: the uncompressed point).
struct PublicKey {
  bool valid = false;
  std::string algorithm;  ///< "RSA", "EC", "Ed25519", ... (from the SPKI or key OID)
  CertKeyType type = CertKeyType::ecdsa;
  int curve_id = 0;  ///< wolfCrypt ecc_curve_id (EC)
  int bits = 0;      ///< RSA modulus bits, EC field bits
  Bytes material;
  bool operator==(const PublicKey& o) const {
    return valid && o.valid && type == o.type && curve_id == o.curve_id && material == o.material;
  }
};

struct RsaHolder {
  RsaKey key;
  bool init = false;
  RsaHolder() { init = wc_InitRsaKey(&key, nullptr) == 0; }
  ~RsaHolder() {
    if (init) wc_FreeRsaKey(&key);
  }
};
struct EccHolder {
  ecc_key key;
  bool init = false;
  EccHolder() { init = wc_ecc_init(&key) == 0; }
  ~EccHolder() {
    if (init) wc_ecc_free(&key);
  }
};
struct RngHolder {
  WC_RNG rng;
  bool init = false;
  RngHolder() { init = wc_InitRng(&rng) == 0; }
  ~RngHolder() {
    if (init) wc_FreeRng(&rng);
  }
};

bool rsa_material(RsaKey& key, PublicKey& out) {
  byte e[16];
  word32 e_len = sizeof e;
  Bytes n(1024);  // up to 8192-bit moduli
  word32 n_len = static_cast<word32>(n.size());
  if (wc_RsaFlattenPublicKey(&key, e, &e_len, n.data(), &n_len) != 0) return false;
  n.resize(n_len);
  out.type = CertKeyType::rsa;
  out.bits = wc_RsaEncryptSize(&key) * 8;
  out.material.assign({static_cast<uint8_t>(e_len)});
  out.material.insert(out.material.end(), e, e + e_len);
  out.material.insert(out.material.end(), n.begin(), n.end());
  out.valid = true;
  return true;
}

bool ecc_material(ecc_key& key, PublicKey& out) {
  if (key.dp == nullptr) return false;
  byte point[2 * MAX_ECC_BYTES + 1];
  word32 len = sizeof point;
  if (wc_ecc_export_x963(&key, point, &len) != 0) return false;
  out.type = CertKeyType::ecdsa;
  out.curve_id = key.dp->id;
  out.bits = key.dp->size * 8;
  out.material.assign(point, point + len);
  out.valid = true;
  return true;
}

/// The public key of a SubjectPublicKeyInfo (DER).
PublicKey spki_public_key(ByteSpan spki) {
  PublicKey pk;
  auto top = der_peek(spki);
  if (!top || top->tag != kTagSequence) return pk;
  auto alg = der_peek(top->content);
  if (!alg || alg->tag != kTagSequence) return pk;
  auto oid = der_peek(alg->content);
  if (!oid || oid->tag != kTagOid) return pk;
  pk.algorithm = key_algorithm_name(oid->content);
  word32 idx = 0;
  if (pk.algorithm == "RSA") {
    RsaHolder rsa;
    if (rsa.init &&
        wc_RsaPublicKeyDecode(spki.data(), &idx, &rsa.key, static_cast<word32>(spki.size())) == 0)
      rsa_material(rsa.key, pk);
  } else if (pk.algorithm == "EC") {
    EccHolder ecc;
    if (ecc.init &&
        wc_EccPublicKeyDecode(spki.data(), &idx, &ecc.key, static_cast<word32>(spki.size())) == 0)
      ecc_material(ecc.key, pk);
  }
  return pk;
}

/// The public half of an unencrypted private key (PKCS#8 or traditional DER).
Expected<PublicKey> private_key_public(ByteSpan der) {
  const DerClass c = der_classify(der);
  std::string algorithm = c.algorithm;
  if (c.kind == DerKind::rsa) algorithm = "RSA";
  if (c.kind == DerKind::ec) algorithm = "EC";
  if (c.kind == DerKind::dsa) algorithm = "DSA";
  if (c.kind == DerKind::certificate)
    return make_error(EINVAL, "holds a certificate, not a private key");
  if (c.kind == DerKind::public_key)
    return make_error(EINVAL, "holds a public key, not the private key");
  if (c.kind == DerKind::encrypted_pkcs8)
    return make_error(EINVAL, "the private key is still encrypted");
  if (c.kind == DerKind::unknown) return make_error(EINVAL, "not a private key (DER)");
  PublicKey pk;
  pk.algorithm = algorithm;
  word32 idx = 0;
  if (algorithm == "RSA") {
    RsaHolder rsa;
    int rc = rsa.init ? wc_RsaPrivateKeyDecode(der.data(), &idx, &rsa.key,
                                               static_cast<word32>(der.size()))
                      : MEMORY_E;
    if (rc != 0 || !rsa_material(rsa.key, pk))
      return make_error(EINVAL, "cannot decode the RSA private key: " + wolf_text(rc));
    return pk;
  }
  if (algorithm == "EC") {
    EccHolder ecc;
    int rc = ecc.init ? wc_EccPrivateKeyDecode(der.data(), &idx, &ecc.key,
                                               static_cast<word32>(der.size()))
                      : MEMORY_E;
    if (rc == 0 && ecc.key.type == ECC_PRIVATEKEY_ONLY) {
      // SEC1 without the optional public key: compute it (the timing-resistant scalar
      // multiplication of these builds wants an RNG for blinding).
      RngHolder rng;
      rc = rng.init ? wc_ecc_make_pub_ex(&ecc.key, nullptr, &rng.rng) : RNG_FAILURE_E;
    }
    if (rc != 0 || !ecc_material(ecc.key, pk))
      return make_error(EINVAL, "cannot decode the EC private key: " + wolf_text(rc));
    return pk;
  }
  return make_error(EINVAL, algorithm + " keys are not supported (RSA or ECDSA only)");
}

// ------------------------------------------------------------------------- certificates

struct DecodedCertHolder {
  DecodedCert dc;
  DecodedCertHolder(ByteSpan der) {
    wc_InitDecodedCert(&dc, der.data(), static_cast<word32>(der.size()), nullptr);
  }
  ~DecodedCertHolder() { wc_FreeDecodedCert(&dc); }
  DecodedCertHolder(const DecodedCertHolder&) = delete;
  DecodedCertHolder& operator=(const DecodedCertHolder&) = delete;
};

std::string printable(const char* text) {
  std::string s(text, strnlen(text, WC_ASN_NAME_MAX));
  for (char& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  return s.empty() ? std::string("(empty name)") : s;
}

/// What validation needs of one certificate.
struct CertInfo {
  ByteSpan der;
  int version = 0;
  bool is_ca = false;        ///< basicConstraints CA:TRUE
  bool self_issued = false;  ///< subject == issuer (names only)
  std::array<uint8_t, KEYID_SIZE> subject_hash{}, issuer_hash{};
  std::string subject, issuer;
  int64_t not_before = 0, not_after = 0;
  uint32_t key_oid = 0, signature_oid = 0;
  bool eku_set = false;
  uint8_t eku = 0;
  bool ku_set = false;
  uint16_t ku = 0;
  bool san_dns_or_ip = false;
  ByteSpan spki;
  PublicKey public_key;
};

/// SubjectAltName GeneralNames: does it hold a dNSName [2] or an iPAddress [7]?
bool san_has_dns_or_ip(ByteSpan general_names) {
  auto seq = der_peek(general_names);
  if (!seq || seq->tag != kTagSequence) return false;
  auto kids = der_children(seq->content, 1024);
  if (!kids) return false;
  return std::any_of(kids->begin(), kids->end(),
                     [](const Tlv& t) { return t.tag == 0x82 || t.tag == 0x87; });
}

/// Parse one DER certificate (exactly one element, nothing after it).
Expected<CertInfo> cert_info_parse(ByteSpan der) {
  CertInfo info;
  auto cert = der_peek(der);
  if (!cert || cert->tag != kTagSequence || cert->whole.size() != der.size())
    return make_error(EINVAL, "not a DER certificate (bad outer SEQUENCE)");
  info.der = cert->whole;
  // tbsCertificate: [0] version, serial, signature, issuer, validity, subject, SPKI, ...
  auto tbs = der_peek(cert->content);
  if (!tbs || tbs->tag != kTagSequence) return make_error(EINVAL, "no tbsCertificate");
  ByteSpan rest = tbs->content;
  std::vector<Tlv> f;
  while (!rest.empty() && f.size() < 8) {
    auto t = der_peek(rest);
    if (!t) return make_error(EINVAL, "tbsCertificate does not parse");
    f.push_back(*t);
    rest = rest.subspan(t->whole.size());
  }
  const size_t base = !f.empty() && f[0].tag == kTagContext0 ? 1 : 0;
  if (f.size() < base + 6 || f[base].tag != kTagInteger || f[base + 3].tag != kTagSequence ||
      f[base + 5].tag != kTagSequence)
    return make_error(EINVAL, "tbsCertificate lacks serial, validity or subjectPublicKeyInfo");
  auto validity = der_children(f[base + 3].content, 2);
  if (!validity || validity->size() != 2) return make_error(EINVAL, "bad validity");
  auto nb = x509_time((*validity)[0]);
  auto na = x509_time((*validity)[1]);
  if (!nb || !na) return make_error(EINVAL, "bad notBefore/notAfter time");
  info.not_before = *nb;
  info.not_after = *na;
  info.spki = f[base + 5].whole;

  auto holder = std::make_unique<DecodedCertHolder>(info.der);
  DecodedCert& dc = holder->dc;
  // NO_VERIFY: no signer lookup and no date check (dates are judged against `now` above).
  if (int rc = wc_ParseCert(&dc, CERT_TYPE, NO_VERIFY, nullptr); rc != 0)
    return make_error(EINVAL, "wolfSSL cannot parse it: " + wolf_text(rc));
  info.version = dc.version;
  info.is_ca = dc.isCA != 0;
  info.self_issued = dc.selfSigned != 0;
  std::memcpy(info.subject_hash.data(), dc.subjectHash, KEYID_SIZE);
  std::memcpy(info.issuer_hash.data(), dc.issuerHash, KEYID_SIZE);
  info.subject = printable(dc.subject);
  info.issuer = printable(dc.issuer);
  info.key_oid = dc.keyOID;
  info.signature_oid = dc.signatureOID;
  info.eku_set = dc.extExtKeyUsageSet != 0;
  info.eku = dc.extExtKeyUsage;
  info.ku_set = dc.extKeyUsageSet != 0;
  info.ku = dc.extKeyUsage;
#if defined(OPENSSL_ALL)
  if (dc.extSubjAltNameSrc != nullptr && dc.extSubjAltNameSz > 0)
    info.san_dns_or_ip = san_has_dns_or_ip(ByteSpan(dc.extSubjAltNameSrc, dc.extSubjAltNameSz));
#else
  for (DNS_entry* e = dc.altNames; e != nullptr && !info.san_dns_or_ip; e = e->next)
    info.san_dns_or_ip = e->type == ASN_DNS_TYPE || e->type == ASN_IP_TYPE;
#endif
  info.public_key = spki_public_key(info.spki);
  return info;
}

/// `child` carries a valid signature by the key of `issuer` (names are not compared).
bool signed_by(const CertInfo& child, const CertInfo& issuer) {
  return wc_CheckCertSigPubKey(child.der.data(), static_cast<word32>(child.der.size()), nullptr,
                               issuer.spki.data(), static_cast<word32>(issuer.spki.size()),
                               static_cast<int>(issuer.key_oid)) == 0;
}

std::string base64(ByteSpan in) {
  std::string out(((in.size() + 2) / 3) * 4 + 4, '\0');
  word32 len = static_cast<word32>(out.size());
  if (Base64_Encode_NoNl(in.data(), static_cast<word32>(in.size()),
                         reinterpret_cast<byte*>(out.data()), &len) != 0)
    return {};
  out.resize(len);
  return out;
}

std::string spki_pin(ByteSpan spki) {
  std::array<uint8_t, WC_SHA256_DIGEST_SIZE> digest{};
  if (wc_Sha256Hash(spki.data(), static_cast<word32>(spki.size()), digest.data()) != 0) return {};
  return "pin-sha256:" + base64(digest);
}

std::string der_to_pem(ByteSpan der, int type) {
  std::string out(der.size() * 2 + 128, '\0');
  const int n =
      wc_DerToPem(der.data(), static_cast<word32>(der.size()), reinterpret_cast<byte*>(out.data()),
                  static_cast<word32>(out.size()), type);
  if (n <= 0) return {};
  out.resize(static_cast<size_t>(n));
  return out;
}

// ------------------------------------------------------------------------- file contents

/// Everything a certificate or key file held, unencrypted.
struct FileContents {
  CertFileFormat format = CertFileFormat::pem;
  std::vector<Bytes> certs;
  std::vector<Bytes> keys;
  bool public_key = false;                ///< a PUBLIC KEY block / SPKI DER
  bool private_key_seen = false;          ///< a private key, decoded into keys or not (want_keys)
  std::vector<std::string> other_labels;  ///< PEM blocks neither certificate nor key
  ~FileContents() {
    for (Bytes& k : keys) wipe(k);
  }
  FileContents() = default;
  FileContents(FileContents&&) noexcept = default;
  FileContents& operator=(FileContents&&) noexcept = default;
};

bool contains(ByteSpan hay, ByteSpan needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

/// Bytes after the outer SEQUENCE header, allowing BER's indefinite length (PKCS#12 files
/// made by some tools use it; wolfSSL converts BER to DER, ASN_BER_TO_DER).
std::optional<ByteSpan> outer_content(ByteSpan in) {
  if (in.size() < 2 || in[0] != kTagSequence) return std::nullopt;
  size_t header = 2;
  if (in[1] & 0x80) header += in[1] & 0x7f;
  if (header > 6 || in.size() < header) return std::nullopt;
  return in.subspan(header);
}

bool looks_pkcs12(ByteSpan in) {
  auto c = outer_content(in);
  return c && c->size() >= 3 && (*c)[0] == kTagInteger && (*c)[1] == 1 && (*c)[2] == 3;
}

bool looks_pkcs7(ByteSpan in) {
  auto c = outer_content(in);
  if (!c) return false;
  auto oid = der_peek(*c);
  return oid && oid->tag == kTagOid && bytes_equal(oid->content, kOidPkcs7SignedData);
}

/// Certificates of a PKCS#7 SignedData (certs-only .p7b): ContentInfo { signedData OID,
/// [0] { SignedData { version, digestAlgorithms, encapContentInfo, [0] IMPLICIT
/// certificates, ... } } }. Definite-length DER only.
Expected<std::vector<Bytes>> pkcs7_certs(ByteSpan in, size_t max) {
  auto ci = der_peek(in);
  if (!ci || ci->tag != kTagSequence)
    return make_error(EINVAL,
                      "PKCS#7: truncated, or BER with indefinite lengths, which is not "
                      "read (convert it: `openssl pkcs7 -print_certs -in FILE`)");
  auto ci_kids = der_children(ci->content, 2);
  if (!ci_kids || ci_kids->size() != 2 || (*ci_kids)[0].tag != kTagOid ||
      !bytes_equal((*ci_kids)[0].content, kOidPkcs7SignedData) || (*ci_kids)[1].tag != kTagContext0)
    return make_error(EINVAL, "PKCS#7: not a SignedData ContentInfo");
  auto sd = der_peek((*ci_kids)[1].content);
  if (!sd || sd->tag != kTagSequence) return make_error(EINVAL, "PKCS#7: bad SignedData");
  auto sd_kids = der_children(sd->content, 8);
  if (!sd_kids || sd_kids->size() < 3) return make_error(EINVAL, "PKCS#7: bad SignedData");
  std::vector<Bytes> certs;
  for (size_t i = 3; i < sd_kids->size(); ++i) {
    const Tlv& t = (*sd_kids)[i];
    if (t.tag != kTagContext0) continue;  // [1] crls, SET signerInfos
    ByteSpan rest = t.content;
    while (!rest.empty()) {
      auto c = der_peek(rest);
      if (!c) return make_error(EINVAL, "PKCS#7: a certificate does not parse");
      // CertificateChoices: only the plain Certificate (SEQUENCE) is a certificate.
      if (c->tag == kTagSequence) {
        if (certs.size() == max)
          return make_error(EINVAL, "PKCS#7: more than " + std::to_string(max) + " certificates");
        certs.emplace_back(c->whole.begin(), c->whole.end());
      }
      rest = rest.subspan(c->whole.size());
    }
  }
  return certs;
}

struct Pkcs12Deleter {
  void operator()(WC_PKCS12* p) const { wc_PKCS12_free(p); }
};

/// wc_FreeCertList() is WOLFSSL_LOCAL (not exported by Debian's shared library): the same
/// two frees here.
void cert_list_free(WC_DerCertList* list) {
  while (list != nullptr) {
    WC_DerCertList* next = list->next;
    if (list->buffer != nullptr) XFREE(list->buffer, nullptr, DYNAMIC_TYPE_PKCS);
    XFREE(list, nullptr, DYNAMIC_TYPE_PKCS);
    list = next;
  }
}

Expected<FileContents> pkcs12_read(ByteSpan in, std::string_view name,
                                   const std::string& password) {
  FileContents out;
  out.format = CertFileFormat::pkcs12;
  std::unique_ptr<WC_PKCS12, Pkcs12Deleter> p12(wc_PKCS12_new());
  if (!p12) return fail(ENOMEM, name, "out of memory");
  if (int rc = wc_d2i_PKCS12(in.data(), static_cast<word32>(in.size()), p12.get()); rc != 0)
    return fail(EINVAL, name, "not a valid PKCS#12 file: " + wolf_text(rc));
  byte* key = nullptr;
  byte* cert = nullptr;
  word32 key_len = 0, cert_len = 0;
  WC_DerCertList* ca = nullptr;
  const int rc =
      wc_PKCS12_parse(p12.get(), password.c_str(), &key, &key_len, &cert, &cert_len, &ca);
  if (key != nullptr) {
    out.private_key_seen = true;
    out.keys.emplace_back(key, key + key_len);
    wipe(key, key_len);
    XFREE(key, nullptr, DYNAMIC_TYPE_PUBLIC_KEY);
  }
  if (cert != nullptr) {
    out.certs.emplace_back(cert, cert + cert_len);
    XFREE(cert, nullptr, DYNAMIC_TYPE_PKCS);
  }
  for (WC_DerCertList* c = ca; c != nullptr && out.certs.size() <= kCaListMaxCerts; c = c->next)
    out.certs.emplace_back(c->buffer, c->buffer + c->bufferSz);
  cert_list_free(ca);
  if (rc == MAC_CMP_FAILED_E)
    return fail(EACCES, name, "PKCS#12 MAC check failed: wrong password?");
  if (rc != 0) {
    std::string why = "cannot read the PKCS#12 contents: " + wolf_text(rc);
    if (contains(in, kDerOidRc2_40) || contains(in, kDerOidRc2_128))
      return fail(ENOTSUP, name,
                  why +
                      ": it is encrypted with RC2 (OpenSSL's `pkcs12 -legacy`), which this "
                      "wolfSSL build cannot decrypt; export it again without -legacy "
                      "(AES-256-CBC, OpenSSL 3's default) or with -certpbe PBE-SHA1-3DES "
                      "-keypbe PBE-SHA1-3DES");
    return fail(EINVAL, name, why);
  }
  if (out.certs.size() > kCaListMaxCerts)
    return fail(EINVAL, name, "more than " + std::to_string(kCaListMaxCerts) + " certificates");
  return out;
}

/// PEM: every "-----BEGIN X-----" ... "-----END X-----" block, in order. Text outside
/// blocks (openssl's "Bag Attributes", "subject=" lines, comments) is ignored.
struct PemBlock {
  std::string label;
  std::string_view text;  ///< from BEGIN to the end of the END line
  std::string_view body;  ///< between the two lines
};

Expected<std::vector<PemBlock>> pem_blocks(std::string_view s, std::string_view name, size_t max) {
  std::vector<PemBlock> blocks;
  size_t pos = 0;
  constexpr std::string_view kBegin = "-----BEGIN ", kDashes = "-----";
  while ((pos = s.find(kBegin, pos)) != std::string_view::npos) {
    const size_t label_at = pos + kBegin.size();
    const size_t label_end = s.find(kDashes, label_at);
    const size_t eol = s.find('\n', label_at);
    if (label_end == std::string_view::npos || (eol != std::string_view::npos && eol < label_end) ||
        label_end - label_at > 64)
      return fail(EINVAL, name, "PEM: malformed BEGIN line");
    PemBlock b;
    b.label = std::string(s.substr(label_at, label_end - label_at));
    const std::string end_line = "-----END " + b.label + "-----";
    const size_t body_at = label_end + kDashes.size();
    const size_t end_at = s.find(end_line, body_at);
    if (end_at == std::string_view::npos)
      return fail(EINVAL, name,
                  "PEM: the " + b.label + " block #" + std::to_string(blocks.size() + 1) +
                      " has no END line (truncated file?)");
    if (blocks.size() == max)
      return fail(EINVAL, name, "more than " + std::to_string(max) + " PEM blocks");
    b.body = s.substr(body_at, end_at - body_at);
    b.text = s.substr(pos, end_at + end_line.size() - pos);
    blocks.push_back(std::move(b));
    pos = end_at + end_line.size();
  }
  return blocks;
}

std::optional<Bytes> base64_decode(std::string_view body) {
  std::string clean;
  clean.reserve(body.size());
  for (char c : body)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') clean.push_back(c);
  Bytes out(clean.size() * 3 / 4 + 4);
  word32 len = static_cast<word32>(out.size());
  if (clean.empty() || Base64_Decode(reinterpret_cast<const byte*>(clean.data()),
                                     static_cast<word32>(clean.size()), out.data(), &len) != 0)
    return std::nullopt;
  out.resize(len);
  return out;
}

bool is_cert_label(std::string_view l) {
  return l == "CERTIFICATE" || l == "X509 CERTIFICATE" || l == "TRUSTED CERTIFICATE";
}
bool is_key_label(std::string_view l) {
  return l == "PRIVATE KEY" || l == "RSA PRIVATE KEY" || l == "EC PRIVATE KEY" ||
         l == "ENCRYPTED PRIVATE KEY";
}

/// A key block of a PEM file, decrypted with `password` when it is encrypted.
Expected<Bytes> pem_key(const PemBlock& b, std::string_view name, const std::string& password) {
  const bool encrypted = b.label == "ENCRYPTED PRIVATE KEY" ||
                         b.body.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
  if (encrypted && password.empty())
    return fail(EINVAL, name,
                "the private key is encrypted: set tls.key_password_file or "
                "tls.key_password_env");
  Bytes der(b.text.size());
  const int n = wc_KeyPemToDer(
      reinterpret_cast<const unsigned char*>(b.text.data()), static_cast<int>(b.text.size()),
      der.data(), static_cast<int>(der.size()), encrypted ? password.c_str() : nullptr);
  if (n <= 0) {
    wipe(der);
    if (encrypted)
      return fail(EACCES, name,
                  "cannot decrypt the private key: wrong password, or an "
                  "encryption wolfSSL does not read (it reads PBES2/PBKDF2 with "
                  "AES-CBC or DES-EDE3-CBC, and PBE-SHA1-3DES; not scrypt): " +
                      wolf_text(n));
    return fail(EINVAL, name, "the " + b.label + " block does not decode: " + wolf_text(n));
  }
  der.resize(static_cast<size_t>(n));
  // A "Proc-Type" key decrypted with a wrong password is garbage that nothing checked yet.
  if (encrypted && !private_key_public(der)) {
    wipe(der);
    return fail(EACCES, name, "cannot decrypt the private key: wrong password?");
  }
  return der;
}

/// Read what a file holds. `want_keys`: decode (and decrypt) private keys; otherwise they
/// are skipped (CA lists).
Expected<FileContents> contents_read(ByteSpan in, std::string_view name,
                                     const std::string& password, bool want_keys,
                                     size_t max_certs) {
  if (in.empty()) return fail(EINVAL, name, "the file is empty");
  FileContents out;
  const std::string_view text(reinterpret_cast<const char*>(in.data()), in.size());
  const bool der_like = in[0] == kTagSequence;
  if (der_like && looks_pkcs12(in)) return pkcs12_read(in, name, password);
  if (der_like && looks_pkcs7(in)) {
    auto certs = pkcs7_certs(in, max_certs);
    if (!certs) return fail(certs.error().code, name, certs.error().message);
    out.format = CertFileFormat::pkcs7;
    out.certs = std::move(*certs);
    return out;
  }
  if (der_like && der_peek(in)) {
    out.format = CertFileFormat::der;
    const ByteSpan one = der_peek(in)->whole;
    for (uint8_t trailing : in.subspan(one.size()))
      if (trailing != '\n' && trailing != '\r' && trailing != ' ' && trailing != 0)
        return fail(EINVAL, name,
                    "DER: bytes after the first element (several DER items in "
                    "one file are not read: use PEM)");
    const DerClass c = der_classify(one);
    switch (c.kind) {
      case DerKind::certificate:
        out.certs.emplace_back(one.begin(), one.end());
        return out;
      case DerKind::public_key:
        out.public_key = true;
        return out;
      case DerKind::encrypted_pkcs8: {
        out.private_key_seen = true;
        if (!want_keys) return out;
        if (password.empty())
          return fail(EINVAL, name,
                      "the private key is encrypted (PKCS#8): set "
                      "tls.key_password_file or tls.key_password_env");
        Bytes key(one.begin(), one.end());
        const int n = wc_DecryptPKCS8Key(key.data(), static_cast<word32>(key.size()),
                                         password.c_str(), static_cast<int>(password.size()));
        if (n <= 0) {
          wipe(key);
          return fail(EACCES, name,
                      "cannot decrypt the private key: wrong password? " + wolf_text(n));
        }
        wipe(key.data() + n, key.size() - static_cast<size_t>(n));
        key.resize(static_cast<size_t>(n));
        out.keys.push_back(std::move(key));
        return out;
      }
      case DerKind::unknown:
        return fail(EINVAL, name, "DER, but not a certificate, private key, PKCS#12 or PKCS#7");
      default:
        out.private_key_seen = true;
        if (want_keys) out.keys.emplace_back(one.begin(), one.end());
        return out;
    }
  }
  if (text.find("-----BEGIN ") == std::string_view::npos) {
    if (der_like)
      return fail(EINVAL, name, "DER: the outer SEQUENCE does not fit in the file (truncated?)");
    return fail(EINVAL, name, "neither PEM nor DER");
  }
  auto blocks = pem_blocks(text, name, max_certs + 16);
  if (!blocks) return blocks.error();
  out.format = CertFileFormat::pem;
  for (size_t i = 0; i < blocks->size(); ++i) {
    const PemBlock& b = (*blocks)[i];
    if (is_cert_label(b.label) || b.label == "PKCS7") {
      auto der = base64_decode(b.body);
      if (!der)
        return fail(
            EINVAL, name,
            "PEM: the " + b.label + " block #" + std::to_string(i + 1) + " is not valid base64");
      if (b.label == "PKCS7") {
        auto certs = pkcs7_certs(*der, max_certs);
        if (!certs) return fail(certs.error().code, name, certs.error().message);
        for (Bytes& c : *certs) out.certs.push_back(std::move(c));
      } else {
        // TRUSTED CERTIFICATE carries OpenSSL's trust settings after the certificate.
        auto first = der_peek(*der);
        if (!first)
          return fail(EINVAL, name,
                      "PEM: the " + b.label + " block #" + std::to_string(i + 1) +
                          " is not DER (truncated?)");
        out.certs.emplace_back(first->whole.begin(), first->whole.end());
      }
      if (out.certs.size() > max_certs)
        return fail(EINVAL, name, "more than " + std::to_string(max_certs) + " certificates");
    } else if (is_key_label(b.label)) {
      out.private_key_seen = true;
      if (!want_keys) continue;
      auto key = pem_key(b, name, password);
      if (!key) return key.error();
      out.keys.push_back(std::move(*key));
    } else if (b.label == "PUBLIC KEY" || b.label == "RSA PUBLIC KEY") {
      out.public_key = true;
    } else if (b.label.find("PRIVATE KEY") != std::string::npos) {
      return fail(EINVAL, name,
                  "a " + b.label +
                      " is not supported (RSA or ECDSA keys in "
                      "PKCS#8, PKCS#1 or SEC1 form)");
    } else {
      out.other_labels.push_back(b.label);
    }
  }
  return out;
}

std::string labels_text(const FileContents& c) {
  if (c.other_labels.empty()) return {};
  std::string s = " (PEM blocks found: ";
  for (size_t i = 0; i < c.other_labels.size() && i < 4; ++i)
    s += (i ? ", " : "") + c.other_labels[i];
  return s + ")";
}

Expected<Bytes> file_read(const std::string& path, size_t max) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    return make_error(e, path + ": " + std::strerror(e));
  }
  struct stat st {};
  Bytes data;
  int err = 0;
  std::string what;
  if (::fstat(fd, &st) != 0) {
    err = errno;
    what = std::strerror(err);
  } else if (S_ISDIR(st.st_mode)) {
    err = EISDIR;
    what = "is a directory";
  } else if (!S_ISREG(st.st_mode)) {
    err = EINVAL;
    what = "not a regular file";
  } else if (static_cast<uint64_t>(st.st_size) > max) {
    err = EFBIG;
    what = "larger than " + std::to_string(max) + " bytes";
  } else {
    data.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < data.size()) {
      const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = n < 0 ? errno : EIO;
        what = n < 0 ? std::strerror(err) : "changed while read";
        break;
      }
      got += static_cast<size_t>(n);
    }
  }
  ::close(fd);
  if (err != 0) {
    wipe(data);
    return make_error(err, path + ": " + what);
  }
  return data;
}

// ------------------------------------------------------------------------------- chains

/// The leaf's path through the certificates of a bundle: indices into the parsed list,
/// the leaf first, each signed by the next.
struct Path {
  std::vector<size_t> certs;
  bool self_signed_leaf = false;
  bool ends_in_root = false;  ///< the last one is self-signed (a root)
};

class PathBuilder {
 public:
  explicit PathBuilder(const std::vector<std::optional<CertInfo>>& certs) : certs_(certs) {
    const size_t n = certs.size();
    sig_.assign(n * n, -1);
    for (size_t i = 0; i < n; ++i) {
      // X.509 v1 roots have no basicConstraints (DecodedCert::version is the raw field:
      // 0 = v1, 2 = v3); a self-signed one is a trust anchor (RFC 5280 §6.1).
      const bool v1_root = certs[i] && certs[i]->version < 2 && self_signed(i);
      ca_.push_back(i != 0 && certs[i] && (certs[i]->is_ca || v1_root));
    }
  }

  bool verifies(size_t child, size_t issuer) {
    int8_t& s = sig_[child * certs_.size() + issuer];
    if (s < 0) s = signed_by(*certs_[child], *certs_[issuer]) ? int8_t{1} : int8_t{0};
    return s == 1;
  }
  bool self_signed(size_t i) { return certs_[i] && certs_[i]->self_issued && verifies(i, i); }
  bool is_ca(size_t i) const { return ca_[i]; }
  /// CAs whose subject is `i`'s issuer name and whose key signed `i`.
  std::vector<size_t> issuers_of(size_t i) {
    std::vector<size_t> out;
    for (size_t j = 0; j < certs_.size(); ++j)
      if (j != i && ca_[j] && certs_[j]->subject_hash == certs_[i]->issuer_hash && verifies(i, j))
        out.push_back(j);
    return out;
  }
  /// CAs whose subject names `i`'s issuer but whose key did not sign it.
  std::vector<size_t> name_matches_of(size_t i) {
    std::vector<size_t> out;
    for (size_t j = 0; j < certs_.size(); ++j)
      if (j != i && ca_[j] && certs_[j]->subject_hash == certs_[i]->issuer_hash && !verifies(i, j))
        out.push_back(j);
    return out;
  }

  /// The best path from the leaf: one that ends in a root if any, else the longest.
  Path build() {
    Path best;
    if (!certs_[0]) return best;
    if (self_signed(0)) {
      best.certs = {0};
      best.self_signed_leaf = true;
      best.ends_in_root = true;
      return best;
    }
    std::vector<size_t> path{0};
    budget_ = 4096;  // bounded search: duplicate-subject CAs cannot make it explode
    search(path, best);
    if (best.certs.empty()) best.certs = {0};
    return best;
  }

 private:
  /// Depth-first from path.back(); stops at the first path that reaches a root.
  void search(std::vector<size_t>& path, Path& best) {
    if (path.size() > 1 && self_signed(path.back())) {
      best.certs = path;
      best.ends_in_root = true;
      return;
    }
    if (path.size() > best.certs.size()) best.certs = path;
    if (path.size() >= kMaxDepth) return;
    for (size_t j : issuers_of(path.back())) {
      if (best.ends_in_root || budget_ == 0) return;
      --budget_;
      if (std::find(path.begin(), path.end(), j) != path.end()) continue;  // cross-signed loops
      path.push_back(j);
      search(path, best);
      path.pop_back();
    }
  }

  static constexpr size_t kMaxDepth = 12;

  const std::vector<std::optional<CertInfo>>& certs_;
  std::vector<int8_t> sig_;  ///< memo of signed_by(child, issuer): -1 unknown, 0, 1
  std::vector<bool> ca_;
  size_t budget_ = 0;
};

std::vector<std::optional<CertInfo>> parse_all(const CertBundle& bundle,
                                               std::vector<std::string>* errors) {
  std::vector<std::optional<CertInfo>> out;
  for (size_t i = 0; i < bundle.certs.size(); ++i) {
    auto info = cert_info_parse(bundle.certs[i]);
    if (info) {
      out.emplace_back(std::move(*info));
    } else {
      out.emplace_back(std::nullopt);
      if (errors != nullptr)
        errors->push_back(
            (i == 0 ? std::string("the leaf") : "certificate #" + std::to_string(i + 1)) + ": " +
            info.error().message);
    }
  }
  return out;
}

bool weak_signature_oid(uint32_t oid) {
  switch (oid) {
    case CTC_SHAwRSA:
    case CTC_SHAwECDSA:
    case CTC_MD5wRSA:
    case CTC_MD2wRSA:
    case CTC_SHAwDSA:
      return true;
    default:
      return false;
  }
}

bool supported_curve(int curve_id) {
  return curve_id == ECC_SECP256R1 || curve_id == ECC_SECP384R1 || curve_id == ECC_SECP521R1;
}

std::string role(size_t position, bool root) {
  if (position == 0) return "the leaf";
  return root ? "the root" : "the intermediate";
}

}  // namespace

// ============================================================================== public API

CertBundle::~CertBundle() { wipe(key_der); }

std::string_view to_string(CertKeyType type) { return type == CertKeyType::rsa ? "RSA" : "ECDSA"; }

std::string_view to_string(CertFileFormat format) {
  switch (format) {
    case CertFileFormat::pem:
      return "PEM";
    case CertFileFormat::der:
      return "DER";
    case CertFileFormat::pkcs12:
      return "PKCS#12";
    case CertFileFormat::pkcs7:
      return "PKCS#7";
  }
  return "?";
}

std::string_view to_string(CertSeverity severity) {
  return severity == CertSeverity::error ? "error" : "warning";
}

std::string_view to_string(CertCode code) {
  switch (code) {
#define TG_CERT_CODE_NAME(c, severity, meaning) \
  case CertCode::c:                             \
    return #c;
    TG_CERT_FINDINGS(TG_CERT_CODE_NAME)
#undef TG_CERT_CODE_NAME
  }
  return "?";
}

std::string_view cert_code_meaning(CertCode code) {
  switch (code) {
#define TG_CERT_CODE_MEANING(c, severity, meaning) \
  case CertCode::c:                                \
    return meaning;
    TG_CERT_FINDINGS(TG_CERT_CODE_MEANING)
#undef TG_CERT_CODE_MEANING
  }
  return "?";
}

CertSeverity cert_code_severity(CertCode code) {
  switch (code) {
#define TG_CERT_CODE_SEVERITY(c, severity, meaning) \
  case CertCode::c:                                 \
    return CertSeverity::severity;
    TG_CERT_FINDINGS(TG_CERT_CODE_SEVERITY)
#undef TG_CERT_CODE_SEVERITY
  }
  return CertSeverity::error;
}

std::string_view to_string(CertChoice choice) {
  switch (choice) {
    case CertChoice::primary:
      return "primary";
    case CertChoice::second:
      return "second";
    case CertChoice::none:
      return "none";
  }
  return "?";
}

bool CertReport::usable() const {
  return std::none_of(findings.begin(), findings.end(),
                      [](const CertFinding& f) { return f.severity == CertSeverity::error; });
}

bool CertReport::has(CertCode code) const { return find(code) != nullptr; }

const CertFinding* CertReport::find(CertCode code) const {
  for (const CertFinding& f : findings)
    if (f.code == code) return &f;
  return nullptr;
}

Expected<CertBundle> cert_bundle_parse(ByteSpan cert_file, std::string_view cert_name,
                                       ByteSpan key_file, std::string_view key_name,
                                       const std::string& password) {
  library_init_once();
  const bool own_key_file = !key_name.empty() && key_name != cert_name;
  auto certs = contents_read(cert_file, cert_name, password, !own_key_file, kBundleMaxCerts);
  if (!certs) return certs.error();
  if (certs->certs.empty()) {
    if (certs->private_key_seen)
      return fail(EINVAL, cert_name, "holds a private key, not a certificate");
    return fail(EINVAL, cert_name, "no certificate in the file" + labels_text(*certs));
  }
  CertBundle bundle;
  bundle.cert_name = std::string(cert_name);
  bundle.cert_format = certs->format;

  // The key: from the key file, else from the certificate file.
  FileContents key_contents;
  const FileContents* key_source = &*certs;
  std::string_view key_from = cert_name;
  if (own_key_file) {
    auto k = contents_read(key_file, key_name, password, true, kBundleMaxCerts);
    if (!k) return k.error();
    key_contents = std::move(*k);
    key_source = &key_contents;
    key_from = key_name;
    if (key_contents.keys.empty()) {
      if (!key_contents.certs.empty())
        return fail(EINVAL, key_name, "holds a certificate, not a private key");
      if (key_contents.public_key)
        return fail(EINVAL, key_name, "holds a public key, not the private key");
      return fail(EINVAL, key_name, "no private key in the file" + labels_text(key_contents));
    }
  } else if (certs->keys.empty()) {
    return fail(EINVAL, cert_name,
                "no private key in the file, and no key file is configured (tls.key)");
  }
  if (key_source->keys.size() > 1)
    return fail(EINVAL, key_from,
                "holds " + std::to_string(key_source->keys.size()) + " private keys: keep one");
  bundle.key_der = key_source->keys[0];
  bundle.key_format = key_source->format;
  bundle.key_name = std::string(key_from);
  auto key_pub = private_key_public(bundle.key_der);
  if (!key_pub) return fail(key_pub.error().code, key_from, key_pub.error().message);
  bundle.key_type = key_pub->type;

  // Certificates: parse each (refuse the file if one is not X.509), drop duplicates, leaf
  // first.
  std::vector<CertInfo> infos;
  for (size_t i = 0; i < certs->certs.size(); ++i) {
    const Bytes& der = certs->certs[i];
    if (std::find(bundle.certs.begin(), bundle.certs.end(), der) != bundle.certs.end()) continue;
    auto info = cert_info_parse(der);
    if (!info)
      return fail(
          EINVAL, cert_name,
          "certificate #" + std::to_string(i + 1) + " is not valid X.509: " + info.error().message);
    bundle.certs.push_back(der);
    infos.push_back(std::move(*info));
  }
  size_t leaf = infos.size();
  for (size_t i = 0; i < infos.size() && leaf == infos.size(); ++i)
    if (infos[i].public_key == *key_pub) leaf = i;
  for (size_t i = 0; i < infos.size() && leaf == infos.size(); ++i)
    if (!infos[i].is_ca) leaf = i;
  if (leaf == infos.size()) leaf = 0;
  std::rotate(bundle.certs.begin(), bundle.certs.begin() + static_cast<std::ptrdiff_t>(leaf),
              bundle.certs.begin() + static_cast<std::ptrdiff_t>(leaf) + 1);
  return bundle;
}

Expected<CertBundle> cert_bundle_load(const std::string& cert_path, const std::string& key_path,
                                      const std::string& password) {
  auto cert_file = file_read(cert_path, kCertFileMaxBytes);
  if (!cert_file) return cert_file.error();
  Bytes key_file;
  const bool own_key_file = !key_path.empty() && key_path != cert_path;
  if (own_key_file) {
    auto k = file_read(key_path, kCertFileMaxBytes);
    if (!k) return k.error();
    key_file = std::move(*k);
  }
  auto bundle =
      cert_bundle_parse(*cert_file, cert_path, key_file, own_key_file ? key_path : "", password);
  wipe(key_file);
  wipe(*cert_file);  // may hold a key too (combined PEM, PKCS#12)
  return bundle;
}

Expected<std::vector<std::vector<uint8_t>>> cert_list_parse(ByteSpan file, std::string_view name,
                                                            const std::string& password) {
  library_init_once();
  auto contents = contents_read(file, name, password, false, kCaListMaxCerts);
  if (!contents) return contents.error();
  if (contents->certs.empty()) {
    if (contents->public_key || contents->private_key_seen)
      return fail(EINVAL, name, "holds a key, not a certificate");
    return fail(EINVAL, name, "no certificate in the file" + labels_text(*contents));
  }
  std::vector<Bytes> out;
  for (size_t i = 0; i < contents->certs.size(); ++i) {
    Bytes& der = contents->certs[i];
    if (auto info = cert_info_parse(der); !info)
      return fail(
          EINVAL, name,
          "certificate #" + std::to_string(i + 1) + " is not valid X.509: " + info.error().message);
    if (std::find(out.begin(), out.end(), der) == out.end()) out.push_back(std::move(der));
  }
  return out;
}

Expected<std::vector<std::vector<uint8_t>>> cert_list_load(const std::string& path,
                                                           const std::string& password) {
  auto file = file_read(path, kCertFileMaxBytes);
  if (!file) return file.error();
  auto list = cert_list_parse(*file, path, password);
  wipe(*file);
  return list;
}

Expected<std::string> cert_password_read(const std::string& file, const std::string& env_name) {
  if (!file.empty() && !env_name.empty())
    return make_error(EINVAL,
                      "tls.key_password_file and tls.key_password_env are both set: keep one");
  if (file.empty() && env_name.empty()) return std::string();
  std::string password;
  std::string source;
  if (!file.empty()) {
    auto data = file_read(file, kPasswordFileMaxBytes);
    if (!data) return data.error();
    source = file;
    const auto nl = std::find(data->begin(), data->end(), static_cast<uint8_t>('\n'));
    password.assign(data->begin(), nl);
    wipe(*data);
    if (!password.empty() && password.back() == '\r') password.pop_back();
  } else {
    const char* value = std::getenv(env_name.c_str());
    if (value == nullptr)
      return make_error(
          ENOENT, "tls.key_password_env: the environment variable " + env_name + " is not set");
    source = "the environment variable " + env_name;
    password = value;
  }
  if (password.empty())
    return make_error(EINVAL, source +
                                  ": the password is empty (for no password, set neither "
                                  "tls.key_password_file nor tls.key_password_env)");
  if (password.find('\0') != std::string::npos) {
    wipe(password);
    return make_error(EINVAL, source + ": the password holds a NUL byte");
  }
  return password;
}

CertReport cert_bundle_validate(const CertBundle& bundle, int64_t now, bool not_yet_valid_is_error,
                                uint32_t expires_soon_margin_s) {
  library_init_once();
  CertReport report;
  auto add = [&report](CertCode code, std::string message) {
    report.findings.push_back({cert_code_severity(code), code, std::move(message)});
  };
  const std::string& file = bundle.cert_name.empty() ? std::string("the file") : bundle.cert_name;
  if (bundle.certs.empty()) {
    add(CertCode::malformed, file + ": no certificate");
    return report;
  }
  std::vector<std::string> parse_errors;
  const std::vector<std::optional<CertInfo>> certs = parse_all(bundle, &parse_errors);
  for (const std::string& e : parse_errors) add(CertCode::malformed, file + ": " + e);
  if (!certs[0]) return report;
  const CertInfo& leaf = *certs[0];
  report.subject = leaf.subject;
  report.issuer = leaf.issuer;
  report.spki_pin = spki_pin(leaf.spki);
  report.not_before = leaf.not_before;
  report.not_after = leaf.not_after;

  // The key.
  const std::string key_file = bundle.key_name.empty() ? file : bundle.key_name;
  if (!leaf.public_key.valid) {
    add(CertCode::unsupported_key,
        "the leaf " + leaf.subject + " has a " +
            (leaf.public_key.algorithm.empty() ? std::string("unknown")
                                               : leaf.public_key.algorithm) +
            " key (RSA or ECDSA only)");
  } else if (leaf.public_key.type == CertKeyType::ecdsa &&
             !supported_curve(leaf.public_key.curve_id)) {
    const char* curve = wc_ecc_get_name(leaf.public_key.curve_id);
    add(CertCode::unsupported_key, "the leaf " + leaf.subject + " has an EC key on " +
                                       (curve != nullptr ? curve : "an unknown curve") +
                                       " (P-256, P-384 or P-521 only)");
  }
  if (bundle.key_der.empty()) {
    add(CertCode::no_key, key_file + ": no private key");
  } else {
    auto key_pub = private_key_public(bundle.key_der);
    if (!key_pub) {
      add(CertCode::malformed, key_file + ": " + key_pub.error().message);
    } else if (leaf.public_key.valid && !(*key_pub == leaf.public_key)) {
      add(CertCode::key_mismatch, key_file + ": the private key (" +
                                      std::string(to_string(key_pub->type)) +
                                      ") is not the key of the leaf " + leaf.subject + " (" +
                                      std::string(to_string(leaf.public_key.type)) + ")");
    }
  }

  // The chain.
  PathBuilder builder(certs);
  const Path path = builder.build();
  report.chain_length = path.certs.size();
  bool any_ca = false;
  bool any_root = false;
  for (size_t i = 1; i < certs.size(); ++i) {
    any_ca = any_ca || builder.is_ca(i);
    any_root = any_root || (builder.is_ca(i) && builder.self_signed(i));
  }
  if (path.self_signed_leaf) {
    add(CertCode::self_signed, "the leaf " + leaf.subject +
                                   " is self-signed: clients must be told "
                                   "to trust it (openconnect --servercert " +
                                   report.spki_pin + "); replace it with a certificate from a CA");
  } else if (!any_ca) {
    add(CertCode::no_ca, file + ": no CA certificate in the file (the leaf " + leaf.subject +
                             " is issued by " + leaf.issuer +
                             "): append the intermediate and root CA");
  } else if (path.certs.size() == 1) {
    std::string why;
    const std::vector<size_t> named = builder.name_matches_of(0);
    if (!named.empty())
      why = "the CA " + certs[named[0]]->subject +
            " in the file has the issuer's name but its key "
            "did not sign the leaf (signature check failed)";
    else
      why = "its issuer " + leaf.issuer + " is not in the file";
    add(CertCode::no_chain,
        file + ": the leaf " + leaf.subject + " is not signed by any CA in the file: " + why);
  } else if (!path.ends_in_root) {
    const CertInfo& last = *certs[path.certs.back()];
    if (any_root) {
      std::string roots;
      for (size_t i = 1; i < certs.size(); ++i)
        if (builder.is_ca(i) && builder.self_signed(i) &&
            std::find(path.certs.begin(), path.certs.end(), i) == path.certs.end())
          roots += (roots.empty() ? "" : ", ") + certs[i]->subject;
      add(CertCode::root_mismatch,
          "the root " + roots + " in the file did not sign the intermediate " + last.subject +
              " of the leaf (its issuer is " + last.issuer + ")");
    } else {
      add(CertCode::no_root, "the chain ends at the intermediate " + last.subject +
                                 ": no root CA in " + file + " (clients need " + last.issuer +
                                 " in their trust store)");
    }
  }

  // Dates of every certificate on the path.
  bool expired = false;
  for (size_t k = 0; k < path.certs.size(); ++k) {
    const CertInfo& c = *certs[path.certs[k]];
    const bool root = k > 0 && k + 1 == path.certs.size() && path.ends_in_root;
    report.not_before = std::max(report.not_before, c.not_before);
    report.not_after = std::min(report.not_after, c.not_after);
    if (now > c.not_after) {
      expired = true;
      add(CertCode::expired,
          role(k, root) + " " + c.subject + " expired at " + iso_time(c.not_after));
    } else if (now < c.not_before) {
      report.findings.push_back(
          {not_yet_valid_is_error ? CertSeverity::error : CertSeverity::warning,
           CertCode::not_yet_valid,
           role(k, root) + " " + c.subject + " is not valid before " + iso_time(c.not_before)});
    }
  }
  if (!expired && expires_soon_margin_s > 0 &&
      report.not_after - now < int64_t{expires_soon_margin_s}) {
    add(CertCode::expires_soon, "the chain expires at " + iso_time(report.not_after) + ", in " +
                                    std::to_string((report.not_after - now) / 86400) +
                                    " days (margin " +
                                    std::to_string(expires_soon_margin_s / 86400) + " days)");
  }

  // The leaf's usage.
  if (leaf.eku_set && (leaf.eku & (EXTKEYUSE_SERVER_AUTH | EXTKEYUSE_ANY)) == 0)
    add(CertCode::no_server_auth, "the leaf " + leaf.subject +
                                      " has an extendedKeyUsage without "
                                      "serverAuth: clients refuse it for a TLS server");
  if (leaf.ku_set && (leaf.ku & KEYUSE_DIGITAL_SIG) == 0)
    add(CertCode::key_usage, "the leaf " + leaf.subject +
                                 " has a keyUsage without digitalSignature: "
                                 "clients refuse it with the ECDHE suites tunnelgate offers");

  // Apple's rules (support.apple.com/HT210176), followed by the seed's validation.
  for (size_t k = 0; k < path.certs.size(); ++k) {
    const CertInfo& c = *certs[path.certs[k]];
    const bool root = k > 0 && k + 1 == path.certs.size() && path.ends_in_root;
    const PublicKey& pk = c.public_key;
    if (pk.valid && ((pk.type == CertKeyType::rsa && pk.bits < 2048) ||
                     (pk.type == CertKeyType::ecdsa && pk.bits < 256)))
      add(CertCode::weak_key, role(k, root) + " " + c.subject + " has a " +
                                  std::to_string(pk.bits) + "-bit " +
                                  std::string(to_string(pk.type)) + " key");
    const bool self_signed_cert = root || (k == 0 && path.self_signed_leaf);
    if (!self_signed_cert && weak_signature_oid(c.signature_oid))
      add(CertCode::weak_signature,
          role(k, root) + " " + c.subject + " is signed with SHA-1 or MD5");
  }
  if (leaf.not_after - leaf.not_before > kLeafMaxValiditySeconds)
    add(CertCode::long_validity, "the leaf " + leaf.subject + " is valid for " +
                                     std::to_string((leaf.not_after - leaf.not_before) / 86400) +
                                     " days (Apple clients refuse more than 825)");
  if (!leaf.san_dns_or_ip)
    add(CertCode::no_san, "the leaf " + leaf.subject +
                              " has no DNS or IP subjectAltName: clients "
                              "that check the host name ignore the CN");
  return report;
}

std::string cert_bundle_chain_pem(const CertBundle& bundle) {
  library_init_once();
  if (bundle.certs.empty()) return {};
  const std::vector<std::optional<CertInfo>> certs = parse_all(bundle, nullptr);
  if (!certs[0]) return {};
  PathBuilder builder(certs);
  const Path path = builder.build();
  std::string pem;
  for (size_t k = 0; k < path.certs.size(); ++k) {
    const bool root = k > 0 && k + 1 == path.certs.size() && path.ends_in_root;
    if (root) break;
    pem += der_to_pem(bundle.certs[path.certs[k]], CERT_TYPE);
  }
  return pem;
}

std::string cert_list_pem(const std::vector<std::vector<uint8_t>>& certs) {
  std::string pem;
  for (const Bytes& der : certs) pem += der_to_pem(der, CERT_TYPE);
  return pem;
}

std::string cert_spki_pin(ByteSpan cert_der) {
  library_init_once();
  auto info = cert_info_parse(cert_der);
  return info ? spki_pin(info->spki) : std::string();
}

namespace {
/// No error but the dates, which are judged here at `now` (the report judged them at load).
bool usable_apart_from_dates(const CertReport* r) {
  return r != nullptr &&
         std::none_of(r->findings.begin(), r->findings.end(), [](const CertFinding& f) {
           return f.severity == CertSeverity::error && f.code != CertCode::expired &&
                  f.code != CertCode::not_yet_valid;
         });
}
bool counts_at(const CertReport* r, int64_t now) {
  return usable_apart_from_dates(r) && r->not_before <= now && now <= r->not_after;
}
}  // namespace

CertChoice cert_choose(const CertReport* primary, const CertReport* second, int64_t now,
                       uint32_t margin_s) {
  const bool p = counts_at(primary, now);
  const bool s = counts_at(second, now);
  if (p && primary->not_after - now >= int64_t{margin_s}) return CertChoice::primary;
  if (s && (!p || second->not_after > primary->not_after)) return CertChoice::second;
  if (p) return CertChoice::primary;
  return CertChoice::none;
}

int64_t cert_choice_next_change(const CertReport* primary, const CertReport* second, int64_t now,
                                uint32_t margin_s) {
  int64_t next = INT64_MAX;
  auto consider = [&next, now](int64_t t) {
    if (t > now) next = std::min(next, t);
  };
  for (const CertReport* r : {primary, second}) {
    if (!usable_apart_from_dates(r)) continue;
    consider(r->not_before);
    consider(r->not_after - int64_t{margin_s} + 1);  // first second inside the margin
    consider(r->not_after + 1);                      // first second after expiry
  }
  return next;
}

// ------------------------------------------------------------------------- self-signed

namespace {

/// Write `data` to a new file `path` with `mode`: a temporary file in the same directory,
/// fsync, then link() into place, which fails with EEXIST rather than replace a file.
Status file_write_new(const std::string& path, std::string_view data, mode_t mode) {
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    const int e = errno;
    return make_error(e, path + ": cannot create a temporary file: " + std::strerror(e));
  }
  int err = 0;
  if (::fchmod(fd, mode) != 0) err = errno;
  size_t done = 0;
  while (err == 0 && done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      err = errno;
    else
      done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::link(tmp.c_str(), path.c_str()) != 0) err = errno;
  ::unlink(tmp.c_str());
  if (err != 0) return make_error(err, path + ": " + std::strerror(err));
  return Ok{};
}

bool hostname_valid(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '-' || c == '.';
                     }) &&
         name.front() != '.' && name.front() != '-';
}

}  // namespace

Status cert_make_self_signed(const std::string& cert_path, const std::string& key_path,
                             const std::string& common_name, int days, int64_t now) {
#if defined(WOLFSSL_CERT_GEN) && defined(WOLFSSL_CERT_EXT) && defined(WOLFSSL_KEY_GEN) && \
    defined(HAVE_ECC) && defined(WOLFSSL_ALT_NAMES)
  library_init_once();
  // The subjectAltName: an iPAddress for an address literal, else a dNSName.
  uint8_t ip[16];
  Bytes general_name;
  if (::inet_pton(AF_INET, common_name.c_str(), ip) == 1) {
    general_name = {0x87, 4};
    general_name.insert(general_name.end(), ip, ip + 4);
  } else if (::inet_pton(AF_INET6, common_name.c_str(), ip) == 1) {
    general_name = {0x87, 16};
    general_name.insert(general_name.end(), ip, ip + 16);
  } else if (hostname_valid(common_name)) {
    general_name = {0x82, static_cast<uint8_t>(common_name.size())};
    general_name.insert(general_name.end(), common_name.begin(), common_name.end());
  } else {
    return make_error(EINVAL,
                      "self-signed certificate: \"" + common_name +
                          "\" is neither a host name (1..63 of A-Z a-z 0-9 . -) nor an IP address");
  }
  if (days < 1 || days > 3650)
    return make_error(
        EINVAL, "self-signed certificate: days " + std::to_string(days) + " is not in 1..3650");
  if (cert_path.empty() || key_path.empty() || cert_path == key_path)
    return make_error(EINVAL,
                      "self-signed certificate: the certificate and key need two distinct paths");
  for (const std::string& p : {cert_path, key_path}) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0) return make_error(EEXIST, p + ": exists (not overwritten)");
  }
  const auto not_before = x509_time_der(now);
  const auto not_after = x509_time_der(now + int64_t{days} * 86400);
  if (!not_before || !not_after) return make_error(EINVAL, "self-signed certificate: bad time");

  RngHolder rng;
  EccHolder key;
  if (!rng.init || !key.init)
    return make_error(ENOMEM, "self-signed certificate: wolfCrypt init failed");
  if (int rc = wc_ecc_make_key_ex(&rng.rng, 32, &key.key, ECC_SECP256R1); rc != 0)
    return make_error(EIO, "self-signed certificate: key generation failed: " + wolf_text(rc));
  wc_ecc_set_rng(&key.key, &rng.rng);

  auto cert = std::make_unique<Cert>();
  if (int rc = wc_InitCert(cert.get()); rc != 0)
    return make_error(EIO, "self-signed certificate: " + wolf_text(rc));
  std::snprintf(cert->subject.commonName, CTC_NAME_SIZE, "%s", common_name.c_str());
  std::snprintf(cert->subject.org, CTC_NAME_SIZE, "%s", "tunnelgate self-signed");
  cert->subject.commonNameEnc = CTC_UTF8;
  cert->subject.orgEnc = CTC_UTF8;
  cert->isCA = 0;
  cert->selfSigned = 1;  // the issuer is the subject
  cert->sigType = CTC_SHA256wECDSA;
  std::memcpy(cert->beforeDate, not_before->data(), not_before->size());
  cert->beforeDateSz = static_cast<int>(not_before->size());
  std::memcpy(cert->afterDate, not_after->data(), not_after->size());
  cert->afterDateSz = static_cast<int>(not_after->size());
  Bytes san{kTagSequence, static_cast<uint8_t>(general_name.size())};
  san.insert(san.end(), general_name.begin(), general_name.end());
  std::memcpy(cert->altNames, san.data(), san.size());
  cert->altNamesSz = static_cast<int>(san.size());
  int rc = wc_SetKeyUsage(cert.get(), "digitalSignature");
  if (rc == 0) rc = wc_SetExtKeyUsage(cert.get(), "serverAuth");
  if (rc == 0) rc = wc_SetSubjectKeyIdFromPublicKey_ex(cert.get(), ECC_TYPE, &key.key);
  Bytes der(4096);
  if (rc == 0)
    rc = wc_MakeCert_ex(cert.get(), der.data(), static_cast<word32>(der.size()), ECC_TYPE, &key.key,
                        &rng.rng);
  if (rc >= 0)
    rc = wc_SignCert_ex(cert->bodySz, cert->sigType, der.data(), static_cast<word32>(der.size()),
                        ECC_TYPE, &key.key, &rng.rng);
  if (rc <= 0)
    return make_error(EIO, "self-signed certificate: generation failed: " + wolf_text(rc));
  der.resize(static_cast<size_t>(rc));

  Bytes key_der(512);
  word32 key_len = static_cast<word32>(key_der.size());
  rc = wc_EccKeyToPKCS8(&key.key, key_der.data(), &key_len);
  if (rc <= 0) {
    wipe(key_der);
    return make_error(EIO, "self-signed certificate: key export failed: " + wolf_text(rc));
  }
  key_der.resize(key_len);
  std::string key_pem = der_to_pem(key_der, PKCS8_PRIVATEKEY_TYPE);
  wipe(key_der);
  const std::string cert_pem = der_to_pem(der, CERT_TYPE);
  if (key_pem.empty() || cert_pem.empty())
    return make_error(EIO, "self-signed certificate: PEM encoding failed");
  Status written = file_write_new(key_path, key_pem, 0600);
  wipe(key_pem);
  if (!written) return written;
  written = file_write_new(cert_path, cert_pem, 0644);
  if (!written) ::unlink(key_path.c_str());
  return written;
#else
  (void)cert_path;
  (void)key_path;
  (void)common_name;
  (void)days;
  (void)now;
  return make_error(ENOTSUP,
                    "self-signed certificate: not supported by this wolfSSL build (needs "
                    "WOLFSSL_CERT_GEN, WOLFSSL_CERT_EXT, WOLFSSL_KEY_GEN, WOLFSSL_ALT_NAMES)");
#endif
}

}  // namespace tg::crypto
