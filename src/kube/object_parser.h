#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "kube/json_limits.h"

namespace libcluster {

/// Where the Kubernetes objects sit in a JSON document: the items of a List, or the object of a
/// watch event line.
enum class ObjectsAt { ListItems, WatchEventObject };

/// Parses a List page or a watch event line like parseJsonWithLimits, but leaves out, while
/// parsing, what no reader of a cache needs and what makes up half of a typical pod: each object's
/// metadata.managedFields and its kubectl.kubernetes.io/last-applied-configuration annotation.
/// They are never built, so they cost neither allocation nor freeing. Anything else, including
/// fields of those names elsewhere in the document, is kept as it is. Text that is not JSON or
/// nests deeper than `maxDepth` is Invalid, as with parseJsonWithLimits.
Result<nlohmann::json> parseObjectsWithoutManagedFields(std::string_view text, ObjectsAt where,
                                                        std::size_t maxDepth = kMaxJsonDepth);

} // namespace libcluster
