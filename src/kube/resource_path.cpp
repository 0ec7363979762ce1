#include "kube/kube_api.h"

#include <optional>

#include "core/json_field.h"

namespace libcluster {

namespace {

/// Adds the Status causes the message does not already contain, e.g. "(spec.x: Required value)".
void appendCauses(const nlohmann::json& details, std::string& message) {
  const auto causes = details.find("causes");
  if (causes == details.end() || !causes->is_array()) {
    return;
  }
  std::string extra;
  for (const nlohmann::json& cause : *causes) {
    if (!cause.is_object()) {
      continue;
    }
    const std::string field = stringField(cause, "field");
    const std::string text = stringField(cause, "message");
    std::string item = field.empty() ? text : field;
    if (!field.empty() && !text.empty()) {
      item += ": " + text;
    }
    if (item.empty() || message.find(text.empty() ? item : text) != std::string::npos) {
      continue;
    }
    extra += (extra.empty() ? "" : "; ") + item;
  }
  if (!extra.empty()) {
    message += " (" + extra + ")";
  }
}

} // namespace

std::string ResourcePath::url() const {
  std::string url = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (!namespaceName.empty()) {
    url += "/namespaces/" + namespaceName;
  }
  url += "/" + resource;
  if (!name.empty()) {
    url += "/" + name;
    if (!subresource.empty()) {
      url += "/" + subresource;
    }
  }
  return url;
}

ResourcePath ResourcePath::object(std::string objectName) const {
  ResourcePath path = *this;
  path.name = std::move(objectName);
  return path;
}

Error errorFromStatus(int httpStatus, const nlohmann::json& body) {
  std::string message;
  std::string reason;
  if (body.is_object()) {
    message = stringField(body, "message");
    reason = stringField(body, "reason");
  }
  if (message.empty()) {
    message = "HTTP " + std::to_string(httpStatus);
    if (!reason.empty()) {
      message += " " + reason;
    }
  }
  std::optional<std::chrono::milliseconds> retryAfter;
  if (body.is_object()) {
    if (auto details = body.find("details"); details != body.end() && details->is_object()) {
      appendCauses(*details, message);
      if (auto it = details->find("retryAfterSeconds");
          it != details->end() && it->is_number_integer() && it->get<long long>() > 0) {
        retryAfter = std::chrono::seconds(it->get<long long>());
      }
    }
  }
  Error::Code code = Error::Code::Unavailable;
  if (reason == "Expired" || reason == "Gone" || httpStatus == 410) {
    code = Error::Code::Gone;
  } else if (httpStatus == 401) {
    code = Error::Code::Unauthorized;
  } else if (httpStatus == 403) {
    code = Error::Code::Forbidden;
  } else if (httpStatus == 404) {
    code = Error::Code::NotFound;
  } else if (httpStatus == 409) {
    code = Error::Code::Conflict;
  } else if (httpStatus == 429) {
    code = Error::Code::TooManyRequests;
  } else if (httpStatus == 504) {
    code = Error::Code::Timeout;
  } else if (httpStatus >= 500) {
    code = Error::Code::Unavailable;
  } else if (httpStatus >= 400) { // 400, 415 and 422 among them
    code = Error::Code::Invalid;
  }
  return Error{code, message, retryAfter};
}

} // namespace libcluster
