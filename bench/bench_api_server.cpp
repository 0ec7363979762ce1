// A fast Kubernetes API server for benchmarks: it measures us, not the server.
//
// Plain HTTP on 127.0.0.1 only (no TLS, no authentication: a benchmark fixture, never a server to
// expose). Objects are kept as pre-serialized JSON, so a LIST page is a concatenation of strings
// and a watch event is serialized once, whatever the number of watchers.
//
//   bench_api_server --dir D [--pods 10000] [--topology big:half=first] [--small-topologies 0]
//
// writes D/kubeconfig and prints one JSON line {"port":..,"kubeconfig":..} once it serves.
//
// The Kubernetes API it serves (enough for libcluster-controller, informer_bench and kubectl get):
//   discovery (/api, /api/v1, /apis, /apis/<group>/<version>), and for pods, events, leases,
//   endpointslices, clustertopologies, clustertopologymemberslices and topologyreferencegrants:
//   LIST (limit/continue,
//   labelSelector with =, ==, != and existence, fieldSelector metadata.name/metadata.namespace,
//   resourceVersion), WATCH (from a resourceVersion; 410 Gone when history no longer has it;
//   timeoutSeconds), GET, POST, PUT, merge PATCH (metadata.resourceVersion is a precondition),
//   DELETE, and the status subresource of pods and clustertopologies. Events are accepted and
//   dropped. A LIST answers from the current state at each page (no snapshot): the benchmarks do
//   not write while listing.
//
// Benchmark controls (all POST or GET under /bench, times are CLOCK_MONOTONIC ns, the clock of
// every process on the machine):
//   POST /bench/flip?namespace=N&name=P&ready=true|false   sets the pod's Ready condition (as the
//        kubelet would), emits MODIFIED, and returns the write record with its time `tNs`.
//   GET  /bench/writes?since=SEQ[&resource=R][&name=X][&readyCount=K][&timeoutMs=T]
//        the write records after SEQ that match; waits up to T ms for at least one. Every
//        POST/PUT/PATCH/DELETE and flip is recorded with its receive time, its resourceVersion and,
//        for clustertopologies, status.readyCount/memberCount; for leases, holderIdentity.
//   POST /bench/drop-watches[?mode=abort|clean]   ends every open watch stream: abort breaks the
//        connection (what a crashing apiserver or proxy does), clean ends it as a timeout would.
//   POST /bench/fail?ms=T[&code=500]   answers every API request with `code` for T ms and drops
//        every watch (a 500 storm).
//   POST /bench/delay-watch?resource=R&ms=T   delivers every watch event of R T ms late (in order),
//   as
//        a slow watch path would; ms=0 ends it.
//   GET  /bench/stats   objects, resourceVersion, open watches, requests served.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <malloc.h>
#include <nlohmann/json.hpp>
#include <pthread.h>
#include <unistd.h>

#include "bench/pod_fixture.h"

namespace {

using nlohmann::json;

std::int64_t monotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct ResourceType {
  std::string group;
  std::string version;
  std::string plural;
  std::string kind;
  bool namespaced = true;
  bool hasStatus = false;
  bool stored = true; // events are accepted and dropped
  std::vector<std::string> shortNames{};

  std::string groupVersion() const { return group.empty() ? version : group + "/" + version; }
};

const std::vector<ResourceType>& resourceTypes() {
  static const std::vector<ResourceType> kTypes = {
      {"", "v1", "pods", "Pod", true, true, true, {"po"}},
      {"", "v1", "events", "Event", true, false, false, {"ev"}},
      {"coordination.k8s.io", "v1", "leases", "Lease", true, false, true, {}},
      {"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, false, true, {}},
      {"libcluster.dev",
       "v1alpha1",
       "clustertopologies",
       "ClusterTopology",
       true,
       true,
       true,
       {"ctop"}},
      {"libcluster.dev",
       "v1alpha1",
       "clustertopologymemberslices",
       "ClusterTopologyMemberSlice",
       true,
       false,
       true,
       {"ctopms"}},
      {"libcluster.dev",
       "v1alpha1",
       "topologyreferencegrants",
       "TopologyReferenceGrant",
       true,
       false,
       true,
       {}},
  };
  return kTypes;
}

const ResourceType* findType(const std::string& group, const std::string& version,
                             const std::string& plural) {
  for (const ResourceType& type : resourceTypes()) {
    if (type.group == group && type.version == version && type.plural == plural) {
      return &type;
    }
  }
  return nullptr;
}

/// A request path of the resource API, split.
struct ApiPath {
  const ResourceType* type = nullptr;
  std::string namespaceName;
  std::string name;
  std::string subresource;
};

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t at = 0;
  while (at < path.size()) {
    std::size_t slash = path.find('/', at);
    if (slash == std::string::npos) {
      slash = path.size();
    }
    if (slash > at) {
      parts.push_back(path.substr(at, slash - at));
    }
    at = slash + 1;
  }
  return parts;
}

std::optional<ApiPath> parseApiPath(const std::string& path) {
  const std::vector<std::string> parts = splitPath(path);
  std::size_t i = 0;
  std::string group;
  std::string version;
  if (parts.size() >= 2 && parts[0] == "api") {
    version = parts[1];
    i = 2;
  } else if (parts.size() >= 3 && parts[0] == "apis") {
    group = parts[1];
    version = parts[2];
    i = 3;
  } else {
    return std::nullopt;
  }
  ApiPath out;
  if (parts.size() >= i + 2 && parts[i] == "namespaces") {
    out.namespaceName = parts[i + 1];
    i += 2;
  }
  if (i >= parts.size()) {
    return std::nullopt;
  }
  out.type = findType(group, version, parts[i]);
  if (out.type == nullptr) {
    return std::nullopt;
  }
  if (i + 1 < parts.size()) {
    out.name = parts[i + 1];
  }
  if (i + 2 < parts.size()) {
    out.subresource = parts[i + 2];
  }
  if (i + 3 < parts.size()) {
    return std::nullopt;
  }
  return out;
}

struct Requirement {
  enum class Op { Equals, NotEquals, Exists, NotExists } op;
  std::string key;
  std::string value;
};

/// The equality-based label selector subset; nullopt when it uses anything else.
std::optional<std::vector<Requirement>> parseSelector(const std::string& text) {
  std::vector<Requirement> out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t comma = text.find(',', at);
    if (comma == std::string::npos) {
      comma = text.size();
    }
    const std::string term = text.substr(at, comma - at);
    at = comma + 1;
    if (term.empty()) {
      continue;
    }
    if (term.find_first_of("() ") != std::string::npos) {
      return std::nullopt;
    }
    if (const std::size_t ne = term.find("!="); ne != std::string::npos) {
      out.push_back({Requirement::Op::NotEquals, term.substr(0, ne), term.substr(ne + 2)});
    } else if (const std::size_t eq = term.find('='); eq != std::string::npos) {
      const std::size_t valueAt = term.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1;
      out.push_back({Requirement::Op::Equals, term.substr(0, eq), term.substr(valueAt)});
    } else if (term[0] == '!') {
      out.push_back({Requirement::Op::NotExists, term.substr(1), ""});
    } else {
      out.push_back({Requirement::Op::Exists, term, ""});
    }
  }
  return out;
}

using Labels = std::map<std::string, std::string>;

bool matches(const std::vector<Requirement>& selector, const Labels& labels) {
  for (const Requirement& r : selector) {
    const auto it = labels.find(r.key);
    switch (r.op) {
    case Requirement::Op::Equals:
      if (it == labels.end() || it->second != r.value) {
        return false;
      }
      break;
    case Requirement::Op::NotEquals:
      if (it != labels.end() && it->second == r.value) {
        return false;
      }
      break;
    case Requirement::Op::Exists:
      if (it == labels.end()) {
        return false;
      }
      break;
    case Requirement::Op::NotExists:
      if (it != labels.end()) {
        return false;
      }
      break;
    }
  }
  return true;
}

/// Label and field selectors of one LIST or WATCH.
struct Filter {
  std::vector<Requirement> labels;
  std::string name;
  std::string namespaceName;

  bool accepts(const std::string& objectNamespace, const std::string& objectName,
               const Labels& objectLabels) const {
    return (namespaceName.empty() || namespaceName == objectNamespace) &&
           (name.empty() || name == objectName) && matches(labels, objectLabels);
  }
};

struct Stored {
  std::string namespaceName;
  std::string name;
  Labels labels;
  std::uint64_t resourceVersion = 0;
  std::string text; // the object, serialized once per write
};

struct Event {
  std::uint64_t resourceVersion;
  std::int64_t tNs; // when it happened
  const ResourceType* type;
  std::string namespaceName;
  std::string name;
  Labels labels;
  std::string line; // {"type":..,"object":..}\n
};

Labels labelsOf(const json& object) {
  Labels labels;
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) {
    return labels;
  }
  const auto found = metadata->find("labels");
  if (found != metadata->end() && found->is_object()) {
    for (const auto& [key, value] : found->items()) {
      if (value.is_string()) {
        labels[key] = value.get<std::string>();
      }
    }
  }
  return labels;
}

json statusBody(int code, const std::string& reason, const std::string& message) {
  return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason},
          {"code", code}};
}

class BenchApiServer {
public:
  explicit BenchApiServer(std::size_t historyLimit) : historyLimit_(historyLimit) {}

  /// Creates an object directly (population at start-up).
  void seed(const ResourceType& type, json object) {
    std::lock_guard lock(mutex_);
    const SeedingScope seeding(seeding_);
    const std::string namespaceName = object["metadata"].value("namespace", "default");
    (void)createLocked(type, namespaceName, std::move(object));
  }

  void install(httplib::Server& server) {
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      requests_.fetch_add(1);
      if (req.path.rfind("/bench/", 0) == 0) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      const int code = failCode_.load();
      if (code != 0 && monotonicNs() < failUntilNs_.load()) {
        res.set_header("Connection", "close");
        reply(res, code, statusBody(code, "InternalError", "injected failure (bench)"));
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    server.Post("/bench/flip", guarded([this](const httplib::Request& req, httplib::Response& res) {
                  flip(req, res);
                }));
    server.Get("/bench/writes", guarded([this](const httplib::Request& req,
                                               httplib::Response& res) { writes(req, res); }));
    server.Post("/bench/drop-watches", [this](const httplib::Request& req, httplib::Response& res) {
      const bool abort = req.get_param_value("mode") != "clean";
      reply(res, 200, {{"dropped", dropWatches(abort)}, {"tNs", monotonicNs()}});
    });
    server.Post(
        "/bench/fail", guarded([this](const httplib::Request& req, httplib::Response& res) {
          const long ms = std::clamp(
              req.has_param("ms") ? std::stol(req.get_param_value("ms")) : 1000L, 0L, 3600'000L);
          const int code = req.has_param("code") ? std::stoi(req.get_param_value("code")) : 500;
          failUntilNs_ = monotonicNs() + ms * 1000000;
          failCode_ = code;
          const int dropped = dropWatches(true);
          reply(res, 200,
                {{"dropped", dropped}, {"tNs", monotonicNs()}, {"untilNs", failUntilNs_.load()}});
        }));
    server.Post("/bench/delay-watch",
                guarded([this](const httplib::Request& req, httplib::Response& res) {
                  const long ms = std::clamp(
                      req.has_param("ms") ? std::stol(req.get_param_value("ms")) : 0L, 0L, 60'000L);
                  const std::string resource = req.get_param_value("resource");
                  std::lock_guard lock(mutex_);
                  delayedType_ = nullptr;
                  for (const ResourceType& type : resourceTypes()) {
                    if (type.plural == resource) {
                      delayedType_ = &type;
                    }
                  }
                  delayNs_ = ms * 1000000;
                  reply(res, delayedType_ != nullptr || ms == 0 ? 200 : 404,
                        {{"resource", resource}, {"ms", ms}});
                }));
    server.Get("/bench/stats", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      std::size_t objects = 0;
      for (const auto& [type, collection] : collections_) {
        objects += collection.size();
      }
      reply(res, 200,
            {{"objects", objects},
             {"resourceVersion", resourceVersion_},
             {"openWatches", openWatches_},
             {"requests", requests_.load()},
             {"historyEvents", history_.size()}});
    });
    server.Get("/version", [](const httplib::Request&, httplib::Response& res) {
      reply(res, 200, {{"major", "1"}, {"minor", "30"}, {"gitVersion", "v1.30.0-bench"}});
    });
    server.Get("/api", [](const httplib::Request&, httplib::Response& res) {
      reply(res, 200,
            {{"kind", "APIVersions"},
             {"versions", {"v1"}},
             {"serverAddressByClientCIDRs", json::array()}});
    });
    server.Get("/apis", [](const httplib::Request&, httplib::Response& res) {
      json groups = json::array();
      for (const ResourceType& type : resourceTypes()) {
        if (type.group.empty() || std::any_of(groups.begin(), groups.end(), [&](const json& g) {
              return g["name"] == type.group;
            })) {
          continue;
        }
        const json version = {{"groupVersion", type.groupVersion()}, {"version", type.version}};
        groups.push_back(
            {{"name", type.group}, {"versions", {version}}, {"preferredVersion", version}});
      }
      reply(res, 200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}});
    });
    // Everything else under /api and /apis: discovery of one group version, or the resource API.
    server.Get(R"(/apis?/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res, "GET");
    });
    server.Post(R"(/apis?/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res, "POST");
    });
    server.Put(R"(/apis?/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res, "PUT");
    });
    server.Patch(R"(/apis?/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res, "PATCH");
    });
    server.Delete(R"(/apis?/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      handle(req, res, "DELETE");
    });
  }

  void shutdown() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    changed_.notify_all();
  }

private:
  /// cpp-httplib 0.11 lets a handler's exception end the process: bad parameters get a 400 instead.
  template <typename Handler>
  static httplib::Server::Handler guarded(Handler handler) {
    return [handler](const httplib::Request& req, httplib::Response& res) {
      try {
        handler(req, res);
      } catch (const std::exception& e) {
        reply(res, 400, statusBody(400, "BadRequest", e.what()));
      }
    };
  }

  static void reply(httplib::Response& res, int code, const json& body) {
    res.status = code;
    res.set_content(body.dump(), "application/json");
  }

  static void replyText(httplib::Response& res, int code, std::string body) {
    res.status = code;
    res.set_content(std::move(body), "application/json");
  }

  void handle(const httplib::Request& req, httplib::Response& res, const std::string& verb) {
    const std::vector<std::string> parts = splitPath(req.path);
    if (verb == "GET" &&
        ((parts.size() == 2 && parts[0] == "api") || (parts.size() == 3 && parts[0] == "apis"))) {
      discovery(parts, res);
      return;
    }
    const std::optional<ApiPath> path = parseApiPath(req.path);
    if (!path) {
      reply(res, 404,
            statusBody(404, "NotFound", "the server could not find the requested resource"));
      return;
    }
    try {
      if (verb == "GET" && path->name.empty()) {
        if (req.get_param_value("watch") == "true" || req.get_param_value("watch") == "1") {
          watch(*path, req, res);
        } else {
          list(*path, req, res);
        }
      } else if (verb == "GET") {
        get(*path, res);
      } else if (verb == "POST" && path->name.empty()) {
        create(*path, req, res);
      } else if ((verb == "PUT" || verb == "PATCH") && !path->name.empty()) {
        update(*path, req, res, verb == "PATCH");
      } else if (verb == "DELETE" && !path->name.empty()) {
        remove(*path, res);
      } else {
        reply(res, 405, statusBody(405, "MethodNotAllowed", "method not allowed"));
      }
    } catch (const json::exception& e) {
      reply(res, 400, statusBody(400, "BadRequest", std::string("bad request body: ") + e.what()));
    } catch (const std::exception& e) {
      reply(res, 400, statusBody(400, "BadRequest", e.what()));
    }
  }

  static void discovery(const std::vector<std::string>& parts, httplib::Response& res) {
    const std::string group = parts[0] == "api" ? "" : parts[1];
    const std::string version = parts.back();
    json resources = json::array();
    for (const ResourceType& type : resourceTypes()) {
      if (type.group != group || type.version != version) {
        continue;
      }
      resources.push_back(
          {{"name", type.plural},
           {"singularName", ""},
           {"namespaced", type.namespaced},
           {"kind", type.kind},
           {"shortNames", type.shortNames},
           {"verbs", {"create", "delete", "get", "list", "patch", "update", "watch"}}});
      if (type.hasStatus) {
        resources.push_back({{"name", type.plural + "/status"},
                             {"singularName", ""},
                             {"namespaced", type.namespaced},
                             {"kind", type.kind},
                             {"verbs", {"get", "patch", "update"}}});
      }
    }
    if (resources.empty()) {
      reply(res, 404, statusBody(404, "NotFound", "no such group version"));
      return;
    }
    reply(res, 200,
          {{"kind", "APIResourceList"},
           {"apiVersion", "v1"},
           {"groupVersion", group.empty() ? version : group + "/" + version},
           {"resources", resources}});
  }

  static Filter filterOf(const ApiPath& path, const httplib::Request& req) {
    Filter filter;
    filter.namespaceName = path.namespaceName;
    if (req.has_param("labelSelector")) {
      std::optional<std::vector<Requirement>> labels =
          parseSelector(req.get_param_value("labelSelector"));
      if (!labels) {
        throw std::runtime_error(
            "unsupported labelSelector (this server knows =, ==, != and existence)");
      }
      filter.labels = std::move(*labels);
    }
    if (req.has_param("fieldSelector")) {
      const std::optional<std::vector<Requirement>> fields =
          parseSelector(req.get_param_value("fieldSelector"));
      if (!fields) {
        throw std::runtime_error("unsupported fieldSelector");
      }
      for (const Requirement& r : *fields) {
        if (r.op == Requirement::Op::Equals && r.key == "metadata.name") {
          filter.name = r.value;
        } else if (r.op == Requirement::Op::Equals && r.key == "metadata.namespace") {
          if (!filter.namespaceName.empty() && filter.namespaceName != r.value) {
            filter.name = "\x01"; // matches nothing
          }
          filter.namespaceName = r.value;
        } else {
          throw std::runtime_error("unsupported fieldSelector " + r.key);
        }
      }
    }
    return filter;
  }

  void list(const ApiPath& path, const httplib::Request& req, httplib::Response& res) {
    const Filter filter = filterOf(path, req);
    const long limit = req.has_param("limit") ? std::stol(req.get_param_value("limit")) : 0;
    std::string after;
    std::uint64_t snapshot = 0;
    if (const std::string token = req.get_param_value("continue"); !token.empty()) {
      const std::size_t bar = token.find('|');
      if (bar == std::string::npos) {
        reply(res, 400, statusBody(400, "BadRequest", "malformed continue token"));
        return;
      }
      snapshot = std::stoull(token.substr(0, bar));
      after = token.substr(bar + 1);
    }
    std::string body;
    {
      std::lock_guard lock(mutex_);
      if (snapshot == 0) {
        snapshot = resourceVersion_;
      }
      const auto& objects = collections_[path.type];
      auto it = after.empty() ? objects.begin() : objects.upper_bound(after);
      body.reserve(limit > 0 ? static_cast<std::size_t>(limit) * 6200 : 1 << 16);
      body += R"({"kind":")" + path.type->kind + R"(List","apiVersion":")" +
              path.type->groupVersion() + R"(","items":[)";
      long count = 0;
      std::string last;
      for (; it != objects.end(); ++it) {
        const Stored& object = it->second;
        if (!filter.accepts(object.namespaceName, object.name, object.labels)) {
          continue;
        }
        if (limit > 0 && count == limit) {
          break;
        }
        if (count > 0) {
          body += ',';
        }
        body += object.text;
        last = it->first;
        ++count;
      }
      std::string continueToken;
      if (limit > 0 && count == limit) {
        for (; it != objects.end(); ++it) {
          if (filter.accepts(it->second.namespaceName, it->second.name, it->second.labels)) {
            continueToken = std::to_string(snapshot) + "|" + last;
            break;
          }
        }
      }
      body += R"(],"metadata":{"resourceVersion":")" + std::to_string(snapshot) + "\"";
      if (!continueToken.empty()) {
        body += R"(,"continue":)" + json(continueToken).dump();
      }
      body += "}}";
    }
    replyText(res, 200, std::move(body));
  }

  void watch(const ApiPath& path, const httplib::Request& req, httplib::Response& res) {
    const Filter filter = filterOf(path, req);
    const std::string from = req.get_param_value("resourceVersion");
    const long timeoutSeconds = std::clamp(
        req.has_param("timeoutSeconds") ? std::stol(req.get_param_value("timeoutSeconds")) : 1800L,
        1L, 86400L);
    std::uint64_t cursor = 0;
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(mutex_);
      // "" and "0" start at the current state without replaying it: the clients measured here
      // always watch from a list's resourceVersion.
      cursor = (from.empty() || from == "0") ? resourceVersion_ : std::stoull(from);
      const std::uint64_t oldest =
          history_.empty() ? resourceVersion_ : history_.front().resourceVersion - 1;
      if (cursor < oldest || cursor > resourceVersion_) {
        json gone = {{"type", "ERROR"},
                     {"object", statusBody(410, "Expired", "too old resource version: " + from)}};
        replyText(res, 200, gone.dump() + "\n");
        return;
      }
      generation = dropGeneration_;
      ++openWatches_;
    }
    const std::int64_t deadline = monotonicNs() + timeoutSeconds * 1000000000LL;
    const ResourceType* type = path.type;
    res.status = 200;
    res.set_chunked_content_provider("application/json", [this, filter, cursor, generation,
                                                          deadline, type, dueAt = std::int64_t{0}](
                                                             std::size_t,
                                                             httplib::DataSink& sink) mutable {
      std::vector<std::string> out;
      bool end = false;
      bool abort = false;
      {
        std::unique_lock lock(mutex_);
        if (dueAt > 0) {
          // The next event is held back by /bench/delay-watch until then.
          changed_.wait_until(lock,
                              std::chrono::steady_clock::time_point(
                                  std::chrono::nanoseconds(std::min(dueAt, deadline))),
                              [&] { return stopping_ || dropGeneration_ != generation; });
          dueAt = 0;
        }
        changed_.wait_until(
            lock, std::chrono::steady_clock::time_point(std::chrono::nanoseconds(deadline)), [&] {
              return stopping_ || dropGeneration_ != generation || resourceVersion_ > cursor;
            });
        if (stopping_ || dropGeneration_ != generation) {
          end = true;
          abort = stopping_ || dropAbort_;
        } else if (monotonicNs() >= deadline) {
          end = true;
        } else if (!history_.empty() && cursor + 1 < history_.front().resourceVersion) {
          out.push_back(json{{"type", "ERROR"},
                             {"object", statusBody(410, "Expired", "watch fell behind history")}}
                            .dump() +
                        "\n");
          end = true;
        } else {
          const std::uint64_t first =
              history_.empty() ? resourceVersion_ + 1 : history_.front().resourceVersion;
          const std::int64_t delay = type == delayedType_ ? delayNs_ : 0;
          const std::int64_t now = monotonicNs();
          for (std::size_t i = cursor + 1 - first; i < history_.size(); ++i) {
            const Event& event = history_[i];
            if (event.type == type &&
                filter.accepts(event.namespaceName, event.name, event.labels)) {
              if (delay > 0 && event.tNs + delay > now) {
                dueAt = event.tNs + delay;
                break;
              }
              out.push_back(event.line);
            }
            cursor = event.resourceVersion;
          }
        }
        if (end) {
          --openWatches_;
        }
      }
      for (const std::string& line : out) {
        if (!sink.write(line.data(), line.size())) {
          std::lock_guard lock(mutex_);
          if (!end) {
            --openWatches_;
          }
          return false;
        }
      }
      if (end) {
        if (abort) {
          return false;
        }
        sink.done();
      }
      return true;
    });
  }

  void get(const ApiPath& path, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    const auto& objects = collections_[path.type];
    const auto it = objects.find(path.namespaceName + "/" + path.name);
    if (it == objects.end()) {
      reply(res, 404,
            statusBody(404, "NotFound", path.type->plural + " \"" + path.name + "\" not found"));
      return;
    }
    replyText(res, 200, it->second.text);
  }

  void create(const ApiPath& path, const httplib::Request& req, httplib::Response& res) {
    json object = json::parse(req.body);
    if (!object.is_object()) {
      throw std::runtime_error("body is not an object");
    }
    std::lock_guard lock(mutex_);
    const auto [code, body] = createLocked(*path.type, path.namespaceName, std::move(object));
    record("POST", *path.type, body, path.namespaceName, "", req.body.size());
    reply(res, code, body);
  }

  std::pair<int, json> createLocked(const ResourceType& type, const std::string& namespaceName,
                                    json object) {
    json& metadata = object["metadata"];
    if (!metadata.is_object()) {
      return {400, statusBody(400, "BadRequest", "metadata is not an object")};
    }
    if (!metadata.contains("name") && metadata.contains("generateName")) {
      metadata["name"] = metadata["generateName"].get<std::string>() + std::to_string(++generated_);
    }
    if (!metadata.contains("name") || !metadata["name"].is_string() ||
        metadata["name"].get<std::string>().empty()) {
      return {422, statusBody(422, "Invalid", "metadata.name: Required value")};
    }
    const std::string name = metadata["name"];
    metadata["namespace"] = namespaceName;
    object["apiVersion"] = type.groupVersion();
    object["kind"] = type.kind;
    metadata["uid"] = "bench-uid-" + std::to_string(++generated_);
    metadata["creationTimestamp"] = "2026-11-01T10:00:00Z";
    metadata["generation"] = 1;
    if (!type.stored) {
      metadata["resourceVersion"] = std::to_string(resourceVersion_);
      return {201, object};
    }
    auto& objects = collections_[&type];
    const std::string key = namespaceName + "/" + name;
    if (objects.count(key) != 0) {
      return {409,
              statusBody(409, "AlreadyExists", type.plural + " \"" + name + "\" already exists")};
    }
    store(type, key, object, "ADDED");
    return {201, object};
  }

  void update(const ApiPath& path, const httplib::Request& req, httplib::Response& res,
              bool patch) {
    if (patch && req.get_header_value("Content-Type").find("merge-patch") == std::string::npos &&
        req.get_header_value("Content-Type").find("strategic-merge-patch") == std::string::npos) {
      reply(res, 415, statusBody(415, "UnsupportedMediaType", "only merge patches are served"));
      return;
    }
    if (!path.subresource.empty() && (path.subresource != "status" || !path.type->hasStatus)) {
      reply(res, 404, statusBody(404, "NotFound", "no such subresource"));
      return;
    }
    const json body = json::parse(req.body);
    if (!body.is_object()) {
      throw std::runtime_error("body is not an object");
    }
    std::lock_guard lock(mutex_);
    auto& objects = collections_[path.type];
    const std::string key = path.namespaceName + "/" + path.name;
    const auto it = objects.find(key);
    if (it == objects.end()) {
      reply(res, 404,
            statusBody(404, "NotFound", path.type->plural + " \"" + path.name + "\" not found"));
      return;
    }
    if (body.contains("metadata") && body["metadata"].is_object() &&
        body["metadata"].contains("resourceVersion")) {
      const json& wanted = body["metadata"]["resourceVersion"];
      if (!wanted.is_string() ||
          wanted.get<std::string>() != std::to_string(it->second.resourceVersion)) {
        record(patch ? "PATCH-CONFLICT" : "PUT-CONFLICT", *path.type, nullptr, path.namespaceName,
               path.name, req.body.size());
        reply(res, 409,
              statusBody(
                  409, "Conflict",
                  "Operation cannot be fulfilled on " + path.type->plural + " \"" + path.name +
                      "\": the object has been modified; please apply your changes to the latest "
                      "version and try again"));
        return;
      }
    }
    json current = json::parse(it->second.text);
    json next = current;
    const bool statusOnly = path.subresource == "status";
    if (statusOnly) {
      if (patch) {
        if (body.contains("status")) {
          next["status"].merge_patch(body["status"]);
        }
      } else {
        next["status"] = body.value("status", json::object());
      }
    } else {
      if (patch) {
        next.merge_patch(body);
      } else {
        next = body;
        next["metadata"]["uid"] = current["metadata"]["uid"];
        next["metadata"]["creationTimestamp"] = current["metadata"]["creationTimestamp"];
      }
      if (path.type->hasStatus) {
        // The main resource cannot change status, as the real API server does with a status
        // subresource.
        if (current.contains("status")) {
          next["status"] = current["status"];
        } else {
          next.erase("status");
        }
      }
      next["metadata"]["namespace"] = path.namespaceName;
      next["metadata"]["name"] = path.name;
      next["apiVersion"] = path.type->groupVersion();
      next["kind"] = path.type->kind;
      const std::int64_t generation = current["metadata"].value("generation", 1);
      next["metadata"]["generation"] =
          next.value("spec", json()) != current.value("spec", json()) ? generation + 1 : generation;
    }
    store(*path.type, key, next, "MODIFIED");
    record(patch ? "PATCH" : "PUT", *path.type, next, path.namespaceName, path.name,
           req.body.size(), path.subresource);
    reply(res, 200, next);
  }

  void remove(const ApiPath& path, httplib::Response& res) {
    std::lock_guard lock(mutex_);
    auto& objects = collections_[path.type];
    const auto it = objects.find(path.namespaceName + "/" + path.name);
    if (it == objects.end()) {
      reply(res, 404,
            statusBody(404, "NotFound", path.type->plural + " \"" + path.name + "\" not found"));
      return;
    }
    json object = json::parse(it->second.text);
    const Labels labels = it->second.labels;
    objects.erase(it);
    object["metadata"]["resourceVersion"] = std::to_string(++resourceVersion_);
    appendEvent(*path.type, path.namespaceName, path.name, labels, "DELETED", object);
    record("DELETE", *path.type, object, path.namespaceName, path.name, 0);
    reply(res, 200, object);
  }

  /// Stores `object` (its resourceVersion set here) and emits the watch event. Under mutex_.
  void store(const ResourceType& type, const std::string& key, json& object,
             const std::string& eventType) {
    object["metadata"]["resourceVersion"] = std::to_string(++resourceVersion_);
    Stored stored{.namespaceName = object["metadata"]["namespace"],
                  .name = object["metadata"]["name"],
                  .labels = labelsOf(object),
                  .resourceVersion = resourceVersion_,
                  .text = object.dump()};
    appendEvent(type, stored.namespaceName, stored.name, stored.labels, eventType, object);
    collections_[&type][key] = std::move(stored);
  }

  void appendEvent(const ResourceType& type, const std::string& namespaceName,
                   const std::string& name, const Labels& labels, const std::string& eventType,
                   const json& object) {
    if (seeding_) {
      return;
    }
    history_.push_back(Event{resourceVersion_, monotonicNs(), &type, namespaceName, name, labels,
                             json{{"type", eventType}, {"object", object}}.dump() + "\n"});
    while (history_.size() > historyLimit_) {
      history_.pop_front();
    }
    changed_.notify_all();
  }

  /// Appends a write record. Under mutex_.
  void record(const std::string& verb, const ResourceType& type, const json& object,
              const std::string& namespaceName, const std::string& name, std::size_t bytes,
              const std::string& subresource = "") {
    json entry = {{"seq", writes_.size() + 1},
                  {"tNs", monotonicNs()},
                  {"verb", verb},
                  {"resource", type.plural},
                  {"subresource", subresource},
                  {"namespace", namespaceName},
                  {"name", object.is_object() ? object["metadata"].value("name", name) : name},
                  {"bytes", bytes}};
    if (object.is_object()) {
      entry["resourceVersion"] = object["metadata"].value("resourceVersion", "");
      if (type.plural == "clustertopologies" && object.contains("status") &&
          object["status"].is_object()) {
        entry["readyCount"] = object["status"].value("readyCount", -1);
        entry["memberCount"] = object["status"].value("memberCount", -1);
      }
      if (type.plural == "leases" && object.contains("spec") && object["spec"].is_object()) {
        entry["holderIdentity"] = object["spec"].value("holderIdentity", "");
      }
    }
    writes_.push_back(std::move(entry));
    changed_.notify_all();
  }

  void flip(const httplib::Request& req, httplib::Response& res) {
    const std::string namespaceName =
        req.has_param("namespace") ? req.get_param_value("namespace") : "default";
    const std::string name = req.get_param_value("name");
    const bool ready = req.get_param_value("ready") != "false";
    std::lock_guard lock(mutex_);
    const ResourceType& pods = resourceTypes()[0];
    auto& objects = collections_[&pods];
    const auto it = objects.find(namespaceName + "/" + name);
    if (it == objects.end()) {
      reply(res, 404, statusBody(404, "NotFound", "no such pod"));
      return;
    }
    json pod = json::parse(it->second.text);
    for (json& condition : pod["status"]["conditions"]) {
      if (condition["type"] == "Ready" || condition["type"] == "ContainersReady") {
        condition["status"] = ready ? "True" : "False";
      }
    }
    for (json& container : pod["status"]["containerStatuses"]) {
      container["ready"] = ready;
    }
    store(pods, it->first, pod, "MODIFIED");
    record("FLIP", pods, pod, namespaceName, name, 0, "status");
    reply(res, 200, writes_.back());
  }

  void writes(const httplib::Request& req, httplib::Response& res) {
    const std::size_t since = req.has_param("since") ? std::stoul(req.get_param_value("since")) : 0;
    const std::string resource = req.get_param_value("resource");
    const std::string name = req.get_param_value("name");
    const bool byReadyCount = req.has_param("readyCount");
    const long readyCount = byReadyCount ? std::stol(req.get_param_value("readyCount")) : 0;
    const long timeoutMs =
        std::clamp(req.has_param("timeoutMs") ? std::stol(req.get_param_value("timeoutMs")) : 0L,
                   0L, 600'000L);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    json out = json::array();
    std::unique_lock lock(mutex_);
    std::size_t scanned = since;
    // Appends the records written since the last scan that match the query.
    const auto scan = [&] {
      for (; scanned < writes_.size(); ++scanned) {
        const json& entry = writes_[scanned];
        if ((resource.empty() || entry["resource"] == resource) &&
            (name.empty() || entry["name"] == name) &&
            (!byReadyCount || entry.value("readyCount", -2L) == readyCount)) {
          out.push_back(entry);
        }
      }
    };
    scan();
    while (out.empty() && !stopping_ &&
           changed_.wait_until(lock, deadline) != std::cv_status::timeout) {
      scan();
    }
    // What arrived together with the timeout.
    scan();
    reply(res, 200, {{"writes", out}, {"lastSeq", writes_.size()}});
  }

  int dropWatches(bool abort) {
    std::lock_guard lock(mutex_);
    ++dropGeneration_;
    dropAbort_ = abort;
    changed_.notify_all();
    return openWatches_;
  }

  struct SeedingScope {
    explicit SeedingScope(bool& flag) : flag_(flag) { flag_ = true; }
    ~SeedingScope() { flag_ = false; }
    bool& flag_;
  };

  const std::size_t historyLimit_;
  bool seeding_ = false;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<const ResourceType*, std::map<std::string, Stored>> collections_;
  std::deque<Event> history_;
  std::vector<json> writes_;
  std::uint64_t resourceVersion_ = 1000;
  std::uint64_t generated_ = 0;
  std::uint64_t dropGeneration_ = 0;
  bool dropAbort_ = true;
  const ResourceType* delayedType_ = nullptr; // its watch events are delivered delayNs_ late
  std::int64_t delayNs_ = 0;
  int openWatches_ = 0;
  bool stopping_ = false;
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::int64_t> failUntilNs_{0};
  std::atomic<int> failCode_{0};
};

json topologyObject(const std::string& name, const std::string& namespaceName,
                    const json& matchLabels) {
  return {{"apiVersion", "libcluster.dev/v1alpha1"},
          {"kind", "ClusterTopology"},
          {"metadata", {{"name", name}, {"namespace", namespaceName}}},
          {"spec",
           {{"nodeBasename", "bench"},
            {"sources", {{{"kubernetes", {{"selector", {{"matchLabels", matchLabels}}}}}}}}}}};
}

} // namespace

int main(int argc, char** argv) {
  CLI::App cli{"fast Kubernetes API server for benchmarks (plain HTTP on loopback)"};
  std::string dir;
  int port = 0;
  int pods = 10000;
  std::string namespaceName = "default";
  std::string topology = "big:half=first";
  int smallTopologies = 0;
  std::size_t history = 200000;
  int threads = 128;
  cli.add_option("--dir", dir, "where to write kubeconfig")->required();
  cli.add_option("--port", port, "port on 127.0.0.1 (0: any free port)");
  cli.add_option("--pods", pods,
                 "realistic pods bench-0..N-1 (labels app=bench, group=i%100, half)");
  cli.add_option("--namespace", namespaceName);
  cli.add_option("--topology", topology, "NAME:label=value[,label=value] (empty: none)");
  cli.add_option("--small-topologies", smallTopologies,
                 "also bench-<i> selecting group=i (100 pods each)");
  cli.add_option("--history", history, "watch events kept (older resourceVersions are 410 Gone)");
  cli.add_option("--threads", threads, "server threads (each open watch holds one)");
  CLI11_PARSE(cli, argc, argv);

  // Large responses in fresh mmap'd memory cost a page fault per 4 KiB (most of a 60 MB list's
  // time in a VM): keep freed memory in one heap and reuse it instead.
  mallopt(M_ARENA_MAX, 1);
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  BenchApiServer api(history);
  const ResourceType* podType = findType("", "v1", "pods");
  const ResourceType* topologyType = findType("libcluster.dev", "v1alpha1", "clustertopologies");
  for (int i = 0; i < pods; ++i) {
    json pod = libcluster::bench::realisticPod("bench-" + std::to_string(i), i);
    pod["metadata"]["namespace"] = namespaceName;
    api.seed(*podType, std::move(pod));
  }
  if (!topology.empty()) {
    const std::size_t colon = topology.find(':');
    json matchLabels = json::object();
    const std::vector<Requirement> labels =
        parseSelector(colon == std::string::npos ? "" : topology.substr(colon + 1))
            .value_or(std::vector<Requirement>{});
    for (const Requirement& r : labels) {
      matchLabels[r.key] = r.value;
    }
    matchLabels["app"] = "bench";
    api.seed(*topologyType, topologyObject(topology.substr(0, colon), namespaceName, matchLabels));
  }
  for (int i = 0; i < smallTopologies; ++i) {
    api.seed(*topologyType, topologyObject("bench-" + std::to_string(i), namespaceName,
                                           {{"app", "bench"}, {"group", std::to_string(i)}}));
  }

  httplib::Server server;
  server.new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<std::size_t>(threads));
  };
  // As Go's net/http (kube-apiserver) does: cpp-httplib writes a response's head and body in two
  // sends, and with Nagle the body waited for the client's delayed ACK of the head (~40 ms) when
  // requests followed each other closely — the server, not the controller, was then the flip ->
  // PATCH latency (strace: a PATCH response's body read 40 ms after its head).
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(1000000);
  server.set_keep_alive_timeout(300);
  server.set_payload_max_length(64 << 20);
  api.install(server);
  const int bound = port == 0 ? server.bind_to_any_port("127.0.0.1")
                              : (server.bind_to_port("127.0.0.1", port) ? port : -1);
  if (bound <= 0) {
    std::cerr << "cannot bind 127.0.0.1:" << port << "\n";
    return 2;
  }
  std::filesystem::create_directories(dir);
  const std::string kubeconfig = (std::filesystem::path(dir) / "kubeconfig").string();
  {
    std::ofstream out(kubeconfig);
    out << "apiVersion: v1\nkind: Config\nclusters:\n- name: bench\n  cluster:\n    server: "
           "http://127.0.0.1:"
        << bound
        << "\ncontexts:\n- name: bench\n  context:\n    cluster: bench\n    user: bench\n    "
           "namespace: "
        << namespaceName << "\ncurrent-context: bench\nusers:\n- name: bench\n  user: {}\n";
  }
  // Signals are taken by this thread alone, so shutting down is not done in a signal handler.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread serving([&] { server.listen_after_bind(); });
  std::cout << json{{"port", bound}, {"kubeconfig", kubeconfig}, {"pid", getpid()}}.dump()
            << std::endl;
  int signal = 0;
  sigwait(&signals, &signal);
  api.shutdown();
  server.stop();
  serving.join();
  return 0;
}
