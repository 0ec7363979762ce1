// libcluster-controller end to end, in-process, against the test API server over TLS: the CRD and
// topologies applied with the real kubectl, pods created and changed through the API, status read
// back with kubectl; DNS sources against a real dnsmasq; Rancher against a loopback HTTP server;
// API faults; two replicas with leader election.
#include "controller/controller_app.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "dns/dnsmasq_server.h"
#include "dns/loopback.h"
#include "support/cluster_topology_yaml.h"
#include "support/controller_fixture.h"
#include "support/eventually.h"

extern char** environ;

namespace libcluster {
namespace {

using namespace std::chrono_literals;

const ResourcePath kPods{.resource = "pods", .namespaceName = "default"};

nlohmann::json podObject(const std::string& name, const nlohmann::json& labels,
                         const std::string& ownerStatefulSet = "") {
  nlohmann::json pod{{"apiVersion", "v1"},
                     {"kind", "Pod"},
                     {"metadata", {{"name", name}, {"labels", labels}}},
                     {"spec", {{"containers", {{{"name", "app"}, {"image", "erlang"}}}}}}};
  if (!ownerStatefulSet.empty()) {
    pod["metadata"]["ownerReferences"] = {{{"apiVersion", "apps/v1"},
                                           {"kind", "StatefulSet"},
                                           {"name", ownerStatefulSet},
                                           {"uid", "u-" + ownerStatefulSet}}};
    pod["spec"]["hostname"] = name;
  }
  return pod;
}

/// Runs a small HTTP server (python3 -m http.server) serving `dir` on a free loopback port.
class StaticHttpServer {
public:
  explicit StaticHttpServer(const std::string& dir) {
    port_ = freeTcpPort();
    const std::string portText = std::to_string(port_);
    std::vector<std::string> args{"/usr/bin/python3", "-m",          "http.server", "--bind",
                                  "127.0.0.1",        "--directory", dir,           portText};
    std::vector<char*> argv;
    for (std::string& arg : args) {
      argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
  }
  ~StaticHttpServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

private:
  static int freeTcpPort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    close(fd);
    return ntohs(address.sin_port);
  }
  pid_t pid_ = -1;
  int port_ = 0;
};

/// ClusterTopology "demo" in namespace default with `nodeBasename` and `sources` (the YAML list
/// below "sources:", from a new line).
std::string demoTopology(const std::string& sources, const std::string& nodeBasename = "demo") {
  return clusterTopologyYaml("demo", "  nodeBasename: " + nodeBasename + "\n  sources:" + sources);
}

const std::string kDemoTopology = demoTopology(R"(
    - kubernetes:
        selector: {matchLabels: {app: demo}}
)");

class ControllerIntegrationTest : public ControllerFixture {
protected:
  ControllerIntegrationTest() : ControllerFixture(/*serverHistory=*/500) {}

  void applyTopology(const std::string& yaml) { kubectlApply(yaml); }

  /// A controller replica started (default options) and kDemoTopology applied.
  ControllerApp& startDemo() {
    ControllerApp& app = startController();
    applyTopology(kDemoTopology);
    return app;
  }

  /// Whether topology "demo" comes to list exactly `count` members (waits, bounded).
  bool membersReach(std::size_t count) {
    return eventually([&] { return memberNodes().size() == count; });
  }

  void createPod(const std::string& name, const std::string& ip, bool ready = false,
                 const nlohmann::json& labels = {{"app", "demo"}},
                 const std::string& statefulSet = "") {
    ASSERT_TRUE(api_->create(kPods, podObject(name, labels, statefulSet)));
    setPodStatus(name, ip, ready);
  }

  void setPodStatus(const std::string& name, const std::string& ip, bool ready,
                    std::optional<bool> connected = std::nullopt) {
    nlohmann::json conditions = {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}};
    if (connected) {
      conditions.push_back({{"type", "libcluster.dev/Connected"},
                            {"status", *connected ? "True" : "False"},
                            {"reason", "Reported"},
                            {"message", ""}});
    }
    ResourcePath status = kPods.object(name);
    status.subresource = "status";
    nlohmann::json body{{"phase", "Running"}, {"podIP", ip}, {"conditions", conditions}};
    body["podIPs"] = nlohmann::json::array({{{"ip", ip}}});
    Result<nlohmann::json> patched = api_->mergePatch(status, {{"status", body}});
    ASSERT_TRUE(patched) << patched.error().message;
  }

  nlohmann::json topologyStatus(const std::string& name = "demo") {
    Result<nlohmann::json> object = api_->get(clusterTopologies().object(name));
    return object && object->contains("status") ? (*object)["status"] : nlohmann::json::object();
  }

  std::set<std::string> memberNodes(const std::string& name = "demo") {
    std::set<std::string> nodes;
    const nlohmann::json status = topologyStatus(name);
    if (status.contains("members")) {
      for (const nlohmann::json& member : status["members"]) {
        nodes.insert(member.value("node", ""));
      }
    }
    return nodes;
  }

  std::string condition(const std::string& type, const std::string& field = "status",
                        const std::string& name = "demo") {
    const nlohmann::json status = topologyStatus(name);
    if (status.contains("conditions")) {
      for (const nlohmann::json& c : status["conditions"]) {
        if (c.value("type", "") == type) {
          return c.value(field, "");
        }
      }
    }
    return "";
  }

  int statusPatches(const std::string& userAgent = "") {
    int count = 0;
    for (const nlohmann::json& request : requestsFrom(userAgent)) {
      const std::string path = request.value("path", "");
      if (request.value("method", "") == "PATCH" && path.ends_with("/status") &&
          path.find("clustertopologies") != std::string::npos) {
        ++count;
      }
    }
    return count;
  }
};

/// Options of a replica that takes part in leader election in `default` as `identity`.
ControllerApp::Options electing(const std::string& identity, std::chrono::seconds leaseDuration,
                                std::chrono::milliseconds renewDeadline,
                                std::chrono::milliseconds retryPeriod) {
  ControllerApp::Options options;
  options.leaderElect = true;
  options.leaderElectionNamespace = "default";
  options.identity = identity;
  options.election.leaseDuration = leaseDuration;
  options.election.renewDeadline = renewDeadline;
  options.election.retryPeriod = retryPeriod;
  return options;
}

TEST_F(ControllerIntegrationTest, PodsBecomeMembersThatKubectlShows) {
  startDemo();
  createPod("demo-a", "10.0.0.1");
  createPod("demo-b", "10.0.0.2", true);
  createPod("other", "10.0.0.9", true, {{"app", "other"}});

  ASSERT_TRUE(membersReach(2)) << topologyStatus().dump();
  EXPECT_EQ(memberNodes(), (std::set<std::string>{"demo@10.0.0.1", "demo@10.0.0.2"}));

  const auto nodes = server_.kubectl("get ctop demo -o jsonpath={.status.members[*].node}");
  EXPECT_EQ(nodes.output, "demo@10.0.0.1 demo@10.0.0.2");
  const auto wide = server_.kubectl("get clustertopologies -o wide");
  EXPECT_NE(wide.output.find("MEMBERS"), std::string::npos) << wide.output;
  EXPECT_NE(wide.output.find("SEED"), std::string::npos) << wide.output;
  EXPECT_NE(wide.output.find("kubernetes"), std::string::npos) << wide.output;
  EXPECT_EQ(condition("Ready"), "True");
  EXPECT_EQ(topologyStatus()["readyCount"], 1);
  EXPECT_EQ(topologyStatus()["observedGeneration"], 1);
}

TEST_F(ControllerIntegrationTest, FollowsPodsJoiningLeavingAndTerminating) {
  startDemo();
  createPod("demo-a", "10.0.0.1");
  ASSERT_TRUE(membersReach(1));

  createPod("demo-b", "10.0.0.2");
  ASSERT_TRUE(eventually([&] { return memberNodes().contains("demo@10.0.0.2"); }));

  // A pod with a finalizer stays in the API after delete, marked for deletion: it must leave.
  ASSERT_TRUE(api_->mergePatch(kPods.object("demo-a"),
                               {{"metadata", {{"finalizers", {"example.com/hold"}}}}}));
  ASSERT_TRUE(api_->remove(kPods.object("demo-a")));
  ASSERT_TRUE(eventually([&] { return memberNodes() == std::set<std::string>{"demo@10.0.0.2"}; }))
      << topologyStatus().dump();

  ASSERT_TRUE(api_->remove(kPods.object("demo-b")));
  ASSERT_TRUE(eventually([&] { return memberNodes().empty(); }));
  EXPECT_EQ(condition("Converged", "reason"), "NoMembers");
}

TEST_F(ControllerIntegrationTest, ReadyOnlyAdmitsReadyPods) {
  startController();
  applyTopology(demoTopology(R"(
    - kubernetes:
        selector: {matchExpressions: [{key: app, operator: In, values: [demo]}]}
        readiness: ReadyOnly
        mode: dns
        clusterDomain: example.internal
)"));
  createPod("demo-a", "10.0.0.1", false);
  createPod("demo-b", "10.0.0.2", true);
  ASSERT_TRUE(membersReach(1));
  EXPECT_EQ(memberNodes(), std::set<std::string>{"demo@10-0-0-2.default.pod.example.internal"});

  setPodStatus("demo-a", "10.0.0.1", true);

  ASSERT_TRUE(membersReach(2));
}

TEST_F(ControllerIntegrationTest, PublishesTheLowestStatefulSetOrdinalAsSeed) {
  startDemo();
  createPod("demo-2", "10.0.0.3", false, {{"app", "demo"}}, "demo");
  createPod("demo-1", "10.0.0.2", false, {{"app", "demo"}}, "demo");
  createPod("demo-10", "10.0.0.11", false, {{"app", "demo"}}, "demo");

  ASSERT_TRUE(membersReach(3));
  EXPECT_EQ(topologyStatus()["seed"], "demo@10.0.0.2");
  EXPECT_EQ(server_.kubectl("get ctop demo -o jsonpath={.status.seed}").output, "demo@10.0.0.2");
}

TEST_F(ControllerIntegrationTest, AgentReportsMakeTheTopologyConverged) {
  startDemo();
  createPod("demo-a", "10.0.0.1");
  createPod("demo-b", "10.0.0.2");
  ASSERT_TRUE(eventually([&] { return condition("Converged", "reason") == "AwaitingReports"; }));

  setPodStatus("demo-a", "10.0.0.1", false, true);
  setPodStatus("demo-b", "10.0.0.2", false, false);
  ASSERT_TRUE(eventually([&] { return condition("Converged", "reason") == "PeersMissing"; }));

  setPodStatus("demo-b", "10.0.0.2", false, true);
  ASSERT_TRUE(eventually([&] { return condition("Converged") == "True"; }));
  EXPECT_EQ(topologyStatus()["connectedCount"], 2);
  EXPECT_EQ(
      server_
          .kubectl(
              "get ctop demo -o 'jsonpath={.status.conditions[?(@.type==\"Converged\")].status}'")
          .output,
      "True");
}

TEST_F(ControllerIntegrationTest, InvalidSpecsAreRejectedOrMarkedInvalid) {
  startController();
  const auto rejected = server_.kubectl("apply -f -", R"(apiVersion: libcluster.dev/v1alpha1
kind: ClusterTopology
metadata: {name: broken, namespace: default}
spec:
  nodeBasename: "not a name"
  sources: [{epmd: {nodes: [a@b]}}]
)");
  EXPECT_NE(rejected.exitCode, 0);
  EXPECT_NE(rejected.output.find("spec.nodeBasename"), std::string::npos) << rejected.output;

  // The CRD's CEL rules catch cross-field mistakes (hostname mode without serviceName)...
  const auto cel = server_.kubectl("apply -f -", demoTopology(R"(
    - kubernetes: {selector: {matchLabels: {app: demo}}, mode: hostname}
)"));
  EXPECT_NE(cel.exitCode, 0);
  EXPECT_NE(cel.output.find("mode hostname needs serviceName"), std::string::npos) << cel.output;

  // ...and what the schema cannot express (label key syntax) the controller reports as Invalid.
  applyTopology(demoTopology(R"(
    - kubernetes: {selector: {matchLabels: {"not a label key!": demo}}}
)"));

  ASSERT_TRUE(eventually([&] { return condition("Invalid") == "True"; }))
      << topologyStatus().dump();
  EXPECT_NE(condition("Invalid", "message").find("spec.sources[0].kubernetes.selector"),
            std::string::npos)
      << condition("Invalid", "message");
  EXPECT_EQ(condition("Ready"), "False");

  applyTopology(kDemoTopology);
  ASSERT_TRUE(
      eventually([&] { return condition("Invalid").empty() && condition("Ready") == "True"; }));
  EXPECT_EQ(topologyStatus()["observedGeneration"], 2);
}

TEST_F(ControllerIntegrationTest, WritesNothingWhenNothingChanged) {
  startDemo();
  createPod("demo-a", "10.0.0.1");
  ASSERT_TRUE(membersReach(1));
  std::this_thread::sleep_for(300ms);
  const int before = statusPatches();

  // Changes that do not touch membership: a pod annotation, a relabel of an unrelated pod.
  ASSERT_TRUE(
      api_->mergePatch(kPods.object("demo-a"), {{"metadata", {{"annotations", {{"note", "x"}}}}}}));
  createPod("other", "10.0.0.9", true, {{"app", "other"}});
  std::this_thread::sleep_for(700ms);

  EXPECT_EQ(statusPatches(), before);
}

TEST_F(ControllerIntegrationTest, CoalescesABurstIntoAFewWrites) {
  startDemo();
  createPod("seed", "10.0.1.1");
  ASSERT_TRUE(membersReach(1));
  const int before = statusPatches();

  std::vector<std::jthread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      auto api = makeApi("burst");
      for (int i = 0; i < 25; ++i) {
        const std::string name = "burst-" + std::to_string(w) + "-" + std::to_string(i);
        (void)api->create(kPods, podObject(name, {{"app", "demo"}}));
        ResourcePath status = kPods.object(name);
        status.subresource = "status";
        const std::string ip = "10.1." + std::to_string(w) + "." + std::to_string(i + 1);
        (void)api->mergePatch(status, {{"status", {{"phase", "Running"}, {"podIP", ip}}}});
      }
    });
  }
  writers.clear();

  // status lists 100 members at most (the rest are in member slices): count, not list.
  ASSERT_TRUE(eventually([&] { return topologyStatus().value("memberCount", 0) == 101; }));
  const int writes = statusPatches() - before;
  EXPECT_LT(writes, 100) << "200 pod changes must not become 100+ status writes";
  RecordProperty("statusWritesFor200PodChanges", writes);
}

/// controller_runtime_reconcile_total of the clustertopology controller, every result summed.
double reconcilesOf(ControllerApp& app) {
  double total = 0;
  std::istringstream lines(app.metrics().render());
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("controller_runtime_reconcile_total{") &&
        line.find("controller=\"clustertopology\"") != std::string::npos) {
      total += std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return total;
}

TEST_F(ControllerIntegrationTest, AReadyFlipCostsOneReconcileNotTwo) {
  ControllerApp& app = startDemo();
  constexpr int kPodCount = 4;
  for (int i = 0; i < kPodCount; ++i) {
    createPod("demo-" + std::to_string(i), "10.0.2." + std::to_string(i + 1));
  }
  ASSERT_TRUE(membersReach(kPodCount));
  // Let the echo of the last write arrive, so the count starts from a quiet controller.
  std::this_thread::sleep_for(500ms);
  const double before = reconcilesOf(app);
  ASSERT_GT(before, 0) << app.metrics().render();

  constexpr int kFlips = 20;
  int ready = 0;
  for (int flip = 0; flip < kFlips; ++flip) {
    const int pod = flip % kPodCount;
    const bool makeReady = (flip / kPodCount) % 2 == 0;
    setPodStatus("demo-" + std::to_string(pod), "10.0.2." + std::to_string(pod + 1), makeReady);
    ready += makeReady ? 1 : -1;
    // One flip at a time: each is seen and written before the next, so none coalesce.
    ASSERT_TRUE(eventually([&] { return topologyStatus().value("readyCount", -1) == ready; }))
        << topologyStatus().dump();
  }
  // Time for the echo of each write to come back and (wrongly) cause a reconcile.
  std::this_thread::sleep_for(700ms);

  const double reconciles = reconcilesOf(app) - before;
  RecordProperty("reconcilesFor20ReadyFlips", std::to_string(reconciles));
  EXPECT_GE(reconciles, kFlips) << "every flip was written, so each was reconciled";
  EXPECT_LE(reconciles, 1.1 * kFlips) << "our own status write came back and was reconciled";
}

TEST_F(ControllerIntegrationTest, ApiFaultsNeverRemoveMembers) {
  ControllerApp& app = startDemo();
  createPod("demo-a", "10.0.0.1");
  createPod("demo-b", "10.0.0.2");
  ASSERT_TRUE(membersReach(2));

  std::atomic<bool> shrank{false};
  std::atomic<bool> watching{true};
  std::jthread observer([&] {
    auto api = makeApi("observer");
    while (watching) {
      Result<nlohmann::json> object = api->get(clusterTopologies().object("demo"));
      if (object && (*object)["status"]["members"].size() < 2) {
        shrank = true;
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  server_.failNext(6, 500, 0, "/api/v1/pods");
  server_.dropWatches();
  std::this_thread::sleep_for(500ms);
  server_.expireHistory();
  server_.dropWatches();
  server_.failNext(5, 503, 1, "/apis/libcluster.dev");
  std::this_thread::sleep_for(1500ms);
  createPod("demo-c", "10.0.0.3");

  ASSERT_TRUE(eventually([&] { return memberNodes().size() == 3; }, 30s))
      << topologyStatus().dump();
  watching = false;
  observer.join();
  EXPECT_FALSE(shrank.load()) << "a fault removed a member";
  EXPECT_TRUE(app.isReady());
}

TEST_F(ControllerIntegrationTest, DnsSourcesResolveAgainstDnsmasqAndKeepMembersOnFailure) {
  Result<std::unique_ptr<DnsmasqServer>> dns = DnsmasqServer::start({
      "--local=/test/",
      "--local-ttl=1",
      "--host-record=app.test,10.0.5.1",
      "--host-record=app.test,10.0.5.2",
      "--host-record=app6.test,fd00::5",
      "--srv-host=app-headless.default.svc.cluster.test,app-0.app-headless.default.svc.cluster."
      "test,4369,10,50",
      "--srv-host=app-headless.default.svc.cluster.test,app-1.app-headless.default.svc.cluster."
      "test,4369,10,50",
  });
  ASSERT_TRUE(dns) << dns.error().message;
  startController({}, (*dns)->address());
  applyTopology(demoTopology(R"(
    - {name: a, dns: {name: app.test, minRefreshSeconds: 1, maxRefreshSeconds: 2}}
    - {name: aaaa, dns: {name: app6.test, ipFamily: IPv6, minRefreshSeconds: 1}}
    - {name: srv, dns: {name: app-headless.default.svc.cluster.test, recordType: SRV, minRefreshSeconds: 1}}
)",
                             "app"));

  const std::set<std::string> expected{"app@10.0.5.1", "app@10.0.5.2", "app@fd00::5",
                                       "app@app-0.app-headless.default.svc.cluster.test",
                                       "app@app-1.app-headless.default.svc.cluster.test"};
  ASSERT_TRUE(eventually([&] { return memberNodes() == expected; })) << topologyStatus().dump();
  EXPECT_EQ(condition("Ready"), "True");

  dns->reset(); // the DNS server dies: lookups now fail
  ASSERT_TRUE(eventually([&] { return condition("Degraded") == "True"; }, 30s))
      << topologyStatus().dump();
  EXPECT_EQ(memberNodes(), expected) << "a failed lookup must not shrink the cluster";
  EXPECT_EQ(condition("Degraded", "reason"), "SourceFailed");
}

TEST_F(ControllerIntegrationTest, RancherAndStaticSourcesJoinPods) {
  char dir[] = "/tmp/libcluster-rancher-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::filesystem::create_directories(std::string(dir) + "/latest/self");
  std::ofstream(std::string(dir) + "/latest/self/service")
      << R"({"name": "app", "containers": [{"name": "app_1", "ips": ["10.42.1.5"]},
                                          {"name": "app_2", "ips": ["10.42.1.6", "10.42.9.9"]},
                                          {"name": "starting"}]})";
  StaticHttpServer http(dir);
  ControllerApp::Options options;
  options.rancherAllowedHosts = {"127.0.0.1"};
  startController(options);
  applyTopology(demoTopology(R"(
    - kubernetes: {selector: {matchLabels: {app: demo}}}
    - {name: vms, epmd: {nodes: [demo@vm1.example.com]}}
    - {name: rancher, nodeBasename: app, rancher: {url: ")") +
                http.url("/latest/self/service") + R"(", pollIntervalSeconds: 1}}
)");
  createPod("demo-a", "10.0.0.1");

  const std::set<std::string> expected{"demo@10.0.0.1", "demo@vm1.example.com", "app@10.42.1.5",
                                       "app@10.42.1.6"};
  ASSERT_TRUE(eventually([&] { return memberNodes() == expected; })) << topologyStatus().dump();
  EXPECT_EQ(topologyStatus()["sourceSummary"], "epmd,kubernetes,rancher");
  std::filesystem::remove_all(dir);
}

TEST_F(ControllerIntegrationTest, ARancherUrlOffTheAllowListIsNeverFetched) {
  char dir[] = "/tmp/libcluster-rancher-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::filesystem::create_directories(std::string(dir) + "/latest/self");
  std::ofstream(std::string(dir) + "/latest/self/service")
      << R"({"containers": [{"ips": ["10.42.1.5"]}]})";
  StaticHttpServer http(dir);
  ControllerApp& app = startController(); // default allow-list: rancher-metadata only
  applyTopology(demoTopology(R"(
    - {name: vms, epmd: {nodes: [demo@vm1.example.com]}}
    - {name: rancher, nodeBasename: app, rancher: {url: ")") +
                http.url("/latest/self/service") + R"(", pollIntervalSeconds: 1}}
)");

  ASSERT_TRUE(eventually([&] {
    return topologyStatus().dump().find("rancher: url not allowed") != std::string::npos;
  })) << topologyStatus().dump();
  EXPECT_EQ(memberNodes(), std::set<std::string>{"demo@vm1.example.com"});
  EXPECT_EQ(topologyStatus().dump().find("127.0.0.1"), std::string::npos)
      << "the status must not echo the address: " << topologyStatus().dump();
  EXPECT_NE(app.metrics().render().find(
                R"(libcluster_external_fetch_failures_total{reason="not_allowed"})"),
            std::string::npos);
  std::filesystem::remove_all(dir);
}

/// A topology in `default` whose second source reads namespace `other`, where pod b-0 runs.
class CrossNamespaceTest : public ControllerIntegrationTest {
protected:
  void SetUp() override {
    ControllerIntegrationTest::SetUp();
    const auto created = server_.kubectl("create namespace other");
    ASSERT_EQ(created.exitCode, 0) << created.output;
    const ResourcePath otherPods{.resource = "pods", .namespaceName = "other"};
    nlohmann::json pod = podObject("b-0", {{"app", "b"}});
    pod["metadata"]["namespace"] = "other";
    ASSERT_TRUE(api_->create(otherPods, pod));
    ResourcePath status = otherPods.object("b-0");
    status.subresource = "status";
    nlohmann::json body{{"phase", "Running"},
                        {"podIP", "10.0.7.1"},
                        {"podIPs", {{{"ip", "10.0.7.1"}}}},
                        {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
    ASSERT_TRUE(api_->mergePatch(status, {{"status", body}}));
    createPod("demo-a", "10.0.0.1", true);
  }

  void applyCrossNamespaceTopology() {
    applyTopology(demoTopology(R"(
    - {name: local, kubernetes: {selector: {matchLabels: {app: demo}}}}
    - {name: remote, kubernetes: {namespace: other, selector: {}}}
)"));
  }

  void grant(const std::string& from) {
    const auto applied = server_.kubectl("apply -f -", R"(apiVersion: libcluster.dev/v1alpha1
kind: TopologyReferenceGrant
metadata: {name: let-default-in, namespace: other}
spec:
  from: [)" + from + R"(]
)");
    ASSERT_EQ(applied.exitCode, 0) << applied.output;
  }
};

TEST_F(CrossNamespaceTest, AnotherNamespaceIsReadOnlyWhileAGrantThereAllowsIt) {
  startController();
  applyCrossNamespaceTopology();
  const std::set<std::string> local{"demo@10.0.0.1"};
  const std::set<std::string> both{"demo@10.0.0.1", "demo@10.0.7.1"};

  ASSERT_TRUE(eventually([&] {
    return topologyStatus().dump().find("remote: namespace other does not grant") !=
           std::string::npos;
  })) << topologyStatus().dump();
  EXPECT_EQ(memberNodes(), local);

  grant("{namespace: default, name: demo}");
  ASSERT_TRUE(eventually([&] { return memberNodes() == both; })) << topologyStatus().dump();

  const auto deleted = server_.kubectl("delete topologyreferencegrant let-default-in -n other");
  ASSERT_EQ(deleted.exitCode, 0) << deleted.output;
  ASSERT_TRUE(eventually([&] { return memberNodes() == local; })) << topologyStatus().dump();
}

TEST_F(CrossNamespaceTest, TheControllerFlagAllowsEveryNamespace) {
  ControllerApp::Options options;
  options.allowCrossNamespaceSources = true;
  startController(options);
  applyCrossNamespaceTopology();

  ASSERT_TRUE(eventually([&] {
    return memberNodes() == std::set<std::string>{"demo@10.0.0.1", "demo@10.0.7.1"};
  })) << topologyStatus().dump();
}

TEST_F(ControllerIntegrationTest, ASecondReplicaTakesOverAndTheyNeverBothWrite) {
  ControllerApp::Options crashing = electing("replica-a", 3s, 2s, 500ms);
  crashing.election.releaseOnCancel = false; // stopping it looks like a crash to the other replica
  ControllerApp& first = startController(crashing, "", "replica-a");
  ASSERT_TRUE(eventually([&] { return first.isLeader(); }));
  ControllerApp& second = startController(electing("replica-b", 3s, 2s, 500ms), "", "replica-b");
  applyTopology(kDemoTopology);
  createPod("demo-a", "10.0.0.1");
  ASSERT_TRUE(membersReach(1));
  EXPECT_FALSE(second.isLeader());
  EXPECT_EQ(statusPatches("replica-b"), 0);

  const auto killed = std::chrono::steady_clock::now();
  first.stop();
  createPod("demo-b", "10.0.0.2");

  ASSERT_TRUE(eventually([&] { return memberNodes().size() == 2; }, 15s));
  EXPECT_TRUE(second.isLeader());
  EXPECT_LT(std::chrono::steady_clock::now() - killed, 15s);
  // The server logs a request after answering it: the status can be read before its PATCH is
  // in the log.
  ASSERT_TRUE(eventually([&] { return statusPatches("replica-b") > 0; }));
  // Writes are ordered in the server's log: none from replica-a after replica-b's first.
  bool secondWrote = false;
  for (const nlohmann::json& request : server_.requests()) {
    if (request.value("method", "") != "PATCH" || !request.value("path", "").ends_with("/status")) {
      continue;
    }
    const std::string agent = request.value("userAgent", "");
    if (agent.starts_with("replica-b")) {
      secondWrote = true;
    }
    EXPECT_FALSE(secondWrote && agent.starts_with("replica-a")) << "both replicas wrote";
  }
  EXPECT_TRUE(secondWrote);
}

/// Successful leader writes (status PATCHes, member slice writes and Events) in the order the
/// server finished them, as user-agent prefixes.
std::vector<std::string> leaderWriters(const nlohmann::json& requests) {
  std::vector<std::string> writers;
  for (const nlohmann::json& request : requests) {
    const std::string method = request.value("method", "");
    const std::string path = request.value("path", "");
    const bool status = method == "PATCH" && path.ends_with("/status") &&
                        path.find("clustertopologies") != std::string::npos;
    const bool slice =
        method != "GET" && path.find("/clustertopologymemberslices") != std::string::npos;
    const bool event = method == "POST" && path.ends_with("/events");
    if ((status || slice || event) && request.value("code", 0) >= 200 &&
        request.value("code", 0) < 300) {
      writers.push_back(request.value("userAgent", "").substr(0, 9));
    }
  }
  return writers;
}

TEST_F(ControllerIntegrationTest, AHungLeaseRenewalNeverMakesTwoWriters) {
  ControllerApp& first = startController(electing("replica-a", 3s, 2s, 500ms), "", "replica-a");
  ASSERT_TRUE(eventually([&] { return first.isLeader(); }));
  ControllerApp& second = startController(electing("replica-b", 3s, 2s, 500ms), "", "replica-b");
  applyTopology(kDemoTopology);
  createPod("demo-0", "10.0.0.1");
  ASSERT_TRUE(membersReach(1));

  // Every Lease PUT of the leader now hangs for 8 s and then lands (if it still can).
  server_.holdNext(1000, 8.0, "PUT", "/apis/coordination.k8s.io/", "replica-a");
  // Membership keeps changing all along, so whoever believes it leads has something to write.
  for (int i = 1; i <= 16; ++i) {
    createPod("demo-" + std::to_string(i), "10.0.0." + std::to_string(i + 1));
    std::this_thread::sleep_for(400ms);
  }

  ASSERT_TRUE(eventually([&] { return memberNodes().size() == 17; }, 30s))
      << topologyStatus().dump();
  EXPECT_TRUE(second.isLeader());
  EXPECT_FALSE(first.isLeader());
  // The server logs a request after answering it: wait for the write that showed the 17 members.
  ASSERT_TRUE(eventually([&] { return statusPatches("replica-b") > 0; }));
  const std::vector<std::string> writers = leaderWriters(server_.requests());
  const auto handover = std::find(writers.begin(), writers.end(), "replica-b");
  ASSERT_NE(handover, writers.end());
  EXPECT_EQ(std::find(handover, writers.end(), "replica-a"), writers.end())
      << "replica-a wrote after replica-b had taken over";
}

TEST_F(ControllerIntegrationTest, ASlowApiDoesNotMakeTheLeaderFlap) {
  ControllerApp& first = startController(electing("replica-a", 6s, 4s, 1s), "", "replica-a");
  ASSERT_TRUE(eventually([&] { return first.isLeader(); }));
  ControllerApp& second = startController(electing("replica-b", 6s, 4s, 1s), "", "replica-b");
  applyTopology(kDemoTopology);

  // Each request now takes 0.7 s of the 2 s a Lease request may take (renewDeadline / 2).
  server_.setLatency(700ms);
  for (int i = 0; i < 4; ++i) {
    createPod("demo-" + std::to_string(i), "10.0.0." + std::to_string(i + 1));
  }
  ASSERT_TRUE(eventually([&] { return memberNodes().size() == 4; }, 30s))
      << topologyStatus().dump();
  server_.setLatency(0ms);

  EXPECT_TRUE(first.isLeader());
  EXPECT_EQ(first.workerStarts(), 1u) << "the leader stepped down and came back";
  EXPECT_EQ(second.workerStarts(), 0u);
}

} // namespace
} // namespace libcluster
