#include "integration/agent/beam_agent_fixture.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "kube/kube_config.h"
#include "support/cluster_topology_yaml.h"
#include "support/publish_members.h"

namespace libcluster {

void writeFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

bool sees(BeamNode& node, const std::string& peer) {
  const Result<std::set<std::string>> nodes = node.nodes();
  return nodes && nodes->contains(peer);
}

std::unique_ptr<AgentProcess> startAgent(BeamTestbed& testbed, const std::string& local,
                                         const AgentRun& run) {
  const std::string tag = local.substr(local.find('@') + 1);
  const std::string configPath = testbed.dir() + "/agent-" + tag + ".yaml";
  const std::string cookiePath = testbed.dir() + "/cookie";
  if (!std::filesystem::exists(cookiePath)) {
    // Once per testbed and atomically: an agent started before may be reading it right now.
    writeFile(cookiePath + ".new", testbed.cookie() + "\n");
    std::filesystem::rename(cookiePath + ".new", cookiePath);
  }
  writeFile(configPath, run.config);
  std::map<std::string, std::string> env = run.env;
  env["LOG_LEVEL"] = "debug";
  std::vector<std::string> args{"--config",
                                configPath,
                                "--node",
                                local,
                                "--node-port",
                                std::to_string(testbed.port()),
                                "--cookie-file",
                                cookiePath,
                                "--metrics-bind-address",
                                run.metricsBindAddress};
  args.insert(args.end(), run.extraArgs.begin(), run.extraArgs.end());
  auto process = std::make_unique<AgentProcess>(LIBCLUSTER_AGENT_BINARY, args, env,
                                                testbed.dir() + "/agent-" + tag + ".log");
  EXPECT_TRUE(process->started()) << local;
  return process;
}

void TopologyApiServer::setUp() {
  ASSERT_TRUE(server_.started()) << server_.error();
  const auto crd =
      server_.kubectl(std::string("apply -f ") + LIBCLUSTER_SOURCE_DIR +
                      "/crds/clustertopologies.libcluster.dev.yaml -f " + LIBCLUSTER_SOURCE_DIR +
                      "/crds/clustertopologymemberslices.libcluster.dev.yaml");
  ASSERT_EQ(crd.exitCode, 0) << crd.output;
  Result<KubeConfig> kube = loadKubeconfig(server_.kubeconfigPath());
  ASSERT_TRUE(kube) << kube.error().message;
  Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(*kube);
  ASSERT_TRUE(api) << api.error().message;
  api_ = std::move(*api);
}

void TopologyApiServer::applyTopology(const std::string& name, const std::string& spec) {
  const auto applied = server_.kubectl("apply -f -", clusterTopologyYaml(name, spec));
  ASSERT_EQ(applied.exitCode, 0) << applied.output;
}

void TopologyApiServer::writeMembers(const std::vector<std::string>& members,
                                     const std::string& topology) {
  Result<void> published = publishMembers(*api_, "default", topology, members);
  ASSERT_TRUE(published) << published.error().message;
}

void TopologyApiServer::createPod(const std::string& name,
                                  const std::map<std::string, std::string>& labels) {
  nlohmann::json metadata{{"name", name}};
  if (!labels.empty()) {
    metadata["labels"] = labels;
  }
  Result<nlohmann::json> created = api_->create(
      defaultPods(), {{"apiVersion", "v1"},
                      {"kind", "Pod"},
                      {"metadata", metadata},
                      {"spec", {{"containers", {{{"name", "app"}, {"image", "erlang"}}}}}}});
  ASSERT_TRUE(created) << created.error().message;
}

ResourcePath defaultPods() { return ResourcePath{.resource = "pods", .namespaceName = "default"}; }

} // namespace libcluster
