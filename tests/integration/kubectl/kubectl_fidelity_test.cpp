#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_api_server.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;
using testing::Not;

const std::string kTestData = KUBECTL_TESTDATA_DIR;

constexpr const char* kWidget = R"(apiVersion: test.libcluster.dev/v1
kind: Widget
metadata:
  name: w1
  labels:
    app: x
spec:
  size: 3
  owner: team-a
)";

std::string withSize(int size) {
  return std::regex_replace(kWidget, std::regex("size: 3"), "size: " + std::to_string(size));
}

/// Drives the real kubectl over HTTPS against the test API server; every test gets a fresh
/// server so tests cannot see each other's objects.
class KubectlFidelityTest : public testing::Test {
protected:
  void SetUp() override { ASSERT_TRUE(server_.started()) << server_.error(); }

  TestApiServer::CommandResult run(const std::string& args, const std::string& stdinText = "") {
    return server_.kubectl(args, stdinText);
  }

  /// Runs kubectl and fails the test unless it exits 0; returns its output.
  std::string ok(const std::string& args, const std::string& stdinText = "") {
    const TestApiServer::CommandResult result = run(args, stdinText);
    EXPECT_EQ(result.exitCode, 0) << "kubectl " << args << "\n" << result.output;
    return result.output;
  }

  void applyCrd() {
    EXPECT_EQ(ok("apply -f " + kTestData + "/widget-crd.yaml"),
              "customresourcedefinition.apiextensions.k8s.io/widgets.test.libcluster.dev "
              "created\n");
  }

  void applyWidget() {
    applyCrd();
    EXPECT_EQ(ok("apply -f -", kWidget), "widget.test.libcluster.dev/w1 created\n");
  }

  /// Waits until the server reports `count` open watches (at most 10 s).
  bool waitForWatches(int count) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (server_.stats().value("openWatches", 0) >= count) {
        return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  TestApiServer server_;
};

TEST_F(KubectlFidelityTest, VersionReportsTheServerVersion) {
  const nlohmann::json version = nlohmann::json::parse(ok("version -o json"), nullptr, false);

  ASSERT_FALSE(version.is_discarded());
  EXPECT_EQ(version["serverVersion"]["gitVersion"], "v1.32.4");
  EXPECT_EQ(version["serverVersion"]["major"], "1");
  EXPECT_EQ(version["serverVersion"]["minor"], "32");
}

TEST_F(KubectlFidelityTest, ApiResourcesShowBuiltinsAndTheCrdShortNameAndCategory) {
  EXPECT_THAT(ok("api-resources"), Not(HasSubstr("widgets")));
  applyCrd();

  const std::string all = ok("api-resources");
  const std::string byCategory = ok("api-resources --categories=libcluster-test -o name");

  EXPECT_TRUE(std::regex_search(
      all, std::regex(R"(\nwidgets +wdg +test\.libcluster\.dev/v1 +true +Widget\n)")))
      << all;
  EXPECT_TRUE(std::regex_search(all, std::regex(R"(\npods +po +v1 +true +Pod\n)"))) << all;
  EXPECT_TRUE(
      std::regex_search(all, std::regex(R"(\nleases +coordination\.k8s\.io/v1 +true +Lease\n)")))
      << all;
  EXPECT_EQ(byCategory, "widgets.test.libcluster.dev\n");
}

TEST_F(KubectlFidelityTest, CategoryAndShortNameResolveToWidgets) {
  applyWidget();

  EXPECT_EQ(ok("get libcluster-test -o name"), "widget.test.libcluster.dev/w1\n");
  EXPECT_EQ(ok("get wdg -o name"), "widget.test.libcluster.dev/w1\n");
}

TEST_F(KubectlFidelityTest, ApplyReportsCreatedUnchangedAndConfiguredAndBumpsGeneration) {
  applyCrd();

  const std::string created = ok("apply -f -", kWidget);
  const std::string unchanged = ok("apply -f -", kWidget);
  const std::string generationBefore = ok("get widget w1 -o jsonpath={.metadata.generation}");
  const std::string configured = ok("apply -f -", withSize(4));

  EXPECT_EQ(created, "widget.test.libcluster.dev/w1 created\n");
  EXPECT_EQ(unchanged, "widget.test.libcluster.dev/w1 unchanged\n");
  EXPECT_EQ(configured, "widget.test.libcluster.dev/w1 configured\n");
  EXPECT_EQ(generationBefore, "1");
  EXPECT_EQ(ok("get widget w1 -o jsonpath={.metadata.generation}/{.spec.size}"), "2/4");
}

TEST_F(KubectlFidelityTest, GetPrintsPrinterColumnsAndWideAddsPriorityColumns) {
  applyWidget();
  ok("patch widget w1 --subresource=status --type=merge "
     "-p '{\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}'");

  const std::string normal = ok("get widgets");
  const std::string wide = ok("get widgets -o wide");

  EXPECT_TRUE(std::regex_search(
      normal, std::regex(R"(^NAME +SIZE +COLOR +READY +AGE\nw1 +3 +red +True +\d+s\n$)")))
      << normal;
  EXPECT_TRUE(std::regex_search(
      wide,
      std::regex(R"(^NAME +SIZE +COLOR +READY +OWNER +AGE\nw1 +3 +red +True +team-a +\d+s\n$)")))
      << wide;
}

TEST_F(KubectlFidelityTest, GetJsonReturnsTheStoredObjectWithSchemaDefaults) {
  applyWidget();

  const nlohmann::json widget = nlohmann::json::parse(ok("get widget w1 -o json"), nullptr, false);

  ASSERT_FALSE(widget.is_discarded());
  EXPECT_EQ(widget["apiVersion"], "test.libcluster.dev/v1");
  EXPECT_EQ(widget["kind"], "Widget");
  EXPECT_EQ(widget["metadata"]["namespace"], "default");
  EXPECT_EQ(widget["metadata"]["generation"], 1);
  EXPECT_FALSE(widget["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(widget["metadata"]["resourceVersion"].get<std::string>().empty());
  EXPECT_EQ(widget["spec"]["color"], "red") << "schema default applied";
  EXPECT_EQ(widget["spec"]["size"], 3);
  EXPECT_FALSE(widget.contains("status"));
}

TEST_F(KubectlFidelityTest, GetWatchPrintsAChangeMadeWhileWatching) {
  applyWidget();
  TestApiServer::CommandResult watched{-1, ""};
  std::thread watcher([&] { watched = run("get widgets -w --request-timeout=4s"); });
  ASSERT_TRUE(waitForWatches(1)) << server_.stats().dump();

  ok("patch widget w1 --type=merge -p '{\"spec\":{\"color\":\"blue\"}}'");
  watcher.join();

  EXPECT_TRUE(std::regex_search(watched.output,
                                std::regex(R"(NAME +SIZE +COLOR +READY +AGE\nw1 +3 +red +\d+s\n)")))
      << watched.output;
  EXPECT_TRUE(std::regex_search(watched.output, std::regex(R"(\nw1 +3 +blue +\d+s\n)")))
      << watched.output;
}

TEST_F(KubectlFidelityTest, StatusPatchChangesStatusButNotGenerationOrSpec) {
  applyWidget();

  const std::string patched = ok(
      "patch widget w1 --subresource=status --type=merge "
      "-p '{\"spec\":{\"size\":9},\"status\":{\"phase\":\"Running\",\"observedGeneration\":1}}'");

  EXPECT_EQ(patched, "widget.test.libcluster.dev/w1 patched\n");
  EXPECT_EQ(ok("get widget w1 -o jsonpath={.status.phase}/{.metadata.generation}/{.spec.size}"),
            "Running/1/3");
}

TEST_F(KubectlFidelityTest, SpecWritesIgnoreStatus) {
  applyWidget();

  ok("patch widget w1 --type=merge -p '{\"status\":{\"phase\":\"Hacked\"}}'");

  EXPECT_EQ(ok("get widget w1 -o jsonpath={.status.phase}"), "");
}

TEST_F(KubectlFidelityTest, InvalidWidgetIsRejectedWithTheServersMessage) {
  applyCrd();

  const TestApiServer::CommandResult tooBig = run("apply -f -", withSize(40));
  const TestApiServer::CommandResult missing =
      run("create -f -",
          "apiVersion: test.libcluster.dev/v1\nkind: Widget\nmetadata: {name: w2}\nspec: {}\n");
  const TestApiServer::CommandResult badEnum =
      run("create -f -", "apiVersion: test.libcluster.dev/v1\nkind: Widget\nmetadata: {name: w3}\n"
                         "spec: {size: 1, color: pink}\n");
  const TestApiServer::CommandResult unknownField =
      run("create -f -", "apiVersion: test.libcluster.dev/v1\nkind: Widget\nmetadata: {name: w4}\n"
                         "spec: {size: 1, bogus: true}\n");

  EXPECT_NE(tooBig.exitCode, 0);
  EXPECT_THAT(tooBig.output, HasSubstr("The Widget \"w1\" is invalid: spec.size: Invalid value: "
                                       "40: spec.size in body should be less than or equal to "
                                       "10"));
  EXPECT_NE(missing.exitCode, 0);
  EXPECT_THAT(missing.output, HasSubstr("The Widget \"w2\" is invalid: spec.size: Required value"));
  EXPECT_NE(badEnum.exitCode, 0);
  EXPECT_THAT(badEnum.output, HasSubstr("spec.color: Unsupported value: \"pink\": supported "
                                        "values: \"red\", \"green\", \"blue\""));
  EXPECT_NE(unknownField.exitCode, 0);
  EXPECT_THAT(unknownField.output,
              HasSubstr("Error from server (BadRequest): error when creating \"STDIN\": Widget in "
                        "version \"v1\" cannot be handled as a Widget: strict decoding error: "
                        "unknown field \"spec.bogus\""));
  EXPECT_THAT(run("get widgets -o name").output, Not(HasSubstr("widget")));
}

TEST_F(KubectlFidelityTest, ServerSideApplyOwnsFieldsAndReportsConflicts) {
  applyCrd();

  const std::string applied = ok("apply --server-side -f -", kWidget);
  const TestApiServer::CommandResult conflicting =
      run("apply --server-side --field-manager=other -f -", withSize(5));
  const std::string forced =
      ok("apply --server-side --field-manager=other --force-conflicts -f -", withSize(5));

  EXPECT_EQ(applied, "widget.test.libcluster.dev/w1 serverside-applied\n");
  EXPECT_NE(conflicting.exitCode, 0);
  EXPECT_THAT(conflicting.output,
              HasSubstr("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.size\n"));
  EXPECT_EQ(forced, "widget.test.libcluster.dev/w1 serverside-applied\n");
  EXPECT_EQ(ok("get widget w1 -o jsonpath={.spec.size}/{.metadata.generation}"), "5/2");
  const std::string managers = ok("get widget w1 -o jsonpath={.metadata.managedFields[*].manager}");
  EXPECT_EQ(managers, "kubectl other");
}

TEST_F(KubectlFidelityTest, DeleteRemovesTheWidget) {
  applyWidget();

  const std::string deleted = ok("delete widget w1");
  const TestApiServer::CommandResult after = run("get widget w1");

  EXPECT_EQ(deleted, "widget.test.libcluster.dev \"w1\" deleted\n");
  EXPECT_NE(after.exitCode, 0);
  EXPECT_THAT(after.output, HasSubstr("Error from server (NotFound): widgets.test.libcluster.dev "
                                      "\"w1\" not found"));
}

// What HttpKubeApi::remove sends with preconditions, sent by kubectl: a stale resourceVersion is a
// Conflict worded as kube-apiserver words it (etcd3's InvalidObj error) and deletes nothing.
TEST_F(KubectlFidelityTest, DeleteWithAStaleResourceVersionPreconditionConflicts) {
  applyWidget();
  const std::string planned = ok("get widget w1 -o jsonpath={.metadata.resourceVersion}");
  EXPECT_EQ(ok("apply -f -", withSize(4)), "widget.test.libcluster.dev/w1 configured\n");
  const std::string current = ok("get widget w1 -o jsonpath={.metadata.resourceVersion}");
  const std::string url = "/apis/test.libcluster.dev/v1/namespaces/default/widgets/w1";
  const auto precondition = [](const std::string& version) {
    return nlohmann::json{{"apiVersion", "v1"},
                          {"kind", "DeleteOptions"},
                          {"preconditions", {{"resourceVersion", version}}}}
        .dump();
  };

  const TestApiServer::CommandResult stale =
      run("delete --raw " + url + " -f -", precondition(planned));

  EXPECT_NE(stale.exitCode, 0);
  EXPECT_THAT(
      stale.output,
      HasSubstr("Error from server (Conflict): Operation cannot be fulfilled on "
                "widgets.test.libcluster.dev \"w1\": StorageError: invalid object, Code: 4, "
                "Key: /registry/test.libcluster.dev/widgets/default/w1, ResourceVersion: 0, "
                "AdditionalErrorMsg: Precondition failed: ResourceVersion in precondition: " +
                planned + ", ResourceVersion in object meta: " + current + "\n"));
  EXPECT_EQ(ok("get widget w1 -o jsonpath={.spec.size}"), "4");
  ok("delete --raw " + url + " -f -", precondition(current));
  EXPECT_NE(run("get widget w1").exitCode, 0);
}

TEST_F(KubectlFidelityTest, DeletingTheCrdRemovesTheResourceType) {
  applyWidget();

  EXPECT_EQ(ok("delete crd widgets.test.libcluster.dev"),
            "customresourcedefinition.apiextensions.k8s.io \"widgets.test.libcluster.dev\" "
            "deleted\n");
  const TestApiServer::CommandResult listed = run("get widgets");

  // kubectl still maps "widgets" from its discovery cache, so the list itself 404s.
  EXPECT_NE(listed.exitCode, 0);
  EXPECT_THAT(listed.output,
              HasSubstr("Error from server (NotFound): Unable to list \"test.libcluster.dev/v1, "
                        "Resource=widgets\": the server could not find the requested resource"));
  EXPECT_THAT(ok("api-resources"), Not(HasSubstr("widgets")));
}

TEST_F(KubectlFidelityTest, ExplainShowsSchemaDescriptions) {
  applyCrd();

  const std::string spec = ok("explain widgets.spec");
  const std::string size = ok("explain widgets.spec.size");

  EXPECT_THAT(spec, HasSubstr("KIND:       Widget"));
  EXPECT_THAT(spec, HasSubstr("WidgetSpec is the desired state of a widget."));
  EXPECT_TRUE(std::regex_search(
      spec, std::regex(R"(size\t<integer> -required-\n +Number of parts, between 1 and 10\.)")))
      << spec;
  EXPECT_THAT(spec, HasSubstr("enum: red, green, blue"));
  EXPECT_THAT(size, HasSubstr("FIELD: size <integer>"));
}

TEST_F(KubectlFidelityTest, GetPodsFiltersByLabelSelector) {
  constexpr const char* kPods = R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, labels: {app: x}}
  spec: {containers: [{name: c, image: busybox}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: b, labels: {app: web}}
  spec: {containers: [{name: c, image: busybox}]}
)";
  EXPECT_EQ(ok("apply -f -", kPods), "pod/a created\npod/b created\n");

  EXPECT_EQ(ok("get pods -l app=x -o name"), "pod/a\n");
  EXPECT_EQ(ok("get pods -l 'app in (x,web)' -o name"), "pod/a\npod/b\n");
  EXPECT_EQ(ok("get pods -l 'app!=x' -o name"), "pod/b\n");
  EXPECT_EQ(ok("get pods --field-selector metadata.name=b -o name"), "pod/b\n");
  EXPECT_TRUE(std::regex_search(
      ok("get pods -l app=x"),
      std::regex(R"(^NAME +READY +STATUS +RESTARTS +AGE\na +0/1 +Pending +0 +\d+s\n$)")));
}

TEST_F(KubectlFidelityTest, CreateNamespaceAndUseIt) {
  const std::string created = ok("create namespace team");
  const std::string configMap = ok("create configmap settings -n team --from-literal=k=v");

  EXPECT_EQ(created, "namespace/team created\n");
  EXPECT_EQ(configMap, "configmap/settings created\n");
  EXPECT_EQ(ok("get namespace team -o jsonpath={.status.phase}"), "Active");
  EXPECT_EQ(ok("get configmap settings -n team -o jsonpath={.data.k}"), "v");
  const TestApiServer::CommandResult missing = run("create configmap x -n nowhere");
  EXPECT_THAT(missing.output, HasSubstr("namespaces \"nowhere\" not found"));
}

TEST_F(KubectlFidelityTest, ClientCertificateKubeconfigAuthenticates) {
  const std::string output =
      ok("--kubeconfig=" + server_.kubeconfigCertPath() + " get namespace kube-system -o name");

  EXPECT_EQ(output, "namespace/kube-system\n");
}

TEST_F(KubectlFidelityTest, WrongTokenIsUnauthorized) {
  ok("get pods");

  const TestApiServer::CommandResult warm = run("--token=wrong get pods");
  const TestApiServer::CommandResult raw = run("--token=wrong get --raw /api/v1/namespaces");

  EXPECT_NE(warm.exitCode, 0);
  EXPECT_THAT(warm.output, HasSubstr("error: You must be logged in to the server (Unauthorized)"));
  EXPECT_NE(raw.exitCode, 0);
  EXPECT_THAT(raw.output, HasSubstr("Unauthorized"));
}

TEST_F(KubectlFidelityTest, YamlBooleanLabelValueIsRejectedLikeTheRealServer) {
  const TestApiServer::CommandResult result = run(
      "apply -f -", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {enabled: y}}\n");

  EXPECT_NE(result.exitCode, 0);
  EXPECT_THAT(result.output, HasSubstr("json: cannot unmarshal bool into Go struct field "
                                       "ObjectMeta.metadata.labels of type string"));
}

} // namespace
} // namespace libcluster
