#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/result.h"
#include "kube/kube_api.h"
#include "kube/json_limits.h"
#include "kube/kube_config.h"

namespace libcluster {

/// KubeApi over HTTPS (cpprestsdk + OpenSSL). Build one per process in main and share it: it keeps
/// connections alive and is safe to call from several threads at once. Every call blocks the
/// calling thread; nothing blocks cpprestsdk's thread pool.
///
/// Behaviour callers rely on:
/// - The server certificate is verified against `caPem` (the system store when empty), host name
///   included, unless `insecureSkipTlsVerify`. `tlsServerName` replaces the host for SNI and
///   verification; it is also sent as the Host header, which the API server ignores.
/// - A 429, or a 5xx on a GET/LIST/WATCH start or with Retry-After, is retried after Retry-After
///   (or a short backoff) within `maxAttempts` and `retryBudget`; then the Error carries
///   `retryAfter`. A 401 with a token file re-reads the file and, if the token changed, retries
///   once.
/// - Transport failures are Unavailable (TLS failures name the reason, e.g. "certificate verify
///   failed"), deadlines Timeout, a stop request Cancelled. No exception escapes.
/// - CallOptions bound a call below `requestTimeout`: the attempt in flight is abandoned at the
///   deadline or on stop, and no retry starts or waits past the deadline.
/// - A watch stream that breaks off (connection reset, no final chunk) is Unavailable; the
///   caller re-watches from its last resourceVersion as after a normal end.
/// - The client must outlive every call on it.
class HttpKubeApi final : public KubeApi {
public:
  /// Called once per HTTP attempt on the calling thread, e.g. for rest_client_requests_total;
  /// several threads may call it at once. `code` is the HTTP status, 0 when no response arrived;
  /// for a watch, `elapsed` ends when the response headers arrive.
  using RequestObserver =
      std::function<void(std::string_view method, int code, std::chrono::nanoseconds elapsed)>;

  struct Options {
    /// Bounds every request except a watch's body; a watch may stay open for its timeoutSeconds
    /// plus `watchGrace`, however quiet it is.
    std::chrono::milliseconds requestTimeout{30'000};
    std::chrono::seconds watchGrace{30};
    std::string userAgent = "libcluster/0.1";
    RequestObserver observer;
    int maxAttempts = 5;
    /// Total time a call may spend waiting between retries.
    std::chrono::milliseconds retryBudget{30'000};
    /// How often a token file is re-read even without a 401.
    std::chrono::seconds tokenRecheckInterval{60};
    /// For retry waits and token re-reads; nullptr means a SystemClock owned by the client.
    Clock* clock = nullptr;
    /// A watch event longer than this ends the watch with Invalid instead of growing the buffer.
    std::size_t maxWatchLineBytes = std::size_t{4} * 1024 * 1024;
    /// Responses and watch events nested deeper than this are Invalid (kube/json_limits.h).
    std::size_t maxJsonDepth = kMaxJsonDepth;
  };

  /// Validates the configuration (server URL, PEM CA/certificate/key, token file) and builds the
  /// client; a bad configuration is an Invalid Error. Connects lazily, on the first request.
  static Result<std::unique_ptr<HttpKubeApi>> create(KubeConfig config, const Options& options);
  static Result<std::unique_ptr<HttpKubeApi>> create(KubeConfig config) {
    return create(std::move(config), Options{});
  }

  /// Sizes the I/O thread pool every HttpKubeApi of the process shares (cpprestsdk's, 40 threads
  /// by default). Its threads only run socket reads and writes and hand results over (no call
  /// blocks one: callers wait on their own thread, a watch is an open socket, not a thread), so
  /// a couple are enough. For main, once, before the first create(); Invalid when `threads` is 0
  /// or the pool is already running.
  static Result<void> setIoThreads(std::size_t threads);

  ~HttpKubeApi() override;
  HttpKubeApi(const HttpKubeApi&) = delete;
  HttpKubeApi& operator=(const HttpKubeApi&) = delete;

  const std::string& server() const;

  // KubeApi
  Result<nlohmann::json> get(const ResourcePath& path, const CallOptions& call = {}) override;
  Result<nlohmann::json> list(const ResourcePath& collection, const ListOptions& options,
                              const CallOptions& call = {}) override;
  Result<void> watch(const ResourcePath& collection, const WatchOptions& options,
                     const std::function<bool(const RawWatchEvent&)>& onEvent,
                     std::stop_token stop) override;
  Result<nlohmann::json> create(const ResourcePath& collection, const nlohmann::json& object,
                                const CallOptions& call = {}) override;
  Result<nlohmann::json> replace(const ResourcePath& path, const nlohmann::json& object,
                                 const CallOptions& call = {}) override;
  Result<nlohmann::json> mergePatch(const ResourcePath& path, const nlohmann::json& patch,
                                    const CallOptions& call = {}) override;
  Result<nlohmann::json> apply(const ResourcePath& path, const nlohmann::json& object,
                               const ApplyOptions& options, const CallOptions& call = {}) override;
  Result<void> remove(const ResourcePath& path, const DeleteOptions& options = {},
                      const CallOptions& call = {}) override;

private:
  class Transport;
  explicit HttpKubeApi(std::unique_ptr<Transport> transport);

  std::unique_ptr<Transport> transport_;
};

} // namespace libcluster
