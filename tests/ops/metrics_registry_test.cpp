#include "ops/metrics_registry.h"

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

TEST(MetricsRegistry, RendersCountersAndGaugesInTheTextFormat) {
  MetricsRegistry registry;
  CounterFamily& total =
      registry.counterFamily("reconcile_total", "Total reconciles.", {"controller", "result"});
  total.withLabels({"topology", "success"}).inc();
  total.withLabels({"topology", "success"}).inc(2);
  total.withLabels({"topology", "error"}).inc();
  registry.gauge("queue_depth", "Current depth.").set(7);

  EXPECT_EQ(registry.render(), "# HELP queue_depth Current depth.\n"
                               "# TYPE queue_depth gauge\n"
                               "queue_depth 7\n"
                               "# HELP reconcile_total Total reconciles.\n"
                               "# TYPE reconcile_total counter\n"
                               "reconcile_total{controller=\"topology\",result=\"error\"} 1\n"
                               "reconcile_total{controller=\"topology\",result=\"success\"} 3\n");
}

TEST(MetricsRegistry, RendersHistogramsWithCumulativeBuckets) {
  MetricsRegistry registry;
  Histogram& latency =
      registry.histogramFamily("work_seconds", "Work time.", {"name"}, {0.25, 1, 10})
          .withLabels({"q"});
  latency.observe(0.125);
  latency.observe(0.25); // on a bound: counts in that bucket ("le")
  latency.observe(5);
  latency.observe(100);

  EXPECT_EQ(registry.render(), "# HELP work_seconds Work time.\n"
                               "# TYPE work_seconds histogram\n"
                               "work_seconds_bucket{name=\"q\",le=\"0.25\"} 2\n"
                               "work_seconds_bucket{name=\"q\",le=\"1\"} 2\n"
                               "work_seconds_bucket{name=\"q\",le=\"10\"} 3\n"
                               "work_seconds_bucket{name=\"q\",le=\"+Inf\"} 4\n"
                               "work_seconds_sum{name=\"q\"} 105.375\n"
                               "work_seconds_count{name=\"q\"} 4\n");
}

TEST(MetricsRegistry, HistogramWithoutLabelsHasOnlyLe) {
  MetricsRegistry registry;
  registry.histogramFamily("h", "H.", {}, {1}).withLabels({}).observe(2);

  const std::string text = registry.render();

  EXPECT_NE(text.find("h_bucket{le=\"1\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_bucket{le=\"+Inf\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_sum 2\n"), std::string::npos) << text;
}

TEST(MetricsRegistry, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  registry.counterFamily("c_total", "Line one\nback\\slash \"quoted\"", {"path"})
      .withLabels({"a\"b\\c\nd"})
      .inc();

  EXPECT_EQ(registry.render(), "# HELP c_total Line one\\nback\\\\slash \"quoted\"\n"
                               "# TYPE c_total counter\n"
                               "c_total{path=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsRegistry, FamiliesWithoutChildrenAreNotRendered) {
  MetricsRegistry registry;
  (void)registry.counterFamily("unused_total", "Nothing yet.", {"x"});

  EXPECT_EQ(registry.render(), "");
}

TEST(MetricsRegistry, SameNameGivesTheSameFamilyAndChildren) {
  MetricsRegistry registry;
  CounterFamily& first = registry.counterFamily("adds_total", "Adds.", {"name"});
  CounterFamily& second = registry.counterFamily("adds_total", "Adds.", {"name"});
  Counter& child = first.withLabels({"a"});

  child.inc();
  second.withLabels({"a"}).inc();

  EXPECT_EQ(&first, &second);
  EXPECT_EQ(&child, &second.withLabels({"a"}));
  EXPECT_EQ(child.value(), 2);
}

TEST(MetricsRegistry, HandlesStayValidAsMoreChildrenAreAdded) {
  MetricsRegistry registry;
  CounterFamily& family = registry.counterFamily("many_total", "Many.", {"i"});
  Counter& first = family.withLabels({"0"});
  for (int i = 1; i < 1000; ++i) {
    family.withLabels({std::to_string(i)}).inc();
  }

  first.inc(5);

  EXPECT_EQ(family.withLabels({"0"}).value(), 5);
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
          counter.inc();
          histogram.observe(0.5);
        }
      });
    }
  }

  EXPECT_EQ(counter.value(), 40000);
  EXPECT_EQ(histogram.snapshot().count, 40000u);
  EXPECT_EQ(histogram.snapshot().sum, 20000);
}

TEST(MetricsRegistry, GaugeGoesBothWays) {
  MetricsRegistry registry;
  Gauge& gauge = registry.gauge("g", "G.");

  gauge.inc(3);
  gauge.dec();
  EXPECT_EQ(gauge.value(), 2);
  gauge.set(-1.5);
  EXPECT_EQ(gauge.value(), -1.5);
}

TEST(MetricsRegistry, FormatsValuesAsPrometheusDoes) {
  EXPECT_EQ(formatMetricValue(1), "1");
  EXPECT_EQ(formatMetricValue(0.005), "0.005");
  EXPECT_EQ(formatMetricValue(1e-8), "1e-08");
  EXPECT_EQ(formatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(formatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(formatMetricValue(std::nan("")), "NaN");
}

TEST(MetricsRegistry, ExponentialBuckets) {
  EXPECT_EQ(exponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
}

TEST(MetricsRegistryDeathTest, ConflictingRegistrationAborts) {
  MetricsRegistry registry;
  (void)registry.counterFamily("x_total", "X.", {"a"});

  EXPECT_DEATH((void)registry.gaugeFamily("x_total", "X.", {"a"}), "one type");
  EXPECT_DEATH((void)registry.counterFamily("x_total", "X.", {"b"}), "one label set");
  EXPECT_DEATH((void)registry.counterFamily("bad name", "X."), "metric names");
}

} // namespace
} // namespace libcluster
