#include "ops/metrics_registry.h"

#include <algorithm>
#include <exception>
#include <type_traits>

#include <prometheus/check_names.h>
#include <prometheus/text_serializer.h>

#include "core/check.h"

namespace libcluster {
namespace {

template <typename Metric>
prometheus::Family<Metric>& registerFamily(prometheus::Registry& registry, const std::string& name,
                                           const std::string& help) {
  try {
    if constexpr (std::is_same_v<Metric, Counter>) {
      return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
    } else if constexpr (std::is_same_v<Metric, Gauge>) {
      return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
    } else {
      return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
    }
  } catch (const std::exception& rejected) {
    // Names are checked before, and each name is registered once: a throw here is a bug.
    CHECK(false, rejected.what());
    throw;
  }
}

} // namespace

template <typename Metric>
MetricFamily<Metric>::MetricFamily(prometheus::Family<Metric>& family,
                                   std::vector<std::string> labelNames, std::vector<double> buckets)
    : family_(family), labelNames_(std::move(labelNames)), buckets_(std::move(buckets)) {}

template <typename Metric>
prometheus::Labels MetricFamily<Metric>::labels(const std::vector<std::string>& labelValues) const {
  CHECK(labelValues.size() == labelNames_.size(), "one value per label name");
  prometheus::Labels labels;
  for (std::size_t i = 0; i < labelNames_.size(); ++i) {
    labels.emplace(labelNames_[i], labelValues[i]);
  }
  return labels;
}

template <typename Metric>
Metric& MetricFamily<Metric>::withLabels(const std::vector<std::string>& labelValues) {
  if constexpr (std::is_same_v<Metric, Histogram>) {
    // Returns the existing child when there is one; the buckets only shape a new child.
    return family_.Add(labels(labelValues), buckets_);
  } else {
    return family_.Add(labels(labelValues));
  }
}

template <typename Metric>
bool MetricFamily<Metric>::remove(const std::vector<std::string>& labelValues) {
  if (!family_.Has(labels(labelValues))) {
    return false;
  }
  family_.Remove(&withLabels(labelValues));
  return true;
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

template <typename Metric>
MetricFamily<Metric>&
MetricsRegistry::findOrCreate(const std::string& name, const std::string& help,
                              std::vector<std::string> labelNames, std::vector<double> buckets) {
  CHECK(prometheus::CheckMetricName(name), "metric names match [a-zA-Z_:][a-zA-Z0-9_:]*");
  // prometheus-cpp 1.0.1 writes the help text as it is: a line break or backslash would break
  // the exposition.
  CHECK(help.find_first_of("\n\\") == std::string::npos, "help is one line without backslashes");
  for (const std::string& label : labelNames) {
    CHECK(prometheus::CheckLabelName(label) && label != "le",
          "label names match [a-zA-Z_][a-zA-Z0-9_]* and are not reserved");
  }
  std::lock_guard lock(mutex_);
  auto found = families_.find(name);
  if (found == families_.end()) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      CHECK(!buckets.empty() &&
                std::adjacent_find(buckets.begin(), buckets.end(),
                                   [](double a, double b) { return a >= b; }) == buckets.end(),
            "histogram bounds are strictly increasing");
    }
    auto family = std::make_unique<MetricFamily<Metric>>(
        registerFamily<Metric>(registry_, name, help), std::move(labelNames), std::move(buckets));
    MetricFamily<Metric>& created = *family;
    families_.emplace(name, std::move(family));
    return created;
  }
  auto* existing = std::get_if<std::unique_ptr<MetricFamily<Metric>>>(&found->second);
  CHECK(existing != nullptr, "a metric name is registered with one type only");
  CHECK((*existing)->labelNames() == labelNames, "a metric name is registered with one label set");
  CHECK((*existing)->buckets() == buckets, "a histogram name is registered with one bucket set");
  return **existing;
}

CounterFamily& MetricsRegistry::counterFamily(const std::string& name, const std::string& help,
                                              std::vector<std::string> labelNames) {
  return findOrCreate<Counter>(name, help, std::move(labelNames), {});
}

GaugeFamily& MetricsRegistry::gaugeFamily(const std::string& name, const std::string& help,
                                          std::vector<std::string> labelNames) {
  return findOrCreate<Gauge>(name, help, std::move(labelNames), {});
}

HistogramFamily& MetricsRegistry::histogramFamily(const std::string& name, const std::string& help,
                                                  std::vector<std::string> labelNames,
                                                  std::vector<double> buckets) {
  return findOrCreate<Histogram>(name, help, std::move(labelNames), std::move(buckets));
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help) {
  return counterFamily(name, help).withLabels({});
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help) {
  return gaugeFamily(name, help).withLabels({});
}

std::string MetricsRegistry::render() const {
  return prometheus::TextSerializer().Serialize(registry_.Collect());
}

} // namespace libcluster
