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
protected:
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

TEST_F(HttpKubeApiCreateTest, RejectsAServerWithoutScheme) {
  KubeConfig config = valid();
  config.server = "127.0.0.1:6443";

  expectInvalid(HttpKubeApi::create(config), "must start with https://");
}

TEST_F(HttpKubeApiCreateTest, RejectsACaThatIsNotPem) {
  KubeConfig config = valid();
  config.caPem = "not a certificate";

  expectInvalid(HttpKubeApi::create(config), "CA: no PEM certificate found");
}

TEST_F(HttpKubeApiCreateTest, RejectsACorruptCa) {
  KubeConfig config = valid();
  config.caPem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

  expectInvalid(HttpKubeApi::create(config), "CA");
}

TEST_F(HttpKubeApiCreateTest, RejectsAKeyThatIsNotPem) {
  KubeConfig config = valid();
  config.clientKeyPem = "not a key";

  expectInvalid(HttpKubeApi::create(config), "client key");
}

TEST_F(HttpKubeApiCreateTest, RejectsAKeyThatDoesNotMatchTheCertificate) {
  KubeConfig config = valid();
  config.clientKeyPem = pem("b.key");

  expectInvalid(HttpKubeApi::create(config), "does not match");
}

TEST_F(HttpKubeApiCreateTest, RejectsACertificateWithoutKey) {
  KubeConfig config = valid();
  config.clientKeyPem.clear();

  expectInvalid(HttpKubeApi::create(config), "together");
}

TEST_F(HttpKubeApiCreateTest, RejectsAnUnreadableTokenFile) {
  KubeConfig config = valid();
  config.tokenFile = (dir_->path() / "no-token").string();

  expectInvalid(HttpKubeApi::create(config), "no-token");
}

TEST_F(HttpKubeApiCreateTest, RejectsNonsenseOptions) {
  HttpKubeApi::Options options;
  options.requestTimeout = std::chrono::milliseconds(0);

  expectInvalid(HttpKubeApi::create(valid(), options), "requestTimeout");
}

} // namespace
} // namespace libcluster
