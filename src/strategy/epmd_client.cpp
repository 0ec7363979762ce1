#include "strategy/epmd_client.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace libcluster {
namespace {

using namespace std::chrono_literals;

constexpr char kNamesRequest = 'n'; // NAMES_REQ (110)
// epmd lists every registered node; far more than any host runs, far less than memory.
constexpr std::size_t kMaxReplyBytes = 1 << 20;
// How often a blocked wait looks at the stop token.
constexpr auto kStopCheck = 50ms;

class Socket {
public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

private:
  int fd_;
};

bool parsePort(std::string_view text, int& port) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
  return error == std::errc() && end == text.data() + text.size() && port > 0 && port <= 65535;
}

/// Waits for `events` on `fd` until the deadline or a stop; Timeout / Cancelled otherwise.
Result<void> waitFor(int fd, short events, std::chrono::steady_clock::time_point deadline,
                     const std::stop_token& stop, const std::string& what) {
  while (true) {
    if (stop.stop_requested()) {
      return Error{Error::Code::Cancelled, what + ": stopped"};
    }
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= 0ns) {
      return Error{Error::Code::Timeout, what + ": timed out"};
    }
    const auto slice = std::min<std::chrono::nanoseconds>(left, kStopCheck);
    pollfd descriptor{fd, events, 0};
    const int ready =
        ::poll(&descriptor, 1,
               static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(slice).count()));
    if (ready > 0) {
      return {};
    }
    if (ready < 0 && errno != EINTR) {
      return Error{Error::Code::Unavailable, what + ": " + std::strerror(errno)};
    }
  }
}

} // namespace

Result<std::vector<EpmdName>> parseEpmdNamesReply(std::string_view reply) {
  if (reply.size() < 4) {
    return Error{Error::Code::Invalid, "epmd names reply is " + std::to_string(reply.size()) +
                                           " bytes, shorter than its 4-byte header"};
  }
  std::string_view text = reply.substr(4);
  std::vector<EpmdName> names;
  int lineNumber = 0;
  while (!text.empty()) {
    ++lineNumber;
    const std::size_t newline = text.find('\n');
    if (newline == std::string_view::npos) {
      return Error{Error::Code::Invalid,
                   "epmd names reply ends in the middle of line " + std::to_string(lineNumber)};
    }
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline + 1);
    constexpr std::string_view kName = "name ";
    constexpr std::string_view kAtPort = " at port ";
    const std::size_t at = line.rfind(kAtPort);
    EpmdName entry;
    if (!line.starts_with(kName) || at == std::string_view::npos || at <= kName.size() ||
        !parsePort(line.substr(at + kAtPort.size()), entry.port)) {
      return Error{Error::Code::Invalid, "epmd names reply line " + std::to_string(lineNumber) +
                                             " is not \"name <node> at port <port>\""};
    }
    entry.name = std::string(line.substr(kName.size(), at - kName.size()));
    names.push_back(std::move(entry));
  }
  return names;
}

Result<std::vector<EpmdName>> queryEpmdNames(const std::string& address, std::uint16_t port,
                                             std::chrono::milliseconds timeout,
                                             std::stop_token stop) {
  const std::string what =
      "epmd at " + (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" +
      std::to_string(port);
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string portText = std::to_string(port);
  if (::getaddrinfo(address.c_str(), portText.c_str(), &hints, &found) != 0 || found == nullptr) {
    return Error{Error::Code::Invalid, what + ": \"" + address + "\" is not an IP address"};
  }
  Socket socket(::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (socket.fd() < 0) {
    ::freeaddrinfo(found);
    return Error{Error::Code::Unavailable, what + ": socket: " + std::strerror(errno)};
  }
  const int connected = ::connect(socket.fd(), found->ai_addr, found->ai_addrlen);
  const int connectErrno = errno;
  ::freeaddrinfo(found);
  if (connected != 0 && connectErrno != EINPROGRESS) {
    return Error{Error::Code::Unavailable, what + ": " + std::strerror(connectErrno)};
  }
  if (connected != 0) {
    if (Result<void> ready = waitFor(socket.fd(), POLLOUT, deadline, stop, what); !ready) {
      return ready.error();
    }
    int socketError = 0;
    socklen_t length = sizeof socketError;
    ::getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &socketError, &length);
    if (socketError != 0) {
      return Error{Error::Code::Unavailable, what + ": " + std::strerror(socketError)};
    }
  }

  const char request[3] = {0, 1, kNamesRequest}; // 2-byte big-endian length, then the request
  std::size_t sent = 0;
  while (sent < sizeof request) {
    const ssize_t n = ::send(socket.fd(), request + sent, sizeof request - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (Result<void> ready = waitFor(socket.fd(), POLLOUT, deadline, stop, what); !ready) {
        return ready.error();
      }
    } else {
      return Error{Error::Code::Unavailable, what + ": send: " + std::strerror(errno)};
    }
  }

  // epmd answers and closes the connection: the reply is everything until end of stream.
  std::string reply;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::recv(socket.fd(), buffer, sizeof buffer, 0);
    if (n > 0) {
      reply.append(buffer, static_cast<std::size_t>(n));
      if (reply.size() > kMaxReplyBytes) {
        return Error{Error::Code::Invalid, what + ": names reply larger than 1 MiB"};
      }
    } else if (n == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (Result<void> ready = waitFor(socket.fd(), POLLIN, deadline, stop, what); !ready) {
        return ready.error();
      }
    } else {
      return Error{Error::Code::Unavailable, what + ": recv: " + std::strerror(errno)};
    }
  }
  Result<std::vector<EpmdName>> names = parseEpmdNamesReply(reply);
  if (!names) {
    return Error{names.error().code, what + ": " + names.error().message};
  }
  return names;
}

Result<std::uint16_t> epmdPortFromEnv(const char* value) {
  if (value == nullptr || *value == '\0') {
    return kDefaultEpmdPort;
  }
  int port = 0;
  if (!parsePort(value, port)) {
    return Error{Error::Code::Invalid,
                 std::string("ERL_EPMD_PORT: must be a port number, got \"") + value + "\""};
  }
  return static_cast<std::uint16_t>(port);
}

} // namespace libcluster
