#include "agent/pod_reporter.h"

#include <algorithm>

#include "core/json_field.h"
#include "core/log_json.h"
#include "membership/pod.h"

namespace libcluster {
namespace {

using nlohmann::json;

std::string peers(std::size_t count) {
  return std::to_string(count) + (count == 1 ? " peer" : " peers");
}

std::string listed(const PeerSet& missing) {
  std::string out;
  std::size_t shown = 0;
  for (const NodeName& peer : missing) {
    if (shown == kMaxListedPeers) {
      out += " and " + std::to_string(missing.size() - shown) + " more";
      break;
    }
    out += (shown == 0 ? "" : ", ") + peer;
    ++shown;
  }
  return out;
}

} // namespace

ConnectedCondition connectedCondition(const std::vector<TopologyReport>& reports) {
  for (const TopologyReport& report : reports) {
    if (report.nodeError) {
      return {"False", "NodeUnreachable",
              "cannot reach the local node: " + report.nodeError->message};
    }
  }
  for (const TopologyReport& report : reports) {
    if (report.callNotAllowed) {
      return {"False", "CallNotAllowed",
              "topology " + report.snapshot.topology + ": " + *report.callNotAllowed};
    }
  }
  for (const TopologyReport& report : reports) {
    if (!report.snapshot.lastSuccessfulSync) {
      std::string why =
          report.snapshot.lastError ? report.snapshot.lastError->message : "not looked yet";
      return {"False", "PeersUnknown",
              "topology " + report.snapshot.topology + " has not discovered its peers: " + why};
    }
  }
  PeerSet desired;
  PeerSet missing;
  for (const TopologyReport& report : reports) {
    for (const NodeName& peer : report.snapshot.desired) {
      desired.insert(peer);
      if (!report.snapshot.connected.contains(peer)) {
        missing.insert(peer);
      }
    }
  }
  if (missing.empty()) {
    for (const TopologyReport& report : reports) {
      if (!report.snapshot.member) {
        // True, not False: a pod whose readiness is gated on this condition must be able to
        // become Ready, or a node left out for being NotReady could never be admitted.
        return {"True", "NotAMember",
                "not a member of topology " + report.snapshot.topology +
                    ": left it, connected to none of its nodes"};
      }
    }
    return {"True", "AllPeersConnected", "connected to all " + peers(desired.size())};
  }
  return {"False", "PeersMissing",
          "not connected to " + std::to_string(missing.size()) + " of " + peers(desired.size()) +
              ": " + listed(missing)};
}

PodReporter::PodReporter(KubeApi& api, Clock& clock, Options options, Source source)
    : api_(api), clock_(clock), options_(std::move(options)), source_(std::move(source)),
      backoff_(clock, Backoff::Options{.initial = std::chrono::seconds(1),
                                       .max = std::chrono::seconds(60),
                                       .factor = 2.0,
                                       .jitter = 0.2,
                                       .resetAfter = std::chrono::seconds(120)}) {}

Result<bool> PodReporter::reportOnce(std::stop_token stop) {
  const std::vector<TopologyReport> reports = source_();
  if (std::none_of(reports.begin(), reports.end(), [](const TopologyReport& r) {
        return r.snapshot.syncs > 0 || r.nodeError || r.callNotAllowed;
      })) {
    return false; // nothing looked yet: say nothing rather than something premature
  }
  const ConnectedCondition condition = connectedCondition(reports);
  if (written_ == condition) {
    return false;
  }
  if (lastWrite_ && clock_.now() < *lastWrite_ + options_.minInterval) {
    return false;
  }
  if (retryAt_ && clock_.now() < *retryAt_) {
    return false;
  }
  if (Result<void> done = write(condition, stop); !done) {
    // A pod not there yet (or recreated under the same name) is expected: look again at the
    // next check, so it gets its condition within a check interval once it exists. Other
    // failures back off.
    retryAt_ = done.error().code == Error::Code::NotFound ? clock_.now() + options_.checkInterval
                                                          : clock_.now() + backoff_.next();
    return done.error();
  }
  retryAt_.reset();
  backoff_.reset();
  written_ = condition;
  lastWrite_ = clock_.now();
  return true;
}

Result<void> PodReporter::write(const ConnectedCondition& condition, std::stop_token stop) {
  const CallOptions call{.deadline = clock_.now() + options_.writeTimeout, .stop = stop};
  ResourcePath path{.resource = "pods",
                    .namespaceName = options_.namespaceName,
                    .name = options_.podName,
                    .subresource = "status"};
  for (int attempt = 0;; ++attempt) {
    Result<json> pod = api_.get(path, call);
    if (!pod) {
      return pod.error();
    }
    const std::string resourceVersion = pod->is_object() && pod->contains("metadata")
                                            ? stringField((*pod)["metadata"], "resourceVersion")
                                            : "";
    json conditions = json::array();
    json previous;
    if (pod->is_object() && pod->contains("status") && (*pod)["status"].is_object()) {
      const json& status = (*pod)["status"];
      if (auto found = status.find("conditions"); found != status.end() && found->is_array()) {
        for (const json& existing : *found) {
          if (stringField(existing, "type") == kConnectedConditionType) {
            previous = existing;
          } else {
            conditions.push_back(existing);
          }
        }
      }
    }
    if (previous.is_object() && stringField(previous, "status") == condition.status &&
        stringField(previous, "reason") == condition.reason &&
        stringField(previous, "message") == condition.message) {
      return {}; // already says this (e.g. written before the agent restarted)
    }
    std::string transition = formatRfc3339(clock_.systemNow());
    if (stringField(previous, "status") == condition.status &&
        !stringField(previous, "lastTransitionTime").empty()) {
      transition = stringField(previous, "lastTransitionTime");
    }
    conditions.push_back({{"type", kConnectedConditionType},
                          {"status", condition.status},
                          {"reason", condition.reason},
                          {"message", condition.message},
                          {"lastProbeTime", nullptr},
                          {"lastTransitionTime", transition}});
    json patch{{"status", {{"conditions", conditions}}}};
    if (!resourceVersion.empty()) {
      // A merge patch replaces the whole list: only write over the list we just read.
      patch["metadata"] = {{"resourceVersion", resourceVersion}};
    }
    Result<json> patched = api_.mergePatch(path, patch, call);
    if (patched) {
      if (stringField(previous, "status") != condition.status) {
        logInfo("reported connection state",
                {{"pod", options_.namespaceName + "/" + options_.podName},
                 {"status", condition.status},
                 {"reason", condition.reason},
                 {"message", condition.message}});
      }
      return {};
    }
    if (patched.error().code != Error::Code::Conflict || attempt == 2) {
      return patched.error();
    }
  }
}

void PodReporter::run(std::stop_token stop) {
  bool failing = false;
  do {
    Result<bool> reported = reportOnce(stop);
    const std::string pod = options_.namespaceName + "/" + options_.podName;
    if (!reported) {
      if (!failing) {
        nlohmann::json fields{{"pod", pod},
                              {"code", codeName(reported.error().code)},
                              {"error", reported.error().message}};
        if (reported.error().code == Error::Code::NotFound) {
          logDebug("pod not found, condition not written yet", fields);
        } else {
          logWarn("pod condition not written", fields);
        }
      }
      failing = true;
    } else if (*reported && failing) {
      // Only a write (or finding it in place) ends a failure; a skipped look does not.
      logInfo("pod condition written after earlier failures", {{"pod", pod}});
      failing = false;
    }
  } while (clock_.sleepFor(options_.checkInterval, stop));
}

} // namespace libcluster
