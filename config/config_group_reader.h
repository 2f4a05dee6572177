// Private to config/: typed, error-collecting reads of one libconfig group.
//
// The schema layer (config_schema.cc) asks a GroupReader for each key it knows, with the
// key's type and range written at the call. The reader records the key's line, reports a
// wrong type, a missing required key or an out-of-range value as a ConfigError, and at
// finish() reports every key nobody asked for: a typo ("prots") is an error listing the
// expected keys, never a silently ignored setting.
//
// Reads never throw: libconfig accessors are only used after checking the type.
#pragma once

#include <cstdint>
#include <libconfig.h++>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config_diagnostics.h"

namespace tg::config::detail {

enum class Need : uint8_t { optional, required };

/// One element of an array or list that had the expected type.
template <typename T>
struct Element {
  std::string key;  ///< dotted path, e.g. "services.[0].subnets.[1]"
  T value;
};

/// "an integer 5", "a string \"x\"", "a float 1.5", "a group { }", ... for error messages.
std::string describe_setting(const libconfig::Setting& s);

/// The value of an integer setting (32- or 64-bit), nullopt for any other type.
std::optional<long long> setting_integer(const libconfig::Setting& s);

class GroupReader {
 public:
  /// `group` must be a group setting; `path` is its dotted key ("" for the root).
  GroupReader(const libconfig::Setting& group, std::string path, Diagnostics& diag);

  std::string key(const char* name) const { return key_child(path_, name); }

  /// The child setting, or nullptr when absent (an error if `need` is required).
  const libconfig::Setting* find(const char* name, Need need);

  /// Integer within [min, max]; floats, strings, booleans are type errors.
  bool read_uint(const char* name, uint32_t& out, uint32_t min, uint32_t max,
                 Need need = Need::optional);
  bool read_bool(const char* name, bool& out);
  bool read_string(const char* name, std::string& out, Need need = Need::optional);
  /// An array [..] or list (..) whose elements are strings; wrongly typed elements are
  /// reported and left out. Returns false when the key is absent or not an array/list.
  bool read_string_array(const char* name, std::vector<Element<std::string>>& out,
                         Need need = Need::optional);
  /// An array [..] of integers, each within [min, max].
  bool read_uint_array(const char* name, std::vector<Element<uint32_t>>& out, uint32_t min,
                       uint32_t max, Need need = Need::required);
  /// A nested group { ... }; nullptr when absent or of another type.
  const libconfig::Setting* read_group(const char* name, Need need = Need::optional);
  /// A list ( ... ); nullptr when absent or of another type.
  const libconfig::Setting* read_list(const char* name, Need need = Need::optional);

  /// Report `message` against key `name` of this group (at that key's line).
  void reject(const char* name, std::string message);

  /// Report the keys present in the group that no read_* call asked for.
  void finish();

 private:
  void type_error(const libconfig::Setting& s, const std::string& key, const char* expected);

  const libconfig::Setting& group_;
  std::string path_;
  Diagnostics& diag_;
  std::vector<std::string> expected_;  ///< in the order asked, for the "expected one of" list
  std::set<std::string> asked_;
};

/// Calls `read(element, key)` for each element of `list` that is a group, and reports the
/// others. `on_element(index)` is called for every element first so callers can keep their
/// vector index equal to the element index (a bad element stays a rejected placeholder).
template <typename OnElement, typename Read>
void for_each_group_element(const libconfig::Setting& list, const std::string& list_key,
                            Diagnostics& diag, OnElement&& on_element, Read&& read) {
  for (int i = 0; i < list.getLength(); ++i) {
    const libconfig::Setting& element = list[i];
    const std::string key = key_element(list_key, static_cast<size_t>(i));
    diag.note_position(key, static_cast<int>(element.getSourceLine()));
    on_element(static_cast<size_t>(i));
    if (!element.isGroup()) {
      diag.add(key, "expected a group { ... }, found " + describe_setting(element));
      continue;
    }
    read(element, key);
  }
}

}  // namespace tg::config::detail
