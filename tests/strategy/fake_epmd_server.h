#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/loopback_port.h"

namespace libcluster {

/// A tiny epmd on 127.0.0.1:<kernel's port> for tests: each connection reads a request and gets
/// the scripted reply bytes, then the connection closes (as epmd does for NAMES_REQ). With
/// silent(), it accepts and never answers. Serves on its own thread until destroyed.
class FakeEpmdServer {
public:
  FakeEpmdServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(fd_, 16);
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::jthread([this](std::stop_token stop) { serve(stop); });
  }
  ~FakeEpmdServer() {
    thread_.request_stop();
    thread_.join();
    ::close(fd_);
  }
  FakeEpmdServer(const FakeEpmdServer&) = delete;
  FakeEpmdServer& operator=(const FakeEpmdServer&) = delete;

  std::uint16_t port() const { return port_; }

  /// Answers with epmd's 4-byte port header and one "name N at port P" line per entry.
  void answerNames(const std::vector<std::pair<std::string, int>>& names) {
    std::string reply("\0\0\x11\x11", 4);
    for (const auto& [name, port] : names) {
      reply += "name " + name + " at port " + std::to_string(port) + "\n";
    }
    answerRaw(reply);
  }
  void answerRaw(std::string reply) {
    std::lock_guard lock(mutex_);
    reply_ = std::move(reply);
  }
  void silent() { silent_ = true; }

  /// The request bytes of every connection so far.
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

private:
  void serve(const std::stop_token& stop) {
    std::vector<int> held;
    while (!stop.stop_requested()) {
      pollfd listener{fd_, POLLIN, 0};
      if (::poll(&listener, 1, 20) <= 0) {
        continue;
      }
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) {
        continue;
      }
      if (silent_) {
        held.push_back(client); // never answered, closed at the end
        continue;
      }
      std::string request;
      char buffer[64];
      pollfd readable{client, POLLIN, 0};
      while (request.size() < 3 && ::poll(&readable, 1, 1000) > 0) {
        const ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
        if (n <= 0) {
          break;
        }
        request.append(buffer, static_cast<std::size_t>(n));
      }
      std::string reply;
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
        reply = reply_;
      }
      std::size_t sent = 0;
      while (sent < reply.size()) {
        const ssize_t n = ::send(client, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
          break;
        }
        sent += static_cast<std::size_t>(n);
      }
      ::close(client);
    }
    for (int client : held) {
      ::close(client);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> silent_{false};
  mutable std::mutex mutex_;
  std::string reply_{std::string("\0\0\x11\x11", 4)};
  std::vector<std::string> requests_;
  std::jthread thread_;
};

} // namespace libcluster
