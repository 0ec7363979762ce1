// The Rancher fetcher against hostile loopback HTTP servers: a huge body, a redirect to another
// host, a server that trickles. A ClusterTopology editor picks the URL, so each of these is in
// reach of anyone who can edit one.
#include "kube/url_fetcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

using namespace std::chrono_literals;

/// Loopback server: each accepted connection gets its request head read, then `answer(fd)`.
class LoopbackServer {
public:
  using Answer = std::function<void(int fd, const std::atomic<bool>& stopping)>;

  explicit LoopbackServer(Answer answer) : answer_(std::move(answer)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      return;
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~LoopbackServer() {
    stopping_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
    ::close(listener_);
  }

  std::string url(const std::string& path = "/latest/self/service") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }
  int connections() const { return connections_; }

  /// Sends all of `data` unless the peer goes away; false then.
  static bool sendAll(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (sent <= 0) {
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

private:
  void serve() {
    while (!stopping_) {
      pollfd ready{listener_, POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) {
        continue;
      }
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) {
        continue;
      }
      ++connections_;
      std::string head;
      char buffer[4096];
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (head.find("\r\n\r\n") == std::string::npos && !stopping_ &&
             std::chrono::steady_clock::now() < deadline) {
        pollfd readable{fd, POLLIN, 0};
        if (::poll(&readable, 1, 50) <= 0) {
          continue;
        }
        const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
        if (got <= 0) {
          break;
        }
        head.append(buffer, static_cast<std::size_t>(got));
      }
      answer_(fd, stopping_);
      ::shutdown(fd, SHUT_WR);
      ::close(fd);
    }
  }

  Answer answer_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

long peakRssKiB() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

std::string response(int status, const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

TEST(UrlFetcher, ReturnsTheBodyOfASmallAnswer) {
  const std::string body = R"({"containers":[{"ips":["10.0.0.1"]}]})";
  LoopbackServer server(
      [&](int fd, const auto&) { LoopbackServer::sendAll(fd, response(200, body)); });

  Result<std::string> got = makeUrlFetcher(5s)(server.url(), {});

  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, body);
}

TEST(UrlFetcher, AbortsAHugeChunkedBodyWithBoundedMemory) {
  // 300 MiB without a Content-Length, in 64 KiB chunks: only reading it would tell its size.
  constexpr std::size_t kBlock = 64 * 1024;
  constexpr std::size_t kBlocks = 300 * 16;
  std::atomic<std::size_t> blocksSent{0};
  LoopbackServer server([&](int fd, const std::atomic<bool>& stopping) {
    const std::string block(kBlock, ' ');
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", block.size());
    const std::string chunk = size + block + "\r\n";
    if (!LoopbackServer::sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     "Transfer-Encoding: chunked\r\n\r\n")) {
      return;
    }
    for (std::size_t i = 0; i < kBlocks && !stopping; ++i) {
      if (!LoopbackServer::sendAll(fd, chunk)) {
        return;
      }
      ++blocksSent;
    }
  });
  const long before = peakRssKiB();

  Result<std::string> got = makeUrlFetcher(UrlFetchOptions{})(server.url(), {});

  ASSERT_FALSE(got);
  EXPECT_TRUE(isBodyTooLarge(got.error())) << got.error().message;
  EXPECT_LT(peakRssKiB() - before, 32 * 1024) << "peak RSS grew by more than 32 MiB";
  EXPECT_LT(blocksSent.load(), kBlocks) << "the whole body was read";
}

TEST(UrlFetcher, RefusesADeclaredLengthOverTheCapWithoutReadingIt) {
  LoopbackServer server([](int fd, const auto&) {
    LoopbackServer::sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 314572800\r\n\r\n[");
  });
  UrlFetchOptions options;
  options.maxBodyBytes = 1024;

  Result<std::string> got = makeUrlFetcher(options)(server.url(), {});

  ASSERT_FALSE(got);
  EXPECT_TRUE(isBodyTooLarge(got.error())) << got.error().message;
}

TEST(UrlFetcher, AcceptsABodyOfExactlyTheCap) {
  const std::string body(1024, ' ');
  LoopbackServer server(
      [&](int fd, const auto&) { LoopbackServer::sendAll(fd, response(200, body)); });
  UrlFetchOptions options;
  options.maxBodyBytes = 1024;

  Result<std::string> got = makeUrlFetcher(options)(server.url(), {});

  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->size(), 1024u);
}

TEST(UrlFetcher, DoesNotFollowARedirectToAnotherHost) {
  LoopbackServer elsewhere([](int fd, const auto&) {
    LoopbackServer::sendAll(fd, response(200, R"({"containers":[]})"));
  });
  LoopbackServer server([&](int fd, const auto&) {
    LoopbackServer::sendAll(fd, response(302, "", "Location: " + elsewhere.url() + "\r\n"));
  });

  Result<std::string> got = makeUrlFetcher(5s)(server.url(), {});

  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Error::Code::Unavailable);
  EXPECT_NE(got.error().message.find("302"), std::string::npos) << got.error().message;
  EXPECT_EQ(elsewhere.connections(), 0);
}

/// An answer that sends `head`, then `piece` every 100 ms for up to a minute: each read is short
/// of any per-read timeout; only the total bounds it.
LoopbackServer::Answer trickle(std::string head, std::string piece) {
  return [head, piece](int fd, const std::atomic<bool>& stopping) {
    if (!LoopbackServer::sendAll(fd, head)) {
      return;
    }
    for (int i = 0; i < 600 && !stopping; ++i) {
      std::this_thread::sleep_for(100ms);
      if (!LoopbackServer::sendAll(fd, piece)) {
        return;
      }
    }
  };
}

/// A fetch from `url` with a 1 s budget ends in Timeout, long before the server would be done.
void expectCutOff(const std::string& url) {
  const auto started = std::chrono::steady_clock::now();

  Result<std::string> got = makeUrlFetcher(1s)(url, {});

  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Error::Code::Timeout) << got.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
}

TEST(UrlFetcher, CutsOffAServerThatTricklesItsBody) {
  LoopbackServer server(trickle("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", " "));

  expectCutOff(server.url());
}

TEST(UrlFetcher, CutsOffAServerThatTricklesItsHeaders) {
  LoopbackServer server(trickle("HTTP/1.1 200 OK\r\n", "X-A: b\r\n"));

  expectCutOff(server.url());
}

TEST(UrlFetcher, StopsWhenAsked) {
  LoopbackServer server([](int, const std::atomic<bool>& stopping) {
    for (int i = 0; i < 300 && !stopping; ++i) {
      std::this_thread::sleep_for(100ms);
    }
  });
  std::stop_source stop;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop.request_stop();
  });
  const auto started = std::chrono::steady_clock::now();

  Result<std::string> got = makeUrlFetcher(30s)(server.url(), stop.get_token());

  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Error::Code::Cancelled) << got.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
}

TEST(UrlFetcher, ServerErrorsAreUnavailableAndNotFoundIsNotFound) {
  LoopbackServer server(
      [](int fd, const auto&) { LoopbackServer::sendAll(fd, response(503, "")); });
  LoopbackServer missing(
      [](int fd, const auto&) { LoopbackServer::sendAll(fd, response(404, "")); });

  Result<std::string> unavailable = makeUrlFetcher(5s)(server.url(), {});
  Result<std::string> notFound = makeUrlFetcher(5s)(missing.url(), {});

  ASSERT_FALSE(unavailable);
  EXPECT_EQ(unavailable.error().code, Error::Code::Unavailable);
  ASSERT_FALSE(notFound);
  EXPECT_EQ(notFound.error().code, Error::Code::NotFound);
}

TEST(UrlFetcher, RefusedConnectionIsUnavailable) {
  int port = 0;
  {
    LoopbackServer closed([](int, const auto&) {});
    port = closed.port();
  }

  Result<std::string> got =
      makeUrlFetcher(5s)("http://127.0.0.1:" + std::to_string(port) + "/", {});

  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, Error::Code::Unavailable) << got.error().message;
}

} // namespace
} // namespace libcluster
