#include "ops/metrics_registry.h"

#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

/// The exposition's lines, without their order: prometheus-cpp keeps children in a hash map.
std::multiset<std::string> linesOf(const std::string& text) {
  std::multiset<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.insert(line);
  }
  return lines;
}

TEST(MetricsRegistry, RendersCountersAndGaugesInTheTextFormat) {
  MetricsRegistry registry;
  CounterFamily& total =
      registry.counterFamily("reconcile_total", "Total reconciles.", {"controller", "result"});
  total.withLabels({"topology", "success"}).Increment();
  total.withLabels({"topology", "success"}).Increment(2);
  total.withLabels({"topology", "error"}).Increment();
  registry.gauge("queue_depth", "Current depth.").Set(7);

  const std::string text = registry.render();

  EXPECT_EQ(linesOf(text), (std::multiset<std::string>{
                               "# HELP queue_depth Current depth.",
                               "# TYPE queue_depth gauge",
                               "queue_depth 7",
                               "# HELP reconcile_total Total reconciles.",
                               "# TYPE reconcile_total counter",
                               "reconcile_total{controller=\"topology\",result=\"error\"} 1",
                               "reconcile_total{controller=\"topology\",result=\"success\"} 3",
                           }))
      << text;
  EXPECT_LT(text.find("# TYPE reconcile_total counter"), text.find("reconcile_total{"));
}

TEST(MetricsRegistry, WritesLabelsByNameWhateverTheDeclaredOrder) {
  MetricsRegistry registry;
  registry.counterFamily("attempts_total", "Attempts.", {"topology", "result"})
      .withLabels({"app", "ok"})
      .Increment();

  EXPECT_NE(registry.render().find("attempts_total{result=\"ok\",topology=\"app\"} 1\n"),
            std::string::npos)
      << registry.render();
}

TEST(MetricsRegistry, RendersHistogramsWithCumulativeBuckets) {
  MetricsRegistry registry;
  Histogram& latency =
      registry.histogramFamily("work_seconds", "Work time.", {"name"}, {0.25, 1, 10})
          .withLabels({"q"});
  latency.Observe(0.125);
  latency.Observe(0.25); // on a bound: counts in that bucket ("le")
  latency.Observe(5);
  latency.Observe(100);

  EXPECT_EQ(linesOf(registry.render()), (std::multiset<std::string>{
                                            "# HELP work_seconds Work time.",
                                            "# TYPE work_seconds histogram",
                                            "work_seconds_bucket{name=\"q\",le=\"0.25\"} 2",
                                            "work_seconds_bucket{name=\"q\",le=\"1\"} 2",
                                            "work_seconds_bucket{name=\"q\",le=\"10\"} 3",
                                            "work_seconds_bucket{name=\"q\",le=\"+Inf\"} 4",
                                            "work_seconds_sum{name=\"q\"} 105.375",
                                            "work_seconds_count{name=\"q\"} 4",
                                        }));
}

TEST(MetricsRegistry, HistogramWithoutLabelsHasOnlyLe) {
  MetricsRegistry registry;
  registry.histogramFamily("h", "H.", {}, {1}).withLabels({}).Observe(2);

  const std::string text = registry.render();

  EXPECT_NE(text.find("h_bucket{le=\"1\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_bucket{le=\"+Inf\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_sum 2\n"), std::string::npos) << text;
}

TEST(MetricsRegistry, EscapesLabelValues) {
  MetricsRegistry registry;
  registry.counterFamily("c_total", "Counts \"quoted\" things.", {"path"})
      .withLabels({"a\"b\\c\nd"})
      .Increment();

  EXPECT_EQ(linesOf(registry.render()), (std::multiset<std::string>{
                                            "# HELP c_total Counts \"quoted\" things.",
                                            "# TYPE c_total counter",
                                            "c_total{path=\"a\\\"b\\\\c\\nd\"} 1",
                                        }));
}

TEST(MetricsRegistry, WritesValuesAsPrometheusReadsThem) {
  MetricsRegistry registry;
  GaugeFamily& family = registry.gaugeFamily("g", "G.", {"v"});
  family.withLabels({"small"}).Set(0.005);
  family.withLabels({"tiny"}).Set(1e-8);
  family.withLabels({"large"}).Set(123456789012.0);
  family.withLabels({"negative"}).Set(-1.5);

  const std::multiset<std::string> lines = linesOf(registry.render());

  EXPECT_TRUE(lines.contains("g{v=\"small\"} 0.005"));
  EXPECT_TRUE(lines.contains("g{v=\"tiny\"} 1e-08"));
  EXPECT_TRUE(lines.contains("g{v=\"large\"} 123456789012"));
  EXPECT_TRUE(lines.contains("g{v=\"negative\"} -1.5"));
}

TEST(MetricsRegistry, FamiliesWithoutChildrenAreNotRendered) {
  MetricsRegistry registry;
  (void)registry.counterFamily("unused_total", "Nothing yet.", {"x"});

  EXPECT_EQ(registry.render(), "");
}

TEST(MetricsRegistry, RemoveDropsOnlyThatChild) {
  MetricsRegistry registry;
  GaugeFamily& members = registry.gaugeFamily("members", "Members.", {"namespace", "name"});
  members.withLabels({"prod", "web"}).Set(3);
  members.withLabels({"prod", "api"}).Set(2);

  EXPECT_TRUE(members.remove({"prod", "web"}));
  EXPECT_FALSE(members.remove({"prod", "web"})) << "already gone";
  EXPECT_FALSE(members.remove({"prod", "never"}));

  const std::string text = registry.render();
  EXPECT_EQ(text.find("name=\"web\""), std::string::npos) << text;
  EXPECT_NE(text.find("members{name=\"api\",namespace=\"prod\"} 2\n"), std::string::npos) << text;
  EXPECT_EQ(members.withLabels({"prod", "web"}).Value(), 0) << "a new child starts from zero";
}

TEST(MetricsRegistry, RemovingTheLastChildHidesTheFamily) {
  MetricsRegistry registry;
  GaugeFamily& members = registry.gaugeFamily("members", "Members.", {"name"});
  members.withLabels({"web"}).Set(3);

  ASSERT_TRUE(members.remove({"web"}));

  EXPECT_EQ(registry.render(), "");
}

TEST(MetricsRegistry, SameNameGivesTheSameFamilyAndChildren) {
  MetricsRegistry registry;
  CounterFamily& first = registry.counterFamily("adds_total", "Adds.", {"name"});
  CounterFamily& second = registry.counterFamily("adds_total", "Adds.", {"name"});
  Counter& child = first.withLabels({"a"});

  child.Increment();
  second.withLabels({"a"}).Increment();

  EXPECT_EQ(&first, &second);
  EXPECT_EQ(&child, &second.withLabels({"a"}));
  EXPECT_EQ(child.Value(), 2);
}

TEST(MetricsRegistry, HandlesStayValidAsMoreChildrenAreAdded) {
  MetricsRegistry registry;
  CounterFamily& family = registry.counterFamily("many_total", "Many.", {"i"});
  Counter& first = family.withLabels({"0"});
  for (int i = 1; i < 1000; ++i) {
    family.withLabels({std::to_string(i)}).Increment();
  }

  first.Increment(5);

  EXPECT_EQ(family.withLabels({"0"}).Value(), 5);
}

TEST(MetricsRegistry, CountsFromManyThreads) {
  MetricsRegistry registry;
  Counter& counter = registry.counter("hits_total", "Hits.");
  Histogram& histogram = registry.histogramFamily("obs", "Obs.", {}, {1}).withLabels({});
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 10000; ++i) {
          counter.Increment();
          histogram.Observe(0.5);
        }
      });
    }
  }

  EXPECT_EQ(counter.Value(), 40000);
  const prometheus::ClientMetric collected = histogram.Collect();
  EXPECT_EQ(collected.histogram.sample_count, 40000u);
  EXPECT_EQ(collected.histogram.sample_sum, 20000);
}

TEST(MetricsRegistry, GaugeGoesBothWays) {
  MetricsRegistry registry;
  Gauge& gauge = registry.gauge("g", "G.");

  gauge.Increment(3);
  gauge.Decrement();
  EXPECT_EQ(gauge.Value(), 2);
  gauge.Set(-1.5);
  EXPECT_EQ(gauge.Value(), -1.5);
}

TEST(MetricsRegistryDeathTest, ConflictingRegistrationAborts) {
  MetricsRegistry registry;
  (void)registry.counterFamily("x_total", "X.", {"a"});
  (void)registry.histogramFamily("h_seconds", "H.", {}, {1, 2});

  EXPECT_DEATH((void)registry.gaugeFamily("x_total", "X.", {"a"}), "one type");
  EXPECT_DEATH((void)registry.counterFamily("x_total", "X.", {"b"}), "one label set");
  EXPECT_DEATH((void)registry.histogramFamily("h_seconds", "H.", {}, {1, 3}), "one bucket set");
}

TEST(MetricsRegistryDeathTest, NamesAndHelpPrometheusWouldRejectAbort) {
  MetricsRegistry registry;

  EXPECT_DEATH((void)registry.counterFamily("bad name", "X."), "metric names");
  EXPECT_DEATH((void)registry.counterFamily("y_total", "X.", {"le"}), "label names");
  EXPECT_DEATH((void)registry.counterFamily("y_total", "X.", {"__reserved"}), "label names");
  EXPECT_DEATH((void)registry.counterFamily("y_total", "Two\nlines."), "one line");
  EXPECT_DEATH((void)registry.histogramFamily("z_seconds", "Z.", {}, {2, 1}), "increasing");
}

TEST(MetricsRegistryDeathTest, WrongNumberOfLabelValuesAborts) {
  MetricsRegistry registry;
  CounterFamily& family = registry.counterFamily("w_total", "W.", {"a", "b"});

  EXPECT_DEATH((void)family.withLabels({"only-one"}), "one value per label name");
}

} // namespace
} // namespace libcluster
