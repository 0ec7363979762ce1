#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace libcluster {

/// Where the Kubernetes API is and how to authenticate to it, as read from a kubeconfig file or
/// from a pod's service account. Certificates and keys are PEM text, already read from their files.
/// A token comes either as `token` or as `tokenFile`, which the client re-reads because bound
/// service-account tokens rotate; when both are set the file wins, as in client-go.
struct KubeConfig {
  /// "https://host:port", possibly with a path prefix.
  std::string server;
  /// The CA bundle that signs the server certificate; empty means the system trust store.
  std::string caPem;
  /// The file caPem was read from (in-cluster ca.crt, or the kubeconfig's certificate-authority),
  /// empty when it came inline. The client re-reads it when it changes, as CAs rotate.
  std::string caFile;
  std::string clientCertPem;
  std::string clientKeyPem;
  std::string token;
  std::string tokenFile;
  bool insecureSkipTlsVerify = false;
  /// Overrides the name used for SNI and to verify the server certificate.
  std::string tlsServerName;
  /// The context's namespace, or the pod's own namespace in-cluster; "default" if none is given.
  std::string namespaceName = "default";
  /// Where this came from, for logs: "kubeconfig:<path> context <name>" or "in-cluster".
  std::string source;
};

/// Reads a kubeconfig file (current-context, or `context` when not empty). Relative file paths in
/// it are resolved against the file's directory. Every problem (unreadable or not YAML, missing
/// context, cluster or user, bad base64, unreadable certificate file, no server, credential
/// plugins) is an Invalid Error whose message names the file and the key.
Result<KubeConfig> loadKubeconfig(const std::string& path, const std::string& context = "");

/// Reads the configuration a pod gets from its service account: KUBERNETES_SERVICE_HOST and
/// KUBERNETES_SERVICE_PORT, and `token` (kept as tokenFile), `ca.crt` (kept as caFile too) and
/// `namespace` in `serviceAccountDir`. POD_NAMESPACE, when set, overrides the namespace file. An
/// empty ca.crt is an Error: falling back to the system trust store would trust any public CA.
Result<KubeConfig> loadInClusterConfig(
    const std::string& serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount");

/// The first that applies: `explicitKubeconfig` when not empty; in-cluster when
/// KUBERNETES_SERVICE_HOST is set; the first entry of $KUBECONFIG; ~/.kube/config. The Error says
/// what was tried.
Result<KubeConfig> loadDefaultConfig(const std::string& explicitKubeconfig,
                                     const std::string& context);

/// Whether requests would carry credentials (a token, token file or client certificate) over
/// plain http://, where anyone on the path can read them.
bool sendsCredentialsInClear(const KubeConfig& config);

/// Strict RFC 4648 base64 (standard alphabet, padding optional, whitespace ignored); nullopt when
/// the text is not base64.
std::optional<std::string> decodeBase64(std::string_view text);

} // namespace libcluster
