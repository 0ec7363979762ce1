#include "ops/http_probe_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "ops/metrics_registry.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

/// A blocking loopback client with a receive timeout, so a broken server fails the test instead of
/// hanging it.
class Client {
public:
  explicit Client(std::uint16_t port, int family = AF_INET) {
    fd_ = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval timeout{.tv_sec = 5, .tv_usec = 0};
    (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (family == AF_INET6) {
      sockaddr_in6 address{};
      address.sin6_family = AF_INET6;
      address.sin6_addr = in6addr_loopback;
      address.sin6_port = htons(port);
      connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    } else {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = htons(port);
      connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    }
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  void send(const std::string& data) {
    ASSERT_EQ(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(data.size()));
  }
  /// Everything until the server closes (or the 5 s receive timeout).
  std::string readAll() {
    std::string out;
    char buffer[4096];
    while (true) {
      const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got <= 0) {
        return out;
      }
      out.append(buffer, static_cast<std::size_t>(got));
    }
  }

private:
  int fd_ = -1;
  bool connected_ = false;
};

std::string request(std::uint16_t port, const std::string& text) {
  Client client(port);
  EXPECT_TRUE(client.connected());
  client.send(text);
  return client.readAll();
}

std::string get(std::uint16_t port, const std::string& path) {
  return request(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
}

class HttpProbeServerTest : public testing::Test {
protected:
  void startServer(HttpProbeServer::Options options = {.bindAddress = "127.0.0.1:0"}) {
    server_.emplace(std::move(options));
    server_->route("/healthz", [] { return HttpResponse{.body = "ok"}; });
    server_->route("/readyz", [this] {
      return ready_ ? HttpResponse{.body = "ok"} : HttpResponse{.status = 503, .body = "not ready"};
    });
    server_->route("/metrics", [this] {
      return HttpResponse{.contentType = std::string(MetricsRegistry::kContentType),
                          .body = metrics_.render()};
    });
    Result<void> started = server_->start();
    ASSERT_TRUE(started.has_value()) << started.error().message;
  }

  MetricsRegistry metrics_;
  std::atomic<bool> ready_{false};
  std::optional<HttpProbeServer> server_;
};

TEST_F(HttpProbeServerTest, ReportsTheBoundPortAndServesRoutes) {
  startServer();
  ASSERT_NE(server_->port(), 0);

  const std::string response = get(server_->port(), "/healthz");

  EXPECT_TRUE(response.starts_with("HTTP/1.1 200 OK\r\n")) << response;
  EXPECT_NE(response.find("Content-Length: 2\r\n"), std::string::npos) << response;
  EXPECT_NE(response.find("Connection: close\r\n"), std::string::npos) << response;
  EXPECT_TRUE(response.ends_with("\r\n\r\nok")) << response;
}

TEST_F(HttpProbeServerTest, RoutesAnswerWithTheirCurrentState) {
  startServer();

  EXPECT_TRUE(get(server_->port(), "/readyz").starts_with("HTTP/1.1 503 ")) << "not ready yet";
  ready_ = true;
  EXPECT_TRUE(get(server_->port(), "/readyz").starts_with("HTTP/1.1 200 "));
}

TEST_F(HttpProbeServerTest, ServesMetricsWithThePrometheusContentType) {
  startServer();
  metrics_.counter("probe_hits_total", "Hits.").Increment(3);

  const std::string response = get(server_->port(), "/metrics?name[]=x");

  EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos)
      << response;
  EXPECT_NE(response.find("probe_hits_total 3\n"), std::string::npos) << response;
}

TEST_F(HttpProbeServerTest, UnknownPathIs404AndOtherMethodsAre405) {
  startServer();

  EXPECT_TRUE(get(server_->port(), "/nope").starts_with("HTTP/1.1 404 ")) << "unknown path";
  const std::string post =
      request(server_->port(), "POST /healthz HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_TRUE(post.starts_with("HTTP/1.1 405 ")) << post;
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos) << post;
}

TEST_F(HttpProbeServerTest, HeadGetsHeadersWithoutBody) {
  startServer();

  const std::string response = request(server_->port(), "HEAD /healthz HTTP/1.1\r\n\r\n");

  EXPECT_TRUE(response.starts_with("HTTP/1.1 200 ")) << response;
  EXPECT_NE(response.find("Content-Length: 2\r\n"), std::string::npos) << response;
  EXPECT_TRUE(response.ends_with("\r\n\r\n")) << response;
}

TEST_F(HttpProbeServerTest, MalformedRequestIs400) {
  startServer();

  EXPECT_TRUE(request(server_->port(), "hello\r\n\r\n").starts_with("HTTP/1.1 400 "));
  EXPECT_TRUE(request(server_->port(), "GET /healthz SPDY/3\r\n\r\n").starts_with("HTTP/1.1 400 "));
}

TEST_F(HttpProbeServerTest, OversizedRequestIsRefused) {
  startServer({.bindAddress = "127.0.0.1:0", .maxRequestBytes = 256});

  const std::string response =
      request(server_->port(),
              "GET /healthz HTTP/1.1\r\nX-Padding: " + std::string(1000, 'a') + "\r\n\r\n");

  EXPECT_TRUE(response.starts_with("HTTP/1.1 400 ")) << response;
}

TEST_F(HttpProbeServerTest, AnswersOneRequestPerConnection) {
  startServer();

  const std::string response =
      request(server_->port(), "GET /healthz HTTP/1.1\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n");

  EXPECT_TRUE(response.starts_with("HTTP/1.1 200 ")) << response;
  EXPECT_EQ(response.find("HTTP/1.1", 1), std::string::npos) << "a second answer: " << response;
}

TEST_F(HttpProbeServerTest, DropsAClientThatTricklesItsRequestPastTheHeaderTimeout) {
  // A per-read timeout (cpp-httplib's own) would keep this client forever; the deadline does not.
  startServer({.bindAddress = "127.0.0.1:0", .requestTimeout = 60s, .headerTimeout = 300ms});
  Client trickler(server_->port());
  ASSERT_TRUE(trickler.connected());
  const auto started = std::chrono::steady_clock::now();

  bool dropped = false;
  const std::string head = "GET /healthz HTTP/1.1\r\nX-Slow: " + std::string(200, 'a');
  for (std::size_t i = 0; i < head.size() && !dropped; ++i) {
    dropped = ::send(trickler.fd(), &head[i], 1, MSG_NOSIGNAL) != 1;
    pollfd polled{.fd = trickler.fd(), .events = POLLIN, .revents = 0};
    dropped = dropped || ::poll(&polled, 1, 20) > 0; // readable: the server closed it
  }
  const auto elapsed = std::chrono::steady_clock::now() - started;

  EXPECT_TRUE(dropped) << "still open after " << head.size() * 20 << " ms of trickling";
  EXPECT_LT(elapsed, 2s);
  EXPECT_EQ(trickler.readAll(), "") << "dropped without an answer";
}

TEST_F(HttpProbeServerTest, SlowClientDoesNotBlockOthersAndIsDroppedAtTheTimeout) {
  startServer({.bindAddress = "127.0.0.1:0", .requestTimeout = 300ms});
  Client slow(server_->port());
  ASSERT_TRUE(slow.connected());
  slow.send("GET /healthz HTTP/1.1\r\n"); // and never finishes the head

  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(get(server_->port(), "/healthz").starts_with("HTTP/1.1 200 "));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 250ms) << "answered while slow was open";

  EXPECT_EQ(slow.readAll(), "") << "closed without an answer";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST_F(HttpProbeServerTest, StopIsPromptWithIdleConnectionsOpen) {
  startServer({.bindAddress = "127.0.0.1:0", .requestTimeout = 60s});
  Client idle(server_->port());
  ASSERT_TRUE(idle.connected());
  ASSERT_EQ(get(server_->port(), "/healthz").substr(0, 12), "HTTP/1.1 200");

  const auto started = std::chrono::steady_clock::now();
  server_->stop();

  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_FALSE(server_->isServing());
  EXPECT_EQ(idle.readAll(), "");
}

TEST_F(HttpProbeServerTest, HealthzAnswersEveryTimeWhile100IdleConnectionsAreHeld) {
  // Timeouts far beyond the test: only displacing idle connections can let the probes in.
  startServer({.bindAddress = "127.0.0.1:0", .requestTimeout = 60s, .headerTimeout = 60s});
  std::vector<std::unique_ptr<Client>> idle;

  int answered = 0;
  std::chrono::steady_clock::duration slowest{};
  for (int probe = 0; probe < 20; ++probe) {
    // An attacker that reconnects: a fresh 100 idle connections before every probe.
    idle.clear();
    for (int i = 0; i < 100; ++i) {
      idle.push_back(std::make_unique<Client>(server_->port()));
    }
    const auto started = std::chrono::steady_clock::now();
    const bool ok = get(server_->port(), "/healthz").starts_with("HTTP/1.1 200 ");
    const auto took = std::chrono::steady_clock::now() - started;
    slowest = std::max(slowest, took);
    // The bound: a kubelet's default probe timeout (timeoutSeconds: 1).
    if (ok && took < 1s) {
      ++answered;
    }
  }

  std::cout << "[ figures  ] slowest of 20 probes behind 100 idle connections: "
            << std::chrono::duration<double, std::milli>(slowest).count() << " ms\n";
  EXPECT_EQ(answered, 20);
}

TEST_F(HttpProbeServerTest, ProbeAnswersWithinOneSecondWhileIdleConnectionsFillTheServer) {
  startServer({.bindAddress = "127.0.0.1:0",
               .requestTimeout = 60s,
               .headerTimeout = 60s,
               .maxConnections = 8});
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 24; ++i) {
    idle.push_back(std::make_unique<Client>(server_->port()));
    ASSERT_TRUE(idle.back()->connected());
  }

  int answered = 0;
  for (int probe = 0; probe < 10; ++probe) {
    const auto started = std::chrono::steady_clock::now();
    if (get(server_->port(), "/healthz").starts_with("HTTP/1.1 200 ") &&
        std::chrono::steady_clock::now() - started < 1s) {
      ++answered;
    }
    idle.push_back(std::make_unique<Client>(server_->port())); // and the attacker comes back
  }

  EXPECT_EQ(answered, 10);
}

TEST_F(HttpProbeServerTest, HealthzAnswersWhileSlowLorisClientsTrickleHeaders) {
  startServer();
  std::vector<std::unique_ptr<Client>> slow;
  for (int i = 0; i < 100; ++i) {
    slow.push_back(std::make_unique<Client>(server_->port()));
    slow.back()->send("GET /healthz HTTP/1.1\r\n");
  }

  int answered = 0;
  for (int probe = 0; probe < 10; ++probe) {
    for (auto& client : slow) {
      (void)::send(client->fd(), "X-A: b\r\n", 8, MSG_NOSIGNAL);
    }
    const auto started = std::chrono::steady_clock::now();
    // Well inside a kubelet's default 1 s probe timeout on an idle machine; generous for CI.
    if (get(server_->port(), "/healthz").starts_with("HTTP/1.1 200 ") &&
        std::chrono::steady_clock::now() - started < 3s) {
      ++answered;
    }
  }

  EXPECT_EQ(answered, 10);
}

TEST_F(HttpProbeServerTest, DropsAClientThatSendsNoRequestWithinTheHeaderTimeout) {
  startServer({.bindAddress = "127.0.0.1:0", .requestTimeout = 60s, .headerTimeout = 200ms});
  Client silent(server_->port());
  ASSERT_TRUE(silent.connected());
  const auto started = std::chrono::steady_clock::now();

  EXPECT_EQ(silent.readAll(), "");

  EXPECT_LT(std::chrono::steady_clock::now() - started, 4s) << "held until the request timeout";
}

TEST(HttpProbeServer, DropsAClientThatDoesNotReadItsAnswerByTheRequestTimeout) {
  HttpProbeServer server({.bindAddress = "127.0.0.1:0", .requestTimeout = 300ms});
  const std::string big(64 << 20, 'x'); // more than both socket buffers can hold here (4 + 32 MiB)
  server.route("/big", [&big] { return HttpResponse{.body = big}; });
  server.route("/healthz", [] { return HttpResponse{.body = "ok"}; });
  ASSERT_TRUE(server.start().has_value());
  Client reader(server.port());
  ASSERT_TRUE(reader.connected());
  reader.send("GET /big HTTP/1.1\r\n\r\n"); // and does not read for a while

  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(get(server.port(), "/healthz").ends_with("ok")) << "answered beside the slow reader";
  std::this_thread::sleep_for(800ms);
  const auto started = std::chrono::steady_clock::now();
  const std::string got = reader.readAll();

  EXPECT_LT(got.size(), big.size()) << "the write was cut off at the deadline";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s) << "closed, not held open";
}

TEST_F(HttpProbeServerTest, ServesManyRequestsInARow) {
  startServer();

  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(get(server_->port(), "/healthz").ends_with("ok")) << i;
  }
}

TEST(HttpProbeServer, ZeroDisablesServing) {
  HttpProbeServer server({.bindAddress = "0"});

  ASSERT_TRUE(server.start().has_value());

  EXPECT_FALSE(server.isServing());
  EXPECT_EQ(server.port(), 0);
}

TEST(HttpProbeServer, MalformedAddressIsInvalid) {
  HttpProbeServer server({.bindAddress = "8080"});

  Result<void> started = server.start();

  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.error().code, Error::Code::Invalid);
}

TEST(HttpProbeServer, PortInUseIsUnavailable) {
  HttpProbeServer first({.bindAddress = "127.0.0.1:0"});
  ASSERT_TRUE(first.start().has_value());
  HttpProbeServer second({.bindAddress = "127.0.0.1:" + std::to_string(first.port())});

  Result<void> started = second.start();

  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.error().code, Error::Code::Unavailable);
}

TEST(HttpProbeServer, WildcardAddressAcceptsLoopback) {
  HttpProbeServer server({.bindAddress = ":0"});
  server.route("/healthz", [] { return HttpResponse{.body = "ok"}; });
  ASSERT_TRUE(server.start().has_value());

  EXPECT_TRUE(get(server.port(), "/healthz").ends_with("ok"));
}

TEST(HttpProbeServer, ServesIpv6Loopback) {
  HttpProbeServer server({.bindAddress = "[::1]:0"});
  server.route("/healthz", [] { return HttpResponse{.body = "ok"}; });
  Result<void> started = server.start();
  if (!started) {
    GTEST_SKIP() << "no IPv6 loopback here: " << started.error().message;
  }

  Client client(server.port(), AF_INET6);
  ASSERT_TRUE(client.connected());
  client.send("GET /healthz HTTP/1.1\r\n\r\n");

  EXPECT_TRUE(client.readAll().ends_with("ok"));
}

} // namespace
} // namespace libcluster
