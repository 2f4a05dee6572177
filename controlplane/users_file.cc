// Control plane: users file parsing, reloading and atomic editing. See users_file.h.
#include "controlplane/users_file.h"

#include "controlplane/file_watch.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "controlplane/password_hash.h"

namespace tg::controlplane {

namespace {

bool name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '@' || c == '-';
}

/// One line of a users file, split; `kind` says what it is.
struct Line {
  enum class Kind { blank, comment, user, bad } kind = Kind::blank;
  std::string_view text;  ///< without the newline (and without a trailing '\r')
  UserEntry entry;
  std::string error;
};

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  if (s.size() > 64) out += "...";
  return out;
}

Line classify(std::string_view text, int number) {
  Line l;
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  l.text = text;
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return l;
  if (text[first] == '#') {
    l.kind = Line::Kind::comment;
    return l;
  }
  l.kind = Line::Kind::bad;
  const size_t c1 = text.find(':');
  const size_t c2 = c1 == std::string_view::npos ? c1 : text.find(':', c1 + 1);
  if (c2 == std::string_view::npos) {
    l.error = "expected name:group:hash (" + std::to_string(c1 == c2 ? 0 : 1) + " ':' found)";
    return l;
  }
  const std::string_view name = text.substr(0, c1);
  const std::string_view group = text.substr(c1 + 1, c2 - c1 - 1);
  const std::string_view hash = text.substr(c2 + 1);
  if (!user_name_valid(name)) {
    l.error = "user name '" + printable(name) + "' is not [A-Za-z0-9._@-]{1,64}";
    return l;
  }
  if (!user_group_valid(group)) {
    l.error = "user " + std::string(name) + ": group '" + printable(group) +
              "' is not empty or [A-Za-z0-9._@-]{1,64}";
    return l;
  }
  if (hash.find(':') != std::string_view::npos) {
    l.error = "user " + std::string(name) + ": more than 3 ':'-separated fields";
    return l;
  }
  if (auto info = phc_parse(hash); !info) {
    l.error = "user " + std::string(name) + ": " + info.error().message;
    return l;
  }
  l.kind = Line::Kind::user;
  l.entry = UserEntry{std::string(name), std::string(group), std::string(hash), number};
  return l;
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      lines.push_back(text.substr(pos));
      break;
    }
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

/// Users files are small; this bounds what a mistaken path (a log, an image) costs.
constexpr size_t kUsersFileMaxBytes = 64u << 20;

Expected<std::string> read_file(const std::string& path) {
  auto file = file_read_bounded(path, kUsersFileMaxBytes);
  if (!file) return file.error();
  return std::move(file->text);
}

std::string join_issues(const std::vector<UsersFileIssue>& issues) {
  std::string out;
  for (const UsersFileIssue& i : issues) {
    if (!out.empty()) out += '\n';
    out += i.to_string();
  }
  return out;
}

}  // namespace

bool user_name_valid(std::string_view name) {
  if (name.empty() || name.size() > kUserNameMax) return false;
  for (char c : name) {
    if (!name_char(c)) return false;
  }
  return true;
}

bool user_group_valid(std::string_view group) { return group.empty() || user_name_valid(group); }

std::string UsersFileIssue::to_string() const {
  return file + ":" + std::to_string(line) + ": " + message;
}

UsersFileParse users_file_parse(std::string_view text, const std::string& file) {
  UsersFileParse out;
  std::unordered_map<std::string_view, int> seen;
  const std::vector<std::string_view> lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    const int number = static_cast<int>(i + 1);
    Line l = classify(lines[i], number);
    if (l.kind == Line::Kind::bad) {
      out.errors.push_back({file, number, l.error});
    } else if (l.kind == Line::Kind::user) {
      if (auto [it, fresh] = seen.emplace(lines[i].substr(0, l.entry.name.size()), number); !fresh) {
        out.errors.push_back({file, number, "user " + l.entry.name + " already defined on line " +
                                                std::to_string(it->second)});
      } else {
        out.users.push_back(std::move(l.entry));
      }
    }
  }
  return out;
}

UsersFile::UsersFile(std::string path) : path_(std::move(path)) {}

Status UsersFile::reload_if_changed() {
  auto seen = file_identity(path_);
  if (!seen) return seen.error();
  const FileIdentity id = *seen;
  if (loaded_ && *loaded_ == id) return Ok{};
  if (rejected_ && *rejected_ == id) {
    // The same issues as when it was rejected: a reload request must still see file:line.
    return make_error(EINVAL, rejected_message_);
  }
  auto text = read_file(path_);
  if (!text) return text.error();
  UsersFileParse parsed = users_file_parse(*text, path_);
  if (!parsed.ok()) {
    rejected_ = id;
    rejected_message_ = join_issues(parsed.errors);
    return make_error(EINVAL, rejected_message_);
  }
  by_name_.clear();
  for (UserEntry& e : parsed.users) {
    std::string key = e.name;
    by_name_.emplace(std::move(key), std::move(e));
  }
  loaded_ = id;
  rejected_.reset();
  ++loads_;
  return Ok{};
}

const UserEntry* UsersFile::find(std::string_view name) const {
  const auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &it->second;
}

Expected<std::string> users_file_edit(std::string_view text, const std::string& file,
                                      UserEdit edit, const std::string& name,
                                      const std::optional<std::string>& group,
                                      const std::string& hash) {
  if (!user_name_valid(name)) {
    return make_error(EINVAL, "user name '" + printable(name) + "' is not [A-Za-z0-9._@-]{1,64}");
  }
  if (group && !user_group_valid(*group)) {
    return make_error(EINVAL, "group '" + printable(*group) + "' is not empty or [A-Za-z0-9._@-]{1,64}");
  }
  if (edit != UserEdit::remove) {
    if (auto info = phc_parse(hash); !info) return make_error(EINVAL, info.error().message);
  }
  const UsersFileParse parsed = users_file_parse(text, file);
  if (!parsed.ok()) {
    return make_error(EINVAL, join_issues(parsed.errors) + "\n" + file +
                                  ": not edited: fix the lines above first");
  }
  const UserEntry* existing = nullptr;
  for (const UserEntry& e : parsed.users) {
    if (e.name == name) existing = &e;
  }
  if (edit == UserEdit::add && existing != nullptr) {
    return make_error(EEXIST, file + ":" + std::to_string(existing->line) + ": user " + name +
                                  " already exists");
  }
  if (edit != UserEdit::add && existing == nullptr) {
    return make_error(ENOENT, file + ": no user " + name);
  }
  const std::string new_line =
      edit == UserEdit::remove
          ? std::string()
          : name + ":" + (group ? *group : (existing ? existing->group : std::string())) + ":" + hash;
  std::string out;
  const std::vector<std::string_view> lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (existing != nullptr && static_cast<int>(i + 1) == existing->line) {
      if (edit == UserEdit::replace) out += new_line + "\n";
      continue;
    }
    out.append(lines[i]);
    out += '\n';
  }
  if (edit == UserEdit::add) out += new_line + "\n";
  return out;
}

Status users_file_apply(const std::string& path, UserEdit edit, const std::string& name,
                        const std::optional<std::string>& group, const std::string& hash) {
  const std::string lock_path = path + ".lock";
  const int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    const int err = errno;
    return make_error(err, lock_path + ": " + std::strerror(err));
  }
  struct LockCloser {
    int fd;
    ~LockCloser() { close(fd); }
  } lock_closer{lock_fd};
  if (flock(lock_fd, LOCK_EX) != 0) {
    const int err = errno;
    return make_error(err, lock_path + ": flock: " + std::strerror(err));
  }
  std::string text;
  if (auto r = read_file(path); r) {
    text = std::move(*r);
  } else if (r.error().code != ENOENT) {
    return r.error();
  }
  auto edited = users_file_edit(text, path, edit, name, group, hash);
  if (!edited) return edited.error();

  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    return make_error(err, tmp + ": " + std::strerror(err));
  }
  auto fail = [&](const std::string& what) {
    const int err = errno;
    close(fd);
    unlink(tmp.c_str());
    return make_error(err, tmp + ": " + what + ": " + std::strerror(err));
  };
  if (fchmod(fd, 0600) != 0) return fail("fchmod");  // whatever the umask did
  const std::string& data = *edited;
  for (size_t off = 0; off < data.size();) {
    const ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return fail("fsync");
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    unlink(tmp.c_str());
    return make_error(err, "rename " + tmp + " -> " + path + ": " + std::strerror(err));
  }
  if (const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    (void)fsync(dfd);  // make the rename durable; failure here loses nothing already renamed
    close(dfd);
  }
  return Ok{};
}

}  // namespace tg::controlplane
