#include "strategy/epmd_client.h"

#include <gtest/gtest.h>

#include "strategy/fake_epmd_server.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

const std::string kHeader("\0\0\x11\x11", 4);

TEST(ParseEpmdNamesReply, ReadsEveryRegisteredName) {
  const auto names =
      parseEpmdNamesReply(kHeader + "name app at port 9100\nname other_1 at port 41231\n");

  ASSERT_TRUE(names) << names.error().message;
  EXPECT_EQ(*names, (std::vector<EpmdName>{{"app", 9100}, {"other_1", 41231}}));
}

TEST(ParseEpmdNamesReply, HeaderAloneMeansNoNames) {
  const auto names = parseEpmdNamesReply(kHeader);

  ASSERT_TRUE(names);
  EXPECT_TRUE(names->empty());
}

TEST(ParseEpmdNamesReply, ShortHeaderIsAnError) {
  const auto names = parseEpmdNamesReply(std::string("\0\0", 2));

  ASSERT_FALSE(names);
  EXPECT_EQ(names.error().code, Error::Code::Invalid);
}

TEST(ParseEpmdNamesReply, CutOffLastLineIsAnErrorNotFewerNames) {
  const auto names = parseEpmdNamesReply(kHeader + "name app at port 9100\nname oth");

  ASSERT_FALSE(names);
  EXPECT_NE(names.error().message.find("line 2"), std::string::npos);
}

TEST(ParseEpmdNamesReply, RejectsLinesOfAnotherShape) {
  for (const std::string body : {"garbage\n", "name  at port 1\n", "name a at port x\n",
                                 "name a at port 0\n", "name a at port 70000\n", "name a\n"}) {
    EXPECT_FALSE(parseEpmdNamesReply(kHeader + body)) << body;
  }
}

TEST(EpmdPortFromEnv, DefaultsAndValidates) {
  EXPECT_EQ(*epmdPortFromEnv(nullptr), 4369);
  EXPECT_EQ(*epmdPortFromEnv(""), 4369);
  EXPECT_EQ(*epmdPortFromEnv("4370"), 4370);
  EXPECT_FALSE(epmdPortFromEnv("epmd"));
  EXPECT_FALSE(epmdPortFromEnv("0"));
}

TEST(QueryEpmdNames, SendsNamesRequestAndReadsTheReply) {
  FakeEpmdServer epmd;
  epmd.answerNames({{"app", 9100}, {"worker", 9101}});

  const auto names = queryEpmdNames("127.0.0.1", epmd.port(), 2s, {});

  ASSERT_TRUE(names) << names.error().message;
  EXPECT_EQ(*names, (std::vector<EpmdName>{{"app", 9100}, {"worker", 9101}}));
  ASSERT_EQ(epmd.requests().size(), 1U);
  EXPECT_EQ(epmd.requests()[0], std::string("\0\1n", 3));
}

TEST(QueryEpmdNames, RefusedConnectionIsUnavailable) {
  const auto names = queryEpmdNames("127.0.0.1", closedLoopbackPort(), 2s, {});

  ASSERT_FALSE(names);
  EXPECT_EQ(names.error().code, Error::Code::Unavailable);
}

TEST(QueryEpmdNames, SilentEpmdTimesOut) {
  FakeEpmdServer epmd;
  epmd.silent();

  const auto names = queryEpmdNames("127.0.0.1", epmd.port(), 100ms, {});

  ASSERT_FALSE(names);
  EXPECT_EQ(names.error().code, Error::Code::Timeout);
}

TEST(QueryEpmdNames, StopEndsTheWait) {
  FakeEpmdServer epmd;
  epmd.silent();
  std::stop_source stop;
  stop.request_stop();

  const auto names = queryEpmdNames("127.0.0.1", epmd.port(), 5s, stop.get_token());

  ASSERT_FALSE(names);
  EXPECT_EQ(names.error().code, Error::Code::Cancelled);
}

TEST(QueryEpmdNames, NamesAreNotResolved) {
  const auto names = queryEpmdNames("localhost", 4369, 1s, {});

  ASSERT_FALSE(names);
  EXPECT_EQ(names.error().code, Error::Code::Invalid);
}

TEST(QueryEpmdNames, MalformedReplyIsInvalid) {
  FakeEpmdServer epmd;
  epmd.answerRaw(kHeader + "hello\n");

  const auto names = queryEpmdNames("127.0.0.1", epmd.port(), 2s, {});

  ASSERT_FALSE(names);
  EXPECT_EQ(names.error().code, Error::Code::Invalid);
}

} // namespace
} // namespace libcluster
