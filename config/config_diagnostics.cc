// Diagnostics: collects ConfigErrors across the parse, schema and semantic layers.
#include "config/config_diagnostics.h"

#include <algorithm>
#include <cstdio>

namespace tg::config::detail {
namespace {

// Error messages quote user text; a 4 KiB garbage string should not become a 4 KiB line.
constexpr size_t kMaxQuotedChars = 64;

std::string parent_of(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? std::string() : key.substr(0, dot);
}

}  // namespace

int Diagnostics::line_of(const std::string& key) const {
  for (std::string k = key; !k.empty(); k = parent_of(k)) {
    if (auto it = lines_.find(k); it != lines_.end()) return it->second;
  }
  return 0;
}

void Diagnostics::add(int line, const std::string& key, std::string message) {
  rejected_.insert(key);
  errors_.push_back(ConfigError{file_, line, key, std::move(message)});
}

void Diagnostics::add_global(int line, std::string message) {
  errors_.push_back(ConfigError{file_, line, "", std::move(message)});
}

bool Diagnostics::key_ok(const std::string& key) const {
  for (std::string k = key; !k.empty(); k = parent_of(k)) {
    if (rejected_.count(k) != 0) return false;
  }
  return true;
}

bool Diagnostics::subtree_ok(const std::string& key) const {
  if (!key_ok(key)) return false;
  const std::string below = key + ".";
  const auto it = rejected_.lower_bound(below);
  return it == rejected_.end() || it->compare(0, below.size(), below) != 0;
}

std::vector<ConfigError> Diagnostics::take_sorted() {
  std::stable_sort(errors_.begin(), errors_.end(),
                   [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
  return std::move(errors_);
}

std::string key_child(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

std::string key_element(const std::string& parent, size_t index) {
  return parent + ".[" + std::to_string(index) + "]";
}

std::string quote(const std::string& text) {
  std::string out = "\"";
  size_t shown = 0;
  for (unsigned char c : text) {
    if (shown++ == kMaxQuotedChars) {
      out += "...";
      break;
    }
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace tg::config::detail
