// Layer 1a: a small scan of the raw text for what libconfig 1.5 would get silently wrong.
//
// The scan follows libconfig's lexer only as far as needed to tell code from strings and
// comments: "..." with backslash escapes, # and // to end of line, /* ... */. Inside code it
// looks at number literals and at '@'. It never decides whether the text is valid; the
// libconfig parse that follows does.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <set>

#include "config/config_layers.h"

namespace tg::config::detail {
namespace {

constexpr long long kMaxInt32 = 2147483647LL;
constexpr long long kMinInt32Magnitude = 2147483648LL;  // -2147483648 still fits
// More digits than this cannot fit in 32 bits whatever they are (and would overflow the
// accumulator below); report them without computing the value.
constexpr size_t kMaxDecimalDigits = 10;
constexpr size_t kMaxHexDigits = 8;
constexpr const char* kIncludeMessage =
    "@include is not supported (tunnelgate reads exactly one configuration file)";

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '*'; }
bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '*' || c == '-' || c == '_';
}

bool starts_with_nocase(const std::string& text, size_t at, const char* word) {
  for (size_t k = 0; word[k] != '\0'; ++k) {
    if (at + k >= text.size() || std::tolower(static_cast<unsigned char>(text[at + k])) != word[k])
      return false;
  }
  return true;
}

class Scanner {
 public:
  Scanner(const std::string& text, Diagnostics& diag) : text_(text), diag_(diag) {}

  bool run() {
    if (const auto nul = text_.find('\0'); nul != std::string::npos) {
      diag_.add_global(line_at(nul), "contains a NUL byte (expected a text file)");
      return false;
    }
    while (pos_ < text_.size()) step();
    report_include_lines();
    return ok_;
  }

 private:
  int line_at(size_t end) const {
    int line = 1;
    for (size_t k = 0; k < end; ++k) line += text_[k] == '\n';
    return line;
  }
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  void advance() {
    if (text_[pos_] == '\n') ++line_;
    ++pos_;
  }
  void skip_to_end_of_line() {
    while (pos_ < text_.size() && text_[pos_] != '\n') advance();
  }
  void error(std::string message) {
    diag_.add_global(line_, std::move(message));
    ok_ = false;
  }

  // libconfig honours "@include" at the start of any line, even one this scan took to be
  // inside a string, so lines are also checked on their own (each line reported once).
  void report_include_lines() {
    int line = 1;
    for (size_t at = 0; at < text_.size(); ++at) {
      if (at == 0 || text_[at - 1] == '\n') {
        size_t first = at;
        while (first < text_.size() && (text_[first] == ' ' || text_[first] == '\t')) ++first;
        if (starts_with_nocase(text_, first, "@include") && !reported_include_lines_.count(line)) {
          diag_.add_global(line, kIncludeMessage);
          ok_ = false;
        }
      }
      line += text_[at] == '\n';
    }
  }

  void step() {
    const char c = peek();
    if (c == '"') {
      skip_string();
    } else if (c == '#' || (c == '/' && peek(1) == '/')) {
      skip_to_end_of_line();
    } else if (c == '/' && peek(1) == '*') {
      skip_block_comment();
    } else if (c == '@') {
      if (starts_with_nocase(text_, pos_, "@include")) {
        error(kIncludeMessage);
        reported_include_lines_.insert(line_);
      }
      advance();
    } else if (is_name_start(c)) {
      while (pos_ < text_.size() && is_name_char(peek())) advance();
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      scan_number();
    } else {
      advance();
    }
  }

  void skip_string() {
    advance();  // opening quote
    while (pos_ < text_.size() && peek() != '"') {
      if (peek() == '\\' && pos_ + 1 < text_.size()) advance();
      advance();
    }
    if (pos_ < text_.size()) advance();  // closing quote
  }

  void skip_block_comment() {
    advance();
    advance();
    while (pos_ < text_.size() && !(peek() == '*' && peek(1) == '/')) advance();
    if (pos_ < text_.size()) {
      advance();
      advance();
    }
  }

  void scan_number() {
    const size_t start = pos_;
    const bool negative = start > 0 && text_[start - 1] == '-';
    const bool hex = peek() == '0' && (peek(1) == 'x' || peek(1) == 'X');
    if (hex) {
      advance();
      advance();
    }
    const size_t digits_start = pos_;
    while (pos_ < text_.size() && (hex ? std::isxdigit(static_cast<unsigned char>(peek())) != 0
                                       : std::isdigit(static_cast<unsigned char>(peek())) != 0))
      advance();
    const std::string digits = text_.substr(digits_start, pos_ - digits_start);
    const char next = peek();
    // A float ("1.5", "1e3") or an explicit 64-bit integer ("5L") is read correctly.
    if (next == 'L' || (!hex && (next == '.' || next == 'e' || next == 'E'))) {
      // is_name_char covers digits and the '-' of an exponent ("1.5e-9").
      while (pos_ < text_.size() && (is_name_char(peek()) || peek() == '.' || peek() == '+'))
        advance();
      return;
    }
    const size_t significant = digits.find_first_not_of('0');
    const size_t length = significant == std::string::npos ? 0 : digits.size() - significant;
    bool too_large = length > (hex ? kMaxHexDigits : kMaxDecimalDigits);
    if (!too_large && !digits.empty()) {
      const long long value = std::strtoll(digits.c_str(), nullptr, hex ? 16 : 10);
      too_large = value > ((negative && !hex) ? kMinInt32Magnitude : kMaxInt32);
    }
    if (too_large)
      error("integer " + std::string(negative ? "-" : "") + text_.substr(start, pos_ - start) +
            " does not fit in 32 bits (libconfig would misread it; no key accepts values "
            "this large)");
  }

  const std::string& text_;
  Diagnostics& diag_;
  size_t pos_ = 0;
  int line_ = 1;
  bool ok_ = true;
  std::set<int> reported_include_lines_;
};

}  // namespace

bool config_prescan(const std::string& text, Diagnostics& diag) {
  return Scanner(text, diag).run();
}

}  // namespace tg::config::detail
