// Control plane: argon2id PHC hashing and verification. See password_hash.h.
#include "controlplane/password_hash.h"

#include <argon2.h>
#include <sys/random.h>

#include <cerrno>
#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

namespace tg::controlplane {

namespace {

bool is_b64(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

/// Bytes encoded by an unpadded base64 text of `n` characters, or 0 when n is impossible.
size_t b64_decoded_len(size_t n) {
  if (n % 4 == 1) return 0;
  return n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
}

Expected<uint32_t> parse_u32(std::string_view s, std::string_view what) {
  uint32_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || (s.size() > 1 && s[0] == '0')) {
    return make_error(EINVAL, std::string(what) + " '" + std::string(s) + "' is not a number");
  }
  return v;
}

}  // namespace

Status argon2_params_check(const Argon2Params& p) {
  if (p.m_kib < kArgon2MinMemoryKib || p.m_kib > kArgon2MaxMemoryKib) {
    return make_error(EINVAL, "argon2 memory m=" + std::to_string(p.m_kib) + " KiB not in " +
                                  std::to_string(kArgon2MinMemoryKib) + ".." +
                                  std::to_string(kArgon2MaxMemoryKib));
  }
  if (p.t < 1 || p.t > kArgon2MaxPasses) {
    return make_error(EINVAL, "argon2 passes t=" + std::to_string(p.t) + " not in 1.." +
                                  std::to_string(kArgon2MaxPasses));
  }
  if (p.p < 1 || p.p > kArgon2MaxLanes) {
    return make_error(EINVAL, "argon2 lanes p=" + std::to_string(p.p) + " not in 1.." +
                                  std::to_string(kArgon2MaxLanes));
  }
  if (p.m_kib < 8 * p.p) {
    return make_error(EINVAL, "argon2 memory m=" + std::to_string(p.m_kib) +
                                  " KiB is less than 8 KiB per lane (p=" + std::to_string(p.p) + ")");
  }
  return Ok{};
}

Expected<Argon2Params> argon2_params_parse(std::string_view text) {
  Argon2Params out;
  bool seen_m = false, seen_t = false, seen_p = false;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t comma = std::min(text.find(',', pos), text.size());
    const std::string_view item = text.substr(pos, comma - pos);
    if (item.size() < 3 || item[1] != '=') {
      return make_error(EINVAL, "argon2 parameter '" + std::string(item) + "' is not k=v");
    }
    auto v = parse_u32(item.substr(2), item.substr(0, 1));
    if (!v) return v.error();
    bool* seen = nullptr;
    switch (item[0]) {
      case 'm': out.m_kib = *v; seen = &seen_m; break;
      case 't': out.t = *v; seen = &seen_t; break;
      case 'p': out.p = *v; seen = &seen_p; break;
      default:
        return make_error(EINVAL, "unknown argon2 parameter '" + std::string(item.substr(0, 1)) +
                                      "' (expected m, t, p)");
    }
    if (*seen) return make_error(EINVAL, "argon2 parameter '" + std::string(item.substr(0, 1)) + "' repeated");
    *seen = true;
    pos = comma + 1;
  }
  if (!(seen_m && seen_t && seen_p)) {
    return make_error(EINVAL, "argon2 parameters need m=, t= and p= (got '" + std::string(text) + "')");
  }
  if (auto ok = argon2_params_check(out); !ok) return ok.error();
  return out;
}

Expected<PhcInfo> phc_parse(std::string_view s) {
  constexpr std::string_view kPrefix = "$argon2id$";
  if (s.substr(0, kPrefix.size()) != kPrefix) {
    return make_error(EINVAL, "hash is not an argon2id PHC string (must start with $argon2id$)");
  }
  // $argon2id$v=19$m=..,t=..,p=..$salt$hash  -> fields after the prefix, split on '$'
  std::vector<std::string_view> f;
  size_t pos = kPrefix.size();
  while (true) {
    const size_t d = s.find('$', pos);
    f.push_back(s.substr(pos, d == std::string_view::npos ? std::string_view::npos : d - pos));
    if (d == std::string_view::npos) break;
    pos = d + 1;
  }
  if (f.size() != 4) {
    return make_error(EINVAL, "argon2id hash must be $argon2id$v=19$m=M,t=T,p=P$SALT$HASH (" +
                                  std::to_string(f.size()) + " fields after the algorithm)");
  }
  if (f[0] != "v=19") {
    return make_error(EINVAL, "argon2 version '" + std::string(f[0]) + "' is not v=19");
  }
  // libargon2 writes m,t,p in this order; accept only that order (what it can verify).
  const std::string_view params = f[1];
  if (params.substr(0, 2) != "m=") return make_error(EINVAL, "argon2 parameters must start with m=");
  const size_t c1 = params.find(",t=");
  const size_t c2 = params.find(",p=");
  if (c1 == std::string_view::npos || c2 == std::string_view::npos || c2 < c1) {
    return make_error(EINVAL, "argon2 parameters '" + std::string(params) + "' are not m=M,t=T,p=P");
  }
  PhcInfo info;
  auto m = parse_u32(params.substr(2, c1 - 2), "m");
  auto t = parse_u32(params.substr(c1 + 3, c2 - c1 - 3), "t");
  auto p = parse_u32(params.substr(c2 + 3), "p");
  if (!m) return m.error();
  if (!t) return t.error();
  if (!p) return p.error();
  info.params = {*m, *t, *p};
  if (auto ok = argon2_params_check(info.params); !ok) return ok.error();
  for (int i : {2, 3}) {
    for (char c : f[static_cast<size_t>(i)]) {
      if (!is_b64(c)) {
        return make_error(EINVAL, std::string(i == 2 ? "salt" : "hash") +
                                      " is not unpadded base64 (character '" + std::string(1, c) + "')");
      }
    }
  }
  info.salt_bytes = b64_decoded_len(f[2].size());
  info.hash_bytes = b64_decoded_len(f[3].size());
  if (info.salt_bytes < 8 || info.salt_bytes > 64) {
    return make_error(EINVAL, "salt of " + std::to_string(info.salt_bytes) + " bytes not in 8..64");
  }
  if (info.hash_bytes < 16 || info.hash_bytes > 64) {
    return make_error(EINVAL, "hash of " + std::to_string(info.hash_bytes) + " bytes not in 16..64");
  }
  return info;
}

Expected<std::string> password_hash(std::string_view password, const Argon2Params& params) {
  if (auto ok = argon2_params_check(params); !ok) return ok.error();
  uint8_t salt[kArgon2SaltBytes];
  if (getrandom(salt, sizeof salt, 0) != static_cast<ssize_t>(sizeof salt)) {
    return make_error(EIO, std::string("getrandom failed: ") + std::strerror(errno));
  }
  std::string encoded(argon2_encodedlen(params.t, params.m_kib, params.p, sizeof salt,
                                        kArgon2HashBytes, Argon2_id),
                      '\0');
  const int rc = argon2id_hash_encoded(params.t, params.m_kib, params.p, password.data(),
                                       password.size(), salt, sizeof salt, kArgon2HashBytes,
                                       encoded.data(), encoded.size());
  if (rc != ARGON2_OK) {
    return make_error(EIO, std::string("argon2id_hash_encoded: ") + argon2_error_message(rc));
  }
  encoded.resize(std::strlen(encoded.c_str()));
  return encoded;
}

bool password_verify(const std::string& encoded, std::string_view password) {
  if (!phc_parse(encoded)) return false;
  return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace tg::controlplane
