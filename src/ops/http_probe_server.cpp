#include "ops/http_probe_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/log.h"

namespace libcluster {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

std::string_view reasonPhrase(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  default:
    return status < 400 ? "OK" : "Error";
  }
}

std::string serialize(const HttpResponse& response, bool withBody, std::string_view extraHeaders) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                    std::string(reasonPhrase(response.status)) + "\r\n";
  out += "Content-Type: " + response.contentType + "\r\n";
  out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  out += "Connection: close\r\n";
  out += extraHeaders;
  out += "\r\n";
  if (withBody) {
    out += response.body;
  }
  return out;
}

HttpResponse plain(int status, std::string body) {
  return HttpResponse{
      .status = status, .contentType = "text/plain; charset=utf-8", .body = std::move(body)};
}

void closeFd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

/// One accepted connection: it reads one request, then writes one response, then closes.
struct Connection {
  int fd = -1;
  SteadyTime accepted;
  SteadyTime deadline;
  std::string in{};
  std::string out{};
  std::size_t written = 0;
  bool writing = false;
  bool finished = false;
};

std::uint16_t boundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return 0;
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

/// A listening socket on the first of `candidates` that binds; errno text of the last failure.
Result<int> listenOn(const std::vector<std::pair<sockaddr_storage, socklen_t>>& candidates,
                     const std::string& description) {
  std::string lastFailure = "no address to bind";
  for (const auto& [address, length] : candidates) {
    const int fd = ::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      lastFailure = std::strerror(errno);
      continue;
    }
    const int on = 1;
    (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (address.ss_family == AF_INET6) {
      // Dual stack for the wildcard address, like Go's ":8080"; harmless for a specific address.
      const int off = 0;
      (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), length) == 0 &&
        ::listen(fd, 128) == 0) {
      return fd;
    }
    lastFailure = std::strerror(errno);
    ::close(fd);
  }
  return Error{Error::Code::Unavailable, "cannot listen on " + description + ": " + lastFailure};
}

Result<std::vector<std::pair<sockaddr_storage, socklen_t>>> resolve(const BindAddress& bind) {
  std::vector<std::pair<sockaddr_storage, socklen_t>> candidates;
  if (bind.host.empty()) {
    sockaddr_storage any6{};
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&any6);
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_any;
    v6->sin6_port = htons(bind.port);
    candidates.emplace_back(any6, static_cast<socklen_t>(sizeof(sockaddr_in6)));
    // For hosts without IPv6.
    sockaddr_storage any4{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&any4);
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_ANY);
    v4->sin_port = htons(bind.port);
    candidates.emplace_back(any4, static_cast<socklen_t>(sizeof(sockaddr_in)));
    return candidates;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(bind.port);
  if (const int status = ::getaddrinfo(bind.host.c_str(), port.c_str(), &hints, &found);
      status != 0) {
    return Error{Error::Code::Unavailable,
                 "cannot resolve bind host " + bind.host + ": " + ::gai_strerror(status)};
  }
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    sockaddr_storage address{};
    std::memcpy(&address, entry->ai_addr, entry->ai_addrlen);
    candidates.emplace_back(address, entry->ai_addrlen);
  }
  ::freeaddrinfo(found);
  return candidates;
}

/// The response to a complete request head (request line plus headers).
std::string respond(std::string_view head,
                    const std::map<std::string, HttpProbeServer::Handler>& routes) {
  const std::size_t lineEnd = head.find_first_of("\r\n");
  const std::string_view line = head.substr(0, lineEnd);
  const std::size_t firstSpace = line.find(' ');
  const std::size_t secondSpace = firstSpace == std::string_view::npos
                                      ? std::string_view::npos
                                      : line.find(' ', firstSpace + 1);
  if (secondSpace == std::string_view::npos || firstSpace == 0 ||
      !line.substr(secondSpace + 1).starts_with("HTTP/1.")) {
    return serialize(plain(400, "bad request\n"), true, "");
  }
  const std::string_view method = line.substr(0, firstSpace);
  std::string_view target = line.substr(firstSpace + 1, secondSpace - firstSpace - 1);
  target = target.substr(0, target.find('?'));
  if (method != "GET" && method != "HEAD") {
    return serialize(plain(405, "method not allowed\n"), true, "Allow: GET, HEAD\r\n");
  }
  const auto route = routes.find(std::string(target));
  if (route == routes.end()) {
    return serialize(plain(404, "not found\n"), method == "GET", "");
  }
  return serialize(route->second(), method == "GET", "");
}

/// The end of the request head, or npos while it is incomplete. Bare LF line ends are accepted
/// as RFC 9112 allows.
std::size_t headEnd(const std::string& in) {
  const std::size_t crlf = in.find("\r\n\r\n");
  const std::size_t lf = in.find("\n\n");
  return std::min(crlf, lf);
}

} // namespace

HttpProbeServer::HttpProbeServer(Options options) : options_(std::move(options)) {}

HttpProbeServer::~HttpProbeServer() { stop(); }

void HttpProbeServer::route(std::string path, Handler handler) {
  CHECK(!thread_.joinable(), "routes are fixed once the server thread reads them");
  routes_[std::move(path)] = std::move(handler);
}

Result<void> HttpProbeServer::start() {
  CHECK(!thread_.joinable(), "start() is called once");
  Result<std::optional<BindAddress>> parsed = parseBindAddress(options_.bindAddress);
  if (!parsed) {
    return parsed.error();
  }
  if (!parsed->has_value()) {
    return {};
  }
  const BindAddress& bind = **parsed;
  Result<std::vector<std::pair<sockaddr_storage, socklen_t>>> candidates = resolve(bind);
  if (!candidates) {
    return candidates.error();
  }
  Result<int> listening = listenOn(*candidates, options_.bindAddress);
  if (!listening) {
    return listening.error();
  }
  int wake[2];
  if (::pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    const int failure = errno;
    ::close(*listening);
    return Error{Error::Code::Unavailable,
                 std::string("cannot create pipe: ") + std::strerror(failure)};
  }
  listenFd_ = *listening;
  wakeRead_ = wake[0];
  wakeWrite_ = wake[1];
  port_ = boundPort(listenFd_);
  thread_ = std::jthread([this](std::stop_token stop) { serve(stop); });
  logInfo("serving http", {{"address", options_.bindAddress}, {"port", port_}});
  return {};
}

void HttpProbeServer::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    const char byte = 'x';
    // The pipe only needs to become readable; a full pipe is readable already.
    (void)!::write(wakeWrite_, &byte, 1);
    thread_.join();
  }
  closeSockets();
  port_ = 0;
}

void HttpProbeServer::closeSockets() {
  closeFd(listenFd_);
  closeFd(wakeRead_);
  closeFd(wakeWrite_);
}

void HttpProbeServer::serve(std::stop_token stop) {
  std::vector<Connection> connections;
  std::vector<pollfd> polled;
  std::vector<char> buffer(4096);
  while (!stop.stop_requested()) {
    polled.clear();
    polled.push_back(pollfd{.fd = wakeRead_, .events = POLLIN, .revents = 0});
    polled.push_back(pollfd{.fd = listenFd_, .events = POLLIN, .revents = 0});
    SteadyTime nextDeadline = SteadyTime::max();
    for (const Connection& connection : connections) {
      polled.push_back(pollfd{.fd = connection.fd,
                              .events = static_cast<short>(connection.writing ? POLLOUT : POLLIN),
                              .revents = 0});
      nextDeadline = std::min(nextDeadline, connection.deadline);
    }
    int timeoutMs = -1;
    if (nextDeadline != SteadyTime::max()) {
      const auto remaining = std::chrono::ceil<std::chrono::milliseconds>(
          nextDeadline - std::chrono::steady_clock::now());
      timeoutMs = static_cast<int>(std::clamp<std::int64_t>(remaining.count(), 0, 60'000));
    }
    if (::poll(polled.data(), polled.size(), timeoutMs) < 0 && errno != EINTR) {
      logError("http server poll failed", {{"error", std::strerror(errno)}});
      break;
    }
    if (polled[0].revents != 0) {
      break;
    }
    const SteadyTime now = std::chrono::steady_clock::now();

    for (std::size_t i = 0; i < connections.size(); ++i) {
      Connection& connection = connections[i];
      const short events = polled[i + 2].revents;
      if (events == 0) {
        continue;
      }
      if (!connection.writing) {
        const ssize_t got = ::recv(connection.fd, buffer.data(), buffer.size(), 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          connection.finished = true;
          continue;
        }
        if (got > 0) {
          connection.in.append(buffer.data(), static_cast<std::size_t>(got));
        }
        const std::size_t end = headEnd(connection.in);
        if (end != std::string::npos && end <= options_.maxRequestBytes) {
          connection.out = respond(std::string_view(connection.in).substr(0, end), routes_);
          connection.writing = true;
        } else if (connection.in.size() > options_.maxRequestBytes) {
          connection.out = serialize(plain(431, "request too large\n"), true, "");
          connection.writing = true;
        }
        if (connection.writing) {
          connection.deadline = connection.accepted + options_.requestTimeout;
        }
      } else if ((events & (POLLOUT | POLLERR | POLLHUP)) != 0) {
        const ssize_t sent = ::send(connection.fd, connection.out.data() + connection.written,
                                    connection.out.size() - connection.written, MSG_NOSIGNAL);
        if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          connection.finished = true;
          continue;
        }
        if (sent > 0) {
          connection.written += static_cast<std::size_t>(sent);
        }
        if (connection.written == connection.out.size()) {
          ::shutdown(connection.fd, SHUT_WR);
          connection.finished = true;
        }
      }
    }

    for (Connection& connection : connections) {
      if (!connection.finished && now >= connection.deadline) {
        // Too slow to send a request or to read the answer: drop it without a word, as a
        // server under a slow-loris attack should.
        connection.finished = true;
      }
      if (connection.finished) {
        closeFd(connection.fd);
      }
    }
    std::erase_if(connections, [](const Connection& connection) { return connection.finished; });

    if ((polled[1].revents & POLLIN) != 0) {
      // Bounded per round so a connect flood cannot keep the loop from serving what it accepted.
      for (std::size_t accepted = 0; accepted < options_.maxConnections; ++accepted) {
        const int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          break;
        }
        if (connections.size() >= options_.maxConnections) {
          // Full: the oldest connection that has not sent its request goes, not the newcomer,
          // so idle or slow-loris clients cannot starve a probe (a kubelet sends at once).
          auto oldest = std::find_if(connections.begin(), connections.end(),
                                     [](const Connection& c) { return !c.writing; });
          if (oldest == connections.end()) {
            int rejected = fd;
            closeFd(rejected);
            continue;
          }
          closeFd(oldest->fd);
          connections.erase(oldest);
        }
        const SteadyTime headDeadline =
            now + std::min(options_.headerTimeout, options_.requestTimeout);
        connections.push_back(Connection{.fd = fd, .accepted = now, .deadline = headDeadline});
      }
    }
  }
  for (Connection& connection : connections) {
    closeFd(connection.fd);
  }
}

} // namespace libcluster
