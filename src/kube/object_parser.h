#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "kube/json_limits.h"

namespace libcluster {

/// Where the Kubernetes objects sit in a JSON document: the items of a List, or the object of a
/// watch event line.
enum class ObjectsAt { ListItems, WatchEventObject };

/// The fields of an object to build, compiled from dotted paths from the object's root:
/// "metadata.labels" keeps the labels whole, "status.conditions.type" keeps only the type of each
/// condition (a path through an array applies to every element). No paths keeps every field.
/// A cache that reads a few fields of a large object (a pod's name, labels and conditions, not its
/// containers) asks for those, and the rest is never built.
class FieldTree {
public:
  FieldTree() = default;
  explicit FieldTree(const std::vector<std::string>& paths);

  /// True when every field below this point is kept.
  bool keepsAll() const { return all_; }
  /// The subtree of field `key`, or null when `key` is not kept. Only when !keepsAll().
  const FieldTree* child(std::string_view key) const;

private:
  FieldTree& add(std::string_view key);

  bool all_ = true;
  std::vector<std::pair<std::string, FieldTree>> children_;
};

/// Parses a List page or a watch event line like parseJsonWithLimits, but leaves out, while
/// parsing, what no reader of a cache needs and what makes up half of a typical pod: each object's
/// metadata.managedFields and its kubectl.kubernetes.io/last-applied-configuration annotation,
/// and, when `fields` is given, every field of each object it does not keep (apiVersion and kind
/// are always kept). What is left out is never built, so it costs neither allocation nor freeing.
/// Anything outside the objects, including fields of those names elsewhere in the document, is
/// kept as it is. Text that is not JSON or nests deeper than `maxDepth` is Invalid, as with
/// parseJsonWithLimits.
Result<nlohmann::json> parseObjectsWithoutManagedFields(std::string_view text, ObjectsAt where,
                                                        std::size_t maxDepth = kMaxJsonDepth,
                                                        const FieldTree* fields = nullptr);

} // namespace libcluster
