#include "core/names.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

using namespace std::string_literals;

struct Case {
  std::string text;
  bool valid;
};

/// Inputs every check must refuse: what a hostile spec, config or packet could carry.
std::vector<std::string> hostileInputs() {
  return {""s,
          std::string(1 << 20, 'a'),
          "a\0b"s,
          "app\0@host"s,
          "app@host\0"s,
          "app@host\n"s,
          "\napp@host"s,
          "app@h\xC3\xB4st"s,       // UTF-8 "ô"
          "\xC3\xA1pp@host"s,       // UTF-8 "á"
          "app\xEF\xBC\xA0host"s,   // full-width '@'
          "app@host\xFF"s,
          "\x80"s,
          "@@"s,
          "a b"s,
          "a\tb"s,
          "'a'"s,
          "\"a\""s};
}

void expectCases(bool (*check)(std::string_view), const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    EXPECT_EQ(check(c.text), c.valid) << "\"" << c.text.substr(0, 80) << "\" (" << c.text.size()
                                      << " bytes)";
  }
}

void expectRefusesHostileInputs(bool (*check)(std::string_view)) {
  for (const std::string& text : hostileInputs()) {
    EXPECT_FALSE(check(text)) << "\"" << text.substr(0, 80) << "\" (" << text.size() << " bytes)";
  }
}

TEST(IsNodeName, AcceptsAliveAtHost) {
  expectCases(isNodeName, {
                              {"app@10.0.0.1", true},
                              {"nonode@nohost", true},
                              {"app@fd00::1", true},
                              {"a-b_c@x.y-z", true},
                              {"App9@Host", true},
                              {"app@app-0.app.default.svc.cluster.local", true},
                              {"a@" + std::string(253, 'h'), true},
                              {"a@" + std::string(254, 'h'), false},
                              {"", false},
                              {"@", false},
                              {"@@", false},
                              {"app", false},
                              {"app@", false},
                              {"@host", false},
                              {"a@@b", false},
                              {"a@b@c", false},
                              {"a.b@c", false},
                              {"a@b c", false},
                              {"a@[::1]", false},
                              {"a@b\"c", false},
                              {"a@b'c", false},
                              {"a@b/c", false},
                          });
}

TEST(IsNodeName, RefusesHostileInputs) { expectRefusesHostileInputs(isNodeName); }

TEST(IsNodeBasename, AcceptsUpTo64NameCharacters) {
  expectCases(isNodeBasename, {
                                  {"app", true},
                                  {"My_app-2", true},
                                  {std::string(64, 'a'), true},
                                  {std::string(65, 'a'), false},
                                  {"", false},
                                  {"app@host", false},
                                  {"a.b", false},
                                  {"a:b", false},
                              });
}

TEST(IsNodeBasename, RefusesHostileInputs) { expectRefusesHostileInputs(isNodeBasename); }

TEST(IsErlangModuleName, AcceptsErlangAndElixirModules) {
  expectCases(isErlangModuleName, {
                                      {"net_kernel", true},
                                      {"erlang", true},
                                      {"my_app@mod.sub", true},
                                      {"m9", true},
                                      {"Elixir.MyApp.Cluster", true},
                                      {"Elixir.My_App.v2", true},
                                      {std::string(255, 'm'), true},
                                      {std::string(256, 'm'), false},
                                      {"Elixir.", false},
                                      {"Elixir", false},
                                      {"Elixir.My-App", false},
                                      {"MyApp", false},
                                      {"9lives", false},
                                      {"_mod", false},
                                      {"mod-ule", false},
                                      {"mod:fun", false},
                                      {"", false},
                                  });
}

TEST(IsErlangModuleName, RefusesHostileInputs) { expectRefusesHostileInputs(isErlangModuleName); }

TEST(IsErlangFunctionName, AcceptsLowercaseAtoms) {
  expectCases(isErlangFunctionName, {
                                        {"connect_node", true},
                                        {"nodes", true},
                                        {"f@x9", true},
                                        {std::string(255, 'f'), true},
                                        {std::string(256, 'f'), false},
                                        {"Connect", false},
                                        {"f.g", false},
                                        {"_f", false},
                                        {"f-g", false},
                                        {"", false},
                                    });
}

TEST(IsErlangFunctionName, RefusesHostileInputs) {
  expectRefusesHostileInputs(isErlangFunctionName);
}

TEST(IsDns1123Label, AcceptsNamespaceNames) {
  expectCases(isDns1123Label, {
                                  {"default", true},
                                  {"kube-system", true},
                                  {"a", true},
                                  {"0", true},
                                  {"a1-b2", true},
                                  {std::string(63, 'a'), true},
                                  {std::string(64, 'a'), false},
                                  {"-a", false},
                                  {"a-", false},
                                  {"A", false},
                                  {"a.b", false},
                                  {"a_b", false},
                                  {"", false},
                              });
}

TEST(IsDns1123Label, RefusesHostileInputs) { expectRefusesHostileInputs(isDns1123Label); }

TEST(IsDns1123Subdomain, AcceptsDotSeparatedLabels) {
  const std::string label63(63, 'a');
  expectCases(isDns1123Subdomain,
              {
                  {"web", true},
                  {"web.example.com", true},
                  {"a-1.b-2", true},
                  {label63 + "." + label63 + "." + label63 + "." + std::string(61, 'a'), true},
                  {label63 + "." + label63 + "." + label63 + "." + std::string(62, 'a'), false},
                  {std::string(64, 'a'), false},
                  {"a..b", false},
                  {".a", false},
                  {"a.", false},
                  {"a.-b", false},
                  {"a-.b", false},
                  {"Web", false},
                  {"", false},
              });
}

TEST(IsDns1123Subdomain, RefusesHostileInputs) { expectRefusesHostileInputs(isDns1123Subdomain); }

TEST(IsTopologyName, AcceptsConfigurationKeys) {
  expectCases(isTopologyName, {
                                  {"web", true},
                                  {"_k8s.v1-2", true},
                                  {"Web9", true},
                                  {std::string(63, 'a'), true},
                                  {std::string(64, 'a'), false},
                                  {".web", false},
                                  {"-web", false},
                                  {"a@b", false},
                                  {"a/b", false},
                                  {"", false},
                              });
}

TEST(IsTopologyName, RefusesHostileInputs) { expectRefusesHostileInputs(isTopologyName); }

TEST(YamlNumberForm, ClassifiesCoreSchemaNumbers) {
  const std::vector<std::pair<std::string, YamlNumberForm>> cases{
      {"0", YamlNumberForm::Integer},
      {"-12", YamlNumberForm::Integer},
      {"+7", YamlNumberForm::Integer},
      {"0o17", YamlNumberForm::Octal},
      {"0x1F", YamlNumberForm::Hex},
      {"0xff", YamlNumberForm::Hex},
      {"1.5", YamlNumberForm::Float},
      {"1.", YamlNumberForm::Float},
      {".5", YamlNumberForm::Float},
      {"-2.5e-3", YamlNumberForm::Float},
      {"1e10", YamlNumberForm::Float},
      {"+.5E+2", YamlNumberForm::Float},
      {"", YamlNumberForm::NotANumber},
      {"-", YamlNumberForm::NotANumber},
      {".", YamlNumberForm::NotANumber},
      {"e5", YamlNumberForm::NotANumber},
      {"1e", YamlNumberForm::NotANumber},
      {"1e+", YamlNumberForm::NotANumber},
      {"1.2.3", YamlNumberForm::NotANumber},
      {"0o", YamlNumberForm::NotANumber},
      {"0o8", YamlNumberForm::NotANumber},
      {"0x", YamlNumberForm::NotANumber},
      {"0xg", YamlNumberForm::NotANumber},
      {"0X1F", YamlNumberForm::NotANumber},
      {"--1", YamlNumberForm::NotANumber},
      {"1 ", YamlNumberForm::NotANumber},
      {"1\0"s, YamlNumberForm::NotANumber},
      {"\xD9\xA1", YamlNumberForm::NotANumber}, // Arabic-Indic digit one
      {".inf", YamlNumberForm::NotANumber},
      {"true", YamlNumberForm::NotANumber},
  };
  for (const auto& [text, form] : cases) {
    EXPECT_EQ(yamlNumberForm(text), form) << "\"" << text << "\"";
  }
  EXPECT_EQ(yamlNumberForm(std::string(1 << 20, '7')), YamlNumberForm::Integer);
  EXPECT_EQ(yamlNumberForm(std::string(1 << 20, '7') + "x"), YamlNumberForm::NotANumber);
}

} // namespace
} // namespace libcluster
