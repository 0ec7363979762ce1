#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace libcluster {

/// Plain-HTTP loopback server that answers the i-th connection with the i-th script: it reads the
/// request head, then writes the script's pieces one by one with `gap` between them and closes.
/// For wire shapes the test API server never produces (objects cut mid-chunk, malformed lines).
class ScriptedHttpServer {
public:
  struct Script {
    std::vector<std::string> pieces;
    std::chrono::milliseconds gap{0};
  };

  /// Listens on 127.0.0.1, or on [::1] when `ipv6`.
  explicit ScriptedHttpServer(std::vector<Script> scripts, bool ipv6 = false)
      : scripts_(std::move(scripts)), ipv6_(ipv6) {
    listener_ = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (ipv6) {
      auto* address = reinterpret_cast<sockaddr_in6*>(&storage);
      address->sin6_family = AF_INET6;
      address->sin6_addr = in6addr_loopback;
      length = sizeof(sockaddr_in6);
    } else {
      auto* address = reinterpret_cast<sockaddr_in*>(&storage);
      address->sin_family = AF_INET;
      address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      length = sizeof(sockaddr_in);
    }
    auto* address = reinterpret_cast<sockaddr*>(&storage);
    if (::bind(listener_, address, length) != 0 || ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, address, &length) != 0) {
      return;
    }
    port_ = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                       : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
    thread_ = std::thread([this] { serve(); });
  }

  ~ScriptedHttpServer() {
    stopping_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
    ::close(listener_);
  }

  ScriptedHttpServer(const ScriptedHttpServer&) = delete;
  ScriptedHttpServer& operator=(const ScriptedHttpServer&) = delete;

  std::string url() const {
    return (ipv6_ ? "http://[::1]:" : "http://127.0.0.1:") + std::to_string(port_);
  }

  /// The request heads received so far.
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

  /// One HTTP/1.1 chunk carrying `data`.
  static std::string chunk(const std::string& data) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    return size + data + "\r\n";
  }
  static std::string lastChunk() { return "0\r\n\r\n"; }
  static std::string chunkedHead(int status = 200) {
    return "HTTP/1.1 " + std::to_string(status) +
           " OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
           "Connection: close\r\n\r\n";
  }
  static std::string response(int status, const std::string& body,
                              const std::string& extraHeaders = "") {
    return "HTTP/1.1 " + std::to_string(status) +
           " Status\r\nContent-Type: application/json\r\nConnection: close\r\n" + extraHeaders +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

private:
  void serve() {
    for (const Script& script : scripts_) {
      const int connection = acceptOne();
      if (connection < 0) {
        return;
      }
      readHead(connection);
      for (size_t i = 0; i < script.pieces.size() && !stopping_; ++i) {
        if (i > 0) {
          std::this_thread::sleep_for(script.gap);
        }
        const std::string& piece = script.pieces[i];
        if (::send(connection, piece.data(), piece.size(), MSG_NOSIGNAL) < 0) {
          break;
        }
      }
      ::shutdown(connection, SHUT_WR);
      // Let the client read to the end before the socket goes away.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      ::close(connection);
    }
  }

  int acceptOne() {
    while (!stopping_) {
      pollfd ready{listener_, POLLIN, 0};
      if (::poll(&ready, 1, 50) > 0) {
        return ::accept(listener_, nullptr, nullptr);
      }
    }
    return -1;
  }

  void readHead(int connection) {
    std::string head;
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos && !stopping_) {
      pollfd ready{connection, POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) {
        continue;
      }
      const ssize_t got = ::recv(connection, buffer, sizeof buffer, 0);
      if (got <= 0) {
        break;
      }
      head.append(buffer, static_cast<size_t>(got));
    }
    std::lock_guard lock(mutex_);
    requests_.push_back(head);
  }

  std::vector<Script> scripts_;
  bool ipv6_ = false;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
};

} // namespace libcluster
