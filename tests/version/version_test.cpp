// One version everywhere: CMake's project version is what both binaries print with --version
// (with the git commit they were built from), the chart's appVersion, the default image tag in
// values.yaml and the tag of every ghcr.io/libcluster/libcluster image the repository names.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "core/version.h"

namespace libcluster {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const std::string kVersion = LIBCLUSTER_PROJECT_VERSION;
const std::string kImage = "ghcr.io/libcluster/libcluster";

struct Output {
  int status = -1;
  std::string text;
};

/// Runs a shell command (fixed strings from this file only) and returns its exit status and stdout.
Output run(const std::string& command) {
  Output output;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return output;
  }
  std::array<char, 4096> buffer{};
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    output.text.append(buffer.data(), n);
  }
  const int status = ::pclose(pipe);
  output.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return output;
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The commit the build should report: the CMake cache's LIBCLUSTER_GIT_COMMIT when one was
/// given, else HEAD of the source checkout, else "unknown".
std::string expectedCommit() {
  if (!std::string(LIBCLUSTER_GIT_COMMIT_ARG).empty()) {
    return LIBCLUSTER_GIT_COMMIT_ARG;
  }
  const Output head =
      run("git -C '" LIBCLUSTER_SOURCE_DIR "' rev-parse --short=12 HEAD 2>/dev/null");
  if (head.status != 0 || head.text.empty()) {
    return "unknown";
  }
  return head.text.substr(0, head.text.find('\n'));
}

/// Every way the release version can disagree under `root`, one line each; empty when they agree.
std::vector<std::string> versionMismatches(const fs::path& root, const std::string& version) {
  std::vector<std::string> problems;
  try {
    const YAML::Node chart = YAML::LoadFile((root / "helm/libcluster/Chart.yaml").string());
    const std::string appVersion = chart["appVersion"] ? chart["appVersion"].as<std::string>() : "";
    if (appVersion != version) {
      problems.push_back("helm/libcluster/Chart.yaml appVersion is \"" + appVersion + "\"");
    }
    const YAML::Node values = YAML::LoadFile((root / "helm/libcluster/values.yaml").string());
    const std::string repository = values["image"]["repository"].as<std::string>("");
    const std::string tag = values["image"]["tag"].as<std::string>("");
    if (repository != kImage) {
      problems.push_back("helm/libcluster/values.yaml image.repository is \"" + repository + "\"");
    }
    if (!tag.empty() && tag != version) {
      problems.push_back("helm/libcluster/values.yaml image.tag is \"" + tag + "\"");
    }
  } catch (const YAML::Exception& error) {
    problems.push_back(std::string("chart unreadable: ") + error.what());
  }

  // Every reference to the image, wherever a user copies it from: manifests, chart, docs, README,
  // Dockerfile, scripts. A tag that is not the version (an old one, "latest") is a mismatch.
  const std::regex reference(R"(ghcr\.io/libcluster/libcluster:([A-Za-z0-9._-]+))");
  int deployReferences = 0;
  std::vector<fs::path> files = {root / "README.md", root / "Dockerfile"};
  for (const char* dir : {"deploy", "helm", "docs", "scripts"}) {
    if (!fs::is_directory(root / dir)) {
      continue;
    }
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(root / dir)) {
      if (entry.is_regular_file()) {
        files.push_back(entry.path());
      }
    }
  }
  for (const fs::path& file : files) {
    const std::string text = readFile(file);
    const std::string relative = fs::relative(file, root).string();
    for (auto it = std::sregex_iterator(text.begin(), text.end(), reference);
         it != std::sregex_iterator(); ++it) {
      if ((*it)[1] != version) {
        problems.push_back(relative + " names " + it->str());
      } else if (relative.rfind("deploy/", 0) == 0) {
        ++deployReferences;
      }
    }
  }
  if (deployReferences == 0) {
    problems.push_back("deploy/ names no " + kImage + ":" + version);
  }
  return problems;
}

TEST(VersionTest, ProjectVersionIsCompiledIn) {
  EXPECT_EQ(version(), kVersion);
  const std::string commit(gitCommit());
  EXPECT_EQ(commit.substr(0, commit.find('+')), expectedCommit());
  EXPECT_EQ(versionLine("x"), "x " + kVersion + " (commit " + std::string(gitCommit()) + ")");
}

TEST(VersionTest, BothBinariesPrintVersionAndCommit) {
  const std::string commit = expectedCommit();
  for (const auto& [name, path] : {std::pair{"libcluster-controller", LIBCLUSTER_CONTROLLER_BIN},
                                   std::pair{"libcluster-agent", LIBCLUSTER_AGENT_BIN}}) {
    SCOPED_TRACE(name);
    // No other flag and no kubeconfig, cookie or config file: --version needs none of them.
    const Output output = run(std::string("'") + path + "' --version </dev/null 2>/dev/null");
    EXPECT_EQ(output.status, 0);
    const std::regex line(std::string(name) + R"( ([0-9]+\.[0-9]+\.[0-9]+) \(commit ([0-9a-f]+|unknown)(\+dirty)?\)\n)");
    std::smatch match;
    ASSERT_TRUE(std::regex_match(output.text, match, line)) << output.text;
    EXPECT_EQ(match[1], kVersion);
    // The build may have seen uncommitted changes (+dirty); the commit itself must be HEAD's.
    EXPECT_EQ(match[2], commit.substr(0, commit.find('+')));
  }
}

TEST(VersionTest, ChartValuesAndManifestsUseTheProjectVersion) {
  EXPECT_THAT(versionMismatches(LIBCLUSTER_SOURCE_DIR, kVersion), IsEmpty());
}

TEST(VersionTest, TheCheckFindsEveryKindOfMismatch) {
  const fs::path root = fs::temp_directory_path() /
                        ("libcluster-version-test-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "helm/libcluster");
  fs::create_directories(root / "deploy/example");
  fs::create_directories(root / "docs");
  std::ofstream(root / "helm/libcluster/Chart.yaml") << "apiVersion: v2\nversion: 9.9.9\nappVersion: \"0.0.9\"\n";
  std::ofstream(root / "helm/libcluster/values.yaml")
      << "image:\n  repository: ghcr.io/libcluster/libcluster\n  tag: latest\n";
  std::ofstream(root / "deploy/20-controller.yaml") << "image: ghcr.io/libcluster/libcluster:" << kVersion << "\n";
  std::ofstream(root / "deploy/example/app.yaml") << "image: ghcr.io/libcluster/libcluster:0.0.9\n";
  std::ofstream(root / "docs/image.md") << "run `ghcr.io/libcluster/libcluster:latest`\n";
  std::ofstream(root / "README.md") << "no image here\n";
  std::ofstream(root / "Dockerfile") << "FROM debian:12-slim\n";

  EXPECT_THAT(versionMismatches(root, kVersion),
              ElementsAre(HasSubstr("Chart.yaml appVersion is \"0.0.9\""),
                          HasSubstr("values.yaml image.tag is \"latest\""),
                          "deploy/example/app.yaml names ghcr.io/libcluster/libcluster:0.0.9",
                          "docs/image.md names ghcr.io/libcluster/libcluster:latest"));

  // With no reference in deploy/ at all, the check does not pass vacuously.
  fs::remove_all(root / "deploy");
  std::ofstream(root / "helm/libcluster/Chart.yaml") << "appVersion: \"" << kVersion << "\"\n";
  std::ofstream(root / "helm/libcluster/values.yaml")
      << "image:\n  repository: ghcr.io/libcluster/libcluster\n  tag: \"\"\n";
  fs::remove(root / "docs/image.md");
  EXPECT_THAT(versionMismatches(root, kVersion),
              ElementsAre("deploy/ names no ghcr.io/libcluster/libcluster:" + kVersion));
  fs::remove_all(root);
}

} // namespace
} // namespace libcluster
