#include "strategy/strategy_config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include "core/names.h"
#include "gossip/gossip_options.h"
#include "informer/label_selector.h"
#include "strategy/option_reader.h"

namespace libcluster {

namespace {

bool isWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/// A snake_case option name: lowercase words joined by single underscores, at least two words.
bool isSnakeName(std::string_view word) {
  if (word.empty() || word.front() == '_' || word.back() == '_' ||
      word.find('_') == std::string_view::npos || word.find("__") != std::string_view::npos) {
    return false;
  }
  return std::all_of(word.begin(), word.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

} // namespace

std::string camelCaseOptionNames(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  std::size_t i = 0;
  while (i < message.size()) {
    if (!isWordChar(message[i])) {
      out += message[i++];
      continue;
    }
    std::size_t end = i;
    while (end < message.size() && isWordChar(message[end])) {
      ++end;
    }
    const std::string_view word = message.substr(i, end - i);
    if (!isSnakeName(word)) {
      out += word;
    } else {
      for (std::size_t k = 0; k < word.size(); ++k) {
        if (word[k] == '_') {
          out += static_cast<char>(word[++k] - 'a' + 'A');
        } else {
          out += word[k];
        }
      }
    }
    i = end;
  }
  return out;
}

namespace {

using nlohmann::json;

constexpr const char* kNoResolverOption =
    "not supported: the agent resolves names itself (c-ares, /etc/resolv.conf)";

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    return std::nullopt;
  }
  return std::string(value);
}

/// libcluster's Epmd / ErlangHosts `timeout`: milliseconds between reconnects, or :infinity.
std::optional<std::chrono::milliseconds> reconnectTimeout(OptionReader& reader) {
  const json& value = reader.raw("timeout");
  if (value.is_string() && (value == "infinity" || value == ":infinity")) {
    return std::nullopt;
  }
  return reader.milliseconds("timeout");
}

Result<StrategyConfig> finish(OptionReader& reader, StrategyConfig config) {
  if (Result<void> done = reader.finish(); !done) {
    return done.error();
  }
  return config;
}

Result<StrategyConfig> parseClusterTopology(OptionReader& reader, const StrategyEnvironment& env) {
  ClusterTopologyStrategy::Options options;
  options.namespaceName = reader.nonEmpty("namespace").value_or(env.namespaceName);
  options.name = reader.nonEmpty("name", true).value_or("");
  if (reader.ok() && options.namespaceName.empty()) {
    reader.fail("namespace", "required when the agent's own namespace is unknown (POD_NAMESPACE)");
  }
  return finish(reader, {"ClusterTopology", options, std::nullopt});
}

Result<StrategyConfig> parseEpmd(OptionReader& reader) {
  EpmdStrategy::Options options;
  options.hosts = reader.strings("hosts", true).value_or(std::vector<std::string>{});
  if (reader.ok() && options.hosts.empty()) {
    reader.fail("hosts", "must list at least one node name");
  }
  for (std::size_t i = 0; reader.ok() && i < options.hosts.size(); ++i) {
    if (!isNodeName(options.hosts[i])) {
      reader.fail("hosts[" + std::to_string(i) + "]",
                  "must be a node name like app@10.0.0.7, got \"" + options.hosts[i] + "\"");
    }
  }
  const std::optional<std::chrono::milliseconds> timeout = reconnectTimeout(reader);
  return finish(reader, {"Epmd", options, timeout});
}

Result<StrategyConfig> parseLocalEpmd(OptionReader& reader, const StrategyEnvironment& env) {
  LocalEpmdStrategy::Options options;
  options.epmdPort = env.epmdPort;
  return finish(reader, {"LocalEpmd", options, std::nullopt});
}

Result<StrategyConfig> parseErlangHosts(OptionReader& reader, const StrategyEnvironment& env) {
  ErlangHostsStrategy::Options options;
  options.searchPath = env.hostsSearchPath;
  options.epmdPort = env.epmdPort;
  if (std::optional<std::string> file = reader.nonEmpty("hostsFile")) {
    options.hostsFile = *file;
  }
  options.epmdTimeout = reader.milliseconds("epmdTimeout").value_or(options.epmdTimeout);
  const std::optional<std::chrono::milliseconds> timeout = reconnectTimeout(reader);
  return finish(reader, {"ErlangHosts", options, timeout});
}

/// Reads an option spelled either way (DNSPoll's and Kubernetes.DNS's names for the same thing).
std::optional<std::string> eitherOf(OptionReader& reader, std::string_view first,
                                    std::string_view second) {
  if (reader.has(first) && reader.has(second)) {
    reader.fail(second,
                "give either " + std::string(first) + " or " + std::string(second) + ", not both");
    return std::nullopt;
  }
  std::optional<std::string> a = reader.nonEmpty(first);
  std::optional<std::string> b = reader.nonEmpty(second);
  if (reader.ok() && !a && !b) {
    reader.fail(first, "required (or " + std::string(second) + ")");
  }
  return a ? a : b;
}

Result<StrategyConfig> parseDns(OptionReader& reader) {
  DnsStrategy::Options options;
  options.query = eitherOf(reader, "query", "service").value_or("");
  options.nodeBasename = eitherOf(reader, "nodeBasename", "applicationName").value_or("");
  if (std::optional<std::string> family = reader.oneOf("ipFamily", {"any", "ipv4", "ipv6"})) {
    options.family = *family == "ipv4"   ? AddressFamily::IPv4
                     : *family == "ipv6" ? AddressFamily::IPv6
                                         : AddressFamily::Any;
  }
  reader.reject("resolver", kNoResolverOption);
  reader.reject("pollInterval", "libcluster's DNSPoll ignores this spelling; use pollingInterval");
  const std::optional<std::chrono::milliseconds> interval = reader.milliseconds("pollingInterval");
  return finish(reader, {"DNS", options, interval});
}

Result<StrategyConfig> parseDnsSrv(OptionReader& reader, const StrategyEnvironment& env) {
  DnsSrvStrategy::Options options;
  options.service = reader.nonEmpty("service", true).value_or("");
  options.namespaceName = reader.nonEmpty("namespace").value_or(env.namespaceName);
  if (reader.ok() && options.namespaceName.empty()) {
    reader.fail("namespace", "required when the agent's own namespace is unknown (POD_NAMESPACE)");
  }
  options.applicationName = reader.nonEmpty("applicationName", true).value_or("");
  options.clusterDomain =
      reader.nonEmpty("clusterDomain").value_or(env.clusterDomain.value_or(options.clusterDomain));
  reader.reject("resolver", kNoResolverOption);
  const std::optional<std::chrono::milliseconds> interval = reader.milliseconds("pollingInterval");
  return finish(reader, {"DNSSRV", options, interval});
}

Result<StrategyConfig> parseRancher(OptionReader& reader) {
  RancherStrategy::Options options;
  options.nodeBasename = reader.nonEmpty("nodeBasename", true).value_or("");
  options.url = reader.nonEmpty("url").value_or(options.url);
  if (reader.ok() && !options.url.starts_with("http://") && !options.url.starts_with("https://")) {
    reader.fail("url", "must be an http:// or https:// URL, got \"" + options.url + "\"");
  }
  const std::optional<std::chrono::milliseconds> interval = reader.milliseconds("pollingInterval");
  return finish(reader, {"Rancher", options, interval});
}

Result<StrategyConfig> parseKubernetes(OptionReader& reader, const StrategyEnvironment& env) {
  KubernetesStrategy::Options options;
  options.selector = reader.nonEmpty("kubernetesSelector", true).value_or("");
  if (reader.ok()) {
    if (Result<LabelSelector> selector = LabelSelector::parse(options.selector); !selector) {
      reader.fail("kubernetesSelector", selector.error().message);
    }
  }
  options.nodeBasename = reader.nonEmpty("kubernetesNodeBasename", true).value_or("");
  options.namespaceName = reader.nonEmpty("kubernetesNamespace").value_or(env.namespaceName);
  if (reader.ok() && options.namespaceName.empty()) {
    reader.fail("kubernetesNamespace",
                "required when the agent's own namespace is unknown (POD_NAMESPACE)");
  }
  options.serviceName = reader.nonEmpty("kubernetesServiceName").value_or("");
  if (std::optional<std::string> mode = reader.oneOf("mode", {"ip", "dns", "hostname"})) {
    options.mode = *mode == "dns"        ? KubernetesStrategy::Mode::Dns
                   : *mode == "hostname" ? KubernetesStrategy::Mode::Hostname
                                         : KubernetesStrategy::Mode::Ip;
  }
  if (reader.ok() && options.mode == KubernetesStrategy::Mode::Hostname &&
      options.serviceName.empty()) {
    reader.fail("kubernetesServiceName", "required when mode is hostname");
  }
  if (std::optional<std::string> lookup =
          reader.oneOf("kubernetesIpLookupMode", {"endpoints", "endpointSlices", "pods"})) {
    options.lookup = *lookup == "pods"             ? KubernetesStrategy::Lookup::Pods
                     : *lookup == "endpointSlices" ? KubernetesStrategy::Lookup::EndpointSlices
                                                   : KubernetesStrategy::Lookup::Endpoints;
  }
  if (reader.has("kubernetesUseCachedResources") && reader.has("useCachedResources")) {
    reader.fail("useCachedResources",
                "give either kubernetesUseCachedResources or useCachedResources, not both");
  }
  options.useCachedResources = reader.boolean("kubernetesUseCachedResources")
                                   .value_or(reader.boolean("useCachedResources").value_or(false));
  const std::optional<std::string> clusterName = reader.nonEmpty("kubernetesClusterName");
  const std::optional<std::string> clusterDomain = reader.nonEmpty("clusterDomain");
  if (clusterName && clusterDomain) {
    reader.fail("clusterDomain", "give either kubernetesClusterName or clusterDomain, not both");
  }
  // libcluster builds "<kubernetes_cluster_name>.local" and ignores CLUSTER_DOMAIN in node names.
  options.clusterDomain = clusterDomain.value_or(clusterName.value_or("cluster") + ".local");
  reader.reject("kubernetesMaster",
                "not supported: the agent finds the API server from its in-cluster configuration "
                "or --kubeconfig");
  reader.reject("kubernetesServiceAccountPath",
                "not supported: the agent reads its service account from the in-cluster "
                "configuration, or uses --kubeconfig");
  const std::optional<std::chrono::milliseconds> interval = reader.milliseconds("pollingInterval");
  return finish(reader, {"Kubernetes", options, interval});
}

// A well-formed key that stands in for keys still in a file, so the rest can be checked early.
constexpr const char* kPlaceholderKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

Result<StrategyConfig> parseGossip(OptionReader& reader, const std::string& path) {
  GossipConfig config;
  GossipOptions& options = config.options;
  if (std::optional<long long> port = reader.integer("port", 1, 65535)) {
    options.port = static_cast<int>(*port);
  }
  options.ifAddr = reader.nonEmpty("ifAddr").value_or(options.ifAddr);
  options.multicastIf = reader.nonEmpty("multicastIf");
  options.multicastAddr = reader.nonEmpty("multicastAddr").value_or(options.multicastAddr);
  if (std::optional<long long> ttl = reader.integer("multicastTtl", 0, 255)) {
    options.multicastTtl = static_cast<int>(*ttl);
  }
  options.broadcastOnly = reader.boolean("broadcastOnly").value_or(false);
  // As the cookie: a configuration file or ConfigMap is read and shown more widely than a secret.
  reader.reject("secret", "not read from the configuration (it may be logged or mounted widely): "
                          "use secretFile");
  config.secretFile = reader.nonEmpty("secretFile").value_or("");
  if (std::optional<std::string> mode =
          reader.oneOf("mode", {"plain", "secret", "authenticated"})) {
    options.mode = parseGossipMode(*mode);
  }
  reader.reject("keys", "not read from the configuration (it may be logged or mounted widely): "
                        "use keysFile");
  config.keysFile = reader.nonEmpty("keysFile").value_or("");
  options.label = reader.string("label").value_or("");
  if (std::optional<long long> window = reader.integer("replayWindowSeconds", 1, 86'400)) {
    options.replayWindow = std::chrono::seconds(*window);
  }
  if (std::optional<long long> min = reader.integer("heartbeatMinMs", 1, 3'600'000)) {
    options.heartbeatMin = std::chrono::milliseconds(*min);
  }
  if (std::optional<long long> max = reader.integer("heartbeatMaxMs", 1, 3'600'000)) {
    options.heartbeatMax = std::chrono::milliseconds(*max);
  }
  if (std::optional<long long> expiry = reader.integer("peerExpirySeconds", 1, 86'400LL * 30)) {
    options.peerExpiry = std::chrono::seconds(*expiry);
  }
  if (std::optional<long long> peers = reader.integer("maxPeers", 1, 1'000'000)) {
    options.maxPeers = static_cast<std::size_t>(*peers);
  }
  if (std::optional<long long> peers = reader.integer("maxPeersPerSource", 1, 1'000'000)) {
    options.maxPeersPerSource = static_cast<std::size_t>(*peers);
  }
  if (std::optional<long long> rate = reader.integer("newPeersPerSecond", 1, 1'000'000)) {
    options.newPeersPerSecond = static_cast<double>(*rate);
  }
  if (Result<void> done = reader.finish(); !done) {
    return done.error();
  }
  GossipOptions checked = options;
  if (!config.secretFile.empty()) {
    checked.secret = "placeholder";
  }
  if (!config.keysFile.empty()) {
    checked.keys = {kPlaceholderKey};
  }
  if (Result<void> valid = validateGossipOptions(checked); !valid) {
    return Error{Error::Code::Invalid, path + "." + camelCaseOptionNames(valid.error().message)};
  }
  return StrategyConfig{"Gossip", config, std::nullopt};
}

} // namespace

Result<StrategyEnvironment> StrategyEnvironment::fromProcess(std::string namespaceName) {
  StrategyEnvironment env;
  env.namespaceName = std::move(namespaceName);
  env.clusterDomain = environment("CLUSTER_DOMAIN");
  Result<std::uint16_t> port = epmdPortFromEnv(std::getenv("ERL_EPMD_PORT"));
  if (!port) {
    return port.error();
  }
  env.epmdPort = *port;
  std::error_code error;
  env.hostsSearchPath.push_back(std::filesystem::current_path(error));
  if (std::optional<std::string> home = environment("HOME")) {
    env.hostsSearchPath.emplace_back(*home);
  }
  env.hostsSearchPath.emplace_back(environment("OTP_ROOT").value_or("/usr/lib/erlang"));
  return env;
}

const std::vector<std::string_view>& strategyNames() {
  static const std::vector<std::string_view> names{"ClusterTopology", "Epmd",    "LocalEpmd",
                                                   "ErlangHosts",     "Gossip",  "DNS",
                                                   "DNSSRV",          "Rancher", "Kubernetes"};
  return names;
}

std::optional<std::string> canonicalStrategyName(std::string_view name) {
  static const std::map<std::string, std::string, std::less<>> aliases{
      {"Cluster.Strategy.Epmd", "Epmd"},
      {"Cluster.Strategy.LocalEpmd", "LocalEpmd"},
      {"Cluster.Strategy.ErlangHosts", "ErlangHosts"},
      {"Cluster.Strategy.Gossip", "Gossip"},
      {"Cluster.Strategy.Kubernetes", "Kubernetes"},
      {"Cluster.Strategy.Kubernetes.DNS", "DNS"},
      {"Cluster.Strategy.Kubernetes.DNSSRV", "DNSSRV"},
      {"Cluster.Strategy.DNSPoll", "DNS"},
      {"Cluster.Strategy.Rancher", "Rancher"},
  };
  if (name.starts_with("Elixir.")) {
    name.remove_prefix(7);
  }
  for (std::string_view known : strategyNames()) {
    if (name == known) {
      return std::string(known);
    }
  }
  if (const auto found = aliases.find(name); found != aliases.end()) {
    for (std::string_view known : strategyNames()) {
      if (found->second == known) {
        return found->second;
      }
    }
  }
  return std::nullopt;
}

Result<StrategyConfig> parseStrategyConfig(std::string_view name, const json& config,
                                           const std::string& path,
                                           const StrategyEnvironment& env) {
  const std::optional<std::string> kind = canonicalStrategyName(name);
  if (!kind) {
    std::string listed;
    for (std::string_view known : strategyNames()) {
      listed += (listed.empty() ? "" : ", ") + std::string(known);
    }
    return Error{Error::Code::Invalid,
                 "unknown strategy \"" + std::string(name) + "\" (known: " + listed + ")"};
  }
  OptionReader reader(config, path);
  if (*kind == "ClusterTopology") {
    return parseClusterTopology(reader, env);
  }
  if (*kind == "Epmd") {
    return parseEpmd(reader);
  }
  if (*kind == "LocalEpmd") {
    return parseLocalEpmd(reader, env);
  }
  if (*kind == "ErlangHosts") {
    return parseErlangHosts(reader, env);
  }
  if (*kind == "DNS") {
    return parseDns(reader);
  }
  if (*kind == "DNSSRV") {
    return parseDnsSrv(reader, env);
  }
  if (*kind == "Rancher") {
    return parseRancher(reader);
  }
  if (*kind == "Gossip") {
    return parseGossip(reader, path);
  }
  return parseKubernetes(reader, env);
}

} // namespace libcluster
