#include "kube/json_limits.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace libcluster {

std::size_t jsonTextDepth(std::string_view text) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool inString = false;
  bool escaped = false;
  for (const char c : text) {
    if (inString) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        inString = false;
      }
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

Result<nlohmann::json> parseJsonWithLimits(std::string_view text, std::size_t maxDepth) {
  // A pre-pass rather than a parser callback: nlohmann's callback cannot stop the parse, so the
  // deep value would be built (and later copied) before it could be refused.
  if (const std::size_t depth = jsonTextDepth(text); depth > maxDepth) {
    return Error{Error::Code::Invalid, "JSON nested deeper than " + std::to_string(maxDepth) +
                                           " levels"};
  }
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded()) {
    return Error{Error::Code::Invalid, "not JSON"};
  }
  return parsed;
}

bool isJsonDeeperThan(const nlohmann::json& value, std::size_t maxDepth) {
  std::vector<std::pair<const nlohmann::json*, std::size_t>> pending{{&value, 0}};
  while (!pending.empty()) {
    const auto [node, depth] = pending.back();
    pending.pop_back();
    if (!node->is_structured()) {
      continue;
    }
    if (depth + 1 > maxDepth) {
      return true;
    }
    for (const nlohmann::json& child : *node) {
      pending.emplace_back(&child, depth + 1);
    }
  }
  return false;
}

} // namespace libcluster
