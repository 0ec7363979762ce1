#include "kube/http_kube_api.h"

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <cpprest/astreambuf.h>
#include <cpprest/http_client.h>
#include <pplx/threadpool.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "core/log.h"
#include "core/secret_file.h"
#include "kube/http_protocol.h"
#include "kube/json_limits.h"
#include "kube/line_splitter.h"
#include "kube/object_parser.h"
#include "kube/token_source.h"

namespace libcluster {
namespace {

namespace http = web::http;
using SteadyClock = std::chrono::steady_clock;

/// cpprestsdk's idle timeout for watch connections. The real bound of a watch is enforced on the
/// caller's thread (timeoutSeconds + grace), so this only needs to be longer than any watch.
constexpr std::chrono::hours kWatchSocketIdleTimeout{24};
/// The API server ends a watch without timeoutSeconds after 30-60 min (--min-request-timeout).
constexpr std::chrono::minutes kServerDefaultWatchTimeout{60};
constexpr std::chrono::milliseconds kFirstServerErrorBackoff{250};
constexpr std::chrono::milliseconds kMaxServerErrorBackoff{4'000};
constexpr std::size_t kMaxMessageExcerpt = 200;

Error makeError(Error::Code code, std::string message) { return Error{code, std::move(message)}; }

std::string excerpt(std::string_view text) {
  if (text.size() <= kMaxMessageExcerpt) {
    return std::string(text);
  }
  return std::string(text.substr(0, kMaxMessageExcerpt)) + "...";
}

std::string openSslError(std::string_view what) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) {
    return std::string(what);
  }
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  return std::string(what) + " (" + buffer + ")";
}

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

Result<std::vector<X509Ptr>> parseCertificates(const std::string& pem, std::string_view what) {
  ERR_clear_error();
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return makeError(Error::Code::Internal, openSslError("BIO_new_mem_buf failed"));
  }
  std::vector<X509Ptr> certificates;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certificates.emplace_back(cert);
  }
  const unsigned long last = ERR_peek_last_error();
  const bool cleanEnd =
      ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  if (last != 0 && !cleanEnd) {
    return makeError(Error::Code::Invalid,
                     openSslError(std::string(what) + ": bad PEM certificate"));
  }
  ERR_clear_error();
  if (certificates.empty()) {
    return makeError(Error::Code::Invalid, std::string(what) + ": no PEM certificate found");
  }
  return certificates;
}

Result<KeyPtr> parsePrivateKey(const std::string& pem) {
  ERR_clear_error();
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return makeError(Error::Code::Internal, openSslError("BIO_new_mem_buf failed"));
  }
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return makeError(Error::Code::Invalid, openSslError("client key: no PEM private key found"));
  }
  return key;
}

/// The parsed CA and client credentials, installed into every TLS context cpprestsdk creates (it
/// creates one per connection). Lives as long as the cpprestsdk client that holds the callback.
class TlsSetup {
public:
  /// `serverName` is what the server certificate must name: the URL's host or tlsServerName.
  static Result<std::shared_ptr<TlsSetup>> create(const KubeConfig& config,
                                                  std::string serverName) {
    auto setup = std::make_shared<TlsSetup>();
    setup->verify_ = !config.insecureSkipTlsVerify;
    if (serverName.size() >= 2 && serverName.front() == '[' && serverName.back() == ']') {
      serverName = serverName.substr(1, serverName.size() - 2);
    }
    setup->serverName_ = std::move(serverName);
    if (!config.caPem.empty()) {
      Result<std::vector<X509Ptr>> authorities = parseCertificates(config.caPem, "CA");
      if (!authorities) {
        return authorities.error();
      }
      setup->authorities_ = std::move(*authorities);
      setup->caFile_ = config.caFile;
      setup->caPem_ = config.caPem;
    }
    if (!config.clientCertPem.empty() || !config.clientKeyPem.empty()) {
      if (config.clientCertPem.empty() || config.clientKeyPem.empty()) {
        return makeError(Error::Code::Invalid,
                         "client certificate and client key must be given together");
      }
      Result<std::vector<X509Ptr>> chain =
          parseCertificates(config.clientCertPem, "client certificate");
      if (!chain) {
        return chain.error();
      }
      Result<KeyPtr> key = parsePrivateKey(config.clientKeyPem);
      if (!key) {
        return key.error();
      }
      if (X509_check_private_key(chain->front().get(), key->get()) != 1) {
        return makeError(Error::Code::Invalid,
                         openSslError("client key does not match the client certificate"));
      }
      setup->clientChain_ = std::move(*chain);
      setup->clientKey_ = std::move(*key);
    }
    ERR_clear_error();
    return setup;
  }

  /// Runs on a cpprestsdk thread when a connection is created; must not throw.
  void configure(SSL_CTX* context) {
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    std::vector<X509*> authorities = currentAuthorities();
    if (!authorities.empty()) {
      // Trust exactly the configured CA, not the system store cpprestsdk loaded before us.
      X509_STORE* store = X509_STORE_new();
      if (store != nullptr) {
        for (X509* authority : authorities) {
          X509_STORE_add_cert(store, authority); // takes its own reference
        }
        SSL_CTX_set_cert_store(context, store);
      }
      for (X509* authority : authorities) {
        X509_free(authority);
      }
    }
    if (clientKey_) {
      SSL_CTX_use_certificate(context, clientChain_.front().get());
      for (size_t i = 1; i < clientChain_.size(); ++i) {
        SSL_CTX_add1_chain_cert(context, clientChain_[i].get());
      }
      SSL_CTX_use_PrivateKey(context, clientKey_.get());
    }
    if (verify_) {
      SSL_CTX_set_cert_verify_callback(context, &TlsSetup::verifyChain, this);
    }
    ERR_clear_error();
  }

  /// Why the last certificate verification failed, to explain "certificate verify failed".
  std::string lastVerifyFailure() const {
    std::lock_guard lock(mutex_);
    return lastVerifyFailure_;
  }

private:
  /// The CA certificates for a new connection (each with a reference the caller frees), after
  /// re-reading the CA file: CAs rotate, and a new connection must trust the current bundle
  /// without a restart. A file that became unreadable, empty or not PEM keeps the last good
  /// bundle (and is reported once per content).
  std::vector<X509*> currentAuthorities() {
    std::lock_guard lock(mutex_);
    if (!caFile_.empty()) {
      std::ifstream in(caFile_, std::ios::binary);
      std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (in.bad() || !in.is_open()) {
        pem.clear();
      }
      if (pem != caPem_ && (!rejectedPem_ || pem != *rejectedPem_)) {
        Result<std::vector<X509Ptr>> reloaded =
            pem.find_first_not_of(" \t\r\n") == std::string::npos
                ? Result<std::vector<X509Ptr>>(
                      makeError(Error::Code::Invalid, "CA file is empty or unreadable"))
                : parseCertificates(pem, "CA");
        if (reloaded) {
          authorities_ = std::move(*reloaded);
          caPem_ = std::move(pem);
          rejectedPem_.reset();
          logInfo("reloaded the CA bundle",
                  {{"file", caFile_}, {"certificates", authorities_.size()}});
        } else {
          logWarn("kept the previous CA bundle: the changed file is not usable",
                  {{"file", caFile_}, {"error", reloaded.error().message}});
          rejectedPem_ = std::move(pem);
        }
        ERR_clear_error();
      }
    }
    std::vector<X509*> authorities;
    for (const X509Ptr& authority : authorities_) {
      X509_up_ref(authority.get());
      authorities.push_back(authority.get());
    }
    return authorities;
  }

  static int verifyChain(X509_STORE_CTX* store, void* self) {
    auto* setup = static_cast<TlsSetup*>(self);
    // cpprestsdk checks the host name too (boost's rfc2818_verification), but only OpenSSL's own
    // check says why it failed ("hostname mismatch" rather than "unspecified").
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(store);
    if (isIpLiteral(setup->serverName_)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, setup->serverName_.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, setup->serverName_.c_str(), setup->serverName_.size());
    }
    const int verified = X509_verify_cert(store);
    if (verified <= 0) {
      const int error = X509_STORE_CTX_get_error(store);
      std::string why = X509_verify_cert_error_string(error);
      if (error == X509_V_ERR_HOSTNAME_MISMATCH || error == X509_V_ERR_IP_ADDRESS_MISMATCH) {
        why += ": the server certificate is not valid for " + setup->serverName_;
      }
      std::lock_guard lock(setup->mutex_);
      setup->lastVerifyFailure_ = std::move(why);
    }
    return verified;
  }

  bool verify_ = true;
  std::string serverName_;
  std::vector<X509Ptr> authorities_; // under mutex_ once the client runs
  std::string caFile_;
  std::string caPem_;                      // what authorities_ were parsed from
  std::optional<std::string> rejectedPem_; // a changed file already found unusable
  std::vector<X509Ptr> clientChain_;
  KeyPtr clientKey_;
  mutable std::mutex mutex_;
  std::string lastVerifyFailure_;
};

/// How a request failed before a complete response arrived, recorded on a cpprestsdk thread and
/// turned into an Error on the caller's.
struct TransportFailure {
  enum class Kind { Cancelled, TimedOut, TlsHandshake, Other } kind;
  int code = 0;
  std::string what;
};

/// One HTTP exchange, shared between the calling thread (which waits on `changed`) and cpprestsdk's
/// continuations (which only record and notify, never block).
struct Exchange {
  std::mutex mutex;
  std::condition_variable_any changed;
  bool headersArrived = false;
  bool finished = false;
  int status = 0;
  std::optional<std::chrono::seconds> retryAfter;
  std::optional<TransportFailure> failure;
  /// Body bytes received and not yet taken by the caller.
  std::string body;
  pplx::cancellation_token_source cancellation;
};

/// The response body sink: cpprestsdk writes the body here as it arrives, and the caller takes it
/// from the Exchange. Write-only; the read side is never used.
class ExchangeBuffer final
    : public concurrency::streams::details::streambuf_state_manager<uint8_t> {
public:
  explicit ExchangeBuffer(std::shared_ptr<Exchange> exchange)
      : streambuf_state_manager(std::ios_base::out), exchange_(std::move(exchange)) {}

  bool can_seek() const override { return false; }
  bool has_size() const override { return false; }
  size_t buffer_size(std::ios_base::openmode) const override { return 0; }
  void set_buffer_size(size_t, std::ios_base::openmode) override {}
  size_t in_avail() const override { return 0; }
  pos_type getpos(std::ios_base::openmode) const override { return static_cast<pos_type>(-1); }
  pos_type seekpos(pos_type, std::ios_base::openmode) override { return static_cast<pos_type>(-1); }
  pos_type seekoff(off_type, std::ios_base::seekdir, std::ios_base::openmode) override {
    return static_cast<pos_type>(-1);
  }
  bool acquire(uint8_t*& ptr, size_t& count) override {
    ptr = nullptr;
    count = 0;
    return false;
  }
  void release(uint8_t*, size_t) override {}

protected:
  pplx::task<int_type> _putc(uint8_t ch) override {
    append(&ch, 1);
    return pplx::task_from_result<int_type>(ch);
  }
  pplx::task<size_t> _putn(const uint8_t* ptr, size_t count) override {
    append(ptr, count);
    return pplx::task_from_result(count);
  }
  pplx::task<int_type> _bumpc() override { return pplx::task_from_result(traits::eof()); }
  int_type _sbumpc() override { return traits::eof(); }
  pplx::task<int_type> _getc() override { return pplx::task_from_result(traits::eof()); }
  int_type _sgetc() override { return traits::eof(); }
  pplx::task<int_type> _nextc() override { return pplx::task_from_result(traits::eof()); }
  pplx::task<int_type> _ungetc() override { return pplx::task_from_result(traits::eof()); }
  pplx::task<size_t> _getn(uint8_t*, size_t) override { return pplx::task_from_result<size_t>(0); }
  size_t _scopy(uint8_t*, size_t) override { return 0; }
  pplx::task<bool> _sync() override { return pplx::task_from_result(true); }
  uint8_t* _alloc(size_t) override { return nullptr; }
  void _commit(size_t) override {}

private:
  void append(const uint8_t* ptr, size_t count) {
    {
      std::lock_guard lock(exchange_->mutex);
      exchange_->body.append(reinterpret_cast<const char*>(ptr), count);
    }
    exchange_->changed.notify_all();
  }

  std::shared_ptr<Exchange> exchange_;
};

TransportFailure describeException(const std::exception_ptr& exception) {
  try {
    std::rethrow_exception(exception);
  } catch (const http::http_exception& e) {
    const int code = e.error_code().value();
    const std::string what = e.what();
    if (code == static_cast<int>(std::errc::operation_canceled)) {
      return {TransportFailure::Kind::Cancelled, code, what};
    }
    if (code == static_cast<int>(std::errc::timed_out)) {
      return {TransportFailure::Kind::TimedOut, code, what};
    }
    if (what.find("SSL handshake") != std::string::npos) {
      return {TransportFailure::Kind::TlsHandshake, code, what};
    }
    std::string detail = what;
    if (code != 0) {
      detail += " (" + std::generic_category().message(code) + ")";
    }
    return {TransportFailure::Kind::Other, code, detail};
  } catch (const pplx::task_canceled&) {
    return {TransportFailure::Kind::Cancelled, 0, "cancelled"};
  } catch (const std::exception& e) {
    return {TransportFailure::Kind::Other, 0, e.what()};
  } catch (...) {
    return {TransportFailure::Kind::Other, 0, "unknown error"};
  }
}

/// What one call asks of the server.
struct RequestSpec {
  std::string_view method{};
  std::string target{};
  std::string contentType{};
  std::string body{};
  /// Safe to resend after a 5xx without Retry-After (GET, LIST, WATCH start).
  bool idempotent = false;
  /// A watch: return as soon as a 2xx status arrives, with the body still streaming.
  bool streaming = false;
};

/// Why the caller stopped waiting.
enum class WaitEnd { Done, Stopped, DeadlineExceeded };

nlohmann::json parseJsonOrNull(const std::string& body) {
  Result<nlohmann::json> parsed = parseJsonWithLimits(body);
  return parsed ? std::move(*parsed) : nlohmann::json();
}

} // namespace

/// Everything behind HttpKubeApi: the cpprestsdk clients, TLS, token and the retry loop.
class HttpKubeApi::Transport {
public:
  Transport(KubeConfig config, Options options, std::shared_ptr<TlsSetup> tls,
            std::unique_ptr<SystemClock> ownedClock, Clock& clock, const http::client::http_client& client,
            const http::client::http_client& watchClient)
      : config_(std::move(config)), options_(std::move(options)), tls_(std::move(tls)),
        ownedClock_(std::move(ownedClock)), clock_(clock),
        tokens_(config_.token, config_.tokenFile, clock_, options_.tokenRecheckInterval),
        client_(client), watchClient_(watchClient) {}

  TokenSource& tokens() { return tokens_; }
  const KubeConfig& config() const { return config_; }

  /// Sends `spec`, retrying as the class comment describes. On success the Exchange has a 2xx
  /// status and, unless streaming, the whole body.
  Result<std::shared_ptr<Exchange>>
  send(const RequestSpec& spec, std::stop_token stop,
       std::optional<SteadyClock::time_point> callDeadline = std::nullopt) {
    const Clock::MonotonicTime budgetEnd = clock_.now() + options_.retryBudget;
    bool retriedWithNewToken = false;
    for (int attempt = 1;; ++attempt) {
      std::string token = tokens_.current();
      SecretWiper wipeToken(token);
      const SteadyClock::time_point started = SteadyClock::now();
      if (callDeadline && started >= *callDeadline) {
        return makeError(Error::Code::Timeout,
                         std::string(spec.method) + " " + spec.target +
                             ": the call's deadline passed before it was sent");
      }
      const SteadyClock::time_point deadline =
          callDeadline ? std::min(started + options_.requestTimeout, *callDeadline)
                       : started + options_.requestTimeout;
      std::shared_ptr<Exchange> exchange = start(spec, token);

      WaitEnd end = waitFor(*exchange, stop, deadline, [&] {
        return exchange->finished || (spec.streaming && exchange->headersArrived);
      });
      if (end == WaitEnd::Done && spec.streaming && exchange->headersArrived &&
          (exchange->status < 200 || exchange->status > 299)) {
        // An error status on a watch: its body is a short Status, read it whole.
        end = waitFor(*exchange, stop, deadline, [&] { return exchange->finished; });
      }
      const auto elapsed = SteadyClock::now() - started;
      if (end != WaitEnd::Done) {
        exchange->cancellation.cancel();
        observe(spec.method, 0, elapsed);
        if (end == WaitEnd::Stopped) {
          return makeError(Error::Code::Cancelled,
                           std::string(spec.method) + " " + spec.target + ": cancelled");
        }
        return makeError(Error::Code::Timeout,
                         std::string(spec.method) + " " + spec.target + ": no response within " +
                             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                deadline - started)
                                                .count()) +
                             " ms");
      }

      std::unique_lock lock(exchange->mutex);
      if (!exchange->headersArrived || (!spec.streaming && exchange->failure)) {
        const TransportFailure failure = exchange->failure.value_or(
            TransportFailure{TransportFailure::Kind::Other, 0, "no response"});
        const int code = exchange->headersArrived ? exchange->status : 0;
        lock.unlock();
        observe(spec.method, code, elapsed);
        return transportError(spec, failure);
      }
      const int status = exchange->status;
      const std::optional<std::chrono::seconds> retryAfter = exchange->retryAfter;
      lock.unlock();
      observe(spec.method, status, elapsed);

      if (status >= 200 && status <= 299) {
        return exchange;
      }

      if (status == 401 && !retriedWithNewToken && tokens_.refreshAfterRejection(token)) {
        // The token file changed since we read it (rotation): one more try with the new token.
        retriedWithNewToken = true;
        continue;
      }

      const nlohmann::json statusBody = parseJsonOrNull(takeBody(*exchange));
      Error error = errorFromStatus(status, statusBody);
      const bool retryable = status == 429 || (status >= 500 && (spec.idempotent || retryAfter));
      if (!retryable) {
        return error;
      }
      std::chrono::milliseconds delay =
          retryAfter ? std::chrono::milliseconds(*retryAfter)
                     : error.retryAfter.value_or(serverErrorBackoff(attempt));
      error.retryAfter = delay;
      if (attempt >= options_.maxAttempts) {
        error.message += " (gave up after " + std::to_string(attempt) + " attempts)";
        return error;
      }
      if (clock_.now() + delay > budgetEnd) {
        error.message += " (not retried: waiting " + std::to_string(delay.count()) +
                         " ms would exceed the retry budget)";
        return error;
      }
      if (callDeadline && SteadyClock::now() + delay >= *callDeadline) {
        error.message += " (not retried: waiting " + std::to_string(delay.count()) +
                         " ms would pass the call's deadline)";
        return error;
      }
      logDebug("retrying kubernetes request", {{"method", spec.method},
                                               {"path", spec.target},
                                               {"status", status},
                                               {"attempt", attempt},
                                               {"delayMs", delay.count()}});
      if (!clock_.sleepFor(delay, stop)) {
        return makeError(Error::Code::Cancelled, std::string(spec.method) + " " + spec.target +
                                                     ": cancelled while waiting to retry");
      }
    }
  }

  /// Waits until `ready()` holds (under the exchange's lock), `stop` is requested or `deadline`.
  template <typename Predicate>
  static WaitEnd waitFor(Exchange& exchange, std::stop_token stop, SteadyClock::time_point deadline,
                         Predicate ready) {
    std::unique_lock lock(exchange.mutex);
    if (exchange.changed.wait_until(lock, stop, deadline, ready)) {
      return WaitEnd::Done;
    }
    return stop.stop_requested() ? WaitEnd::Stopped : WaitEnd::DeadlineExceeded;
  }

  static std::string takeBody(Exchange& exchange) {
    std::lock_guard lock(exchange.mutex);
    return std::move(exchange.body);
  }

  Error transportError(const RequestSpec& spec, const TransportFailure& failure) const {
    const std::string what = std::string(spec.method) + " " + config_.server + spec.target;
    switch (failure.kind) {
    case TransportFailure::Kind::Cancelled:
      return makeError(Error::Code::Cancelled, what + ": cancelled");
    case TransportFailure::Kind::TimedOut:
      return makeError(Error::Code::Timeout, what + ": timed out (" + failure.what + ")");
    case TransportFailure::Kind::TlsHandshake: {
      // cpprestsdk passes OpenSSL's packed error code through; its reason is the useful part.
      const char* reason = ERR_reason_error_string(static_cast<unsigned long>(failure.code));
      std::string message = what + ": TLS handshake failed";
      if (reason != nullptr) {
        message += ": " + std::string(reason);
        if (std::string_view(reason) == "certificate verify failed") {
          if (const std::string detail = tls_->lastVerifyFailure(); !detail.empty()) {
            message += " (" + detail + ")";
          }
        }
      }
      return makeError(Error::Code::Unavailable, message);
    }
    case TransportFailure::Kind::Other:
      break;
    }
    return makeError(Error::Code::Unavailable, what + ": " + failure.what);
  }

  const Options& options() const { return options_; }

private:
  std::shared_ptr<Exchange> start(const RequestSpec& spec, const std::string& token) {
    auto exchange = std::make_shared<Exchange>();
    try {
      http::http_request request(spec.method == "GET"     ? http::methods::GET
                                 : spec.method == "POST"  ? http::methods::POST
                                 : spec.method == "PUT"   ? http::methods::PUT
                                 : spec.method == "PATCH" ? http::methods::PATCH
                                                          : http::methods::DEL);
      request.set_request_uri(web::uri(spec.target));
      http::http_headers& headers = request.headers();
      headers.add("Accept", "application/json");
      headers.add("User-Agent", options_.userAgent);
      if (!config_.tlsServerName.empty()) {
        // cpprestsdk takes the TLS server name (SNI and host-name check) from the Host header.
        headers.add("Host", config_.tlsServerName);
      }
      if (!token.empty()) {
        std::string authorization = "Bearer " + token;
        headers.add("Authorization", authorization);
        wipeSecret(authorization);
      }
      if (!spec.contentType.empty()) {
        // Bytes rather than a std::string: cpprestsdk reads a string body through a char buffer
        // cast to a uint8_t one, which UBSan rightly reports.
        headers.add("Content-Type", spec.contentType);
        request.set_body(std::vector<unsigned char>(spec.body.begin(), spec.body.end()));
      }
      concurrency::streams::streambuf<uint8_t> sink(std::make_shared<ExchangeBuffer>(exchange));
      request.set_response_stream(sink.create_ostream());

      http::client::http_client& client = spec.streaming ? watchClient_ : client_;
      client.request(request, exchange->cancellation.get_token())
          .then([exchange](const pplx::task<http::http_response>& task) {
            std::optional<http::http_response> response;
            {
              std::lock_guard lock(exchange->mutex);
              try {
                response = task.get();
                exchange->status = response->status_code();
                if (auto it = response->headers().find("Retry-After");
                    it != response->headers().end()) {
                  exchange->retryAfter = parseRetryAfter(it->second);
                }
                exchange->headersArrived = true;
              } catch (...) {
                exchange->failure = describeException(std::current_exception());
                exchange->finished = true;
              }
            }
            exchange->changed.notify_all();
            if (!response) {
              return;
            }
            const auto bodyDone = [exchange](std::optional<TransportFailure> failure) {
              {
                std::lock_guard lock(exchange->mutex);
                exchange->failure = std::move(failure);
                exchange->finished = true;
              }
              exchange->changed.notify_all();
            };
            try {
              response->content_ready().then([bodyDone](const pplx::task<http::http_response>& body) {
                try {
                  // The task has completed: get() only rethrows its failure, if any.
                  body.get();
                  bodyDone(std::nullopt);
                } catch (...) {
                  bodyDone(describeException(std::current_exception()));
                }
              });
            } catch (...) {
              bodyDone(describeException(std::current_exception()));
            }
          });
    } catch (...) {
      std::lock_guard lock(exchange->mutex);
      exchange->failure = describeException(std::current_exception());
      exchange->finished = true;
    }
    return exchange;
  }

  void observe(std::string_view method, int code, std::chrono::nanoseconds elapsed) const {
    if (options_.observer) {
      options_.observer(method, code, elapsed);
    }
  }

  static std::chrono::milliseconds serverErrorBackoff(int attempt) {
    std::chrono::milliseconds delay = kFirstServerErrorBackoff;
    for (int i = 1; i < attempt && delay < kMaxServerErrorBackoff; ++i) {
      delay *= 2;
    }
    return std::min(delay, kMaxServerErrorBackoff);
  }

  const KubeConfig config_;
  const Options options_;
  std::shared_ptr<TlsSetup> tls_;
  std::unique_ptr<SystemClock> ownedClock_;
  Clock& clock_;
  TokenSource tokens_;
  http::client::http_client client_;
  http::client::http_client watchClient_;
};

namespace {

/// The fields to build of each object of a list or watch; none for a plain parseJsonWithLimits.
std::optional<FieldTree> objectFields(bool omitManagedFields,
                                      const std::vector<std::string>& onlyFields) {
  if (!omitManagedFields) {
    return std::nullopt;
  }
  return FieldTree(onlyFields);
}

Result<nlohmann::json> jsonBody(const Result<std::shared_ptr<Exchange>>& reply,
                                std::string_view what,
                                const std::optional<FieldTree>& objects = std::nullopt) {
  if (!reply) {
    return reply.error();
  }
  std::string body;
  {
    std::lock_guard lock((*reply)->mutex);
    body = std::move((*reply)->body);
  }
  Result<nlohmann::json> parsed =
      objects ? parseObjectsWithoutManagedFields(body, ObjectsAt::ListItems, kMaxJsonDepth,
                                                 &*objects)
              : parseJsonWithLimits(body);
  if (!parsed) {
    return makeError(Error::Code::Invalid, std::string(what) + ": response is " +
                                               parsed.error().message + ": " + excerpt(body));
  }
  return std::move(*parsed);
}

http::client::http_client_config clientConfig(const KubeConfig& config,
                                              const std::shared_ptr<TlsSetup>& tls,
                                              std::chrono::microseconds timeout) {
  http::client::http_client_config clientConfig;
  clientConfig.set_timeout(timeout);
  clientConfig.set_validate_certificates(!config.insecureSkipTlsVerify);
  clientConfig.set_ssl_context_callback(
      [tls](boost::asio::ssl::context& context) { tls->configure(context.native_handle()); });
  // TCP_NODELAY, as Go's net/http sets on every connection: cpprestsdk sends a request's head and
  // body in two writes, and with Nagle the body waits for the server's delayed ACK of the head —
  // 20-40 ms added to a status PATCH that follows an earlier request closely (bench/README.md).
  // cpprestsdk hands the connection before each request (the types are those its header
  // documents for Boost.Asio); a connection not yet opened refuses the option and gets it at its
  // next request, so the error is ignored.
  const bool https = config.server.rfind("https://", 0) == 0;
  clientConfig.set_nativehandle_options([https](http::client::native_handle handle) {
    boost::system::error_code notOpenYet;
    if (https) {
      static_cast<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>*>(handle)
          ->next_layer()
          .set_option(boost::asio::ip::tcp::no_delay(true), notOpenYet);
    } else {
      static_cast<boost::asio::ip::tcp::socket*>(handle)->set_option(
          boost::asio::ip::tcp::no_delay(true), notOpenYet);
    }
  });
  return clientConfig;
}

} // namespace

Result<void> HttpKubeApi::setIoThreads(std::size_t threads) {
  if (threads == 0) {
    return makeError(Error::Code::Invalid, "the I/O thread pool needs at least one thread");
  }
  try {
    crossplat::threadpool::initialize_with_threads(threads);
  } catch (const std::exception& e) {
    return makeError(Error::Code::Invalid,
                     std::string("cannot size the I/O thread pool: ") + e.what());
  }
  return {};
}

Result<std::unique_ptr<HttpKubeApi>> HttpKubeApi::create(KubeConfig config, const Options& options) {
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return makeError(Error::Code::Invalid,
                     "server \"" + config.server + "\" must start with https:// or http://");
  }
  if (options.requestTimeout.count() <= 0 || options.maxAttempts < 1) {
    return makeError(Error::Code::Invalid,
                     "requestTimeout must be positive and maxAttempts at least 1");
  }
  if (sendsCredentialsInClear(config)) {
    logWarn("the API server is reached over plain http: its credentials can be read on the way",
            {{"server", config.server}, {"source", config.source}});
  }
  try {
    web::uri base(config.server);
    if (base.host().empty()) {
      return makeError(Error::Code::Invalid, "server \"" + config.server + "\" has no host");
    }
    if (base.host().front() == '[') {
      // cpprestsdk hands the host to the resolver as it is, and "[fd00::1]" does not resolve;
      // the bare address does, and is also what the certificate check needs.
      web::uri_builder unbracketed(base);
      unbracketed.set_host(base.host().substr(1, base.host().size() - 2));
      base = unbracketed.to_uri();
    }
    const std::string tlsName = config.tlsServerName.empty() ? base.host() : config.tlsServerName;
    Result<std::shared_ptr<TlsSetup>> tls = TlsSetup::create(config, tlsName);
    if (!tls) {
      return tls.error();
    }

    http::client::http_client_config requests =
        clientConfig(config, *tls,
                     std::chrono::duration_cast<std::chrono::microseconds>(options.requestTimeout));
    http::client::http_client_config watches = clientConfig(
        config, *tls,
        std::chrono::duration_cast<std::chrono::microseconds>(kWatchSocketIdleTimeout));
    // RFC 6066 allows no IP address in SNI; Go's crypto/tls does not send one either.
    requests.set_tlsext_sni_enabled(!isIpLiteral(tlsName));
    watches.set_tlsext_sni_enabled(!isIpLiteral(tlsName));

    std::unique_ptr<SystemClock> ownedClock;
    Clock* clock = options.clock;
    if (clock == nullptr) {
      ownedClock = std::make_unique<SystemClock>();
      clock = ownedClock.get();
    }
    auto transport = std::make_unique<Transport>(config, options, *tls, std::move(ownedClock),
                                                 *clock, http::client::http_client(base, requests),
                                                 http::client::http_client(base, watches));
    if (Result<void> loaded = transport->tokens().load(); !loaded) {
      return loaded.error();
    }
    return std::unique_ptr<HttpKubeApi>(new HttpKubeApi(std::move(transport)));
  } catch (const std::exception& e) {
    return makeError(Error::Code::Invalid,
                     "server \"" + config.server + "\" is not a valid URL: " + e.what());
  }
}

HttpKubeApi::HttpKubeApi(std::unique_ptr<Transport> transport) : transport_(std::move(transport)) {}

HttpKubeApi::~HttpKubeApi() = default;

const std::string& HttpKubeApi::server() const { return transport_->config().server; }

Result<nlohmann::json> HttpKubeApi::get(const ResourcePath& path, const CallOptions& call) {
  RequestSpec spec{.method = "GET", .target = path.url(), .idempotent = true};
  return jsonBody(transport_->send(spec, call.stop, call.deadline), "GET " + spec.target);
}

Result<nlohmann::json> HttpKubeApi::list(const ResourcePath& collection, const ListOptions& options,
                                         const CallOptions& call) {
  RequestSpec spec{
      .method = "GET", .target = collection.url() + listQuery(options), .idempotent = true};
  return jsonBody(transport_->send(spec, call.stop, call.deadline), "LIST " + spec.target,
                  objectFields(options.omitManagedFields, options.onlyFields));
}

Result<nlohmann::json> HttpKubeApi::create(const ResourcePath& collection,
                                           const nlohmann::json& object, const CallOptions& call) {
  RequestSpec spec{.method = "POST",
                   .target = collection.url(),
                   .contentType = "application/json",
                   .body = object.dump()};
  return jsonBody(transport_->send(spec, call.stop, call.deadline), "POST " + spec.target);
}

Result<nlohmann::json> HttpKubeApi::replace(const ResourcePath& path, const nlohmann::json& object,
                                            const CallOptions& call) {
  RequestSpec spec{.method = "PUT",
                   .target = path.url(),
                   .contentType = "application/json",
                   .body = object.dump()};
  return jsonBody(transport_->send(spec, call.stop, call.deadline), "PUT " + spec.target);
}

Result<nlohmann::json> HttpKubeApi::mergePatch(const ResourcePath& path,
                                               const nlohmann::json& patch,
                                               const CallOptions& call) {
  RequestSpec spec{.method = "PATCH",
                   .target = path.url(),
                   .contentType = "application/merge-patch+json",
                   .body = patch.dump()};
  return jsonBody(transport_->send(spec, call.stop, call.deadline), "PATCH " + spec.target);
}

Result<nlohmann::json> HttpKubeApi::apply(const ResourcePath& path, const nlohmann::json& object,
                                          const ApplyOptions& options, const CallOptions& call) {
  if (options.fieldManager.empty()) {
    return makeError(Error::Code::Invalid, "server-side apply needs a fieldManager");
  }
  // JSON is YAML, so the object goes as it is.
  RequestSpec spec{.method = "PATCH",
                   .target = path.url() + applyQuery(options),
                   .contentType = "application/apply-patch+yaml",
                   .body = object.dump()};
  return jsonBody(transport_->send(spec, call.stop, call.deadline), "APPLY " + spec.target);
}

Result<void> HttpKubeApi::remove(const ResourcePath& path, const DeleteOptions& options,
                                 const CallOptions& call) {
  RequestSpec spec{.method = "DELETE", .target = path.url()};
  if (!options.empty()) {
    Result<std::string> body = deleteBody(options);
    if (!body) {
      return body.error();
    }
    spec.contentType = "application/json";
    spec.body = std::move(*body);
  }
  Result<std::shared_ptr<Exchange>> reply = transport_->send(spec, call.stop, call.deadline);
  if (!reply) {
    return reply.error();
  }
  return {};
}

Result<void> HttpKubeApi::watch(const ResourcePath& collection, const WatchOptions& options,
                                const std::function<bool(const RawWatchEvent&)>& onEvent,
                                std::stop_token stop) {
  RequestSpec spec{.method = "GET",
                   .target = collection.url() + watchQuery(options),
                   .idempotent = true,
                   .streaming = true};
  Result<std::shared_ptr<Exchange>> opened = transport_->send(spec, stop);
  if (!opened) {
    return opened.error();
  }
  const std::shared_ptr<Exchange> exchange = *opened;
  // However the watch ends, close the connection if it is still open (a no-op once the stream
  // has ended), so an abandoned stream does not keep a connection and a buffer alive.
  struct CloseOnExit {
    Exchange& exchange;
    ~CloseOnExit() { exchange.cancellation.cancel(); }
  } closeOnExit{*exchange};
  // Closing the connection is what unblocks cpprestsdk; the wait below wakes on `stop` itself.
  std::stop_callback cancelOnStop(stop, [&exchange] { exchange->cancellation.cancel(); });

  const std::chrono::seconds serverLimit =
      options.timeout.count() > 0 ? options.timeout : kServerDefaultWatchTimeout;
  const SteadyClock::time_point deadline =
      SteadyClock::now() + serverLimit + transport_->options().watchGrace;
  const std::string what = "WATCH " + spec.target;
  LineSplitter lines(transport_->options().maxWatchLineBytes);
  const std::optional<FieldTree> objects =
      objectFields(options.omitManagedFields, options.onlyFields);

  // Handles one line; an Error ends the watch.
  const auto handleLine = [&](const std::string& line) -> std::optional<Error> {
    Result<nlohmann::json> parsed =
        objects ? parseObjectsWithoutManagedFields(line, ObjectsAt::WatchEventObject,
                                                   transport_->options().maxJsonDepth,
                                                   &*objects)
                : parseJsonWithLimits(line, transport_->options().maxJsonDepth);
    if (!parsed || !parsed->is_object()) {
      return makeError(Error::Code::Invalid,
                       what + ": malformed watch event (" +
                           (parsed ? std::string("not an object") : parsed.error().message) +
                           "): " + excerpt(line));
    }
    nlohmann::json& event = *parsed;
    const auto type = event.find("type");
    const auto object = event.find("object");
    if (type == event.end() || !type->is_string() || object == event.end()) {
      return makeError(Error::Code::Invalid,
                       what + ": watch event without type or object: " + excerpt(line));
    }
    RawWatchEvent raw{type->get<std::string>(), std::move(*object)};
    if (raw.type == "ERROR" && objects && !objects->keepsAll()) {
      // Its object is a Status, not one of the collection's: read it whole.
      Result<nlohmann::json> whole = parseJsonWithLimits(line, transport_->options().maxJsonDepth);
      if (whole && whole->is_object() && whole->contains("object")) {
        raw.object = std::move((*whole)["object"]);
      }
    }
    if (raw.type == "ERROR") {
      int code = 500;
      if (auto it = raw.object.find("code"); it != raw.object.end() && it->is_number_integer()) {
        code = it->get<int>();
      }
      return errorFromStatus(code, raw.object);
    }
    if (raw.type != "ADDED" && raw.type != "MODIFIED" && raw.type != "DELETED" &&
        raw.type != "BOOKMARK") {
      return makeError(Error::Code::Invalid, what + ": unknown watch event type " + raw.type);
    }
    if (!onEvent(raw)) {
      return makeError(Error::Code::Cancelled, what + ": stopped by the event handler");
    }
    return std::nullopt;
  };

  while (true) {
    std::string chunk;
    bool finished = false;
    std::optional<TransportFailure> failure;
    const WaitEnd end = Transport::waitFor(
        *exchange, stop, deadline, [&] { return !exchange->body.empty() || exchange->finished; });
    {
      std::lock_guard lock(exchange->mutex);
      chunk = std::move(exchange->body);
      exchange->body.clear();
      finished = exchange->finished;
      failure = exchange->failure;
    }
    lines.append(chunk);
    // Once stop is requested no more events are delivered, even those already received.
    while (!stop.stop_requested()) {
      std::optional<std::string> line = lines.nextLine();
      if (!line) {
        break;
      }
      if (std::optional<Error> error = handleLine(*line)) {
        return *error;
      }
    }
    if (lines.overflowed()) {
      return makeError(Error::Code::Invalid,
                       what + ": watch event larger than " +
                           std::to_string(transport_->options().maxWatchLineBytes) + " bytes");
    }
    if (end == WaitEnd::Stopped || stop.stop_requested()) {
      return makeError(Error::Code::Cancelled, what + ": cancelled");
    }
    if (end == WaitEnd::DeadlineExceeded) {
      return makeError(Error::Code::Timeout, what + ": the server did not end the watch within " +
                                                 std::to_string(serverLimit.count()) + " s");
    }
    if (finished) {
      if (failure) {
        if (failure->kind == TransportFailure::Kind::Cancelled) {
          return makeError(Error::Code::Cancelled, what + ": cancelled");
        }
        return makeError(Error::Code::Unavailable,
                         what + ": watch stream broken: " + failure->what);
      }
      const std::string_view rest = lines.pending();
      if (rest.find_first_not_of(" \t\r\n") != std::string_view::npos) {
        // A last event without its newline is still an event; anything else is a cut stream.
        if (std::optional<Error> error = handleLine(std::string(rest))) {
          return *error;
        }
      }
      return {};
    }
  }
}

} // namespace libcluster
