#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/labels.h"
#include "core/result.h"

namespace libcluster {

/// A Kubernetes label selector: a conjunction of requirements on an object's labels, parsed from
/// the query form (`app=x,tier in (a,b),!canary`) or from a metav1.LabelSelector. The empty
/// selector matches everything; `nothing()` (a null metav1.LabelSelector) matches no object.
/// Immutable and cheap to copy; safe to share between threads.
class LabelSelector {
public:
  enum class Operator { Equals, NotEquals, In, NotIn, Exists, DoesNotExist };

  /// One clause. `values` is sorted and duplicate-free; it holds exactly one value for
  /// Equals/NotEquals, at least one for In/NotIn and none for Exists/DoesNotExist.
  struct Requirement {
    std::string key;
    Operator op;
    std::vector<std::string> values;

    bool matches(const std::map<std::string, std::string>& labels) const;
    /// `value` is the object's value of `key`, null when it has none.
    bool matchesValue(const std::string* value) const;
    auto operator<=>(const Requirement&) const = default;
    bool operator==(const Requirement&) const = default;
  };

  /// The string form used in `labelSelector=`: equality (`k=v`, `k==v`, `k!=v`), set-based
  /// (`k in (a,b)`, `k notin (a,b)`), existence (`k`, `!k`), comma meaning AND; whitespace
  /// between tokens is ignored. "" is everything(). Errors are Invalid and name the bad part.
  static Result<LabelSelector> parse(std::string_view text);
  /// A metav1.LabelSelector: null is nothing(), `{}` is everything(); `matchLabels` ANDed with
  /// `matchExpressions` (In, NotIn, Exists, DoesNotExist).
  static Result<LabelSelector> fromJson(const nlohmann::json& selector);

  static LabelSelector everything() { return LabelSelector(false, {}); }
  static LabelSelector nothing() { return LabelSelector(true, {}); }

  bool matches(const std::map<std::string, std::string>& labels) const;
  bool matchesLabels(const Labels& labels) const;
  /// Matches the labels of a Kubernetes object (`metadata.labels`; missing means none).
  bool matchesObject(const nlohmann::json& object) const;

  /// The canonical query form: requirements sorted by key, `==` written `=`, set values sorted.
  /// everything() renders as "". nothing() has no query form; it renders as a selector no object
  /// can satisfy, so a LIST built from it returns nothing rather than everything.
  std::string toString() const;

  bool isNothing() const { return nothing_; }
  bool isEverything() const { return !nothing_ && requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }

  bool operator==(const LabelSelector&) const = default;

private:
  LabelSelector(bool nothing, std::vector<Requirement> requirements);

  bool nothing_ = false;
  std::vector<Requirement> requirements_;
};

/// Why `key` is not a valid label key (`[prefix/]name`), or "" when it is.
std::string labelKeyProblem(std::string_view key);
/// Why `value` is not a valid label value (empty, or ≤63 alphanumerics with -_. inside), or "".
std::string labelValueProblem(std::string_view value);

} // namespace libcluster
