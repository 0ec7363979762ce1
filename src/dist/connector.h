#pragma once

#include <chrono>
#include <string>

#include "core/result.h"
#include "strategy/strategy.h"

namespace libcluster {

/// How libcluster reads the value a connect / disconnect function returned.
enum class CallOutcome {
  True,    // connected / disconnected
  False,   // connect: unreachable; disconnect: already disconnected
  Ignored, // the local node is not part of a distributed network
  Other,   // anything else; `term` has it printed
};

struct CallReply {
  CallOutcome outcome;
  std::string term; // the reply printed as an Erlang term, for logs
};

/// Makes the local BEAM node run libcluster's three operations (connect / disconnect / list
/// nodes, each a configurable MFA with the peer appended). Thread-safe: several connects may run
/// in parallel. An Error means the local node could not be asked (down, wrong cookie, RPC
/// timeout, a reply that is not a term), never "the peer is unreachable" (that is False).
class Connector {
public:
  virtual ~Connector() = default;

  virtual Result<CallReply> connect(const NodeName& peer, std::chrono::milliseconds timeout) = 0;
  virtual Result<CallReply> disconnect(const NodeName& peer, std::chrono::milliseconds timeout) = 0;
  /// The list_nodes MFA's answer; Invalid when it is not a list of atoms.
  virtual Result<PeerSet> connectedPeers(std::chrono::milliseconds timeout) = 0;
  /// The local node's name (what "self" is for the runner).
  virtual const NodeName& localNode() const = 0;
};

} // namespace libcluster
