#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace libcluster {

/// Names a collection or one object of the Kubernetes API, e.g. the status subresource of one
/// ClusterTopology. An empty `group` is the core group (/api/v1); an empty `namespaceName` is a
/// cluster-scoped resource or, for a collection, all namespaces.
struct ResourcePath {
  std::string group{};
  std::string version = "v1";
  std::string resource{};
  std::string namespaceName{};
  std::string name{};
  std::string subresource{};

  /// The URL path, e.g. "/apis/libcluster.dev/v1alpha1/namespaces/ns/clustertopologies/x/status".
  std::string url() const;
  /// The same path naming one object of this collection.
  ResourcePath object(std::string objectName) const;

  bool operator==(const ResourcePath&) const = default;
};

/// Options of a LIST. `limit` 0 means unpaged; `continueToken` resumes a paged list.
struct ListOptions {
  std::string labelSelector{};
  std::string fieldSelector{};
  int limit = 0;
  std::string continueToken{};
  /// "" asks for a consistent read; "0" lets the server answer from its cache.
  std::string resourceVersion{};
  /// Leave each item's metadata.managedFields and kubectl last-applied-configuration annotation
  /// out of the result (they are skipped while parsing, never built): for caches.
  bool omitManagedFields = false;
  /// With omitManagedFields: build only these fields of each item, as dotted paths from the
  /// item's root ("metadata.labels" keeps the labels whole; a path through an array applies to
  /// each element; kube/object_parser.h FieldTree). apiVersion and kind are always kept. Empty
  /// keeps every field. For caches that read a few fields of large objects.
  std::vector<std::string> onlyFields{};
};

/// Options of a WATCH. `timeout` 0 leaves the server's default.
struct WatchOptions {
  std::string labelSelector{};
  std::string fieldSelector{};
  std::string resourceVersion{};
  std::chrono::seconds timeout{0};
  bool allowBookmarks = true;
  /// As ListOptions::omitManagedFields and onlyFields, for each event's object.
  bool omitManagedFields = false;
  std::vector<std::string> onlyFields{};
};

/// Options of a server-side apply.
struct ApplyOptions {
  std::string fieldManager{};
  bool force = false;
};

/// Options of a DELETE, sent as its body (meta/v1 DeleteOptions) as client-go does. Preconditions
/// fence the delete: when the object's uid or resourceVersion is no longer the one given (it was
/// recreated or rewritten since the caller read it), nothing is deleted and the call fails with
/// Conflict. Empty fields are not sent.
struct DeleteOptions {
  struct Preconditions {
    std::string uid{};
    std::string resourceVersion{};
  };
  Preconditions preconditions{};
  /// "" leaves the server's default; otherwise Orphan, Background or Foreground (anything else
  /// is Invalid before sending).
  std::string propagationPolicy{};

  bool empty() const {
    return preconditions.uid.empty() && preconditions.resourceVersion.empty() &&
           propagationPolicy.empty();
  }
};

/// What bounds one call: it fails with Timeout at `deadline` (a point of the steady clock, which is
/// what SystemClock::now() reads) and with Cancelled as soon as `stop` is requested, the request
/// being abandoned on the wire either way. Retries and waits between them stay within both. The
/// default bounds a call by the client's own request timeout alone; a deadline later than that
/// timeout does not extend it. As controller-runtime passes a context to every client call.
struct CallOptions {
  std::optional<std::chrono::steady_clock::time_point> deadline{};
  std::stop_token stop{};
};

/// One line of a watch stream: type is ADDED, MODIFIED, DELETED or BOOKMARK.
struct RawWatchEvent {
  std::string type{};
  nlohmann::json object{};
};

/// The Kubernetes API as the rest of the code sees it: JSON objects in, JSON objects out, and
/// every failure an Error (the API's Status mapped to a code; transport failures are Unavailable
/// or Timeout). Implementations are safe to call from several threads at once.
class KubeApi {
public:
  virtual ~KubeApi() = default;

  // Every call but watch takes CallOptions; the default keeps older call sites as they were.
  // Implementations repeat the same default, so the static type of the callee does not matter.

  virtual Result<nlohmann::json> get(const ResourcePath& path, const CallOptions& call = {}) = 0;
  /// One page (or the whole list when limit is 0): the List object as the server returned it.
  virtual Result<nlohmann::json> list(const ResourcePath& collection, const ListOptions& options,
                                      const CallOptions& call = {}) = 0;
  /// Blocks while the watch is open and calls `onEvent` for each event, in order.
  /// Returns success when the server ends the stream normally (e.g. timeoutSeconds passed).
  /// An ERROR event ends the watch and is returned as the Error its Status describes (410 or
  /// reason Expired/Gone → Gone). Returns Cancelled when `stop` is requested or `onEvent` returns
  /// false. A malformed line is Invalid; a stream that breaks off mid-way is Unavailable.
  virtual Result<void> watch(const ResourcePath& collection, const WatchOptions& options,
                             const std::function<bool(const RawWatchEvent&)>& onEvent,
                             std::stop_token stop) = 0;
  virtual Result<nlohmann::json> create(const ResourcePath& collection,
                                        const nlohmann::json& object,
                                        const CallOptions& call = {}) = 0;
  /// PUT; a stale metadata.resourceVersion gives Conflict.
  virtual Result<nlohmann::json> replace(const ResourcePath& path, const nlohmann::json& object,
                                         const CallOptions& call = {}) = 0;
  /// RFC 7386 JSON merge patch (application/merge-patch+json). A metadata.resourceVersion in the
  /// patch is a precondition: a different current one gives Conflict.
  virtual Result<nlohmann::json> mergePatch(const ResourcePath& path, const nlohmann::json& patch,
                                            const CallOptions& call = {}) = 0;
  /// Server-side apply (application/apply-patch+yaml) of `object`.
  virtual Result<nlohmann::json> apply(const ResourcePath& path, const nlohmann::json& object,
                                       const ApplyOptions& options,
                                       const CallOptions& call = {}) = 0;
  /// DELETE; a failed precondition gives Conflict and leaves the object as it is.
  virtual Result<void> remove(const ResourcePath& path, const DeleteOptions& options = {},
                              const CallOptions& call = {}) = 0;
};

/// Maps an HTTP status and the API's Status body (may be null or not a Status) to an Error:
/// 400/422 Invalid, 401 Unauthorized, 403 Forbidden, 404 NotFound, 409 Conflict, 410 Gone,
/// 429 TooManyRequests, 5xx Unavailable (504 Timeout); reason Expired or Gone is Gone whatever the
/// code. The message is the Status message plus any details.causes it does not already mention;
/// details.retryAfterSeconds becomes `retryAfter`.
Error errorFromStatus(int httpStatus, const nlohmann::json& body);

} // namespace libcluster
