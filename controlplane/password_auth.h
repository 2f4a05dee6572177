// Control plane: username/password verification against the users file.
//
// - Unknown users cost the same as known ones: the password is verified against a dummy
//   argon2id hash made at start-up with the default parameters, so the answer time does not
//   reveal whether a name exists (exact only when the file uses the default parameters).
//   Bad names, empty passwords and unknown users all answer denied/bad_credentials.
// - Failures are limited per user name (known or not): after max_failures failures within
//   window_ns the name is locked for lockout_ns and answered denied/rate_limited without
//   running argon2 (which also bounds the CPU an attacker can burn). A success clears the
//   name. The table is bounded (table_size names): when it is full, expired entries go
//   first, then the oldest. A flood of random names can thus evict a real user's counter;
//   that is the price of bounded memory. Locking a name out is a (time-limited) denial of
//   service on that user, as in ocserv's max-ban-score.
//
// Thread-safety: one thread (the ctl server thread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "api/ctl_messages.h"
#include "controlplane/users_file.h"

namespace tg::controlplane {

class PasswordAuthenticator {
 public:
  struct Options {
    uint32_t max_failures = 5;
    uint64_t window_ns = 300'000'000'000;   ///< failures older than this are forgotten
    uint64_t lockout_ns = 300'000'000'000;  ///< lock after max_failures
    size_t table_size = 4096;
  };

  struct Outcome {
    ctl::CtlResult result = ctl::CtlResult::denied;
    ctl::CtlReason reason = ctl::CtlReason::bad_credentials;
    std::string user;   ///< set when ok
    std::string group;  ///< set when ok: the user's group, or the requested one if it has none
  };

  /// @param users  outlives this object; reloaded (if changed) on every verify()
  PasswordAuthenticator(UsersFile& users, Options options);

  /// Verify a login.
  /// @param group  auth group the client chose ("" = none). A user whose file entry names a
  ///               group may only use that group (denied/group_not_allowed otherwise).
  /// @return ok, denied (bad_credentials, rate_limited, group_not_allowed) or try_again
  ///         (internal: the users file has never loaded).
  Outcome verify(std::string_view user, std::string_view password, std::string_view group,
                 uint64_t now_ns);

  /// Names currently in the failure table (tests, metrics).
  size_t tracked_names() const { return failures_.size(); }

 private:
  struct Failures {
    uint32_t count = 0;
    uint64_t first_ns = 0;        ///< first failure of the current window
    uint64_t locked_until_ns = 0;
    uint64_t last_ns = 0;
  };
  void record_failure(std::string_view user, uint64_t now_ns);
  void make_room(uint64_t now_ns);

  UsersFile& users_;
  Options options_;
  std::string dummy_hash_;
  std::unordered_map<std::string, Failures> failures_;
};

}  // namespace tg::controlplane
