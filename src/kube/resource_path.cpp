#include "kube/kube_api.h"

namespace libcluster {

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
    if (auto it = body.find("message"); it != body.end() && it->is_string()) {
      message = it->get<std::string>();
    }
    if (auto it = body.find("reason"); it != body.end() && it->is_string()) {
      reason = it->get<std::string>();
    }
  }
  if (message.empty()) {
    message = "HTTP " + std::to_string(httpStatus);
  }
  Error::Code code = Error::Code::Unavailable;
  if (reason == "Expired" || reason == "Gone" || httpStatus == 410) {
    code = Error::Code::Gone;
  } else if (httpStatus == 400 || httpStatus == 422 || httpStatus == 415) {
    code = Error::Code::Invalid;
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
  } else if (httpStatus >= 400) {
    code = Error::Code::Invalid;
  }
  return Error{code, message};
}

} // namespace libcluster
