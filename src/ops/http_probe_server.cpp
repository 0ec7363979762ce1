#include "ops/http_probe_server.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <vector>

#include <httplib.h>

#include "core/check.h"
#include "core/log.h"

namespace libcluster {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;
using namespace std::chrono_literals;

/// Waits until `fd` is ready for `events` or `deadline` passes; false at the deadline.
bool waitFor(int fd, short events, SteadyTime deadline) {
  while (true) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) {
      return false;
    }
    pollfd polled{.fd = fd, .events = events, .revents = 0};
    const int ready = ::poll(&polled, 1, static_cast<int>(std::min(left, 60'000ms).count()));
    if (ready > 0) {
      return true; // also on hang-up or error: the next recv or send reports it
    }
    if (ready < 0 && errno != EINTR) {
      return false;
    }
  }
}

bool isTransient(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

void numericAddress(int fd, decltype(&::getpeername) which, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  std::array<char, NI_MAXHOST> host{};
  std::array<char, NI_MAXSERV> service{};
  if (which(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
      ::getnameinfo(reinterpret_cast<sockaddr*>(&address), length, host.data(), host.size(),
                    service.data(), service.size(), NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host.data();
    port = std::atoi(service.data());
  }
}

/// One connection's socket as cpp-httplib reads and writes it, under deadlines instead of
/// cpp-httplib's per-read timeouts, and reading at most `maxBytes`.
class DeadlineStream final : public httplib::Stream {
public:
  DeadlineStream(int fd, SteadyTime readDeadline, SteadyTime writeDeadline, std::size_t maxBytes)
      : fd_(fd), readDeadline_(readDeadline), writeDeadline_(writeDeadline), budget_(maxBytes) {}

  // httplib::Stream
  bool is_readable() const override { return begin_ < end_ || waitFor(fd_, POLLIN, readDeadline_); }
  bool is_writable() const override { return !late_ && waitFor(fd_, POLLOUT, writeDeadline_); }
  ssize_t read(char* out, std::size_t size) override {
    while (begin_ == end_) {
      if (budget_ == 0) {
        return -1;
      }
      if (!waitFor(fd_, POLLIN, readDeadline_)) {
        late_ = true;
        return -1;
      }
      const ssize_t got =
          ::recv(fd_, buffer_.data(), std::min(buffer_.size(), budget_), MSG_DONTWAIT);
      if (got < 0 && isTransient(errno)) {
        continue;
      }
      if (got <= 0) {
        return got;
      }
      budget_ -= static_cast<std::size_t>(got);
      begin_ = 0;
      end_ = static_cast<std::size_t>(got);
    }
    const std::size_t copied = std::min(size, end_ - begin_);
    std::memcpy(out, buffer_.data() + begin_, copied);
    begin_ += copied;
    return static_cast<ssize_t>(copied);
  }
  ssize_t write(const char* data, std::size_t size) override {
    while (true) {
      // A client too slow to send its request gets no answer, not a 400.
      if (late_ || !waitFor(fd_, POLLOUT, writeDeadline_)) {
        return -1;
      }
      const ssize_t sent = ::send(fd_, data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent >= 0 || !isTransient(errno)) {
        return sent;
      }
    }
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    numericAddress(fd_, ::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    numericAddress(fd_, ::getsockname, ip, port);
  }
  int socket() const override { return fd_; }

private:
  int fd_;
  SteadyTime readDeadline_;
  SteadyTime writeDeadline_;
  std::size_t budget_;
  bool late_ = false;
  std::array<char, 4096> buffer_{};
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

/// cpp-httplib's task queue, one thread per connection instead of a fixed pool, so a free
/// thread is never what a probe waits for; the server's displacement bounds the live ones.
class ConnectionThreads final : public httplib::TaskQueue {
public:
  void enqueue(std::function<void()> task) override {
    std::lock_guard lock(mutex_);
    for (auto finished : finished_) {
      finished->join();
      threads_.erase(finished);
    }
    finished_.clear();
    threads_.emplace_back();
    const auto self = std::prev(threads_.end());
    try {
      *self = std::thread([this, task, self] {
        task();
        std::lock_guard done(mutex_);
        finished_.push_back(self);
      });
    } catch (const std::system_error&) {
      // Out of threads: serve it here (the task closes its socket either way).
      threads_.erase(self);
      task();
    }
  }

  void shutdown() override {
    std::list<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      threads.swap(threads_);
      finished_.clear();
    }
    for (std::thread& thread : threads) {
      thread.join();
    }
  }

private:
  std::mutex mutex_;
  std::list<std::thread> threads_;
  std::vector<std::list<std::thread>::iterator> finished_;
};

HttpResponse plain(int status, std::string body) {
  return HttpResponse{.status = status, .body = std::move(body)};
}

} // namespace

class HttpProbeServer::Server final : public httplib::Server {
public:
  Server(const HttpProbeServer::Options& options,
         const std::map<std::string, HttpProbeServer::Handler>& routes)
      : options_(options), routes_(routes) {
    new_task_queue = [] { return new ConnectionThreads(); };
    set_socket_options([](int fd) {
      const int on = 1;
      // Not cpp-httplib's default SO_REUSEPORT, which would let a second server share the port.
      (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
      int domain = 0;
      socklen_t length = sizeof domain;
      if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0 && domain == AF_INET6) {
        // Dual stack for the wildcard address, like Go's ":8080"; harmless for a specific one.
        const int off = 0;
        (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
      }
    });
    set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
      answer(request, response);
      return HandlerResponse::Handled;
    });
  }

  /// Binds `host` (every interface when empty) and returns the bound port, or the failure.
  Result<std::uint16_t> bind(const BindAddress& address, const std::string& description) {
    std::string failure = "no address to bind";
    const std::vector<std::string> hosts = address.host.empty()
                                               ? std::vector<std::string>{"::", "0.0.0.0"}
                                               : std::vector<std::string>{address.host};
    for (const std::string& host : hosts) {
      errno = 0;
      const int port = address.port == 0 ? bind_to_any_port(host)
                                         : (bind_to_port(host, address.port) ? address.port : -1);
      if (port > 0) {
        // cpp-httplib listens with a backlog of 5; a burst of connects should not be dropped.
        (void)::listen(svr_sock_, 128);
        return static_cast<std::uint16_t>(port);
      }
      failure = errno != 0 ? std::strerror(errno) : "cannot resolve " + host;
    }
    return Error{Error::Code::Unavailable, "cannot listen on " + description + ": " + failure};
  }

  /// Shuts every open connection down (their threads then finish at once) and turns new ones away.
  void closeConnections() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (const Connection& connection : connections_) {
      ::shutdown(connection.fd, SHUT_RDWR);
    }
  }

private:
  struct Connection {
    int fd;
    bool readingRequest;
  };

  // httplib::Server (the hook its TLS server uses too): one request per connection, under the
  // deadlines, instead of keep-alive with per-read timeouts.
  bool process_and_close_socket(int fd) override {
    const SteadyTime accepted = std::chrono::steady_clock::now();
    if (admit(fd)) {
      DeadlineStream stream(fd,
                            accepted + std::min(options_.headerTimeout, options_.requestTimeout),
                            accepted + options_.requestTimeout, options_.maxRequestBytes);
      bool closed = false;
      (void)process_request(stream, /*close_connection=*/true, closed,
                            [this, fd](httplib::Request&) { requestRead(fd); });
    }
    {
      // Forgotten before it is closed, so a new connection reusing the number is not mistaken for
      // it.
      std::lock_guard lock(mutex_);
      std::erase_if(connections_, [fd](const Connection& c) { return c.fd == fd; });
    }
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    return true;
  }

  /// Registers a new connection; when full, the oldest still reading its request goes, not the
  /// newcomer, so idle or slow clients cannot starve a probe (a kubelet sends at once).
  bool admit(int fd) {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return false;
    }
    if (connections_.size() >= options_.maxConnections) {
      const auto oldest = std::find_if(connections_.begin(), connections_.end(),
                                       [](const Connection& c) { return c.readingRequest; });
      if (oldest == connections_.end()) {
        return false;
      }
      // Its thread sees the end of the stream and removes it.
      ::shutdown(oldest->fd, SHUT_RDWR);
      oldest->readingRequest = false;
    }
    connections_.push_back(Connection{.fd = fd, .readingRequest = true});
    return true;
  }

  void requestRead(int fd) {
    std::lock_guard lock(mutex_);
    for (Connection& connection : connections_) {
      if (connection.fd == fd) {
        connection.readingRequest = false;
      }
    }
  }

  void answer(const httplib::Request& request, httplib::Response& response) const {
    HttpResponse answered;
    if (request.method != "GET" && request.method != "HEAD") {
      answered = plain(405, "method not allowed\n");
      response.set_header("Allow", "GET, HEAD");
    } else if (const auto route = routes_.find(request.path); route != routes_.end()) {
      answered = route->second();
    } else {
      answered = plain(404, "not found\n");
    }
    response.status = answered.status;
    response.set_content(answered.body, answered.contentType);
  }

  // cpp-httplib's names (Options, Handler) hide ours in here.
  const HttpProbeServer::Options& options_;
  const std::map<std::string, HttpProbeServer::Handler>& routes_;
  std::mutex mutex_;
  bool stopping_ = false;
  std::vector<Connection> connections_; // in order of arrival; bounded by maxConnections
};

HttpProbeServer::HttpProbeServer(Options options) : options_(std::move(options)) {}

HttpProbeServer::~HttpProbeServer() { stop(); }

void HttpProbeServer::route(std::string path, Handler handler) {
  CHECK(server_ == nullptr, "routes are fixed once the server reads them");
  routes_[std::move(path)] = std::move(handler);
}

Result<void> HttpProbeServer::start() {
  CHECK(server_ == nullptr, "start() is called once");
  Result<std::optional<BindAddress>> parsed = parseBindAddress(options_.bindAddress);
  if (!parsed) {
    return parsed.error();
  }
  if (!parsed->has_value()) {
    return {};
  }
  auto server = std::make_unique<Server>(options_, routes_);
  Result<std::uint16_t> bound = server->bind(**parsed, options_.bindAddress);
  if (!bound) {
    return bound.error();
  }
  server_ = std::move(server);
  port_ = *bound;
  listener_ = std::thread([server = server_.get()] { (void)server->listen_after_bind(); });
  // stop() must find the accept loop running, or cpp-httplib's stop() would not end it.
  const SteadyTime deadline = std::chrono::steady_clock::now() + 10s;
  while (!server_->is_running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  CHECK(server_->is_running(), "the accept loop starts within 10 s");
  logInfo("serving http", {{"address", options_.bindAddress}, {"port", port_}});
  return {};
}

void HttpProbeServer::stop() {
  if (listener_.joinable()) {
    server_->closeConnections();
    server_->stop();
    listener_.join(); // after the connection threads (cpp-httplib joins its task queue)
  }
  server_.reset();
  port_ = 0;
}

} // namespace libcluster
