#include "controller/event_recorder.h"

#include <atomic>

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"
#include "fakes/fake_kube_api.h"
#include "support/eventually.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

EventTarget target(const std::string& name) {
  return EventTarget{.apiVersion = "libcluster.io/v1alpha1",
                     .kind = "ClusterTopology",
                     .namespaceName = "default",
                     .name = name,
                     .uid = "uid-" + name};
}

std::vector<FakeKubeApi::Call> creates(const FakeKubeApi& api) {
  std::vector<FakeKubeApi::Call> out;
  for (const FakeKubeApi::Call& call : api.calls()) {
    if (call.verb == "create") {
      out.push_back(call);
    }
  }
  return out;
}

TEST(EventRecorder, EachPostIsBoundedByItsTimeoutAndTheRecordersStop) {
  FakeKubeApi api;
  FakeClock clock;
  EventRecorder::Options options;
  options.postTimeout = 1500ms;
  EventRecorder events(api, clock, options);

  events.record(target("web"), "Normal", "MembersChanged", "3 members");

  ASSERT_TRUE(eventually([&] { return creates(api).size() == 1; }));
  const FakeKubeApi::Call post = creates(api)[0];
  EXPECT_EQ(post.path.url(), "/api/v1/namespaces/default/events");
  EXPECT_EQ(post.body["reason"], "MembersChanged");
  EXPECT_EQ(post.body["involvedObject"]["uid"], "uid-web");
  ASSERT_TRUE(post.callOptions.deadline.has_value());
  EXPECT_EQ(*post.callOptions.deadline, clock.now() + 1500ms);
  // The recorder's own thread stop: shutting it down cancels a post in flight.
  EXPECT_TRUE(post.callOptions.stop.stop_possible());
}

TEST(EventRecorder, AnObjectGetsItsBurstThenNothingUntilForgotten) {
  FakeKubeApi api;
  FakeClock clock;
  EventRecorder::Options options;
  options.burst = 2;
  EventRecorder events(api, clock, options);

  for (int i = 0; i < 5; ++i) {
    events.record(target("web"), "Warning", "SourceFailed", "try " + std::to_string(i));
  }
  events.record(target("other"), "Normal", "MembersChanged", "its own bucket");

  ASSERT_TRUE(eventually([&] { return creates(api).size() == 3; }));
  EXPECT_EQ(events.trackedObjects(), 2U);
  EXPECT_GE(events.dropped(), 3U); // the three beyond web's burst
  events.forget("default", "web");
  EXPECT_EQ(events.trackedObjects(), 1U);
  events.record(target("web"), "Normal", "MembersChanged", "after forget");
  ASSERT_TRUE(eventually([&] { return creates(api).size() == 4; }));
  EXPECT_EQ(creates(api)[3].body["message"], "after forget");
}

TEST(EventRecorder, AFailedPostIsDroppedAndCounted) {
  FakeKubeApi api;
  FakeClock clock;
  api.failNext("create", Error{Error::Code::Forbidden, "events is forbidden"});
  EventRecorder events(api, clock, {});

  events.record(target("web"), "Normal", "MembersChanged", "lost");
  ASSERT_TRUE(eventually([&] { return events.dropped() == 1; }));
  EXPECT_EQ(events.posted(), 0U);
}

TEST(EventRecorder, AReplicaThatNoLongerLeadsPostsNothing) {
  FakeKubeApi api;
  FakeClock clock;
  std::atomic<bool> leading{false};
  EventRecorder::Options options;
  options.postTimeout = 5s;
  options.writeFence = [&]() -> std::optional<CallOptions> {
    if (!leading) {
      return std::nullopt;
    }
    return CallOptions{.deadline = clock.now() + 2s};
  };
  EventRecorder events(api, clock, options);

  events.record(target("web"), "Normal", "MembersChanged", "deposed");
  ASSERT_TRUE(eventually([&] { return events.dropped() == 1; }));
  EXPECT_TRUE(creates(api).empty()) << "a deposed leader's event must not reach the API";

  leading = true;
  events.record(target("web"), "Normal", "MembersChanged", "leading");
  ASSERT_TRUE(eventually([&] { return creates(api).size() == 1; }));
  ASSERT_TRUE(creates(api)[0].callOptions.deadline.has_value());
  EXPECT_EQ(*creates(api)[0].callOptions.deadline, clock.now() + 2s)
      << "bounded by the leadership's deadline when it is earlier than postTimeout";
}

} // namespace
} // namespace libcluster
