#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api/topology.h"
#include "membership/pod.h"

namespace libcluster {

/// libcluster's node names for the three Kubernetes modes (format_node/5), byte for byte:
///   ip:       base@<ip>
///   dns:      base@<a-b-c-d>.<namespace>.pod.<clusterDomain>
///   hostname: base@<hostname>.<service>.<namespace>.svc.<clusterDomain>
/// Unlike libcluster, the cluster domain is configurable, and an IPv6 address in dns mode has its
/// colons dashed too (CoreDNS's pod record form), since a name with colons cannot resolve.
std::string ipNodeName(std::string_view basename, std::string_view ip);
std::string dnsNodeName(std::string_view basename, std::string_view ip, std::string_view namespaceName,
                        std::string_view clusterDomain);
std::string hostnameNodeName(std::string_view basename, std::string_view hostname,
                             std::string_view serviceName, std::string_view namespaceName,
                             std::string_view clusterDomain);

/// The IP that names `pod` under `family`: Primary is status.podIP; IPv4 / IPv6 pick that family
/// from status.podIPs. nullopt when the pod has no such address yet.
std::optional<std::string> podAddress(const PodInfo& pod, KubernetesSource::IpFamily family);

/// The node name of `pod` under `source`, or nullopt when the pod cannot be named yet (no IP, no
/// hostname). Never produces libcluster's broken "base@.svc..." names.
std::optional<std::string> podNodeName(const PodInfo& pod, const KubernetesSource& source,
                                       std::string_view basename);

/// Whether `pod` belongs in the membership under `source`'s readiness and termination policy:
/// it has a name, is Running (not Succeeded/Failed/Pending), is Ready when ReadyOnly is asked, and
/// is not terminating unless includeTerminating.
bool isEligibleMember(const PodInfo& pod, const KubernetesSource& source);

bool isIPv6(std::string_view address);

} // namespace libcluster
