#include "api/topology.h"

#include <algorithm>
#include <set>

#include "core/names.h"

namespace libcluster {
namespace {

using nlohmann::json;

Error invalid(const std::string& field, const std::string& why) {
  return Error{Error::Code::Invalid, field + ": " + why};
}

/// Reads typed fields of one JSON object, remembering the first problem with its field path.
class FieldReader {
public:
  FieldReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {}

  std::string field(std::string_view key) const { return path_ + "." + std::string(key); }
  bool has(std::string_view key) const {
    return object_.is_object() && object_.contains(key) && !object_.at(key).is_null();
  }
  const json* raw(std::string_view key) const {
    return has(key) ? &object_.at(std::string(key)) : nullptr;
  }

  std::string string(std::string_view key, std::string fallback = "") {
    const json* value = raw(key);
    if (value == nullptr) {
      return fallback;
    }
    if (!value->is_string()) {
      fail(field(key), "must be a string");
      return fallback;
    }
    return value->get<std::string>();
  }

  int integer(std::string_view key, int fallback, int min, int max) {
    const json* value = raw(key);
    if (value == nullptr) {
      return fallback;
    }
    if (!value->is_number_integer()) {
      fail(field(key), "must be an integer");
      return fallback;
    }
    const auto number = value->get<std::int64_t>();
    if (number < min || number > max) {
      fail(field(key), "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                           ", got " + std::to_string(number));
      return fallback;
    }
    return static_cast<int>(number);
  }

  bool boolean(std::string_view key, bool fallback) {
    const json* value = raw(key);
    if (value == nullptr) {
      return fallback;
    }
    if (!value->is_boolean()) {
      fail(field(key), "must be a boolean");
      return fallback;
    }
    return value->get<bool>();
  }

  template <typename E>
  E choice(std::string_view key, E fallback, std::initializer_list<std::pair<const char*, E>> options) {
    const std::string text = string(key);
    if (text.empty()) {
      return fallback;
    }
    std::string allowed;
    for (const auto& [name, value] : options) {
      if (text == name) {
        return value;
      }
      allowed += (allowed.empty() ? "" : ", ") + std::string(name);
    }
    fail(field(key), "unsupported value \"" + text + "\" (allowed: " + allowed + ")");
    return fallback;
  }

  void fail(const std::string& field, const std::string& why) {
    if (!error_) {
      error_ = invalid(field, why);
    }
  }
  const std::optional<Error>& error() const { return error_; }
  void absorb(const std::optional<Error>& other) {
    if (!error_ && other) {
      error_ = other;
    }
  }

private:
  const json& object_;
  std::string path_;
  std::optional<Error> error_;
};

std::optional<Mfa> readMfa(const json& object, const std::string& path, Mfa fallback,
                           FieldReader& parent) {
  if (object.is_null()) {
    return fallback;
  }
  if (!object.is_object()) {
    parent.fail(path, "must be an object with module and function");
    return std::nullopt;
  }
  FieldReader reader(object, path);
  Mfa mfa;
  mfa.module = reader.string("module");
  mfa.function = reader.string("function");
  if (!isErlangModuleName(mfa.module)) {
    reader.fail(reader.field("module"), "must be an Erlang module name, got \"" + mfa.module + "\"");
  }
  if (!isErlangFunctionName(mfa.function)) {
    reader.fail(reader.field("function"),
                "must be an Erlang function name, got \"" + mfa.function + "\"");
  }
  if (const json* args = reader.raw("args")) {
    if (!args->is_array() || args->size() > 8) {
      reader.fail(reader.field("args"), "must be a list of at most 8 Erlang terms");
    } else {
      for (std::size_t i = 0; i < args->size(); ++i) {
        if (!(*args)[i].is_string() || (*args)[i].get<std::string>().empty()) {
          reader.fail(reader.field("args") + "[" + std::to_string(i) + "]",
                      "must be an Erlang term written as a string");
        } else {
          mfa.args.push_back((*args)[i].get<std::string>());
        }
      }
    }
  }
  parent.absorb(reader.error());
  return reader.error() ? std::nullopt : std::optional<Mfa>(mfa);
}

LabelSelectorSpec readSelector(const json& object, const std::string& path, FieldReader& parent) {
  LabelSelectorSpec selector;
  if (!object.is_object()) {
    parent.fail(path, "must be a label selector object");
    return selector;
  }
  FieldReader reader(object, path);
  if (const json* labels = reader.raw("matchLabels")) {
    if (!labels->is_object()) {
      reader.fail(reader.field("matchLabels"), "must be a map of label to value");
    } else {
      for (const auto& [key, value] : labels->items()) {
        if (!value.is_string()) {
          reader.fail(reader.field("matchLabels") + "." + key, "must be a string");
        } else {
          selector.matchLabels[key] = value.get<std::string>();
        }
      }
    }
  }
  if (const json* expressions = reader.raw("matchExpressions")) {
    if (!expressions->is_array()) {
      reader.fail(reader.field("matchExpressions"), "must be a list");
    } else {
      for (std::size_t i = 0; i < expressions->size(); ++i) {
        const std::string itemPath = reader.field("matchExpressions") + "[" + std::to_string(i) + "]";
        FieldReader item((*expressions)[i], itemPath);
        SelectorRequirement requirement;
        requirement.key = item.string("key");
        requirement.op = item.string("operator");
        if (requirement.key.empty()) {
          item.fail(item.field("key"), "required");
        }
        static const std::set<std::string> operators{"In", "NotIn", "Exists", "DoesNotExist"};
        if (!operators.contains(requirement.op)) {
          item.fail(item.field("operator"),
                    "unsupported value \"" + requirement.op +
                        "\" (allowed: In, NotIn, Exists, DoesNotExist)");
        }
        if (const json* values = item.raw("values"); values != nullptr && values->is_array()) {
          for (const json& value : *values) {
            if (value.is_string()) {
              requirement.values.push_back(value.get<std::string>());
            } else {
              item.fail(item.field("values"), "must be a list of strings");
            }
          }
        }
        const bool needsValues = requirement.op == "In" || requirement.op == "NotIn";
        if (needsValues && requirement.values.empty()) {
          item.fail(item.field("values"), "required for operator " + requirement.op);
        }
        if (!needsValues && !requirement.values.empty()) {
          item.fail(item.field("values"), "must be empty for operator " + requirement.op);
        }
        reader.absorb(item.error());
        selector.matchExpressions.push_back(std::move(requirement));
      }
    }
  }
  parent.absorb(reader.error());
  return selector;
}

TopologySource readSource(const json& object, const std::string& path, FieldReader& parent) {
  TopologySource source;
  if (!object.is_object()) {
    parent.fail(path, "must be an object");
    return source;
  }
  FieldReader reader(object, path);
  source.name = reader.string("name");
  source.nodeBasename = reader.string("nodeBasename");
  if (reader.has("nodeBasename") && !isNodeBasename(source.nodeBasename)) {
    reader.fail(reader.field("nodeBasename"), "must match ^[A-Za-z0-9_-]{1,64}$");
  }
  const int kinds = static_cast<int>(reader.has("kubernetes")) + static_cast<int>(reader.has("dns")) +
                    static_cast<int>(reader.has("epmd")) + static_cast<int>(reader.has("rancher"));
  if (kinds != 1) {
    reader.fail(path, "must set exactly one of kubernetes, dns, epmd or rancher");
  }

  if (const json* kube = reader.raw("kubernetes")) {
    FieldReader k(*kube, reader.field("kubernetes"));
    KubernetesSource ks;
    if (const json* selector = k.raw("selector")) {
      ks.selector = readSelector(*selector, k.field("selector"), k);
    } else {
      k.fail(k.field("selector"), "required");
    }
    ks.namespaceName = k.string("namespace");
    ks.resource = k.choice<KubernetesSource::Resource>(
        "resource", KubernetesSource::Resource::Pods,
        {{"pods", KubernetesSource::Resource::Pods},
         {"endpointSlices", KubernetesSource::Resource::EndpointSlices}});
    ks.mode = k.choice<KubernetesSource::Mode>("mode", KubernetesSource::Mode::Ip,
                                               {{"ip", KubernetesSource::Mode::Ip},
                                                {"dns", KubernetesSource::Mode::Dns},
                                                {"hostname", KubernetesSource::Mode::Hostname}});
    ks.serviceName = k.string("serviceName");
    ks.clusterDomain = k.string("clusterDomain", "cluster.local");
    ks.ipFamily = k.choice<KubernetesSource::IpFamily>(
        "ipFamily", KubernetesSource::IpFamily::Primary,
        {{"Primary", KubernetesSource::IpFamily::Primary},
         {"IPv4", KubernetesSource::IpFamily::IPv4},
         {"IPv6", KubernetesSource::IpFamily::IPv6}});
    ks.readiness = k.choice<KubernetesSource::Readiness>(
        "readiness", KubernetesSource::Readiness::IncludeNotReady,
        {{"IncludeNotReady", KubernetesSource::Readiness::IncludeNotReady},
         {"ReadyOnly", KubernetesSource::Readiness::ReadyOnly}});
    ks.includeTerminating = k.boolean("includeTerminating", false);
    if (ks.mode == KubernetesSource::Mode::Hostname && ks.serviceName.empty()) {
      k.fail(k.field("serviceName"), "required when mode is hostname");
    }
    if (ks.resource == KubernetesSource::Resource::EndpointSlices && ks.serviceName.empty()) {
      k.fail(k.field("serviceName"), "required when resource is endpointSlices");
    }
    if (ks.clusterDomain.empty()) {
      k.fail(k.field("clusterDomain"), "must not be empty");
    }
    reader.absorb(k.error());
    source.kubernetes = std::move(ks);
  }
  if (const json* dns = reader.raw("dns")) {
    FieldReader d(*dns, reader.field("dns"));
    DnsSource ds;
    ds.name = d.string("name");
    if (ds.name.empty()) {
      d.fail(d.field("name"), "required");
    }
    ds.recordType = d.choice<DnsSource::RecordType>(
        "recordType", DnsSource::RecordType::Address,
        {{"Address", DnsSource::RecordType::Address}, {"SRV", DnsSource::RecordType::Srv}});
    ds.ipFamily = d.choice<DnsSource::IpFamily>("ipFamily", DnsSource::IpFamily::Any,
                                                {{"Any", DnsSource::IpFamily::Any},
                                                 {"IPv4", DnsSource::IpFamily::IPv4},
                                                 {"IPv6", DnsSource::IpFamily::IPv6}});
    ds.minRefreshSeconds = d.integer("minRefreshSeconds", 5, 1, 3600);
    ds.maxRefreshSeconds = d.integer("maxRefreshSeconds", 30, 1, 86400);
    if (ds.maxRefreshSeconds < ds.minRefreshSeconds) {
      d.fail(d.field("maxRefreshSeconds"), "must not be less than minRefreshSeconds");
    }
    reader.absorb(d.error());
    source.dns = std::move(ds);
  }
  if (const json* epmd = reader.raw("epmd")) {
    FieldReader e(*epmd, reader.field("epmd"));
    EpmdSource es;
    const json* nodes = e.raw("nodes");
    if (nodes == nullptr || !nodes->is_array() || nodes->empty()) {
      e.fail(e.field("nodes"), "required: a non-empty list of node names");
    } else {
      for (std::size_t i = 0; i < nodes->size(); ++i) {
        const json& node = (*nodes)[i];
        if (!node.is_string() || !isNodeName(node.get<std::string>())) {
          e.fail(e.field("nodes") + "[" + std::to_string(i) + "]",
                 "must be a node name like app@host, got " + node.dump());
        } else {
          es.nodes.push_back(node.get<std::string>());
        }
      }
    }
    reader.absorb(e.error());
    source.epmd = std::move(es);
  }
  if (const json* rancher = reader.raw("rancher")) {
    FieldReader r(*rancher, reader.field("rancher"));
    RancherSource rs;
    rs.url = r.string("url", rs.url);
    if (rs.url.rfind("http://", 0) != 0 && rs.url.rfind("https://", 0) != 0) {
      r.fail(r.field("url"), "must be an http:// or https:// URL");
    }
    rs.pollIntervalSeconds = r.integer("pollIntervalSeconds", 5, 1, 3600);
    reader.absorb(r.error());
    source.rancher = std::move(rs);
  }
  if (source.name.empty()) {
    source.name = source.kind();
  }
  parent.absorb(reader.error());
  return source;
}

json mfaJson(const Mfa& mfa) {
  json out{{"module", mfa.module}, {"function", mfa.function}};
  if (!mfa.args.empty()) {
    out["args"] = mfa.args;
  }
  return out;
}

} // namespace

std::string TopologySource::kind() const {
  if (kubernetes) {
    return "kubernetes";
  }
  if (dns) {
    return "dns";
  }
  if (epmd) {
    return "epmd";
  }
  if (rancher) {
    return "rancher";
  }
  return "unknown";
}

Result<TopologySpec> parseTopologySpec(const json& spec) {
  if (!spec.is_object()) {
    return invalid("spec", "required");
  }
  FieldReader reader(spec, "spec");
  TopologySpec out;
  out.nodeBasename = reader.string("nodeBasename");
  if (!isNodeBasename(out.nodeBasename)) {
    reader.fail(reader.field("nodeBasename"),
                out.nodeBasename.empty() ? "required"
                                         : "must match ^[A-Za-z0-9_-]{1,64}$, got \"" +
                                               out.nodeBasename + "\"");
  }
  const json* sources = reader.raw("sources");
  if (sources == nullptr || !sources->is_array() || sources->empty()) {
    reader.fail(reader.field("sources"), "required: at least one source");
  } else if (sources->size() > 16) {
    reader.fail(reader.field("sources"), "at most 16 sources");
  } else {
    std::set<std::string> names;
    for (std::size_t i = 0; i < sources->size(); ++i) {
      const std::string path = reader.field("sources") + "[" + std::to_string(i) + "]";
      TopologySource source = readSource((*sources)[i], path, reader);
      if (!names.insert(source.name).second) {
        reader.fail(path + ".name", "duplicate source name \"" + source.name + "\"");
      }
      out.sources.push_back(std::move(source));
    }
  }
  if (auto mfa = readMfa(reader.raw("connect") ? *reader.raw("connect") : json(), "spec.connect",
                         defaultConnectMfa(), reader)) {
    out.connect = *mfa;
  }
  if (auto mfa = readMfa(reader.raw("disconnect") ? *reader.raw("disconnect") : json(),
                         "spec.disconnect", defaultDisconnectMfa(), reader)) {
    out.disconnect = *mfa;
  }
  if (auto mfa = readMfa(reader.raw("listNodes") ? *reader.raw("listNodes") : json(),
                         "spec.listNodes", defaultListNodesMfa(), reader)) {
    out.listNodes = *mfa;
  }
  out.reconnectIntervalSeconds = reader.integer("reconnectIntervalSeconds", 5, 1, 3600);
  out.onRemoval = reader.choice<TopologySpec::OnRemoval>(
      "onRemoval", TopologySpec::OnRemoval::Disconnect,
      {{"Disconnect", TopologySpec::OnRemoval::Disconnect},
       {"Ignore", TopologySpec::OnRemoval::Ignore}});
  out.formation = reader.choice<TopologySpec::Formation>(
      "formation", TopologySpec::Formation::SeedFirst,
      {{"SeedFirst", TopologySpec::Formation::SeedFirst},
       {"Immediate", TopologySpec::Formation::Immediate}});
  if (reader.error()) {
    return *reader.error();
  }
  return out;
}

json toJson(const TopologySpec& spec) {
  json sources = json::array();
  for (const TopologySource& source : spec.sources) {
    json s{{"name", source.name}};
    if (!source.nodeBasename.empty()) {
      s["nodeBasename"] = source.nodeBasename;
    }
    if (source.kubernetes) {
      const KubernetesSource& k = *source.kubernetes;
      json selector = json::object();
      if (!k.selector.matchLabels.empty()) {
        selector["matchLabels"] = k.selector.matchLabels;
      }
      for (const SelectorRequirement& r : k.selector.matchExpressions) {
        json e{{"key", r.key}, {"operator", r.op}};
        if (!r.values.empty()) {
          e["values"] = r.values;
        }
        selector["matchExpressions"].push_back(e);
      }
      json out{{"selector", selector},
               {"resource", k.resource == KubernetesSource::Resource::Pods ? "pods" : "endpointSlices"},
               {"mode", k.mode == KubernetesSource::Mode::Ip    ? "ip"
                        : k.mode == KubernetesSource::Mode::Dns ? "dns"
                                                                : "hostname"},
               {"clusterDomain", k.clusterDomain},
               {"ipFamily", k.ipFamily == KubernetesSource::IpFamily::Primary ? "Primary"
                            : k.ipFamily == KubernetesSource::IpFamily::IPv4  ? "IPv4"
                                                                               : "IPv6"},
               {"readiness", k.readiness == KubernetesSource::Readiness::ReadyOnly ? "ReadyOnly"
                                                                                   : "IncludeNotReady"},
               {"includeTerminating", k.includeTerminating}};
      if (!k.namespaceName.empty()) {
        out["namespace"] = k.namespaceName;
      }
      if (!k.serviceName.empty()) {
        out["serviceName"] = k.serviceName;
      }
      s["kubernetes"] = out;
    }
    if (source.dns) {
      const DnsSource& d = *source.dns;
      s["dns"] = {{"name", d.name},
                  {"recordType", d.recordType == DnsSource::RecordType::Srv ? "SRV" : "Address"},
                  {"ipFamily", d.ipFamily == DnsSource::IpFamily::Any    ? "Any"
                               : d.ipFamily == DnsSource::IpFamily::IPv4 ? "IPv4"
                                                                         : "IPv6"},
                  {"minRefreshSeconds", d.minRefreshSeconds},
                  {"maxRefreshSeconds", d.maxRefreshSeconds}};
    }
    if (source.epmd) {
      s["epmd"] = {{"nodes", source.epmd->nodes}};
    }
    if (source.rancher) {
      s["rancher"] = {{"url", source.rancher->url},
                      {"pollIntervalSeconds", source.rancher->pollIntervalSeconds}};
    }
    sources.push_back(std::move(s));
  }
  return json{{"nodeBasename", spec.nodeBasename},
              {"sources", sources},
              {"connect", mfaJson(spec.connect)},
              {"disconnect", mfaJson(spec.disconnect)},
              {"listNodes", mfaJson(spec.listNodes)},
              {"reconnectIntervalSeconds", spec.reconnectIntervalSeconds},
              {"onRemoval", spec.onRemoval == TopologySpec::OnRemoval::Ignore ? "Ignore" : "Disconnect"},
              {"formation",
               spec.formation == TopologySpec::Formation::Immediate ? "Immediate" : "SeedFirst"}};
}

TopologyStatus parseTopologyStatus(const json& status) {
  TopologyStatus out;
  if (!status.is_object()) {
    return out;
  }
  auto integer = [&](const char* key) -> std::int64_t {
    auto it = status.find(key);
    return it != status.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  auto text = [](const json& object, const char* key) -> std::string {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  out.observedGeneration = integer("observedGeneration");
  out.memberCount = static_cast<int>(integer("memberCount"));
  out.readyCount = static_cast<int>(integer("readyCount"));
  out.connectedCount = static_cast<int>(integer("connectedCount"));
  out.seed = text(status, "seed");
  out.sourceSummary = text(status, "sourceSummary");
  out.memberSliceCount = static_cast<int>(integer("memberSliceCount"));
  if (auto it = status.find("membersTruncated"); it != status.end() && it->is_boolean()) {
    out.membersTruncated = it->get<bool>();
  }
  if (auto it = status.find("members"); it != status.end() && it->is_array()) {
    for (const json& m : *it) {
      if (!m.is_object() || text(m, "node").empty()) {
        continue;
      }
      Member member;
      member.node = text(m, "node");
      member.pod = text(m, "pod");
      member.source = text(m, "source");
      if (auto ips = m.find("ips"); ips != m.end() && ips->is_array()) {
        for (const json& ip : *ips) {
          if (ip.is_string()) {
            member.ips.push_back(ip.get<std::string>());
          }
        }
      }
      if (auto ready = m.find("ready"); ready != m.end() && ready->is_boolean()) {
        member.ready = ready->get<bool>();
      }
      if (auto connected = m.find("connected"); connected != m.end() && connected->is_boolean()) {
        member.connected = connected->get<bool>();
      }
      out.members.push_back(std::move(member));
    }
  }
  if (auto it = status.find("conditions"); it != status.end() && it->is_array()) {
    for (const json& c : *it) {
      if (!c.is_object() || text(c, "type").empty()) {
        continue;
      }
      Condition condition{text(c, "type"), text(c, "status"), text(c, "reason"),
                          text(c, "message"), 0, text(c, "lastTransitionTime")};
      if (auto g = c.find("observedGeneration"); g != c.end() && g->is_number_integer()) {
        condition.observedGeneration = g->get<std::int64_t>();
      }
      out.conditions.push_back(std::move(condition));
    }
  }
  return out;
}

json toJson(const TopologyStatus& status) {
  json members = json::array();
  for (const Member& m : status.members) {
    json member{{"node", m.node}, {"ready", m.ready}};
    if (!m.pod.empty()) {
      member["pod"] = m.pod;
    }
    if (!m.ips.empty()) {
      member["ips"] = m.ips;
    }
    if (!m.source.empty()) {
      member["source"] = m.source;
    }
    if (m.connected) {
      member["connected"] = *m.connected;
    }
    members.push_back(std::move(member));
  }
  json conditions = json::array();
  for (const Condition& c : status.conditions) {
    conditions.push_back({{"type", c.type},
                          {"status", c.status},
                          {"reason", c.reason},
                          {"message", c.message},
                          {"observedGeneration", c.observedGeneration},
                          {"lastTransitionTime", c.lastTransitionTime}});
  }
  json out{{"observedGeneration", status.observedGeneration},
           {"memberCount", status.memberCount},
           {"readyCount", status.readyCount},
           {"connectedCount", status.connectedCount},
           {"members", members},
           {"conditions", conditions}};
  if (!status.seed.empty()) {
    out["seed"] = status.seed;
  }
  if (!status.sourceSummary.empty()) {
    out["sourceSummary"] = status.sourceSummary;
  }
  // Written even when false or 0: a merge patch leaves out keys as they were.
  out["membersTruncated"] = status.membersTruncated;
  out["memberSliceCount"] = status.memberSliceCount;
  return out;
}

bool setCondition(std::vector<Condition>& conditions, Condition condition) {
  auto it = std::find_if(conditions.begin(), conditions.end(),
                         [&](const Condition& c) { return c.type == condition.type; });
  if (it == conditions.end()) {
    conditions.push_back(std::move(condition));
    return true;
  }
  if (it->status == condition.status) {
    condition.lastTransitionTime = it->lastTransitionTime;
  }
  if (*it == condition) {
    return false;
  }
  *it = std::move(condition);
  return true;
}

const Condition* findCondition(const std::vector<Condition>& conditions, std::string_view type) {
  auto it = std::find_if(conditions.begin(), conditions.end(),
                         [&](const Condition& c) { return c.type == type; });
  return it == conditions.end() ? nullptr : &*it;
}

} // namespace libcluster
