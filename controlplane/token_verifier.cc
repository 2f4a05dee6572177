// Control plane: JWKS parsing and JWT (JWS compact) verification with wolfCrypt. See
// token_verifier.h and docs/tokens.md.
#include "controlplane/token_verifier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/wc_port.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "controlplane/users_file.h"

namespace tg::controlplane {

namespace {

using json = nlohmann::json;
using ctl::CtlReason;
using ctl::CtlResult;

constexpr size_t kP256CoordBytes = 32;  ///< RFC 7518 §6.2.1.2: x and y are full size
constexpr size_t kEs256SigBytes = 64;   ///< RFC 7518 §3.4: r || s, 32 bytes each
constexpr size_t kKidMax = 256;         ///< longer kids are refused (Azure's are 27 chars)

/// wolfCrypt_Init() once per process (reference counted by wolfSSL; never cleaned up: other
/// users in this process may still need it).
void wolfcrypt_ready() {
  static const int rc = wolfCrypt_Init();
  (void)rc;
}

/// At most 48 printable ASCII characters of an untrusted string, for messages.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 48)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f) ? '?' : c;
  }
  if (s.size() > 48) out += "...";
  return out;
}

// --------------------------------------------------------------------- bounded JSON parsing

struct JsonDoc {
  json value;
  std::string error;  ///< "" when usable
};

/// Parse without exceptions (a syntax error gives a discarded value), reject nesting deeper
/// than kTokenJsonMaxDepth and repeated member names in the top-level object. RFC 7515 §4
/// lets a JWS reader either refuse duplicate header names or use the last one; refusing
/// leaves no room for two readers to disagree about "alg" or "exp". nlohmann's parser is
/// iterative, so depth is checked after the parse (the input is bounded by the caller).
/// A NUL byte is refused first: nlohmann 3.11's lexer takes it for the end of the input and
/// silently ignores everything after it (nlohmann/json#1095, #5530), and JSON text never
/// holds a raw NUL (RFC 8259 §7: control characters are escaped).
JsonDoc json_parse_bounded(std::string_view text) {
  JsonDoc doc;
  if (text.find('\0') != std::string_view::npos) {
    doc.error = "a NUL byte in the JSON text";
    return doc;
  }
  int max_depth = 0;
  bool duplicate = false;
  std::set<std::string> top_keys;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) {
      max_depth = std::max(max_depth, depth + 1);  // depth: containers already open
    } else if (event == json::parse_event_t::key && depth == 1) {
      if (const auto* k = parsed.get_ptr<const json::string_t*>(); k != nullptr) {
        duplicate |= !top_keys.insert(*k).second;
      }
    }
    return true;
  };
  doc.value = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  if (doc.value.is_discarded()) {
    doc.error = "not valid JSON";
  } else if (max_depth > kTokenJsonMaxDepth) {
    doc.error = "JSON nested deeper than " + std::to_string(kTokenJsonMaxDepth);
  } else if (duplicate) {
    doc.error = "a member name appears twice";
  }
  return doc;
}

const std::string* string_member(const json& obj, const char* name) {
  const auto it = obj.find(name);
  return it == obj.end() ? nullptr : it->get_ptr<const json::string_t*>();
}

// --------------------------------------------------------------------- wolfCrypt key holders

/// RsaKey / ecc_key with their free on every path.
struct RsaPublic {
  RsaKey key;
  bool inited = false;
  RsaPublic() { inited = wc_InitRsaKey(&key, nullptr) == 0; }
  ~RsaPublic() {
    if (inited) wc_FreeRsaKey(&key);
  }
  RsaPublic(const RsaPublic&) = delete;
  RsaPublic& operator=(const RsaPublic&) = delete;
  /// @return 0 or a wolfCrypt error
  int import(const Jwk& k) {
    if (!inited) return MEMORY_E;
    return wc_RsaPublicKeyDecodeRaw(k.n.data(), static_cast<word32>(k.n.size()), k.e.data(),
                                    static_cast<word32>(k.e.size()), &key);
  }
};

struct EccPublic {
  ecc_key key;
  bool inited = false;
  EccPublic() { inited = wc_ecc_init(&key) == 0; }
  ~EccPublic() {
    if (inited) wc_ecc_free(&key);
  }
  EccPublic(const EccPublic&) = delete;
  EccPublic& operator=(const EccPublic&) = delete;
  int import(const Jwk& k) {
    if (!inited) return MEMORY_E;
    return wc_ecc_import_unsigned(&key, k.x.data(), k.y.data(), nullptr, ECC_SECP256R1);
  }
};

// ------------------------------------------------------------------------------------ JWKS

std::vector<uint8_t> strip_leading_zeros(std::vector<uint8_t> v) {
  size_t i = 0;
  while (i < v.size() && v[i] == 0) ++i;
  v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i));
  return v;
}

size_t bit_length(const std::vector<uint8_t>& v) {  // v has no leading zero byte
  if (v.empty()) return 0;
  size_t bits = (v.size() - 1) * 8;
  for (uint8_t top = v[0]; top != 0; top >>= 1) ++bits;
  return bits;
}

/// One entry of "keys": the usable key, or the reason it is skipped.
Expected<Jwk> jwk_parse(const json& entry) {
  if (!entry.is_object()) return make_error(EINVAL, "not a JSON object");
  Jwk k;
  if (const auto it = entry.find("kid"); it != entry.end()) {
    const auto* kid = it->get_ptr<const json::string_t*>();
    if (kid == nullptr) return make_error(EINVAL, "kid is not a string");
    if (kid->size() > kKidMax) return make_error(EINVAL, "kid longer than 256 bytes");
    k.kid = *kid;
  }
  const std::string* kty = string_member(entry, "kty");
  if (kty == nullptr) return make_error(EINVAL, "no kty string");
  if (*kty == "RSA") {
    k.alg = JwsAlg::rs256;
  } else if (*kty == "EC") {
    k.alg = JwsAlg::es256;
  } else {
    return make_error(EINVAL, "kty '" + printable(*kty) + "' is not supported (RSA, EC)");
  }
  if (const auto it = entry.find("use"); it != entry.end()) {
    const auto* use = it->get_ptr<const json::string_t*>();
    if (use == nullptr || *use != "sig") {
      return make_error(EINVAL, "use is not \"sig\"");
    }
  }
  if (const auto it = entry.find("key_ops"); it != entry.end()) {
    bool verify = false;
    if (it->is_array()) {
      for (const json& op : *it) verify |= op.is_string() && op.get_ref<const std::string&>() == "verify";
    }
    if (!verify) return make_error(EINVAL, "key_ops does not hold \"verify\"");
  }
  if (const auto it = entry.find("alg"); it != entry.end()) {
    const auto* alg = it->get_ptr<const json::string_t*>();
    if (alg == nullptr) return make_error(EINVAL, "alg is not a string");
    if (*alg != jws_alg_name(k.alg)) {
      return make_error(EINVAL, "alg '" + printable(*alg) + "' is not supported for kty " + *kty +
                                    " (" + jws_alg_name(k.alg) + ")");
    }
  }
  // Decode a base64url member; `what` names it in the message.
  auto member_bytes = [&](const char* name) -> Expected<std::vector<uint8_t>> {
    const std::string* text = string_member(entry, name);
    if (text == nullptr) return make_error(EINVAL, std::string("no ") + name + " string");
    auto bytes = base64url_decode(*text);
    if (!bytes) return make_error(EINVAL, std::string(name) + " is not base64url");
    return std::move(*bytes);
  };
  if (k.alg == JwsAlg::rs256) {
    auto n = member_bytes("n");
    if (!n) return n.error();
    auto e = member_bytes("e");
    if (!e) return e.error();
    // RFC 7518 §6.3.1.1 asks for no leading zero octet, but some libraries add one: accept it.
    k.n = strip_leading_zeros(std::move(*n));
    k.e = strip_leading_zeros(std::move(*e));
    const size_t bits = bit_length(k.n);
    if (bits < kRsaMinBits || bits > kRsaMaxBits) {
      return make_error(EINVAL, "RSA modulus of " + std::to_string(bits) +
                                    " bits is not in 2048..4096");
    }
    // e: odd, 3..2^32-1 (65537 in practice); a huge or even e is not a real signing key.
    if (k.e.empty() || k.e.size() > 4 || (k.e.back() & 1) == 0 || (k.e.size() == 1 && k.e[0] < 3)) {
      return make_error(EINVAL, "RSA exponent e is not an odd number in 3..2^32-1");
    }
    RsaPublic rsa;
    if (const int rc = rsa.import(k); rc != 0) {
      return make_error(EINVAL, "wolfCrypt refuses the RSA key (" + std::to_string(rc) + ")");
    }
  } else {
    const std::string* crv = string_member(entry, "crv");
    if (crv == nullptr) return make_error(EINVAL, "no crv string");
    if (*crv != "P-256") return make_error(EINVAL, "crv '" + printable(*crv) + "' is not supported (P-256)");
    auto x = member_bytes("x");
    if (!x) return x.error();
    auto y = member_bytes("y");
    if (!y) return y.error();
    if (x->size() != kP256CoordBytes || y->size() != kP256CoordBytes) {
      return make_error(EINVAL, "x and y must be 32 bytes each for P-256");
    }
    k.x = std::move(*x);
    k.y = std::move(*y);
    EccPublic ecc;
    int rc = ecc.import(k);
    if (rc == 0) rc = wc_ecc_check_key(&ecc.key);  // the point must be on the curve
    if (rc != 0) {
      return make_error(EINVAL, "wolfCrypt refuses the EC point (" + std::to_string(rc) + ")");
    }
  }
  return k;
}

// ---------------------------------------------------------------------------- verification

TokenOutcome deny(CtlReason reason, std::string detail) {
  TokenOutcome out;
  out.result = CtlResult::denied;
  out.reason = reason;
  out.detail = std::move(detail);
  return out;
}

TokenOutcome internal_error(std::string detail) {
  TokenOutcome out;
  out.result = CtlResult::error;
  out.reason = CtlReason::internal;
  out.detail = std::move(detail);
  return out;
}

/// The signature check's verdict: ok, bad, or wolfCrypt failed on its own (memory).
enum class SigVerdict : uint8_t { ok, bad, internal };

SigVerdict verdict_of_error(int rc) { return rc == MEMORY_E ? SigVerdict::internal : SigVerdict::bad; }

/// wolfCrypt checks the PKCS#1 v1.5 padding and returns the block after it; we compare that
/// whole block with kSha256DigestInfoPrefix || SHA-256(input) (not just its last 32 bytes),
/// so no other DigestInfo (another hash, extra parameters, trailing bytes) can pass.
SigVerdict rs256_verify(const Jwk& k, std::string_view input, const std::vector<uint8_t>& sig) {
  // RFC 8017 §8.2.2 step 1: the signature is exactly as long as the modulus.
  if (sig.size() != k.n.size()) return SigVerdict::bad;
  RsaPublic rsa;
  if (const int rc = rsa.import(k); rc != 0) return verdict_of_error(rc);
  std::vector<uint8_t> block(sig);  // VerifyInline works in place
  uint8_t* recovered = nullptr;
  const int len = wc_RsaSSL_VerifyInline(block.data(), static_cast<word32>(block.size()),
                                         &recovered, &rsa.key);
  if (len < 0) return verdict_of_error(len);
  std::array<uint8_t, kSha256DigestInfoPrefix.size() + WC_SHA256_DIGEST_SIZE> expected{};
  std::memcpy(expected.data(), kSha256DigestInfoPrefix.data(), kSha256DigestInfoPrefix.size());
  if (const int rc = wc_Sha256Hash(reinterpret_cast<const byte*>(input.data()),
                                   static_cast<word32>(input.size()),
                                   expected.data() + kSha256DigestInfoPrefix.size());
      rc != 0) {
    return SigVerdict::internal;
  }
  if (static_cast<size_t>(len) != expected.size() || recovered == nullptr ||
      std::memcmp(recovered, expected.data(), expected.size()) != 0) {
    return SigVerdict::bad;
  }
  return SigVerdict::ok;
}

SigVerdict es256_verify(const Jwk& k, std::string_view input, const std::vector<uint8_t>& sig) {
  if (sig.size() != kEs256SigBytes) return SigVerdict::bad;
  EccPublic ecc;
  if (const int rc = ecc.import(k); rc != 0) return verdict_of_error(rc);
  // wolfCrypt verifies DER (SEQUENCE of two INTEGERs); JWS carries raw r || s. The
  // conversion accepts any r and s (0 too); wc_ecc_verify_hash refuses 0 (MP_ZERO_E) and
  // values >= n (both covered by the tests), which we count as a bad signature.
  std::array<uint8_t, 80> der{};
  word32 der_len = der.size();
  if (const int rc = wc_ecc_rs_raw_to_sig(sig.data(), kEs256SigBytes / 2,
                                          sig.data() + kEs256SigBytes / 2, kEs256SigBytes / 2,
                                          der.data(), &der_len);
      rc != 0) {
    return verdict_of_error(rc);
  }
  std::array<uint8_t, WC_SHA256_DIGEST_SIZE> hash{};
  if (wc_Sha256Hash(reinterpret_cast<const byte*>(input.data()), static_cast<word32>(input.size()),
                    hash.data()) != 0) {
    return SigVerdict::internal;
  }
  int valid = 0;
  const int rc = wc_ecc_verify_hash(der.data(), der_len, hash.data(), hash.size(), &valid, &ecc.key);
  if (rc != 0) return verdict_of_error(rc);
  return valid == 1 ? SigVerdict::ok : SigVerdict::bad;
}

enum class Round : uint8_t { down, up };

/// A NumericDate (RFC 7519 §2): an integer or a float, within ±kNumericDateMax. A fraction
/// is rounded towards the stricter side: exp down, nbf and iat up.
std::optional<int64_t> numeric_date(const json& v, Round round) {
  if (const auto* u = v.get_ptr<const json::number_unsigned_t*>(); u != nullptr) {
    if (*u > static_cast<uint64_t>(kNumericDateMax)) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = v.get_ptr<const json::number_integer_t*>(); i != nullptr) {
    if (*i > kNumericDateMax || *i < -kNumericDateMax) return std::nullopt;
    return static_cast<int64_t>(*i);
  }
  if (const auto* f = v.get_ptr<const json::number_float_t*>(); f != nullptr) {
    if (!std::isfinite(*f) || std::fabs(*f) > static_cast<double>(kNumericDateMax)) return std::nullopt;
    return static_cast<int64_t>(round == Round::down ? std::floor(*f) : std::ceil(*f));
  }
  return std::nullopt;  // a string, a bool, null, ...
}

/// The key for (alg, kid): the one with that kid and alg; with no kid, the only key of that
/// alg. nullptr when there is none (or no kid and several candidates).
const Jwk* key_select(const JwkSet& keys, JwsAlg alg, const std::string* kid) {
  const Jwk* found = nullptr;
  size_t candidates = 0;
  for (const Jwk& k : keys.keys) {
    if (k.alg != alg) continue;
    if (kid != nullptr) {
      if (k.kid == *kid) return &k;  // (kid, alg) is unique: jwks_parse drops repeats
      continue;
    }
    found = &k;
    ++candidates;
  }
  return candidates == 1 ? found : nullptr;
}

/// Split "a.b.c" into its three parts (each may be empty); nullopt when not exactly two dots.
std::optional<std::array<std::string_view, 3>> split_compact(std::string_view token) {
  const size_t d1 = token.find('.');
  if (d1 == std::string_view::npos) return std::nullopt;
  const size_t d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  return std::array<std::string_view, 3>{token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1),
                                         token.substr(d2 + 1)};
}

/// The app claim: absent or "" gives ""; otherwise 1..127 printable ASCII characters (what
/// the auth result can carry), else nullopt.
std::optional<std::string> app_of(const json& claims, const std::string& name) {
  const auto it = claims.find(name);
  if (it == claims.end()) return std::string();
  const auto* s = it->get_ptr<const json::string_t*>();
  if (s == nullptr || s->size() >= ctl::kCtlNameSize) return std::nullopt;
  for (char c : *s) {
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
  }
  return *s;
}

bool audience_matches(const json& aud, const std::string& want) {
  if (const auto* s = aud.get_ptr<const json::string_t*>(); s != nullptr) return *s == want;
  if (aud.is_array()) {
    for (const json& a : aud) {
      if (const auto* s = a.get_ptr<const json::string_t*>(); s != nullptr && *s == want) return true;
    }
  }
  return false;
}

// ----------------------------------------------------------------------------------- files


/// later - earlier for the log, without overflow whatever clock the caller passes.
std::string seconds_between(int64_t later, int64_t earlier) {
  int64_t d = 0;
  if (__builtin_sub_overflow(later, earlier, &d)) return "more than 2^63";
  return std::to_string(d);
}

/// Steps 4..7 of token_verify() on the payload's JSON text; `key_name` ("alg RS256 kid 'x'")
/// starts every detail.
TokenOutcome claims_check(std::string_view payload_json, const TokenRules& rules, int64_t now_unix_s,
                          std::string key_name) {
  using R = CtlReason;
  const std::string p = key_name.empty() ? std::string() : key_name + ": ";  // detail prefix
  // 4. Claims, typed.
  const JsonDoc payload = json_parse_bounded(payload_json);
  if (!payload.error.empty()) return deny(R::token_malformed, p + "payload: " + payload.error);
  const json& claims = payload.value;
  if (!claims.is_object()) return deny(R::token_malformed, p + "payload is not a JSON object");
  const auto exp_it = claims.find("exp");
  if (exp_it == claims.end()) return deny(R::token_malformed, p + "no exp claim");
  const std::optional<int64_t> exp = numeric_date(*exp_it, Round::down);
  if (!exp) return deny(R::token_malformed, p + "exp is not a NumericDate");
  std::optional<int64_t> nbf, iat;
  for (auto [name, out] : {std::pair{"nbf", &nbf}, std::pair{"iat", &iat}}) {
    if (const auto it = claims.find(name); it != claims.end()) {
      *out = numeric_date(*it, Round::up);
      if (!*out) return deny(R::token_malformed, p + name + " is not a NumericDate");
    }
  }

  // 5. Time. Dates are within ±2^53 and the skew <= 3600, so exp + skew and nbf - skew
  // cannot overflow whatever `now` is. Valid from nbf - skew through exp + skew inclusive.
  const int64_t skew = std::min<int64_t>(rules.clock_skew_s, kTokenMaxClockSkewS);
  if (now_unix_s > *exp + skew) {
    return deny(R::token_expired, p + "expired " + seconds_between(now_unix_s, *exp) +
                                      " s ago (skew " + std::to_string(skew) + " s)");
  }
  if (nbf && now_unix_s < *nbf - skew) {
    return deny(R::token_not_yet_valid, p + "nbf is " + seconds_between(*nbf, now_unix_s) +
                                            " s ahead (skew " + std::to_string(skew) + " s)");
  }
  if (iat && now_unix_s < *iat - skew) {
    return deny(R::token_not_yet_valid, p + "iat is " + seconds_between(*iat, now_unix_s) +
                                            " s ahead (skew " + std::to_string(skew) + " s)");
  }

  // 6. Issuer and audience.
  if (!rules.issuer.empty()) {
    const std::string* iss = string_member(claims, "iss");
    if (iss == nullptr) return deny(R::token_bad_issuer, p + "no iss string");
    if (*iss != rules.issuer) return deny(R::token_bad_issuer, p + "iss '" + printable(*iss) + "'");
  }
  if (!rules.audience.empty()) {
    const auto it = claims.find("aud");
    if (it == claims.end()) return deny(R::token_bad_audience, p + "no aud");
    if (!audience_matches(*it, rules.audience)) {
      return deny(R::token_bad_audience, p + "aud does not hold the configured audience");
    }
  }

  // 7. User and app.
  const std::string* user = string_member(claims, rules.user_claim.c_str());
  if (user == nullptr || user->empty()) {
    return deny(R::token_no_user, p + "no string claim '" + printable(rules.user_claim) + "'");
  }
  if (!user_name_valid(*user)) {
    return deny(R::token_no_user, p + "claim '" + printable(rules.user_claim) + "' value '" +
                                      printable(*user) + "' is not a user name ([A-Za-z0-9._@-]{1,64})");
  }
  std::optional<std::string> app = app_of(claims, rules.app_claim);
  if (!app) {
    return deny(R::token_malformed, p + "claim '" + printable(rules.app_claim) +
                                        "' is not 1..127 printable ASCII characters");
  }
  TokenOutcome ok;
  ok.result = CtlResult::ok;
  ok.reason = R::none;
  ok.user = *user;
  ok.app = std::move(*app);
  ok.detail = std::move(key_name);
  return ok;
}

}  // namespace

// --------------------------------------------------------------------------------- base64url

std::string base64url_encode(const uint8_t* data, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((size * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < size; ++i) {
    acc = (acc << 8) | data[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3f];
    }
    acc &= (1u << bits) - 1;
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

std::optional<std::vector<uint8_t>> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;  // 6 bits cannot end a byte
  std::vector<uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    uint32_t v = 0;
    if (c >= 'A' && c <= 'Z') {
      v = static_cast<uint32_t>(c - 'A');
    } else if (c >= 'a' && c <= 'z') {
      v = static_cast<uint32_t>(c - 'a' + 26);
    } else if (c >= '0' && c <= '9') {
      v = static_cast<uint32_t>(c - '0' + 52);
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    } else {
      return std::nullopt;  // '=', '+', '/', whitespace, anything else
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
    acc &= (1u << bits) - 1;
  }
  if (acc != 0) return std::nullopt;  // non-zero unused bits: a second spelling of the bytes
  return out;
}

// ------------------------------------------------------------------------------------ JWKS

const char* jws_alg_name(JwsAlg alg) { return alg == JwsAlg::rs256 ? "RS256" : "ES256"; }

Expected<JwkSet> jwks_parse(std::string_view text, const std::string& source) {
  wolfcrypt_ready();
  if (text.size() > kJwksMaxBytes) {
    return make_error(EINVAL, source + ": larger than " + std::to_string(kJwksMaxBytes) + " bytes");
  }
  const JsonDoc doc = json_parse_bounded(text);
  if (!doc.error.empty()) return make_error(EINVAL, source + ": " + doc.error);
  if (!doc.value.is_object()) return make_error(EINVAL, source + ": not a JSON object");
  const auto keys = doc.value.find("keys");
  if (keys == doc.value.end() || !keys->is_array()) {
    return make_error(EINVAL, source + ": no \"keys\" array");
  }
  JwkSet set;
  size_t index = 0;
  for (const json& entry : *keys) {
    ++index;
    std::string name = source + ": key " + std::to_string(index);
    if (entry.is_object()) {
      if (const std::string* kid = string_member(entry, "kid"); kid != nullptr) {
        name += " (kid '" + printable(*kid) + "')";
      }
    }
    auto skip = [&](const std::string& why) {
      set.warnings.push_back(name + ": " + why + "; skipped");
      ++set.skipped;
    };
    if (set.keys.size() == kJwksMaxKeys) {
      skip("more than " + std::to_string(kJwksMaxKeys) + " keys");
      continue;
    }
    auto k = jwk_parse(entry);
    if (!k) {
      skip(k.error().message);
      continue;
    }
    bool repeated = false;
    for (const Jwk& other : set.keys) repeated |= other.alg == k->alg && other.kid == k->kid;
    if (repeated) {
      skip(std::string("repeats an earlier ") + jws_alg_name(k->alg) + " key with the same kid");
      continue;
    }
    // Private members in a file of public keys: most likely the wrong file was deployed.
    for (const char* priv : {"d", "p", "q", "dp", "dq", "qi"}) {
      if (entry.contains(priv)) {
        set.warnings.push_back(name + ": holds private key member '" + priv +
                               "' (a JWKS should hold public keys only); used as a public key");
        break;
      }
    }
    set.keys.push_back(std::move(*k));
  }
  if (set.keys.empty()) {
    std::string message = source + ": no usable key (RSA 2048..4096 bits or EC P-256)";
    for (const std::string& w : set.warnings) message += "\n" + w;
    return make_error(EINVAL, message);
  }
  return set;
}

// ------------------------------------------------------------------------------ verification

TokenOutcome token_verify(std::string_view token, const JwkSet& keys, const TokenRules& rules,
                          int64_t now_unix_s) {
  wolfcrypt_ready();
  using R = CtlReason;
  // 1. Shape.
  if (token.empty()) return deny(R::token_malformed, "empty token");
  if (token.size() > kTokenMaxBytes) {
    return deny(R::token_malformed, "token of " + std::to_string(token.size()) + " bytes (max " +
                                        std::to_string(kTokenMaxBytes) + ")");
  }
  const auto parts = split_compact(token);
  if (!parts) return deny(R::token_malformed, "not three '.'-separated parts");
  const auto header_bytes = base64url_decode((*parts)[0]);
  if (!header_bytes) return deny(R::token_malformed, "header is not base64url");
  if (header_bytes->empty()) return deny(R::token_malformed, "empty header");
  const auto payload_bytes = base64url_decode((*parts)[1]);
  if (!payload_bytes) return deny(R::token_malformed, "payload is not base64url");
  const auto signature = base64url_decode((*parts)[2]);
  if (!signature) return deny(R::token_malformed, "signature is not base64url");

  const JsonDoc header = json_parse_bounded(
      std::string_view(reinterpret_cast<const char*>(header_bytes->data()), header_bytes->size()));
  if (!header.error.empty()) return deny(R::token_malformed, "header: " + header.error);
  if (!header.value.is_object()) return deny(R::token_malformed, "header is not a JSON object");
  const std::string* alg_text = string_member(header.value, "alg");
  if (alg_text == nullptr) return deny(R::token_malformed, "header has no alg string");
  JwsAlg alg = JwsAlg::rs256;
  if (*alg_text == "RS256") {
    alg = JwsAlg::rs256;
  } else if (*alg_text == "ES256") {
    alg = JwsAlg::es256;
  } else {
    return deny(R::token_malformed, "alg '" + printable(*alg_text) + "' is not RS256 or ES256");
  }
  // RFC 7515 §4.1.11: extensions listed in crit must be understood; we understand none.
  if (header.value.contains("crit")) return deny(R::token_malformed, "header has crit");
  const std::string* kid = nullptr;
  if (const auto it = header.value.find("kid"); it != header.value.end()) {
    kid = it->get_ptr<const json::string_t*>();
    if (kid == nullptr) return deny(R::token_malformed, "kid is not a string");
  }
  std::string key_name = std::string("alg ") + jws_alg_name(alg) +
                         (kid ? " kid '" + printable(*kid) + "'" : std::string(" (no kid)"));

  // 2. Key.
  const Jwk* key = key_select(keys, alg, kid);
  if (key == nullptr) {
    return deny(R::token_unknown_key,
                key_name + (kid ? ": no such key in the JWKS" : ": not exactly one key of that alg"));
  }

  // 3. Signature over the ASCII "header.payload".
  const std::string_view signing_input = token.substr(0, (*parts)[0].size() + 1 + (*parts)[1].size());
  const SigVerdict verdict = alg == JwsAlg::rs256 ? rs256_verify(*key, signing_input, *signature)
                                                  : es256_verify(*key, signing_input, *signature);
  if (verdict == SigVerdict::internal) return internal_error(key_name + ": wolfCrypt failed");
  if (verdict == SigVerdict::bad) return deny(R::token_bad_signature, key_name + ": signature does not verify");

  // 4..7. Claims.
  return claims_check(
      std::string_view(reinterpret_cast<const char*>(payload_bytes->data()), payload_bytes->size()),
      rules, now_unix_s, std::move(key_name));
}

TokenOutcome token_claims_check(std::string_view payload_json, const TokenRules& rules,
                                int64_t now_unix_s) {
  return claims_check(payload_json, rules, now_unix_s, "");
}

// ------------------------------------------------------------------------------ TokenVerifier

Expected<std::unique_ptr<TokenVerifier>> TokenVerifier::create(Options options) {
  if (options.jwks_file.empty()) return make_error(EINVAL, "auth.jwks: no JWKS file");
  if (options.rules.user_claim.empty()) return make_error(EINVAL, "auth.user_claim: empty");
  if (options.rules.app_claim.empty()) return make_error(EINVAL, "auth.app_claim: empty");
  if (options.rules.clock_skew_s > kTokenMaxClockSkewS) {
    return make_error(EINVAL, "auth.clock_skew_s: " + std::to_string(options.rules.clock_skew_s) +
                                  " not in 0..3600");
  }
  std::unique_ptr<TokenVerifier> v(new TokenVerifier(std::move(options)));
  auto loaded = v->reload_if_changed();
  if (!loaded) return loaded.error();
  return v;
}

TokenOutcome TokenVerifier::verify(std::string_view token, int64_t now_unix_s) const {
  return token_verify(token, keys_, options_.rules, now_unix_s);
}

Expected<bool> TokenVerifier::reload_if_changed() {
  const std::string& path = options_.jwks_file;
  auto seen = file_identity(path);
  if (!seen) return seen.error();
  if (loaded_ && *loaded_ == *seen) return false;
  if (rejected_ && *rejected_ == *seen) return make_error(EINVAL, rejected_message_);
  auto file = file_read_bounded(path, kJwksMaxBytes);
  if (!file) return file.error();
  const FileIdentity id = file->id;  // what was read (it may differ from `seen`)
  auto parsed = jwks_parse(file->text, path);
  if (!parsed) {
    rejected_ = id;
    rejected_message_ = parsed.error().message;
    return parsed.error();
  }
  keys_ = std::move(*parsed);
  loaded_ = id;
  rejected_.reset();
  ++loads_;
  return true;
}

}  // namespace tg::controlplane
