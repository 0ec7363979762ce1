#include "dns/loopback.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/check.h"

namespace libcluster {
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Binds a socket of `type` to 127.0.0.1:`port` and returns it with the bound port, or -1.
int bindLoopback(int type, int port, int& boundPort) {
  const int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0, "tests need sockets");
  sockaddr_in address = loopback(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  socklen_t length = sizeof address;
  CHECK(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0,
        "a bound socket has a name");
  boundPort = ntohs(address.sin_port);
  return fd;
}

} // namespace

int freeLoopbackPort() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int port = 0;
    const int udp = bindLoopback(SOCK_DGRAM, 0, port);
    CHECK(udp >= 0, "binding 127.0.0.1:0 works");
    int same = 0;
    const int tcp = bindLoopback(SOCK_STREAM, port, same);
    close(udp);
    if (tcp >= 0) {
      close(tcp);
      return port;
    }
  }
  CHECK(false, "some loopback port is free for both UDP and TCP");
  return 0;
}

SilentUdpServer::SilentUdpServer() : port_(0) {
  fd_ = bindLoopback(SOCK_DGRAM, 0, port_);
  CHECK(fd_ >= 0, "binding 127.0.0.1:0 works");
}

SilentUdpServer::~SilentUdpServer() { close(fd_); }

bool SilentUdpServer::waitForDatagram(std::chrono::milliseconds timeout) {
  pollfd fds{fd_, POLLIN, 0};
  if (poll(&fds, 1, static_cast<int>(timeout.count())) <= 0) {
    return false;
  }
  char buffer[1500];
  return recv(fd_, buffer, sizeof buffer, 0) >= 0;
}

ScriptedUdpServer::ScriptedUdpServer(Respond respond) : port_(0), respond_(std::move(respond)) {
  fd_ = bindLoopback(SOCK_DGRAM, 0, port_);
  CHECK(fd_ >= 0, "binding 127.0.0.1:0 works");
  thread_ = std::jthread([this](const std::stop_token& stop) { serve(stop); });
}

ScriptedUdpServer::~ScriptedUdpServer() {
  thread_.request_stop();
  thread_.join();
  close(fd_);
}

void ScriptedUdpServer::serve(const std::stop_token& stop) {
  std::vector<unsigned char> buffer(65536);
  while (!stop.stop_requested()) {
    pollfd fds{fd_, POLLIN, 0};
    if (poll(&fds, 1, 20) <= 0) {
      continue;
    }
    sockaddr_in from{};
    socklen_t fromLength = sizeof from;
    const ssize_t received = recvfrom(fd_, buffer.data(), buffer.size(), 0,
                                      reinterpret_cast<sockaddr*>(&from), &fromLength);
    if (received <= 0) {
      continue;
    }
    const std::vector<unsigned char> query(buffer.begin(), buffer.begin() + received);
    const std::vector<unsigned char> reply = respond_(query);
    if (!reply.empty()) {
      sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), fromLength);
    }
  }
}

} // namespace libcluster
