#pragma once

#include <string>
#include <vector>

namespace libcluster {

/// A module:function(args...) call the local BEAM node makes: libcluster's connect, disconnect
/// and list_nodes. Each arg is an Erlang term written as text ("connected", "[visible]");
/// connect and disconnect get the peer appended as an atom, list nodes is called with `args`
/// only. The one call type of the project: the CRD (src/api), the agent configuration and the
/// connector (src/dist) all use it.
struct Mfa {
  std::string module;
  std::string function;
  std::vector<std::string> args;

  bool operator==(const Mfa&) const = default;
};

/// libcluster's defaults: net_kernel:connect_node/1, erlang:disconnect_node/1,
/// erlang:nodes(connected).
Mfa defaultConnectMfa();
Mfa defaultDisconnectMfa();
Mfa defaultListNodesMfa();

} // namespace libcluster
