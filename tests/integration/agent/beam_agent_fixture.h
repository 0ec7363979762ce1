#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "beam/beam_node.h"
#include "core/result.h"
#include "integration/agent/agent_process.h"
#include "kube/http_kube_api.h"
#include "support/test_api_server.h"

namespace libcluster {

/// Writes `text` to `path`, replacing the file.
void writeFile(const std::string& path, const std::string& text);

/// Whether `node` answers nodes() and lists `peer` in it.
bool sees(BeamNode& node, const std::string& peer);

/// One libcluster-agent run beside a node of a BeamTestbed.
struct AgentRun {
  std::string config;                     // the agent's YAML configuration
  std::map<std::string, std::string> env; // beside LOG_LEVEL=debug
  std::vector<std::string> extraArgs;     // after the common ones
  std::string metricsBindAddress = "0";
};

/// Runs libcluster-agent beside `local`, a node of `testbed` (--node, --node-port, and
/// --cookie-file with the testbed's cookie, written once), its configuration file and its log in
/// the testbed's directory, named after local's address. The agent dies with the thread that
/// started it: start it from the test's main thread. A failed fork fails the test.
std::unique_ptr<AgentProcess> startAgent(BeamTestbed& testbed, const std::string& local,
                                         const AgentRun& run);

/// The project's test API server (bookmarks every second) with the libcluster CRDs applied and a
/// client, for agents that follow a ClusterTopology; the test plays the controller's part.
class TopologyApiServer {
public:
  /// Checks the server started, applies the CRDs and makes the client. A failure is a fatal test
  /// failure (use ASSERT_NO_FATAL_FAILURE).
  void setUp();

  TestApiServer& server() { return server_; }
  HttpKubeApi& api() { return *api_; }
  std::string kubeconfigPath() const { return server_.kubeconfigPath(); }

  /// kubectl apply of ClusterTopology `name` in namespace default; `spec` is the YAML below
  /// "spec:" (indented by two). A failure fails the test.
  void applyTopology(const std::string& name, const std::string& spec);
  /// The controller's part: the member slices and status of `topology`, as
  /// libcluster-controller writes them (publishMembers). A failure fails the test.
  void writeMembers(const std::vector<std::string>& members, const std::string& topology = "app");
  /// Pod `name` in namespace default (one container), labelled `labels`. A failure fails the test.
  void createPod(const std::string& name, const std::map<std::string, std::string>& labels = {});

private:
  TestApiServer server_{TestApiServer::Options{.bookmarkIntervalSeconds = 1}};
  std::unique_ptr<HttpKubeApi> api_;
};

/// The pods of namespace default.
ResourcePath defaultPods();

} // namespace libcluster
