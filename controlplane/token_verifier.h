// Control plane: bearer-token logins (docs/tokens.md). A client sends a JWT (an Azure AD
// token from Microsoft Tunnel's MAM SDK, or one minted by tools/tunnelgate-token) in an
// `Authorization: Bearer` header or the password field; the control plane verifies it here
// with public keys from a JWKS file (auth.jwks).
//
// Accepted: JWS compact serialisation `header.payload.signature`, base64url without padding,
// at most kTokenMaxBytes; alg RS256 (RSASSA-PKCS1-v1_5 + SHA-256, 2048..4096-bit keys) or
// ES256 (ECDSA P-256 + SHA-256, raw r||s). Every other alg ("none", HS*, PS*, RS384, ...) is
// token_malformed: we can never hold a key for it, and an HMAC "key" made of a public key
// is the classic confusion attack. The header's `kid` picks the key; `jku`, `jwk`, `x5u`
// and `x5c` are never used (keys come only from the file); `crit` is refused.
//
// Order of checks, each failing with its reason (and a short `detail` for the log):
//   1. shape: 3 parts, strict base64url, header JSON object, alg, kid   token_malformed
//   2. key: kid (or the only key of that alg) in the JWKS               token_unknown_key
//   3. signature over "header.payload"                                  token_bad_signature
//   4. payload: JSON object, exp present, NumericDates well-typed       token_malformed
//   5. exp / nbf / iat against now with auth.clock_skew_s               token_expired,
//                                                                       token_not_yet_valid
//   6. iss, aud when configured                                         token_bad_issuer,
//                                                                       token_bad_audience
//   7. user claim (a valid user name), app claim (optional)             token_no_user,
//                                                                       token_malformed
// The payload is parsed only after the signature verified: a change to the payload is
// token_bad_signature, never a parser finding on unauthenticated bytes.
//
// Thread-safety: the free functions are pure (they only read their arguments). A
// TokenVerifier is used by one thread (the ctl server thread): verify() and
// reload_if_changed() must not run concurrently.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/ctl_messages.h"
#include "controlplane/expected.h"
#include "controlplane/file_watch.h"

namespace tg::controlplane {

/// Largest token accepted (= the control segment's kCtlMaxToken).
inline constexpr size_t kTokenMaxBytes = ctl::kCtlMaxToken;
/// Largest JWKS file (Azure AD's is ~10 KiB).
inline constexpr size_t kJwksMaxBytes = 1u << 20;
/// Keys kept from one JWKS; further entries are skipped with a warning.
inline constexpr size_t kJwksMaxKeys = 64;
/// JSON nesting accepted in a JWKS, a token header or payload (a JWT needs 3).
inline constexpr int kTokenJsonMaxDepth = 16;
/// RSA modulus sizes accepted (bits).
inline constexpr size_t kRsaMinBits = 2048;
inline constexpr size_t kRsaMaxBits = 4096;
/// RFC 8017 §9.2 note 1: DER DigestInfo prefix for SHA-256. An RS256 signature block is
/// this followed by the 32-byte hash; verification compares the whole block.
inline constexpr std::array<uint8_t, 19> kSha256DigestInfoPrefix = {
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
/// auth.clock_skew_s upper bound.
inline constexpr uint32_t kTokenMaxClockSkewS = 3600;
/// NumericDate (exp, nbf, iat) range: the integers a double holds exactly, so integer and
/// float encodings compare alike and `exp + skew` cannot overflow.
inline constexpr int64_t kNumericDateMax = int64_t{1} << 53;

// ------------------------------------------------------------------------------- base64url

/// RFC 4648 §5 without padding.
std::string base64url_encode(const uint8_t* data, size_t size);
inline std::string base64url_encode(std::string_view s) {
  return base64url_encode(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
/// Strict decoder: only [A-Za-z0-9_-], no '=', no whitespace, length % 4 != 1, and the
/// unused low bits of the last character zero (so each byte string has one encoding).
/// @return the bytes, or nullopt.
std::optional<std::vector<uint8_t>> base64url_decode(std::string_view text);

// ------------------------------------------------------------------------------------ JWKS

enum class JwsAlg : uint8_t { rs256, es256 };
/// "RS256" | "ES256"
const char* jws_alg_name(JwsAlg alg);

/// One usable public key from a JWKS (validated: imports into wolfCrypt).
struct Jwk {
  std::string kid;  ///< "" = the JWK has none (selectable only by the one-key rule)
  JwsAlg alg = JwsAlg::rs256;
  std::vector<uint8_t> n, e;  ///< RS256: modulus and exponent, big-endian, no leading zeros
  std::vector<uint8_t> x, y;  ///< ES256: the P-256 point, 32 bytes each
};

struct JwkSet {
  std::vector<Jwk> keys;              ///< usable keys, in file order
  std::vector<std::string> warnings;  ///< one line per skipped entry: "FILE: key 2 (kid 'x'): ..."
  size_t skipped = 0;                 ///< entries not used (== warnings about keys)
};

/// Parse a JWKS `{"keys":[...]}`. Entries are kept when they are kty RSA (n, e; 2048..4096
/// bits) or kty EC with crv P-256 (x, y), `use` absent or "sig", `key_ops` absent or holding
/// "verify", `alg` absent or matching (RS256 / ES256), `kid` absent or a string, and the
/// key imports into wolfCrypt (an EC point must lie on the curve). Anything else is skipped
/// and reported in `warnings`, as is a later entry repeating a (kid, alg) pair.
/// @param source  names the file in messages
/// @return the set, or Error{EINVAL}: not JSON, nested deeper than kTokenJsonMaxDepth, larger
///         than kJwksMaxBytes, no "keys" array, or no usable key (the message then lists why
///         each entry was skipped).
Expected<JwkSet> jwks_parse(std::string_view text, const std::string& source);

// ----------------------------------------------------------------------------- verification

/// What a token must say besides its signature (from config AuthConfig).
struct TokenRules {
  std::string issuer;      ///< expected `iss` (exact string); "" = not checked
  std::string audience;    ///< expected in `aud` (a string or an array of strings); "" = not checked
  std::string user_claim = "upn";   ///< string claim naming the user
  std::string app_claim = "appid";  ///< string claim naming the app (may be absent)
  uint32_t clock_skew_s = 120;      ///< 0..kTokenMaxClockSkewS, applied to exp, nbf and iat
};

/// The result of one verification; shaped like CertAuthenticator::Outcome.
struct TokenOutcome {
  ctl::CtlResult result = ctl::CtlResult::denied;
  ctl::CtlReason reason = ctl::CtlReason::token_malformed;
  std::string user;    ///< when ok: the user claim, a valid user name ([A-Za-z0-9._@-]{1,64})
  std::string app;     ///< when ok: the app claim, or "" when the token has none
  std::string detail;  ///< short text for the log (alg, kid, claim names); never the token
};

/// Verify `token` against `keys` at `now_unix_s` (pure; the tests and the fuzzer call it).
/// @return result ok + reason none + user (+ app); or denied + token_malformed |
///         token_unknown_key | token_bad_signature | token_expired | token_not_yet_valid |
///         token_bad_issuer | token_bad_audience | token_no_user; or error + internal when
///         wolfCrypt fails for a reason other than the token (out of memory).
TokenOutcome token_verify(std::string_view token, const JwkSet& keys, const TokenRules& rules,
                          int64_t now_unix_s);

/// Steps 4..7 of token_verify() alone, on a payload's JSON text (tests and the fuzzer reach
/// the claim rules without a signature). Never use it on a payload whose signature was not
/// verified. @return as token_verify(), without token_unknown_key / token_bad_signature.
TokenOutcome token_claims_check(std::string_view payload_json, const TokenRules& rules,
                                int64_t now_unix_s);

/// The JWKS file and the rules, as the ctl server thread uses them.
class TokenVerifier {
 public:
  struct Options {
    std::string jwks_file;  ///< auth.jwks
    TokenRules rules;
  };

  /// Check the rules (user/app claim names non-empty, skew in range) and load the JWKS.
  /// @return Error: EINVAL (bad rules, bad JWKS: see jwks_parse), ENOENT/EACCES/EFBIG (file).
  static Expected<std::unique_ptr<TokenVerifier>> create(Options options);

  /// token_verify() with the current key set and the configured rules.
  TokenOutcome verify(std::string_view token, int64_t now_unix_s) const;

  /// Re-read the JWKS when its device/inode/mtime/size changed since the last successful
  /// load (an atomic rename or an in-place write). A bad new file is rejected as a whole and
  /// the previous key set stays in force; the same rejected version is not re-parsed (its
  /// error is returned again).
  /// @return true: a new key set is in force (see warnings()); false: unchanged; Error:
  ///         ENOENT/EACCES/EFBIG (file), EINVAL (jwks_parse), old keys kept.
  Expected<bool> reload_if_changed();

  const JwkSet& keys() const { return keys_; }
  /// Warnings of the key set in force (skipped entries), for the log after a (re)load.
  const std::vector<std::string>& warnings() const { return keys_.warnings; }
  const Options& options() const { return options_; }
  /// Successful loads so far (1 after create()).
  uint64_t loads() const { return loads_; }

 private:
  explicit TokenVerifier(Options options) : options_(std::move(options)) {}
  Options options_;
  JwkSet keys_;
  std::optional<FileIdentity> loaded_;    ///< of the last successful load
  std::optional<FileIdentity> rejected_;  ///< of the last rejected version (not re-parsed)
  std::string rejected_message_;
  uint64_t loads_ = 0;
};

}  // namespace tg::controlplane
