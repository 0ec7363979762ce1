#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/mfa.h"
#include "core/result.h"
#include "dist/connector.h"

namespace libcluster {

struct EiConnectorOptions {
  /// The BEAM node beside the agent, e.g. "app@10.0.0.7" (RELEASE_NODE).
  NodeName localNode;
  /// The local node's distribution port. 0 asks epmd (which honours ERL_EPMD_PORT); a port is
  /// for nodes started with -erl_epmd_port, which register nowhere.
  int localNodePort = 0;
  /// The cookie itself, or a file holding it (a mounted Secret; surrounding whitespace is
  /// ignored). Exactly one of the two. Never logged and never put in an Error.
  std::string cookie;
  std::string cookieFile;
  /// The alive part of the agent's own hidden node name; its host is the local node's host so
  /// the two names have the same form. Empty: "libcluster_agent_<random>", unique per start.
  std::string agentAlive;
  /// The distribution creation of the agent node. Empty: random and non-zero, new per start.
  std::optional<std::uint32_t> creation;
  Mfa connect = defaultConnectMfa();
  Mfa disconnect = defaultDisconnectMfa();
  Mfa listNodes = defaultListNodesMfa();
  /// Setting up the connection to the local node (TCP, epmd and the handshake).
  std::chrono::milliseconds setupTimeout{5000};
  /// RPCs in flight at once; a caller beyond this waits, within its own timeout, for a slot.
  std::size_t maxParallelRpcs = 16;
};

/// Reads a cookie file: the first line, without surrounding whitespace. The Error names the file,
/// never its content.
Result<std::string> readCookieFile(const std::string& path);

/// The Connector for real BEAM nodes: a hidden C node (erl_interface) with ONE distribution
/// connection to the local node, over which every call is an RPC to `rex`.
///
/// Calls from several threads run in parallel on that connection: each call sends from its own
/// pid, and a reader thread hands each `{rex, Reply}` to the caller whose pid it was sent to, so a
/// reply that arrives after its caller timed out is dropped, never mistaken for another's. The
/// reader also answers the node's ticks, so an idle connection never hits net_ticktime.
/// If the connection breaks (the local node restarted), the next call reconnects once and
/// retries; when the node stays down it is Unavailable. Thread-safe.
class EiConnector final : public Connector {
public:
  /// Validates the options (names, cookie, MFA argument texts) without contacting the node; the
  /// connection is made on first use.
  static Result<std::unique_ptr<EiConnector>> create(EiConnectorOptions options);

  ~EiConnector() override;
  EiConnector(const EiConnector&) = delete;
  EiConnector& operator=(const EiConnector&) = delete;

  // Connector
  Result<CallReply> connect(const NodeName& peer, std::chrono::milliseconds timeout) override;
  Result<CallReply> disconnect(const NodeName& peer, std::chrono::milliseconds timeout) override;
  /// The list nodes answer without the agent's own hidden node.
  Result<PeerSet> connectedPeers(std::chrono::milliseconds timeout) override;
  const NodeName& localNode() const override;
  /// With the default disconnect call only: lists:foreach(fun erlang:disconnect_node/1, Peers).
  std::optional<Result<void>> disconnectAtOnce(const PeerSet& peers,
                                               std::chrono::milliseconds timeout) override;
  /// erl_eval of a fixed expression in the local node: one process per peer applies the connect
  /// call (any MFA, the peer appended) and sends back its value; each peer waits up to 9/10 of
  /// `timeout`, so one that hangs is a Timeout of its own while the others' replies still return.
  bool connectsAtOnce() const override { return true; }
  Result<ConnectReplies> connectAtOnce(const PeerSet& peers,
                                       std::chrono::milliseconds timeout) override;
  bool reportsNodeEvents() const override { return true; }
  /// Starts, once per connection to the local node, a watcher process in it (erlang:spawn of
  /// erl_eval with a fixed expression: net_kernel:monitor_nodes, forwarding each message to the
  /// agent, linked to the agent), and waits for what it forwards.
  Result<NodeEvents> waitForNodeEvents(std::chrono::milliseconds timeout,
                                       std::stop_token stop) override;

  /// The agent's hidden node name, as the local node sees it in nodes(hidden).
  const NodeName& agentNode() const;
  /// Opens the connection now if it is not open; what every call does first.
  Result<void> ensureConnected(std::chrono::milliseconds timeout);
  bool isConnected() const;
  /// How many times a connection to the local node was set up (1 after the first call).
  std::uint64_t connectionsMade() const;

private:
  class Link; // the connection and its reader; ei stays in the .cpp

  explicit EiConnector(std::unique_ptr<Link> link);

  std::unique_ptr<Link> link_;
};

} // namespace libcluster
