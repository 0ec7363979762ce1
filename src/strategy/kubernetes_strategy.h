#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "kube/kube_api.h"
#include "strategy/strategy.h"

namespace libcluster {

/// libcluster's Cluster.Strategy.Kubernetes, for agents that run without the controller: one LIST
/// per poll of the Endpoints, EndpointSlices or Pods matching a label selector in one namespace,
/// each address named as libcluster's `mode` says:
///   ip:       base@<ip>
///   dns:      base@<a-b-c-d>.<namespace>.pod.<clusterDomain>
///   hostname: base@<hostname>.<serviceName>.<namespace>.svc.<clusterDomain>
/// Every failure, a 403 included, is an Error (libcluster returned [] on 403 and disconnected
/// everyone). Addresses that cannot be named (no hostname) are skipped, never named "base@.svc..".
class KubernetesStrategy final : public Strategy {
public:
  enum class Mode { Ip, Dns, Hostname };
  /// What is listed: libcluster's kubernetes_ip_lookup_mode, plus EndpointSlices, the successor of
  /// the deprecated Endpoints API (the same selector matches them: both carry the Service's
  /// labels).
  enum class Lookup { Endpoints, EndpointSlices, Pods };

  struct Options {
    std::string selector;
    std::string nodeBasename;
    std::string namespaceName;
    std::string serviceName;
    Mode mode = Mode::Ip;
    Lookup lookup = Lookup::Endpoints;
    /// libcluster's kubernetes_use_cached_resources: LIST with resourceVersion=0, served from the
    /// apiserver's watch cache (cheaper, possibly a little stale).
    bool useCachedResources = false;
    /// Used in dns and hostname names; libcluster's "<kubernetes_cluster_name>.local".
    std::string clusterDomain = "cluster.local";
  };

  /// Invalid for a selector that does not parse, an empty basename or namespace, or hostname mode
  /// without serviceName.
  static Result<std::unique_ptr<KubernetesStrategy>> create(Options options, KubeApi& api);

  /// The collection one poll lists, and with which options.
  ResourcePath collection() const;
  ListOptions listOptions() const;

  /// The node names in one LIST answer (an EndpointsList, EndpointSliceList or PodList as
  /// `options.lookup` says). Invalid when it is not a list.
  static Result<PeerSet> parseList(const nlohmann::json& list, const Options& options);

  // Strategy
  Result<PeerSet> discoverPeers(std::stop_token stop) override;

private:
  KubernetesStrategy(Options options, KubeApi& api) : options_(std::move(options)), api_(api) {}

  Options options_;
  KubeApi& api_;
};

} // namespace libcluster
