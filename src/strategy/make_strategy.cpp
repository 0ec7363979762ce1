#include "strategy/make_strategy.h"

#include <fstream>
#include <variant>

#include "core/secret_file.h"
#include "gossip/gossip_strategy.h"

namespace libcluster {

namespace {

/// The lines of a secret file, without surrounding white space and blank lines. The Error names
/// the file, never its content.
Result<std::vector<std::string>> readSecretLines(const std::string& path, const char* option) {
  std::ifstream in(path);
  if (!in) {
    return Error{Error::Code::Invalid, std::string(option) + ": cannot read " + path};
  }
  std::vector<std::string> lines;
  std::string line;
  SecretWiper wipeLine(line);
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) {
      continue;
    }
    lines.push_back(line.substr(first, line.find_last_not_of(" \t\r") - first + 1));
  }
  if (lines.empty()) {
    return Error{Error::Code::Invalid, std::string(option) + ": " + path + " is empty"};
  }
  return lines;
}

Result<std::unique_ptr<Strategy>> makeGossip(const GossipConfig& config, StrategyDeps& deps) {
  if (deps.metrics == nullptr) {
    return Error{Error::Code::Internal, "Gossip needs a metrics registry"};
  }
  GossipOptions options = config.options;
  // The ciphers keep their own (wiped) copies of the keys; these buffers go when this returns.
  struct WipeSecrets {
    GossipOptions& options;
    ~WipeSecrets() {
      if (options.secret) {
        wipeSecret(*options.secret);
      }
      for (std::string& key : options.keys) {
        wipeSecret(key);
      }
    }
  } wipe{options};
  if (!config.secretFile.empty()) {
    warnIfSecretFileExposed(config.secretFile, "gossip secret");
    Result<std::vector<std::string>> lines = readSecretLines(config.secretFile, "secretFile");
    if (!lines) {
      return lines.error();
    }
    options.secret = std::move(lines->front());
    for (std::string& line : *lines) {
      wipeSecret(line);
    }
  }
  if (!config.keysFile.empty()) {
    warnIfSecretFileExposed(config.keysFile, "gossip keys");
    Result<std::vector<std::string>> lines = readSecretLines(config.keysFile, "keysFile");
    if (!lines) {
      return lines.error();
    }
    options.keys = std::move(*lines);
  }
  if (Result<void> valid = validateGossipOptions(options); !valid) {
    return Error{Error::Code::Invalid, camelCaseOptionNames(valid.error().message)};
  }
  Result<std::unique_ptr<GossipStrategy>> started =
      GossipStrategy::start(options, deps.self, deps.topology, deps.clock, *deps.metrics);
  if (!started) {
    return Error{started.error().code, camelCaseOptionNames(started.error().message)};
  }
  return std::unique_ptr<Strategy>(std::move(*started));
}

template <typename Options>
const Options& optionsOf(const StrategyConfig& config) {
  return std::get<Options>(config.options);
}

template <typename T>
Result<std::unique_ptr<Strategy>> upcast(Result<std::unique_ptr<T>> made) {
  if (!made) {
    return made.error();
  }
  return std::unique_ptr<Strategy>(std::move(*made));
}

Error missing(const StrategyConfig& config, const char* what) {
  return Error{Error::Code::Internal, config.kind + " needs " + what};
}

} // namespace

Result<std::unique_ptr<Strategy>> makeStrategy(const StrategyConfig& config, StrategyDeps& deps) {
  if (std::holds_alternative<ClusterTopologyStrategy::Options>(config.options)) {
    if (deps.api == nullptr) {
      return missing(config, "the Kubernetes API (no kubeconfig or in-cluster configuration)");
    }
    return upcast(ClusterTopologyStrategy::create(
        optionsOf<ClusterTopologyStrategy::Options>(config), *deps.api, deps.clock));
  }
  if (std::holds_alternative<EpmdStrategy::Options>(config.options)) {
    return upcast(EpmdStrategy::create(optionsOf<EpmdStrategy::Options>(config)));
  }
  if (std::holds_alternative<LocalEpmdStrategy::Options>(config.options)) {
    return upcast(
        LocalEpmdStrategy::create(optionsOf<LocalEpmdStrategy::Options>(config), deps.self));
  }
  if (std::holds_alternative<ErlangHostsStrategy::Options>(config.options)) {
    if (deps.resolver == nullptr) {
      return missing(config, "a DNS resolver");
    }
    return upcast(ErlangHostsStrategy::create(optionsOf<ErlangHostsStrategy::Options>(config),
                                              *deps.resolver));
  }
  if (std::holds_alternative<DnsStrategy::Options>(config.options)) {
    if (deps.resolver == nullptr) {
      return missing(config, "a DNS resolver");
    }
    return upcast(DnsStrategy::create(optionsOf<DnsStrategy::Options>(config), *deps.resolver));
  }
  if (std::holds_alternative<DnsSrvStrategy::Options>(config.options)) {
    if (deps.resolver == nullptr) {
      return missing(config, "a DNS resolver");
    }
    return upcast(
        DnsSrvStrategy::create(optionsOf<DnsSrvStrategy::Options>(config), *deps.resolver));
  }
  if (std::holds_alternative<GossipConfig>(config.options)) {
    return makeGossip(optionsOf<GossipConfig>(config), deps);
  }
  if (std::holds_alternative<RancherStrategy::Options>(config.options)) {
    return upcast(RancherStrategy::create(optionsOf<RancherStrategy::Options>(config), deps.fetch));
  }
  if (deps.api == nullptr) {
    return missing(config, "the Kubernetes API (no kubeconfig or in-cluster configuration)");
  }
  return upcast(
      KubernetesStrategy::create(optionsOf<KubernetesStrategy::Options>(config), *deps.api));
}

} // namespace libcluster
