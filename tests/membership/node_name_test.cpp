#include "membership/node_name.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

// The vectors come from libcluster 3.5's test/kubernetes_test.exs (cassette fixtures).
TEST(NodeName, IpModeMatchesLibcluster) {
  EXPECT_EQ(ipNodeName("test_basename", "10.48.33.136"), "test_basename@10.48.33.136");
  EXPECT_EQ(ipNodeName("myapp", "fd00::5"), "myapp@fd00::5");
}

TEST(NodeName, DnsModeMatchesLibcluster) {
  EXPECT_EQ(dnsNodeName("test_basename", "10.48.33.136", "airatel-service-localization",
                        "my_cluster.local"),
            "test_basename@10-48-33-136.airatel-service-localization.pod.my_cluster.local");
  EXPECT_EQ(dnsNodeName("test_basename", "10.48.33.136", "airatel-service-localization",
                        "cluster.local"),
            "test_basename@10-48-33-136.airatel-service-localization.pod.cluster.local");
}

TEST(NodeName, DnsModeDashesIPv6LikeCoreDns) {
  EXPECT_EQ(dnsNodeName("app", "fd00::5", "ns", "cluster.local"), "app@fd00--5.ns.pod.cluster.local");
}

TEST(NodeName, HostnameModeMatchesLibcluster) {
  EXPECT_EQ(hostnameNodeName("test_basename", "my-hostname-0", "my_service",
                             "airatel-service-localization", "my_cluster.local"),
            "test_basename@my-hostname-0.my_service.airatel-service-localization.svc.my_cluster.local");
}

PodInfo runningPod() {
  PodInfo pod;
  pod.name = "app-0";
  pod.namespaceName = "prod";
  pod.phase = "Running";
  pod.podIP = "10.0.0.7";
  pod.podIPs = {"10.0.0.7", "fd00::7"};
  pod.hostname = "app-0";
  return pod;
}

TEST(PodNodeName, FollowsTheSourceMode) {
  KubernetesSource source;
  const PodInfo pod = runningPod();

  EXPECT_EQ(podNodeName(pod, source, "app"), "app@10.0.0.7");
  source.mode = KubernetesSource::Mode::Dns;
  EXPECT_EQ(podNodeName(pod, source, "app"), "app@10-0-0-7.prod.pod.cluster.local");
  source.mode = KubernetesSource::Mode::Hostname;
  source.serviceName = "app-headless";
  source.clusterDomain = "example.internal";
  EXPECT_EQ(podNodeName(pod, source, "app"), "app@app-0.app-headless.prod.svc.example.internal");
}

TEST(PodNodeName, PicksTheRequestedFamilyOnDualStack) {
  KubernetesSource source;
  source.ipFamily = KubernetesSource::IpFamily::IPv6;

  EXPECT_EQ(podNodeName(runningPod(), source, "app"), "app@fd00::7");
  source.ipFamily = KubernetesSource::IpFamily::IPv4;
  EXPECT_EQ(podNodeName(runningPod(), source, "app"), "app@10.0.0.7");
}

TEST(PodNodeName, GivesNothingForAPodWithoutAnAddress) {
  PodInfo pod = runningPod();
  pod.podIP.clear();
  pod.podIPs.clear();
  KubernetesSource source;

  EXPECT_EQ(podNodeName(pod, source, "app"), std::nullopt);
  source.mode = KubernetesSource::Mode::Hostname;
  source.serviceName = "svc";
  EXPECT_EQ(podNodeName(pod, source, "app"), std::nullopt);
}

TEST(IsEligibleMember, AppliesReadinessAndTerminationPolicy) {
  KubernetesSource source;
  PodInfo pod = runningPod();
  EXPECT_TRUE(isEligibleMember(pod, source)) << "not-ready pods join by default";

  source.readiness = KubernetesSource::Readiness::ReadyOnly;
  EXPECT_FALSE(isEligibleMember(pod, source));
  pod.ready = true;
  EXPECT_TRUE(isEligibleMember(pod, source));

  pod.terminating = true;
  EXPECT_FALSE(isEligibleMember(pod, source)) << "terminating pods leave early";
  source.includeTerminating = true;
  EXPECT_TRUE(isEligibleMember(pod, source));

  pod.phase = "Succeeded";
  EXPECT_FALSE(isEligibleMember(pod, source));
}

} // namespace
} // namespace libcluster
