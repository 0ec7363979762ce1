#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace libcluster {

/// A value that only goes up, such as a count of reconciles. Any thread may use it; inc() is one
/// atomic add.
class Counter {
public:
  /// `by` must not be negative.
  void inc(double by = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0.0};
};

/// A value that goes up and down, such as a queue depth. Any thread may use it.
class Gauge {
public:
  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  void inc(double by = 1.0) { value_.fetch_add(by, std::memory_order_relaxed); }
  void dec(double by = 1.0) { value_.fetch_sub(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

private:
  std::atomic<double> value_{0.0};
};

/// Counts observations into buckets by upper bound, plus their sum. Any thread may observe;
/// observe() is a binary search and two atomic adds.
class Histogram {
public:
  /// `upperBounds` strictly increasing; the +Inf bucket is implicit.
  explicit Histogram(std::vector<double> upperBounds);

  void observe(double value);

  struct Snapshot {
    /// One cumulative count per upper bound, then the +Inf bucket (== count).
    std::vector<std::uint64_t> cumulativeCounts;
    double sum = 0.0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& upperBounds() const { return upperBounds_; }

private:
  std::vector<double> upperBounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_; // per bucket, not cumulative; last is +Inf
  std::atomic<double> sum_{0.0};
};

/// All metrics of one name: one child per combination of label values. Children are created on
/// first use and live as long as the registry, so callers look them up once and keep the
/// reference; the lookup takes a lock, using the child does not.
template <typename Metric>
class MetricFamily {
public:
  MetricFamily(std::string name, std::string help, std::vector<std::string> labelNames,
               std::vector<double> buckets);

  /// The child for these label values, one per label name, in the family's order.
  Metric& withLabels(const std::vector<std::string>& labelValues);
  /// Drops the child for these label values (e.g. of a deleted object), so it is no longer
  /// rendered. Only for children nobody keeps a reference to; false when there was none.
  bool remove(const std::vector<std::string>& labelValues);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& labelNames() const { return labelNames_; }
  const std::vector<double>& buckets() const { return buckets_; }

  /// Appends the family in the text exposition format; nothing when it has no children yet.
  void render(std::string& out) const;

private:
  std::string name_;
  std::string help_;
  std::vector<std::string> labelNames_;
  std::vector<double> buckets_; // histograms only
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

/// The process's Prometheus metrics, rendered for /metrics in the text exposition format 0.0.4.
/// Asking twice for a family of the same name returns the same family, so several queues or
/// controllers share `workqueue_depth` and differ by label. Asking with another type or other
/// label names is a bug and aborts. Thread-safe; everything handed out lives as long as the
/// registry.
class MetricsRegistry {
public:
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  CounterFamily& counterFamily(const std::string& name, const std::string& help,
                               std::vector<std::string> labelNames = {});
  GaugeFamily& gaugeFamily(const std::string& name, const std::string& help,
                           std::vector<std::string> labelNames = {});
  HistogramFamily& histogramFamily(const std::string& name, const std::string& help,
                                   std::vector<std::string> labelNames,
                                   std::vector<double> buckets);

  /// Shorthands for metrics without labels.
  Counter& counter(const std::string& name, const std::string& help);
  Gauge& gauge(const std::string& name, const std::string& help);

  /// Every family that has children, sorted by name; children sorted by label values.
  std::string render() const;

private:
  using Family = std::variant<std::unique_ptr<CounterFamily>, std::unique_ptr<GaugeFamily>,
                              std::unique_ptr<HistogramFamily>>;

  template <typename FamilyType>
  FamilyType& findOrCreate(const std::string& name, const std::string& help,
                           std::vector<std::string> labelNames, std::vector<double> buckets);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
};

/// `count` bounds: start, start × factor, ... (Prometheus' ExponentialBuckets).
std::vector<double> exponentialBuckets(double start, double factor, int count);

/// A sample value as Prometheus writes it: shortest round-trip form, "+Inf", "-Inf", "NaN".
std::string formatMetricValue(double value);

} // namespace libcluster
