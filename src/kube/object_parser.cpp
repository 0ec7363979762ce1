#include "kube/object_parser.h"

#include <string>
#include <utility>
#include <vector>

namespace libcluster {
namespace {

constexpr std::string_view kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

/// nlohmann's SAX interface, building the same tree as json::parse but skipping the values of the
/// keys isSkipped() names. Skipped values are consumed by counting nesting, never built. Deriving
/// from json_sax makes the compiler check the interface (sax_parse only needs the names); `final`
/// lets sax_parse's calls through a SkippingBuilder* be devirtualized.
class SkippingBuilder final : public nlohmann::json_sax<nlohmann::json> {
public:
  using json = nlohmann::json;

  SkippingBuilder(ObjectsAt where, const FieldTree* fields)
      : where_(where), fields_(fields != nullptr && !fields->keepsAll() ? fields : nullptr) {}

  json takeResult() { return std::move(root_); }
  const std::string& errorMessage() const { return error_; }

  bool null() override { return scalar(json(nullptr)); }
  bool boolean(bool value) override { return scalar(json(value)); }
  bool number_integer(json::number_integer_t value) override { return scalar(json(value)); }
  bool number_unsigned(json::number_unsigned_t value) override { return scalar(json(value)); }
  bool number_float(json::number_float_t value, const std::string&) override {
    return scalar(json(value));
  }
  bool string(std::string& value) override { return scalar(json(std::move(value))); }
  bool binary(json::binary_t& value) override { return scalar(json::binary(std::move(value))); }

  bool start_object(std::size_t) override { return open(json::value_t::object); }
  bool start_array(std::size_t) override { return open(json::value_t::array); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

  bool key(std::string& key) override {
    if (skipping_ > 0) {
      return true;
    }
    if (isSkipped(key) || !isSelected(key)) {
      skipNext_ = true;
      return true;
    }
    keys_.back() = std::move(key);
    return true;
  }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    error_ = "not JSON (at byte " + std::to_string(position) + ": " + e.what() + ")";
    return false;
  }

private:
  /// Whether the container that opens at `level` (0 the document) is one of the objects.
  bool isObjectAt(std::size_t level) const {
    if (where_ == ObjectsAt::ListItems) {
      return level == 2 && keys_[0] == "items" && stack_[1]->is_array();
    }
    return level == 1 && keys_[0] == "object";
  }

  /// Whether `key`, a key of the innermost open object, is one `fields_` keeps.
  bool isSelected(const std::string& key) const {
    const FieldTree* select = selects_.back();
    if (select == nullptr) {
      return true;
    }
    if (select->child(key) != nullptr) {
      return true;
    }
    return (key == "apiVersion" || key == "kind") && isObjectAt(stack_.size() - 1);
  }

  /// What `fields_` keeps of a container opening now, under the innermost open one: null for all.
  const FieldTree* selectionOfNewContainer() const {
    if (stack_.empty() || fields_ == nullptr) {
      return nullptr;
    }
    if (isObjectAt(stack_.size())) {
      return fields_;
    }
    const FieldTree* parent = selects_.back();
    if (parent == nullptr || stack_.back()->is_array()) {
      return parent; // every element of an array is selected as the array is
    }
    const FieldTree* child = parent->child(keys_.back());
    return child == nullptr || child->keepsAll() ? nullptr : child;
  }

  /// Whether the value of `key`, a key of the innermost open object, is one we leave out.
  bool isSkipped(const std::string& key) const {
    // Levels of the open containers: for a List, 0 the List, 1 items, 2 an item, 3 its metadata,
    // 4 its annotations; for a watch event, 0 the event, 1 its object, 2 metadata, 3 annotations.
    const std::size_t itemLevel = where_ == ObjectsAt::ListItems ? 2 : 1;
    const std::size_t level = stack_.size() - 1;
    if (level != itemLevel + 1 && level != itemLevel + 2) {
      return false;
    }
    if (where_ == ObjectsAt::ListItems) {
      if (keys_[0] != "items" || !stack_[1]->is_array()) {
        return false;
      }
    } else if (keys_[0] != "object") {
      return false;
    }
    if (keys_[itemLevel] != "metadata") {
      return false;
    }
    if (level == itemLevel + 1) {
      return key == "managedFields";
    }
    return keys_[itemLevel + 1] == "annotations" && key == kLastApplied;
  }

  bool scalar(json&& value) {
    if (skipping_ > 0) {
      return true;
    }
    if (skipNext_) {
      skipNext_ = false;
      return true;
    }
    (void)place(std::move(value));
    return true;
  }

  bool open(json::value_t type) {
    if (skipping_ > 0 || skipNext_) {
      skipNext_ = false;
      ++skipping_;
      return true;
    }
    const FieldTree* select = selectionOfNewContainer();
    stack_.push_back(place(json(type)));
    keys_.emplace_back();
    selects_.push_back(select);
    return true;
  }

  bool close() {
    if (skipping_ > 0) {
      --skipping_;
      return true;
    }
    stack_.pop_back();
    keys_.pop_back();
    selects_.pop_back();
    return true;
  }

  /// Puts `value` where the parse is (the root, the end of an array, or the current key of an
  /// object) and returns where it now lives.
  json* place(json&& value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.get_ref<json::array_t&>().push_back(std::move(value));
      return &parent.get_ref<json::array_t&>().back();
    }
    // A repeated key keeps the last value, as json::parse does.
    json& slot = parent.get_ref<json::object_t&>()[keys_.back()];
    slot = std::move(value);
    return &slot;
  }

  const ObjectsAt where_;
  const FieldTree* const fields_; // null: every field of each object
  json root_;
  std::vector<json*> stack_;
  std::vector<std::string> keys_; // the current key of each open container ("" in arrays)
  std::vector<const FieldTree*> selects_; // what each open container keeps (null: everything)
  std::size_t skipping_ = 0;      // nesting inside a skipped value
  bool skipNext_ = false;         // the next value is a skipped key's
  std::string error_;
};

} // namespace

FieldTree::FieldTree(const std::vector<std::string>& paths) : all_(paths.empty()) {
  for (const std::string& path : paths) {
    FieldTree* node = this;
    std::string_view rest = path;
    while (!node->all_) {
      const std::size_t dot = rest.find('.');
      FieldTree& next = node->add(rest.substr(0, dot));
      if (dot == std::string_view::npos) {
        next.all_ = true; // a shorter path keeps what a longer one named below it
        next.children_.clear();
        break;
      }
      node = &next;
      rest.remove_prefix(dot + 1);
    }
  }
}

FieldTree& FieldTree::add(std::string_view key) {
  for (auto& [name, tree] : children_) {
    if (name == key) {
      return tree;
    }
  }
  FieldTree& added = children_.emplace_back(std::string(key), FieldTree()).second;
  added.all_ = false;
  return added;
}

const FieldTree* FieldTree::child(std::string_view key) const {
  for (const auto& [name, tree] : children_) {
    if (name == key) {
      return &tree;
    }
  }
  return nullptr;
}

Result<nlohmann::json> parseObjectsWithoutManagedFields(std::string_view text, ObjectsAt where,
                                                        std::size_t maxDepth,
                                                        const FieldTree* fields) {
  if (const std::size_t depth = jsonTextDepth(text); depth > maxDepth) {
    return Error{Error::Code::Invalid,
                 "JSON nested deeper than " + std::to_string(maxDepth) + " levels"};
  }
  SkippingBuilder builder(where, fields);
  bool parsed = false;
  try {
    parsed = nlohmann::json::sax_parse(text.begin(), text.end(), &builder);
  } catch (const nlohmann::json::exception& e) {
    return Error{Error::Code::Invalid, std::string("not JSON (") + e.what() + ")"};
  }
  if (!parsed) {
    return Error{Error::Code::Invalid,
                 builder.errorMessage().empty() ? std::string("not JSON") : builder.errorMessage()};
  }
  return builder.takeResult();
}

} // namespace libcluster
