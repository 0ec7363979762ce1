#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace libcluster {

/// GETs a URL and returns its body: 2xx is success; 404 is NotFound; any other status, a
/// redirect (never followed), and transport failures are Unavailable; the deadline is Timeout; a
/// body over the size limit is Invalid (isBodyTooLarge); a stop is Cancelled. HTTPS verifies the
/// server, host name included, against the system trust store. Used for the Rancher metadata API.
using FetchUrl = std::function<Result<std::string>(const std::string& url, std::stop_token stop)>;

/// Bounds of one fetch: whoever writes the URL (a ClusterTopology editor) must not be able to
/// exhaust memory or hold a thread.
struct UrlFetchOptions {
  /// The TCP (and TLS) connect.
  std::chrono::milliseconds connectTimeout{5'000};
  /// The whole exchange, from connect to the last body byte; a slow server is cut off here.
  std::chrono::milliseconds timeout{15'000};
  /// Bodies are read in pieces and the transfer is aborted as soon as it passes this.
  std::size_t maxBodyBytes = std::size_t{1024} * 1024;
};

/// A fetcher with its own HTTP client per call (libcluster used a 15 s timeout).
FetchUrl makeUrlFetcher(UrlFetchOptions options);
FetchUrl makeUrlFetcher(std::chrono::milliseconds timeout = std::chrono::seconds(15));

/// True for the Error a FetchUrl returns when the body passed maxBodyBytes.
bool isBodyTooLarge(const Error& error);

/// An absolute http(s) URL taken apart. `host` is lower case, without IPv6 brackets.
struct HttpUrl {
  std::string scheme;
  std::string host;
  std::uint16_t port = 0;
  /// Path and query, at least "/".
  std::string target;

  bool operator==(const HttpUrl&) const = default;
};

/// Invalid for anything but http:// or https:// with a host, an optional numeric port and no
/// user info ("user@host" hides the real host from a reader), or with spaces or control bytes.
Result<HttpUrl> parseHttpUrl(std::string_view url);

/// Which hosts outbound fetches may reach: entries are "host" (any port) or "host:port" ("[::1]:80"
/// for IPv6), compared case-insensitively with the URL's host, never by prefix or suffix.
class UrlAllowList {
public:
  /// Invalid when an entry is empty or has a scheme, path or bad port.
  static Result<UrlAllowList> parse(const std::vector<std::string>& entries);

  bool allows(const HttpUrl& url) const;
  const std::vector<std::string>& entries() const { return text_; }

private:
  struct Entry {
    std::string host;
    std::uint16_t port = 0; // 0: any
  };
  std::vector<Entry> entries_;
  std::vector<std::string> text_;
};

} // namespace libcluster
