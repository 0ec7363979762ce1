#include "core/names.h"

#include <algorithm>
#include <cstddef>

namespace libcluster {
namespace {

// The C locale's classes, spelled out: std::isalnum depends on the global locale.
bool isLower(char c) { return c >= 'a' && c <= 'z'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlnum(char c) { return isLower(c) || (c >= 'A' && c <= 'Z') || isDigit(c); }

constexpr std::size_t kMaxAtomBytes = 255;

template <typename Predicate>
bool allOf(std::string_view text, Predicate predicate) {
  return std::all_of(text.begin(), text.end(), predicate);
}

bool isAliveChar(char c) { return isAlnum(c) || c == '_' || c == '-'; }
bool isHostChar(char c) { return isAliveChar(c) || c == '.' || c == ':'; }

} // namespace

bool isNodeName(std::string_view name) {
  const std::size_t at = name.find('@');
  if (name.size() > kMaxAtomBytes || at == std::string_view::npos) {
    return false;
  }
  const std::string_view alive = name.substr(0, at);
  const std::string_view host = name.substr(at + 1);
  return !alive.empty() && !host.empty() && allOf(alive, isAliveChar) && allOf(host, isHostChar);
}

bool isNodeBasename(std::string_view basename) {
  return !basename.empty() && basename.size() <= 64 && allOf(basename, isAliveChar);
}

bool isErlangModuleName(std::string_view name) {
  if (name.empty() || name.size() > kMaxAtomBytes) {
    return false;
  }
  constexpr std::string_view kElixir = "Elixir.";
  if (name.starts_with(kElixir)) {
    const std::string_view rest = name.substr(kElixir.size());
    return !rest.empty() &&
           allOf(rest, [](char c) { return isAlnum(c) || c == '_' || c == '.'; });
  }
  return isLower(name.front()) &&
         allOf(name.substr(1), [](char c) { return isAlnum(c) || c == '_' || c == '@' || c == '.'; });
}

bool isErlangFunctionName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxAtomBytes && isLower(name.front()) &&
         allOf(name.substr(1), [](char c) { return isAlnum(c) || c == '_' || c == '@'; });
}

bool isDns1123Label(std::string_view name) {
  const auto isLabelEnd = [](char c) { return isLower(c) || isDigit(c); };
  return !name.empty() && name.size() <= 63 && isLabelEnd(name.front()) &&
         isLabelEnd(name.back()) && allOf(name, [&](char c) { return isLabelEnd(c) || c == '-'; });
}

bool isDns1123Subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  while (true) {
    const std::size_t dot = name.find('.');
    if (!isDns1123Label(name.substr(0, dot))) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    name.remove_prefix(dot + 1);
  }
}

bool isTopologyName(std::string_view name) {
  return !name.empty() && name.size() <= 63 && (isAlnum(name.front()) || name.front() == '_') &&
         allOf(name, [](char c) { return isAlnum(c) || c == '_' || c == '.' || c == '-'; });
}

namespace {

/// Consumes a run of characters satisfying `predicate`; returns how many.
template <typename Predicate>
std::size_t skip(std::string_view& text, Predicate predicate) {
  const auto end = std::find_if_not(text.begin(), text.end(), predicate);
  const auto count = static_cast<std::size_t>(end - text.begin());
  text.remove_prefix(count);
  return count;
}

bool skipSign(std::string_view& text) {
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    text.remove_prefix(1);
    return true;
  }
  return false;
}

bool skipChar(std::string_view& text, char c) {
  if (!text.empty() && text.front() == c) {
    text.remove_prefix(1);
    return true;
  }
  return false;
}

bool isHexDigit(char c) { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool isOctalDigit(char c) { return c >= '0' && c <= '7'; }

bool isYamlFloat(std::string_view text) {
  skipSign(text);
  const std::size_t integerDigits = skip(text, isDigit);
  if (skipChar(text, '.')) {
    const std::size_t fractionDigits = skip(text, isDigit);
    if (integerDigits == 0 && fractionDigits == 0) {
      return false;
    }
  } else if (integerDigits == 0) {
    return false;
  }
  if (skipChar(text, 'e') || skipChar(text, 'E')) {
    skipSign(text);
    if (skip(text, isDigit) == 0) {
      return false;
    }
  }
  return text.empty();
}

} // namespace

YamlNumberForm yamlNumberForm(std::string_view text) {
  if (text.starts_with("0o") && text.size() > 2 && allOf(text.substr(2), isOctalDigit)) {
    return YamlNumberForm::Octal;
  }
  if (text.starts_with("0x") && text.size() > 2 && allOf(text.substr(2), isHexDigit)) {
    return YamlNumberForm::Hex;
  }
  std::string_view digits = text;
  skipSign(digits);
  if (!digits.empty() && allOf(digits, isDigit)) {
    return YamlNumberForm::Integer;
  }
  return isYamlFloat(text) ? YamlNumberForm::Float : YamlNumberForm::NotANumber;
}

} // namespace libcluster
