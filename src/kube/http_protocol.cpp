#include "kube/http_protocol.h"

#include <arpa/inet.h>

#include <charconv>

namespace libcluster {
namespace {

class QueryBuilder {
public:
  void add(std::string_view key, std::string_view value) {
    query_ += query_.empty() ? '?' : '&';
    query_ += key;
    query_ += '=';
    query_ += percentEncode(value);
  }
  void addIfSet(std::string_view key, std::string_view value) {
    if (!value.empty()) {
      add(key, value);
    }
  }
  std::string str() && { return std::move(query_); }

private:
  std::string query_;
};

} // namespace

std::string percentEncode(std::string_view text) {
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (byte >= 'A' && byte <= 'Z') || (byte >= 'a' && byte <= 'z') ||
                            (byte >= '0' && byte <= '9') || byte == '-' || byte == '.' ||
                            byte == '_' || byte == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0F]);
    }
  }
  return out;
}

std::string listQuery(const ListOptions& options) {
  QueryBuilder query;
  query.addIfSet("labelSelector", options.labelSelector);
  query.addIfSet("fieldSelector", options.fieldSelector);
  if (options.limit > 0) {
    query.add("limit", std::to_string(options.limit));
  }
  query.addIfSet("continue", options.continueToken);
  query.addIfSet("resourceVersion", options.resourceVersion);
  return std::move(query).str();
}

std::string watchQuery(const WatchOptions& options) {
  QueryBuilder query;
  query.add("watch", "1");
  if (options.allowBookmarks) {
    query.add("allowWatchBookmarks", "true");
  }
  if (options.timeout.count() > 0) {
    query.add("timeoutSeconds", std::to_string(options.timeout.count()));
  }
  query.addIfSet("resourceVersion", options.resourceVersion);
  query.addIfSet("labelSelector", options.labelSelector);
  query.addIfSet("fieldSelector", options.fieldSelector);
  return std::move(query).str();
}

std::string applyQuery(const ApplyOptions& options) {
  QueryBuilder query;
  query.add("fieldManager", options.fieldManager);
  if (options.force) {
    query.add("force", "true");
  }
  return std::move(query).str();
}

Result<std::string> deleteBody(const DeleteOptions& options) {
  const std::string& policy = options.propagationPolicy;
  if (!policy.empty() && policy != "Orphan" && policy != "Background" && policy != "Foreground") {
    return Error{Error::Code::Invalid,
                 "propagationPolicy \"" + policy + "\" is not Orphan, Background or Foreground"};
  }
  nlohmann::json body{{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (!options.preconditions.uid.empty()) {
    body["preconditions"]["uid"] = options.preconditions.uid;
  }
  if (!options.preconditions.resourceVersion.empty()) {
    body["preconditions"]["resourceVersion"] = options.preconditions.resourceVersion;
  }
  if (!policy.empty()) {
    body["propagationPolicy"] = policy;
  }
  return body.dump();
}

std::optional<std::chrono::seconds> parseRetryAfter(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  long long seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || seconds < 0) {
    return std::nullopt;
  }
  return std::chrono::seconds(seconds);
}

bool isIpLiteral(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string text(host);
  unsigned char address[16];
  return inet_pton(AF_INET, text.c_str(), address) == 1 ||
         inet_pton(AF_INET6, text.c_str(), address) == 1;
}

} // namespace libcluster
