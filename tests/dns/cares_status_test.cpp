#include "dns/cares_status.h"

#include <string>

#include <ares.h>
#include <gtest/gtest.h>

namespace libcluster {
namespace {

using Code = Error::Code;

struct Case {
  int status;
  Code code;
};

class CaresErrorTest : public testing::TestWithParam<Case> {};

TEST_P(CaresErrorTest, MapsStatusToCodeAndNamesTheQuery) {
  const Case c = GetParam();

  const Error error = caresError(c.status, "A lookup of 'app.test'");

  EXPECT_EQ(error.code, c.code) << error.message;
  EXPECT_EQ(error.message.rfind("A lookup of 'app.test' failed: ", 0), 0U) << error.message;
}

INSTANTIATE_TEST_SUITE_P(
    EveryStatus, CaresErrorTest,
    testing::Values(Case{ARES_ENODATA, Code::NotFound}, Case{ARES_ENOTFOUND, Code::NotFound},
                    Case{ARES_EFORMERR, Code::Unavailable}, Case{ARES_ESERVFAIL, Code::Unavailable},
                    Case{ARES_ENOTIMP, Code::Unavailable}, Case{ARES_EREFUSED, Code::Unavailable},
                    Case{ARES_EBADQUERY, Code::Invalid}, Case{ARES_EBADNAME, Code::Invalid},
                    Case{ARES_EBADFAMILY, Code::Invalid}, Case{ARES_EBADRESP, Code::Invalid},
                    Case{ARES_ECONNREFUSED, Code::Unavailable}, Case{ARES_ETIMEOUT, Code::Timeout},
                    Case{ARES_EOF, Code::Unavailable}, Case{ARES_EFILE, Code::Internal},
                    Case{ARES_ENOMEM, Code::Internal}, Case{ARES_EDESTRUCTION, Code::Cancelled},
                    Case{ARES_EBADSTR, Code::Invalid}, Case{ARES_EBADFLAGS, Code::Invalid},
                    Case{ARES_ENONAME, Code::Invalid}, Case{ARES_EBADHINTS, Code::Invalid},
                    Case{ARES_ENOTINITIALIZED, Code::Internal},
                    Case{ARES_ELOADIPHLPAPI, Code::Internal},
                    Case{ARES_EADDRGETNETWORKPARAMS, Code::Internal},
                    Case{ARES_ECANCELLED, Code::Cancelled}, Case{ARES_ESERVICE, Code::Invalid},
                    Case{9999, Code::Internal}));

TEST(CaresErrorTest, SaysWhetherTheNameIsMissingOrHasNoRecords) {
  EXPECT_NE(caresError(ARES_ENOTFOUND, "q").message.find("NXDOMAIN"), std::string::npos);
  EXPECT_NE(caresError(ARES_ENODATA, "q").message.find("NODATA"), std::string::npos);
}

TEST(CaresErrorTest, NamesAnUnknownStatusByNumber) {
  EXPECT_NE(caresError(9999, "q").message.find("9999"), std::string::npos);
}

TEST(CaresErrorDeathTest, SuccessIsNotAnError) {
  EXPECT_DEATH((void)caresError(ARES_SUCCESS, "q"), "only failures");
}

} // namespace
} // namespace libcluster
