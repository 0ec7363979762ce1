#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "beam/beam_node.h"

namespace libcluster {

/// The fixture of a test suite whose tests share real nodes (a BeamTestbed): the suite's
/// SetUpTestSuite boots them once with startNodes(); before each test every node runs again and is
/// connected to nobody; TearDownTestSuite kills them. `Suite` is the derived suite, so that each
/// suite has nodes of its own. Nodes die with the thread that started them: gtest's main thread.
template <typename Suite>
class BeamSuite : public testing::Test {
protected:
  /// Declares `names` (`extraArgs` and `isolated` as BeamTestbed::add) and boots them in
  /// parallel. A failure is fatal to the suite's set-up.
  static void startNodes(const std::vector<std::string>& names,
                         const std::vector<std::string>& extraArgs = {}, bool isolated = true,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30),
                         BeamTestbed::Discovery discovery = BeamTestbed::Discovery::SharedPort) {
    testbed_ = std::make_unique<BeamTestbed>(discovery);
    for (const std::string& name : names) {
      testbed_->add(name, extraArgs, isolated);
    }
    Result<void> started = testbed_->startAll(timeout);
    ASSERT_TRUE(started) << started.error().message;
  }
  /// startNodes(), the nodes registered with an epmd of the testbed's own
  /// (BeamTestbed::Discovery::Epmd).
  static void startNodesWithEpmd(const std::vector<std::string>& names) {
    startNodes(names, {}, true, std::chrono::seconds(30), BeamTestbed::Discovery::Epmd);
  }
  static void TearDownTestSuite() { testbed_.reset(); }

  void SetUp() override {
    ASSERT_NE(testbed_, nullptr);
    Result<void> reset = testbed_->resetAll();
    ASSERT_TRUE(reset) << reset.error().message;
  }

  static BeamNode& node(const std::string& name) { return testbed_->node(name); }

  static inline std::unique_ptr<BeamTestbed> testbed_;
};

} // namespace libcluster
