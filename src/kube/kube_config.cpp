#include "kube/kube_config.h"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace libcluster {
namespace {

constexpr std::string_view kDefaultNamespace = "default";

Error invalid(std::string message) { return Error{Error::Code::Invalid, std::move(message)}; }

/// The whole file, or why it could not be read.
Result<std::string> readFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return invalid(path + ": is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return invalid(path + ": " + std::strerror(errno));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return invalid(path + ": read failed");
  }
  return content.str();
}

std::string trimmed(std::string text) {
  const auto isSpace = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!text.empty() && isSpace(text.back())) {
    text.pop_back();
  }
  size_t start = 0;
  while (start < text.size() && isSpace(text[start])) {
    ++start;
  }
  return text.substr(start);
}

/// Reads one kubeconfig; every message starts with "kubeconfig <path>: " and names the key.
class KubeconfigReader {
public:
  explicit KubeconfigReader(std::string path) : path_(std::move(path)) {
    const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
    directory_ = parent.empty() ? std::filesystem::path(".") : parent;
  }

  Result<KubeConfig> read(const std::string& contextOverride) {
    Result<std::string> text = readFile(path_);
    if (!text) {
      return fail("cannot read file (" + text.error().message + ")");
    }
    YAML::Node root;
    try {
      root = YAML::Load(*text);
    } catch (const YAML::Exception& e) {
      return fail(std::string("not valid YAML: ") + e.what());
    }
    if (!root.IsMap()) {
      return fail("not a kubeconfig (the document is not a mapping)");
    }
    try {
      return readConfig(root, contextOverride);
    } catch (const YAML::Exception& e) {
      // The checks below should leave nothing for yaml-cpp to throw about; this keeps a
      // surprise a value rather than a crash.
      return fail(std::string("unexpected structure: ") + e.what());
    }
  }

private:
  Result<KubeConfig> readConfig(const YAML::Node& root, const std::string& contextOverride) {
    std::string contextName = contextOverride;
    if (contextName.empty()) {
      Result<std::string> current = optionalString(root, "current-context", "current-context");
      if (!current) {
        return current.error();
      }
      if (current->empty()) {
        return fail("current-context is not set and no context was given");
      }
      contextName = *current;
    }

    Result<YAML::Node> context = namedEntry(root, "contexts", "context", contextName);
    if (!context) {
      return context.error();
    }
    const std::string contextKey = "contexts[" + contextName + "].context";
    Result<std::string> clusterName = optionalString(*context, "cluster", contextKey + ".cluster");
    if (!clusterName) {
      return clusterName.error();
    }
    if (clusterName->empty()) {
      return fail(contextKey + ".cluster: missing");
    }
    Result<std::string> userName = optionalString(*context, "user", contextKey + ".user");
    if (!userName) {
      return userName.error();
    }
    Result<std::string> namespaceName =
        optionalString(*context, "namespace", contextKey + ".namespace");
    if (!namespaceName) {
      return namespaceName.error();
    }

    KubeConfig config;
    config.source = "kubeconfig:" + path_ + " context " + contextName;
    config.namespaceName = namespaceName->empty() ? std::string(kDefaultNamespace) : *namespaceName;

    Result<YAML::Node> cluster = namedEntry(root, "clusters", "cluster", *clusterName);
    if (!cluster) {
      return cluster.error();
    }
    if (Result<void> read = readCluster(*cluster, "clusters[" + *clusterName + "].cluster", config);
        !read) {
      return read.error();
    }
    // A context without a user is allowed (an unauthenticated or anonymous client).
    if (!userName->empty()) {
      Result<YAML::Node> user = namedEntry(root, "users", "user", *userName);
      if (!user) {
        return user.error();
      }
      if (Result<void> read = readUser(*user, "users[" + *userName + "].user", config); !read) {
        return read.error();
      }
    }
    return config;
  }

  Result<void> readCluster(const YAML::Node& cluster, const std::string& key, KubeConfig& config) {
    Result<std::string> server = optionalString(cluster, "server", key + ".server");
    if (!server) {
      return server.error();
    }
    if (server->empty()) {
      return fail(key + ".server: missing");
    }
    config.server = *server;
    if (config.server.find("://") == std::string::npos) {
      // client-go accepts "host:port" and means https.
      config.server = "https://" + config.server;
    } else if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
      return fail(key + ".server: \"" + config.server + "\" is neither http:// nor https://");
    }
    while (config.server.size() > 1 && config.server.back() == '/') {
      config.server.pop_back();
    }

    Result<std::string> ca =
        fileOrData(cluster, "certificate-authority", "certificate-authority-data", key);
    if (!ca) {
      return ca.error();
    }
    config.caPem = *ca;
    // fileOrData took the file when the data was absent or empty; that file is re-read later.
    Result<std::string> caData =
        optionalString(cluster, "certificate-authority-data", key + ".certificate-authority-data");
    Result<std::string> caPath =
        optionalString(cluster, "certificate-authority", key + ".certificate-authority");
    if (!config.caPem.empty() && caData && caData->empty() && caPath && !caPath->empty()) {
      config.caFile = resolve(*caPath);
    }

    Result<std::string> serverName =
        optionalString(cluster, "tls-server-name", key + ".tls-server-name");
    if (!serverName) {
      return serverName.error();
    }
    config.tlsServerName = *serverName;

    const YAML::Node insecure = cluster["insecure-skip-tls-verify"];
    if (insecure.IsDefined() && !insecure.IsNull()) {
      bool value = false;
      if (!insecure.IsScalar() || !YAML::convert<bool>::decode(insecure, value)) {
        return fail(key + ".insecure-skip-tls-verify: not a boolean");
      }
      config.insecureSkipTlsVerify = value;
    }
    return {};
  }

  Result<void> readUser(const YAML::Node& user, const std::string& key, KubeConfig& config) {
    Result<std::string> cert =
        fileOrData(user, "client-certificate", "client-certificate-data", key);
    if (!cert) {
      return cert.error();
    }
    Result<std::string> clientKey = fileOrData(user, "client-key", "client-key-data", key);
    if (!clientKey) {
      return clientKey.error();
    }
    if (cert->empty() != clientKey->empty()) {
      return fail(key + ": client-certificate and client-key must be given together");
    }
    config.clientCertPem = *cert;
    config.clientKeyPem = *clientKey;

    Result<std::string> token = optionalString(user, "token", key + ".token");
    if (!token) {
      return token.error();
    }
    config.token = *token;
    Result<std::string> tokenFile = optionalString(user, "tokenFile", key + ".tokenFile");
    if (!tokenFile) {
      return tokenFile.error();
    }
    if (!tokenFile->empty()) {
      config.tokenFile = resolve(*tokenFile);
      // Fail now rather than on the first request; the client re-reads it later.
      if (Result<std::string> read = readFile(config.tokenFile); !read) {
        return fail(key + ".tokenFile: cannot read " + read.error().message);
      }
    }

    const bool hasCredentials =
        !config.clientCertPem.empty() || !config.token.empty() || !config.tokenFile.empty();
    for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
      if (user[unsupported].IsDefined() && !user[unsupported].IsNull() && !hasCredentials) {
        return fail(key + "." + unsupported +
                    ": not supported (use a token, tokenFile or client certificate)");
      }
    }
    return {};
  }

  /// The content named by `fileKey` (a path) or `dataKey` (base64); the data wins, as in client-go.
  Result<std::string> fileOrData(const YAML::Node& map, const char* fileKey, const char* dataKey,
                                 const std::string& key) {
    Result<std::string> data = optionalString(map, dataKey, key + "." + dataKey);
    if (!data) {
      return data.error();
    }
    if (!data->empty()) {
      std::optional<std::string> decoded = decodeBase64(*data);
      if (!decoded) {
        return fail(key + "." + dataKey + ": not valid base64");
      }
      if (decoded->empty()) {
        return fail(key + "." + dataKey + ": empty after base64 decoding");
      }
      return *decoded;
    }
    Result<std::string> file = optionalString(map, fileKey, key + "." + fileKey);
    if (!file) {
      return file.error();
    }
    if (file->empty()) {
      return std::string();
    }
    Result<std::string> content = readFile(resolve(*file));
    if (!content) {
      return fail(key + "." + fileKey + ": cannot read " + content.error().message);
    }
    if (content->empty()) {
      return fail(key + "." + fileKey + ": " + resolve(*file) + " is empty");
    }
    return *content;
  }

  /// A `name`d entry of the list `listKey` ("contexts"), returning its `bodyKey` ("context") map.
  Result<YAML::Node> namedEntry(const YAML::Node& root, const char* listKey, const char* bodyKey,
                                const std::string& name) {
    const YAML::Node list = root[listKey];
    if (!list.IsDefined() || list.IsNull()) {
      return fail(std::string(listKey) + ": missing, so " + bodyKey + " \"" + name +
                  "\" is not defined");
    }
    if (!list.IsSequence()) {
      return fail(std::string(listKey) + ": not a list");
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node entry = list[i];
      if (!entry.IsMap()) {
        return fail(std::string(listKey) + "[" + std::to_string(i) + "]: not a mapping");
      }
      const YAML::Node entryName = entry["name"];
      // A missing key gives an invalid node, and asking an invalid node its type throws.
      if (!entryName.IsDefined() || !entryName.IsScalar() || entryName.Scalar() != name) {
        continue;
      }
      const YAML::Node body = entry[bodyKey];
      if (!body.IsDefined() || !body.IsMap()) {
        return fail(std::string(listKey) + "[" + name + "]." + bodyKey +
                    ": missing or not a mapping");
      }
      return body;
    }
    return fail(std::string(bodyKey) + " \"" + name + "\" not found in " + listKey);
  }

  /// The scalar at `map[key]`, "" when absent or null; an Error when it is a list or mapping.
  Result<std::string> optionalString(const YAML::Node& map, const char* key,
                                     const std::string& keyForMessage) {
    const YAML::Node node = map[key];
    if (!node.IsDefined() || node.IsNull()) {
      return std::string();
    }
    if (!node.IsScalar()) {
      return fail(keyForMessage + ": not a string");
    }
    return node.Scalar();
  }

  std::string resolve(const std::string& file) const {
    const std::filesystem::path path(file);
    if (path.is_absolute()) {
      return file;
    }
    return (directory_ / path).lexically_normal().string();
  }

  Error fail(const std::string& message) const {
    return invalid("kubeconfig " + path_ + ": " + message);
  }

  std::string path_;
  std::filesystem::path directory_;
};

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

} // namespace

std::optional<std::string> decodeBase64(std::string_view text) {
  std::array<int, 256> values{};
  values.fill(-1);
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    values[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
  }

  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  size_t symbols = 0;
  size_t padding = 0;
  for (const char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    }
    if (c == '=') {
      ++padding;
      continue;
    }
    const int value = values[static_cast<unsigned char>(c)];
    if (value < 0 || padding > 0) {
      return std::nullopt;
    }
    ++symbols;
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if (symbols % 4 == 1 || padding > 2 || (padding > 0 && (symbols + padding) % 4 != 0)) {
    return std::nullopt;
  }
  return out;
}

bool sendsCredentialsInClear(const KubeConfig& config) {
  const bool credentials =
      !config.token.empty() || !config.tokenFile.empty() || !config.clientCertPem.empty();
  return credentials && config.server.rfind("http://", 0) == 0;
}

Result<KubeConfig> loadKubeconfig(const std::string& path, const std::string& context) {
  return KubeconfigReader(path).read(context);
}

Result<KubeConfig> loadInClusterConfig(const std::string& serviceAccountDir) {
  const std::string host = environment("KUBERNETES_SERVICE_HOST");
  const std::string port = environment("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return invalid(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  }
  KubeConfig config;
  config.source = "in-cluster";
  const bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  config.server = "https://" + (ipv6 ? "[" + host + "]" : host) + ":" + port;

  const std::filesystem::path dir(serviceAccountDir);
  config.tokenFile = (dir / "token").string();
  Result<std::string> token = readFile(config.tokenFile);
  if (!token) {
    return invalid("in-cluster config: cannot read token: " + token.error().message);
  }
  if (trimmed(*token).empty()) {
    return invalid("in-cluster config: token file " + config.tokenFile + " is empty");
  }
  config.caFile = (dir / "ca.crt").string();
  Result<std::string> ca = readFile(config.caFile);
  if (!ca) {
    return invalid("in-cluster config: cannot read CA: " + ca.error().message);
  }
  if (trimmed(*ca).empty()) {
    return invalid("in-cluster config: CA file " + config.caFile +
                   " is empty (refusing to fall back to the system trust store)");
  }
  config.caPem = *ca;

  config.namespaceName = environment("POD_NAMESPACE");
  if (config.namespaceName.empty()) {
    if (Result<std::string> ns = readFile((dir / "namespace").string()); ns) {
      config.namespaceName = trimmed(*ns);
    }
  }
  if (config.namespaceName.empty()) {
    config.namespaceName = std::string(kDefaultNamespace);
  }
  return config;
}

Result<KubeConfig> loadDefaultConfig(const std::string& explicitKubeconfig,
                                     const std::string& context) {
  if (!explicitKubeconfig.empty()) {
    return loadKubeconfig(explicitKubeconfig, context);
  }
  if (!environment("KUBERNETES_SERVICE_HOST").empty()) {
    return loadInClusterConfig();
  }
  std::vector<std::string> tried{"in-cluster (KUBERNETES_SERVICE_HOST is not set)"};
  if (const std::string list = environment("KUBECONFIG"); !list.empty()) {
    const std::string first = list.substr(0, list.find(':'));
    if (!first.empty()) {
      return loadKubeconfig(first, context);
    }
    tried.push_back("$KUBECONFIG (its first entry is empty)");
  } else {
    tried.push_back("$KUBECONFIG (not set)");
  }
  if (const std::string home = environment("HOME"); !home.empty()) {
    const std::string path = home + "/.kube/config";
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      return loadKubeconfig(path, context);
    }
    tried.push_back(path + " (does not exist)");
  } else {
    tried.push_back("~/.kube/config (HOME is not set)");
  }
  std::string message = "no Kubernetes configuration found; tried ";
  for (size_t i = 0; i < tried.size(); ++i) {
    message += (i == 0 ? "" : ", ") + tried[i];
  }
  return invalid(message);
}

} // namespace libcluster
