#include "core/result.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

Result<int> half(int value) {
  if (value % 2 != 0) {
    return Error{Error::Code::Invalid, "odd"};
  }
  return value / 2;
}

TEST(Result, HoldsAValue) {
  const Result<int> result = half(4);

  ASSERT_TRUE(result);
  EXPECT_EQ(*result, 2);
}

TEST(Result, HoldsAnError) {
  const Result<int> result = half(3);

  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, Error::Code::Invalid);
  EXPECT_EQ(result.error().message, "odd");
}

TEST(Result, VoidSucceedsByDefault) {
  const Result<void> ok;
  const Result<void> failed = Error{Error::Code::Timeout, "slow"};

  EXPECT_TRUE(ok);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, Error::Code::Timeout);
}

TEST(CodeName, NamesEveryCode) {
  EXPECT_EQ(codeName(Error::Code::TooManyRequests), "TooManyRequests");
  EXPECT_EQ(codeName(Error::Code::Gone), "Gone");
  EXPECT_EQ(codeName(Error::Code::Unauthorized), "Unauthorized");
}

} // namespace
} // namespace libcluster
