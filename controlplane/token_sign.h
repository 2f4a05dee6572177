// Making test tokens (tools/tunnelgate-token, the token tests): RS256 / ES256 keys from
// wolfCrypt, their public JWK, JWKS editing, and JWS compact signing. The control plane
// itself only verifies (token_verifier.h); nothing here runs in tunnelgate-controlplane.
//
// Thread-safety: pure functions; each call uses its own wolfCrypt RNG.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/expected.h"
#include "controlplane/token_verifier.h"

namespace tg::controlplane {

/// A private signing key.
struct SigningKey {
  JwsAlg alg = JwsAlg::rs256;
  /// DER: PKCS#1 RSAPrivateKey (RS256) or SEC1 ECPrivateKey on P-256 (ES256).
  std::vector<uint8_t> der;
};

/// A fresh key: RSA-2048 with e = 65537 (RS256) or P-256 (ES256).
/// @return the key, or Error{EIO} naming the wolfCrypt call that failed.
Expected<SigningKey> signing_key_generate(JwsAlg alg);

/// Read a private key for `alg` from PEM ("RSA PRIVATE KEY", "EC PRIVATE KEY" or an
/// unencrypted PKCS#8 "PRIVATE KEY", as openssl writes) or DER; normalised to the DER form of
/// SigningKey. @return Error{EINVAL}: not a key of that algorithm (an EC key not on P-256,
/// an RSA key outside 2048..4096 bits).
Expected<SigningKey> signing_key_load(std::string_view pem_or_der, JwsAlg alg);

/// The key as PEM ("-----BEGIN RSA PRIVATE KEY-----" / "-----BEGIN EC PRIVATE KEY-----").
Expected<std::string> signing_key_pem(const SigningKey& key);

/// The public half as a Jwk with `kid`.
Expected<Jwk> signing_key_public(const SigningKey& key, const std::string& kid);

/// {"kty":..,"kid":..,"use":"sig","alg":..,"n"/"e" | "crv"/"x"/"y"} (compact JSON text).
std::string jwk_to_json(const Jwk& key);

/// Add `key` to a JWKS text, replacing every entry with the same kid; other entries are kept
/// as they are. Empty (or all-blank) `jwks_text` starts a new set.
/// @return the new text (pretty-printed, newline-terminated), or Error{EINVAL} when the text
///         is not a JSON object with a "keys" array.
Expected<std::string> jwks_upsert(std::string_view jwks_text, const Jwk& key);

/// {"alg":"RS256|ES256","typ":"JWT","kid":kid} (no kid member when `kid` is empty).
std::string jws_header_json(JwsAlg alg, const std::string& kid);

/// Sign base64url(header_json) "." base64url(payload_json) with `key` and return the compact
/// token. The texts are used byte for byte (tests sign deliberately odd headers/payloads);
/// the header's alg is not checked against the key.
/// @return the token, or Error{EINVAL/EIO} naming the failing step.
Expected<std::string> jws_sign(std::string_view header_json, std::string_view payload_json,
                               const SigningKey& key);

}  // namespace tg::controlplane
