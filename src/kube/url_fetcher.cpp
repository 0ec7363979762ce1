#include "kube/url_fetcher.h"

#include <cpprest/http_client.h>

namespace libcluster {

FetchUrl makeUrlFetcher(std::chrono::milliseconds timeout) {
  return [timeout](const std::string& url, std::stop_token stop) -> Result<std::string> {
    try {
      web::http::client::http_client_config config;
      config.set_timeout(timeout);
      web::http::client::http_client client(web::uri(url), config);
      pplx::cancellation_token_source cancellation;
      std::stop_callback onStop(stop, [&] { cancellation.cancel(); });
      web::http::http_request request(web::http::methods::GET);
      request.headers().add("Accept", "application/json");
      web::http::http_response response = client.request(request, cancellation.get_token()).get();
      const std::string body = response.extract_utf8string(true).get();
      const int status = response.status_code();
      if (status >= 200 && status < 300) {
        return body;
      }
      const Error::Code code = status == 404   ? Error::Code::NotFound
                               : status >= 500 ? Error::Code::Unavailable
                                               : Error::Code::Invalid;
      return Error{code, "GET " + url + ": HTTP " + std::to_string(status)};
    } catch (const pplx::task_canceled&) {
      if (stop.stop_requested()) {
        return Error{Error::Code::Cancelled, "GET " + url + ": stopped"};
      }
      return Error{Error::Code::Timeout, "GET " + url + ": timed out"};
    } catch (const web::http::http_exception& error) {
      const std::string what = error.what();
      const bool timedOut =
          error.error_code() == std::errc::timed_out || what.find("timed out") != std::string::npos;
      return Error{timedOut ? Error::Code::Timeout : Error::Code::Unavailable,
                   "GET " + url + ": " + what};
    } catch (const std::exception& error) {
      return Error{Error::Code::Invalid, "GET " + url + ": " + error.what()};
    }
  };
}

} // namespace libcluster
