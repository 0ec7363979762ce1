#include "membership/node_name.h"

#include <algorithm>
#include <initializer_list>

namespace libcluster {
namespace {

/// The parts one after the other: the node names below are built this way.
std::string joined(std::initializer_list<std::string_view> parts) {
  std::size_t size = 0;
  for (const std::string_view part : parts) {
    size += part.size();
  }
  std::string text;
  text.reserve(size);
  for (const std::string_view part : parts) {
    text += part;
  }
  return text;
}

} // namespace

bool isIPv6(std::string_view address) { return address.find(':') != std::string_view::npos; }

std::string ipNodeName(std::string_view basename, std::string_view ip) {
  return joined({basename, "@", ip});
}

std::string dnsNodeName(std::string_view basename, std::string_view ip, std::string_view namespaceName,
                        std::string_view clusterDomain) {
  std::string dashed(ip);
  std::replace(dashed.begin(), dashed.end(), '.', '-');
  std::replace(dashed.begin(), dashed.end(), ':', '-');
  return joined({basename, "@", dashed, ".", namespaceName, ".pod.", clusterDomain});
}

std::string hostnameNodeName(std::string_view basename, std::string_view hostname,
                             std::string_view serviceName, std::string_view namespaceName,
                             std::string_view clusterDomain) {
  return joined({basename, "@", hostname, ".", serviceName, ".", namespaceName, ".svc.", clusterDomain});
}

std::optional<std::string> podAddress(const PodInfo& pod, KubernetesSource::IpFamily family) {
  if (family == KubernetesSource::IpFamily::Primary) {
    return pod.podIP.empty() ? std::nullopt : std::optional<std::string>(pod.podIP);
  }
  const bool wantV6 = family == KubernetesSource::IpFamily::IPv6;
  for (const std::string& ip : pod.podIPs) {
    if (isIPv6(ip) == wantV6) {
      return ip;
    }
  }
  return std::nullopt;
}

std::optional<std::string> podNodeName(const PodInfo& pod, const KubernetesSource& source,
                                       std::string_view basename) {
  switch (source.mode) {
  case KubernetesSource::Mode::Ip:
    if (auto ip = podAddress(pod, source.ipFamily)) {
      return ipNodeName(basename, *ip);
    }
    return std::nullopt;
  case KubernetesSource::Mode::Dns:
    if (auto ip = podAddress(pod, source.ipFamily)) {
      return dnsNodeName(basename, *ip, pod.namespaceName, source.clusterDomain);
    }
    return std::nullopt;
  case KubernetesSource::Mode::Hostname: {
    // A pod's DNS hostname is spec.hostname when set (StatefulSets set it), else its name.
    const std::string& hostname = pod.hostname.empty() ? pod.name : pod.hostname;
    if (source.serviceName.empty() || !podAddress(pod, source.ipFamily)) {
      return std::nullopt;
    }
    return hostnameNodeName(basename, hostname, source.serviceName, pod.namespaceName,
                            source.clusterDomain);
  }
  }
  return std::nullopt;
}

bool isEligibleMember(const PodInfo& pod, const KubernetesSource& source) {
  if (pod.phase != "Running") {
    return false;
  }
  if (pod.terminating && !source.includeTerminating) {
    return false;
  }
  if (source.readiness == KubernetesSource::Readiness::ReadyOnly && !pod.ready) {
    return false;
  }
  return true;
}

} // namespace libcluster
