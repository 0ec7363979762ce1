#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace libcluster {

/// Where to listen, parsed from a controller-runtime style bind address.
struct BindAddress {
  /// A host name or IP literal without brackets; empty means every interface.
  std::string host;
  std::uint16_t port = 0;

  bool operator==(const BindAddress&) const = default;
};

/// Parses ":8080", "127.0.0.1:8081", "[::1]:0" or "localhost:9090". nullopt means serving is
/// disabled ("0" or "", as controller-runtime's flags); anything else malformed is Invalid.
Result<std::optional<BindAddress>> parseBindAddress(std::string_view text);

} // namespace libcluster
