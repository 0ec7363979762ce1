#include "membership/membership.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include "membership/node_name.h"

namespace libcluster {
namespace {

/// A string field, or empty when it is missing or not a string (nlohmann's value() would throw).
std::string stringField(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) {
    return {};
  }
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

} // namespace

const std::vector<Candidate>& CandidateList::none() {
  static const std::vector<Candidate> none;
  return none;
}

std::optional<Candidate> candidateFromPod(const PodInfo& pod, const KubernetesSource& source,
                                          const std::string& basename,
                                          const std::string& sourceName) {
  if (!isEligibleMember(pod, source)) {
    return std::nullopt;
  }
  std::optional<std::string> node = podNodeName(pod, source, basename);
  if (!node) {
    return std::nullopt;
  }
  Candidate candidate;
  candidate.member.node = std::move(*node);
  candidate.member.pod = pod.name;
  candidate.member.ips = pod.podIPs;
  candidate.member.source = sourceName;
  candidate.member.ready = pod.ready;
  candidate.member.connected = pod.connected;
  candidate.ordinal = pod.ordinal;
  candidate.creationTimestamp = pod.creationTimestamp;
  candidate.podName = pod.name;
  return candidate;
}

namespace {

const PodInfo& podOf(const PodInfo& pod) { return pod; }
const PodInfo& podOf(const std::shared_ptr<const PodInfo>& pod) { return *pod; }

template <typename Pods>
std::vector<Candidate> candidatesFromPods(const Pods& pods, const KubernetesSource& source,
                                          const std::string& basename,
                                          const std::string& sourceName) {
  std::vector<Candidate> candidates;
  for (const auto& entry : pods) {
    if (std::optional<Candidate> candidate =
            candidateFromPod(podOf(entry), source, basename, sourceName)) {
      candidates.push_back(std::move(*candidate));
    }
  }
  return candidates;
}

} // namespace

std::vector<Candidate> membersFromPods(const std::vector<PodInfo>& pods, const KubernetesSource& source,
                                       const std::string& basename, const std::string& sourceName) {
  return candidatesFromPods(pods, source, basename, sourceName);
}

std::vector<Candidate> membersFromPods(const std::vector<std::shared_ptr<const PodInfo>>& pods,
                                       const KubernetesSource& source, const std::string& basename,
                                       const std::string& sourceName) {
  return candidatesFromPods(pods, source, basename, sourceName);
}

std::vector<Candidate> membersFromEndpointSlices(const std::vector<nlohmann::json>& slices,
                                                 const KubernetesSource& source,
                                                 const std::string& basename,
                                                 const std::string& sourceName) {
  std::vector<Candidate> candidates;
  const auto flag = [](const nlohmann::json& conditions, const char* key, bool fallback) {
    auto it = conditions.find(key);
    return it != conditions.end() && it->is_boolean() ? it->get<bool>() : fallback;
  };
  for (const nlohmann::json& slice : slices) {
    if (!slice.is_object()) {
      continue;
    }
    const std::string addressType = stringField(slice, "addressType");
    const bool sliceIsV6 = addressType == "IPv6";
    if (addressType == "FQDN" ||
        (source.ipFamily == KubernetesSource::IpFamily::IPv4 && sliceIsV6) ||
        (source.ipFamily == KubernetesSource::IpFamily::IPv6 && !sliceIsV6)) {
      continue;
    }
    const auto metadata = slice.find("metadata");
    const std::string namespaceName =
        metadata != slice.end() ? stringField(*metadata, "namespace") : std::string();
    auto endpoints = slice.find("endpoints");
    if (endpoints == slice.end() || !endpoints->is_array()) {
      continue;
    }
    for (const nlohmann::json& endpoint : *endpoints) {
      if (!endpoint.is_object()) {
        continue;
      }
      auto addresses = endpoint.find("addresses");
      if (addresses == endpoint.end() || !addresses->is_array() || addresses->empty() ||
          !addresses->front().is_string()) {
        continue;
      }
      static const nlohmann::json kNoConditions = nlohmann::json::object();
      auto found = endpoint.find("conditions");
      const nlohmann::json& conditions =
          found != endpoint.end() && found->is_object() ? *found : kNoConditions;
      // EndpointSlice semantics: a missing ready/serving means unknown, read as ready.
      const bool ready = flag(conditions, "ready", true);
      const bool serving = flag(conditions, "serving", ready);
      const bool terminating = flag(conditions, "terminating", false);
      if (terminating && !source.includeTerminating) {
        continue;
      }
      if (source.readiness == KubernetesSource::Readiness::ReadyOnly && !serving) {
        continue;
      }
      const std::string address = addresses->front().get<std::string>();
      std::string podName;
      if (auto ref = endpoint.find("targetRef"); ref != endpoint.end() && ref->is_object()) {
        podName = stringField(*ref, "name");
      }
      std::string node;
      switch (source.mode) {
      case KubernetesSource::Mode::Ip:
        node = ipNodeName(basename, address);
        break;
      case KubernetesSource::Mode::Dns:
        node = dnsNodeName(basename, address, namespaceName, source.clusterDomain);
        break;
      case KubernetesSource::Mode::Hostname: {
        std::string hostname = stringField(endpoint, "hostname");
        if (hostname.empty()) {
          hostname = podName;
        }
        if (hostname.empty()) {
          continue;
        }
        node = hostnameNodeName(basename, hostname, source.serviceName, namespaceName,
                                source.clusterDomain);
        break;
      }
      }
      Candidate candidate;
      candidate.member.node = std::move(node);
      candidate.member.pod = podName;
      for (const nlohmann::json& ip : *addresses) {
        if (ip.is_string() && candidate.member.ips.size() < 2) {
          candidate.member.ips.push_back(ip.get<std::string>());
        }
      }
      candidate.member.source = sourceName;
      candidate.member.ready = ready;
      candidate.podName = podName;
      candidates.push_back(std::move(candidate));
    }
  }
  return candidates;
}

std::vector<Candidate> membersFromNodes(const std::vector<std::string>& nodes, const std::string& sourceName) {
  std::vector<Candidate> candidates;
  for (const std::string& node : nodes) {
    Candidate candidate;
    candidate.member.node = node;
    candidate.member.source = sourceName;
    candidates.push_back(std::move(candidate));
  }
  return candidates;
}

std::vector<Candidate> membersFromAddresses(const std::vector<std::string>& addresses,
                                            const std::string& basename, const std::string& sourceName) {
  std::vector<Candidate> candidates;
  for (const std::string& address : addresses) {
    Candidate candidate;
    candidate.member.node = ipNodeName(basename, address);
    candidate.member.ips = {address};
    candidate.member.source = sourceName;
    candidates.push_back(std::move(candidate));
  }
  return candidates;
}

namespace {

/// The seed among `candidates`, read in place.
template <typename Candidates, typename Read>
std::string seedOf(const Candidates& candidates, Read read) {
  const Candidate* best = nullptr;
  // Ordering (docs/clustertopology.md): StatefulSet pods by ordinal, then other pods by age with
  // ties by pod name (pods created in the same second), then non-pod members by node name.
  auto rank = [](const Candidate& c) {
    const int group = c.ordinal ? 0 : (!c.podName.empty() ? 1 : 2);
    return std::make_tuple(group, c.ordinal.value_or(0), std::cref(c.creationTimestamp),
                           std::cref(c.podName), std::cref(c.member.node));
  };
  for (const auto& entry : candidates) {
    const Candidate& candidate = read(entry);
    if (best == nullptr || rank(candidate) < rank(*best)) {
      best = &candidate;
    }
  }
  return best == nullptr ? std::string() : best->member.node;
}

} // namespace

std::string chooseSeed(const std::vector<Candidate>& candidates) {
  return seedOf(candidates, [](const Candidate& c) -> const Candidate& { return c; });
}

namespace {

Condition condition(std::string type, bool value, std::string reason, std::string message,
                    std::int64_t generation, const std::string& now) {
  return Condition{std::move(type), value ? "True" : "False", std::move(reason), std::move(message),
                   generation, now};
}

const std::string& textOf(const std::string& text) { return text; }
const std::string& textOf(const std::string* text) { return *text; }

template <typename Texts>
std::string joinNodes(const Texts& nodes, std::size_t limit) {
  std::string text;
  for (std::size_t i = 0; i < nodes.size() && i < limit; ++i) {
    text += (i == 0 ? "" : ", ") + textOf(nodes[i]);
  }
  if (nodes.size() > limit) {
    text += " and " + std::to_string(nodes.size() - limit) + " more";
  }
  return text;
}

} // namespace

std::vector<const Candidate*> membersByNode(const std::vector<SourceSnapshot>& sources) {
  std::vector<const Candidate*> unique;
  for (const SourceSnapshot& source : sources) {
    for (const Candidate& candidate : source.candidates) {
      unique.push_back(&candidate);
    }
  }
  // Stable: among candidates of one node, the first source's first stays first and is kept.
  std::stable_sort(unique.begin(), unique.end(), [](const Candidate* a, const Candidate* b) {
    return a->member.node < b->member.node;
  });
  unique.erase(std::unique(unique.begin(), unique.end(),
                           [](const Candidate* a, const Candidate* b) {
                             return a->member.node == b->member.node;
                           }),
               unique.end());
  return unique;
}

TopologyStatus buildStatus(const TopologyStatus& previous, std::int64_t generation,
                           const std::vector<SourceSnapshot>& sources, const std::string& now) {
  TopologyStatus status;
  status.observedGeneration = generation;
  status.conditions = previous.conditions;

  std::set<std::string> kinds;
  std::vector<std::string> failures;
  std::vector<std::string> waiting;
  for (const SourceSnapshot& source : sources) {
    kinds.insert(source.kind);
    if (source.error) {
      failures.push_back(source.name + ": " + source.error->message);
    } else if (!source.answered) {
      waiting.push_back(source.name);
    }
  }
  // Read in place: the sources outlive this function, so nothing is copied but the members
  // listed in the status.
  const std::vector<const Candidate*> unique = membersByNode(sources);

  status.memberCount = static_cast<int>(unique.size());
  std::vector<const std::string*> notConnected;
  std::vector<const std::string*> unreported;
  for (const Candidate* candidate : unique) {
    status.readyCount += candidate->member.ready ? 1 : 0;
    if (candidate->member.connected == true) {
      ++status.connectedCount;
    } else if (candidate->member.connected == false) {
      notConnected.push_back(&candidate->member.node);
    } else {
      unreported.push_back(&candidate->member.node);
    }
  }
  status.seed = seedOf(unique, [](const Candidate* c) -> const Candidate& { return *c; });
  for (const std::string& kind : kinds) {
    status.sourceSummary += (status.sourceSummary.empty() ? "" : ",") + kind;
  }
  status.membersTruncated = unique.size() > kMaxStatusMembers;
  for (std::size_t i = 0; i < unique.size() && i < kMaxStatusMembers; ++i) {
    status.members.push_back(unique[i]->member);
  }

  std::vector<Condition>& conditions = status.conditions;
  // A spec that parsed is no longer invalid.
  conditions.erase(std::remove_if(conditions.begin(), conditions.end(),
                                  [](const Condition& c) { return c.type == "Invalid"; }),
                   conditions.end());
  // setCondition keeps lastTransitionTime of conditions whose status did not change.
  const auto set = [&](Condition c) { (void)setCondition(conditions, std::move(c)); };

  if (!failures.empty()) {
    set(condition("Degraded", true, "SourceFailed",
                  "keeping the last known members; " + joinNodes(failures, 5), generation, now));
    set(condition("Ready", false, "SourceFailed", joinNodes(failures, 5), generation, now));
  } else if (!waiting.empty()) {
    set(condition("Degraded", false, "AllSourcesAnswered", "", generation, now));
    set(condition("Ready", false, "WaitingForSources", "waiting for " + joinNodes(waiting, 5),
                  generation, now));
  } else {
    set(condition("Degraded", false, "AllSourcesAnswered", "", generation, now));
    set(condition("Ready", true, "MembersResolved",
                  std::to_string(status.memberCount) + " members from " +
                      std::to_string(sources.size()) + " sources",
                  generation, now));
  }

  if (unique.empty()) {
    set(condition("Converged", false, "NoMembers", "", generation, now));
  } else if (!notConnected.empty()) {
    set(condition("Converged", false, "PeersMissing",
                  "not connected to every member: " + joinNodes(notConnected, 5), generation, now));
  } else if (!unreported.empty()) {
    Condition c = condition("Converged", false, "AwaitingReports",
                            "no agent report from " + joinNodes(unreported, 5), generation, now);
    c.status = "Unknown";
    set(std::move(c));
  } else {
    set(condition("Converged", true, "AllConnected",
                  "all " + std::to_string(status.memberCount) + " members report a full mesh",
                  generation, now));
  }
  std::sort(conditions.begin(), conditions.end(),
            [](const Condition& a, const Condition& b) { return a.type < b.type; });
  return status;
}

TopologyStatus invalidStatus(const TopologyStatus& previous, std::int64_t generation,
                             const Error& error, const std::string& now) {
  TopologyStatus status = previous;
  status.observedGeneration = generation;
  const auto set = [&](Condition c) { (void)setCondition(status.conditions, std::move(c)); };
  set(condition("Invalid", true, "InvalidSpec", error.message, generation, now));
  set(condition("Ready", false, "InvalidSpec", error.message, generation, now));
  std::sort(status.conditions.begin(), status.conditions.end(),
            [](const Condition& a, const Condition& b) { return a.type < b.type; });
  return status;
}

} // namespace libcluster
