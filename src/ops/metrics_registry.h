#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace libcluster {

// The metrics are prometheus-cpp's own (Debian's prometheus-cpp-dev): Counter::Increment,
// Gauge::Set / Increment / Decrement, Histogram::Observe; any thread may use them.
using Counter = prometheus::Counter;
using Gauge = prometheus::Gauge;
using Histogram = prometheus::Histogram;

/// A prometheus-cpp family whose label names are fixed when it is registered: callers give the
/// values in that order, so every child of a family has the same label set. Children are created
/// on first use; callers look them up once and keep the reference (the lookup takes the family's
/// lock, using a child does not).
template <typename Metric>
class MetricFamily {
public:
  MetricFamily(prometheus::Family<Metric>& family, std::vector<std::string> labelNames,
               std::vector<double> buckets);

  /// The child for these label values, one per label name, in the family's order.
  Metric& withLabels(const std::vector<std::string>& labelValues);
  /// Drops the child for these label values (e.g. of a deleted object), so it is no longer
  /// exposed. Only for children nobody keeps a reference to; false when there was none.
  bool remove(const std::vector<std::string>& labelValues);

  const std::vector<std::string>& labelNames() const { return labelNames_; }
  const std::vector<double>& buckets() const { return buckets_; }

private:
  prometheus::Labels labels(const std::vector<std::string>& labelValues) const;

  prometheus::Family<Metric>& family_;
  std::vector<std::string> labelNames_;
  std::vector<double> buckets_; // histograms only
};

using CounterFamily = MetricFamily<Counter>;
using GaugeFamily = MetricFamily<Gauge>;
using HistogramFamily = MetricFamily<Histogram>;

/// The process's Prometheus metrics: a prometheus::Registry, exposed by prometheus-cpp's text
/// serializer (format 0.0.4). Asking twice for a family of the same name returns the same family,
/// so several queues or controllers share `workqueue_depth` and differ by label. Asking with
/// another type, other label names or other buckets is a bug and aborts, as are names
/// Prometheus would reject. Thread-safe; everything handed out lives as long as the registry.
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

  /// Every family that has children, in the text exposition format. prometheus-cpp orders
  /// families by type, then registration, and a child's labels by name.
  std::string render() const;

private:
  using Family = std::variant<std::unique_ptr<CounterFamily>, std::unique_ptr<GaugeFamily>,
                              std::unique_ptr<HistogramFamily>>;

  template <typename Metric>
  MetricFamily<Metric>& findOrCreate(const std::string& name, const std::string& help,
                                     std::vector<std::string> labelNames,
                                     std::vector<double> buckets);

  prometheus::Registry registry_;
  std::mutex mutex_;
  std::map<std::string, Family> families_;
};

} // namespace libcluster
