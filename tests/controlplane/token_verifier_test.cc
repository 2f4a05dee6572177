// controlplane/token_verifier (+ token_sign, which makes the keys and tokens): malformed
// tokens first (a numbered table, each with its reason and detail), then valid RS256/ES256
// tokens, key selection, tampering (a bit flip anywhere), signature edge values, the claim
// rules with their boundaries (a numbered table), JWKS parsing (a numbered table of entries
// that are skipped), reloads, and a cross-check against openssl in both directions.
#include "controlplane/token_verifier.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "controlplane/token_sign.h"

namespace tg::controlplane {
namespace {

using ctl::CtlReason;
using ctl::CtlResult;
using json = nlohmann::json;

constexpr int64_t kNow = 1'700'000'000;
const std::string kIss = "https://login.example/tenant/";
const std::string kAud = "api://tunnelgate";

template <typename T>
T must(Expected<T> e, const char* what) {
  if (!e) {
    std::fprintf(stderr, "%s: %s\n", what, e.error().message.c_str());
    std::abort();
  }
  return std::move(*e);
}

/// Two RSA and two EC keys (kids r1, r2, e1, e2), made once: RSA key generation is slow.
struct TestKeys {
  SigningKey r1, r2, e1, e2;
  std::string jwks;  ///< all four
  JwkSet set;
};
const TestKeys& keys() {
  static const TestKeys k = [] {
    TestKeys t;
    t.r1 = must(signing_key_generate(JwsAlg::rs256), "r1");
    t.r2 = must(signing_key_generate(JwsAlg::rs256), "r2");
    t.e1 = must(signing_key_generate(JwsAlg::es256), "e1");
    t.e2 = must(signing_key_generate(JwsAlg::es256), "e2");
    for (auto [key, kid] : {std::pair{&t.r1, "r1"}, std::pair{&t.r2, "r2"}, std::pair{&t.e1, "e1"},
                            std::pair{&t.e2, "e2"}}) {
      t.jwks = must(jwks_upsert(t.jwks, must(signing_key_public(*key, kid), "public")), "upsert");
    }
    t.set = must(jwks_parse(t.jwks, "test.jwks"), "jwks_parse");
    return t;
  }();
  return k;
}

TokenRules rules() {
  TokenRules r;
  r.issuer = kIss;
  r.audience = kAud;
  r.user_claim = "upn";
  r.app_claim = "appid";
  r.clock_skew_s = 120;
  return r;
}

json good_claims() {
  return json{{"iss", kIss},         {"aud", kAud},          {"upn", "alice@example.com"},
              {"appid", "app-1"},    {"exp", kNow + 3600},   {"iat", kNow - 10},
              {"nbf", kNow - 10}};
}

std::string b64(std::string_view s) { return base64url_encode(s); }

std::string sign_raw(const SigningKey& key, const std::string& header, const std::string& payload) {
  return must(jws_sign(header, payload, key), "jws_sign");
}
std::string sign(const SigningKey& key, const std::string& kid, const json& claims = good_claims()) {
  return sign_raw(key, jws_header_json(key.alg, kid), claims.dump());
}

TokenOutcome verify(const std::string& token, const TokenRules& r = rules(), int64_t now = kNow) {
  return token_verify(token, keys().set, r, now);
}

std::vector<std::string> split3(const std::string& token) {
  const size_t d1 = token.find('.'), d2 = token.find('.', d1 + 1);
  return {token.substr(0, d1), token.substr(d1 + 1, d2 - d1 - 1), token.substr(d2 + 1)};
}

/// Decode part `part` of the token, flip `mask` in byte `at`, re-encode.
std::string flip(const std::string& token, int part, size_t at, uint8_t mask) {
  std::vector<std::string> p = split3(token);
  std::vector<uint8_t> bytes = *base64url_decode(p[part]);
  bytes.at(at) ^= mask;
  p[part] = base64url_encode(bytes.data(), bytes.size());
  return p[0] + "." + p[1] + "." + p[2];
}

size_t decoded_size(const std::string& token, int part) { return base64url_decode(split3(token)[part])->size(); }

/// The token with its signature bytes replaced.
std::string with_signature(const std::string& token, const std::vector<uint8_t>& sig) {
  const size_t dot = token.rfind('.');
  return token.substr(0, dot + 1) + base64url_encode(sig.data(), sig.size());
}

// ------------------------------------------------------------------------ malformed tokens

struct BadToken {
  int number;
  std::string token;
  CtlReason reason;
  std::string detail;  ///< substring of the outcome's detail
};

std::vector<BadToken> bad_tokens() {
  const TestKeys& k = keys();
  const std::string rs = jws_header_json(JwsAlg::rs256, "r1");
  const std::string payload = good_claims().dump();
  const std::string good = sign(k.r1, "r1");
  const std::vector<std::string> gp = split3(good);
  auto signed_payload = [&](const std::string& p) { return sign_raw(k.r1, rs, p); };
  auto with_claim = [&](const char* name, const json& value) {
    json c = good_claims();
    c[name] = value;
    return signed_payload(c.dump());
  };
  auto without_claim = [&](const char* name) {
    json c = good_claims();
    c.erase(name);
    return signed_payload(c.dump());
  };
  const std::string deep = std::string(17, '[') + std::string(17, ']');
  const auto M = CtlReason::token_malformed;
  return {
      {1, "", M, "empty token"},
      {2, "abc", M, "not three '.'-separated parts"},
      {3, gp[0] + "." + gp[1], M, "not three '.'-separated parts"},
      {4, good + ".x", M, "not three '.'-separated parts"},
      {5, good + std::string(kTokenMaxBytes + 1 - good.size(), 'A'), M, "token of 8193 bytes (max 8192)"},
      {6, "e$J." + gp[1] + "." + gp[2], M, "header is not base64url"},
      {7, gp[0] + "=." + gp[1] + "." + gp[2], M, "header is not base64url"},   // padding
      {8, gp[0] + "A." + gp[1] + "." + gp[2], M, "header: a NUL byte in the JSON text"},  // + 0x00
      {9, "QR." + gp[1] + "." + gp[2], M, "header is not base64url"},         // non-zero unused bits
      {10, "." + gp[1] + "." + gp[2], M, "empty header"},
      {11, b64("not json") + "." + gp[1] + "." + gp[2], M, "header: not valid JSON"},
      {12, b64("[1,2]") + "." + gp[1] + "." + gp[2], M, "header is not a JSON object"},
      {13, b64(R"({"kid":"r1"})") + "." + gp[1] + "." + gp[2], M, "header has no alg string"},
      {14, b64(R"({"alg":"none"})") + "." + b64(payload) + ".", M, "alg 'none' is not RS256 or ES256"},
      {15, sign_raw(k.r1, R"({"alg":"HS256","kid":"r1"})", payload), M, "alg 'HS256' is not RS256"},
      {16, sign_raw(k.r1, R"({"alg":"RS384","kid":"r1"})", payload), M, "alg 'RS384' is not"},
      {17, sign_raw(k.r1, R"({"alg":"PS256","kid":"r1"})", payload), M, "alg 'PS256' is not"},
      {18, sign_raw(k.r1, R"({"alg":"rs256","kid":"r1"})", payload), M, "alg 'rs256' is not"},
      {19, sign_raw(k.r1, R"({"alg":256,"kid":"r1"})", payload), M, "header has no alg string"},
      {20, sign_raw(k.r1, R"({"alg":"RS256","kid":7})", payload), M, "kid is not a string"},
      {21, sign_raw(k.r1, R"({"alg":"RS256","kid":"r1","crit":["b64"],"b64":false})", payload), M,
       "header has crit"},
      {22, sign_raw(k.r1, R"({"alg":"HS256","kid":"r1","alg":"RS256"})", payload), M,
       "header: a member name appears twice"},
      {23, sign_raw(k.r1, R"({"alg":"RS256","kid":"r1","x":)" + deep + "}", payload), M,
       "header: JSON nested deeper than 16"},
      {24, gp[0] + ".pa$." + gp[2], M, "payload is not base64url"},
      {25, gp[0] + "." + gp[1] + ".si=", M, "signature is not base64url"},
      {26, good + "\n", M, "signature is not base64url"},
      {27, "Bearer " + good, M, "header is not base64url"},
      {28, sign_raw(k.r1, R"({"alg":"RS256"})", payload), CtlReason::token_unknown_key,
       "alg RS256 (no kid): not exactly one key of that alg"},  // two RSA keys in the set
      {29, signed_payload("not json"), M, "alg RS256 kid 'r1': payload: not valid JSON"},
      {30, signed_payload("[]"), M, "payload is not a JSON object"},
      {31, signed_payload("\"a string\""), M, "payload is not a JSON object"},
      {32, signed_payload(""), M, "payload: not valid JSON"},
      {33, signed_payload("{\"upn\":\"\xff\xfe\"}"), M, "payload: not valid JSON"},  // bad UTF-8
      {34, without_claim("exp"), M, "no exp claim"},
      {35, with_claim("exp", std::to_string(kNow + 3600)), M, "exp is not a NumericDate"},
      {36, with_claim("exp", true), M, "exp is not a NumericDate"},
      {37, with_claim("exp", nullptr), M, "exp is not a NumericDate"},
      {38, with_claim("exp", (int64_t{1} << 53) + 1), M, "exp is not a NumericDate"},
      {39, with_claim("exp", uint64_t{1} << 63), M, "exp is not a NumericDate"},
      {40, with_claim("exp", 1e300), M, "exp is not a NumericDate"},
      {41, with_claim("nbf", "yesterday"), M, "nbf is not a NumericDate"},
      {42, with_claim("iat", json::array({kNow})), M, "iat is not a NumericDate"},
      {43, signed_payload(R"({"exp":1700003600,"upn":"alice","exp":1})"), M,
       "payload: a member name appears twice"},
      {44, signed_payload(R"({"exp":1700003600,"upn":"alice","x":)" + deep + "}"), M,
       "payload: JSON nested deeper than 16"},
      {45, signed_payload(good_claims().dump() + std::string(1, '\0') + "{}"), M,
       "payload: a NUL byte in the JSON text"},  // nlohmann would stop at the NUL
      {46, with_claim("appid", 5), M, "claim 'appid' is not 1..127 printable ASCII characters"},
      {47, with_claim("appid", std::string(128, 'a')), M, "claim 'appid' is not 1..127"},
      {48, with_claim("appid", "app 1"), M, "claim 'appid' is not 1..127"},
  };
}

TEST(TokenMalformed, EveryCaseHasItsReasonAndDetail) {
  const std::vector<BadToken> cases = bad_tokens();
  int expected_number = 1;
  for (const BadToken& c : cases) {
    EXPECT_EQ(c.number, expected_number++) << "table numbering";
    const TokenOutcome o = verify(c.token);
    EXPECT_EQ(o.result, CtlResult::denied) << "case " << c.number;
    EXPECT_EQ(o.reason, c.reason) << "case " << c.number << ": " << ctl::ctl_reason_name(o.reason)
                                  << " (" << o.detail << ")";
    EXPECT_NE(o.detail.find(c.detail), std::string::npos)
        << "case " << c.number << ": detail '" << o.detail << "' lacks '" << c.detail << "'";
    EXPECT_TRUE(o.user.empty() && o.app.empty()) << "case " << c.number;
    // The detail goes to the log: never the token, nor its signature.
    if (c.token.size() > 16) {
      EXPECT_EQ(o.detail.find(c.token), std::string::npos) << "case " << c.number;
      const std::string sig = c.token.substr(c.token.rfind('.') + 1);
      if (sig.size() > 16) {
        EXPECT_EQ(o.detail.find(sig), std::string::npos) << "case " << c.number;
      }
    }
    EXPECT_LT(o.detail.size(), 400u) << "case " << c.number;
  }
}

TEST(TokenMalformed, RandomGarbageIsNeverAccepted) {
  std::mt19937 rng(20240601);  // fixed seed: reproducible
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ {}\"";
  for (int i = 0; i < 3000; ++i) {
    std::string t(rng() % 300, ' ');
    for (char& c : t) c = alphabet[rng() % alphabet.size()];
    const TokenOutcome o = verify(t);
    ASSERT_EQ(o.result, CtlResult::denied) << t;
  }
  // Well-formed base64url parts around a random JSON-ish header.
  for (int i = 0; i < 500; ++i) {
    std::string bytes(rng() % 64, ' ');
    for (char& c : bytes) c = static_cast<char>(rng() % 256);
    const TokenOutcome o = verify(b64(R"({"alg":"ES256","kid":"e1"})") + "." + b64(bytes) + "." + b64(bytes));
    ASSERT_EQ(o.reason, CtlReason::token_bad_signature);
  }
}

// -------------------------------------------------------------------------------- base64url

TEST(Base64url, RoundTripsAndRejectsEverythingElse) {
  std::mt19937 rng(7);
  for (size_t n = 0; n < 100; ++n) {
    std::vector<uint8_t> bytes(n);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    const std::string text = base64url_encode(bytes.data(), bytes.size());
    EXPECT_EQ(text.find_first_of("=+/"), std::string::npos);
    EXPECT_EQ(text.size(), (n * 4 + 2) / 3);
    EXPECT_EQ(*base64url_decode(text), bytes) << n;
  }
  EXPECT_EQ(base64url_encode(std::string_view("\xfb\xff", 2)), "-_8");
  const std::vector<uint8_t> a = {'A'};
  EXPECT_EQ(*base64url_decode("QQ"), a);
  for (const char* bad : {"QQ==", "QQ=", "Q", "QUFBQ", "QR", "QUF", "+/8", "QQ ", " QQ", "Q\nQ"}) {
    EXPECT_FALSE(base64url_decode(bad)) << bad;
  }
  EXPECT_FALSE(base64url_decode(std::string_view("QQ\0", 3)));
  EXPECT_TRUE(base64url_decode("")->empty());
}

// ----------------------------------------------------------------------------- valid tokens

TEST(TokenValid, Rs256AndEs256) {
  for (auto [key, kid] : {std::pair{&keys().r1, "r1"}, std::pair{&keys().r2, "r2"},
                          std::pair{&keys().e1, "e1"}, std::pair{&keys().e2, "e2"}}) {
    const TokenOutcome o = verify(sign(*key, kid));
    EXPECT_EQ(o.result, CtlResult::ok) << kid << ": " << o.detail;
    EXPECT_EQ(o.reason, CtlReason::none);
    EXPECT_EQ(o.user, "alice@example.com");
    EXPECT_EQ(o.app, "app-1");
    EXPECT_EQ(o.detail, std::string("alg ") + jws_alg_name(key->alg) + " kid '" + kid + "'");
  }
}

TEST(TokenValid, KidSelection) {
  const TestKeys& k = keys();
  // Signed by r2 but claiming r1: the key r1 is used, and the signature does not verify.
  EXPECT_EQ(verify(sign(k.r2, "r1")).reason, CtlReason::token_bad_signature);
  EXPECT_EQ(verify(sign(k.e2, "e1")).reason, CtlReason::token_bad_signature);
  // Unknown kid; a kid of the other algorithm.
  const TokenOutcome unknown = verify(sign(k.r1, "nope"));
  EXPECT_EQ(unknown.reason, CtlReason::token_unknown_key);
  EXPECT_EQ(unknown.detail, "alg RS256 kid 'nope': no such key in the JWKS");
  EXPECT_EQ(verify(sign_raw(k.r1, R"({"alg":"ES256","kid":"r1"})", good_claims().dump())).reason,
            CtlReason::token_unknown_key);
  // No kid: fine when the set has exactly one key of that alg.
  EXPECT_EQ(verify(sign(k.r1, "")).reason, CtlReason::token_unknown_key);  // r1 and r2
  JwkSet one_rsa = keys().set;
  std::erase_if(one_rsa.keys, [](const Jwk& j) { return j.kid == "r2"; });
  EXPECT_EQ(token_verify(sign(k.r1, ""), one_rsa, rules(), kNow).result, CtlResult::ok);
  EXPECT_EQ(token_verify(sign(k.e1, ""), one_rsa, rules(), kNow).reason, CtlReason::token_unknown_key);
  // An empty kid is a kid: it does not match a key without one.
  EXPECT_EQ(token_verify(sign_raw(k.r1, R"({"alg":"RS256","kid":""})", good_claims().dump()), one_rsa,
                         rules(), kNow)
                .reason,
            CtlReason::token_unknown_key);
}

// ------------------------------------------------------------------------------- tampering

TEST(TokenTampering, ABitFlipAnywhereIsRefusedWithTheRightReason) {
  for (auto [key, kid] : {std::pair{&keys().r1, "r1"}, std::pair{&keys().e1, "e1"}}) {
    const std::string token = sign(*key, kid);
    ASSERT_EQ(verify(token).result, CtlResult::ok);
    // Header: the JSON breaks, the kid changes, or the signed bytes change.
    for (size_t i = 0; i < decoded_size(token, 0); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        const TokenOutcome o = verify(flip(token, 0, i, static_cast<uint8_t>(1u << bit)));
        ASSERT_EQ(o.result, CtlResult::denied) << kid << " header byte " << i << " bit " << bit;
        ASSERT_TRUE(o.reason == CtlReason::token_malformed || o.reason == CtlReason::token_unknown_key ||
                    o.reason == CtlReason::token_bad_signature)
            << ctl::ctl_reason_name(o.reason);
      }
    }
    // Payload and signature: the signature is checked before the payload is read.
    for (size_t i = 0; i < decoded_size(token, 1); ++i) {
      const TokenOutcome o = verify(flip(token, 1, i, static_cast<uint8_t>(1u << (i % 8))));
      ASSERT_EQ(o.reason, CtlReason::token_bad_signature) << kid << " payload byte " << i;
    }
    for (size_t i = 0; i < decoded_size(token, 2); ++i) {
      const TokenOutcome o = verify(flip(token, 2, i, static_cast<uint8_t>(0x80u >> (i % 8))));
      ASSERT_EQ(o.reason, CtlReason::token_bad_signature) << kid << " signature byte " << i;
    }
    // Each character of the compact text, one bit: never accepted.
    for (size_t i = 0; i < token.size(); ++i) {
      std::string t = token;
      t[i] = static_cast<char>(t[i] ^ 0x01);
      ASSERT_EQ(verify(t).result, CtlResult::denied) << kid << " char " << i;
    }
  }
}

TEST(TokenTampering, SignatureLengthsAndEdgeValues) {
  const TestKeys& k = keys();
  const std::string rs = sign(k.r1, "r1");
  std::vector<uint8_t> sig = *base64url_decode(split3(rs)[2]);
  ASSERT_EQ(sig.size(), 256u);
  std::vector<uint8_t> longer = sig;
  longer.push_back(0);
  std::vector<uint8_t> shorter(sig.begin() + 1, sig.end());
  std::vector<uint8_t> zero_first = sig;
  zero_first.insert(zero_first.begin(), 0);
  for (const auto& s : {longer, shorter, zero_first, std::vector<uint8_t>{}, std::vector<uint8_t>(256, 0),
                        std::vector<uint8_t>(256, 0xff), k.set.keys[0].n /* == n: out of range */}) {
    EXPECT_EQ(verify(with_signature(rs, s)).reason, CtlReason::token_bad_signature) << s.size();
  }

  const std::string es = sign(k.e1, "e1");
  std::vector<uint8_t> rs_sig = *base64url_decode(split3(es)[2]);
  ASSERT_EQ(rs_sig.size(), 64u);
  // The P-256 group order n.
  const std::vector<uint8_t> order = *base64url_decode("_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE");
  ASSERT_EQ(order.size(), 32u);
  auto es_with = [&](const std::vector<uint8_t>& r, const std::vector<uint8_t>& s) {
    std::vector<uint8_t> v = r;
    v.insert(v.end(), s.begin(), s.end());
    return with_signature(es, v);
  };
  const std::vector<uint8_t> r(rs_sig.begin(), rs_sig.begin() + 32), s(rs_sig.begin() + 32, rs_sig.end());
  const std::vector<uint8_t> zero(32, 0), ff(32, 0xff);
  EXPECT_EQ(verify(es_with(r, s)).result, CtlResult::ok);
  for (const std::string& t : {es_with(zero, s), es_with(r, zero), es_with(order, s), es_with(r, order),
                               es_with(ff, s), es_with(r, ff), es_with(zero, zero),
                               with_signature(es, std::vector<uint8_t>(rs_sig.begin(), rs_sig.end() - 1)),
                               with_signature(es, {})}) {
    EXPECT_EQ(verify(t).reason, CtlReason::token_bad_signature);
  }
  // A DER signature (what openssl writes) where JWS wants r || s.
  std::vector<uint8_t> der(80);
  word32 der_len = der.size();
  ASSERT_EQ(wc_ecc_rs_raw_to_sig(r.data(), 32, s.data(), 32, der.data(), &der_len), 0);
  der.resize(der_len);
  EXPECT_EQ(verify(with_signature(es, der)).reason, CtlReason::token_bad_signature);
}

TEST(TokenTampering, Rs256ComparesTheWholeDigestInfo) {
  // Valid PKCS#1 v1.5 signatures by r1 over the wrong block: the bare hash, and the right
  // DigestInfo with a trailing byte. Both must fail although the padding is well-formed.
  const TestKeys& k = keys();
  const std::string token = sign(k.r1, "r1");
  const std::string input = token.substr(0, token.rfind('.'));
  uint8_t hash[WC_SHA256_DIGEST_SIZE];
  ASSERT_EQ(wc_Sha256Hash(reinterpret_cast<const byte*>(input.data()), input.size(), hash), 0);
  const uint8_t prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                            0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
  std::vector<uint8_t> bare(hash, hash + sizeof hash);
  std::vector<uint8_t> trailing(prefix, prefix + sizeof prefix);
  trailing.insert(trailing.end(), hash, hash + sizeof hash);
  std::vector<uint8_t> exact = trailing;
  trailing.push_back(0);
  RsaKey rsa;
  WC_RNG rng;
  ASSERT_EQ(wc_InitRsaKey(&rsa, nullptr), 0);
  ASSERT_EQ(wc_InitRng(&rng), 0);
  word32 idx = 0;
  ASSERT_EQ(wc_RsaPrivateKeyDecode(k.r1.der.data(), &idx, &rsa, k.r1.der.size()), 0);
  auto sign_block = [&](const std::vector<uint8_t>& block) {
    std::vector<uint8_t> sig(256);
    const int n = wc_RsaSSL_Sign(block.data(), block.size(), sig.data(), sig.size(), &rsa, &rng);
    EXPECT_EQ(n, 256);
    return sig;
  };
  EXPECT_EQ(verify(with_signature(token, sign_block(exact))).result, CtlResult::ok);  // the control
  EXPECT_EQ(verify(with_signature(token, sign_block(bare))).reason, CtlReason::token_bad_signature);
  EXPECT_EQ(verify(with_signature(token, sign_block(trailing))).reason, CtlReason::token_bad_signature);
  wc_FreeRng(&rng);
  wc_FreeRsaKey(&rsa);
}

// ------------------------------------------------------------------------------ claim rules

struct ClaimCase {
  int number;
  json claims;      ///< the payload
  uint32_t skew;
  int64_t now;
  CtlReason reason;  ///< none = accepted
  std::string detail;
};

json claims_with(std::initializer_list<std::pair<const char*, json>> set,
                 std::initializer_list<const char*> erase = {}) {
  json c = good_claims();
  for (const auto& [k, v] : set) c[k] = v;
  for (const char* k : erase) c.erase(k);
  return c;
}

std::vector<ClaimCase> claim_cases() {
  using R = CtlReason;
  const R ok = R::none;
  const json base = good_claims();
  return {
      // exp: valid through exp + skew inclusive (integers and fractions; fractions round down).
      {1, claims_with({{"exp", kNow - 120}}), 120, kNow, ok, ""},
      {2, claims_with({{"exp", kNow - 121}}), 120, kNow, R::token_expired, "expired 121 s ago (skew 120 s)"},
      {3, claims_with({{"exp", kNow}}), 0, kNow, ok, ""},
      {4, claims_with({{"exp", kNow - 1}}), 0, kNow, R::token_expired, "expired 1 s ago (skew 0 s)"},
      {5, claims_with({{"exp", kNow - 119.5}}), 120, kNow, ok, ""},
      {6, claims_with({{"exp", kNow - 120.5}}), 120, kNow, R::token_expired, "expired"},
      {7, claims_with({{"exp", kNow - 3600}}), 3600, kNow, ok, ""},
      {8, claims_with({{"exp", kNow - 3601}}), 3600, kNow, R::token_expired, ""},
      // nbf: valid from nbf - skew inclusive (fractions round up).
      {9, claims_with({{"nbf", kNow + 120}}), 120, kNow, ok, ""},
      {10, claims_with({{"nbf", kNow + 121}}), 120, kNow, R::token_not_yet_valid, "nbf is 121 s ahead"},
      {11, claims_with({{"nbf", kNow}}), 0, kNow, ok, ""},
      {12, claims_with({{"nbf", kNow + 1}}), 0, kNow, R::token_not_yet_valid, "nbf is 1 s ahead (skew 0 s)"},
      {13, claims_with({{"nbf", kNow + 119.5}}), 120, kNow, ok, ""},
      {14, claims_with({{"nbf", kNow + 120.5}}), 120, kNow, R::token_not_yet_valid, "nbf"},
      // iat: like nbf (a token from the future).
      {15, claims_with({{"iat", kNow + 120}}), 120, kNow, ok, ""},
      {16, claims_with({{"iat", kNow + 121}}), 120, kNow, R::token_not_yet_valid, "iat is 121 s ahead"},
      {17, claims_with({}, {"iat", "nbf"}), 0, kNow, ok, ""},  // both optional
      // Extreme clocks and dates: no overflow, a sensible answer.
      {18, base, 120, std::numeric_limits<int64_t>::max(), R::token_expired, ""},
      {19, base, 120, std::numeric_limits<int64_t>::min(), R::token_not_yet_valid, "nbf"},
      {20, claims_with({{"exp", int64_t{1} << 53}}, {"nbf", "iat"}), 3600, kNow, ok, ""},
      {21, claims_with({{"exp", -(int64_t{1} << 53)}}), 3600, kNow, R::token_expired, ""},
      {22, claims_with({{"exp", 0}}), 0, kNow, R::token_expired, ""},
      // iss
      {23, claims_with({{"iss", "https://evil.example/"}}), 120, kNow, R::token_bad_issuer,
       "iss 'https://evil.example/'"},
      {24, claims_with({}, {"iss"}), 120, kNow, R::token_bad_issuer, "no iss string"},
      {25, claims_with({{"iss", json::array({kIss})}}), 120, kNow, R::token_bad_issuer, "no iss string"},
      {26, claims_with({{"iss", kIss + "/"}}), 120, kNow, R::token_bad_issuer, ""},  // exact match only
      // aud: a string, or an array holding it.
      {27, claims_with({{"aud", json::array({"other", kAud})}}), 120, kNow, ok, ""},
      {28, claims_with({{"aud", json::array({1, nullptr, kAud})}}), 120, kNow, ok, ""},
      {29, claims_with({{"aud", "other"}}), 120, kNow, R::token_bad_audience,
       "aud does not hold the configured audience"},
      {30, claims_with({{"aud", json::array({"other", "more"})}}), 120, kNow, R::token_bad_audience, ""},
      {31, claims_with({{"aud", json::array()}}), 120, kNow, R::token_bad_audience, ""},
      {32, claims_with({{"aud", 42}}), 120, kNow, R::token_bad_audience, ""},
      {33, claims_with({}, {"aud"}), 120, kNow, R::token_bad_audience, "no aud"},
      {34, claims_with({{"aud", json::array({json::array({kAud})})}}), 120, kNow, R::token_bad_audience, ""},
      // user (upn): a string and a valid user name.
      {35, claims_with({}, {"upn"}), 120, kNow, R::token_no_user, "no string claim 'upn'"},
      {36, claims_with({{"upn", 12}}), 120, kNow, R::token_no_user, "no string claim 'upn'"},
      {37, claims_with({{"upn", ""}}), 120, kNow, R::token_no_user, "no string claim 'upn'"},
      {38, claims_with({{"upn", "alice smith"}}), 120, kNow, R::token_no_user,
       "value 'alice smith' is not a user name"},
      {39, claims_with({{"upn", "guest_x.com#EXT#@t.example"}}), 120, kNow, R::token_no_user, "not a user name"},
      {40, claims_with({{"upn", std::string(65, 'a')}}), 120, kNow, R::token_no_user, "not a user name"},
      {41, claims_with({{"upn", std::string(64, 'a')}}), 120, kNow, ok, ""},
      // app: optional.
      {42, claims_with({}, {"appid"}), 120, kNow, ok, ""},
      {43, claims_with({{"appid", ""}}), 120, kNow, ok, ""},
      {44, claims_with({{"appid", std::string(127, 'a')}}), 120, kNow, ok, ""},
      {45, claims_with({{"appid", json::object()}}), 120, kNow, R::token_malformed, "claim 'appid' is not"},
  };
}

TEST(TokenClaims, TableOfRulesAndBoundaries) {
  int expected_number = 1;
  for (const ClaimCase& c : claim_cases()) {
    EXPECT_EQ(c.number, expected_number++) << "table numbering";
    TokenRules r = rules();
    r.clock_skew_s = c.skew;
    const TokenOutcome o = token_claims_check(c.claims.dump(), r, c.now);
    EXPECT_EQ(o.reason, c.reason) << "case " << c.number << ": " << o.detail;
    EXPECT_EQ(o.result, c.reason == CtlReason::none ? CtlResult::ok : CtlResult::denied) << "case " << c.number;
    EXPECT_NE(o.detail.find(c.detail), std::string::npos)
        << "case " << c.number << ": detail '" << o.detail << "' lacks '" << c.detail << "'";
  }
}

TEST(TokenClaims, TheSameRulesThroughSignedTokens) {
  // A few rows of the table again, signed, so token_verify is seen to apply them.
  const TestKeys& k = keys();
  EXPECT_EQ(verify(sign(k.e1, "e1", claims_with({{"exp", kNow - 120}}))).result, CtlResult::ok);
  EXPECT_EQ(verify(sign(k.e1, "e1", claims_with({{"exp", kNow - 121}}))).reason, CtlReason::token_expired);
  EXPECT_EQ(verify(sign(k.r1, "r1", claims_with({{"nbf", kNow + 121}}))).reason, CtlReason::token_not_yet_valid);
  EXPECT_EQ(verify(sign(k.r1, "r1", claims_with({{"iat", kNow + 121}}))).reason, CtlReason::token_not_yet_valid);
  EXPECT_EQ(verify(sign(k.r1, "r1", claims_with({{"iss", "x"}}))).reason, CtlReason::token_bad_issuer);
  EXPECT_EQ(verify(sign(k.r1, "r1", claims_with({{"aud", "x"}}))).reason, CtlReason::token_bad_audience);
  const TokenOutcome no_user = verify(sign(k.r1, "r1", claims_with({}, {"upn"})));
  EXPECT_EQ(no_user.reason, CtlReason::token_no_user);
  EXPECT_EQ(no_user.detail, "alg RS256 kid 'r1': no string claim 'upn'");
}

TEST(TokenClaims, UncheckedIssuerAndAudienceAndCustomClaims) {
  const TestKeys& k = keys();
  TokenRules open = rules();
  open.issuer.clear();
  open.audience.clear();
  const TokenOutcome any = verify(sign(k.r1, "r1", claims_with({{"iss", 5}}, {"aud"})), open);
  EXPECT_EQ(any.result, CtlResult::ok) << any.detail;

  // Azure AD v2 style: user from preferred_username, app from azp.
  TokenRules v2 = rules();
  v2.user_claim = "preferred_username";
  v2.app_claim = "azp";
  const json c = claims_with({{"preferred_username", "bob@example.com"}, {"azp", "11111111-2222"}}, {"upn", "appid"});
  const TokenOutcome o = verify(sign(k.e2, "e2", c), v2);
  EXPECT_EQ(o.result, CtlResult::ok) << o.detail;
  EXPECT_EQ(o.user, "bob@example.com");
  EXPECT_EQ(o.app, "11111111-2222");
  const TokenOutcome no_app = verify(sign(k.e2, "e2", claims_with({{"preferred_username", "bob"}})), v2);
  EXPECT_EQ(no_app.result, CtlResult::ok);
  EXPECT_EQ(no_app.app, "");  // appid is not the configured app claim
}

// ------------------------------------------------------------------------------------ JWKS

json public_jwk(const SigningKey& key, const std::string& kid) {
  return json::parse(jwk_to_json(must(signing_key_public(key, kid), "public")));
}

std::string jwks_of(const json& entries) { return json{{"keys", entries}}.dump(); }

TEST(JwksParse, FileLevelErrors) {
  const std::string good = public_jwk(keys().r1, "r1").dump();
  struct Case {
    int number;
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {1, "", "f.jwks: not valid JSON"},
      {2, "{\"keys\":[", "f.jwks: not valid JSON"},
      {3, "[]", "f.jwks: not a JSON object"},
      {4, "{}", "f.jwks: no \"keys\" array"},
      {5, R"({"keys":{}})", "f.jwks: no \"keys\" array"},
      {6, R"({"keys":[]})", "f.jwks: no usable key"},
      {7, R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})", "f.jwks: no usable key (RSA 2048..4096 bits or EC P-256)\n"
                                                      "f.jwks: key 1: kty 'oct' is not supported (RSA, EC); skipped"},
      {8, R"({"keys":[)" + good + R"(],"keys":[]})", "f.jwks: a member name appears twice"},
      {9, R"({"keys":[)" + good + "," + std::string(20, '[') + std::string(20, ']') + "]}",
       "f.jwks: JSON nested deeper than 16"},
      {10, R"({"keys":[)" + good + "]}" + std::string(kJwksMaxBytes, ' '), "larger than 1048576 bytes"},
      {11, R"({"keys":[)" + good + "]}" + std::string(1, '\0') + "garbage", "f.jwks: a NUL byte in the JSON text"},
  };
  int expected_number = 1;
  for (const Case& c : cases) {
    EXPECT_EQ(c.number, expected_number++) << "table numbering";
    auto r = jwks_parse(c.text, "f.jwks");
    ASSERT_FALSE(r) << "case " << c.number;
    EXPECT_EQ(r.error().code, EINVAL);
    EXPECT_NE(r.error().message.find(c.message), std::string::npos)
        << "case " << c.number << ": " << r.error().message;
  }
}

TEST(JwksParse, UnusableEntriesAreSkippedWithAWarning) {
  const json rsa = public_jwk(keys().r1, "r1");
  const json ec = public_jwk(keys().e1, "e1");
  auto edit = [](json j, std::initializer_list<std::pair<const char*, json>> set,
                 std::initializer_list<const char*> erase = {}) {
    for (const auto& [k, v] : set) j[k] = v;
    for (const char* k : erase) j.erase(k);
    return j;
  };
  auto bytes_b64 = [](std::vector<uint8_t> v) { return base64url_encode(v.data(), v.size()); };
  std::vector<uint8_t> n1024(128, 0xc5), n2047(256, 0xc5), n4104(513, 0xc5);
  n2047[0] = 0x7f;
  const std::string x = ec["x"];
  struct Case {
    int number;
    json entry;
    std::string warning;  ///< substring
  };
  const std::vector<Case> cases = {
      {1, "a string", "key 1: not a JSON object; skipped"},
      {2, edit(rsa, {{"kty", "oct"}}), "(kid 'r1'): kty 'oct' is not supported (RSA, EC)"},
      {3, edit(rsa, {}, {"kty"}), "no kty string"},
      {4, edit(rsa, {{"kty", "OKP"}, {"crv", "Ed25519"}}), "kty 'OKP' is not supported"},
      {5, edit(rsa, {{"n", bytes_b64(n1024)}}), "RSA modulus of 1024 bits is not in 2048..4096"},
      {6, edit(rsa, {{"n", bytes_b64(n2047)}}), "RSA modulus of 2047 bits"},
      {7, edit(rsa, {{"n", bytes_b64(n4104)}}), "RSA modulus of 4104 bits"},
      {8, edit(rsa, {{"n", std::string(rsa["n"]) + "="}}), "n is not base64url"},
      {9, edit(rsa, {}, {"n"}), "no n string"},
      {10, edit(rsa, {{"e", "AQAA"}}), "RSA exponent e is not an odd number"},       // 65536
      {11, edit(rsa, {{"e", "AQ"}}), "RSA exponent e is not an odd number"},         // 1
      {12, edit(rsa, {{"e", "AQAAAAE"}}), "RSA exponent e is not an odd number"},    // 5 bytes
      {13, edit(rsa, {{"e", 65537}}), "no e string"},
      {14, edit(rsa, {{"alg", "RS384"}}), "alg 'RS384' is not supported for kty RSA (RS256)"},
      {15, edit(rsa, {{"alg", "ES256"}}), "alg 'ES256' is not supported for kty RSA"},
      {16, edit(rsa, {{"use", "enc"}}), "use is not \"sig\""},
      {17, edit(rsa, {{"key_ops", json::array({"sign"})}}), "key_ops does not hold \"verify\""},
      {18, edit(rsa, {{"kid", 17}}), "kid is not a string"},
      {19, edit(rsa, {{"kid", std::string(257, 'k')}}), "kid longer than 256 bytes"},
      {20, edit(ec, {{"crv", "P-384"}}), "(kid 'e1'): crv 'P-384' is not supported (P-256)"},
      {21, edit(ec, {}, {"crv"}), "no crv string"},
      {22, edit(ec, {{"y", x}}), "wolfCrypt refuses the EC point"},  // not on the curve
      {23, edit(ec, {{"x", x.substr(0, 40)}}), "x and y must be 32 bytes each"},
      {24, edit(ec, {{"alg", "ES384"}}), "alg 'ES384' is not supported for kty EC (ES256)"},
      {25, edit(ec, {{"x", 1}}), "no x string"},
  };
  int expected_number = 1;
  for (const Case& c : cases) {
    EXPECT_EQ(c.number, expected_number++) << "table numbering";
    // The bad entry first, then a good one: the file loads, with one warning.
    auto r = jwks_parse(jwks_of(json::array({c.entry, edit(ec, {{"kid", "good"}})})), "f.jwks");
    ASSERT_TRUE(r) << "case " << c.number << ": " << r.error().message;
    ASSERT_EQ(r->keys.size(), 1u) << "case " << c.number;
    EXPECT_EQ(r->skipped, 1u);
    ASSERT_EQ(r->warnings.size(), 1u) << "case " << c.number;
    EXPECT_NE(r->warnings[0].find(c.warning), std::string::npos)
        << "case " << c.number << ": " << r->warnings[0];
    EXPECT_EQ(r->warnings[0].rfind("f.jwks: key 1", 0), 0u) << r->warnings[0];
  }
}

TEST(JwksParse, AcceptedVariants) {
  const json rsa = public_jwk(keys().r1, "r1");
  const json ec = public_jwk(keys().e1, "e1");
  json bare_rsa = rsa, bare_ec = ec;
  for (json* j : {&bare_rsa, &bare_ec}) {
    j->erase("alg");
    j->erase("use");
    j->erase("kid");
  }
  json padded = rsa;  // a leading zero octet in n (some libraries add one)
  std::vector<uint8_t> n = *base64url_decode(std::string(rsa["n"]));
  n.insert(n.begin(), 0);
  padded["n"] = base64url_encode(n.data(), n.size());
  padded["kid"] = "padded";
  json ops = ec;
  ops["kid"] = "ops";
  ops["key_ops"] = json::array({"verify"});
  ops.erase("use");
  json with_private = ec;
  with_private["kid"] = "priv";
  with_private["d"] = "AAAA";
  std::vector<uint8_t> n4096(512, 0xc5), n2048(256, 0x80);
  n2048.back() = 0x01;
  json big = rsa, small = rsa;
  big["n"] = base64url_encode(n4096.data(), n4096.size());
  big["kid"] = "4096";
  small["n"] = base64url_encode(n2048.data(), n2048.size());
  small["kid"] = "2048";
  json x5c = rsa;  // Azure AD's entries also carry x5t and x5c: ignored
  x5c["kid"] = "azure";
  x5c["x5t"] = "abc";
  x5c["x5c"] = json::array({"MIIC..."});
  auto r = jwks_parse(jwks_of(json::array({bare_rsa, bare_ec, padded, ops, with_private, big, small, x5c})), "f");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->keys.size(), 8u);
  EXPECT_EQ(r->skipped, 0u);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("key 5 (kid 'priv'): holds private key member 'd'"), std::string::npos)
      << r->warnings[0];
  EXPECT_EQ(r->keys[0].kid, "");
  EXPECT_EQ(r->keys[2].n.size(), 256u);  // leading zero stripped
  EXPECT_EQ(r->keys[2].n, r->keys[0].n);
  // A padded n verifies tokens like the unpadded one.
  EXPECT_EQ(token_verify(sign(keys().r1, "padded"), *r, rules(), kNow).result, CtlResult::ok);
  EXPECT_EQ(token_verify(sign(keys().r1, "azure"), *r, rules(), kNow).result, CtlResult::ok);
}

TEST(JwksParse, RepeatedKidsAndTheKeyLimit) {
  const json r1 = public_jwk(keys().r1, "same");
  const json r2 = public_jwk(keys().r2, "same");
  const json e1 = public_jwk(keys().e1, "same");  // same kid, other alg: a different key
  auto r = jwks_parse(jwks_of(json::array({r1, r2, e1})), "f");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->keys.size(), 2u);
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("key 2 (kid 'same'): repeats an earlier RS256 key with the same kid"),
            std::string::npos);
  // The first one is kept.
  EXPECT_EQ(token_verify(sign(keys().r1, "same"), *r, rules(), kNow).result, CtlResult::ok);
  EXPECT_EQ(token_verify(sign(keys().r2, "same"), *r, rules(), kNow).reason, CtlReason::token_bad_signature);
  EXPECT_EQ(token_verify(sign(keys().e1, "same"), *r, rules(), kNow).result, CtlResult::ok);

  json many = json::array();
  for (size_t i = 0; i < kJwksMaxKeys + 3; ++i) many.push_back(public_jwk(keys().e1, "k" + std::to_string(i)));
  auto limited = jwks_parse(jwks_of(many), "f");
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->keys.size(), kJwksMaxKeys);
  EXPECT_EQ(limited->skipped, 3u);
  EXPECT_NE(limited->warnings.back().find("more than 64 keys; skipped"), std::string::npos);
}

TEST(JwksUpsert, AddsReplacesAndKeepsOtherEntries) {
  const Jwk a = must(signing_key_public(keys().r1, "a"), "a");
  const Jwk a2 = must(signing_key_public(keys().e1, "a"), "a2");
  const Jwk b = must(signing_key_public(keys().r2, "b"), "b");
  std::string text = must(jwks_upsert("", a), "1");
  text = must(jwks_upsert(text, b), "2");
  text = must(jwks_upsert(text, a2), "3");  // replaces the RSA "a"
  const json j = json::parse(text);
  ASSERT_EQ(j["keys"].size(), 2u);
  EXPECT_EQ(j["keys"][0]["kid"], "b");
  EXPECT_EQ(j["keys"][1]["kid"], "a");
  EXPECT_EQ(j["keys"][1]["kty"], "EC");
  // Unknown entries of someone else's file are kept as they are.
  const std::string foreign = R"({"keys":[{"kty":"oct","kid":"x","k":"AA"}],"other":1})";
  const json merged = json::parse(must(jwks_upsert(foreign, a), "4"));
  EXPECT_EQ(merged["keys"].size(), 2u);
  EXPECT_EQ(merged["other"], 1);
  EXPECT_FALSE(jwks_upsert("[]", a));
  EXPECT_FALSE(jwks_upsert("{", a));
  EXPECT_FALSE(jwks_upsert(R"({"keys":1})", a));
}

TEST(SigningKeys, PemRoundTripAndWrongTypes) {
  for (const SigningKey* key : {&keys().r1, &keys().e1}) {
    const std::string pem = must(signing_key_pem(*key), "pem");
    EXPECT_EQ(pem.rfind(key->alg == JwsAlg::rs256 ? "-----BEGIN RSA PRIVATE KEY-----" : "-----BEGIN EC PRIVATE KEY-----", 0), 0u);
    const SigningKey back = must(signing_key_load(pem, key->alg), "load");
    EXPECT_EQ(back.der, key->der);
    const std::string der(key->der.begin(), key->der.end());
    EXPECT_EQ(must(signing_key_load(der, key->alg), "der").der, key->der);
    EXPECT_FALSE(signing_key_load(pem, key->alg == JwsAlg::rs256 ? JwsAlg::es256 : JwsAlg::rs256));
  }
  EXPECT_FALSE(signing_key_load("", JwsAlg::rs256));
  EXPECT_FALSE(signing_key_load("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", JwsAlg::rs256));
  EXPECT_FALSE(signing_key_load("garbage", JwsAlg::es256));
}

// ----------------------------------------------------------------------------- the verifier

class TokenVerifierOnDisk : public testing::Test {
 protected:
  void SetUp() override { path_ = testing::TempDir() + "jwks-" + std::to_string(getpid()) + ".json"; }
  void TearDown() override { unlink(path_.c_str()); }
  void write(const std::string& text) {
    const std::string tmp = path_ + ".new";
    std::ofstream(tmp) << text;
    ASSERT_EQ(rename(tmp.c_str(), path_.c_str()), 0);  // new inode, like tunnelgate-token
  }
  TokenVerifier::Options options() { return {path_, rules()}; }
  std::string path_;
};

TEST_F(TokenVerifierOnDisk, CreateChecksTheRulesAndTheFile) {
  auto missing = TokenVerifier::create(options());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  write("{\"keys\":[]}");
  auto empty = TokenVerifier::create(options());
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, EINVAL);
  EXPECT_NE(empty.error().message.find(path_ + ": no usable key"), std::string::npos);
  write(keys().jwks);
  for (auto bad : {+[](TokenVerifier::Options& o) { o.rules.clock_skew_s = 3601; },
                   +[](TokenVerifier::Options& o) { o.rules.user_claim.clear(); },
                   +[](TokenVerifier::Options& o) { o.rules.app_claim.clear(); },
                   +[](TokenVerifier::Options& o) { o.jwks_file.clear(); }}) {
    TokenVerifier::Options o = options();
    bad(o);
    auto v = TokenVerifier::create(o);
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, EINVAL);
  }
  write(std::string(kJwksMaxBytes + 1, ' '));
  auto huge = TokenVerifier::create(options());
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code, EFBIG);
}

TEST_F(TokenVerifierOnDisk, ReloadKeepsTheOldKeysOnABadFileAndTakesAGoodOne) {
  const TestKeys& k = keys();
  write(jwks_of(json::array({public_jwk(k.r1, "r1")})));
  auto created = TokenVerifier::create(options());
  ASSERT_TRUE(created) << created.error().message;
  TokenVerifier& v = **created;
  EXPECT_EQ(v.loads(), 1u);
  EXPECT_EQ(v.keys().keys.size(), 1u);
  const std::string t1 = sign(k.r1, "r1");
  const std::string t2 = sign(k.e2, "e2");
  EXPECT_EQ(v.verify(t1, kNow).result, CtlResult::ok);
  EXPECT_EQ(v.verify(t2, kNow).reason, CtlReason::token_unknown_key);
  auto same = v.reload_if_changed();
  ASSERT_TRUE(same);
  EXPECT_FALSE(*same);  // unchanged: not re-read

  write("{\"keys\": [");  // broken
  auto bad = v.reload_if_changed();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, EINVAL);
  EXPECT_NE(bad.error().message.find(path_ + ": not valid JSON"), std::string::npos);
  EXPECT_EQ(v.verify(t1, kNow).result, CtlResult::ok);  // old keys in force
  auto again = v.reload_if_changed();                   // the same bad version: same error
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, bad.error().message);

  unlink(path_.c_str());  // gone (an editor between unlink and rename): keys stay
  auto gone = v.reload_if_changed();
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ENOENT);
  EXPECT_EQ(v.verify(t1, kNow).result, CtlResult::ok);

  write(jwks_of(json::array({public_jwk(k.e2, "e2"), json{{"kty", "oct"}}})));
  auto good = v.reload_if_changed();
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_TRUE(*good);
  EXPECT_EQ(v.loads(), 2u);
  ASSERT_EQ(v.warnings().size(), 1u);  // the oct entry
  EXPECT_EQ(v.verify(t2, kNow).result, CtlResult::ok);
  EXPECT_EQ(v.verify(t1, kNow).reason, CtlReason::token_unknown_key);  // r1 was removed

  // An in-place rewrite (same inode, new size and mtime) is noticed too.
  {
    std::ofstream out(path_, std::ios::trunc);
    out << jwks_of(json::array({public_jwk(k.r1, "r1"), public_jwk(k.e2, "e2")}));
  }
  auto in_place = v.reload_if_changed();
  ASSERT_TRUE(in_place) << in_place.error().message;
  EXPECT_TRUE(*in_place);
  EXPECT_EQ(v.verify(t1, kNow).result, CtlResult::ok);
  EXPECT_EQ(v.verify(t2, kNow).result, CtlResult::ok);
}

// ------------------------------------------------------------------- openssl, both directions

bool have_openssl() { return std::system("command -v openssl >/dev/null 2>&1") == 0; }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(TokenOpenssl, TokensSignedByOpensslVerifyAndOursVerifyInOpenssl) {
  if (!have_openssl()) GTEST_SKIP() << "openssl is not installed";
  const std::string dir = testing::TempDir() + "tg-token-openssl-" + std::to_string(getpid());
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  struct Case {
    JwsAlg alg;
    const char* genpkey;
  };
  for (const Case& c : {Case{JwsAlg::rs256, "-algorithm RSA -pkeyopt rsa_keygen_bits:2048"},
                        Case{JwsAlg::es256, "-algorithm EC -pkeyopt ec_paramgen_curve:P-256"}}) {
    SCOPED_TRACE(jws_alg_name(c.alg));
    const std::string key = dir + "/key.pem", pub = dir + "/pub.pem", in = dir + "/in", sig = dir + "/sig";
    ASSERT_EQ(std::system(("openssl genpkey " + std::string(c.genpkey) + " -out " + key + " 2>/dev/null").c_str()), 0);
    ASSERT_EQ(std::system(("openssl pkey -in " + key + " -pubout -out " + pub).c_str()), 0);
    // openssl writes PKCS#8 ("BEGIN PRIVATE KEY"): signing_key_load takes it.
    const SigningKey sk = must(signing_key_load(slurp(key), c.alg), "load openssl key");
    JwkSet set = must(jwks_parse(jwks_of(json::array({public_jwk(sk, "o")})), "o"), "jwks");

    // openssl signs, we verify.
    const std::string input = b64(jws_header_json(c.alg, "o")) + "." + b64(good_claims().dump());
    std::ofstream(in, std::ios::binary) << input;
    ASSERT_EQ(std::system(("openssl dgst -sha256 -sign " + key + " -out " + sig + " " + in).c_str()), 0);
    std::string s = slurp(sig);
    std::vector<uint8_t> raw(s.begin(), s.end());
    if (c.alg == JwsAlg::es256) {  // DER -> r || s
      uint8_t r32[32] = {}, s32[32] = {};
      word32 rl = 32, sl = 32;
      ASSERT_EQ(wc_ecc_sig_to_rs(raw.data(), raw.size(), r32, &rl, s32, &sl), 0);
      raw.assign(64, 0);
      std::copy(r32, r32 + rl, raw.begin() + (32 - rl));
      std::copy(s32, s32 + sl, raw.begin() + (64 - sl));
    }
    const std::string token = input + "." + base64url_encode(raw.data(), raw.size());
    const TokenOutcome o = token_verify(token, set, rules(), kNow);
    EXPECT_EQ(o.result, CtlResult::ok) << o.detail;
    EXPECT_EQ(o.user, "alice@example.com");

    // We sign, openssl verifies.
    const std::string ours = sign(sk, "o");
    const std::string ours_input = ours.substr(0, ours.rfind('.'));
    std::vector<uint8_t> ours_sig = *base64url_decode(split3(ours)[2]);
    if (c.alg == JwsAlg::es256) {  // r || s -> DER
      std::vector<uint8_t> der(80);
      word32 len = der.size();
      ASSERT_EQ(wc_ecc_rs_raw_to_sig(ours_sig.data(), 32, ours_sig.data() + 32, 32, der.data(), &len), 0);
      der.resize(len);
      ours_sig = der;
    }
    std::ofstream(in, std::ios::binary | std::ios::trunc) << ours_input;
    std::ofstream(sig, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(ours_sig.data()), static_cast<std::streamsize>(ours_sig.size()));
    EXPECT_EQ(std::system(("openssl dgst -sha256 -verify " + pub + " -signature " + sig + " " + in +
                           " >/dev/null").c_str()),
              0);
  }
  std::system(("rm -rf " + dir).c_str());
}

// ------------------------------------------------------------------- the fuzz seed corpus

// The seeds of fuzz_token (corpus-token/) still say what their names say: valid ones verify
// at the fuzzer's time with its rules, so the fuzzer starts past the signature check.
TEST(TokenCorpus, SeedsVerifyAsTheirNamesSay) {
  const char* dir = std::getenv("TG_TOKEN_CORPUS_DIR");
  if (dir == nullptr) GTEST_SKIP() << "TG_TOKEN_CORPUS_DIR not set (run through meson test)";
  TokenRules r = rules();
  r.issuer = "https://issuer.example/";  // as fuzz_token.cc
  const std::vector<std::pair<const char*, CtlReason>> expect = {
      {"es256-valid", CtlReason::none},           {"rs256-valid", CtlReason::none},
      {"es256-no-kid", CtlReason::none},          {"es256-aud-array", CtlReason::none},
      {"es256-expired", CtlReason::token_expired}, {"rs256-bad-signature", CtlReason::token_bad_signature},
      {"es256-no-user", CtlReason::token_no_user},
  };
  for (const auto& [name, reason] : expect) {
    const std::string seed = slurp(std::string(dir) + "/" + name);
    const size_t nul = seed.find('\0');
    ASSERT_NE(nul, std::string::npos) << name;
    auto set = jwks_parse(seed.substr(0, nul), name);
    ASSERT_TRUE(set) << name << ": " << set.error().message;
    const TokenOutcome o = token_verify(seed.substr(nul + 1), *set, r, kNow);
    EXPECT_EQ(o.reason, reason) << name << ": " << o.detail;
  }
  EXPECT_EQ(token_claims_check(slurp(std::string(dir) + "/claims-only"), r, kNow).result, CtlResult::ok);
}

// --------------------------------------------------------------------- tunnelgate-token

class TokenTool : public testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("TG_TUNNELGATE_TOKEN_BIN");
    if (bin == nullptr) GTEST_SKIP() << "TG_TUNNELGATE_TOKEN_BIN not set (run through meson test)";
    bin_ = bin;
    dir_ = testing::TempDir() + "tg-token-tool-" + std::to_string(getpid());
    ASSERT_EQ(std::system(("rm -rf " + dir_ + " && mkdir -p " + dir_).c_str()), 0);
  }
  void TearDown() override {
    if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
  }
  /// Run the tool with `args`; its stdout in `out`. @return the exit status.
  int run(const std::string& args, std::string* out = nullptr) {
    const std::string cmd = bin_ + " " + args + " >" + dir_ + "/out 2>" + dir_ + "/err";
    const int status = std::system(cmd.c_str());
    if (out != nullptr) {
      *out = slurp(dir_ + "/out");
      while (!out->empty() && out->back() == '\n') out->pop_back();
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string bin_, dir_;
};

TEST_F(TokenTool, KeygenSignVerify) {
  const std::string jwks = dir_ + "/jwks.json";
  ASSERT_EQ(run("keygen --alg RS256 --kid r --key-out " + dir_ + "/r.pem --jwks " + jwks), 0);
  ASSERT_EQ(run("keygen --alg ES256 --kid e --key-out " + dir_ + "/e.pem --jwks " + jwks), 0);
  struct stat st{};
  ASSERT_EQ(stat((dir_ + "/r.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto v = TokenVerifier::create({jwks, rules()});
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ((*v)->keys().keys.size(), 2u);

  const std::string claims = "--iss " + kIss + " --aud other --aud " + kAud +
                             " --upn carol@example.com --appid app-7 --now " + std::to_string(kNow);
  for (const char* k : {"r", "e"}) {
    SCOPED_TRACE(k);
    const std::string key = std::string("--key ") + dir_ + "/" + k + ".pem --kid " + k + " ";
    std::string token;
    ASSERT_EQ(run("sign " + key + claims, &token), 0);
    const TokenOutcome ok = (*v)->verify(token, kNow);
    EXPECT_EQ(ok.result, CtlResult::ok) << ok.detail;
    EXPECT_EQ(ok.user, "carol@example.com");
    EXPECT_EQ(ok.app, "app-7");
    ASSERT_EQ(run("sign " + key + claims + " --corrupt-signature", &token), 0);
    EXPECT_EQ((*v)->verify(token, kNow).reason, CtlReason::token_bad_signature);
    ASSERT_EQ(run("sign " + key + claims + " --exp-in -300", &token), 0);
    EXPECT_EQ((*v)->verify(token, kNow).reason, CtlReason::token_expired);
    ASSERT_EQ(run("sign " + key + claims + " --nbf-in 600", &token), 0);
    EXPECT_EQ((*v)->verify(token, kNow).reason, CtlReason::token_not_yet_valid);
    ASSERT_EQ(run("sign " + key + claims + " --omit exp", &token), 0);
    EXPECT_EQ((*v)->verify(token, kNow).reason, CtlReason::token_malformed);
    ASSERT_EQ(run("sign " + key + claims + " --claim upn=dave --claim-json 'aud=[\"x\"]'", &token), 0);
    EXPECT_EQ((*v)->verify(token, kNow).reason, CtlReason::token_bad_audience);
  }
  // Replacing a kid: a new key "r" takes the old one's place in the JWKS.
  ASSERT_EQ(run("keygen --alg ES256 --kid r --key-out " + dir_ + "/r2.pem --jwks " + jwks), 0);
  ASSERT_TRUE((*v)->reload_if_changed());
  ASSERT_EQ((*v)->keys().keys.size(), 2u);
  std::string token;
  ASSERT_EQ(run("sign --key " + dir_ + "/r2.pem --kid r " + claims, &token), 0);
  EXPECT_EQ((*v)->verify(token, kNow).result, CtlResult::ok);
}

TEST_F(TokenTool, ExitCodes) {
  EXPECT_EQ(run("--help"), 0);
  EXPECT_EQ(run("keygen --help"), 0);
  EXPECT_EQ(run("sign --help"), 0);
  EXPECT_EQ(run(""), 2);
  EXPECT_EQ(run("mint"), 2);
  EXPECT_EQ(run("keygen --alg HS256 --kid k --key-out " + dir_ + "/k.pem"), 2);
  EXPECT_EQ(run("keygen --alg ES256 --key-out " + dir_ + "/k.pem"), 2);  // no kid
  EXPECT_EQ(run("keygen --alg ES256 --kid k"), 2);                         // no key-out
  EXPECT_EQ(run("sign --upn x"), 2);                                       // no key
  EXPECT_EQ(run("sign --key " + dir_ + "/k.pem --exp-in soon"), 2);
  EXPECT_EQ(run("sign --key " + dir_ + "/k.pem --claim novalue"), 2);
  EXPECT_EQ(run("sign --key " + dir_ + "/k.pem --claim-json 'x={'"), 2);
  EXPECT_EQ(run("sign --key " + dir_ + "/absent.pem"), 1);
  ASSERT_EQ(run("keygen --alg ES256 --kid k --key-out " + dir_ + "/k.pem"), 0);
  EXPECT_EQ(run("keygen --alg ES256 --kid k --key-out " + dir_ + "/k.pem"), 1);  // exists
  EXPECT_EQ(run("keygen --alg ES256 --kid k --key-out " + dir_ + "/k.pem --force"), 0);
  EXPECT_EQ(run("sign --key " + dir_ + "/k.pem --alg RS256"), 1);  // an EC key
  std::ofstream(dir_ + "/bad.json") << "[]";
  EXPECT_EQ(run("keygen --alg ES256 --kid k --key-out " + dir_ + "/k2.pem --jwks " + dir_ + "/bad.json"), 1);
  EXPECT_NE(access((dir_ + "/k2.pem").c_str(), F_OK), 0);  // no orphan key
}

}  // namespace
}  // namespace tg::controlplane
