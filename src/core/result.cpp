#include "core/result.h"

namespace libcluster {

std::string_view codeName(Error::Code code) {
  switch (code) {
  case Error::Code::Invalid:
    return "Invalid";
  case Error::Code::NotFound:
    return "NotFound";
  case Error::Code::Conflict:
    return "Conflict";
  case Error::Code::Gone:
    return "Gone";
  case Error::Code::Forbidden:
    return "Forbidden";
  case Error::Code::Unauthorized:
    return "Unauthorized";
  case Error::Code::Unavailable:
    return "Unavailable";
  case Error::Code::Timeout:
    return "Timeout";
  case Error::Code::TooManyRequests:
    return "TooManyRequests";
  case Error::Code::Internal:
    return "Internal";
  case Error::Code::Cancelled:
    return "Cancelled";
  }
  return "Unknown";
}

} // namespace libcluster
