#pragma once

#include <chrono>
#include <cstdint>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace libcluster {

/// epmd's default TCP port; ERL_EPMD_PORT overrides it for erl, epmd and ei alike.
inline constexpr std::uint16_t kDefaultEpmdPort = 4369;

/// One node registered in an epmd: the part of its name before "@", and its distribution port.
struct EpmdName {
  std::string name;
  int port = 0;

  bool operator==(const EpmdName&) const = default;
};

/// Parses epmd's answer to NAMES_REQ: epmd's own port as 4 bytes, then one line
/// "name <name> at port <port>\n" per registered node. An answer shorter than 4 bytes, a line that
/// does not have that form, or a last line cut short is Invalid: a reply we cannot read fully is
/// unknown, not "no nodes".
Result<std::vector<EpmdName>> parseEpmdNamesReply(std::string_view reply);

/// Asks the epmd at `address` (an IPv4 or IPv6 literal, never a name) and `port` for its
/// registered names (NAMES_REQ, request byte 'n'), over TCP, within `timeout`. Blocks the calling
/// thread. Refused or unreachable is Unavailable, the deadline Timeout, a stop Cancelled.
Result<std::vector<EpmdName>> queryEpmdNames(const std::string& address, std::uint16_t port,
                                             std::chrono::milliseconds timeout,
                                             std::stop_token stop);

/// The epmd port from ERL_EPMD_PORT's value (nullptr or empty: 4369); Invalid when it is not a
/// port number.
Result<std::uint16_t> epmdPortFromEnv(const char* value);

} // namespace libcluster
