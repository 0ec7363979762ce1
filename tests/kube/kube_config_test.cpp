#include "kube/kube_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/temp_dir.h"

namespace libcluster {
namespace {

using testing::AllOf;
using testing::HasSubstr;

// "-----BEGIN CERTIFICATE-----\nCA\n" etc. are enough here: the loader does not parse PEM.
constexpr const char* kCaPem = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
constexpr const char* kCaPemBase64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";
constexpr const char* kCertPem = "-----BEGIN CERTIFICATE-----\nCERT\n-----END CERTIFICATE-----\n";
constexpr const char* kCertPemBase64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNFUlQKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";
constexpr const char* kKeyPem = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";
constexpr const char* kKeyPemBase64 =
    "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCktFWQotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg==";

/// A kubeconfig with one cluster "c", one user "u" and one context "ctx", with the given bodies.
std::string kubeconfig(const std::string& cluster, const std::string& user,
                       const std::string& contextExtra = "",
                       const std::string& currentContext = "ctx") {
  return "apiVersion: v1\n"
         "kind: Config\n"
         "current-context: " +
         currentContext +
         "\n"
         "clusters:\n"
         "- name: c\n"
         "  cluster:\n" +
         cluster +
         "users:\n"
         "- name: u\n"
         "  user:\n" +
         user +
         "contexts:\n"
         "- name: ctx\n"
         "  context:\n"
         "    cluster: c\n"
         "    user: u\n" +
         contextExtra;
}

constexpr const char* kServer = "    server: https://10.0.0.1:6443\n";

class KubeconfigTest : public testing::Test {
protected:
  Result<KubeConfig> load(const std::string& content, const std::string& context = "") {
    path_ = dir_.write("config", content);
    return loadKubeconfig(path_, context);
  }

  /// Asserts an Invalid error whose message names the file and `key`.
  void expectInvalid(const Result<KubeConfig>& result, const std::string& key) {
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, Error::Code::Invalid);
    EXPECT_THAT(result.error().message, AllOf(HasSubstr(path_), HasSubstr(key)));
  }

  TempDir dir_;
  std::string path_;
};

TEST_F(KubeconfigTest, ReadsTokenAndCaDataOfTheCurrentContext) {
  const Result<KubeConfig> config = load(
      kubeconfig(std::string(kServer) + "    certificate-authority-data: " + kCaPemBase64 + "\n",
                 "    token: abc.def\n", "    namespace: team-a\n"));

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "https://10.0.0.1:6443");
  EXPECT_EQ(config->caPem, kCaPem);
  EXPECT_EQ(config->token, "abc.def");
  EXPECT_EQ(config->tokenFile, "");
  EXPECT_EQ(config->namespaceName, "team-a");
  EXPECT_FALSE(config->insecureSkipTlsVerify);
  EXPECT_EQ(config->tlsServerName, "");
  EXPECT_EQ(config->source, "kubeconfig:" + path_ + " context ctx");
}

TEST_F(KubeconfigTest, DefaultsTheNamespaceToDefault) {
  const Result<KubeConfig> config = load(kubeconfig(kServer, "    token: t\n"));

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->namespaceName, "default");
}

TEST_F(KubeconfigTest, ResolvesTheTokenFileAgainstTheKubeconfigDirectory) {
  dir_.write("kube/token", "secret\n");
  path_ = dir_.write("kube/config", kubeconfig(kServer, "    tokenFile: token\n"));

  const Result<KubeConfig> config = loadKubeconfig(path_);

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->tokenFile, (dir_.path() / "kube/token").string());
  EXPECT_EQ(config->token, "");
}

TEST_F(KubeconfigTest, ReadsTheCaFileRelativeToTheKubeconfigDirectory) {
  dir_.write("kube/certs/ca.crt", kCaPem);
  path_ = dir_.write("kube/config",
                     kubeconfig(std::string(kServer) + "    certificate-authority: certs/ca.crt\n",
                                "    token: t\n"));

  const Result<KubeConfig> config = loadKubeconfig(path_);

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->caPem, kCaPem);
  EXPECT_EQ(config->caFile, (dir_.path() / "kube/certs/ca.crt").string()); // re-read on rotation
}

TEST_F(KubeconfigTest, ReadsAnAbsoluteCaFile) {
  const std::string ca = dir_.write("elsewhere/ca.crt", kCaPem);

  const Result<KubeConfig> config = load(kubeconfig(
      std::string(kServer) + "    certificate-authority: " + ca + "\n", "    token: t\n"));

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->caPem, kCaPem);
}

TEST_F(KubeconfigTest, PrefersCaDataOverCaFile) {
  const Result<KubeConfig> config =
      load(kubeconfig(std::string(kServer) + "    certificate-authority: missing.crt\n" +
                          "    certificate-authority-data: " + kCaPemBase64 + "\n",
                      "    token: t\n"));

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->caPem, kCaPem);
  EXPECT_EQ(config->caFile, ""); // inline data: nothing to re-read
}

TEST_F(KubeconfigTest, ReadsClientCertificateAndKeyData) {
  const Result<KubeConfig> config =
      load(kubeconfig(kServer, std::string("    client-certificate-data: ") + kCertPemBase64 +
                                   "\n    client-key-data: " + kKeyPemBase64 + "\n"));

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->clientCertPem, kCertPem);
  EXPECT_EQ(config->clientKeyPem, kKeyPem);
  EXPECT_EQ(config->token, "");
}

TEST_F(KubeconfigTest, ReadsClientCertificateAndKeyFiles) {
  dir_.write("client.crt", kCertPem);
  const std::string key = dir_.write("keys/client.key", kKeyPem);

  const Result<KubeConfig> config = load(
      kubeconfig(kServer, "    client-certificate: client.crt\n    client-key: " + key + "\n"));

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->clientCertPem, kCertPem);
  EXPECT_EQ(config->clientKeyPem, kKeyPem);
}

TEST_F(KubeconfigTest, UsesTheNamedContextInsteadOfTheCurrentOne) {
  const std::string content = "current-context: one\n"
                              "clusters:\n"
                              "- name: a\n"
                              "  cluster: {server: 'https://a:6443'}\n"
                              "- name: b\n"
                              "  cluster: {server: 'https://b:6443'}\n"
                              "users:\n"
                              "- name: ua\n"
                              "  user: {token: ta}\n"
                              "- name: ub\n"
                              "  user: {token: tb}\n"
                              "contexts:\n"
                              "- name: one\n"
                              "  context: {cluster: a, user: ua}\n"
                              "- name: two\n"
                              "  context: {cluster: b, user: ub, namespace: nb}\n";

  const Result<KubeConfig> current = load(content);
  const Result<KubeConfig> named = load(content, "two");

  ASSERT_TRUE(current) << current.error().message;
  ASSERT_TRUE(named) << named.error().message;
  EXPECT_EQ(current->server, "https://a:6443");
  EXPECT_EQ(current->token, "ta");
  EXPECT_EQ(named->server, "https://b:6443");
  EXPECT_EQ(named->token, "tb");
  EXPECT_EQ(named->namespaceName, "nb");
  EXPECT_THAT(named->source, HasSubstr("context two"));
}

TEST_F(KubeconfigTest, SkipsTlsVerificationOnlyWhenTheFileSaysSo) {
  const Result<KubeConfig> absent = load(kubeconfig(kServer, "    token: t\n"));
  const Result<KubeConfig> no = load(
      kubeconfig(std::string(kServer) + "    insecure-skip-tls-verify: false\n", "    token: t\n"));
  const Result<KubeConfig> yes = load(
      kubeconfig(std::string(kServer) + "    insecure-skip-tls-verify: true\n", "    token: t\n"));

  ASSERT_TRUE(absent && no && yes);
  EXPECT_FALSE(absent->insecureSkipTlsVerify);
  EXPECT_FALSE(no->insecureSkipTlsVerify);
  EXPECT_TRUE(yes->insecureSkipTlsVerify);
}

TEST_F(KubeconfigTest, ReadsTheTlsServerName) {
  const Result<KubeConfig> config = load(kubeconfig(
      std::string(kServer) + "    tls-server-name: kubernetes.default.svc\n", "    token: t\n"));

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->tlsServerName, "kubernetes.default.svc");
}

TEST_F(KubeconfigTest, TakesAServerWithoutSchemeAsHttpsAndDropsATrailingSlash) {
  const Result<KubeConfig> bare =
      load(kubeconfig("    server: api.example:6443\n", "    token: t\n"));
  const Result<KubeConfig> slash =
      load(kubeconfig("    server: https://api.example/prefix/\n", "    token: t\n"));

  ASSERT_TRUE(bare && slash);
  EXPECT_EQ(bare->server, "https://api.example:6443");
  EXPECT_EQ(slash->server, "https://api.example/prefix");
}

TEST_F(KubeconfigTest, AcceptsAContextWithoutUser) {
  const Result<KubeConfig> config =
      load("current-context: ctx\n"
           "clusters: [{name: c, cluster: {server: 'http://h:8080'}}]\n"
           "contexts: [{name: ctx, context: {cluster: c}}]\n");

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "http://h:8080");
  EXPECT_EQ(config->token, "");
  EXPECT_EQ(config->clientCertPem, "");
}

TEST_F(KubeconfigTest, KeepsATokenThatOnlyLooksLikeAnotherType) {
  const Result<KubeConfig> config = load(kubeconfig(kServer, "    token: '12345'\n"));

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->token, "12345");
}

// Broken forms: each is an Invalid error naming the file and the key, never an exception.

TEST_F(KubeconfigTest, RejectsAMissingFile) {
  path_ = (dir_.path() / "absent").string();

  expectInvalid(loadKubeconfig(path_), "cannot read file");
}

TEST_F(KubeconfigTest, RejectsADirectory) {
  path_ = dir_.path().string();

  expectInvalid(loadKubeconfig(path_), "directory");
}

TEST_F(KubeconfigTest, RejectsTextThatIsNotYaml) {
  expectInvalid(load("clusters: [unclosed\n  - {\n"), "not valid YAML");
}

TEST_F(KubeconfigTest, RejectsYamlThatIsNotAMapping) {
  expectInvalid(load("just a sentence\n"), "not a mapping");
  expectInvalid(load(""), "not a mapping");
  expectInvalid(load("- a\n- b\n"), "not a mapping");
}

TEST_F(KubeconfigTest, RejectsAMissingCurrentContext) {
  expectInvalid(load(kubeconfig(kServer, "    token: t\n", "", "''")), "current-context");
}

TEST_F(KubeconfigTest, RejectsAnUnknownContext) {
  expectInvalid(load(kubeconfig(kServer, "    token: t\n"), "nope"),
                "context \"nope\" not found in contexts");
}

TEST_F(KubeconfigTest, RejectsAMissingContextsList) {
  expectInvalid(load("current-context: ctx\n"), "contexts: missing");
}

TEST_F(KubeconfigTest, RejectsAContextsValueThatIsNotAList) {
  expectInvalid(load("current-context: ctx\ncontexts: {ctx: 1}\n"), "contexts: not a list");
}

TEST_F(KubeconfigTest, RejectsAContextEntryWithoutBody) {
  expectInvalid(load("current-context: ctx\ncontexts:\n- name: ctx\n"),
                "contexts[ctx].context: missing or not a mapping");
}

TEST_F(KubeconfigTest, RejectsAContextWithoutCluster) {
  expectInvalid(load("current-context: ctx\ncontexts: [{name: ctx, context: {user: u}}]\n"),
                "contexts[ctx].context.cluster: missing");
}

TEST_F(KubeconfigTest, RejectsAMissingClusterEntry) {
  expectInvalid(load("current-context: ctx\n"
                     "clusters: [{name: other, cluster: {server: 'https://h'}}]\n"
                     "contexts: [{name: ctx, context: {cluster: c}}]\n"),
                "cluster \"c\" not found in clusters");
}

TEST_F(KubeconfigTest, RejectsAMissingUserEntry) {
  expectInvalid(load("current-context: ctx\n"
                     "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                     "users: [{name: other, user: {token: t}}]\n"
                     "contexts: [{name: ctx, context: {cluster: c, user: u}}]\n"),
                "user \"u\" not found in users");
}

TEST_F(KubeconfigTest, RejectsAClusterWithoutServer) {
  expectInvalid(load(kubeconfig("    insecure-skip-tls-verify: true\n", "    token: t\n")),
                "clusters[c].cluster.server: missing");
}

TEST_F(KubeconfigTest, RejectsAServerThatIsNotAString) {
  expectInvalid(load(kubeconfig("    server: {host: h}\n", "    token: t\n")),
                "clusters[c].cluster.server: not a string");
}

TEST_F(KubeconfigTest, RejectsAServerWithAnotherScheme) {
  expectInvalid(load(kubeconfig("    server: ftp://h\n", "    token: t\n")),
                "clusters[c].cluster.server");
}

TEST_F(KubeconfigTest, RejectsBadBase64InCaData) {
  expectInvalid(
      load(kubeconfig(std::string(kServer) + "    certificate-authority-data: '%%%notbase64'\n",
                      "    token: t\n")),
      "clusters[c].cluster.certificate-authority-data: not valid base64");
}

TEST_F(KubeconfigTest, RejectsBadBase64InClientData) {
  expectInvalid(load(kubeconfig(kServer, "    client-certificate-data: 'abc$'\n"
                                         "    client-key-data: " +
                                             std::string(kKeyPemBase64) + "\n")),
                "users[u].user.client-certificate-data: not valid base64");
  expectInvalid(
      load(kubeconfig(kServer, "    client-certificate-data: " + std::string(kCertPemBase64) +
                                   "\n    client-key-data: 'A'\n")),
      "users[u].user.client-key-data: not valid base64");
}

TEST_F(KubeconfigTest, RejectsAnUnreadableCaFile) {
  expectInvalid(
      load(kubeconfig(std::string(kServer) + "    certificate-authority: nowhere/ca.crt\n",
                      "    token: t\n")),
      "clusters[c].cluster.certificate-authority: cannot read");
}

TEST_F(KubeconfigTest, RejectsAnUnreadableClientKeyFile) {
  dir_.write("client.crt", kCertPem);

  expectInvalid(load(kubeconfig(kServer, "    client-certificate: client.crt\n"
                                         "    client-key: missing.key\n")),
                "users[u].user.client-key: cannot read");
}

TEST_F(KubeconfigTest, RejectsAnUnreadableTokenFile) {
  expectInvalid(load(kubeconfig(kServer, "    tokenFile: missing-token\n")),
                "users[u].user.tokenFile: cannot read");
}

TEST_F(KubeconfigTest, RejectsACertificateWithoutKey) {
  expectInvalid(load(kubeconfig(
                    kServer, "    client-certificate-data: " + std::string(kCertPemBase64) + "\n")),
                "users[u].user: client-certificate and client-key must be given together");
}

TEST_F(KubeconfigTest, RejectsAnInsecureFlagThatIsNotABoolean) {
  expectInvalid(load(kubeconfig(std::string(kServer) + "    insecure-skip-tls-verify: maybe\n",
                                "    token: t\n")),
                "clusters[c].cluster.insecure-skip-tls-verify: not a boolean");
}

TEST_F(KubeconfigTest, RejectsCredentialPluginsItCannotRun) {
  expectInvalid(load(kubeconfig(kServer, "    exec:\n      command: aws\n")),
                "users[u].user.exec: not supported");
}

TEST_F(KubeconfigTest, RejectsATokenThatIsAList) {
  expectInvalid(load(kubeconfig(kServer, "    token: [a, b]\n")),
                "users[u].user.token: not a string");
}

TEST(DecodeBase64, DecodesPaddedUnpaddedAndWrappedText) {
  EXPECT_EQ(decodeBase64("aGVsbG8="), "hello");
  EXPECT_EQ(decodeBase64("aGVsbG8"), "hello");
  EXPECT_EQ(decodeBase64("aGVs\nbG8h\n"), "hello!");
  EXPECT_EQ(decodeBase64(""), "");
}

TEST(DecodeBase64, RejectsWhatIsNotBase64) {
  EXPECT_EQ(decodeBase64("aGVsbG8*"), std::nullopt);
  EXPECT_EQ(decodeBase64("a"), std::nullopt);
  EXPECT_EQ(decodeBase64("aGVsbG8=x"), std::nullopt);
  EXPECT_EQ(decodeBase64("aGVsbA==="), std::nullopt);
  EXPECT_EQ(decodeBase64("aGVsbG8=="), std::nullopt);
}

class InClusterConfigTest : public testing::Test {
protected:
  InClusterConfigTest() {
    dir_.write("sa/token", "sa-token\n");
    dir_.write("sa/ca.crt", kCaPem);
    dir_.write("sa/namespace", "team-b\n");
  }

  std::string serviceAccountDir() const { return (dir_.path() / "sa").string(); }

  TempDir dir_;
  ScopedEnv host_{"KUBERNETES_SERVICE_HOST", "10.96.0.1"};
  ScopedEnv port_{"KUBERNETES_SERVICE_PORT", "443"};
  ScopedEnv podNamespace_{"POD_NAMESPACE", nullptr};
};

TEST_F(InClusterConfigTest, ReadsTheServiceAccountAndEnvironment) {
  const Result<KubeConfig> config = loadInClusterConfig(serviceAccountDir());

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->tokenFile, serviceAccountDir() + "/token");
  EXPECT_EQ(config->token, "");
  EXPECT_EQ(config->caPem, kCaPem);
  EXPECT_EQ(config->caFile, serviceAccountDir() + "/ca.crt");
  EXPECT_EQ(config->namespaceName, "team-b");
  EXPECT_EQ(config->source, "in-cluster");
  EXPECT_FALSE(config->insecureSkipTlsVerify);
}

TEST_F(InClusterConfigTest, BracketsAnIpv6Host) {
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "fd00:10:96::1");

  const Result<KubeConfig> config = loadInClusterConfig(serviceAccountDir());

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "https://[fd00:10:96::1]:443");
}

TEST_F(InClusterConfigTest, PrefersPodNamespaceOverTheNamespaceFile) {
  ScopedEnv ns("POD_NAMESPACE", "from-env");

  const Result<KubeConfig> config = loadInClusterConfig(serviceAccountDir());

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->namespaceName, "from-env");
}

TEST_F(InClusterConfigTest, DefaultsTheNamespaceWhenTheFileIsMissing) {
  std::filesystem::remove(dir_.path() / "sa/namespace");

  const Result<KubeConfig> config = loadInClusterConfig(serviceAccountDir());

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->namespaceName, "default");
}

TEST_F(InClusterConfigTest, FailsWithoutTheServiceEnvironment) {
  ScopedEnv port("KUBERNETES_SERVICE_PORT", nullptr);

  const Result<KubeConfig> config = loadInClusterConfig(serviceAccountDir());

  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, Error::Code::Invalid);
  EXPECT_THAT(config.error().message, HasSubstr("KUBERNETES_SERVICE_PORT"));
}

// Issue 9 L3: an empty ca.crt fell back to the system trust store.
TEST_F(InClusterConfigTest, AnEmptyCaFileIsAnErrorNotTheSystemStore) {
  dir_.write("sa/ca.crt", "\n");

  const Result<KubeConfig> config = loadInClusterConfig(serviceAccountDir());

  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, Error::Code::Invalid);
  EXPECT_THAT(config.error().message, AllOf(HasSubstr("ca.crt"), HasSubstr("empty")));
}

TEST(SendsCredentialsInClear, OnlyHttpWithATokenOrClientCertificate) {
  auto config = [](std::string server, std::string token, std::string tokenFile,
                   std::string certificate) {
    KubeConfig config;
    config.server = std::move(server);
    config.token = std::move(token);
    config.tokenFile = std::move(tokenFile);
    config.clientCertPem = std::move(certificate);
    return config;
  };

  EXPECT_FALSE(sendsCredentialsInClear(config("https://10.0.0.1:6443", "t", "", "")));
  EXPECT_TRUE(sendsCredentialsInClear(config("http://127.0.0.1:8080", "t", "", "")));
  EXPECT_TRUE(sendsCredentialsInClear(config("http://127.0.0.1:8080", "", "/run/token", "")));
  EXPECT_TRUE(sendsCredentialsInClear(config("http://127.0.0.1:8080", "", "", "pem")));
  EXPECT_FALSE(sendsCredentialsInClear(config("http://127.0.0.1:8080", "", "", "")));
}

TEST_F(InClusterConfigTest, FailsWithoutToken) {
  std::filesystem::remove(dir_.path() / "sa/token");

  const Result<KubeConfig> config = loadInClusterConfig(serviceAccountDir());

  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message, AllOf(HasSubstr("token"), HasSubstr(serviceAccountDir())));
}

TEST_F(InClusterConfigTest, FailsWithoutCa) {
  std::filesystem::remove(dir_.path() / "sa/ca.crt");

  const Result<KubeConfig> config = loadInClusterConfig(serviceAccountDir());

  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message, HasSubstr("ca.crt"));
}

class DefaultConfigTest : public testing::Test {
protected:
  std::string writeConfig(const std::string& name, const std::string& server) {
    return dir_.write(name, kubeconfig("    server: " + server + "\n", "    token: t\n"));
  }

  TempDir dir_;
  ScopedEnv host_{"KUBERNETES_SERVICE_HOST", nullptr};
  ScopedEnv kubeconfig_{"KUBECONFIG", nullptr};
  ScopedEnv home_{"HOME", dir_.path().c_str()};
};

TEST_F(DefaultConfigTest, PrefersTheExplicitPath) {
  const std::string explicitPath = writeConfig("explicit", "https://explicit");
  writeConfig(".kube/config", "https://home");
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.0.0.1");

  const Result<KubeConfig> config = loadDefaultConfig(explicitPath, "");

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "https://explicit");
}

TEST_F(DefaultConfigTest, PrefersInClusterOverKubeconfigFiles) {
  ScopedEnv host("KUBERNETES_SERVICE_HOST", "10.0.0.1");
  ScopedEnv port("KUBERNETES_SERVICE_PORT", "443");
  writeConfig(".kube/config", "https://home");

  const Result<KubeConfig> config = loadDefaultConfig("", "");

  // The real service-account directory does not exist here, so the in-cluster attempt fails
  // visibly instead of falling back to a kubeconfig.
  ASSERT_FALSE(config);
  EXPECT_THAT(config.error().message, HasSubstr("in-cluster"));
}

TEST_F(DefaultConfigTest, UsesTheFirstEntryOfKubeconfigVariable) {
  const std::string first = writeConfig("first", "https://first");
  const std::string second = writeConfig("second", "https://second");
  ScopedEnv list("KUBECONFIG", (first + ":" + second).c_str());

  const Result<KubeConfig> config = loadDefaultConfig("", "");

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "https://first");
}

TEST_F(DefaultConfigTest, FallsBackToTheHomeKubeconfig) {
  writeConfig(".kube/config", "https://home");

  const Result<KubeConfig> config = loadDefaultConfig("", "ctx");

  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->server, "https://home");
}

TEST_F(DefaultConfigTest, SaysWhatItTriedWhenNothingIsFound) {
  const Result<KubeConfig> config = loadDefaultConfig("", "");

  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, Error::Code::Invalid);
  EXPECT_THAT(config.error().message, AllOf(HasSubstr("in-cluster"), HasSubstr("$KUBECONFIG"),
                                            HasSubstr(dir_.path().string() + "/.kube/config")));
}

} // namespace
} // namespace libcluster
