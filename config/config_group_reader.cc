// GroupReader: typed reads of libconfig settings that report errors instead of throwing.
#include "config/config_group_reader.h"

#include <algorithm>
#include <cstdio>

namespace tg::config::detail {
namespace {

using libconfig::Setting;

int line_of(const Setting& s) { return static_cast<int>(s.getSourceLine()); }

// Edit distance, for "did you mean" on unknown keys. Key names are short, so the O(n*m)
// table is cheap; this only runs on keys that are already errors.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, substitute});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Two edits catch transpositions ("prots") and one-letter slips without suggesting
// unrelated short keys.
constexpr size_t kSuggestMaxEdits = 2;

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::string describe_setting(const Setting& s) {
  switch (s.getType()) {
    case Setting::TypeInt:
    case Setting::TypeInt64:
      return "an integer " + std::to_string(*setting_integer(s));
    case Setting::TypeFloat: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "a float %g", static_cast<double>(s));
      return buf;
    }
    case Setting::TypeString:
      return "a string " + quote(s.c_str());
    case Setting::TypeBoolean:
      return std::string("a boolean ") + (static_cast<bool>(s) ? "true" : "false");
    case Setting::TypeGroup:
      return "a group { ... }";
    case Setting::TypeArray:
      return "an array [ ... ]";
    case Setting::TypeList:
      return "a list ( ... )";
    case Setting::TypeNone:
      break;
  }
  return "an empty setting";
}

std::optional<long long> setting_integer(const Setting& s) {
  if (s.getType() == Setting::TypeInt) return static_cast<long long>(static_cast<int>(s));
  if (s.getType() == Setting::TypeInt64) return static_cast<long long>(s);
  return std::nullopt;
}

GroupReader::GroupReader(const Setting& group, std::string path, Diagnostics& diag)
    : group_(group), path_(std::move(path)), diag_(diag) {}

const Setting* GroupReader::find(const char* name, Need need) {
  if (asked_.insert(name).second) expected_.push_back(name);
  const std::string k = key(name);
  if (!group_.exists(name)) {
    if (need == Need::required) diag_.add(line_of(group_), k, "missing required key");
    return nullptr;
  }
  const Setting& s = group_[name];
  diag_.note_position(k, line_of(s));
  return &s;
}

void GroupReader::type_error(const Setting& s, const std::string& k, const char* expected) {
  diag_.add(line_of(s), k, std::string("expected ") + expected + ", found " + describe_setting(s));
}

bool GroupReader::read_uint(const char* name, uint32_t& out, uint32_t min, uint32_t max,
                            Need need) {
  const Setting* s = find(name, need);
  if (s == nullptr) return false;
  const auto value = setting_integer(*s);
  if (!value) {
    type_error(*s, key(name), "an integer");
    return false;
  }
  if (*value < static_cast<long long>(min) || *value > static_cast<long long>(max)) {
    diag_.add(line_of(*s), key(name),
              std::to_string(*value) + " is out of range (expected " + std::to_string(min) + ".." +
                  std::to_string(max) + ")");
    return false;
  }
  out = static_cast<uint32_t>(*value);
  return true;
}

bool GroupReader::read_bool(const char* name, bool& out) {
  const Setting* s = find(name, Need::optional);
  if (s == nullptr) return false;
  if (s->getType() != Setting::TypeBoolean) {
    type_error(*s, key(name), "a boolean (true or false)");
    return false;
  }
  out = static_cast<bool>(*s);
  return true;
}

bool GroupReader::read_string(const char* name, std::string& out, Need need) {
  const Setting* s = find(name, need);
  if (s == nullptr) return false;
  if (s->getType() != Setting::TypeString) {
    type_error(*s, key(name), "a string");
    return false;
  }
  out = s->c_str();
  return true;
}

bool GroupReader::read_string_array(const char* name, std::vector<Element<std::string>>& out,
                                    Need need) {
  const Setting* s = find(name, need);
  if (s == nullptr) return false;
  if (!s->isArray() && !s->isList()) {
    type_error(*s, key(name), "an array of strings [\"...\", ...]");
    return false;
  }
  for (int i = 0; i < s->getLength(); ++i) {
    const Setting& e = (*s)[i];
    const std::string ek = key_element(key(name), static_cast<size_t>(i));
    diag_.note_position(ek, line_of(e));
    if (e.getType() != Setting::TypeString) {
      type_error(e, ek, "a string");
      continue;
    }
    out.push_back({ek, e.c_str()});
  }
  return true;
}

bool GroupReader::read_uint_array(const char* name, std::vector<Element<uint32_t>>& out,
                                  uint32_t min, uint32_t max, Need need) {
  const Setting* s = find(name, need);
  if (s == nullptr) return false;
  if (!s->isArray() && !s->isList()) {
    type_error(*s, key(name), "an array of integers [1, 2, ...]");
    return false;
  }
  for (int i = 0; i < s->getLength(); ++i) {
    const Setting& e = (*s)[i];
    const std::string ek = key_element(key(name), static_cast<size_t>(i));
    diag_.note_position(ek, line_of(e));
    const auto value = setting_integer(e);
    if (!value) {
      type_error(e, ek, "an integer");
    } else if (*value < static_cast<long long>(min) || *value > static_cast<long long>(max)) {
      diag_.add(line_of(e), ek,
                std::to_string(*value) + " is out of range (expected " + std::to_string(min) +
                    ".." + std::to_string(max) + ")");
    } else {
      out.push_back({ek, static_cast<uint32_t>(*value)});
    }
  }
  return true;
}

const Setting* GroupReader::read_group(const char* name, Need need) {
  const Setting* s = find(name, need);
  if (s == nullptr) return nullptr;
  if (!s->isGroup()) {
    type_error(*s, key(name), "a group { ... }");
    return nullptr;
  }
  return s;
}

const Setting* GroupReader::read_list(const char* name, Need need) {
  const Setting* s = find(name, need);
  if (s == nullptr) return nullptr;
  if (!s->isList()) {
    type_error(*s, key(name), "a list ( { ... }, ... )");
    return nullptr;
  }
  return s;
}

void GroupReader::reject(const char* name, std::string message) {
  diag_.add(key(name), std::move(message));
}

void GroupReader::finish() {
  for (int i = 0; i < group_.getLength(); ++i) {
    const Setting& child = group_[i];
    const char* raw = child.getName();
    const std::string name = raw != nullptr ? raw : "";
    if (asked_.count(name) != 0) continue;
    std::string message = "unknown key";
    const auto closest = std::min_element(expected_.begin(), expected_.end(),
                                          [&](const std::string& a, const std::string& b) {
                                            return edit_distance(name, a) < edit_distance(name, b);
                                          });
    if (closest != expected_.end() && edit_distance(name, *closest) <= kSuggestMaxEdits)
      message += " (did you mean \"" + *closest + "\"?)";
    message += "; expected one of: " + join(expected_);
    diag_.add(line_of(child), key_child(path_, name), std::move(message));
  }
}

}  // namespace tg::config::detail
