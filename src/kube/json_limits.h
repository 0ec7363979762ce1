#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace libcluster {

/// Nesting deeper than this is refused in anything read from the API. Kubernetes objects stay far
/// below it; copying, comparing or printing an nlohmann::json recurses once per level, so a
/// 200 000-deep array would overflow the stack of whoever touched it next.
inline constexpr std::size_t kMaxJsonDepth = 128;

/// The deepest nesting of arrays and objects in `text`, counted without parsing and without
/// recursion (strings and escapes are skipped). Meaningful for valid JSON; for other text it is
/// only an upper bound on what a parser would build.
std::size_t jsonTextDepth(std::string_view text);

/// Parses `text` unless it nests deeper than `maxDepth` (Invalid, "nested deeper than ...") or
/// is not JSON (Invalid, "not JSON"). Never throws, never recurses on the input.
Result<nlohmann::json> parseJsonWithLimits(std::string_view text,
                                           std::size_t maxDepth = kMaxJsonDepth);

/// True when `value` nests deeper than `maxDepth`; walks iteratively, so it is safe on any value.
bool isJsonDeeperThan(const nlohmann::json& value, std::size_t maxDepth);

} // namespace libcluster
