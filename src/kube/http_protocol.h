#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "kube/kube_api.h"

namespace libcluster {

// The small pure pieces of HttpKubeApi's wire protocol, kept apart so they can be unit-tested.

/// Percent-encodes a query value: everything but RFC 3986 unreserved characters.
std::string percentEncode(std::string_view text);

/// The query string of a LIST, starting with "?", or "" when there is nothing to ask.
std::string listQuery(const ListOptions& options);

/// "?watch=1&allowWatchBookmarks=true&timeoutSeconds=N&resourceVersion=RV..." for a WATCH.
std::string watchQuery(const WatchOptions& options);

/// "?fieldManager=M[&force=true]" for a server-side apply.
std::string applyQuery(const ApplyOptions& options);

/// The DELETE body for `options`: a meta/v1 DeleteOptions holding only the fields set, or Invalid
/// for a propagationPolicy Kubernetes does not know. Call only when !options.empty().
Result<std::string> deleteBody(const DeleteOptions& options);

/// A Retry-After header in delta-seconds; nullopt for an HTTP-date or anything else.
std::optional<std::chrono::seconds> parseRetryAfter(std::string_view value);

/// True when `host` is an IPv4 or IPv6 literal (IPv6 possibly in brackets). TLS sends no SNI for
/// those, as Go's crypto/tls does not either.
bool isIpLiteral(std::string_view host);

} // namespace libcluster
