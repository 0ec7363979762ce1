#include "kube/token_source.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"
#include "kube/temp_dir.h"

namespace libcluster {
namespace {

using std::chrono_literals::operator""s;

class TokenSourceTest : public testing::Test {
protected:
  TempDir dir_;
  FakeClock clock_;
  std::string file_ = dir_.write("token", "first\n");
};

TEST_F(TokenSourceTest, ReturnsAFixedToken) {
  TokenSource tokens("fixed", "", clock_, 60s);

  ASSERT_TRUE(tokens.load());

  EXPECT_EQ(tokens.current(), "fixed");
  EXPECT_FALSE(tokens.refreshAfterRejection("fixed"));
}

TEST_F(TokenSourceTest, ReadsTheFileWithoutItsTrailingNewline) {
  TokenSource tokens("", file_, clock_, 60s);

  ASSERT_TRUE(tokens.load());

  EXPECT_EQ(tokens.current(), "first");
}

TEST_F(TokenSourceTest, PrefersTheFileOverAFixedToken) {
  TokenSource tokens("fixed", file_, clock_, 60s);

  ASSERT_TRUE(tokens.load());

  EXPECT_EQ(tokens.current(), "first");
}

TEST_F(TokenSourceTest, RereadsTheFileOnlyAfterTheInterval) {
  TokenSource tokens("", file_, clock_, 60s);
  ASSERT_TRUE(tokens.load());
  dir_.write("token", "second");

  clock_.advance(59s);
  EXPECT_EQ(tokens.current(), "first");
  clock_.advance(1s);

  EXPECT_EQ(tokens.current(), "second");
}

TEST_F(TokenSourceTest, RereadsAtOnceAfterARejection) {
  TokenSource tokens("", file_, clock_, 60s);
  ASSERT_TRUE(tokens.load());
  dir_.write("token", "rotated");

  EXPECT_TRUE(tokens.refreshAfterRejection("first"));

  EXPECT_EQ(tokens.current(), "rotated");
}

TEST_F(TokenSourceTest, ReportsNoChangeWhenTheRejectedTokenIsStillInTheFile) {
  TokenSource tokens("", file_, clock_, 60s);
  ASSERT_TRUE(tokens.load());

  EXPECT_FALSE(tokens.refreshAfterRejection("first"));
}

TEST_F(TokenSourceTest, KeepsTheLastTokenWhenTheFileDisappears) {
  TokenSource tokens("", file_, clock_, 60s);
  ASSERT_TRUE(tokens.load());
  std::filesystem::remove(file_);

  clock_.advance(61s);

  EXPECT_EQ(tokens.current(), "first");
}

TEST_F(TokenSourceTest, FailsToLoadAMissingOrEmptyFile) {
  TokenSource missing("", (dir_.path() / "absent").string(), clock_, 60s);
  TokenSource empty("", dir_.write("empty", "\n"), clock_, 60s);

  const Result<void> missingLoaded = missing.load();
  const Result<void> emptyLoaded = empty.load();

  ASSERT_FALSE(missingLoaded);
  ASSERT_FALSE(emptyLoaded);
  EXPECT_EQ(missingLoaded.error().code, Error::Code::Invalid);
  EXPECT_NE(emptyLoaded.error().message.find("empty"), std::string::npos);
}

} // namespace
} // namespace libcluster
