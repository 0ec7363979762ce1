#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/mfa.h"
#include "core/result.h"

namespace libcluster {

/// One requirement of a metav1.LabelSelector.
struct SelectorRequirement {
  std::string key;
  std::string op; // In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;

  bool operator==(const SelectorRequirement&) const = default;
};

/// metav1.LabelSelector as written in a spec.
struct LabelSelectorSpec {
  std::map<std::string, std::string> matchLabels;
  std::vector<SelectorRequirement> matchExpressions;

  bool operator==(const LabelSelectorSpec&) const = default;
};

struct KubernetesSource {
  enum class Resource { Pods, EndpointSlices };
  enum class Mode { Ip, Dns, Hostname };
  enum class IpFamily { Primary, IPv4, IPv6 };
  enum class Readiness { IncludeNotReady, ReadyOnly };

  LabelSelectorSpec selector;
  std::string namespaceName; // empty: the topology's namespace
  Resource resource = Resource::Pods;
  Mode mode = Mode::Ip;
  std::string serviceName;
  std::string clusterDomain = "cluster.local";
  IpFamily ipFamily = IpFamily::Primary;
  Readiness readiness = Readiness::IncludeNotReady;
  bool includeTerminating = false;

  bool operator==(const KubernetesSource&) const = default;
};

struct DnsSource {
  enum class RecordType { Address, Srv };
  enum class IpFamily { Any, IPv4, IPv6 };

  std::string name;
  RecordType recordType = RecordType::Address;
  IpFamily ipFamily = IpFamily::Any;
  int minRefreshSeconds = 5;
  int maxRefreshSeconds = 30;

  bool operator==(const DnsSource&) const = default;
};

struct EpmdSource {
  std::vector<std::string> nodes;

  bool operator==(const EpmdSource&) const = default;
};

struct RancherSource {
  std::string url = "http://rancher-metadata/latest/self/service";
  int pollIntervalSeconds = 5;

  bool operator==(const RancherSource&) const = default;
};

/// One entry of spec.sources: exactly one of the four kinds is set.
struct TopologySource {
  std::string name; // defaults to the kind ("kubernetes", "dns", "epmd", "rancher")
  std::string nodeBasename; // empty: spec.nodeBasename
  std::optional<KubernetesSource> kubernetes;
  std::optional<DnsSource> dns;
  std::optional<EpmdSource> epmd;
  std::optional<RancherSource> rancher;

  std::string kind() const;
  bool operator==(const TopologySource&) const = default;
};

/// ClusterTopology.spec (crds/clustertopologies.libcluster.dev.yaml), defaults applied.
struct TopologySpec {
  enum class OnRemoval { Disconnect, Ignore };
  enum class Formation { SeedFirst, Immediate };

  std::string nodeBasename;
  std::vector<TopologySource> sources;
  Mfa connect = defaultConnectMfa();
  Mfa disconnect = defaultDisconnectMfa();
  Mfa listNodes = defaultListNodesMfa();
  int reconnectIntervalSeconds = 5;
  OnRemoval onRemoval = OnRemoval::Disconnect;
  Formation formation = Formation::SeedFirst;

  bool operator==(const TopologySpec&) const = default;
};

/// metav1.Condition.
struct Condition {
  std::string type;
  std::string status; // True, False, Unknown
  std::string reason;
  std::string message;
  std::int64_t observedGeneration = 0;
  std::string lastTransitionTime;

  bool operator==(const Condition&) const = default;
};

/// One entry of status.members.
struct Member {
  std::string node;
  std::string pod;
  std::vector<std::string> ips;
  std::string source;
  bool ready = true;
  std::optional<bool> connected;

  bool operator==(const Member&) const = default;
};

/// ClusterTopology.status.
struct TopologyStatus {
  std::int64_t observedGeneration = 0;
  int memberCount = 0;
  int readyCount = 0;
  int connectedCount = 0;
  std::string seed;
  std::string sourceSummary;
  bool membersTruncated = false;
  /// ClusterTopologyMemberSlices holding the whole membership (written before this status).
  int memberSliceCount = 0;
  std::vector<Member> members;
  std::vector<Condition> conditions;

  bool operator==(const TopologyStatus&) const = default;
};

/// The most members status lists (the CRD's maxItems), for people reading it with kubectl; the
/// whole membership is in the topology's ClusterTopologyMemberSlices. Keeps the object, which every
/// status change sends to each watcher, small (docs/membership-channel.md).
inline constexpr std::size_t kMaxStatusMembers = 100;

/// Reads and validates a spec, applying the CRD's defaults. The Error (Invalid) names the field,
/// e.g. "spec.sources[1].kubernetes.serviceName: required when mode is hostname".
Result<TopologySpec> parseTopologySpec(const nlohmann::json& spec);
nlohmann::json toJson(const TopologySpec& spec);

/// Reads a status leniently: unknown or malformed fields are dropped, never an error, because
/// status is ours to rewrite.
TopologyStatus parseTopologyStatus(const nlohmann::json& status);
nlohmann::json toJson(const TopologyStatus& status);

/// Sets `condition` in `conditions`, keeping lastTransitionTime when the status did not change
/// (apimachinery's meta.SetStatusCondition). Returns true if anything changed.
bool setCondition(std::vector<Condition>& conditions, Condition condition);
const Condition* findCondition(const std::vector<Condition>& conditions, std::string_view type);

} // namespace libcluster
