#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace libcluster {

/// Why an operation failed. `code` drives control flow; `message` is for people.
/// `retryAfter` carries a server's Retry-After hint (429, 503) so callers can honour it.
struct Error {
  enum class Code {
    Invalid,
    NotFound,
    Conflict,
    Gone,
    Forbidden,
    Unauthorized,
    Unavailable,
    Timeout,
    TooManyRequests,
    Internal,
    Cancelled,
  };
  Code code;
  std::string message;
  std::optional<std::chrono::milliseconds> retryAfter{};

  bool operator==(const Error&) const = default;
};

/// The stable name of a code ("NotFound"), for logs and conditions.
std::string_view codeName(Error::Code code);

/// A value or the Error that prevented it. Spelled like C++23 std::expected so it can become
/// an alias for it later.
template <typename T>
class [[nodiscard]] Result {
public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  const T& value() const& { return std::get<0>(state_); }
  T& value() & { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  const Error& error() const { return std::get<1>(state_); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

private:
  std::variant<T, Error> state_;
};

/// Success with nothing to return, or an Error. `return {};` means success.
template <>
class [[nodiscard]] Result<void> {
public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}

  bool has_value() const { return !error_.has_value(); }
  explicit operator bool() const { return has_value(); }
  const Error& error() const { return *error_; }

private:
  std::optional<Error> error_;
};

} // namespace libcluster
