// Control plane: argon2id password hashes in the PHC string format that libargon2 writes,
//   $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt, base64 unpadded>$<hash, base64 unpadded>
// (the format of ocserv's ocpasswd files, with argon2id instead of crypt()).
// Used by the users file (parse/validate), password_auth (verify) and tunnelgatectl (hash).
// Thread-safety: pure functions; argon2 allocates m KiB per call.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "controlplane/expected.h"

namespace tg::controlplane {

struct Argon2Params {
  uint32_t m_kib = 19456;  ///< memory in KiB (OWASP's argon2id minimum: 19 MiB, t=2, p=1)
  uint32_t t = 2;          ///< passes
  uint32_t p = 1;          ///< lanes
  bool operator==(const Argon2Params&) const = default;
};

/// Accepted ranges. Wider than anything sensible, narrower than argon2's own limits, so a
/// typo ("m=19" for 19 MiB) or a hostile file (m=4 TiB) is refused before any verification.
inline constexpr uint32_t kArgon2MinMemoryKib = 1024;     ///< 1 MiB
inline constexpr uint32_t kArgon2MaxMemoryKib = 4194304;  ///< 4 GiB
inline constexpr uint32_t kArgon2MaxPasses = 64;
inline constexpr uint32_t kArgon2MaxLanes = 64;
inline constexpr size_t kArgon2SaltBytes = 16;  ///< what password_hash() generates
inline constexpr size_t kArgon2HashBytes = 32;

/// A parsed, validated PHC string.
struct PhcInfo {
  Argon2Params params;
  size_t salt_bytes = 0;  ///< 8..64
  size_t hash_bytes = 0;  ///< 16..64
};

/// Check `encoded` is an argon2id v=19 PHC string with parameters in range.
/// @return the parameters, or Error{EINVAL, "..."} saying which part is wrong.
Expected<PhcInfo> phc_parse(std::string_view encoded);

/// Check parameters are in the accepted ranges. @return Error{EINVAL} naming the value.
Status argon2_params_check(const Argon2Params& params);

/// Parse "m=19456,t=2,p=1" (any order, all three required). @return Error{EINVAL}.
Expected<Argon2Params> argon2_params_parse(std::string_view text);

/// Hash `password` with a fresh random salt (getrandom). @return the PHC string, or an
/// Error (EINVAL for parameters out of range, EIO when argon2 or the RNG fail).
Expected<std::string> password_hash(std::string_view password, const Argon2Params& params);

/// True when `password` matches `encoded` (argon2id_verify: constant-time compare). False
/// for a mismatch and for a malformed or out-of-range `encoded` (checked first).
bool password_verify(const std::string& encoded, std::string_view password);

}  // namespace tg::controlplane
