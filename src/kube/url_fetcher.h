#pragma once

#include <chrono>
#include <functional>
#include <stop_token>
#include <string>

#include "core/result.h"

namespace libcluster {

/// GETs a URL and returns its body: 2xx is success; other statuses are Unavailable (5xx) or
/// NotFound/Invalid; transport failures Unavailable; the timeout Timeout; a stop Cancelled.
/// HTTPS verifies the server against the system trust store. Used for the Rancher metadata API.
using FetchUrl = std::function<Result<std::string>(const std::string& url, std::stop_token stop)>;

/// A fetcher with its own HTTP client per call, bounded by `timeout` (libcluster used 15 s).
FetchUrl makeUrlFetcher(std::chrono::milliseconds timeout = std::chrono::seconds(15));

} // namespace libcluster
