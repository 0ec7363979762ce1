#include "kube/line_splitter.h"

#include <vector>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

std::vector<std::string> drain(LineSplitter& splitter) {
  std::vector<std::string> lines;
  while (std::optional<std::string> line = splitter.nextLine()) {
    lines.push_back(*line);
  }
  return lines;
}

TEST(LineSplitter, SplitsOneChunkIntoLines) {
  LineSplitter splitter;

  splitter.append("{\"a\":1}\n{\"b\":2}\n");

  EXPECT_EQ(drain(splitter), (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
  EXPECT_EQ(splitter.pending(), "");
}

TEST(LineSplitter, JoinsALineThatStraddlesChunks) {
  LineSplitter splitter;

  splitter.append("{\"type\":\"ADD");
  EXPECT_EQ(drain(splitter), std::vector<std::string>{});
  splitter.append("ED\"}\n{\"ty");
  EXPECT_EQ(drain(splitter), std::vector<std::string>{"{\"type\":\"ADDED\"}"});
  splitter.append("pe\":1}\n");

  EXPECT_EQ(drain(splitter), std::vector<std::string>{"{\"type\":1}"});
}

TEST(LineSplitter, HandlesOneByteAtATime) {
  LineSplitter splitter;
  const std::string stream = "{\"x\":1}\r\n\n{\"y\":[1,2]}\n";
  std::vector<std::string> lines;

  for (const char c : stream) {
    splitter.append(std::string_view(&c, 1));
    for (std::string& line : drain(splitter)) {
      lines.push_back(std::move(line));
    }
  }

  EXPECT_EQ(lines, (std::vector<std::string>{"{\"x\":1}", "{\"y\":[1,2]}"}));
}

TEST(LineSplitter, KeepsAnUnfinishedLinePending) {
  LineSplitter splitter;

  splitter.append("{\"a\":1}\n{\"b\"");

  EXPECT_EQ(drain(splitter), std::vector<std::string>{"{\"a\":1}"});
  EXPECT_EQ(splitter.pending(), "{\"b\"");
}

TEST(LineSplitter, SkipsBlankLines) {
  LineSplitter splitter;

  splitter.append("\n  \n\r\nx\n");

  EXPECT_EQ(drain(splitter), std::vector<std::string>{"x"});
}

TEST(LineSplitter, FlagsALineLongerThanTheLimit) {
  LineSplitter splitter(8);

  splitter.append("0123456789");
  EXPECT_EQ(splitter.nextLine(), std::nullopt);

  EXPECT_TRUE(splitter.overflowed());
}

TEST(LineSplitter, ReusesItsBufferOverManyLines) {
  LineSplitter splitter;
  int count = 0;

  for (int i = 0; i < 10'000; ++i) {
    splitter.append("{\"i\":" + std::to_string(i) + "}\n");
    count += static_cast<int>(drain(splitter).size());
  }

  EXPECT_EQ(count, 10'000);
  EXPECT_EQ(splitter.pending(), "");
}

} // namespace
} // namespace libcluster
