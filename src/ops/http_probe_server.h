#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
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

/// The HTTP server for /metrics, /healthz and /readyz: cpp-httplib parses and writes HTTP; this
/// class adds the connection policy a probe port needs. It answers GET and HEAD for registered
/// paths, 404 for other paths and 405 for other methods, one request per connection, each on its
/// own thread. A connection's request must arrive within `headerTimeout` and its whole exchange
/// finish within `requestTimeout` (deadlines, not per-read timeouts, so a client trickling bytes
/// is dropped too). When `maxConnections` are open a new one displaces the oldest that has not
/// sent its request yet, so idle or slow clients cannot keep a probe out. Handlers run on
/// connection threads, possibly side by side, and must be quick.
class HttpProbeServer {
public:
  using Handler = std::function<HttpResponse()>;

  struct Options {
    std::string bindAddress{};
    /// The whole exchange (request in, response out) must finish within this.
    std::chrono::milliseconds requestTimeout{5000};
    /// The request head must be complete within this after accept (kubelet and Prometheus send
    /// it at once); a client still not done then is dropped without an answer.
    std::chrono::milliseconds headerTimeout{2000};
    /// The most the server reads of a request; a larger request head gets 400.
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

  /// Binds and starts serving. Success without serving when the address disables it; Invalid for
  /// a malformed address; Unavailable when the address cannot be bound.
  Result<void> start();

  /// Closes the listener and every open connection and joins the threads. Idempotent.
  void stop();

  bool isServing() const { return listener_.joinable(); }
  /// The bound port, which is the kernel's choice when the address asked for port 0; 0 while not
  /// serving.
  std::uint16_t port() const { return port_; }

private:
  class Server; // cpp-httplib's server with the connection policy (in the .cpp only)

  Options options_;
  std::map<std::string, Handler> routes_;
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
  std::thread listener_;
};

} // namespace libcluster
