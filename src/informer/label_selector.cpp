#include "informer/label_selector.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

namespace libcluster {
namespace {

constexpr std::size_t kMaxNameLength = 63;
constexpr std::size_t kMaxPrefixLength = 253;
// `k,!k` can never hold, so nothing() renders as that on this key: a LIST built from it is empty.
constexpr std::string_view kNothingKey = "libcluster.dev/selects-nothing";

bool isAlphanumeric(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

bool isLowerAlphanumeric(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/// Label names and values: alphanumeric at both ends, alphanumerics and -_. inside.
bool isQualifiedNamePart(std::string_view text) {
  if (text.empty() || !isAlphanumeric(text.front()) || !isAlphanumeric(text.back())) {
    return false;
  }
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return isAlphanumeric(c) || c == '-' || c == '_' || c == '.'; });
}

/// RFC 1123 subdomain: dot-separated labels of lowercase alphanumerics and '-', alphanumeric at
/// both ends of each label.
bool isDnsSubdomain(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text.find('.', start);
    const std::string_view label =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || !isLowerAlphanumeric(label.front()) ||
        !isLowerAlphanumeric(label.back())) {
      return false;
    }
    if (!std::all_of(label.begin(), label.end(),
                     [](char c) { return isLowerAlphanumeric(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

std::string inQuotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

Error invalid(std::string message) {
  return Error{Error::Code::Invalid, "invalid label selector: " + std::move(message)};
}

std::optional<Error> checkKey(std::string_view key) {
  if (std::string problem = labelKeyProblem(key); !problem.empty()) {
    return invalid("key " + inQuotes(key) + ": " + problem);
  }
  return std::nullopt;
}

std::optional<Error> checkValues(std::string_view key, const std::vector<std::string>& values) {
  for (const std::string& value : values) {
    if (std::string problem = labelValueProblem(value); !problem.empty()) {
      return invalid("value " + inQuotes(value) + " of key " + inQuotes(key) + ": " + problem);
    }
  }
  return std::nullopt;
}

std::vector<std::string> sortedUnique(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

/// Builds a requirement after checking the key, the values and the operator's arity.
Result<LabelSelector::Requirement> makeRequirement(std::string key, LabelSelector::Operator op,
                                                   std::vector<std::string> values) {
  using Op = LabelSelector::Operator;
  if (auto error = checkKey(key)) {
    return *error;
  }
  if (auto error = checkValues(key, values)) {
    return *error;
  }
  switch (op) {
  case Op::Equals:
  case Op::NotEquals:
    if (values.size() != 1) {
      return invalid("key " + inQuotes(key) + ": an equality needs exactly one value");
    }
    break;
  case Op::In:
  case Op::NotIn:
    if (values.empty()) {
      return invalid("key " + inQuotes(key) + ": 'in' and 'notin' need at least one value");
    }
    break;
  case Op::Exists:
  case Op::DoesNotExist:
    if (!values.empty()) {
      return invalid("key " + inQuotes(key) + ": 'exists' and 'does not exist' take no values");
    }
    break;
  }
  return LabelSelector::Requirement{std::move(key), op, sortedUnique(std::move(values))};
}

enum class TokenKind {
  Word,
  Not,
  Equals,
  DoubleEquals,
  NotEquals,
  OpenParen,
  CloseParen,
  Comma,
  Unsupported,
  End
};

struct Token {
  TokenKind kind;
  std::string_view text;
  std::size_t position;
};

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool isSpecial(char c) {
  return c == '!' || c == '=' || c == '(' || c == ')' || c == ',' || c == '<' || c == '>';
}

/// Splits the string form into tokens as apimachinery's lexer does: words run until whitespace
/// or one of the operator characters.
class Lexer {
public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Token next() {
    while (position_ < text_.size() && isSpace(text_[position_])) {
      ++position_;
    }
    const std::size_t start = position_;
    if (position_ >= text_.size()) {
      return {TokenKind::End, {}, start};
    }
    const char c = text_[position_];
    const bool followedByEquals = position_ + 1 < text_.size() && text_[position_ + 1] == '=';
    switch (c) {
    case '!':
      position_ += followedByEquals ? 2 : 1;
      return {followedByEquals ? TokenKind::NotEquals : TokenKind::Not,
              text_.substr(start, position_ - start), start};
    case '=':
      position_ += followedByEquals ? 2 : 1;
      return {followedByEquals ? TokenKind::DoubleEquals : TokenKind::Equals,
              text_.substr(start, position_ - start), start};
    case '(':
      ++position_;
      return {TokenKind::OpenParen, text_.substr(start, 1), start};
    case ')':
      ++position_;
      return {TokenKind::CloseParen, text_.substr(start, 1), start};
    case ',':
      ++position_;
      return {TokenKind::Comma, text_.substr(start, 1), start};
    case '<':
    case '>':
      ++position_;
      return {TokenKind::Unsupported, text_.substr(start, 1), start};
    default:
      break;
    }
    while (position_ < text_.size() && !isSpace(text_[position_]) && !isSpecial(text_[position_])) {
      ++position_;
    }
    return {TokenKind::Word, text_.substr(start, position_ - start), start};
  }

private:
  std::string_view text_;
  std::size_t position_ = 0;
};

/// Recursive-descent parser over Lexer with one token of lookahead.
class Parser {
public:
  explicit Parser(std::string_view text) : lexer_(text) { advance(); }

  Result<std::vector<LabelSelector::Requirement>> parseAll() {
    std::vector<LabelSelector::Requirement> requirements;
    if (current_.kind == TokenKind::End) {
      return requirements;
    }
    while (true) {
      Result<LabelSelector::Requirement> requirement = parseRequirement();
      if (!requirement) {
        return requirement.error();
      }
      requirements.push_back(std::move(*requirement));
      if (current_.kind == TokenKind::End) {
        return requirements;
      }
      if (current_.kind != TokenKind::Comma) {
        return unexpected("',' or the end");
      }
      advance();
    }
  }

private:
  using Op = LabelSelector::Operator;

  void advance() { current_ = lexer_.next(); }

  Error unexpected(std::string_view expected) const {
    const std::string found = current_.kind == TokenKind::End ? "the end" : inQuotes(current_.text);
    return invalid("found " + found + " at position " + std::to_string(current_.position) +
                   ", expected " + std::string(expected));
  }

  Result<LabelSelector::Requirement> parseRequirement() {
    if (current_.kind == TokenKind::Not) {
      advance();
      if (current_.kind != TokenKind::Word) {
        return unexpected("a key after '!'");
      }
      std::string key(current_.text);
      advance();
      if (current_.kind != TokenKind::Comma && current_.kind != TokenKind::End) {
        return unexpected("',' or the end after '!" + key + "'");
      }
      return makeRequirement(std::move(key), Op::DoesNotExist, {});
    }
    if (current_.kind != TokenKind::Word) {
      return unexpected("a key");
    }
    std::string key(current_.text);
    advance();
    switch (current_.kind) {
    case TokenKind::Comma:
    case TokenKind::End:
      return makeRequirement(std::move(key), Op::Exists, {});
    case TokenKind::Equals:
    case TokenKind::DoubleEquals:
    case TokenKind::NotEquals: {
      const Op op = current_.kind == TokenKind::NotEquals ? Op::NotEquals : Op::Equals;
      advance();
      std::string value;
      if (current_.kind == TokenKind::Word) {
        value = std::string(current_.text);
        advance();
      } else if (current_.kind != TokenKind::Comma && current_.kind != TokenKind::End) {
        return unexpected("a value after key " + inQuotes(key));
      }
      return makeRequirement(std::move(key), op, {std::move(value)});
    }
    case TokenKind::Word:
      if (current_.text == "in" || current_.text == "notin") {
        const Op op = current_.text == "in" ? Op::In : Op::NotIn;
        advance();
        Result<std::vector<std::string>> values = parseValueSet(key);
        if (!values) {
          return values.error();
        }
        return makeRequirement(std::move(key), op, std::move(*values));
      }
      return unexpected("an operator (=, ==, !=, in, notin) after key " + inQuotes(key));
    case TokenKind::Unsupported:
      return invalid("key " + inQuotes(key) + ": operators '<' and '>' are not supported");
    default:
      return unexpected("an operator (=, ==, !=, in, notin) after key " + inQuotes(key));
    }
  }

  /// `(a, b)`; an empty item between commas is the empty value, as in apimachinery.
  Result<std::vector<std::string>> parseValueSet(const std::string& key) {
    if (current_.kind != TokenKind::OpenParen) {
      return unexpected("'(' after 'in' or 'notin' of key " + inQuotes(key));
    }
    advance();
    std::vector<std::string> values;
    if (current_.kind == TokenKind::CloseParen) {
      advance();
      return values;
    }
    while (true) {
      if (current_.kind == TokenKind::Word) {
        values.emplace_back(current_.text);
        advance();
      } else if (current_.kind == TokenKind::Comma || current_.kind == TokenKind::CloseParen) {
        values.emplace_back();
      } else {
        return unexpected("a value or ')' in the values of key " + inQuotes(key));
      }
      if (current_.kind == TokenKind::CloseParen) {
        advance();
        return values;
      }
      if (current_.kind != TokenKind::Comma) {
        return unexpected("',' or ')' in the values of key " + inQuotes(key));
      }
      advance();
    }
  }

  Lexer lexer_;
  Token current_{TokenKind::End, {}, 0};
};

std::string join(const std::vector<std::string>& values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += values[i];
  }
  return out;
}

std::string render(const LabelSelector::Requirement& requirement) {
  using Op = LabelSelector::Operator;
  switch (requirement.op) {
  case Op::Equals:
    return requirement.key + "=" + requirement.values.front();
  case Op::NotEquals:
    return requirement.key + "!=" + requirement.values.front();
  case Op::In:
    return requirement.key + " in (" + join(requirement.values) + ")";
  case Op::NotIn:
    return requirement.key + " notin (" + join(requirement.values) + ")";
  case Op::Exists:
    return requirement.key;
  case Op::DoesNotExist:
    return "!" + requirement.key;
  }
  return requirement.key;
}

} // namespace

std::string labelKeyProblem(std::string_view key) {
  std::string_view name = key;
  const std::size_t slash = key.find('/');
  if (slash != std::string_view::npos) {
    const std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (name.find('/') != std::string_view::npos) {
      return "must be a name with an optional prefix, containing at most one '/'";
    }
    if (prefix.empty()) {
      return "prefix part must not be empty";
    }
    if (prefix.size() > kMaxPrefixLength) {
      return "prefix part must be no more than 253 characters";
    }
    if (!isDnsSubdomain(prefix)) {
      return "prefix part must be a lowercase RFC 1123 subdomain (e.g. 'example.com')";
    }
  }
  if (name.empty()) {
    return "name part must not be empty";
  }
  if (name.size() > kMaxNameLength) {
    return "name part must be no more than 63 characters";
  }
  if (!isQualifiedNamePart(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
           "and end with an alphanumeric character";
  }
  return "";
}

std::string labelValueProblem(std::string_view value) {
  if (value.empty()) {
    return "";
  }
  if (value.size() > kMaxNameLength) {
    return "must be no more than 63 characters";
  }
  if (!isQualifiedNamePart(value)) {
    return "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
           "an alphanumeric character";
  }
  return "";
}

bool LabelSelector::Requirement::matches(const std::map<std::string, std::string>& labels) const {
  const auto found = labels.find(key);
  return matchesValue(found == labels.end() ? nullptr : &found->second);
}

bool LabelSelector::Requirement::matchesValue(const std::string* value) const {
  const bool has = value != nullptr;
  const auto listed = [&] { return std::binary_search(values.begin(), values.end(), *value); };
  switch (op) {
  case Operator::Equals:
  case Operator::In:
    return has && listed();
  case Operator::NotEquals:
  case Operator::NotIn:
    // A missing key satisfies a negative requirement, as in apimachinery.
    return !has || !listed();
  case Operator::Exists:
    return has;
  case Operator::DoesNotExist:
    return !has;
  }
  return false;
}

LabelSelector::LabelSelector(bool nothing, std::vector<Requirement> requirements)
    : nothing_(nothing), requirements_(std::move(requirements)) {
  // Sorted and deduplicated so equal selectors compare and render equal.
  std::sort(requirements_.begin(), requirements_.end());
  requirements_.erase(std::unique(requirements_.begin(), requirements_.end()), requirements_.end());
}

Result<LabelSelector> LabelSelector::parse(std::string_view text) {
  Result<std::vector<Requirement>> requirements = Parser(text).parseAll();
  if (!requirements) {
    return requirements.error();
  }
  return LabelSelector(false, std::move(*requirements));
}

Result<LabelSelector> LabelSelector::fromJson(const nlohmann::json& selector) {
  if (selector.is_null()) {
    return nothing();
  }
  if (!selector.is_object()) {
    return invalid("a LabelSelector must be an object or null");
  }
  std::vector<Requirement> requirements;
  if (auto labels = selector.find("matchLabels"); labels != selector.end() && !labels->is_null()) {
    if (!labels->is_object()) {
      return invalid("matchLabels must be an object");
    }
    for (const auto& [key, value] : labels->items()) {
      if (!value.is_string()) {
        return invalid("matchLabels value of key " + inQuotes(key) + " must be a string");
      }
      Result<Requirement> requirement =
          makeRequirement(key, Operator::Equals, {value.get<std::string>()});
      if (!requirement) {
        return requirement.error();
      }
      requirements.push_back(std::move(*requirement));
    }
  }
  if (auto expressions = selector.find("matchExpressions");
      expressions != selector.end() && !expressions->is_null()) {
    if (!expressions->is_array()) {
      return invalid("matchExpressions must be an array");
    }
    for (const nlohmann::json& expression : *expressions) {
      if (!expression.is_object() || !expression.contains("key") ||
          !expression["key"].is_string()) {
        return invalid("each matchExpressions entry needs a string key");
      }
      const std::string key = expression["key"].get<std::string>();
      const nlohmann::json& opJson = expression.value("operator", nlohmann::json());
      const std::string opName = opJson.is_string() ? opJson.get<std::string>() : "";
      Operator op;
      if (opName == "In") {
        op = Operator::In;
      } else if (opName == "NotIn") {
        op = Operator::NotIn;
      } else if (opName == "Exists") {
        op = Operator::Exists;
      } else if (opName == "DoesNotExist") {
        op = Operator::DoesNotExist;
      } else {
        return invalid("key " + inQuotes(key) + ": operator " + inQuotes(opName) +
                       " is not one of In, NotIn, Exists, DoesNotExist");
      }
      std::vector<std::string> values;
      if (auto found = expression.find("values"); found != expression.end() && !found->is_null()) {
        if (!found->is_array()) {
          return invalid("key " + inQuotes(key) + ": values must be an array of strings");
        }
        for (const nlohmann::json& value : *found) {
          if (!value.is_string()) {
            return invalid("key " + inQuotes(key) + ": values must be an array of strings");
          }
          values.push_back(value.get<std::string>());
        }
      }
      Result<Requirement> requirement = makeRequirement(key, op, std::move(values));
      if (!requirement) {
        return requirement.error();
      }
      requirements.push_back(std::move(*requirement));
    }
  }
  return LabelSelector(false, std::move(requirements));
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  if (nothing_) {
    return false;
  }
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const Requirement& requirement) { return requirement.matches(labels); });
}

bool LabelSelector::matchesLabels(const Labels& labels) const {
  if (nothing_) {
    return false;
  }
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const Requirement& requirement) {
                       return requirement.matchesValue(labels.find(requirement.key));
                     });
}

bool LabelSelector::matchesObject(const nlohmann::json& object) const {
  std::map<std::string, std::string> labels;
  if (object.is_object()) {
    const auto metadata = object.find("metadata");
    if (metadata != object.end() && metadata->is_object()) {
      const auto found = metadata->find("labels");
      if (found != metadata->end() && found->is_object()) {
        for (const auto& [key, value] : found->items()) {
          if (value.is_string()) {
            labels.emplace(key, value.get<std::string>());
          }
        }
      }
    }
  }
  return matches(labels);
}

std::string LabelSelector::toString() const {
  if (nothing_) {
    return std::string(kNothingKey) + ",!" + std::string(kNothingKey);
  }
  std::string out;
  for (const Requirement& requirement : requirements_) {
    if (!out.empty()) {
      out += ',';
    }
    out += render(requirement);
  }
  return out;
}

} // namespace libcluster
