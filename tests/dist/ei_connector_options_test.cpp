#include "dist/ei_connector.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;
using testing::Not;
using testing::StartsWith;

EiConnectorOptions validOptions() {
  EiConnectorOptions options;
  options.localNode = "app@10.0.0.7";
  options.cookie = "secretcookie";
  return options;
}

Error createError(const EiConnectorOptions& options) {
  Result<std::unique_ptr<EiConnector>> connector = EiConnector::create(options);
  EXPECT_FALSE(connector);
  return connector ? Error{Error::Code::Internal, "created"} : connector.error();
}

/// A file in a fresh temporary directory, removed afterwards.
class TempFile {
public:
  explicit TempFile(const std::string& content) {
    char pattern[] = "/tmp/libcluster-cookie-XXXXXX";
    const int fd = ::mkstemp(pattern);
    path_ = pattern;
    ::close(fd);
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

TEST(EiConnectorOptionsTest, DefaultsAreLibclusters) {
  const EiConnectorOptions options;

  EXPECT_EQ(options.connect, (Mfa{"net_kernel", "connect_node", {}}));
  EXPECT_EQ(options.disconnect, (Mfa{"erlang", "disconnect_node", {}}));
  EXPECT_EQ(options.listNodes, (Mfa{"erlang", "nodes", {"connected"}}));
}

TEST(EiConnectorOptionsTest, AgentNodeIsUniquePerStartAndOnTheLocalNodesHost) {
  Result<std::unique_ptr<EiConnector>> first = EiConnector::create(validOptions());
  Result<std::unique_ptr<EiConnector>> second = EiConnector::create(validOptions());

  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_THAT((*first)->agentNode(), StartsWith("libcluster_agent_"));
  EXPECT_THAT((*first)->agentNode(), testing::EndsWith("@10.0.0.7"));
  EXPECT_NE((*first)->agentNode(), (*second)->agentNode());
  EXPECT_EQ((*first)->localNode(), "app@10.0.0.7");
  EXPECT_FALSE((*first)->isConnected());
}

TEST(EiConnectorOptionsTest, TakesAGivenAgentName) {
  EiConnectorOptions options = validOptions();
  options.agentAlive = "agent-1";

  Result<std::unique_ptr<EiConnector>> connector = EiConnector::create(options);

  ASSERT_TRUE(connector) << connector.error().message;
  EXPECT_EQ((*connector)->agentNode(), "agent-1@10.0.0.7");
}

TEST(EiConnectorOptionsTest, RejectsALocalNodeWithoutHost) {
  EiConnectorOptions options = validOptions();
  options.localNode = "app";

  EXPECT_EQ(createError(options).code, Error::Code::Invalid);
}

TEST(EiConnectorOptionsTest, RejectsABadAgentName) {
  EiConnectorOptions options = validOptions();
  options.agentAlive = "agent@x";

  EXPECT_EQ(createError(options).code, Error::Code::Invalid);
}

TEST(EiConnectorOptionsTest, RejectsCreationZero) {
  EiConnectorOptions options = validOptions();
  options.creation = 0;

  EXPECT_EQ(createError(options).code, Error::Code::Invalid);
}

TEST(EiConnectorOptionsTest, RejectsAnArgumentThatIsNotATerm) {
  EiConnectorOptions options = validOptions();
  options.listNodes = {"erlang", "nodes", {"[visible"}};

  const Error error = createError(options);

  EXPECT_EQ(error.code, Error::Code::Invalid);
  EXPECT_THAT(error.message, HasSubstr("listNodes"));
  EXPECT_THAT(error.message, HasSubstr("[visible"));
}

TEST(EiConnectorOptionsTest, AcceptsArgumentsThatAreTerms) {
  EiConnectorOptions options = validOptions();
  options.connect = {"my_cluster", "join", {"'prod-eu'", "{1, \"two\", [three]}", "42"}};

  Result<std::unique_ptr<EiConnector>> connector = EiConnector::create(options);

  EXPECT_TRUE(connector) << connector.error().message;
}

TEST(EiConnectorOptionsTest, RejectsAnEmptyModule) {
  EiConnectorOptions options = validOptions();
  options.disconnect = {"", "disconnect_node", {}};

  EXPECT_EQ(createError(options).code, Error::Code::Invalid);
}

TEST(EiConnectorOptionsTest, RejectsACookieAndACookieFileTogether) {
  EiConnectorOptions options = validOptions();
  options.cookieFile = "/run/secrets/cookie";

  const Error error = createError(options);

  EXPECT_EQ(error.code, Error::Code::Invalid);
  EXPECT_THAT(error.message, Not(HasSubstr("secretcookie")));
}

TEST(EiConnectorOptionsTest, ReadsTheCookieFromAFile) {
  TempFile file("filecookie\n");
  EiConnectorOptions options = validOptions();
  options.cookie.clear();
  options.cookieFile = file.path();

  Result<std::unique_ptr<EiConnector>> connector = EiConnector::create(options);

  EXPECT_TRUE(connector) << connector.error().message;
}

TEST(EiConnectorOptionsTest, CookieFileLosesSurroundingWhitespace) {
  TempFile file("  filecookie \r\n");

  Result<std::string> cookie = readCookieFile(file.path());

  ASSERT_TRUE(cookie) << cookie.error().message;
  EXPECT_EQ(*cookie, "filecookie");
}

TEST(EiConnectorOptionsTest, MissingCookieFileNamesTheFile) {
  Result<std::string> cookie = readCookieFile("/nonexistent/libcluster/cookie");

  ASSERT_FALSE(cookie);
  EXPECT_EQ(cookie.error().code, Error::Code::Invalid);
  EXPECT_THAT(cookie.error().message, HasSubstr("/nonexistent/libcluster/cookie"));
}

TEST(EiConnectorOptionsTest, EmptyCookieFileIsInvalid) {
  TempFile file("\n");

  Result<std::string> cookie = readCookieFile(file.path());

  ASSERT_FALSE(cookie);
  EXPECT_EQ(cookie.error().code, Error::Code::Invalid);
}

TEST(EiConnectorOptionsTest, PeerThatIsNotANodeNameIsInvalidWithoutAnyCall) {
  Result<std::unique_ptr<EiConnector>> connector = EiConnector::create(validOptions());
  ASSERT_TRUE(connector) << connector.error().message;

  Result<CallReply> reply = (*connector)->connect("not-a-node", 1s);

  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code, Error::Code::Invalid);
  EXPECT_FALSE((*connector)->isConnected());
}

} // namespace
} // namespace libcluster
