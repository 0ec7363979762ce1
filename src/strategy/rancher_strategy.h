#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "kube/url_fetcher.h"
#include "strategy/strategy.h"

namespace libcluster {

/// Node names from a Rancher 1.x metadata "self service" answer, read by the one parser both
/// binaries use (parseRancherMembers in membership/sources.h): "<basename>@<first IP>" of each
/// container; containers without a usable, non-empty IP are skipped (libcluster crashed on them);
/// a body that is not JSON, or has no `containers` list, is Invalid.
Result<PeerSet> parseRancherService(std::string_view body, const std::string& nodeBasename);

/// libcluster's Cluster.Strategy.Rancher: polls the metadata API with an HTTP GET (Accept:
/// application/json). Any failure is an Error, never "no peers".
class RancherStrategy final : public Strategy {
public:
  struct Options {
    std::string nodeBasename;
    std::string url = "http://rancher-metadata/latest/self/service";
  };

  /// Invalid when nodeBasename or url is empty, or url is not http(s).
  static Result<std::unique_ptr<RancherStrategy>> create(Options options, FetchUrl fetch);

  // Strategy
  Result<PeerSet> discoverPeers(std::stop_token stop) override;

private:
  RancherStrategy(Options options, FetchUrl fetch)
      : options_(std::move(options)), fetch_(std::move(fetch)) {}

  Options options_;
  FetchUrl fetch_;
};

} // namespace libcluster
