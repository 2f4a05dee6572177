// Private to config/: the error collector shared by the three validation layers.
//
// The schema layer records where every key it read came from and which keys it rejected;
// the semantic layer then (1) points its cross-field errors at the right line and
// (2) skips values the schema layer already rejected, so one typo gives one error rather
// than a cascade ("bad prefix" followed by "overlaps 0.0.0.0/0").
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"

namespace tg::config::detail {

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  const std::string& file() const { return file_; }

  /// Remember that `key` (a dotted path) was written on `line`.
  void note_position(const std::string& key, int line) { lines_[key] = line; }

  /// Line of `key`, or of its nearest recorded ancestor (0 when none is known).
  int line_of(const std::string& key) const;

  /// Record an error at an explicit line and mark `key` as rejected.
  void add(int line, const std::string& key, std::string message);
  /// Record an error at the recorded line of `key` (see line_of).
  void add(const std::string& key, std::string message) {
    add(line_of(key), key, std::move(message));
  }
  /// An error about the input as a whole (parse errors, unreadable file): no key.
  void add_global(int line, std::string message);

  /// False when `key` or one of its ancestors was rejected (or found missing) by an
  /// earlier layer; later layers leave such values alone.
  bool key_ok(const std::string& key) const;
  /// key_ok(key), and nothing below `key` was rejected either (e.g. no element of an array).
  bool subtree_ok(const std::string& key) const;

  bool empty() const { return errors_.empty(); }
  /// The errors in source order (stable: errors on one line keep the order found).
  std::vector<ConfigError> take_sorted();

 private:
  std::string file_;
  std::map<std::string, int> lines_;
  std::set<std::string> rejected_;
  std::vector<ConfigError> errors_;
};

/// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c".
std::string key_child(const std::string& parent, const std::string& name);
/// "a.list" + 2 -> "a.list.[2]".
std::string key_element(const std::string& parent, size_t index);
/// The text quoted for an error message: escapes quotes and control bytes, cuts long text.
std::string quote(const std::string& text);

}  // namespace tg::config::detail
