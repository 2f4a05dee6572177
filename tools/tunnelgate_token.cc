// tunnelgate-token: keys and bearer tokens (JWT) for test beds, labs and load generators
// (docs/tokens.md). Two subcommands, each parsing its own options:
//   keygen  a new RS256/ES256 key: private key PEM (0600), public JWK added to a JWKS file
//   sign    a compact JWT on stdout, with chosen claims and times (or a broken signature)
// Exit status: 0 done, 1 failure (I/O, bad key or JWKS), 2 usage.
// Single-threaded command-line tool.
#include <fcntl.h>
#include <getopt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/token_sign.h"
#include "controlplane/token_verifier.h"

namespace {

using json = nlohmann::json;
using tg::controlplane::JwsAlg;

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr size_t kKeyFileMax = 64 * 1024;
constexpr int64_t kDefaultLifetimeS = 3600;

// ------------------------------------------------------------------------------ file helpers

/// The whole file, or nullopt with errno set (ENOENT for a missing file). At most `max` bytes.
std::optional<std::string> read_file(const std::string& path, size_t max) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[8192];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      errno = err;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max) {
      close(fd);
      errno = EFBIG;
      return std::nullopt;
    }
  }
  close(fd);
  return out;
}

/// Write `data` to an open fd, fsync and close it. @return false with errno set.
bool write_all_and_close(int fd, const std::string& data) {
  for (size_t off = 0; off < data.size();) {
    const ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      errno = err;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    const int err = errno;
    close(fd);
    errno = err;
    return false;
  }
  return close(fd) == 0;
}

/// The private key: mode 0600 whatever the umask; refuses to replace a file unless `force`.
bool write_private(const std::string& path, const std::string& data, bool force, std::string& error) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
  const int fd = open(path.c_str(), flags, 0600);
  if (fd < 0) {
    error = path + ": " + std::strerror(errno) + (errno == EEXIST ? " (use --force to replace it)" : "");
    return false;
  }
  if (fchmod(fd, 0600) != 0 || !write_all_and_close(fd, data)) {
    error = path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

/// A public file replaced atomically (temporary file + rename, mode 0644): a control plane
/// watching it sees the old or the new version, never half of one.
bool write_public_atomic(const std::string& path, const std::string& data, std::string& error) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = tmp + ": " + std::strerror(errno);
    return false;
  }
  if (fchmod(fd, 0644) != 0 || !write_all_and_close(fd, data) || rename(tmp.c_str(), path.c_str()) != 0) {
    error = path + ": " + std::strerror(errno);
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

// ------------------------------------------------------------------------------ arguments

std::optional<JwsAlg> alg_parse(const char* text) {
  if (std::strcmp(text, "RS256") == 0) return JwsAlg::rs256;
  if (std::strcmp(text, "ES256") == 0) return JwsAlg::es256;
  return std::nullopt;
}

std::optional<int64_t> int_parse(const char* text) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') return std::nullopt;
  return static_cast<int64_t>(v);
}

/// Common end of a usage error.
int usage_error(const char* cmd, const std::string& message, void (*usage)(FILE*)) {
  std::fprintf(stderr, "tunnelgate-token %s: %s\n", cmd, message.c_str());
  usage(stderr);
  return kExitUsage;
}

// ---------------------------------------------------------------------------------- keygen

void keygen_usage(FILE* out) {
  std::fprintf(out,
               "usage: tunnelgate-token keygen --alg RS256|ES256 --kid KID --key-out FILE [--jwks FILE] [--force]\n"
               "\n"
               "Generate a signing key with wolfCrypt (RS256: RSA-2048, e=65537; ES256: P-256),\n"
               "write the private key as PEM to FILE (mode 0600) and print its public JWK on stdout.\n"
               "\n"
               "  --alg ALG       RS256 or ES256\n"
               "  --kid KID       the key id tokens name in their header (non-empty)\n"
               "  --key-out FILE  where the private key goes; an existing file is kept unless --force\n"
               "  --jwks FILE     also add the public key to this JWKS (created if absent; an entry\n"
               "                  with the same kid is replaced; written atomically, mode 0644)\n"
               "  --force         replace an existing --key-out file\n"
               "  -h, --help      this text\n"
               "\n"
               "Exit status: 0 done, 1 error, 2 usage.\n");
}

int cmd_keygen(int argc, char** argv) {
  static const option kOptions[] = {
      {"alg", required_argument, nullptr, 'a'},  {"kid", required_argument, nullptr, 'k'},
      {"key-out", required_argument, nullptr, 'o'}, {"jwks", required_argument, nullptr, 'j'},
      {"force", no_argument, nullptr, 'f'},      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  std::optional<JwsAlg> alg;
  std::string kid, key_out, jwks;
  bool force = false;
  optind = 0;  // GNU: 0 also re-initialises getopt
  opterr = 0;
  int c = 0;
  while ((c = getopt_long(argc, argv, "h", kOptions, nullptr)) != -1) {
    switch (c) {
      case 'a':
        alg = alg_parse(optarg);
        if (!alg) return usage_error("keygen", std::string("--alg '") + optarg + "' is not RS256 or ES256", keygen_usage);
        break;
      case 'k': kid = optarg; break;
      case 'o': key_out = optarg; break;
      case 'j': jwks = optarg; break;
      case 'f': force = true; break;
      case 'h': keygen_usage(stdout); return kExitOk;
      default:
        return usage_error("keygen", std::string("unknown or incomplete option '") + argv[optind - 1] + "'",
                           keygen_usage);
    }
  }
  if (optind != argc) return usage_error("keygen", std::string("unexpected argument '") + argv[optind] + "'", keygen_usage);
  if (!alg) return usage_error("keygen", "--alg is required", keygen_usage);
  if (kid.empty()) return usage_error("keygen", "--kid is required (non-empty)", keygen_usage);
  if (key_out.empty()) return usage_error("keygen", "--key-out is required", keygen_usage);

  // Check the JWKS first, so a bad one leaves no orphan private key behind.
  std::string jwks_text;
  if (!jwks.empty()) {
    auto text = read_file(jwks, tg::controlplane::kJwksMaxBytes);
    if (text) {
      jwks_text = std::move(*text);
    } else if (errno != ENOENT) {
      std::fprintf(stderr, "tunnelgate-token keygen: %s: %s\n", jwks.c_str(), std::strerror(errno));
      return kExitError;
    }
  }
  auto key = tg::controlplane::signing_key_generate(*alg);
  if (!key) {
    std::fprintf(stderr, "tunnelgate-token keygen: %s\n", key.error().message.c_str());
    return kExitError;
  }
  auto pub = tg::controlplane::signing_key_public(*key, kid);
  auto pem = tg::controlplane::signing_key_pem(*key);
  if (!pub || !pem) {
    std::fprintf(stderr, "tunnelgate-token keygen: %s\n",
                 (!pub ? pub.error() : pem.error()).message.c_str());
    return kExitError;
  }
  std::string new_jwks;
  if (!jwks.empty()) {
    auto updated = tg::controlplane::jwks_upsert(jwks_text, *pub);
    if (!updated) {
      std::fprintf(stderr, "tunnelgate-token keygen: %s: %s\n", jwks.c_str(), updated.error().message.c_str());
      return kExitError;
    }
    new_jwks = std::move(*updated);
  }
  std::string error;
  if (!write_private(key_out, *pem, force, error)) {
    std::fprintf(stderr, "tunnelgate-token keygen: %s\n", error.c_str());
    return kExitError;
  }
  if (!jwks.empty() && !write_public_atomic(jwks, new_jwks, error)) {
    std::fprintf(stderr, "tunnelgate-token keygen: %s\n", error.c_str());
    return kExitError;
  }
  std::printf("%s\n", tg::controlplane::jwk_to_json(*pub).c_str());
  return kExitOk;
}

// ------------------------------------------------------------------------------------ sign

void sign_usage(FILE* out) {
  std::fprintf(out,
               "usage: tunnelgate-token sign --key FILE [--alg RS256|ES256] [--kid KID] [claims] [times]\n"
               "                             [--corrupt-signature]\n"
               "\n"
               "Print a signed JWT (JWS compact) on stdout. The header is {\"alg\",\"typ\":\"JWT\",\"kid\"}.\n"
               "\n"
               "  --key FILE            private key, PEM (RSA/EC/PKCS#8 unencrypted) or DER\n"
               "  --alg ALG             RS256 or ES256; default: the type of the key\n"
               "  --kid KID             header kid; none when omitted (the verifier then needs\n"
               "                        exactly one key of that alg)\n"
               "claims (strings; a repeated --aud makes an array):\n"
               "  --iss S  --aud S  --sub S  --upn S  --appid S\n"
               "  --claim NAME=VALUE    any string claim (set after the ones above)\n"
               "  --claim-json NAME=JSON  any claim as JSON: 42, true, [\"a\",\"b\"], {\"x\":1}\n"
               "  --omit NAME           leave claim NAME out (e.g. --omit exp, --omit iat)\n"
               "times (seconds relative to now; negative values are in the past):\n"
               "  --exp-in S            exp = now + S (default 3600; -60 makes an expired token)\n"
               "  --nbf-in S            nbf = now + S (default: no nbf)\n"
               "  --iat-in S            iat = now + S (default 0)\n"
               "  --now UNIX            take this as now (default: the clock)\n"
               "  --corrupt-signature   flip one bit of the signature (a token_bad_signature case)\n"
               "  -h, --help            this text\n"
               "\n"
               "Exit status: 0 done, 1 error (key file), 2 usage.\n");
}

/// "NAME=VALUE" -> (NAME, VALUE); nullopt when there is no '=' or NAME is empty.
std::optional<std::pair<std::string, std::string>> name_value(const char* text) {
  const char* eq = std::strchr(text, '=');
  if (eq == nullptr || eq == text) return std::nullopt;
  return std::pair{std::string(text, eq), std::string(eq + 1)};
}

int cmd_sign(int argc, char** argv) {
  enum : int { kIss = 256, kAud, kSub, kUpn, kAppid, kClaim, kClaimJson, kOmit, kExpIn, kNbfIn, kIatIn, kNow, kCorrupt };
  static const option kOptions[] = {
      {"key", required_argument, nullptr, 'K'},     {"alg", required_argument, nullptr, 'a'},
      {"kid", required_argument, nullptr, 'k'},     {"iss", required_argument, nullptr, kIss},
      {"aud", required_argument, nullptr, kAud},    {"sub", required_argument, nullptr, kSub},
      {"upn", required_argument, nullptr, kUpn},    {"appid", required_argument, nullptr, kAppid},
      {"claim", required_argument, nullptr, kClaim}, {"claim-json", required_argument, nullptr, kClaimJson},
      {"omit", required_argument, nullptr, kOmit},  {"exp-in", required_argument, nullptr, kExpIn},
      {"nbf-in", required_argument, nullptr, kNbfIn}, {"iat-in", required_argument, nullptr, kIatIn},
      {"now", required_argument, nullptr, kNow},    {"corrupt-signature", no_argument, nullptr, kCorrupt},
      {"help", no_argument, nullptr, 'h'},          {nullptr, 0, nullptr, 0},
  };
  std::string key_file, kid;
  std::optional<JwsAlg> alg;
  json claims = json::object();
  std::vector<std::string> audiences;
  std::vector<std::pair<std::string, json>> extra;  // --claim / --claim-json, in order
  std::vector<std::string> omit;
  int64_t exp_in = kDefaultLifetimeS, iat_in = 0;
  std::optional<int64_t> nbf_in, now_arg;
  bool corrupt = false;
  optind = 0;
  opterr = 0;
  int c = 0;
  while ((c = getopt_long(argc, argv, "h", kOptions, nullptr)) != -1) {
    std::optional<int64_t> number;
    switch (c) {
      case 'K': key_file = optarg; break;
      case 'a':
        alg = alg_parse(optarg);
        if (!alg) return usage_error("sign", std::string("--alg '") + optarg + "' is not RS256 or ES256", sign_usage);
        break;
      case 'k': kid = optarg; break;
      case kIss: claims["iss"] = optarg; break;
      case kAud: audiences.emplace_back(optarg); break;
      case kSub: claims["sub"] = optarg; break;
      case kUpn: claims["upn"] = optarg; break;
      case kAppid: claims["appid"] = optarg; break;
      case kClaim: {
        auto nv = name_value(optarg);
        if (!nv) return usage_error("sign", std::string("--claim '") + optarg + "' is not NAME=VALUE", sign_usage);
        extra.emplace_back(nv->first, json(nv->second));
        break;
      }
      case kClaimJson: {
        auto nv = name_value(optarg);
        if (!nv) return usage_error("sign", std::string("--claim-json '") + optarg + "' is not NAME=JSON", sign_usage);
        json value = json::parse(nv->second, nullptr, /*allow_exceptions=*/false);
        if (value.is_discarded()) {
          return usage_error("sign", "--claim-json " + nv->first + ": '" + nv->second + "' is not JSON", sign_usage);
        }
        extra.emplace_back(nv->first, std::move(value));
        break;
      }
      case kOmit: omit.emplace_back(optarg); break;
      case kExpIn:
      case kNbfIn:
      case kIatIn:
      case kNow:
        number = int_parse(optarg);
        if (!number || *number > (int64_t{1} << 40) || *number < -(int64_t{1} << 40)) {
          return usage_error("sign", std::string("'") + optarg + "' is not an integer number of seconds", sign_usage);
        }
        if (c == kExpIn) exp_in = *number;
        if (c == kNbfIn) nbf_in = *number;
        if (c == kIatIn) iat_in = *number;
        if (c == kNow) now_arg = *number;
        break;
      case kCorrupt: corrupt = true; break;
      case 'h': sign_usage(stdout); return kExitOk;
      default:
        return usage_error("sign", std::string("unknown or incomplete option '") + argv[optind - 1] + "'", sign_usage);
    }
  }
  if (optind != argc) return usage_error("sign", std::string("unexpected argument '") + argv[optind] + "'", sign_usage);
  if (key_file.empty()) return usage_error("sign", "--key is required", sign_usage);

  auto text = read_file(key_file, kKeyFileMax);
  if (!text) {
    std::fprintf(stderr, "tunnelgate-token sign: %s: %s\n", key_file.c_str(), std::strerror(errno));
    return kExitError;
  }
  // Without --alg, the key says which: try RSA, then EC.
  auto key = tg::controlplane::signing_key_load(*text, alg.value_or(JwsAlg::rs256));
  if (!key && !alg) key = tg::controlplane::signing_key_load(*text, JwsAlg::es256);
  if (!key) {
    std::fprintf(stderr, "tunnelgate-token sign: %s: %s\n", key_file.c_str(), key.error().message.c_str());
    return kExitError;
  }

  const int64_t now = now_arg.value_or(static_cast<int64_t>(std::time(nullptr)));
  if (audiences.size() == 1) claims["aud"] = audiences.front();
  if (audiences.size() > 1) claims["aud"] = audiences;
  claims["exp"] = now + exp_in;
  claims["iat"] = now + iat_in;
  if (nbf_in) claims["nbf"] = now + *nbf_in;
  for (auto& [name, value] : extra) claims[name] = std::move(value);
  for (const std::string& name : omit) claims.erase(name);

  const std::string header = tg::controlplane::jws_header_json(key->alg, kid);
  const std::string payload = claims.dump(-1, ' ', false, json::error_handler_t::replace);
  auto token = tg::controlplane::jws_sign(header, payload, *key);
  if (!token) {
    std::fprintf(stderr, "tunnelgate-token sign: %s\n", token.error().message.c_str());
    return kExitError;
  }
  if (corrupt) {
    // Flip the lowest bit of the signature's first byte: decode, flip, re-encode, so the token
    // stays well-formed base64url and only the signature check can fail.
    const size_t dot = token->rfind('.');
    auto sig = tg::controlplane::base64url_decode(std::string_view(*token).substr(dot + 1));
    if (sig && !sig->empty()) {
      (*sig)[0] ^= 0x01;
      *token = token->substr(0, dot + 1) + tg::controlplane::base64url_encode(sig->data(), sig->size());
    }
  }
  std::printf("%s\n", token->c_str());
  return kExitOk;
}

// ------------------------------------------------------------------------------------ main

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);  ///< argv[0] is the command name
};

constexpr Command kCommands[] = {
    {"keygen", "generate an RS256/ES256 key; add its public JWK to a JWKS", cmd_keygen},
    {"sign", "print a signed JWT with the given claims", cmd_sign},
};

void usage(FILE* out) {
  std::fprintf(out, "usage: tunnelgate-token COMMAND [ARGS] (COMMAND --help for its options)\n\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-7s %s\n", c.name, c.summary);
  std::fprintf(out, "\nExit status: 0 done, 1 error, 2 usage. See docs/tokens.md.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return kExitUsage;
  }
  if (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return kExitOk;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) == 0) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "tunnelgate-token: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return kExitUsage;
}
