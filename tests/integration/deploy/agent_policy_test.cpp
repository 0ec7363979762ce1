// An agent writes only its own pod (issue 9, M2), through the C++ client the agent uses
// (HttpKubeApi, the read-then-merge-patch of PodReporter): deploy/30-agent-policy.yaml and the
// example are applied with kubectl; tokens bound to pods come from the test API server, which
// evaluates the ValidatingAdmissionPolicy like kube-apiserver. tests/integration/deploy/
// check-agent-policy proves the same with the real kubectl.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "kube/http_kube_api.h"
#include "kube/kube_config.h"
#include "support/test_api_server.h"

namespace libcluster {
namespace {

constexpr const char* kPolicyMessage =
    "libcluster agent policy: a service account may write only the status of the pod its token "
    "is bound to";

class AgentPodPolicyTest : public testing::Test {
protected:
  void SetUp() override {
    ASSERT_TRUE(server_.started()) << server_.error();
    const auto applied = server_.kubectl(std::string("apply -f ") + LIBCLUSTER_SOURCE_DIR +
                                         "/crds/ -f " + LIBCLUSTER_SOURCE_DIR + "/deploy/");
    ASSERT_EQ(applied.exitCode, 0) << applied.output;
    const auto example =
        server_.kubectl(std::string("apply -f ") + LIBCLUSTER_SOURCE_DIR + "/deploy/example/");
    ASSERT_EQ(example.exitCode, 0) << example.output;
    admin_ = clientWithToken(server_.token());
    for (const char* name : {"myapp-0", "myapp-1"}) {
      Result<nlohmann::json> created = admin_->create(
          ResourcePath{.resource = "pods", .namespaceName = "myapp"},
          {{"apiVersion", "v1"},
           {"kind", "Pod"},
           {"metadata", {{"name", name}, {"labels", {{"app", "myapp"}}}}},
           {"spec",
            {{"serviceAccountName", "myapp"},
             {"containers", {{{"name", "app"}, {"image", "registry.example.com/myapp:1.0.0"}}}}}}});
      ASSERT_TRUE(created) << created.error().message;
      uids_[name] = (*created)["metadata"]["uid"].get<std::string>();
    }
  }

  std::unique_ptr<HttpKubeApi> clientWithToken(const std::string& token) {
    std::ifstream in(server_.kubeconfigPath());
    std::stringstream text;
    text << in.rdbuf();
    std::string kubeconfig = text.str();
    const std::string from = "token: " + server_.token();
    kubeconfig.replace(kubeconfig.find(from), from.size(), "token: " + token);
    const std::string path = server_.dir() + "/kubeconfig-" + token;
    std::ofstream(path) << kubeconfig;
    Result<KubeConfig> config = loadKubeconfig(path);
    EXPECT_TRUE(config) << config.error().message;
    Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(*config, {});
    EXPECT_TRUE(api) << api.error().message;
    return std::move(*api);
  }

  /// What PodReporter does: read the pod's status, then merge-patch the condition list under
  /// the resourceVersion it read.
  Result<nlohmann::json> report(HttpKubeApi& api, const std::string& pod, const std::string& state) {
    const ResourcePath path{
        .resource = "pods", .namespaceName = "myapp", .name = pod, .subresource = "status"};
    Result<nlohmann::json> current = api.get(path);
    if (!current) {
      return current.error();
    }
    return api.mergePatch(
        path, {{"metadata", {{"resourceVersion", (*current)["metadata"]["resourceVersion"]}}},
               {"status",
                {{"conditions",
                  {{{"type", "libcluster.dev/Connected"}, {"status", state}, {"reason", "Test"}}}}}}});
  }

  std::string connected(const std::string& pod) {
    Result<nlohmann::json> found =
        admin_->get(ResourcePath{.resource = "pods", .namespaceName = "myapp", .name = pod});
    if (!found) {
      return "";
    }
    for (const nlohmann::json& condition :
         (*found)["status"].value("conditions", nlohmann::json::array())) {
      if (condition.value("type", "") == "libcluster.dev/Connected") {
        return condition.value("status", "");
      }
    }
    return "";
  }

  TestApiServer server_;
  std::unique_ptr<HttpKubeApi> admin_;
  std::map<std::string, std::string> uids_;
};

TEST_F(AgentPodPolicyTest, APodBoundTokenWritesItsOwnPodAndNoOther) {
  const std::string account = "system:serviceaccount:myapp:myapp";
  ASSERT_TRUE(server_.addToken("agent-0", account, "myapp-0", uids_["myapp-0"]));
  ASSERT_TRUE(server_.addToken("agent-1", account, "myapp-1", uids_["myapp-1"]));
  auto agent0 = clientWithToken("agent-0");
  auto agent1 = clientWithToken("agent-1");
  ASSERT_TRUE(report(*agent1, "myapp-1", "True"));

  Result<nlohmann::json> own = report(*agent0, "myapp-0", "True");
  Result<nlohmann::json> other = report(*agent0, "myapp-1", "False");

  ASSERT_TRUE(own) << own.error().message;
  EXPECT_EQ(connected("myapp-0"), "True");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, Error::Code::Forbidden);
  EXPECT_NE(other.error().message.find(kPolicyMessage), std::string::npos) << other.error().message;
  EXPECT_EQ(connected("myapp-1"), "True") << "myapp-0's token changed myapp-1";
}

TEST_F(AgentPodPolicyTest, ATokenBoundToNoPodOrToAnEarlierPodOfTheSameNameIsRefused) {
  const std::string account = "system:serviceaccount:myapp:myapp";
  ASSERT_TRUE(server_.addToken("unbound", account));
  ASSERT_TRUE(server_.addToken("stale", account, "myapp-0", "an-earlier-uid"));

  Result<nlohmann::json> unbound = report(*clientWithToken("unbound"), "myapp-0", "False");
  Result<nlohmann::json> stale = report(*clientWithToken("stale"), "myapp-0", "False");

  ASSERT_FALSE(unbound);
  EXPECT_EQ(unbound.error().code, Error::Code::Forbidden);
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().message.find(kPolicyMessage), std::string::npos) << stale.error().message;
}

} // namespace
} // namespace libcluster
