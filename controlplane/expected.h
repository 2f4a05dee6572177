// Control plane: the error convention of this layer (STYLE #19): functions return
// Expected<T>, a value or an Error carrying an errno-like code and a message that names the
// object and the value. (std::expected is C++23; this is the small subset we use.)
// Thread-safety: plain values.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace tg::controlplane {

struct Error {
  int code = 0;         ///< errno value, or EINVAL for bad input, EACCES for denied, ...
  std::string message;  ///< "users.txt:3: bad hash: ..." — what, which object, which value
};

template <typename T>
class Expected {
 public:
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Expected(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// Expected<void>: success or an Error.
struct Ok {};
using Status = Expected<Ok>;

inline Error make_error(int code, std::string message) { return Error{code, std::move(message)}; }

}  // namespace tg::controlplane
