#include "strategy/kubernetes_strategy.h"

#include <gtest/gtest.h>

#include "fakes/builders.h"
#include "fakes/fake_kube_api.h"

namespace libcluster {
namespace {

using nlohmann::json;
using Mode = KubernetesStrategy::Mode;
using Lookup = KubernetesStrategy::Lookup;

/// libcluster's EndpointsList cassette (test/fixtures/vcr_cassettes/kubernetes.json), trimmed.
json endpointsList() {
  return json::parse(
      R"({"kind":"EndpointsList","apiVersion":"v1","metadata":{"resourceVersion":"1"},
    "items":[{"metadata":{"name":"development","namespace":"airatel-service-localization"},
      "subsets":[{"addresses":[{"hostname":"my-hostname-0","ip":"10.48.33.136",
        "nodeName":"gke-jarvis-default-pool-e1b4b4b6-2x0h",
        "targetRef":{"kind":"Pod","namespace":"airatel-service-localization",
                     "name":"development-4292695165-mgq9f"}}],
        "notReadyAddresses":[{"ip":"10.48.33.200","targetRef":{"kind":"Pod","namespace":"x","name":"p"}}],
        "ports":[{"name":"http","port":8080}]}]}]})");
}

/// libcluster's PodList cassette (kubernetes_pods.json), trimmed; with the status.phase every real
/// pod has (the shared rule admits Running pods only).
json podList() {
  return json::parse(R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"1"},
    "items":[{"metadata":{"name":"development-4292695165-mgq9f","namespace":"airatel-service-localization"},
      "spec":{"hostname":"my-hostname-0"},"status":{"phase":"Running","podIP":"10.48.33.136"}}]})");
}

KubernetesStrategy::Options options(Mode mode, Lookup lookup, std::string cluster = "cluster") {
  KubernetesStrategy::Options o;
  o.selector = "app=test_selector";
  o.nodeBasename = "test_basename";
  o.namespaceName = "airatel-service-localization";
  o.serviceName = "my_service";
  o.mode = mode;
  o.lookup = lookup;
  o.clusterDomain = cluster + ".local";
  return o;
}

PeerSet parsed(const json& list, const KubernetesStrategy::Options& o) {
  Result<PeerSet> peers = KubernetesStrategy::parseList(list, o);
  EXPECT_TRUE(peers) << peers.error().message;
  return peers ? *peers : PeerSet{};
}

TEST(KubernetesStrategyNames, EndpointsInEachModeMatchLibclustersVectors) {
  EXPECT_EQ(parsed(endpointsList(), options(Mode::Ip, Lookup::Endpoints)),
            PeerSet{"test_basename@10.48.33.136"});
  EXPECT_EQ(
      parsed(endpointsList(), options(Mode::Dns, Lookup::Endpoints, "my_cluster")),
      PeerSet{"test_basename@10-48-33-136.airatel-service-localization.pod.my_cluster.local"});
  EXPECT_EQ(parsed(endpointsList(), options(Mode::Hostname, Lookup::Endpoints, "my_cluster")),
            PeerSet{"test_basename@my-hostname-0.my_service.airatel-service-localization.svc.my_"
                    "cluster.local"});
}

TEST(KubernetesStrategyNames, PodsInEachModeMatchLibclustersVectors) {
  EXPECT_EQ(parsed(podList(), options(Mode::Ip, Lookup::Pods)),
            PeerSet{"test_basename@10.48.33.136"});
  EXPECT_EQ(parsed(podList(), options(Mode::Dns, Lookup::Pods)),
            PeerSet{"test_basename@10-48-33-136.airatel-service-localization.pod.cluster.local"});
  EXPECT_EQ(parsed(podList(), options(Mode::Hostname, Lookup::Pods, "my_cluster")),
            PeerSet{"test_basename@my-hostname-0.my_service.airatel-service-localization.svc.my_"
                    "cluster.local"});
}

TEST(KubernetesStrategyNames, EndpointsAddressWithoutTargetRefTakesTheQueriedNamespace) {
  const json list = json::parse(R"({"items":[{"metadata":{"name":"manual"},
      "subsets":[{"addresses":[{"ip":"10.0.0.5"}]}]}]})");

  EXPECT_EQ(parsed(list, options(Mode::Dns, Lookup::Endpoints)),
            PeerSet{"test_basename@10-0-0-5.airatel-service-localization.pod.cluster.local"});
}

TEST(KubernetesStrategyNames, HostnameModeSkipsAddressesItCannotName) {
  const json list = json::parse(R"({"items":[{"subsets":[{"addresses":[{"ip":"10.0.0.5"}]}]}]})");

  EXPECT_EQ(parsed(list, options(Mode::Hostname, Lookup::Endpoints)), PeerSet{});
}

TEST(KubernetesStrategyNames, PodsThatFinishedOrAreTerminatingOrHaveNoIpAreLeftOut) {
  json list = listPage({pod("running").inNamespace("ns").ip("10.0.0.1"),
                        pod("not-ready").inNamespace("ns").ip("10.0.0.2").ready(false),
                        pod("pending-no-ip").inNamespace("ns").phase("Pending"),
                        pod("done").inNamespace("ns").ip("10.0.0.3").phase("Succeeded"),
                        pod("failed").inNamespace("ns").ip("10.0.0.4").phase("Failed"),
                        pod("leaving").inNamespace("ns").ip("10.0.0.5").deleting()},
                       "7");

  EXPECT_EQ(parsed(list, options(Mode::Ip, Lookup::Pods)),
            (PeerSet{"test_basename@10.0.0.1", "test_basename@10.0.0.2"}));
}

TEST(KubernetesStrategyNames, PodsFollowTheControllersRule) {
  // membership's isEligibleMember, the controller's rule: Running only (a Pending pod with an IP
  // is still starting), not-ready pods kept, terminating ones out.
  json list = listPage({pod("running").inNamespace("ns").ip("10.0.0.1").ready(),
                        pod("starting").inNamespace("ns").ip("10.0.0.2").phase("Pending"),
                        pod("no-phase").inNamespace("ns").ip("10.0.0.3").phase(""),
                        pod("leaving").inNamespace("ns").ip("10.0.0.4").ready().deleting()},
                       "1");

  EXPECT_EQ(parsed(list, options(Mode::Ip, Lookup::Pods)), PeerSet{"test_basename@10.0.0.1"});
}

TEST(KubernetesStrategyNames, EndpointSlicesFollowTheControllersRule) {
  // membership's membersFromEndpointSlices with ReadyOnly: serving endpoints, terminating ones
  // out, a missing condition read as ready (the API's rule).
  const json list = json::parse(R"({"items":[
    {"metadata":{"name":"s","namespace":"ns"},"addressType":"IPv4","endpoints":[
      {"addresses":["10.0.0.1"],"conditions":{"ready":true,"serving":true,"terminating":false}},
      {"addresses":["10.0.0.2"],"conditions":{"ready":false,"serving":true,"terminating":true}},
      {"addresses":["10.0.0.3"],"conditions":{"ready":false,"serving":false}},
      {"addresses":["10.0.0.4"],"conditions":{}}]}]})");

  EXPECT_EQ(parsed(list, options(Mode::Ip, Lookup::EndpointSlices)),
            (PeerSet{"test_basename@10.0.0.1", "test_basename@10.0.0.4"}));
}

TEST(KubernetesStrategyNames, ASliceWithoutANamespaceTakesTheQueriedOne) {
  const json list = json::parse(R"({"items":[{"addressType":"IPv4","endpoints":[
      {"addresses":["10.0.0.5"]}]}, {"metadata":5,"endpoints":[{"addresses":["10.0.0.6"]}]}]})");

  EXPECT_EQ(parsed(list, options(Mode::Dns, Lookup::EndpointSlices)),
            (PeerSet{"test_basename@10-0-0-5.airatel-service-localization.pod.cluster.local",
                     "test_basename@10-0-0-6.airatel-service-localization.pod.cluster.local"}));
}

TEST(KubernetesStrategyNames, PodWithoutSpecHostnameIsNamedByItsName) {
  json list = listPage({pod("app-0").inNamespace("ns").ip("10.0.0.1")}, "1");

  EXPECT_EQ(parsed(list, options(Mode::Hostname, Lookup::Pods)),
            PeerSet{"test_basename@app-0.my_service.ns.svc.cluster.local"});
}

TEST(KubernetesStrategyNames, EndpointSlicesUseReadyEndpointsOnly) {
  const json list = json::parse(R"({"kind":"EndpointSliceList","items":[
    {"metadata":{"name":"app-abc","namespace":"ns"},"addressType":"IPv4","endpoints":[
      {"addresses":["10.0.0.1"],"conditions":{"ready":true},"hostname":"app-0",
       "targetRef":{"kind":"Pod","name":"app-0","namespace":"ns"}},
      {"addresses":["10.0.0.2"],"conditions":{"ready":false}},
      {"addresses":["10.0.0.3"]},
      {"addresses":[]}]},
    {"metadata":{"name":"app-fqdn","namespace":"ns"},"addressType":"FQDN","endpoints":[
      {"addresses":["app.example.com"]}]},
    {"metadata":{"name":"app-v6","namespace":"ns"},"addressType":"IPv6","endpoints":[
      {"addresses":["fd00::5"],"targetRef":{"kind":"Pod","name":"app-1","namespace":"ns"}}]}]})");

  EXPECT_EQ(parsed(list, options(Mode::Ip, Lookup::EndpointSlices)),
            (PeerSet{"test_basename@10.0.0.1", "test_basename@10.0.0.3", "test_basename@fd00::5"}));
  EXPECT_EQ(parsed(list, options(Mode::Hostname, Lookup::EndpointSlices)),
            (PeerSet{"test_basename@app-0.my_service.ns.svc.cluster.local",
                     "test_basename@app-1.my_service.ns.svc.cluster.local"}));
}

TEST(KubernetesStrategyNames, AnswersThatAreNotListsAreErrors) {
  EXPECT_FALSE(KubernetesStrategy::parseList(json::parse(R"({"kind":"Status"})"),
                                             options(Mode::Ip, Lookup::Pods)));
  EXPECT_FALSE(
      KubernetesStrategy::parseList(json::parse(R"([])"), options(Mode::Ip, Lookup::Pods)));
  EXPECT_EQ(parsed(json::parse(R"({"items":null})"), options(Mode::Ip, Lookup::Pods)), PeerSet{});
}

TEST(KubernetesStrategyNames, OddItemsAreSkippedNotFatal) {
  const json list =
      json::parse(R"({"items":[null, 5, {"subsets":"x"}, {"subsets":[{"addresses":[7, {"ip":5}]}]},
      {"subsets":[{"addresses":[{"ip":"10.0.0.9"}]}]}]})");

  EXPECT_EQ(parsed(list, options(Mode::Ip, Lookup::Endpoints)), PeerSet{"test_basename@10.0.0.9"});
}

class KubernetesStrategyTest : public testing::Test {
protected:
  std::unique_ptr<KubernetesStrategy> make(KubernetesStrategy::Options o) {
    auto strategy = KubernetesStrategy::create(std::move(o), api_);
    EXPECT_TRUE(strategy) << strategy.error().message;
    return std::move(*strategy);
  }

  FakeKubeApi api_;
};

TEST_F(KubernetesStrategyTest, ListsOnceWithTheSelectorPerPoll) {
  api_.scriptList(endpointsList());
  auto strategy = make(options(Mode::Ip, Lookup::Endpoints));

  const auto peers = strategy->discoverPeers({});

  ASSERT_TRUE(peers);
  EXPECT_EQ(*peers, PeerSet{"test_basename@10.48.33.136"});
  const auto calls = api_.calls();
  ASSERT_EQ(calls.size(), 1U);
  EXPECT_EQ(calls[0].verb, "list");
  EXPECT_EQ(calls[0].path.url(), "/api/v1/namespaces/airatel-service-localization/endpoints");
  EXPECT_EQ(calls[0].listOptions.labelSelector, "app=test_selector");
  EXPECT_EQ(calls[0].listOptions.resourceVersion, "");
}

TEST_F(KubernetesStrategyTest, TheListIsCancelledWithThePoll) {
  api_.scriptList(endpointsList());
  auto strategy = make(options(Mode::Ip, Lookup::Endpoints));
  std::stop_source poll;

  (void)strategy->discoverPeers(poll.get_token());

  ASSERT_EQ(api_.calls().size(), 1U);
  const std::stop_token passed = api_.calls()[0].callOptions.stop;
  ASSERT_TRUE(passed.stop_possible());
  EXPECT_FALSE(passed.stop_requested());
  poll.request_stop();
  EXPECT_TRUE(passed.stop_requested());
}

TEST_F(KubernetesStrategyTest, CachedResourcesListAtResourceVersionZero) {
  api_.scriptList(podList());
  KubernetesStrategy::Options o = options(Mode::Ip, Lookup::Pods);
  o.useCachedResources = true;
  auto strategy = make(o);

  (void)strategy->discoverPeers({});

  ASSERT_EQ(api_.listCalls().size(), 1U);
  EXPECT_EQ(api_.listCalls()[0].resourceVersion, "0");
  EXPECT_EQ(api_.calls()[0].path.url(), "/api/v1/namespaces/airatel-service-localization/pods");
}

TEST_F(KubernetesStrategyTest, EndpointSlicesComeFromDiscoveryGroup) {
  auto strategy = make(options(Mode::Ip, Lookup::EndpointSlices));

  EXPECT_EQ(strategy->collection().url(),
            "/apis/discovery.k8s.io/v1/namespaces/airatel-service-localization/endpointslices");
}

TEST_F(KubernetesStrategyTest, ForbiddenIsAnErrorNeverNoPeers) {
  api_.scriptList(Error{Error::Code::Forbidden, "endpoints is forbidden"});
  auto strategy = make(options(Mode::Ip, Lookup::Endpoints));

  const auto peers = strategy->discoverPeers({});

  ASSERT_FALSE(peers);
  EXPECT_EQ(peers.error().code, Error::Code::Forbidden);
}

TEST_F(KubernetesStrategyTest, AnyOtherFailureIsAnErrorToo) {
  auto strategy = make(options(Mode::Ip, Lookup::Endpoints));
  for (Error::Code code :
       {Error::Code::Unavailable, Error::Code::Timeout, Error::Code::Unauthorized}) {
    api_.scriptList(Error{code, "failed"});
    EXPECT_FALSE(strategy->discoverPeers({}));
  }
  api_.scriptList(json::parse(R"({"kind":"Status","status":"Failure"})"));
  EXPECT_FALSE(strategy->discoverPeers({}));
}

TEST_F(KubernetesStrategyTest, ValidatesItsOptions) {
  KubernetesStrategy::Options o = options(Mode::Ip, Lookup::Pods);
  o.selector = "app in (";
  EXPECT_FALSE(KubernetesStrategy::create(o, api_));
  o = options(Mode::Hostname, Lookup::Pods);
  o.serviceName.clear();
  const auto noService = KubernetesStrategy::create(o, api_);
  ASSERT_FALSE(noService);
  EXPECT_EQ(noService.error().message.substr(0, 21), "kubernetesServiceName");
  o = options(Mode::Ip, Lookup::Pods);
  o.namespaceName.clear();
  EXPECT_FALSE(KubernetesStrategy::create(o, api_));
  o = options(Mode::Ip, Lookup::Pods);
  o.nodeBasename.clear();
  EXPECT_FALSE(KubernetesStrategy::create(o, api_));
}

} // namespace
} // namespace libcluster
