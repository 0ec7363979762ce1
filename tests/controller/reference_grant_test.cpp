#include "controller/reference_grant.h"

#include <gtest/gtest.h>

namespace libcluster {
namespace {

std::vector<std::shared_ptr<const ReferenceGrant>> grants(const nlohmann::json& object) {
  std::optional<ReferenceGrant> grant = referenceGrantFromJson(object);
  EXPECT_TRUE(grant);
  return {std::make_shared<const ReferenceGrant>(*grant)};
}

nlohmann::json grantIn(const std::string& ns, nlohmann::json from) {
  return {{"metadata", {{"name", "g"}, {"namespace", ns}}}, {"spec", {{"from", std::move(from)}}}};
}

TEST(ReferenceGrant, ItsOwnNamespaceNeedsNoGrant) {
  EXPECT_TRUE(isReferenceGranted({}, "a", "t", "a"));
  EXPECT_FALSE(isReferenceGranted({}, "a", "t", "b"));
}

TEST(ReferenceGrant, AGrantWithoutANameAdmitsEveryTopologyOfTheNamespace) {
  const auto list = grants(grantIn("b", {{{"namespace", "a"}}}));

  EXPECT_TRUE(isReferenceGranted(list, "a", "t", "b"));
  EXPECT_TRUE(isReferenceGranted(list, "a", "other", "b"));
  EXPECT_FALSE(isReferenceGranted(list, "c", "t", "b"));
}

TEST(ReferenceGrant, AGrantWithANameAdmitsOnlyThatTopology) {
  const auto list = grants(grantIn("b", {{{"namespace", "a"}, {"name", "t"}}}));

  EXPECT_TRUE(isReferenceGranted(list, "a", "t", "b"));
  EXPECT_FALSE(isReferenceGranted(list, "a", "u", "b"));
}

TEST(ReferenceGrant, AGrantOpensOnlyTheNamespaceItLivesIn) {
  const auto list = grants(grantIn("b", {{{"namespace", "a"}}}));

  EXPECT_FALSE(isReferenceGranted(list, "a", "t", "kube-system"));
}

TEST(ReferenceGrant, MalformedEntriesGrantNothing) {
  const auto list = grants(grantIn("b", {"a", {{"name", "t"}}, {{"namespace", 7}}, nullptr}));

  EXPECT_FALSE(isReferenceGranted(list, "a", "t", "b"));
  EXPECT_FALSE(isReferenceGranted(list, "", "t", "b"));
  EXPECT_FALSE(referenceGrantFromJson(nlohmann::json{{"spec", {}}}));
  EXPECT_FALSE(referenceGrantFromJson(nlohmann::json::array()));
}

} // namespace
} // namespace libcluster
