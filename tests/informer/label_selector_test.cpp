#include "informer/label_selector.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

using Labels = std::map<std::string, std::string>;

LabelSelector parsed(std::string_view text) {
  Result<LabelSelector> selector = LabelSelector::parse(text);
  EXPECT_TRUE(selector) << text << ": " << (selector ? "" : selector.error().message);
  return selector ? *selector : LabelSelector::nothing();
}

std::string parseError(std::string_view text) {
  Result<LabelSelector> selector = LabelSelector::parse(text);
  if (selector) {
    ADD_FAILURE() << "expected " << text << " to be rejected, got " << selector->toString();
    return "";
  }
  EXPECT_EQ(selector.error().code, Error::Code::Invalid);
  return selector.error().message;
}

LabelSelector fromJson(const nlohmann::json& json) {
  Result<LabelSelector> selector = LabelSelector::fromJson(json);
  EXPECT_TRUE(selector) << json.dump() << ": " << (selector ? "" : selector.error().message);
  return selector ? *selector : LabelSelector::everything();
}

TEST(LabelSelector, EmptyStringSelectsEverything) {
  const LabelSelector selector = parsed("");

  EXPECT_TRUE(selector.isEverything());
  EXPECT_TRUE(selector.matches({}));
  EXPECT_TRUE(selector.matches({{"a", "b"}}));
  EXPECT_EQ(selector.toString(), "");
}

TEST(LabelSelector, WhitespaceOnlySelectsEverything) { EXPECT_TRUE(parsed("   ").isEverything()); }

TEST(LabelSelector, EqualityMatchesOnlyThatValue) {
  const LabelSelector selector = parsed("app=web");

  EXPECT_TRUE(selector.matches({{"app", "web"}, {"tier", "x"}}));
  EXPECT_FALSE(selector.matches({{"app", "db"}}));
  EXPECT_FALSE(selector.matches({}));
}

TEST(LabelSelector, DoubleEqualsMeansEquals) {
  EXPECT_EQ(parsed("app==web"), parsed("app=web"));
  EXPECT_EQ(parsed("app==web").toString(), "app=web");
}

TEST(LabelSelector, NotEqualsMatchesAMissingKey) {
  const LabelSelector selector = parsed("app!=web");

  EXPECT_TRUE(selector.matches({}));
  EXPECT_TRUE(selector.matches({{"app", "db"}}));
  EXPECT_FALSE(selector.matches({{"app", "web"}}));
}

TEST(LabelSelector, BangKeyMeansTheKeyIsAbsent) {
  const LabelSelector selector = parsed("!canary");

  EXPECT_TRUE(selector.matches({}));
  EXPECT_FALSE(selector.matches({{"canary", ""}}));
  EXPECT_FALSE(selector.matches({{"canary", "true"}}));
  EXPECT_EQ(selector.requirements().front().op, LabelSelector::Operator::DoesNotExist);
}

TEST(LabelSelector, BangEqualsIsNotBangKey) {
  const LabelSelector notEquals = parsed("canary!=true");
  const LabelSelector absent = parsed("!canary");

  EXPECT_TRUE(notEquals.matches({{"canary", "false"}}));
  EXPECT_FALSE(absent.matches({{"canary", "false"}}));
  EXPECT_NE(notEquals, absent);
}

TEST(LabelSelector, BareKeyMeansTheKeyExists) {
  const LabelSelector selector = parsed("canary");

  EXPECT_TRUE(selector.matches({{"canary", ""}}));
  EXPECT_FALSE(selector.matches({}));
}

TEST(LabelSelector, EmptyValueAfterEqualsIsTheEmptyValue) {
  const LabelSelector selector = parsed("k=");

  EXPECT_TRUE(selector.matches({{"k", ""}}));
  EXPECT_FALSE(selector.matches({{"k", "v"}}));
  EXPECT_FALSE(selector.matches({}));
  EXPECT_EQ(selector.toString(), "k=");
}

TEST(LabelSelector, EmptyValueBeforeACommaIsTheEmptyValue) {
  const LabelSelector selector = parsed("k=,other=x");

  EXPECT_TRUE(selector.matches({{"k", ""}, {"other", "x"}}));
}

TEST(LabelSelector, InMatchesAnyListedValue) {
  const LabelSelector selector = parsed("env in (prod, staging)");

  EXPECT_TRUE(selector.matches({{"env", "prod"}}));
  EXPECT_TRUE(selector.matches({{"env", "staging"}}));
  EXPECT_FALSE(selector.matches({{"env", "dev"}}));
  EXPECT_FALSE(selector.matches({}));
}

TEST(LabelSelector, NotInMatchesAMissingKey) {
  const LabelSelector selector = parsed("env notin (prod,staging)");

  EXPECT_TRUE(selector.matches({}));
  EXPECT_TRUE(selector.matches({{"env", "dev"}}));
  EXPECT_FALSE(selector.matches({{"env", "prod"}}));
}

TEST(LabelSelector, InAcceptsAnEmptyItemAsTheEmptyValue) {
  const LabelSelector selector = parsed("k in (a,)");

  EXPECT_TRUE(selector.matches({{"k", ""}}));
  EXPECT_TRUE(selector.matches({{"k", "a"}}));
  EXPECT_EQ(selector.toString(), "k in (,a)");
}

TEST(LabelSelector, CommaIsAnd) {
  const LabelSelector selector = parsed("app=web,tier in (front),!canary,release");

  EXPECT_TRUE(selector.matches({{"app", "web"}, {"tier", "front"}, {"release", "1"}}));
  EXPECT_FALSE(selector.matches({{"app", "web"}, {"tier", "front"}}));
  EXPECT_FALSE(
      selector.matches({{"app", "web"}, {"tier", "front"}, {"release", "1"}, {"canary", "y"}}));
}

TEST(LabelSelector, ToleratesWhitespaceBetweenTokens) {
  EXPECT_EQ(parsed("  app = web ,  env   notin(a , b )  , ! canary"),
            parsed("app=web,env notin (a,b),!canary"));
}

TEST(LabelSelector, KeywordsAreOrdinaryValues) {
  EXPECT_TRUE(parsed("k=in").matches({{"k", "in"}}));
  EXPECT_TRUE(parsed("k in (notin)").matches({{"k", "notin"}}));
}

TEST(LabelSelector, RendersCanonicallySortedByKeyWithSortedValues) {
  const LabelSelector selector = parsed("z in (c,a,b),a!=1,m,!b,c==3,a=2,d notin (y,x)");

  EXPECT_EQ(selector.toString(), "a=2,a!=1,!b,c=3,d notin (x,y),m,z in (a,b,c)");
}

TEST(LabelSelector, RenderedFormParsesBackToTheSameSelector) {
  const LabelSelector selector =
      parsed("example.com/role in (b, a), app.kubernetes.io/name=web,!x,y");

  EXPECT_EQ(parsed(selector.toString()), selector);
}

TEST(LabelSelector, DropsDuplicateRequirementsAndValues) {
  EXPECT_EQ(parsed("a=b,a==b,k in (x,x)").toString(), "a=b,k in (x)");
}

TEST(LabelSelector, AcceptsPrefixedKeys) {
  const LabelSelector selector = parsed("app.kubernetes.io/name=web");

  EXPECT_TRUE(selector.matches({{"app.kubernetes.io/name", "web"}}));
}

TEST(LabelSelector, RejectsMalformedSyntax) {
  EXPECT_NE(parseError("a=b,"), "");
  EXPECT_NE(parseError(",a=b"), "");
  EXPECT_NE(parseError("a=b=c"), "");
  EXPECT_NE(parseError("a b"), "");
  EXPECT_NE(parseError("a in b"), "");
  EXPECT_NE(parseError("a in (b"), "");
  EXPECT_NE(parseError("a in (b c)"), "");
  EXPECT_NE(parseError("!a=b"), "");
  EXPECT_NE(parseError("!"), "");
  EXPECT_NE(parseError("(a)"), "");
  EXPECT_NE(parseError("a=(b)"), "");
}

TEST(LabelSelector, RejectsAnEmptyValueSet) {
  EXPECT_NE(parseError("a in ()").find("at least one value"), std::string::npos);
  EXPECT_NE(parseError("a notin ()").find("at least one value"), std::string::npos);
}

TEST(LabelSelector, RejectsNumericComparisons) {
  EXPECT_NE(parseError("replicas>1").find("not supported"), std::string::npos);
  EXPECT_NE(parseError("replicas<1").find("not supported"), std::string::npos);
}

TEST(LabelSelector, ErrorNamesTheUnexpectedToken) {
  const std::string message = parseError("app=web,tier==front,)");

  EXPECT_NE(message.find("\")\""), std::string::npos) << message;
  EXPECT_NE(message.find("position 20"), std::string::npos) << message;
}

TEST(LabelSelector, RejectsInvalidKeysNamingThem) {
  EXPECT_NE(parseError("-app=x").find("key \"-app\""), std::string::npos);
  EXPECT_NE(parseError("app-=x").find("name part"), std::string::npos);
  EXPECT_NE(parseError("a/b/c=x").find("at most one '/'"), std::string::npos);
  EXPECT_NE(parseError("/name=x").find("prefix part must not be empty"), std::string::npos);
  EXPECT_NE(parseError("Example.com/name=x").find("prefix part"), std::string::npos);
  EXPECT_NE(parseError("example..com/name=x").find("prefix part"), std::string::npos);
  EXPECT_NE(parseError("example.com/=x").find("name part must not be empty"), std::string::npos);
  EXPECT_NE(parseError("a$b").find("key \"a$b\""), std::string::npos);
}

TEST(LabelSelector, EnforcesKeyAndValueLengths) {
  const std::string name63(63, 'a');
  const std::string name64(64, 'a');
  const std::string prefix253 = std::string(61, 'p') + "." + std::string(63, 'q') + "." +
                                std::string(63, 'r') + "." + std::string(63, 's');
  ASSERT_EQ(prefix253.size(), 253U);

  EXPECT_TRUE(LabelSelector::parse(name63 + "=" + name63));
  EXPECT_TRUE(LabelSelector::parse(prefix253 + "/" + name63));
  EXPECT_NE(parseError(name64).find("63"), std::string::npos);
  EXPECT_NE(parseError("k=" + name64).find("value"), std::string::npos);
  EXPECT_NE(parseError("p" + prefix253 + "/k").find("253"), std::string::npos);
}

TEST(LabelSelector, RejectsInvalidValuesNamingThem) {
  const std::string message = parseError("k in (ok, -bad)");

  EXPECT_NE(message.find("value \"-bad\" of key \"k\""), std::string::npos) << message;
  EXPECT_NE(parseError("k=a b"), "");
}

TEST(LabelSelector, NullJsonSelectsNothing) {
  const LabelSelector selector = fromJson(nullptr);

  EXPECT_TRUE(selector.isNothing());
  EXPECT_FALSE(selector.matches({}));
  EXPECT_FALSE(selector.matches({{"app", "web"}}));
}

TEST(LabelSelector, EmptyJsonSelectsEverything) {
  const LabelSelector selector = fromJson(nlohmann::json::object());

  EXPECT_FALSE(selector.isNothing());
  EXPECT_TRUE(selector.isEverything());
  EXPECT_TRUE(selector.matches({}));
}

TEST(LabelSelector, EmptyMatchListsSelectEverything) {
  EXPECT_TRUE(fromJson({{"matchLabels", nlohmann::json::object()},
                        {"matchExpressions", nlohmann::json::array()}})
                  .isEverything());
}

TEST(LabelSelector, NothingRendersAsAnUnsatisfiableQuery) {
  const LabelSelector rendered = parsed(LabelSelector::nothing().toString());

  EXPECT_FALSE(rendered.matches({}));
  EXPECT_FALSE(rendered.matches({{"libcluster.dev/selects-nothing", ""}}));
}

TEST(LabelSelector, JsonMatchLabelsAndExpressionsAreAnded) {
  const LabelSelector selector = fromJson(R"({
    "matchLabels": {"app": "web"},
    "matchExpressions": [
      {"key": "tier", "operator": "In", "values": ["front", "edge"]},
      {"key": "env", "operator": "NotIn", "values": ["dev"]},
      {"key": "release", "operator": "Exists"},
      {"key": "canary", "operator": "DoesNotExist", "values": []}
    ]
  })"_json);

  EXPECT_TRUE(selector.matches({{"app", "web"}, {"tier", "edge"}, {"release", "1"}}));
  EXPECT_FALSE(selector.matches({{"app", "web"}, {"tier", "edge"}}));
  EXPECT_FALSE(
      selector.matches({{"app", "web"}, {"tier", "edge"}, {"release", "1"}, {"env", "dev"}}));
  EXPECT_FALSE(selector.matches({{"app", "db"}, {"tier", "edge"}, {"release", "1"}}));
  EXPECT_EQ(selector.toString(), "app=web,!canary,env notin (dev),release,tier in (edge,front)");
}

TEST(LabelSelector, JsonAndStringFormsAgree) {
  EXPECT_EQ(fromJson(R"({"matchLabels": {"app": "web"},
                         "matchExpressions": [{"key": "x", "operator": "In", "values": ["b", "a"]}]})"_json),
            parsed("x in (a,b),app=web"));
}

TEST(LabelSelector, JsonRejectsMissingOrExtraValues) {
  const auto error = [](const nlohmann::json& json) {
    Result<LabelSelector> selector = LabelSelector::fromJson(json);
    EXPECT_FALSE(selector) << json.dump();
    return selector ? std::string() : selector.error().message;
  };

  EXPECT_NE(error(R"({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})"_json)
                .find("at least one value"),
            std::string::npos);
  EXPECT_NE(error(R"({"matchExpressions": [{"key": "a", "operator": "NotIn"}]})"_json)
                .find("at least one value"),
            std::string::npos);
  EXPECT_NE(
      error(R"({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})"_json)
          .find("take no values"),
      std::string::npos);
  EXPECT_NE(error(R"({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]})"_json)
                .find("\"Gt\""),
            std::string::npos);
  EXPECT_NE(error(R"({"matchLabels": {"-a": "x"}})"_json).find("key \"-a\""), std::string::npos);
  EXPECT_NE(error(R"({"matchLabels": {"a": 1}})"_json).find("must be a string"), std::string::npos);
  EXPECT_FALSE(LabelSelector::fromJson("app=web"));
}

TEST(LabelSelector, MatchesObjectLabels) {
  const LabelSelector selector = parsed("app=web");

  EXPECT_TRUE(selector.matchesObject(R"({"metadata": {"labels": {"app": "web"}}})"_json));
  EXPECT_FALSE(selector.matchesObject(R"({"metadata": {}})"_json));
  EXPECT_TRUE(parsed("!app").matchesObject(R"({"metadata": {}})"_json));
}

TEST(LabelSelector, CompactLabelsMatchAsTheirMap) {
  const std::vector<std::string> selectors{
      "",     "app=web",       "app!=web",       "!tier",
      "tier", "tier in (a,b)", "tier notin (a)", "app=web,tier=a"};
  const std::vector<Labels> labelSets{{},
                                      {{"app", "web"}},
                                      {{"app", "db"}, {"tier", "a"}},
                                      {{"app", "web"}, {"tier", "a"}},
                                      {{"tier", "c"}}};
  for (const std::string& text : selectors) {
    for (const Labels& labels : labelSets) {
      const libcluster::Labels compact(labels);

      EXPECT_EQ(parsed(text).matchesLabels(compact), parsed(text).matches(labels)) << text;
    }
    EXPECT_FALSE(LabelSelector::nothing().matchesLabels(libcluster::Labels{}));
  }
}

} // namespace
} // namespace libcluster
