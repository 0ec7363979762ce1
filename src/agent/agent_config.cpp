#include "agent/agent_config.h"

#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "core/names.h"
#include "core/secret_file.h"
#include "dist/ei_connector.h"
#include "strategy/option_reader.h"

namespace libcluster {
namespace {

using nlohmann::json;

Error invalid(std::string message) { return Error{Error::Code::Invalid, std::move(message)}; }

std::string position(const YAML::Mark& mark) {
  if (mark.is_null()) {
    return "";
  }
  return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1) +
         ": ";
}

/// YAML 1.2 core schema resolution of a plain scalar.
json plainScalar(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") {
    return true;
  }
  if (text == "false" || text == "False" || text == "FALSE") {
    return false;
  }
  try {
    switch (yamlNumberForm(text)) {
    case YamlNumberForm::Integer:
      return std::stoll(text);
    case YamlNumberForm::Octal:
      return std::stoll(text.substr(2), nullptr, 8);
    case YamlNumberForm::Hex:
      return std::stoll(text.substr(2), nullptr, 16);
    case YamlNumberForm::Float:
      return std::stod(text);
    case YamlNumberForm::NotANumber:
      break;
    }
  } catch (const std::exception&) {
    // Out of range: keep the text; the reader then says what it expected.
  }
  return text;
}

Result<json> convert(const YAML::Node& node, int depth) {
  if (depth > 64) {
    return invalid(position(node.Mark()) + "nested too deeply");
  }
  switch (node.Type()) {
  case YAML::NodeType::Undefined:
  case YAML::NodeType::Null:
    return json(nullptr);
  case YAML::NodeType::Scalar: {
    const std::string& tag = node.Tag();
    if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      return json(node.Scalar());
    }
    return plainScalar(node.Scalar());
  }
  case YAML::NodeType::Sequence: {
    json out = json::array();
    for (const YAML::Node& item : node) {
      Result<json> converted = convert(item, depth + 1);
      if (!converted) {
        return converted;
      }
      out.push_back(std::move(*converted));
    }
    return out;
  }
  case YAML::NodeType::Map: {
    json out = json::object();
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        return invalid(position(entry.first.Mark()) + "keys must be plain names");
      }
      const std::string key = entry.first.Scalar();
      if (out.contains(key)) {
        return invalid(position(entry.first.Mark()) + "duplicate key \"" + key + "\"");
      }
      Result<json> converted = convert(entry.second, depth + 1);
      if (!converted) {
        return converted;
      }
      out[key] = std::move(*converted);
    }
    return out;
  }
  }
  return json(nullptr);
}

std::string scalarText(const json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_boolean()) {
    return value.get<bool>() ? "true" : "false";
  }
  return value.dump();
}

Result<TopologyConfig> parseTopology(const std::string& name, const json& entry,
                                     const StrategyEnvironment& env) {
  const std::string path = "topologies." + name;
  if (!isTopologyName(name)) {
    return invalid(path + ": a topology name is letters, digits, '_', '-' and '.', at most 63");
  }
  OptionReader reader(entry, path);
  if (entry.is_null()) {
    reader.fail("strategy", "required");
  }
  const std::optional<std::string> strategy = reader.nonEmpty("strategy", true);
  const json& config = reader.raw("config");
  const json& connect = reader.raw("connect");
  const json& disconnect = reader.raw("disconnect");
  const json& listNodes = reader.raw("listNodes");
  reader.reject("list_nodes", "spelled listNodes here");
  const std::optional<long long> pollSeconds = reader.integer("pollIntervalSeconds", 1, 3600);
  const std::optional<std::string> onRemoval = reader.oneOf("onRemoval", {"Disconnect", "Ignore"});
  const std::optional<long long> holdSeconds = reader.integer("removalHoldSeconds", 0, 86400);
  const std::optional<bool> watchNodes = reader.boolean("watchNodes");
  if (Result<void> done = reader.finish(); !done) {
    return done.error();
  }

  Result<StrategyConfig> parsed = parseStrategyConfig(*strategy, config, path + ".config", env);
  if (!parsed) {
    if (parsed.error().message.starts_with("unknown strategy")) {
      return invalid(path + ".strategy: " + parsed.error().message);
    }
    return parsed.error();
  }
  TopologyConfig topology{name,         std::move(*parsed), std::nullopt,         std::nullopt,
                          std::nullopt, std::nullopt,       OnRemoval::Disconnect};
  const std::pair<const json*, std::optional<Mfa>*> calls[] = {{&connect, &topology.connect},
                                                               {&disconnect, &topology.disconnect},
                                                               {&listNodes, &topology.listNodes}};
  const char* keys[] = {"connect", "disconnect", "listNodes"};
  for (std::size_t i = 0; i < 3; ++i) {
    if (calls[i].first->is_null()) {
      continue;
    }
    Result<Mfa> call = parseMfa(*calls[i].first, path + "." + keys[i]);
    if (!call) {
      return call.error();
    }
    *calls[i].second = std::move(*call);
  }
  if (pollSeconds && topology.strategy.pollInterval) {
    return invalid(path + ".pollIntervalSeconds: the strategy's own interval option is set too; "
                          "give only one");
  }
  topology.pollInterval = pollSeconds
                              ? std::optional(std::chrono::milliseconds(*pollSeconds * 1000))
                              : topology.strategy.pollInterval;
  topology.onRemoval = onRemoval == "Ignore" ? OnRemoval::Ignore : OnRemoval::Disconnect;
  if (holdSeconds) {
    topology.removalHold = std::chrono::milliseconds(*holdSeconds * 1000);
  }
  topology.watchNodes = watchNodes.value_or(true);
  return topology;
}

} // namespace

std::vector<Mfa> defaultAllowedCalls() {
  return {defaultConnectMfa(), defaultDisconnectMfa(), defaultListNodesMfa()};
}

Result<nlohmann::json> yamlToJson(std::string_view text) {
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    return convert(root, 0);
  } catch (const YAML::Exception& error) {
    return invalid(position(error.mark) + "not valid YAML: " + error.msg);
  }
}

Result<Mfa> parseMfa(const json& value, const std::string& path) {
  OptionReader reader(value, path);
  Mfa call;
  call.module = reader.nonEmpty("module", true).value_or("");
  if (reader.ok() && !isErlangModuleName(call.module)) {
    reader.fail("module", "must be an Erlang module name, got \"" + call.module + "\"");
  }
  call.function = reader.nonEmpty("function", true).value_or("");
  if (reader.ok() && !isErlangFunctionName(call.function)) {
    reader.fail("function", "must be an Erlang function name, got \"" + call.function + "\"");
  }
  const json& args = reader.raw("args");
  if (reader.ok() && !args.is_null()) {
    if (!args.is_array() || args.size() > 8) {
      reader.fail("args", "must be a list of at most 8 Erlang terms");
    } else {
      for (std::size_t i = 0; reader.ok() && i < args.size(); ++i) {
        if (args[i].is_array() || args[i].is_object() || args[i].is_null() ||
            scalarText(args[i]).empty()) {
          reader.fail(
              "args[" + std::to_string(i) + "]",
              "must be an Erlang term written as text (quote lists and tuples: \"[visible]\")");
        } else {
          call.args.push_back(scalarText(args[i]));
        }
      }
    }
  }
  if (Result<void> done = reader.finish(); !done) {
    return done.error();
  }
  return call;
}

Result<AgentConfig> parseAgentConfig(std::string_view yaml, const StrategyEnvironment& env) {
  Result<json> document = yamlToJson(yaml);
  if (!document) {
    return document.error();
  }
  OptionReader reader(*document, "");
  AgentConfig config;
  config.node = reader.nonEmpty("node").value_or("");
  if (reader.ok() && !config.node.empty() && !isNodeName(config.node)) {
    reader.fail("node", "must be a node name like app@10.0.0.7, got \"" + config.node + "\"");
  }
  config.cookieFile = reader.nonEmpty("cookieFile").value_or("");
  reader.reject("cookie", "not read from the configuration (it may be logged or mounted widely): "
                          "use cookieFile or RELEASE_COOKIE");
  const json& allowed = reader.raw("allowedCalls");
  if (reader.ok() && !allowed.is_null() && !allowed.is_array()) {
    reader.fail("allowedCalls", "must be a list of calls ({module, function, args})");
  }
  const json& topologies = reader.raw("topologies");
  if (reader.ok() && !topologies.is_object()) {
    reader.fail("topologies", topologies.is_null() ? "required (a map of named topologies)"
                                                   : "must be a map of named topologies");
  }
  if (reader.ok() && topologies.empty()) {
    reader.fail("topologies", "must name at least one topology");
  }
  if (Result<void> done = reader.finish(); !done) {
    return done.error();
  }
  if (allowed.is_array()) {
    config.allowedCalls.clear();
    for (std::size_t i = 0; i < allowed.size(); ++i) {
      Result<Mfa> call = parseMfa(allowed[i], "allowedCalls[" + std::to_string(i) + "]");
      if (!call) {
        return call.error();
      }
      config.allowedCalls.push_back(std::move(*call));
    }
  }
  for (const auto& [name, entry] : topologies.items()) {
    Result<TopologyConfig> topology = parseTopology(name, entry, env);
    if (!topology) {
      return topology.error();
    }
    config.topologies.push_back(std::move(*topology));
  }
  return config;
}

Result<void> checkCookieFile(const std::string& path) {
  warnIfSecretFileExposed(path, "cookie");
  Result<std::string> read = readCookieFile(path);
  if (!read) {
    return read.error();
  }
  std::string cookie = std::move(read).value();
  wipeSecret(cookie);
  return {};
}

Result<AgentConfig> loadAgentConfig(const std::string& path, const StrategyEnvironment& env) {
  std::ifstream in(path);
  if (!in) {
    return Error{Error::Code::NotFound, path + ": cannot read the configuration file"};
  }
  std::stringstream text;
  text << in.rdbuf();
  Result<AgentConfig> config = parseAgentConfig(text.str(), env);
  if (!config) {
    return Error{config.error().code, path + ": " + config.error().message};
  }
  return config;
}

} // namespace libcluster
