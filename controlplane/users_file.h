// Control plane: the local users file, one user per line, like ocserv's ocpasswd:
//
//   # comment
//   alice:staff:$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
//   bob::$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>          (no group)
//
// name: [A-Za-z0-9._@-]{1,64}; group: "" or the same characters, 1..64; hash: an argon2id
// PHC string with parameters in range (password_hash.h). Blank lines and lines whose first
// non-blank character is '#' are ignored; a trailing '\r' is ignored. Every malformed line
// and every duplicate name is reported as "file:line: message"; a file with any error is
// not used (the previous table stays in force).
//
// Thread-safety: parse/edit functions are pure; a UsersFile is used by one thread (the
// ctl server thread).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "controlplane/expected.h"
#include "controlplane/file_watch.h"

namespace tg::controlplane {

inline constexpr size_t kUserNameMax = 64;

/// [A-Za-z0-9._@-]{1,64}
bool user_name_valid(std::string_view name);
/// "" or [A-Za-z0-9._@-]{1,64}
bool user_group_valid(std::string_view group);

struct UserEntry {
  std::string name;
  std::string group;  ///< "" = none
  std::string hash;   ///< validated PHC string
  int line = 0;
};

struct UsersFileIssue {
  std::string file;
  int line = 0;
  std::string message;
  /// "file:line: message"
  std::string to_string() const;
};

struct UsersFileParse {
  std::vector<UserEntry> users;         ///< the well-formed lines, in file order
  std::vector<UsersFileIssue> errors;   ///< every malformed line
  bool ok() const { return errors.empty(); }
};

/// Parse the text of a users file; `file` names it in errors. Never throws but bad_alloc.
UsersFileParse users_file_parse(std::string_view text, const std::string& file);

/// The users file as the control plane uses it: loaded, then reloaded when it changes.
class UsersFile {
 public:
  explicit UsersFile(std::string path);

  /// Re-read the file when its identity or mtime/size changed since the last successful
  /// load (or it was never loaded). A file with errors is rejected as a whole and the
  /// previous table stays.
  /// @return Ok (also when unchanged), or an Error whose message holds every issue, one per
  ///         line (ENOENT/EACCES for an unreadable file, EINVAL for syntax).
  Status reload_if_changed();

  /// The user, or nullptr.
  const UserEntry* find(std::string_view name) const;
  size_t size() const { return by_name_.size(); }
  const std::string& path() const { return path_; }
  /// Successful loads so far.
  uint64_t loads() const { return loads_; }

 private:
  std::string path_;
  std::optional<FileIdentity> loaded_;     ///< of the last successful load
  std::optional<FileIdentity> rejected_;   ///< of the last rejected version (not re-parsed)
  std::string rejected_message_;       ///< its issues, repeated while it is unchanged
  std::unordered_map<std::string, UserEntry> by_name_;
  uint64_t loads_ = 0;
};

// ------------------------------------------------------------------------ editing (tunnelgatectl)

enum class UserEdit : uint8_t {
  add,      ///< the user must not exist
  replace,  ///< the user must exist (new hash; group too when given)
  remove,   ///< the user must exist
};

/// Edit the text of a users file: add, replace or remove one user's line, keeping every
/// other line (comments included) byte for byte.
/// @param group  for add: the group ("" = none); for replace: nullopt keeps the old group
/// @return the new text, or Error: EINVAL (the file has errors, bad name/group/hash),
///         EEXIST (add of an existing user), ENOENT (replace/remove of a missing user).
Expected<std::string> users_file_edit(std::string_view text, const std::string& file,
                                      UserEdit edit, const std::string& name,
                                      const std::optional<std::string>& group,
                                      const std::string& hash);

/// Read `path` (a missing file is empty), apply users_file_edit(), and replace the file
/// atomically: a temporary file in the same directory with mode 0600, fsync, rename, fsync
/// of the directory. Serialised with other editors by flock() on "<path>.lock".
/// @return Ok or the Error of the edit or of the failing system call (naming the path).
Status users_file_apply(const std::string& path, UserEdit edit, const std::string& name,
                        const std::optional<std::string>& group, const std::string& hash);

}  // namespace tg::controlplane
