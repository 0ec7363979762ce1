#include "strategy/erlang_hosts_strategy.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "fakes/fake_resolver.h"
#include "strategy/fake_epmd_server.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using Strings = std::vector<std::string>;

TEST(ParseHostsErlang, ReadsQuotedAndUnquotedAtomsAndStrings) {
  const auto hosts = parseHostsErlang("% the hosts of our cluster\n"
                                      "'host1.example.com'.\n"
                                      "\n"
                                      "  host2 .   % trailing comment\r\n"
                                      "\"10.0.0.3\". 'h4'.\n"
                                      "'it\\'s'.");

  ASSERT_TRUE(hosts) << hosts.error().message;
  EXPECT_EQ(*hosts, (Strings{"host1.example.com", "host2", "10.0.0.3", "h4", "it's"}));
}

TEST(ParseHostsErlang, EmptyAndCommentOnlyFilesListNoHosts) {
  EXPECT_EQ(*parseHostsErlang(""), Strings{});
  EXPECT_EQ(*parseHostsErlang("% nothing\n\n"), Strings{});
}

TEST(ParseHostsErlang, ErrorsNameTheLine) {
  struct Case {
    std::string text;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"'a'.\nhost.example.com.\n", "line 2: host names with dots must be quoted"},
           {"'a'\n", "line 1: expected '.' after 'a'"},
           {"'a'.\n'b\n", "line 2: missing closing '"},
           {"Host.\n", "line 1: expected a host name"},
           {"{a, b}.\n", "line 1: expected a host name"},
           {"'a'.'b'.\n", "line 1: expected a new line or space"},
           {"''.\n", "line 1: empty host name"},
       }) {
    const auto hosts = parseHostsErlang(c.text);
    ASSERT_FALSE(hosts) << c.text;
    EXPECT_EQ(hosts.error().code, Error::Code::Invalid);
    EXPECT_EQ(hosts.error().message.substr(0, c.expected.size()), c.expected)
        << hosts.error().message;
  }
}

class ErlangHostsStrategyTest : public testing::Test {
protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("erlang-hosts-" + std::to_string(::getpid()) + "-" +
             testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(root_ / "cwd");
    std::filesystem::create_directories(root_ / "home");
    std::filesystem::create_directories(root_ / "otp");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void write(const std::filesystem::path& file, const std::string& text) {
    std::ofstream(file) << text;
  }
  ErlangHostsStrategy::Options options() const {
    return {.hostsFile = {},
            .searchPath = {root_ / "cwd", root_ / "home", root_ / "otp"},
            .epmdPort = epmd_.port(),
            .epmdTimeout = 2s};
  }

  std::filesystem::path root_;
  FakeEpmdServer epmd_;
  FakeResolver resolver_;
};

TEST_F(ErlangHostsStrategyTest, SearchesWorkingDirectoryThenHomeThenOtpRoot) {
  write(root_ / "otp" / ".hosts.erlang", "'otp-host'.\n");
  write(root_ / "home" / ".hosts.erlang", "'home-host'.\n");

  auto strategy = ErlangHostsStrategy::create(options(), resolver_);

  ASSERT_TRUE(strategy) << strategy.error().message;
  EXPECT_EQ((*strategy)->hosts(), Strings{"home-host"});
  EXPECT_EQ((*strategy)->file(), root_ / "home" / ".hosts.erlang");
}

TEST_F(ErlangHostsStrategyTest, MissingFileIsAnErrorAtStart) {
  const auto strategy = ErlangHostsStrategy::create(options(), resolver_);

  ASSERT_FALSE(strategy);
  EXPECT_EQ(strategy.error().code, Error::Code::NotFound);
  EXPECT_NE(strategy.error().message.find("couldn't find .hosts.erlang"), std::string::npos);
}

TEST_F(ErlangHostsStrategyTest, UnparsableFileIsAnErrorNamingIt) {
  write(root_ / "cwd" / ".hosts.erlang", "'ok'.\nbad.host.\n");

  const auto strategy = ErlangHostsStrategy::create(options(), resolver_);

  ASSERT_FALSE(strategy);
  EXPECT_EQ(strategy.error().code, Error::Code::Invalid);
  EXPECT_NE(strategy.error().message.find(".hosts.erlang: line 2"), std::string::npos);
}

TEST_F(ErlangHostsStrategyTest, NamesEveryNodeOfEveryAnsweringHostAndSkipsTheOthers) {
  epmd_.answerNames({{"app", 9100}, {"worker", 9101}});
  resolver_.answerAddresses("reachable.test", std::vector<DnsAddress>{{"127.0.0.1", 30s}});
  resolver_.answerAddresses("unresolvable.test", Error{Error::Code::NotFound, "NXDOMAIN"});
  write(root_ / "cwd" / ".hosts.erlang",
        "'127.0.0.1'.\n'reachable.test'.\n'unresolvable.test'.\n'127.0.0.9'.\n");
  ErlangHostsStrategy::Options withClosedHost = options();
  auto strategy = ErlangHostsStrategy::create(withClosedHost, resolver_);
  ASSERT_TRUE(strategy) << strategy.error().message;

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_TRUE(peers) << peers.error().message;
  EXPECT_EQ(*peers, (PeerSet{"app@127.0.0.1", "worker@127.0.0.1", "app@reachable.test",
                             "worker@reachable.test"}));
  EXPECT_FALSE((*strategy)->prunes());
}

TEST_F(ErlangHostsStrategyTest, NoHostAnsweringIsAnError) {
  write(root_ / "cwd" / ".hosts.erlang", "'127.0.0.1'.\n");
  ErlangHostsStrategy::Options closed = options();
  closed.epmdPort = closedLoopbackPort();
  auto strategy = ErlangHostsStrategy::create(closed, resolver_);
  ASSERT_TRUE(strategy);

  const auto peers = (*strategy)->discoverPeers({});

  ASSERT_FALSE(peers);
  EXPECT_EQ(peers.error().code, Error::Code::Unavailable);
}

TEST_F(ErlangHostsStrategyTest, ExplicitFileWinsOverTheSearch) {
  write(root_ / "cwd" / ".hosts.erlang", "'cwd-host'.\n");
  write(root_ / "mine", "'mine'.\n");
  ErlangHostsStrategy::Options explicitFile = options();
  explicitFile.hostsFile = root_ / "mine";

  auto strategy = ErlangHostsStrategy::create(explicitFile, resolver_);

  ASSERT_TRUE(strategy);
  EXPECT_EQ((*strategy)->hosts(), Strings{"mine"});
}

} // namespace
} // namespace libcluster
