// Public entry points: config_load_file / config_load_string, and ConfigError::to_string.
//
// Runs the layers in order (config_layers.h) and converts every failure, including
// libconfig exceptions and allocation failures, into ConfigErrors: nothing is thrown to
// the caller. A layer that cannot produce input for the next (no text, a syntax error)
// ends the load with what it found.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <libconfig.h++>

#include "config/config_layers.h"

namespace tg::config {
namespace {

using detail::Diagnostics;

// A configuration is a few kilobytes; a bigger "config" is the wrong file (a log, a disk
// image), and reading it whole would only delay the error.
constexpr off_t kMaxConfigBytes = 1 << 20;

// Reads a whole regular file, or reports why not. stat() first: a device node or FIFO named
// by mistake is reported without being opened (opening some devices has effects, a FIFO
// blocks); O_NONBLOCK covers the file being swapped for a FIFO in between.
std::optional<std::string> read_config_text(const std::string& path, Diagnostics& diag) {
  struct stat before {};
  if (::stat(path.c_str(), &before) != 0) {
    diag.add_global(0, std::string("cannot read file: ") + std::strerror(errno));
    return std::nullopt;
  }
  if (!S_ISREG(before.st_mode)) {
    diag.add_global(0, "cannot read file: not a regular file");
    return std::nullopt;
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    diag.add_global(0, std::string("cannot read file: ") + std::strerror(errno));
    return std::nullopt;
  }
  std::optional<std::string> text;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    diag.add_global(0, std::string("cannot read file: ") + std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    diag.add_global(0, "cannot read file: not a regular file");
  } else if (st.st_size > kMaxConfigBytes) {
    diag.add_global(0, "cannot read file: " + std::to_string(st.st_size) +
                           " bytes is larger than the 1 MiB a configuration may have");
  } else {
    std::string buffer(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    int read_errno = 0;
    while (done < buffer.size()) {
      const ssize_t n = ::read(fd, buffer.data() + done, buffer.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) read_errno = errno;
      if (n <= 0) break;  // n == 0: the file shrank while we read it; keep what we have
      done += static_cast<size_t>(n);
    }
    if (read_errno != 0) {
      diag.add_global(0, std::string("cannot read file: ") + std::strerror(read_errno));
    } else {
      buffer.resize(done);
      text = std::move(buffer);
    }
  }
  ::close(fd);
  return text;
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Layers 1a to 3 on text already in memory.
LoadResult load_text(const std::string& text, const std::string& name,
                     const std::string& base_dir) {
  Diagnostics diag(name);
  LoadResult result;
  try {
    if (!detail::config_prescan(text, diag)) {
      result.errors = diag.take_sorted();
      return result;
    }
    libconfig::Config parsed;
    try {
      parsed.readString(text);
    } catch (const libconfig::ParseException& e) {
      // libconfig says "syntax error" for most problems and names the others ("duplicate
      // setting name"); either way the reader should see that it is a syntax problem.
      const std::string what = e.getError() != nullptr ? e.getError() : "";
      diag.add_global(e.getLine(),
                      what.starts_with("syntax error") ? what : "syntax error: " + what);
      result.errors = diag.take_sorted();
      return result;
    }
    Config cfg;
    cfg.source_file = name;
    detail::config_schema_read(parsed.getRoot(), cfg, diag);
    detail::config_semantics_check(cfg, base_dir, diag);
    if (diag.empty()) {
      result.config = std::move(cfg);
      return result;
    }
  } catch (const libconfig::FileIOException&) {
    // Only an @include could make libconfig open a file, and the prescan rejects those.
    diag.add_global(0, "cannot read file (an included file?)");
  } catch (const std::exception& e) {
    // A libconfig accessor used on the wrong type, or allocation failure: a bug or an
    // exhausted machine, reported rather than thrown (the loader never throws).
    diag.add_global(0, std::string("internal error while loading: ") + e.what());
  }
  result.config.reset();
  result.errors = diag.take_sorted();
  return result;
}

}  // namespace

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

LoadResult config_load_file(const std::string& path) {
  try {
    Diagnostics diag(path);
    const auto text = read_config_text(path, diag);
    if (!text) {
      LoadResult result;
      result.errors = diag.take_sorted();
      return result;
    }
    return load_text(*text, path, directory_of(path));
  } catch (const std::exception& e) {
    LoadResult result;
    result.errors.push_back(ConfigError{path, 0, "", std::string("internal error: ") + e.what()});
    return result;
  }
}

LoadResult config_load_string(const std::string& text, const std::string& name) {
  try {
    return load_text(text, name, "");
  } catch (const std::exception& e) {
    LoadResult result;
    result.errors.push_back(ConfigError{name, 0, "", std::string("internal error: ") + e.what()});
    return result;
  }
}

}  // namespace tg::config
