// Test-token keys and signing with wolfCrypt. See token_sign.h.
#include "controlplane/token_sign.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/wc_port.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

namespace tg::controlplane {

namespace {

using json = nlohmann::json;

constexpr int kRsaGenerateBits = 2048;
constexpr int kP256Bytes = 32;
constexpr size_t kDerMax = 4096;  ///< a 4096-bit RSAPrivateKey is ~2.4 KB

void wolfcrypt_ready() {
  static const int rc = wolfCrypt_Init();
  (void)rc;
}

Error wc_error(const char* call, int rc) {
  return make_error(EIO, std::string(call) + " failed: " + std::to_string(rc) + " (" +
                             wc_GetErrorString(rc) + ")");
}

struct Rng {
  WC_RNG rng;
  int init_rc = -1;
  Rng() { init_rc = wc_InitRng(&rng); }
  ~Rng() {
    if (init_rc == 0) wc_FreeRng(&rng);
  }
  Rng(const Rng&) = delete;
  Rng& operator=(const Rng&) = delete;
};

struct Rsa {
  RsaKey key;
  int init_rc = -1;
  Rsa() { init_rc = wc_InitRsaKey(&key, nullptr); }
  ~Rsa() {
    if (init_rc == 0) wc_FreeRsaKey(&key);
  }
  Rsa(const Rsa&) = delete;
  Rsa& operator=(const Rsa&) = delete;
};

struct Ecc {
  ecc_key key;
  int init_rc = -1;
  Ecc() { init_rc = wc_ecc_init(&key); }
  ~Ecc() {
    if (init_rc == 0) wc_ecc_free(&key);
  }
  Ecc(const Ecc&) = delete;
  Ecc& operator=(const Ecc&) = delete;
};

/// Decode SigningKey::der (or any DER wolfCrypt's decoders take, PKCS#8 included).
Expected<bool> rsa_decode(Rsa& rsa, const std::vector<uint8_t>& der) {
  if (rsa.init_rc != 0) return wc_error("wc_InitRsaKey", rsa.init_rc);
  word32 idx = 0;
  if (const int rc = wc_RsaPrivateKeyDecode(der.data(), &idx, &rsa.key, static_cast<word32>(der.size()));
      rc != 0) {
    return make_error(EINVAL, "not an RSA private key (wolfCrypt " + std::to_string(rc) + ")");
  }
  const int bits = wc_RsaEncryptSize(&rsa.key) * 8;
  if (bits < static_cast<int>(kRsaMinBits) || bits > static_cast<int>(kRsaMaxBits)) {
    return make_error(EINVAL, "RSA key of " + std::to_string(bits) + " bits is not in 2048..4096");
  }
  return true;
}

Expected<bool> ecc_decode(Ecc& ecc, const std::vector<uint8_t>& der) {
  if (ecc.init_rc != 0) return wc_error("wc_ecc_init", ecc.init_rc);
  word32 idx = 0;
  if (const int rc = wc_EccPrivateKeyDecode(der.data(), &idx, &ecc.key, static_cast<word32>(der.size()));
      rc != 0) {
    return make_error(EINVAL, "not an EC private key (wolfCrypt " + std::to_string(rc) + ")");
  }
  if (wc_ecc_get_curve_id(ecc.key.idx) != ECC_SECP256R1) {
    return make_error(EINVAL, "EC key is not on P-256");
  }
  // SEC1 keys may omit the public point (openssl -noout variants): derive it.
  if (ecc.key.type == ECC_PRIVATEKEY_ONLY) {
    if (const int rc = wc_ecc_make_pub(&ecc.key, nullptr); rc != 0) return wc_error("wc_ecc_make_pub", rc);
  }
  return true;
}

Expected<std::vector<uint8_t>> rsa_to_der(Rsa& rsa) {
  std::vector<uint8_t> der(kDerMax);
  const int len = wc_RsaKeyToDer(&rsa.key, der.data(), static_cast<word32>(der.size()));
  if (len <= 0) return wc_error("wc_RsaKeyToDer", len);
  der.resize(static_cast<size_t>(len));
  return der;
}

Expected<std::vector<uint8_t>> ecc_to_der(Ecc& ecc) {
  std::vector<uint8_t> der(kDerMax);
  const int len = wc_EccKeyToDer(&ecc.key, der.data(), static_cast<word32>(der.size()));
  if (len <= 0) return wc_error("wc_EccKeyToDer", len);
  der.resize(static_cast<size_t>(len));
  return der;
}

}  // namespace

Expected<SigningKey> signing_key_generate(JwsAlg alg) {
  wolfcrypt_ready();
  Rng rng;
  if (rng.init_rc != 0) return wc_error("wc_InitRng", rng.init_rc);
  SigningKey out;
  out.alg = alg;
  if (alg == JwsAlg::rs256) {
    Rsa rsa;
    if (rsa.init_rc != 0) return wc_error("wc_InitRsaKey", rsa.init_rc);
    if (const int rc = wc_MakeRsaKey(&rsa.key, kRsaGenerateBits, WC_RSA_EXPONENT, &rng.rng); rc != 0) {
      return wc_error("wc_MakeRsaKey", rc);
    }
    auto der = rsa_to_der(rsa);
    if (!der) return der.error();
    out.der = std::move(*der);
  } else {
    Ecc ecc;
    if (ecc.init_rc != 0) return wc_error("wc_ecc_init", ecc.init_rc);
    if (const int rc = wc_ecc_make_key_ex(&rng.rng, kP256Bytes, &ecc.key, ECC_SECP256R1); rc != 0) {
      return wc_error("wc_ecc_make_key_ex", rc);
    }
    auto der = ecc_to_der(ecc);
    if (!der) return der.error();
    out.der = std::move(*der);
  }
  return out;
}

Expected<SigningKey> signing_key_load(std::string_view pem_or_der, JwsAlg alg) {
  wolfcrypt_ready();
  if (pem_or_der.empty() || pem_or_der.size() > 64 * 1024) {
    return make_error(EINVAL, "key file is empty or larger than 64 KiB");
  }
  std::vector<uint8_t> der;
  if (pem_or_der.find("-----BEGIN") != std::string_view::npos) {
    der.resize(pem_or_der.size());  // DER is shorter than its base64
    const int len = wc_KeyPemToDer(reinterpret_cast<const unsigned char*>(pem_or_der.data()),
                                   static_cast<int>(pem_or_der.size()), der.data(),
                                   static_cast<int>(der.size()), nullptr);
    if (len <= 0) {
      return make_error(EINVAL, "PEM holds no unencrypted private key (wolfCrypt " +
                                    std::to_string(len) + ")");
    }
    der.resize(static_cast<size_t>(len));
  } else {
    der.assign(pem_or_der.begin(), pem_or_der.end());
  }
  // Decode and re-encode: PKCS#8 input becomes PKCS#1 / SEC1, and the key is checked.
  SigningKey out;
  out.alg = alg;
  if (alg == JwsAlg::rs256) {
    Rsa rsa;
    if (auto ok = rsa_decode(rsa, der); !ok) return ok.error();
    auto again = rsa_to_der(rsa);
    if (!again) return again.error();
    out.der = std::move(*again);
  } else {
    Ecc ecc;
    if (auto ok = ecc_decode(ecc, der); !ok) return ok.error();
    auto again = ecc_to_der(ecc);
    if (!again) return again.error();
    out.der = std::move(*again);
  }
  return out;
}

Expected<std::string> signing_key_pem(const SigningKey& key) {
  wolfcrypt_ready();
  std::string pem(key.der.size() * 2 + 128, '\0');  // base64 + line breaks + armour
  const int type = key.alg == JwsAlg::rs256 ? PRIVATEKEY_TYPE : ECC_PRIVATEKEY_TYPE;
  const int len = wc_DerToPem(key.der.data(), static_cast<word32>(key.der.size()),
                              reinterpret_cast<byte*>(pem.data()), static_cast<word32>(pem.size()), type);
  if (len <= 0) return wc_error("wc_DerToPem", len);
  pem.resize(static_cast<size_t>(len));
  return pem;
}

Expected<Jwk> signing_key_public(const SigningKey& key, const std::string& kid) {
  wolfcrypt_ready();
  Jwk jwk;
  jwk.kid = kid;
  jwk.alg = key.alg;
  if (key.alg == JwsAlg::rs256) {
    Rsa rsa;
    if (auto ok = rsa_decode(rsa, key.der); !ok) return ok.error();
    std::vector<uint8_t> n(kRsaMaxBits / 8), e(8);
    word32 n_len = static_cast<word32>(n.size()), e_len = static_cast<word32>(e.size());
    if (const int rc = wc_RsaFlattenPublicKey(&rsa.key, e.data(), &e_len, n.data(), &n_len); rc != 0) {
      return wc_error("wc_RsaFlattenPublicKey", rc);
    }
    n.resize(n_len);
    e.resize(e_len);
    jwk.n = std::move(n);
    jwk.e = std::move(e);
  } else {
    Ecc ecc;
    if (auto ok = ecc_decode(ecc, key.der); !ok) return ok.error();
    std::vector<uint8_t> x(kP256Bytes), y(kP256Bytes);
    word32 x_len = kP256Bytes, y_len = kP256Bytes;
    if (const int rc = wc_ecc_export_public_raw(&ecc.key, x.data(), &x_len, y.data(), &y_len); rc != 0) {
      return wc_error("wc_ecc_export_public_raw", rc);
    }
    if (x_len != kP256Bytes || y_len != kP256Bytes) {
      return make_error(EIO, "wc_ecc_export_public_raw gave short coordinates");
    }
    jwk.x = std::move(x);
    jwk.y = std::move(y);
  }
  return jwk;
}

std::string jwk_to_json(const Jwk& key) {
  json j = json::object();
  if (key.alg == JwsAlg::rs256) {
    j["kty"] = "RSA";
  } else {
    j["kty"] = "EC";
    j["crv"] = "P-256";
  }
  if (!key.kid.empty()) j["kid"] = key.kid;
  j["use"] = "sig";
  j["alg"] = jws_alg_name(key.alg);
  if (key.alg == JwsAlg::rs256) {
    j["n"] = base64url_encode(key.n.data(), key.n.size());
    j["e"] = base64url_encode(key.e.data(), key.e.size());
  } else {
    j["x"] = base64url_encode(key.x.data(), key.x.size());
    j["y"] = base64url_encode(key.y.data(), key.y.size());
  }
  // A kid given on a command line may be any bytes: never throw on invalid UTF-8.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Expected<std::string> jwks_upsert(std::string_view jwks_text, const Jwk& key) {
  json set;
  if (jwks_text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    set = json{{"keys", json::array()}};
  } else {
    set = json::parse(jwks_text.begin(), jwks_text.end(), nullptr, /*allow_exceptions=*/false);
    if (set.is_discarded()) return make_error(EINVAL, "not valid JSON");
    if (!set.is_object()) return make_error(EINVAL, "not a JSON object");
    const auto keys = set.find("keys");
    if (keys == set.end() || !keys->is_array()) return make_error(EINVAL, "no \"keys\" array");
  }
  json& keys = set["keys"];
  json kept = json::array();
  for (json& entry : keys) {
    const bool same_kid = entry.is_object() && entry.contains("kid") && entry["kid"].is_string() &&
                          entry["kid"].get_ref<const std::string&>() == key.kid;
    if (!same_kid) kept.push_back(std::move(entry));
  }
  const json fresh = json::parse(jwk_to_json(key), nullptr, /*allow_exceptions=*/false);
  kept.push_back(fresh);
  keys = std::move(kept);
  return set.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string jws_header_json(JwsAlg alg, const std::string& kid) {
  json h = json::object();
  h["alg"] = jws_alg_name(alg);
  h["typ"] = "JWT";
  if (!kid.empty()) h["kid"] = kid;
  return h.dump(-1, ' ', false, json::error_handler_t::replace);
}

Expected<std::string> jws_sign(std::string_view header_json, std::string_view payload_json,
                               const SigningKey& key) {
  wolfcrypt_ready();
  const std::string input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  std::array<uint8_t, WC_SHA256_DIGEST_SIZE> hash{};
  if (const int rc = wc_Sha256Hash(reinterpret_cast<const byte*>(input.data()),
                                   static_cast<word32>(input.size()), hash.data());
      rc != 0) {
    return wc_error("wc_Sha256Hash", rc);
  }
  Rng rng;
  if (rng.init_rc != 0) return wc_error("wc_InitRng", rng.init_rc);
  std::vector<uint8_t> sig;
  if (key.alg == JwsAlg::rs256) {
    Rsa rsa;
    if (auto ok = rsa_decode(rsa, key.der); !ok) return ok.error();
    // EMSA-PKCS1-v1_5: wolfCrypt adds the 00 01 FF.. 00 padding; we supply the DigestInfo.
    std::array<uint8_t, kSha256DigestInfoPrefix.size() + WC_SHA256_DIGEST_SIZE> info{};
    std::memcpy(info.data(), kSha256DigestInfoPrefix.data(), kSha256DigestInfoPrefix.size());
    std::memcpy(info.data() + kSha256DigestInfoPrefix.size(), hash.data(), hash.size());
    sig.resize(static_cast<size_t>(wc_RsaEncryptSize(&rsa.key)));
    const int len = wc_RsaSSL_Sign(info.data(), static_cast<word32>(info.size()), sig.data(),
                                   static_cast<word32>(sig.size()), &rsa.key, &rng.rng);
    if (len <= 0) return wc_error("wc_RsaSSL_Sign", len);
    sig.resize(static_cast<size_t>(len));
  } else {
    Ecc ecc;
    if (auto ok = ecc_decode(ecc, key.der); !ok) return ok.error();
    std::array<uint8_t, 80> der{};
    word32 der_len = der.size();
    if (const int rc = wc_ecc_sign_hash(hash.data(), hash.size(), der.data(), &der_len, &rng.rng, &ecc.key);
        rc != 0) {
      return wc_error("wc_ecc_sign_hash", rc);
    }
    // DER SEQUENCE { r, s } -> JWS r || s, each left-padded to 32 bytes (RFC 7518 §3.4).
    std::array<uint8_t, kP256Bytes> r{}, s{};
    word32 r_len = r.size(), s_len = s.size();
    if (const int rc = wc_ecc_sig_to_rs(der.data(), der_len, r.data(), &r_len, s.data(), &s_len); rc != 0) {
      return wc_error("wc_ecc_sig_to_rs", rc);
    }
    sig.assign(2 * kP256Bytes, 0);
    std::memcpy(sig.data() + (kP256Bytes - r_len), r.data(), r_len);
    std::memcpy(sig.data() + 2 * kP256Bytes - s_len, s.data(), s_len);
  }
  return input + "." + base64url_encode(sig.data(), sig.size());
}

}  // namespace tg::controlplane
