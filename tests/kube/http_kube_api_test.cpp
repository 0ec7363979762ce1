#include "kube/http_kube_api.h"

#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/temp_dir.h"

namespace libcluster {
namespace {

using testing::HasSubstr;

std::string readAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Two self-signed certificates with their keys, made by the openssl command once per suite.
class HttpKubeApiCreateTest : public testing::Test {
public:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    for (const char* name : {"a", "b"}) {
      const std::string base = (dir_->path() / name).string();
      const std::string command =
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
          "-subj /CN=test -keyout " +
          base + ".key -out " + base + ".crt >/dev/null 2>&1";
      ASSERT_EQ(std::system(command.c_str()), 0) << command;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::string pem(const std::string& name) { return readAll(dir_->path() / name); }

  static KubeConfig valid() {
    KubeConfig config;
    config.server = "https://127.0.0.1:6443";
    config.caPem = pem("a.crt");
    config.clientCertPem = pem("a.crt");
    config.clientKeyPem = pem("a.key");
    config.token = "t";
    return config;
  }

  static void expectInvalid(const Result<std::unique_ptr<HttpKubeApi>>& api,
                            const std::string& fragment) {
    ASSERT_FALSE(api);
    EXPECT_EQ(api.error().code, Error::Code::Invalid);
    EXPECT_THAT(api.error().message, HasSubstr(fragment));
  }

  static TempDir* dir_;
};

TempDir* HttpKubeApiCreateTest::dir_ = nullptr;

TEST_F(HttpKubeApiCreateTest, AcceptsAValidConfiguration) {
  const Result<std::unique_ptr<HttpKubeApi>> api = HttpKubeApi::create(valid());

  ASSERT_TRUE(api) << api.error().message;
  EXPECT_EQ((*api)->server(), "https://127.0.0.1:6443");
}

TEST_F(HttpKubeApiCreateTest, AcceptsABundleOfSeveralCas) {
  KubeConfig config = valid();
  config.caPem = pem("a.crt") + pem("b.crt");

  EXPECT_TRUE(HttpKubeApi::create(config));
}

/// One configuration that create() refuses: `mutate` breaks a valid one; the Invalid error's
/// message contains `fragment`.
struct InvalidConfigCase {
  const char* name;
  void (*mutate)(KubeConfig&);
  const char* fragment;
};

class HttpKubeApiInvalidConfigTest : public HttpKubeApiCreateTest,
                                     public testing::WithParamInterface<InvalidConfigCase> {};

TEST_P(HttpKubeApiInvalidConfigTest, IsRefusedNamingTheProblem) {
  KubeConfig config = valid();
  GetParam().mutate(config);

  expectInvalid(HttpKubeApi::create(config), GetParam().fragment);
}

INSTANTIATE_TEST_SUITE_P(
    Rejects, HttpKubeApiInvalidConfigTest,
    testing::Values(
        InvalidConfigCase{"AServerWithoutScheme",
                          [](KubeConfig& c) { c.server = "127.0.0.1:6443"; },
                          "must start with https://"},
        InvalidConfigCase{"ACaThatIsNotPem", [](KubeConfig& c) { c.caPem = "not a certificate"; },
                          "CA: no PEM certificate found"},
        InvalidConfigCase{"ACorruptCa",
                          [](KubeConfig& c) {
                            c.caPem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
                          },
                          "CA"},
        InvalidConfigCase{"AKeyThatIsNotPem", [](KubeConfig& c) { c.clientKeyPem = "not a key"; },
                          "client key"},
        InvalidConfigCase{"AKeyThatDoesNotMatchTheCertificate",
                          [](KubeConfig& c) { c.clientKeyPem = HttpKubeApiCreateTest::pem("b.key"); },
                          "does not match"},
        InvalidConfigCase{"ACertificateWithoutKey", [](KubeConfig& c) { c.clientKeyPem.clear(); },
                          "together"},
        InvalidConfigCase{"AnUnreadableTokenFile",
                          [](KubeConfig& c) {
                            c.tokenFile = (HttpKubeApiCreateTest::dir_->path() / "no-token").string();
                          },
                          "no-token"}),
    [](const testing::TestParamInfo<InvalidConfigCase>& info) { return std::string(info.param.name); });

TEST_F(HttpKubeApiCreateTest, RejectsNonsenseOptions) {
  HttpKubeApi::Options options;
  options.requestTimeout = std::chrono::milliseconds(0);

  expectInvalid(HttpKubeApi::create(valid(), options), "requestTimeout");
}

} // namespace
} // namespace libcluster
