#pragma once

#include <string>
#include <vector>

namespace libcluster {

/// A module:function(args...) call the agent has the local node make: libcluster's connect,
/// disconnect and list_nodes MFAs. Each arg is Erlang term text ("connected", "[visible]"); connect
/// and disconnect get the peer appended. Spelled out here rather than taken from src/api or
/// src/dist, whose `Mfa` types share a name, so strategy and agent code can use neither.
struct ErlangCall {
  std::string module;
  std::string function;
  std::vector<std::string> args;

  bool operator==(const ErlangCall&) const = default;
};

} // namespace libcluster
