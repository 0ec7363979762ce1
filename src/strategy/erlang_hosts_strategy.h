#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "dns/resolver.h"
#include "strategy/epmd_client.h"
#include "strategy/strategy.h"

namespace libcluster {

/// Reads the hosts of a `.hosts.erlang` file: Erlang terms, each a host name as an atom
/// ('host.example.com'. or host.) or a string ("host".), ended by a dot; `%` comments and blank
/// lines allowed. Anything else is Invalid, naming the line (net_adm:host_file fails the same way).
Result<std::vector<std::string>> parseHostsErlang(std::string_view text);

/// libcluster's Cluster.Strategy.ErlangHosts: the hosts of `.hosts.erlang` (read once, at start),
/// and on each poll every node registered in each host's epmd, named "<name>@<host>". Hosts whose
/// epmd does not answer are skipped, as libcluster does; when none answers it is an Error. It
/// never prunes. Hosts are resolved with the Resolver (one thread), epmd asked in parallel.
class ErlangHostsStrategy final : public Strategy {
public:
  struct Options {
    /// The file to read; empty means the first `.hosts.erlang` in `searchPath`.
    std::filesystem::path hostsFile;
    /// net_adm:host_file's order: the working directory, $HOME, the OTP root.
    std::vector<std::filesystem::path> searchPath;
    std::uint16_t epmdPort = kDefaultEpmdPort;
    std::chrono::milliseconds epmdTimeout{2000};
  };

  /// Reads the file. NotFound when there is none (naming where it looked), Invalid when it does
  /// not parse.
  static Result<std::unique_ptr<ErlangHostsStrategy>> create(Options options, Resolver& resolver);

  // Strategy
  Result<PeerSet> discoverPeers(std::stop_token stop) override;
  bool prunes() const override { return false; }

  const std::vector<std::string>& hosts() const { return hosts_; }
  const std::filesystem::path& file() const { return file_; }

private:
  ErlangHostsStrategy(Options options, Resolver& resolver, std::filesystem::path file,
                      std::vector<std::string> hosts)
      : options_(std::move(options)), resolver_(resolver), file_(std::move(file)),
        hosts_(std::move(hosts)) {}

  Options options_;
  Resolver& resolver_;
  std::filesystem::path file_;
  std::vector<std::string> hosts_;
};

} // namespace libcluster
