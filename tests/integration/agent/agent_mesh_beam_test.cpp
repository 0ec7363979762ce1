// The mesh with real OTP nodes run with OTP's defaults (`global` on, prevent_overlapping_partitions
// true), one libcluster-agent binary beside each, following a ClusterTopology whose status the test
// writes into the project's test API server (the controller's part). Every node records its own
// nodes() every 20 ms from a sampler process inside it, so a flap between two checks is caught.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "beam/beam_suite.h"
#include "integration/agent/beam_agent_fixture.h"
#include "support/loopback_port.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Nodes = std::set<std::string>;

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Our JSON log lines' "ts" (2026-01-02T03:04:05.678Z) as system ms; -1 when it is not one.
std::int64_t logTimeMs(const std::string& ts) {
  std::tm utc{};
  int millis = 0;
  if (std::sscanf(ts.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &utc.tm_year, &utc.tm_mon, &utc.tm_mday,
                  &utc.tm_hour, &utc.tm_min, &utc.tm_sec, &millis) != 7) {
    return -1;
  }
  utc.tm_year -= 1900;
  utc.tm_mon -= 1;
  return static_cast<std::int64_t>(::timegm(&utc)) * 1000 + millis;
}

/// The times (system ms) of the log lines of `log` whose msg is `message`, in order.
std::vector<std::int64_t> logTimes(const std::string& log, const std::string& message) {
  std::vector<std::int64_t> times;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    const json parsed = json::parse(line, nullptr, false);
    if (parsed.is_object() && parsed.value("msg", "") == message) {
      times.push_back(logTimeMs(parsed.value("ts", "")));
    }
  }
  return times;
}

/// The lines of `log` from `fromMs` (system ms, by their "ts") on.
std::string logSince(const std::string& log, std::int64_t fromMs) {
  std::string out;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    const json parsed = json::parse(line, nullptr, false);
    if (parsed.is_object() && logTimeMs(parsed.value("ts", "")) >= fromMs) {
      out += line + "\n";
    }
  }
  return out;
}

/// GET http://127.0.0.1:port/path, the whole response (headers and body); empty on failure.
std::string httpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return "";
  }
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (ssize_t got = 0; (got = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) {
        response.append(buffer, static_cast<std::size_t>(got));
      }
    }
  }
  ::close(fd);
  return response;
}

/// The value of one Prometheus sample line starting with `series` (0 when absent).
double metricValue(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return 0;
}

/// One change of a node's nodes(): when (system time, ms) and the new set.
struct Sample {
  std::int64_t at;
  Nodes nodes;
};

/// app@127.0.0.2 ... app@127.0.0.<count + 1>.
std::vector<std::string> nodeNames(int count) {
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) {
    names.push_back("app@127.0.0." + std::to_string(i + 2));
  }
  return names;
}

/// `kNodes` real nodes with one agent each. LIBCLUSTER_MESH_GLOBAL=off in the environment starts
/// the nodes with prevent_overlapping_partitions false (for bench/agent_mesh_bench.sh, which
/// compares); by default they run with OTP's defaults.
template <int kNodes>
class AgentMesh : public BeamSuite<AgentMesh<kNodes>> {
protected:
  using Suite = BeamSuite<AgentMesh<kNodes>>;
  using Suite::node;
  using Suite::testbed_;

  static constexpr const char* k2 = "app@127.0.0.2";
  static constexpr const char* k3 = "app@127.0.0.3";
  static constexpr const char* k4 = "app@127.0.0.4";
  static constexpr const char* k5 = "app@127.0.0.5";
  static inline const std::vector<std::string> kAll = nodeNames(kNodes);

  static void SetUpTestSuite() {
    const char* global = std::getenv("LIBCLUSTER_MESH_GLOBAL");
    std::vector<std::string> args;
    if (global != nullptr && std::string(global) == "off") {
      args = {"-kernel", "prevent_overlapping_partitions", "false"};
    }
    Suite::startNodes(kAll, args, /*isolated=*/false, std::chrono::seconds(30 + 3 * kNodes));
  }

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(kube_.setUp());
    ASSERT_NO_FATAL_FAILURE(Suite::SetUp());
  }
  void TearDown() override {
    keepLogs();
    controller_.reset();
    agents_.clear();
    for (const std::string& name : kAll) {
      if (node(name).isRunning()) {
        (void)node(name).eval("catch exit(whereis(mesh_sampler), kill), ok.");
      }
    }
  }

  /// With LIBCLUSTER_MESH_KEEP_LOGS=<dir>: every log and sample file of the test, copied to
  /// <dir>/<test>-<n>/ before the testbed goes, for a closer look at a run.
  void keepLogs() {
    const char* keep = std::getenv("LIBCLUSTER_MESH_KEEP_LOGS");
    if (keep == nullptr || *keep == '\0') {
      return;
    }
    static int run = 0;
    const std::string dir = std::string(keep) + "/" +
                            testing::UnitTest::GetInstance()->current_test_info()->name() + "-" +
                            std::to_string(++run);
    std::filesystem::create_directories(dir);
    if (controller_) {
      writeFile(dir + "/controller.log", controller_->log());
    }
    for (const auto& [name, agent] : agents_) {
      writeFile(dir + "/agent-" + name + ".log", agent->log());
    }
    for (const std::string& name : kAll) {
      std::error_code ignored;
      std::filesystem::copy_file(samplesPath(name), dir + "/samples-" + name + ".txt",
                                 std::filesystem::copy_options::overwrite_existing, ignored);
    }
  }

  /// `interval`: reconnectIntervalSeconds, the periodic sync. 60 s (±20 % jitter, so at least 48 s)
  /// leaves the event path alone to pass a test that waits less than that.
  void applyTopology(const std::string& name, const std::string& extraSpec = "", int interval = 2) {
    kube_.applyTopology(
        name, "  nodeBasename: app\n  reconnectIntervalSeconds: " + std::to_string(interval) +
                  "\n  sources:\n    - epmd: {nodes: [app@127.0.0.2]}\n" + extraSpec);
  }

  /// The controller's part: the member slices and status of ClusterTopology `name`, as
  /// libcluster-controller writes them (agents follow the slices).
  void writeMembers(const std::vector<std::string>& members, const std::string& name = "app") {
    kube_.writeMembers(members, name);
  }

  /// The pod of `node` (app@127.0.0.N → IP 127.0.0.N), Running with that IP, labelled
  /// app=<app>, its Ready condition `ready`: what a kubernetes source of the controller selects.
  void createPod(const std::string& pod, const std::string& node, bool ready,
                 const std::string& app = "mesh") {
    ASSERT_NO_FATAL_FAILURE(kube_.createPod(pod, {{"app", app}}));
    setPodReady(pod, node, ready);
  }

  /// ClusterTopology "app" (reconnect interval 2 s) on a kubernetes source selecting app=mesh
  /// (`sourceExtra` added to it, e.g. ", readiness: ReadyOnly"); every node gets a Ready pod
  /// app-<i>, a sampler and an agent reporting on that pod. The controller is the test's to start.
  void startPodsAndAgents(const std::string& sourceExtra = "") {
    ASSERT_NO_FATAL_FAILURE(kube_.applyTopology(
        "app", "  nodeBasename: app\n  reconnectIntervalSeconds: 2\n  sources:\n"
               "    - kubernetes: {selector: {matchLabels: {app: mesh}}" +
                   sourceExtra + "}\n"));
    for (std::size_t i = 0; i < kAll.size(); ++i) {
      ASSERT_NO_FATAL_FAILURE(createPod("app-" + std::to_string(i), kAll[i], /*ready=*/true));
    }
    for (const std::string& name : kAll) {
      ASSERT_NO_FATAL_FAILURE(startSampler(name));
    }
    for (std::size_t i = 0; i < kAll.size(); ++i) {
      ASSERT_NO_FATAL_FAILURE(startAgent(kAll[i], "app", "app-" + std::to_string(i)));
    }
  }

  /// Sets the pod's Ready condition (Running, with the node's IP), keeping the other conditions
  /// (the agent's own): a read-modify-write on the resourceVersion, as the kubelet's is.
  void setPodReady(const std::string& pod, const std::string& node, bool ready) {
    const std::string ip = node.substr(node.find('@') + 1);
    ResourcePath status = defaultPods().object(pod);
    status.subresource = "status";
    for (int attempt = 0; attempt < 10; ++attempt) {
      Result<json> current = kube_.api().get(defaultPods().object(pod));
      ASSERT_TRUE(current) << current.error().message;
      json conditions = json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}});
      if (current->contains("status") && (*current)["status"].contains("conditions")) {
        for (const json& condition : (*current)["status"]["conditions"]) {
          if (condition.value("type", "") != "Ready") {
            conditions.push_back(condition);
          }
        }
      }
      const json patch{
          {"metadata", {{"resourceVersion", (*current)["metadata"].value("resourceVersion", "")}}},
          {"status",
           {{"phase", "Running"},
            {"podIP", ip},
            {"podIPs", {{{"ip", ip}}}},
            {"conditions", conditions}}}};
      Result<json> patched = kube_.api().mergePatch(status, patch);
      if (patched) {
        return;
      }
      ASSERT_EQ(patched.error().code, Error::Code::Conflict) << patched.error().message;
    }
    FAIL() << "pod " << pod << " kept changing under the test";
  }

  /// The real libcluster-controller binary, with leader election as deployed.
  void startController() {
    controller_ = std::make_unique<AgentProcess>(
        LIBCLUSTER_CONTROLLER_BINARY,
        std::vector<std::string>{"--kubeconfig", kube_.kubeconfigPath(), "--namespace", "default",
                                 "--leader-elect", "--leader-election-namespace", "default",
                                 "--metrics-bind-address", "0", "--health-probe-bind-address", "0"},
        std::map<std::string, std::string>{{"LOG_LEVEL", "debug"}},
        testbed_->dir() + "/mesh-controller.log");
    ASSERT_TRUE(controller_->started());
  }

  void startAgent(const std::string& local, const std::string& topology = "app",
                  const std::string& pod = "") {
    std::map<std::string, std::string> env;
    metricsPorts_[local] = closedLoopbackPort();
    if (!pod.empty()) {
      env["POD_NAME"] = pod;
      env["POD_NAMESPACE"] = "default";
    }
    agents_[local] = libcluster::startAgent(
        *testbed_, local,
        {.config = "topologies:\n  app:\n    strategy: ClusterTopology\n    config: {name: " +
                   topology + "}\n",
         .env = env,
         .extraArgs = {"--kubeconfig", kube_.kubeconfigPath(), "--namespace", "default"},
         .metricsBindAddress = "127.0.0.1:" + std::to_string(metricsPorts_[local])});
    ASSERT_TRUE(agents_[local]->started());
  }

  std::string samplesPath(const std::string& name) {
    return testbed_->dir() + "/samples-" + name.substr(name.find('@') + 1) + ".txt";
  }

  /// Starts (or restarts) the sampler inside the node: a process that appends a line
  /// "<system ms> <node>,<node>..." to a file whenever its nodes() changes, checking every 20 ms.
  void startSampler(const std::string& name) {
    std::filesystem::remove(samplesPath(name));
    const std::string expression =
        "Path = \"" + samplesPath(name) +
        "\", catch exit(whereis(mesh_sampler), kill), "
        "P = spawn(fun() -> Loop = fun L(Last) -> N = lists:sort(nodes()), "
        "case N =:= Last of true -> ok; false -> file:write_file(Path, io_lib:format(\"~b ~s~n\", "
        "[erlang:system_time(millisecond), lists:join(\",\", [atom_to_list(X) || X <- N])]), "
        "[append]) end, receive stop -> ok after 20 -> L(N) end end, Loop(undefined) end), "
        "register(mesh_sampler, P), ok.";
    Result<std::string> done = node(name).eval(expression);
    ASSERT_TRUE(done) << done.error().message;
    ASSERT_NE(done->find("ok"), std::string::npos) << *done;
  }

  std::vector<Sample> samples(const std::string& name) {
    std::vector<Sample> out;
    std::ifstream in(samplesPath(name));
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      Sample sample{};
      std::string list;
      fields >> sample.at;
      fields >> list;
      std::stringstream items(list);
      for (std::string item; std::getline(items, item, ',');) {
        if (!item.empty()) {
          sample.nodes.insert(item);
        }
      }
      out.push_back(std::move(sample));
    }
    return out;
  }

  /// The node's nodes() as its sampler last recorded it.
  std::optional<Nodes> current(const std::string& name) {
    const std::vector<Sample> all = samples(name);
    return all.empty() ? std::nullopt : std::optional(all.back().nodes);
  }

  /// What each node of `members` must see (the others), and each of `outsiders` (nobody).
  std::map<std::string, Nodes> meshOf(const std::vector<std::string>& members,
                                      const std::vector<std::string>& outsiders = {}) {
    std::map<std::string, Nodes> want;
    for (const std::string& member : members) {
      Nodes others(members.begin(), members.end());
      others.erase(member);
      want[member] = others;
    }
    for (const std::string& outsider : outsiders) {
      want[outsider] = {};
    }
    return want;
  }

  bool meshIs(const std::map<std::string, Nodes>& want) {
    for (const auto& [name, nodes] : want) {
      if (current(name) != nodes) {
        return false;
      }
    }
    return true;
  }

  std::string describe(const std::map<std::string, Nodes>& want, bool logs = true) {
    std::string out;
    for (const auto& [name, nodes] : want) {
      out += name + " sees:";
      for (const std::string& peer : current(name).value_or(Nodes{"(no sample)"})) {
        out += " " + peer;
      }
      out += "\n";
    }
    for (const auto& [name, nodes] : want) {
      const std::vector<Sample> all = samples(name);
      out += "--- history of " + name + " (last 12 changes, system ms)\n";
      for (std::size_t i = all.size() > 12 ? all.size() - 12 : 0; i < all.size(); ++i) {
        out += std::to_string(all[i].at) + ":";
        for (const std::string& peer : all[i].nodes) {
          out += " " + peer;
        }
        out += "\n";
      }
    }
    for (const auto& [name, agent] : agents_) {
      if (!logs) {
        break;
      }
      out += "--- agent " + name + "\n" +
             agent->log().substr(agent->log().size() > 6000 ? agent->log().size() - 6000 : 0);
    }
    return out;
  }

  /// Waits (bounded, generous for a loaded machine) for the mesh; returns when it was first whole
  /// (system ms), or nullopt.
  std::optional<std::int64_t> waitForMesh(const std::map<std::string, Nodes>& want,
                                          std::chrono::milliseconds timeout = 30s) {
    return waitForStableMesh(want, /*hold=*/0ms, timeout);
  }

  /// Waits (bounded) until the mesh is `want` and has not changed for `hold`; returns the time of
  /// its last change (system ms), i.e. when it became whole for good, or nullopt.
  std::optional<std::int64_t> waitForStableMesh(const std::map<std::string, Nodes>& want,
                                                std::chrono::milliseconds hold = 3s,
                                                std::chrono::milliseconds timeout = 40s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (meshIs(want)) {
        std::int64_t last = 0;
        for (const auto& [name, nodes] : want) {
          last = std::max(last, samples(name).back().at);
        }
        if (nowMs() - last >= hold.count()) {
          return last;
        }
      }
      std::this_thread::sleep_for(50ms);
    }
    return std::nullopt;
  }

  /// Changes of any node's nodes() recorded after `since` (system ms): flaps once the mesh is
  /// whole.
  int changesAfter(std::int64_t since) {
    int changes = 0;
    for (const std::string& name : kAll) {
      for (const Sample& sample : samples(name)) {
        changes += sample.at > since ? 1 : 0;
      }
    }
    return changes;
  }

  /// The longest time (ms) after `since` during which some survivor lacked another survivor in
  /// its nodes(): how long the survivors were not all meshed (0: never).
  std::int64_t longestSurvivorGap(std::int64_t since, const std::vector<std::string>& survivors) {
    std::int64_t longest = 0;
    for (const std::string& name : survivors) {
      std::int64_t gapFrom = -1; // when the current gap began; -1: no gap
      for (const Sample& sample : samples(name)) {
        if (sample.at <= since) {
          continue;
        }
        bool whole = true;
        for (const std::string& other : survivors) {
          whole = whole && (other == name || sample.nodes.contains(other));
        }
        if (!whole && gapFrom < 0) {
          gapFrom = sample.at;
        } else if (whole && gapFrom >= 0) {
          longest = std::max(longest, sample.at - gapFrom);
          gapFrom = -1;
        }
      }
      if (gapFrom >= 0) {
        longest = std::max(longest, nowMs() - gapFrom);
      }
    }
    return longest;
  }

  /// Flaps among `survivors` after `since`: how many times one of them recorded a nodes() that
  /// lacked another survivor (a connection among them dropped).
  int survivorLossesAfter(std::int64_t since, const std::vector<std::string>& survivors) {
    int losses = 0;
    for (const std::string& name : survivors) {
      for (const Sample& sample : samples(name)) {
        if (sample.at <= since) {
          continue;
        }
        for (const std::string& other : survivors) {
          if (other != name && !sample.nodes.contains(other)) {
            ++losses;
            break;
          }
        }
      }
    }
    return losses;
  }

  /// The longest time (ms) after `since` during which `name` was connected to some node of `cut`,
  /// by its samples (0: never seen connected).
  std::int64_t longestConnection(const std::string& name, std::int64_t since, const Nodes& cut) {
    std::int64_t longest = 0;
    std::int64_t from = -1; // when the current connection began; -1: none
    for (const Sample& sample : samples(name)) {
      if (sample.at <= since) {
        continue;
      }
      const bool connected = std::any_of(cut.begin(), cut.end(), [&](const std::string& node) {
        return sample.nodes.contains(node);
      });
      if (connected && from < 0) {
        from = sample.at;
      } else if (!connected && from >= 0) {
        longest = std::max(longest, sample.at - from);
        from = -1;
      }
    }
    if (from >= 0) {
      longest = std::max(longest, nowMs() - from);
    }
    return longest;
  }

  /// Times `name` regained a connection to any node of `cut` after `since`: a removed node
  /// reconnected (a flap of the removal).
  int reconnectionsAfter(std::int64_t since, const std::string& name, const Nodes& cut) {
    int regained = 0;
    Nodes before;
    for (const Sample& sample : samples(name)) {
      if (sample.at > since) {
        for (const std::string& node : cut) {
          regained += (!before.contains(node) && sample.nodes.contains(node)) ? 1 : 0;
        }
      }
      before = sample.nodes;
    }
    return regained;
  }

  void formMesh(const std::vector<std::string>& members) {
    for (const std::string& name : kAll) {
      startSampler(name);
    }
    writeMembers(members);
    for (const std::string& member : members) {
      startAgent(member);
    }
    ASSERT_TRUE(waitForMesh(meshOf(members))) << describe(meshOf(members));
  }

  TopologyApiServer kube_;
  std::map<std::string, std::unique_ptr<AgentProcess>> agents_;
  std::map<std::string, int> metricsPorts_;
  std::unique_ptr<AgentProcess> controller_;
};

using AgentMeshBeamTest = AgentMesh<4>;

TEST_F(AgentMeshBeamTest, RemovedNodeThatKeepsRunningLeavesAndStaysCut) {
  applyTopology("app");
  formMesh(kAll);
  // A settled cluster (`global` done syncing the new connections), as when a pod goes later.
  ASSERT_TRUE(waitForStableMesh(meshOf(kAll), 2s)) << describe(meshOf(kAll));

  // The pod of k5 is deleted (terminating) or NotReady under ReadyOnly: the controller drops it
  // from the members while the node and its agent keep running.
  const std::int64_t removed = nowMs();
  writeMembers({k2, k3, k4});

  const auto want = meshOf({k2, k3, k4}, {k5});
  const std::optional<std::int64_t> reached = waitForStableMesh(want);
  ASSERT_TRUE(reached) << describe(want);
  std::cout << "[ figures  ] removal: removed node cut from all, rest a full mesh for good after "
            << (*reached - removed) << " ms; nodes() changes on the way: " << changesAfter(removed)
            << "\n";
  // No flap on the way: the survivors never lost each other (no `global` cascade), and once cut
  // the removed node was never connected to a survivor again, seen from either side.
  EXPECT_EQ(survivorLossesAfter(removed, {k2, k3, k4}), 0) << describe(want, false);
  EXPECT_EQ(reconnectionsAfter(removed, k5, {k2, k3, k4}), 0) << describe(want, false);
  for (const std::string survivor : {k2, k3, k4}) {
    EXPECT_EQ(reconnectionsAfter(removed, survivor, {k5}), 0) << describe(want, false);
  }
  // It holds: through several reconnect intervals (2 s) nothing reconnects the removed node.
  std::this_thread::sleep_for(8s);
  EXPECT_TRUE(meshIs(want)) << describe(want);
  EXPECT_EQ(changesAfter(*reached), 0) << describe(want, false);
}

// The real controller on a kubernetes source with readiness: ReadyOnly. A member's pod turns
// NotReady while its node and its agent keep running: the node is cut from every other member and
// stays cut (no flap in the 20 ms samples for 6 s, several reconnect intervals), the others stay a
// full mesh; when it keeps connecting to a member by itself it is cut again at once each time;
// Ready again, it rejoins.
TEST_F(AgentMeshBeamTest, NotReadyUnderReadyOnlyIsCutAndStaysCutThenRejoins) {
  ASSERT_NO_FATAL_FAILURE(startPodsAndAgents(", readiness: ReadyOnly"));
  startController();
  ASSERT_TRUE(waitForStableMesh(meshOf(kAll), 2s)) << describe(meshOf(kAll)) << controller_->log();

  const std::int64_t notReady = nowMs();
  setPodReady("app-3", k5, false);

  const auto want = meshOf({k2, k3, k4}, {k5});
  const std::optional<std::int64_t> reached = waitForStableMesh(want);
  ASSERT_TRUE(reached) << describe(want) << controller_->log();
  std::cout << "[ figures  ] NotReady under ReadyOnly: cut from all, rest a full mesh after "
            << (*reached - notReady) << " ms\n";
  EXPECT_EQ(survivorLossesAfter(notReady, {k2, k3, k4}), 0) << describe(want, false);
  EXPECT_EQ(reconnectionsAfter(notReady, k5, {k2, k3, k4}), 0) << describe(want, false);
  for (const std::string survivor : {k2, k3, k4}) {
    EXPECT_EQ(reconnectionsAfter(notReady, survivor, {k5}), 0) << describe(want, false);
  }
  // It holds while the node and its agent keep running, through several reconnect intervals.
  std::this_thread::sleep_for(6s);
  EXPECT_TRUE(node(k5).isRunning());
  EXPECT_TRUE(agents_[k5]->isRunning());
  EXPECT_TRUE(meshIs(want)) << describe(want);
  EXPECT_EQ(changesAfter(*reached), 0) << describe(want, false);

  // The NotReady node's application (or `global` there) keeps connecting to a member by itself,
  // every 100 ms for 2.5 s: each time the members cut it again on the event path, never as late as
  // the next periodic sync (2 s ± 20 %). Usually within 0-66 ms; CI saw 218 ms (beside other
  // tests) and 345 ms (alone), cause not found: the bound (1 s) tells the event path from the
  // sync, and the agents' logs are printed when it fails.
  const std::int64_t pinged = nowMs();
  Result<std::string> connected =
      node(k5).eval("[begin R = net_kernel:connect_node('app@127.0.0.2'), timer:sleep(100), R end "
                    "|| _ <- lists:seq(1, 25)].",
                    10s);
  ASSERT_TRUE(connected) << connected.error().message;
  // It did connect (each cut may beat the 20 ms sampler).
  ASSERT_NE(connected->find("true"), std::string::npos) << *connected;
  const std::optional<std::int64_t> cutAgain = waitForStableMesh(want, 3s, 20s);
  ASSERT_TRUE(cutAgain) << describe(want);
  const std::int64_t longest = longestConnection(k5, pinged, {k2, k3, k4});
  std::cout << "[ figures  ] NotReady node connecting by itself every 100 ms: longest connection "
            << longest << " ms\n";
  EXPECT_EQ(survivorLossesAfter(pinged, {k2, k3, k4}), 0) << describe(want, false);
  EXPECT_LT(longest, 1000) << describe(want, false) << "--- agent of " << k2 << " since then\n"
                           << logSince(agents_[k2]->log(), pinged) << "--- agent of " << k5
                           << " since then\n"
                           << logSince(agents_[k5]->log(), pinged);
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(changesAfter(*cutAgain), 0) << describe(want, false);

  const std::int64_t ready = nowMs();
  setPodReady("app-3", k5, true);

  const std::optional<std::int64_t> rejoined = waitForStableMesh(meshOf(kAll));
  ASSERT_TRUE(rejoined) << describe(meshOf(kAll)) << controller_->log();
  std::cout << "[ figures  ] Ready again: full mesh of all after " << (*rejoined - ready)
            << " ms\n";
}

// The node of a deleted pod stops; the controller then drops it from the members. The survivors
// must never lose each other on the way (`global` must not cut them apart).
TEST_F(AgentMeshBeamTest, DeletedPodsNodeStopsAndTheSurvivorsStayMeshed) {
  applyTopology("app");
  formMesh(kAll);
  ASSERT_TRUE(waitForStableMesh(meshOf(kAll), 2s)) << describe(meshOf(kAll));

  const std::int64_t deleted = nowMs();
  node(k5).kill();
  writeMembers({k2, k3, k4});

  const auto want = meshOf({k2, k3, k4});
  ASSERT_TRUE(waitForStableMesh(want)) << describe(want);
  std::cout << "[ figures  ] pod deleted, node stopped: longest gap among the survivors "
            << longestSurvivorGap(deleted, {k2, k3, k4}) << " ms\n";
  EXPECT_EQ(survivorLossesAfter(deleted, {k2, k3, k4}), 0) << describe(want, false);
  ASSERT_TRUE(node(k5).start());
}

// A node that is running with its agent becomes a member (its pod turned Ready).
TEST_F(AgentMeshBeamTest, OneNodeJoinsAndEveryNodeConnectsToIt) {
  applyTopology("app");
  formMesh({k2, k3, k4});
  startAgent(k5);
  ASSERT_TRUE(waitForStableMesh(meshOf({k2, k3, k4}, {k5}), 2s))
      << describe(meshOf({k2, k3, k4}, {k5}));

  const std::int64_t admitted = nowMs();
  writeMembers(kAll);

  const std::optional<std::int64_t> reached = waitForMesh(meshOf(kAll));
  ASSERT_TRUE(reached) << describe(meshOf(kAll));
  std::cout << "[ figures  ] join: every node connected to the new one after "
            << (*reached - admitted) << " ms\n";
}

TEST_F(AgentMeshBeamTest, RemovedNodeComesBackWhenItIsAMemberAgain) {
  applyTopology("app");
  formMesh(kAll);
  writeMembers({k2, k3, k4});
  ASSERT_TRUE(waitForMesh(meshOf({k2, k3, k4}, {k5}))) << describe(meshOf({k2, k3, k4}, {k5}));

  writeMembers(kAll);

  EXPECT_TRUE(waitForMesh(meshOf(kAll))) << describe(meshOf(kAll));
}

// OTP's defaults: `global` (prevent_overlapping_partitions) reacts to the cut pair by cutting
// further links; every member pair must come back. The periodic sync is 60 s, longer than the
// test waits: only the agents hearing nodedown can repair it.
TEST_F(AgentMeshBeamTest, ForcedDisconnectAndGlobalsCascadeAreRepairedOnNodedown) {
  applyTopology("app", "", /*interval=*/60);
  formMesh(kAll);

  const std::int64_t cut = nowMs();
  // The cut itself must have happened, or the mesh from before would count as repaired. Asked
  // in the same breath as the cut: the repair may be quicker than the 20 ms sampler.
  Result<std::string> done = node(k2).eval(
      "erlang:disconnect_node('app@127.0.0.3'), lists:member('app@127.0.0.3', nodes()).");
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_NE(done->find("false"), std::string::npos) << *done;

  const std::optional<std::int64_t> reached =
      waitForStableMesh(meshOf(kAll), /*hold=*/3s, /*timeout=*/30s);
  ASSERT_TRUE(reached) << describe(meshOf(kAll));
  std::cout << "[ figures  ] forced disconnect: full mesh again for good after "
            << std::max<std::int64_t>(*reached - cut, 0)
            << " ms; nodes() changes on the way: " << changesAfter(cut)
            << "; connections lost on the way: " << survivorLossesAfter(cut, kAll) << "\n";
  std::this_thread::sleep_for(5s);
  EXPECT_EQ(changesAfter(*reached), 0) << describe(meshOf(kAll), false);
}

// A member whose node died stays listed (its pod is not deleted yet): the agents that heard its
// nodedown retry with per-peer backoff (100 ms doubling, capped at 10 s) instead of hammering it.
TEST_F(AgentMeshBeamTest, DeadMemberIsRetriedWithBackoffNotHammered) {
  applyTopology("app", "", /*interval=*/60);
  formMesh(kAll);
  const int port = metricsPorts_[k2];
  const auto failedConnects = [&] {
    const std::string metrics = httpGet(port, "/metrics");
    double failed = 0;
    for (const char* result : {"unreachable", "error", "timeout", "other"}) {
      // Label names in order, as prometheus-cpp writes them.
      failed += metricValue(metrics, std::string("libcluster_agent_connect_attempts_total{"
                                                 "result=\"") +
                                         result + "\",topology=\"app\"}");
    }
    return failed;
  };
  const double before = failedConnects();

  node(k5).kill();
  std::this_thread::sleep_for(6s);
  const double retries = failedConnects() - before;

  std::cout << "[ figures  ] connects to a dead member from one agent in 6 s: " << retries << "\n";
  EXPECT_GE(retries, 1) << agents_[k2]->log(); // it did try (the event path heard nodedown)
  EXPECT_LE(retries, 10) << agents_[k2]->log();
  ASSERT_TRUE(node(k5).start());
}

TEST_F(AgentMeshBeamTest, AgentKilledAndRestartedLeavesTheMeshUntouched) {
  applyTopology("app");
  formMesh(kAll);
  const std::int64_t whole = nowMs();

  agents_[k3]->kill();
  startAgent(k3);
  // Long enough for the new agent to sync a few times (reconnect interval 2 s).
  std::this_thread::sleep_for(6s);

  EXPECT_TRUE(meshIs(meshOf(kAll))) << describe(meshOf(kAll));
  EXPECT_EQ(changesAfter(whole), 0) << describe(meshOf(kAll));
}

// With a 60 s periodic sync: the restarted node's agent re-arms its watch on the new node and
// looks at everything; the others heard nodedown and retry with backoff until it is back.
TEST_F(AgentMeshBeamTest, NodeKilledAndRestartedUnderTheSameNameIsMeshedAgain) {
  applyTopology("app", "", /*interval=*/60);
  formMesh(kAll);

  node(k4).kill();
  ASSERT_TRUE(node(k4).start());
  startSampler(k4);

  EXPECT_TRUE(waitForMesh(meshOf(kAll))) << describe(meshOf(kAll));
}

TEST_F(AgentMeshBeamTest, ACallTheAgentDoesNotAllowIsNeverRun) {
  // The patch of finding H1: whoever may edit the ClusterTopology makes every node run a shell
  // command through listNodes (called with the spec's args only).
  const std::string marker = testbed_->dir() + "/h1-was-here";
  std::filesystem::remove(marker);
  applyTopology("evil",
                "  listNodes: {module: os, function: cmd, args: ['\"touch " + marker + "\"']}\n");
  writeMembers({k2, k3}, "evil");
  ASSERT_NO_FATAL_FAILURE(kube_.createPod("evil-0"));
  startAgent(k2, "evil", "evil-0");

  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::string reason;
  while (std::chrono::steady_clock::now() < deadline && reason.empty()) {
    Result<json> pod = kube_.api().get(defaultPods().object("evil-0"));
    if (pod && pod->contains("status") && (*pod)["status"].contains("conditions")) {
      for (const json& condition : (*pod)["status"]["conditions"]) {
        if (condition.value("type", "") == "libcluster.dev/Connected") {
          reason = condition.value("reason", "");
        }
      }
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(reason, "CallNotAllowed") << agents_[k2]->log();
  EXPECT_FALSE(std::filesystem::exists(marker));
  EXPECT_FALSE(node(k2).nodes()->contains(k3)); // nothing at all was run
}

} // namespace
} // namespace libcluster

namespace libcluster {
namespace {

// 20 nodes, 20 agents: the ClusterTopology's first status (what the controller writes when it
// starts) to a full mesh. Its own CTest test (agent_mesh_20_integration_tests, label heavy).
using AgentMesh20BeamTest = AgentMesh<20>;

/// The median and the largest of `values` ("-" when empty), for the timeline.
std::string medianAndMax(std::vector<std::int64_t> values) {
  if (values.empty()) {
    return "-";
  }
  std::sort(values.begin(), values.end());
  return std::to_string(values[values.size() / 2]) + "/" + std::to_string(values.back());
}

// The real controller (leader election on, as deployed) starts beside 20 running nodes, their 20
// agents and their 20 Ready pods: controller start to full mesh, with where the time went.
TEST_F(AgentMesh20BeamTest, ControllerStartToFullMesh) {
  ASSERT_NO_FATAL_FAILURE(startPodsAndAgents());
  // The agents are up and waiting for the topology's members, as when the controller is
  // (re)deployed under a running application.
  std::this_thread::sleep_for(3s);

  const std::int64_t started = nowMs();
  startController();

  const std::optional<std::int64_t> reached = waitForMesh(meshOf(kAll), 120s);
  ASSERT_TRUE(reached) << describe(meshOf(kAll), false) << controller_->log();
  const std::string controllerLog = controller_->log();
  const auto first = [&](const std::string& message) -> std::int64_t {
    const std::vector<std::int64_t> times = logTimes(controllerLog, message);
    return times.empty() ? -1 : times.front();
  };
  // The first status the controller wrote (it logs the membership change once written).
  const std::int64_t status = first("membership changed");
  ASSERT_GT(status, 0) << controllerLog;
  // Per agent, ms after that status.
  std::vector<std::int64_t> known;
  std::vector<std::int64_t> local;
  std::vector<std::int64_t> firstPeer;
  std::vector<std::int64_t> lastPeer;
  for (const auto& [name, agent] : agents_) {
    const std::string log = agent->log();
    const auto after = [&](const std::string& message, std::vector<std::int64_t>& into, bool last) {
      std::vector<std::int64_t> times = logTimes(log, message);
      std::erase_if(times, [&](std::int64_t at) { return at < started; });
      if (!times.empty()) {
        into.push_back((last ? times.back() : times.front()) - status);
      }
    };
    after("following the ClusterTopology's members", known, false);
    after("connected to local node", local, false);
    after("connected to peer", firstPeer, false);
    after("connected to peer", lastPeer, true);
  }
  std::cout << "[ timeline ] ms after controller start: controller started "
            << first("controller started") - started << ", became leader "
            << first("became leader") - started << ", member slices written "
            << first("member slices written") - started << ", status written " << status - started
            << "\n[ timeline ] ms after the status (median/max over agents): members known "
            << medianAndMax(known) << ", local node connected " << medianAndMax(local)
            << ", first peer connected " << medianAndMax(firstPeer) << ", last peer connected "
            << medianAndMax(lastPeer) << ", full mesh " << (*reached - status) << "\n";
  std::cout << "[ figures  ] 20 nodes: controller start to full mesh " << (*reached - started)
            << " ms; first status publish to full mesh " << (*reached - status) << " ms\n";
  EXPECT_TRUE(waitForStableMesh(meshOf(kAll), 3s, 60s)) << describe(meshOf(kAll), false);
}

TEST_F(AgentMesh20BeamTest, TwentyNodesFormAFullMesh) {
  applyTopology("app");
  for (const std::string& name : kAll) {
    startSampler(name);
  }
  for (const std::string& name : kAll) {
    startAgent(name);
  }
  // Every agent waits for the status; give them time to be up and watching.
  std::this_thread::sleep_for(3s);

  const std::int64_t published = nowMs();
  writeMembers(kAll);

  const std::optional<std::int64_t> reached = waitForMesh(meshOf(kAll), 120s);
  ASSERT_TRUE(reached) << describe(meshOf(kAll), false);
  std::cout << "[ figures  ] 20 nodes: status published to full mesh " << (*reached - published)
            << " ms\n";
  EXPECT_TRUE(waitForStableMesh(meshOf(kAll), 3s, 60s)) << describe(meshOf(kAll), false);
}

} // namespace
} // namespace libcluster
