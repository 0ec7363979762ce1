#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "core/result.h"
#include "ops/bind_address.h"

namespace libcluster {

/// What a route answers.
struct HttpResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
};

/// A minimal HTTP/1.1 server for /metrics, /healthz and /readyz, on its own thread. It answers
/// GET (and HEAD) for registered paths, 404 for other paths and 405 for other methods, one
/// request per connection. Requests are size-limited and their head must arrive within
/// `headerTimeout`; connections are served side by side by one poll loop, and when
/// `maxConnections` are open a new one displaces the oldest that has not sent its request yet, so
/// idle or slow-loris clients cannot keep a probe out. Handlers run on the server thread and must
/// be quick.
class HttpProbeServer {
public:
  using Handler = std::function<HttpResponse()>;

  struct Options {
    std::string bindAddress{};
    /// The whole exchange (request in, response out) must finish within this.
    std::chrono::milliseconds requestTimeout{5000};
    /// The request head must be complete within this after accept (kubelet and Prometheus send
    /// it at once); a client still silent then is dropped without an answer.
    std::chrono::milliseconds headerTimeout{2000};
    /// Request line plus headers; larger requests get 431.
    std::size_t maxRequestBytes = 8192;
    /// Open connections; beyond it, the oldest still reading its request is closed for the new one.
    std::size_t maxConnections = 64;
  };

  explicit HttpProbeServer(Options options);
  ~HttpProbeServer();
  HttpProbeServer(const HttpProbeServer&) = delete;
  HttpProbeServer& operator=(const HttpProbeServer&) = delete;

  /// Serves `handler` at `path` (the query string is ignored when matching). Before start() only.
  void route(std::string path, Handler handler);

  /// Binds and starts the server thread. Success without a thread when the address disables
  /// serving; Invalid for a malformed address; Unavailable when the address cannot be bound.
  Result<void> start();

  /// Closes the listener and every open connection and joins the thread. Idempotent.
  void stop();

  bool isServing() const { return thread_.joinable(); }
  /// The bound port, which is the kernel's choice when the address asked for port 0; 0 while not
  /// serving.
  std::uint16_t port() const { return port_; }

private:
  void serve(std::stop_token stop);
  void closeSockets();

  Options options_;
  std::map<std::string, Handler> routes_;
  int listenFd_ = -1;
  int wakeRead_ = -1;
  int wakeWrite_ = -1;
  std::uint16_t port_ = 0;
  std::jthread thread_;
};

} // namespace libcluster
