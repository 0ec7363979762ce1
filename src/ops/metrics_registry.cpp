#include "ops/metrics_registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <type_traits>

#include "core/check.h"

namespace libcluster {
namespace {

bool isMetricName(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) {
      return false;
    }
  }
  return true;
}

bool isLabelName(std::string_view name) {
  // "le" is reserved for histogram buckets, and "__" prefixes for Prometheus itself.
  return isMetricName(name) && name.find(':') == std::string_view::npos && name != "le" &&
         !name.starts_with("__");
}

void appendEscaped(std::string& out, std::string_view text, bool escapeQuotes) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escapeQuotes) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

/// `{a="x",b="y"}`, with an optional extra pair (the histogram's `le`) at the end; nothing when
/// there are no labels at all.
void appendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extraName = {},
                  std::string_view extraValue = {}) {
  if (names.empty() && extraName.empty()) {
    return;
  }
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += names[i];
    out += "=\"";
    appendEscaped(out, values[i], true);
    out += '"';
  }
  if (!extraName.empty()) {
    if (!names.empty()) {
      out += ',';
    }
    out += extraName;
    out += "=\"";
    out += extraValue;
    out += '"';
  }
  out += '}';
}

void appendSample(std::string& out, std::string_view name, std::string_view suffix,
                  const std::vector<std::string>& labelNames,
                  const std::vector<std::string>& labelValues, double value,
                  std::string_view extraName = {}, std::string_view extraValue = {}) {
  out += name;
  out += suffix;
  appendLabels(out, labelNames, labelValues, extraName, extraValue);
  out += ' ';
  out += formatMetricValue(value);
  out += '\n';
}

template <typename Metric>
constexpr std::string_view typeName() {
  if constexpr (std::is_same_v<Metric, Counter>) {
    return "counter";
  } else if constexpr (std::is_same_v<Metric, Gauge>) {
    return "gauge";
  } else {
    return "histogram";
  }
}

} // namespace

void Counter::inc(double by) {
  CHECK(by >= 0.0, "counters only go up");
  value_.fetch_add(by, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> upperBounds)
    : upperBounds_(std::move(upperBounds)),
      counts_(std::make_unique<std::atomic<std::uint64_t>[]>(upperBounds_.size() + 1)) {
  CHECK(std::adjacent_find(upperBounds_.begin(), upperBounds_.end(),
                           [](double a, double b) { return a >= b; }) == upperBounds_.end(),
        "histogram bounds are strictly increasing");
}

void Histogram::observe(double value) {
  // Buckets are "less than or equal": a value on a bound belongs to that bound's bucket.
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(upperBounds_.begin(), upperBounds_.end(), value) - upperBounds_.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  snapshot.cumulativeCounts.reserve(upperBounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= upperBounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulativeCounts.push_back(running);
  }
  // The count is derived from the buckets so that _count always equals the +Inf bucket.
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

template <typename Metric>
MetricFamily<Metric>::MetricFamily(std::string name, std::string help,
                                   std::vector<std::string> labelNames, std::vector<double> buckets)
    : name_(std::move(name)), help_(std::move(help)), labelNames_(std::move(labelNames)),
      buckets_(std::move(buckets)) {}

template <typename Metric>
Metric& MetricFamily<Metric>::withLabels(const std::vector<std::string>& labelValues) {
  CHECK(labelValues.size() == labelNames_.size(), "one value per label name");
  std::lock_guard lock(mutex_);
  auto found = children_.find(labelValues);
  if (found == children_.end()) {
    std::unique_ptr<Metric> child;
    if constexpr (std::is_same_v<Metric, Histogram>) {
      child = std::make_unique<Histogram>(buckets_);
    } else {
      child = std::make_unique<Metric>();
    }
    found = children_.emplace(labelValues, std::move(child)).first;
  }
  return *found->second;
}

template <typename Metric>
void MetricFamily<Metric>::render(std::string& out) const {
  std::lock_guard lock(mutex_);
  if (children_.empty()) {
    return;
  }
  out += "# HELP ";
  out += name_;
  out += ' ';
  appendEscaped(out, help_, false);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += typeName<Metric>();
  out += '\n';
  for (const auto& [labelValues, child] : children_) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      const Histogram::Snapshot snapshot = child->snapshot();
      for (std::size_t i = 0; i < buckets_.size(); ++i) {
        appendSample(out, name_, "_bucket", labelNames_, labelValues,
                     static_cast<double>(snapshot.cumulativeCounts[i]), "le",
                     formatMetricValue(buckets_[i]));
      }
      appendSample(out, name_, "_bucket", labelNames_, labelValues,
                   static_cast<double>(snapshot.count), "le", "+Inf");
      appendSample(out, name_, "_sum", labelNames_, labelValues, snapshot.sum);
      appendSample(out, name_, "_count", labelNames_, labelValues,
                   static_cast<double>(snapshot.count));
    } else {
      appendSample(out, name_, "", labelNames_, labelValues, child->value());
    }
  }
}

template <typename Metric>
bool MetricFamily<Metric>::remove(const std::vector<std::string>& labelValues) {
  std::lock_guard lock(mutex_);
  return children_.erase(labelValues) > 0;
}

template class MetricFamily<Counter>;
template class MetricFamily<Gauge>;
template class MetricFamily<Histogram>;

template <typename FamilyType>
FamilyType& MetricsRegistry::findOrCreate(const std::string& name, const std::string& help,
                                          std::vector<std::string> labelNames,
                                          std::vector<double> buckets) {
  std::lock_guard lock(mutex_);
  CHECK(isMetricName(name), "metric names match [a-zA-Z_:][a-zA-Z0-9_:]*");
  for (const std::string& label : labelNames) {
    CHECK(isLabelName(label), "label names match [a-zA-Z_][a-zA-Z0-9_]* and are not reserved");
  }
  auto found = families_.find(name);
  if (found == families_.end()) {
    auto family =
        std::make_unique<FamilyType>(name, help, std::move(labelNames), std::move(buckets));
    FamilyType& created = *family;
    families_.emplace(name, std::move(family));
    return created;
  }
  auto* existing = std::get_if<std::unique_ptr<FamilyType>>(&found->second);
  CHECK(existing != nullptr, "a metric name is registered with one type only");
  CHECK((*existing)->labelNames() == labelNames, "a metric name is registered with one label set");
  CHECK((*existing)->buckets() == buckets, "a histogram name is registered with one bucket set");
  return **existing;
}

CounterFamily& MetricsRegistry::counterFamily(const std::string& name, const std::string& help,
                                              std::vector<std::string> labelNames) {
  return findOrCreate<CounterFamily>(name, help, std::move(labelNames), {});
}

GaugeFamily& MetricsRegistry::gaugeFamily(const std::string& name, const std::string& help,
                                          std::vector<std::string> labelNames) {
  return findOrCreate<GaugeFamily>(name, help, std::move(labelNames), {});
}

HistogramFamily& MetricsRegistry::histogramFamily(const std::string& name, const std::string& help,
                                                  std::vector<std::string> labelNames,
                                                  std::vector<double> buckets) {
  return findOrCreate<HistogramFamily>(name, help, std::move(labelNames), std::move(buckets));
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help) {
  return counterFamily(name, help).withLabels({});
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help) {
  return gaugeFamily(name, help).withLabels({});
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) {
    std::visit([&out](const auto& held) { held->render(out); }, family);
  }
  return out;
}

std::vector<double> exponentialBuckets(double start, double factor, int count) {
  CHECK(start > 0.0 && factor > 1.0 && count > 0, "exponential buckets grow from a positive start");
  std::vector<double> buckets;
  buckets.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    buckets.push_back(start);
    start *= factor;
  }
  return buckets;
}

std::string formatMetricValue(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  char buffer[32];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  CHECK(error == std::errc(), "32 characters hold any double");
  return std::string(buffer, end);
}

} // namespace libcluster
