#include "core/labels.h"

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

TEST(Labels, FindsValuesByKeyInAnyInsertionOrder) {
  const Labels labels =
      Labels::fromPairs({{"tier", "web"}, {"app", "shop"}, {"app.kubernetes.io/name", "shop"}});

  ASSERT_NE(labels.find("app"), nullptr);
  EXPECT_EQ(*labels.find("app"), "shop");
  EXPECT_EQ(labels.at("tier"), "web");
  EXPECT_EQ(labels.find("ap"), nullptr);
  EXPECT_EQ(labels.find("zone"), nullptr);
  EXPECT_EQ(labels.size(), 3u);
  EXPECT_EQ(labels.toMap(),
            (std::map<std::string, std::string>{
                {"app", "shop"}, {"app.kubernetes.io/name", "shop"}, {"tier", "web"}}));
}

TEST(Labels, ARepeatedKeyKeepsTheLastValue) {
  const Labels labels = Labels::fromPairs({{"app", "a"}, {"tier", "x"}, {"app", "b"}});

  EXPECT_EQ(labels.at("app"), "b");
  EXPECT_EQ(labels.size(), 2u);
}

TEST(Labels, SharesKeyTextBetweenObjects) {
  const Labels first = Labels::fromPairs({{"app.kubernetes.io/instance", "one"}});
  const Labels second = Labels::fromPairs({{"app.kubernetes.io/instance", "two"}});

  EXPECT_EQ(first.begin()->key.get(), second.begin()->key.get());
}

TEST(Labels, EqualWhenTheSameKeysHaveTheSameValues) {
  EXPECT_EQ(Labels({{"app", "a"}, {"tier", "x"}}),
            Labels::fromPairs({{"tier", "x"}, {"app", "a"}}));
  EXPECT_NE(Labels({{"app", "a"}}), Labels({{"app", "b"}}));
  EXPECT_NE(Labels({{"app", "a"}}), Labels({{"app", "a"}, {"tier", "x"}}));
  EXPECT_EQ(Labels(), Labels(std::map<std::string, std::string>{}));
}

} // namespace
} // namespace libcluster
