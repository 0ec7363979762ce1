#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace libcluster {

/// Cuts a byte stream that arrives in arbitrary pieces into newline-terminated lines, as a watch
/// body needs: one JSON object per line, and an object may straddle chunk boundaries.
class LineSplitter {
public:
  /// A watch event over a few MiB is an attack or a bug: the largest Kubernetes object is about
  /// 1.5 MiB (etcd's default request limit), and a watch line adds little to it.
  static constexpr std::size_t kDefaultMaxLineBytes = std::size_t{4} * 1024 * 1024;

  /// A line longer than `maxLineBytes` makes `overflowed()` true instead of growing without bound.
  explicit LineSplitter(std::size_t maxLineBytes = kDefaultMaxLineBytes)
      : maxLineBytes_(maxLineBytes) {}

  void append(std::string_view bytes);

  /// The next complete line without its "\n" (or "\r\n"); blank lines are skipped. nullopt when no
  /// complete line is buffered.
  std::optional<std::string> nextLine();

  /// What follows the last newline; at the end of a stream, a line the server did not finish.
  std::string_view pending() const;

  bool overflowed() const { return overflowed_; }

private:
  std::size_t maxLineBytes_;
  std::string buffer_;
  std::size_t start_ = 0;
  std::size_t scanned_ = 0;
  bool overflowed_ = false;
};

} // namespace libcluster
