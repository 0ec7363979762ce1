#include "membership/pod.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

TEST(PodFromJson, ReadsWhatMembershipNeeds) {
  const auto pod = podFromJson(nlohmann::json::parse(R"({
    "metadata": {"name": "app-2", "namespace": "prod", "uid": "u1", "resourceVersion": "7",
                 "creationTimestamp": "2026-01-01T00:00:00Z", "labels": {"app": "x"},
                 "ownerReferences": [{"kind": "StatefulSet", "name": "app"}],
                 "managedFields": [{"manager": "kubectl"}]},
    "spec": {"hostname": "app-2", "subdomain": "app-headless", "containers": []},
    "status": {"phase": "Running", "podIP": "10.0.0.2",
               "podIPs": [{"ip": "10.0.0.2"}, {"ip": "fd00::2"}],
               "conditions": [{"type": "Ready", "status": "True"},
                              {"type": "libcluster.dev/Connected", "status": "False",
                               "message": "missing app@10.0.0.3"}]}})"));

  ASSERT_TRUE(pod);
  EXPECT_EQ(pod->key(), "prod/app-2");
  EXPECT_EQ(pod->labels.at("app"), "x");
  EXPECT_EQ(pod->ordinal, 2);
  EXPECT_EQ(pod->podIPs, (std::vector<std::string>{"10.0.0.2", "fd00::2"}));
  EXPECT_TRUE(pod->ready);
  EXPECT_FALSE(pod->terminating);
  EXPECT_EQ(pod->connected, false);
  EXPECT_EQ(pod->connectedMessage, "missing app@10.0.0.3");
  EXPECT_EQ(pod->hostname, "app-2");
}

TEST(PodFromJson, HasNoOrdinalWithoutAStatefulSetOwner) {
  const auto pod = podFromJson(nlohmann::json::parse(
      R"({"metadata": {"name": "web-5", "ownerReferences": [{"kind": "ReplicaSet", "name": "web"}]}})"));

  ASSERT_TRUE(pod);
  EXPECT_EQ(pod->ordinal, std::nullopt);
}

TEST(PodFromJson, SeesDeletionTimestampAsTerminating) {
  const auto pod = podFromJson(nlohmann::json::parse(
      R"({"metadata": {"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}})"));

  ASSERT_TRUE(pod);
  EXPECT_TRUE(pod->terminating);
}

TEST(PodFromJson, RejectsObjectsWithoutANameAndNeverThrows) {
  EXPECT_FALSE(podFromJson(nlohmann::json::parse(R"({"metadata": {}})")));
  EXPECT_FALSE(podFromJson(nlohmann::json::parse(R"([1,2])")));
  EXPECT_TRUE(podFromJson(nlohmann::json::parse(
      R"({"metadata": {"name": "a", "labels": [], "ownerReferences": {}}, "spec": 3,
          "status": {"podIPs": [1, {"ip": 2}], "conditions": "x"}})")));
}

} // namespace
} // namespace libcluster
