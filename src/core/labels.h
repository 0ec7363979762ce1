#pragma once

#include <cstddef>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace libcluster {

/// The labels of a cached object, kept small because a cache holds thousands of them: one sorted
/// vector (no tree node per label), and keys shared between objects (every pod of a workload has
/// the same label keys, so each key's text is stored once; values are short and usually fit in
/// std::string's inline buffer). Immutable once built; cheap to read from any thread.
class Labels {
public:
  struct Entry {
    std::shared_ptr<const std::string> key;
    std::string value;
  };

  Labels() = default;
  Labels(std::initializer_list<std::pair<const std::string, std::string>> labels);
  // Implicit, so code and tests written against std::map keep working.
  Labels(const std::map<std::string, std::string>& labels); // NOLINT(google-explicit-constructor)

  /// Builds from (key, value) pairs in any order; a repeated key keeps the last value.
  static Labels fromPairs(std::vector<std::pair<std::string, std::string>> pairs);

  /// The value of `key`, or null.
  const std::string* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  /// The value of `key`; aborts when there is none (as std::map::at would throw).
  const std::string& at(std::string_view key) const;
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  /// Entries ordered by key.
  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }
  std::map<std::string, std::string> toMap() const;

  bool operator==(const Labels& other) const;

private:
  std::vector<Entry> entries_;
};

} // namespace libcluster
