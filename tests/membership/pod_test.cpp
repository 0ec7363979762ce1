#include "membership/pod.h"

#include <gtest/gtest.h>

#include "kube/object_parser.h"

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

TEST(PodFields, AreEnoughForPodFromJsonAndLeaveOutTheRest) {
  // Every field podFromJson reads, in every variant, next to what a real pod also carries.
  const nlohmann::json pods = nlohmann::json::parse(R"([
    {"apiVersion": "v1", "kind": "Pod",
     "metadata": {"name": "app-2", "namespace": "prod", "uid": "u1", "resourceVersion": "7",
                  "creationTimestamp": "2026-01-01T00:00:00Z",
                  "deletionTimestamp": "2026-01-02T00:00:00Z",
                  "labels": {"app": "x", "statefulset.kubernetes.io/pod-name": "app-2"},
                  "annotations": {"a": "b"},
                  "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                       "name": "app", "uid": "o1", "controller": true}],
                  "managedFields": [{"manager": "kubectl"}]},
     "spec": {"hostname": "app-2", "subdomain": "app-headless",
              "containers": [{"name": "app", "image": "app:1", "env": [{"name": "A"}]}]},
     "status": {"phase": "Running", "podIP": "10.0.0.2", "hostIP": "192.168.0.1",
                "podIPs": [{"ip": "10.0.0.2"}, {"ip": "fd00::2"}],
                "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "t"},
                               {"type": "libcluster.dev/Connected", "status": "False",
                                "message": "missing app@10.0.0.3", "reason": "Partial"}],
                "containerStatuses": [{"name": "app", "ready": true}]}},
    {"metadata": {"name": "web-1", "namespace": "prod",
                  "ownerReferences": [{"kind": "ReplicaSet", "name": "web"}]},
     "status": {"phase": "Pending", "podIP": "10.0.0.9",
                "conditions": [{"type": "Ready", "status": "False"},
                               {"type": "libcluster.dev/Connected", "status": "True"}]}}
  ])");
  const FieldTree fields(podFields());

  for (const nlohmann::json& pod : pods) {
    const nlohmann::json event = {{"type", "ADDED"}, {"object", pod}};
    Result<nlohmann::json> parsed =
        parseObjectsWithoutManagedFields(event.dump(), ObjectsAt::WatchEventObject,
                                         kMaxJsonDepth, &fields);
    ASSERT_TRUE(parsed) << parsed.error().message;
    const nlohmann::json& lean = (*parsed)["object"];

    EXPECT_EQ(podFromJson(lean), podFromJson(pod)) << lean.dump();
    EXPECT_FALSE(lean["metadata"].contains("annotations"));
    EXPECT_FALSE(lean.contains("spec") && lean["spec"].contains("containers"));
    EXPECT_FALSE(lean["status"].contains("hostIP"));
  }
}

} // namespace
} // namespace libcluster
