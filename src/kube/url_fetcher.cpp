#include "kube/url_fetcher.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <httplib.h>

namespace libcluster {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kTooLargePrefix = "response body larger than ";

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

/// "host", "host:port", "[v6]" or "[v6]:port" (port 0 when absent).
Result<std::pair<std::string, std::uint16_t>> splitHostPort(std::string_view authority) {
  std::string_view host;
  std::string_view rest;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) {
      return Error{Error::Code::Invalid, "unterminated IPv6 literal"};
    }
    host = authority.substr(1, close - 1);
    rest = authority.substr(close + 1);
    if (host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
      return Error{Error::Code::Invalid, "bad IPv6 literal"};
    }
  } else {
    const std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
    if (host.empty() ||
        host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") !=
            std::string_view::npos) {
      return Error{Error::Code::Invalid, "bad host"};
    }
  }
  std::uint16_t port = 0;
  if (!rest.empty()) {
    if (!rest.starts_with(':') || rest.size() < 2 || rest.size() > 6) {
      return Error{Error::Code::Invalid, "bad port"};
    }
    const std::string_view digits = rest.substr(1);
    unsigned value = 0;
    const auto [end, failure] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (failure != std::errc{} || end != digits.data() + digits.size() || value == 0 ||
        value > 65535) {
      return Error{Error::Code::Invalid, "bad port"};
    }
    port = static_cast<std::uint16_t>(value);
  }
  return std::pair{lower(host), port};
}

Error fetchError(Error::Code code, const HttpUrl& url, std::string_view what) {
  // The host and path, never a query string: it may carry a credential.
  return Error{code, "GET " + url.scheme + "://" + url.host + ":" + std::to_string(url.port) +
                         url.target.substr(0, url.target.find('?')) + ": " + std::string(what)};
}

/// Calls client.stop() once `deadline` passes or `stop` is requested, until finish() is called;
/// stop() is repeated because a stop that lands while the socket is still being set up is lost.
class Watchdog {
public:
  Watchdog(httplib::Client& client, std::chrono::steady_clock::time_point deadline,
           std::stop_token stop)
      : thread_([this, &client, deadline, stop](std::stop_token own) {
          std::unique_lock lock(mutex_);
          while (!finished_) {
            const bool expired = std::chrono::steady_clock::now() >= deadline;
            if (expired || stop.stop_requested()) {
              (expired ? timedOut_ : cancelled_) = true;
              lock.unlock();
              client.stop();
              lock.lock();
              wake_.wait_for(lock, own, 50ms, [this] { return finished_; });
              continue;
            }
            wake_.wait_until(lock, own, std::min(deadline, std::chrono::steady_clock::now() + 50ms),
                             [this] { return finished_; });
          }
        }) {}

  ~Watchdog() { finish(); }

  void finish() {
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  bool timedOut() const { return timedOut_; }
  bool cancelled() const { return cancelled_; }

private:
  std::mutex mutex_;
  std::condition_variable_any wake_;
  bool finished_ = false;
  std::atomic<bool> timedOut_{false};
  std::atomic<bool> cancelled_{false};
  std::jthread thread_;
};

template <typename Rep, typename Period>
std::pair<time_t, time_t> secondsAndMicros(std::chrono::duration<Rep, Period> duration) {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
  return {static_cast<time_t>(micros / 1'000'000), static_cast<time_t>(micros % 1'000'000)};
}

Result<std::string> fetch(const UrlFetchOptions& options, const std::string& text,
                          std::stop_token stop) {
  Result<HttpUrl> parsed = parseHttpUrl(text);
  if (!parsed) {
    return Error{Error::Code::Invalid, "bad URL: " + parsed.error().message};
  }
  const HttpUrl& url = *parsed;
  if (stop.stop_requested()) {
    return fetchError(Error::Code::Cancelled, url, "stopped");
  }
  const bool ipv6 = url.host.find(':') != std::string::npos;
  httplib::Client client(url.scheme + "://" + (ipv6 ? "[" + url.host + "]" : url.host) + ":" +
                         std::to_string(url.port));
  if (!client.is_valid()) {
    return fetchError(Error::Code::Invalid, url, "cannot build a client for this URL");
  }
  const auto [connectSeconds, connectMicros] = secondsAndMicros(options.connectTimeout);
  client.set_connection_timeout(connectSeconds, connectMicros);
  // Each read or write is bounded too, so a stalled peer is noticed even between watchdog checks.
  const auto [ioSeconds, ioMicros] = secondsAndMicros(options.timeout);
  client.set_read_timeout(ioSeconds, ioMicros);
  client.set_write_timeout(ioSeconds, ioMicros);
  client.set_follow_location(false);
  client.set_keep_alive(false);
  // The cap applies to bytes on the wire; we never ask for compression, so a compressed answer is
  // not JSON and fails to parse rather than expanding past the cap.
  client.set_decompress(false);
  client.enable_server_certificate_verification(true);

  std::string body;
  int status = 0;
  std::string location;
  bool tooLarge = false;
  Watchdog watchdog(client, std::chrono::steady_clock::now() + options.timeout, stop);
  httplib::Result result = client.Get(
      url.target, httplib::Headers{{"Accept", "application/json"}},
      [&](const httplib::Response& response) {
        status = response.status;
        location = response.get_header_value("Location");
        if (response.has_header("Content-Length")) {
          const std::string declared = response.get_header_value("Content-Length");
          unsigned long long length = 0;
          const auto [end, failure] =
              std::from_chars(declared.data(), declared.data() + declared.size(), length);
          if (failure != std::errc{} || end != declared.data() + declared.size() ||
              length > options.maxBodyBytes) {
            // An unreadable length is as untrustworthy as a huge one.
            tooLarge = failure != std::errc::invalid_argument;
            return false;
          }
        }
        return status >= 200 && status < 300;
      },
      [&](const char* data, std::size_t length) {
        if (body.size() + length > options.maxBodyBytes) {
          tooLarge = true;
          return false;
        }
        body.append(data, length);
        return true;
      });
  watchdog.finish();

  if (tooLarge) {
    return fetchError(Error::Code::Invalid, url,
                      std::string(kTooLargePrefix) + std::to_string(options.maxBodyBytes) +
                          " bytes");
  }
  if (watchdog.cancelled()) {
    return fetchError(Error::Code::Cancelled, url, "stopped");
  }
  if (watchdog.timedOut()) {
    return fetchError(Error::Code::Timeout, url,
                      "no complete answer within " +
                          std::to_string(options.timeout.count()) + " ms");
  }
  if (status >= 300 && status < 400) {
    return fetchError(Error::Code::Unavailable, url,
                      "HTTP " + std::to_string(status) + " redirect to \"" + location.substr(0, 200) +
                          "\" not followed");
  }
  if (status != 0 && (status < 200 || status >= 300)) {
    return fetchError(status == 404 ? Error::Code::NotFound : Error::Code::Unavailable, url,
                      "HTTP " + std::to_string(status));
  }
  if (!result) {
    const httplib::Error error = result.error();
    const Error::Code code = error == httplib::Error::ConnectionTimeout ? Error::Code::Timeout
                                                                        : Error::Code::Unavailable;
    return fetchError(code, url, httplib::to_string(error));
  }
  return body;
}

} // namespace

FetchUrl makeUrlFetcher(UrlFetchOptions options) {
  return [options](const std::string& url, std::stop_token stop) -> Result<std::string> {
    try {
      return fetch(options, url, std::move(stop));
    } catch (const std::exception& error) {
      return Error{Error::Code::Unavailable, std::string("GET failed: ") + error.what()};
    }
  };
}

FetchUrl makeUrlFetcher(std::chrono::milliseconds timeout) {
  UrlFetchOptions options;
  options.timeout = timeout;
  options.connectTimeout = std::min(options.connectTimeout, timeout);
  return makeUrlFetcher(options);
}

bool isBodyTooLarge(const Error& error) {
  return error.code == Error::Code::Invalid &&
         error.message.find(kTooLargePrefix) != std::string::npos;
}

Result<HttpUrl> parseHttpUrl(std::string_view url) {
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Error{Error::Code::Invalid, "URL contains spaces or control characters"};
    }
  }
  HttpUrl out;
  const std::string lowered = lower(url.substr(0, 8));
  std::string_view rest;
  if (lowered.starts_with("http://")) {
    out.scheme = "http";
    out.port = 80;
    rest = url.substr(7);
  } else if (lowered.starts_with("https://")) {
    out.scheme = "https";
    out.port = 443;
    rest = url.substr(8);
  } else {
    return Error{Error::Code::Invalid, "URL must start with http:// or https://"};
  }
  const std::size_t pathStart = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, pathStart);
  if (authority.find('@') != std::string_view::npos) {
    return Error{Error::Code::Invalid, "URL must not contain user info (user@host)"};
  }
  Result<std::pair<std::string, std::uint16_t>> hostPort = splitHostPort(authority);
  if (!hostPort) {
    return Error{Error::Code::Invalid, "URL has a " + hostPort.error().message};
  }
  out.host = hostPort->first;
  if (hostPort->second != 0) {
    out.port = hostPort->second;
  }
  std::string_view target =
      pathStart == std::string_view::npos ? std::string_view{} : rest.substr(pathStart);
  target = target.substr(0, target.find('#'));
  out.target = target.empty() || target.front() != '/' ? "/" + std::string(target)
                                                      : std::string(target);
  return out;
}

Result<UrlAllowList> UrlAllowList::parse(const std::vector<std::string>& entries) {
  UrlAllowList list;
  for (const std::string& text : entries) {
    if (text.empty() || text.find("://") != std::string::npos ||
        text.find_first_of("/?#@") != std::string::npos) {
      return Error{Error::Code::Invalid,
                   "allowed host \"" + text + "\" must be a host or host:port, without scheme or path"};
    }
    Result<std::pair<std::string, std::uint16_t>> hostPort = splitHostPort(text);
    if (!hostPort) {
      return Error{Error::Code::Invalid, "allowed host \"" + text + "\": " + hostPort.error().message};
    }
    list.entries_.push_back(Entry{hostPort->first, hostPort->second});
    list.text_.push_back(text);
  }
  return list;
}

bool UrlAllowList::allows(const HttpUrl& url) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const Entry& entry) {
    return entry.host == url.host && (entry.port == 0 || entry.port == url.port);
  });
}

} // namespace libcluster
