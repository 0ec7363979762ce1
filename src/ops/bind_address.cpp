#include "ops/bind_address.h"

#include <charconv>

namespace libcluster {
namespace {

Error invalidAddress(std::string_view text, std::string_view why) {
  return Error{Error::Code::Invalid,
               "bind address \"" + std::string(text) + "\": " + std::string(why)};
}

} // namespace

Result<std::optional<BindAddress>> parseBindAddress(std::string_view text) {
  if (text.empty() || text == "0") {
    return std::optional<BindAddress>();
  }
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return invalidAddress(text, "expected [ipv6]:port");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.empty()) {
      return invalidAddress(text, "empty IPv6 address");
    }
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return invalidAddress(text, "missing port, e.g. \":8080\"");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return invalidAddress(text, "IPv6 addresses need brackets, e.g. \"[::1]:8080\"");
    }
  }
  unsigned value = 0;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || value > 65535) {
    return invalidAddress(text, "port must be a number from 0 to 65535");
  }
  return std::optional<BindAddress>(
      BindAddress{.host = std::string(host), .port = static_cast<std::uint16_t>(value)});
}

} // namespace libcluster
