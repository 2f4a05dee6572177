// libFuzzer: JWKS parsing and token verification must never crash, and what they answer
// must be consistent. The input is "JWKS NUL TOKEN": the bytes before the first NUL are a
// JWKS, the rest a token (verified at a fixed time against that JWKS, or an empty key set
// when it does not parse). The token bytes are also given to token_claims_check() as a
// payload, so the claim rules are reached without a valid signature. No NUL: the whole
// input is the token.
//
// Seeds (tests/controlplane/corpus-token/) were made with tunnelgate-token, for example:
//   tunnelgate-token keygen --alg ES256 --kid e1 --key-out e1.pem --jwks j.json
//   { cat j.json; printf '\0'; tunnelgate-token sign --key e1.pem --kid e1 --upn alice \
//       --aud api://tunnelgate --iss https://issuer.example/ --now 1700000000; } > seed
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "controlplane/token_verifier.h"
#include "controlplane/users_file.h"

namespace {

using namespace tg::controlplane;
using tg::ctl::CtlReason;
using tg::ctl::CtlResult;

constexpr int64_t kFuzzNow = 1'700'000'000;  // the seeds' tokens are valid at this time

TokenRules fuzz_rules() {
  TokenRules r;
  r.issuer = "https://issuer.example/";
  r.audience = "api://tunnelgate";
  r.clock_skew_s = 120;
  return r;
}

bool token_reason(CtlReason r) {
  switch (r) {
    case CtlReason::token_malformed:
    case CtlReason::token_unknown_key:
    case CtlReason::token_bad_signature:
    case CtlReason::token_expired:
    case CtlReason::token_not_yet_valid:
    case CtlReason::token_bad_issuer:
    case CtlReason::token_bad_audience:
    case CtlReason::token_no_user: return true;
    default: return false;
  }
}

/// The invariants of every outcome.
void check(const TokenOutcome& o) {
  if (o.result == CtlResult::ok) {
    if (o.reason != CtlReason::none || !user_name_valid(o.user) || o.app.size() >= 128) std::abort();
  } else if (o.result == CtlResult::denied) {
    if (!token_reason(o.reason) || !o.user.empty()) std::abort();
  } else if (o.result != CtlResult::error || o.reason != CtlReason::internal) {
    std::abort();
  }
  if (o.detail.size() > 400) std::abort();  // log lines stay short
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view jwks_text = nul == std::string_view::npos ? std::string_view() : input.substr(0, nul);
  const std::string_view token = nul == std::string_view::npos ? input : input.substr(nul + 1);

  JwkSet keys;
  if (!jwks_text.empty()) {
    auto parsed = jwks_parse(jwks_text, "fuzz");
    if (parsed) {
      keys = std::move(*parsed);
      if (keys.keys.empty() || keys.keys.size() > kJwksMaxKeys) std::abort();
      for (const Jwk& k : keys.keys) {
        const bool rsa_ok = k.alg == JwsAlg::rs256 && k.n.size() >= 256 && k.n.size() <= 512 && k.n[0] != 0 &&
                            !k.e.empty() && k.e.size() <= 4;
        const bool ec_ok = k.alg == JwsAlg::es256 && k.x.size() == 32 && k.y.size() == 32;
        if (!rsa_ok && !ec_ok) std::abort();
      }
    } else if (parsed.error().message.empty()) {
      std::abort();
    }
  }
  const TokenRules rules = fuzz_rules();
  check(token_verify(token, keys, rules, kFuzzNow));
  const TokenOutcome claims = token_claims_check(token, rules, kFuzzNow);
  check(claims);
  if (claims.reason == CtlReason::token_unknown_key || claims.reason == CtlReason::token_bad_signature) {
    std::abort();  // the claims alone know nothing of keys
  }
  return 0;
}
