#include "controller/external_sources.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "membership/sources.h"

namespace libcluster {

using namespace std::chrono_literals;

namespace {

UrlAllowList allowListOrNothing(const std::vector<std::string>& entries) {
  Result<UrlAllowList> list = UrlAllowList::parse(entries);
  if (!list) {
    // main() validates the flag; refusing everything is the safe reading of a list we cannot read.
    logError("rancher host allow-list is invalid, allowing no host",
             {{"error", list.error().message}});
    return *UrlAllowList::parse({});
  }
  return *list;
}

} // namespace

ExternalSources::ExternalSources(Resolver& resolver, UrlFetcher fetch, Clock& clock,
                                 std::function<void(const std::string&)> onChange)
    : ExternalSources(resolver, std::move(fetch), clock, std::move(onChange), Options{}) {}

ExternalSources::ExternalSources(Resolver& resolver, UrlFetcher fetch, Clock& clock,
                                 std::function<void(const std::string&)> onChange, Options options)
    : resolver_(resolver), fetch_(std::move(fetch)), clock_(clock), onChange_(std::move(onChange)),
      onFetchFailure_(std::move(options.onFetchFailure)),
      rancherHosts_(allowListOrNothing(options.allowedRancherHosts)) {}

std::string ExternalSources::entryKey(const std::string& topologyKey, const TopologySource& source,
                                      const std::string& basename) {
  // The whole source is part of the key, so an edited source is a new entry resolved at once.
  TopologySpec single;
  single.sources = {source};
  return topologyKey + "\n" + basename + "\n" + toJson(single)["sources"].dump();
}

void ExternalSources::track(const std::string& topologyKey, const TopologySpec& spec) {
  std::lock_guard lock(mutex_);
  std::map<std::string, Entry> kept;
  for (const TopologySource& source : spec.sources) {
    if (!source.dns && !source.rancher) {
      continue;
    }
    const std::string basename = source.nodeBasename.empty() ? spec.nodeBasename : source.nodeBasename;
    const std::string key = entryKey(topologyKey, source, basename);
    if (auto it = entries_.find(key); it != entries_.end()) {
      kept.emplace(key, std::move(it->second));
      entries_.erase(it);
    } else {
      kept.emplace(key, Entry{topologyKey, source, basename, {}, std::nullopt, {}, false, clock_.now()});
    }
  }
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.topologyKey == topologyKey) {
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  entries_.merge(kept);
  changed_.notify_all();
}

void ExternalSources::untrack(const std::string& topologyKey) {
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const auto& item) { return item.second.topologyKey == topologyKey; });
}

SourceSnapshot ExternalSources::snapshot(const std::string& topologyKey, const TopologySource& source,
                                         const std::string& basename) const {
  std::lock_guard lock(mutex_);
  SourceSnapshot snapshot{source.name, source.kind(), {}, std::nullopt, false};
  if (auto it = entries_.find(entryKey(topologyKey, source, basename)); it != entries_.end()) {
    snapshot.candidates = it->second.candidates;
    snapshot.error = it->second.error;
    snapshot.answered = it->second.answered;
  }
  return snapshot;
}

void ExternalSources::run(std::stop_token stop) {
  while (!stop.stop_requested()) {
    refreshDue(stop);
    std::unique_lock lock(mutex_);
    Clock::MonotonicTime next = clock_.now() + 60s;
    for (const auto& [key, entry] : entries_) {
      next = std::min(next, entry.due);
    }
    // Wake for the next due entry, a newly tracked source, or stop; the wait is bounded so a
    // FakeClock-driven caller never blocks here.
    const auto wait = std::min<std::chrono::nanoseconds>(next - clock_.now(), 1s);
    if (wait > 0ns) {
      changed_.wait_for(lock, stop, wait, [] { return false; });
    }
  }
}

void ExternalSources::refreshDue(std::stop_token stop) {
  std::vector<std::pair<std::string, Entry>> due;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    for (const auto& [key, entry] : entries_) {
      if (entry.due <= now) {
        due.emplace_back(key, entry);
      }
    }
  }
  for (auto& [key, entry] : due) {
    if (stop.stop_requested()) {
      return;
    }
    Outcome outcome = resolve(entry, stop);
    if (!outcome.members && outcome.members.error().code == Error::Code::Cancelled) {
      return;
    }
    bool changed = false;
    std::string topologyKey;
    {
      std::lock_guard lock(mutex_);
      auto it = entries_.find(key);
      if (it == entries_.end()) {
        continue; // untracked while resolving
      }
      Entry& current = it->second;
      topologyKey = current.topologyKey;
      current.due = clock_.now() + outcome.refreshAfter;
      if (outcome.members) {
        std::vector<Candidate> members = std::move(outcome.members).value();
        auto sameNodes = [](const std::vector<Candidate>& a, const std::vector<Candidate>& b) {
          return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                            [](const Candidate& x, const Candidate& y) { return x.member == y.member; });
        };
        changed = !current.answered || current.error.has_value() || !sameNodes(current.candidates, members);
        current.candidates = std::move(members);
        current.error.reset();
        current.errorDetail.clear();
        current.answered = true;
      } else {
        const std::string& detail =
            outcome.detail.empty() ? outcome.members.error().message : outcome.detail;
        changed = current.error != outcome.members.error();
        if (outcome.forbidden && !current.candidates.empty()) {
          // Not allowed is a decision, not a failure to learn: nothing from there counts.
          current.candidates.clear();
          changed = true;
        }
        if (changed || detail != current.errorDetail) {
          logWarn("source lookup failed",
                  {{"object", current.topologyKey},
                   {"source", current.source.name},
                   {"status", outcome.members.error().message},
                   {"error", detail}});
        }
        current.error = outcome.members.error();
        current.errorDetail = detail;
      }
    }
    if (changed && onChange_) {
      onChange_(topologyKey);
    }
  }
}

ExternalSources::Outcome ExternalSources::resolve(const Entry& entry, std::stop_token stop) {
  if (entry.source.dns) {
    return resolveDns(entry, stop);
  }
  return resolveRancher(entry, stop);
}

ExternalSources::Outcome ExternalSources::resolveDns(const Entry& entry, std::stop_token stop) {
  const DnsSource& dns = *entry.source.dns;
  const std::chrono::seconds minRefresh(dns.minRefreshSeconds);
  const std::chrono::seconds maxRefresh(dns.maxRefreshSeconds);
  auto clampTtl = [&](std::chrono::seconds ttl) { return std::clamp(ttl, minRefresh, maxRefresh); };

  // One rule for both binaries (membership/sources.h): NODATA is "no peers", NXDOMAIN and every
  // other failure unknown (the last members are kept). An answer without records is asked again
  // after minRefresh.
  Result<DnsMembers> members = Error{Error::Code::Internal, "not resolved"};
  if (dns.recordType == DnsSource::RecordType::Srv) {
    members = membersFromServiceAnswer(resolver_.resolveServices(dns.name, stop), entry.basename,
                                       entry.source.name);
  } else {
    const AddressFamily family = dns.ipFamily == DnsSource::IpFamily::IPv4   ? AddressFamily::IPv4
                                 : dns.ipFamily == DnsSource::IpFamily::IPv6 ? AddressFamily::IPv6
                                                                             : AddressFamily::Any;
    members = membersFromAddressAnswer(resolver_.resolveAddresses(dns.name, family, stop),
                                       entry.basename, entry.source.name);
  }
  if (!members) {
    return {members.error(), minRefresh};
  }
  return {std::move(members->candidates), clampTtl(members->ttl.value_or(minRefresh))};
}

ExternalSources::Outcome ExternalSources::resolveRancher(const Entry& entry, std::stop_token stop) {
  const std::chrono::seconds interval(entry.source.rancher->pollIntervalSeconds);
  const auto failed = [&](std::string_view reason, Error::Code code, std::string status,
                          std::string detail, bool forbidden = false) -> Outcome {
    if (onFetchFailure_) {
      onFetchFailure_(reason);
    }
    return Outcome{Error{code, std::move(status)}, interval, std::move(detail), forbidden};
  };
  Result<HttpUrl> url = parseHttpUrl(entry.source.rancher->url);
  if (!url) {
    return failed("not_allowed", Error::Code::Invalid, "url not allowed", url.error().message,
                  true);
  }
  if (!rancherHosts_.allows(*url)) {
    nlohmann::json allowed = rancherHosts_.entries();
    return failed("not_allowed", Error::Code::Invalid, "url not allowed",
                  "host " + url->host + ":" + std::to_string(url->port) +
                      " is not on the allow-list (--rancher-allowed-hosts " + allowed.dump() + ")",
                  true);
  }
  if (!fetch_) {
    return {Error{Error::Code::Unavailable, "no HTTP client for rancher sources"}, interval};
  }
  Result<std::string> body = fetch_(entry.source.rancher->url, stop);
  if (!body) {
    const Error& error = body.error();
    if (error.code == Error::Code::Cancelled) {
      return {error, interval};
    }
    if (isBodyTooLarge(error)) {
      return failed("too_large", Error::Code::Unavailable, "response too large",
                    error.message);
    }
    const std::string_view reason = error.code == Error::Code::Timeout ? "timeout"
                                    : error.message.find("HTTP ") != std::string::npos
                                        ? "http_status"
                                        : "unreachable";
    return failed(reason, Error::Code::Unavailable, "fetch failed", error.message);
  }
  Result<std::vector<Candidate>> members =
      parseRancherMembers(*body, entry.basename, entry.source.name);
  if (!members) {
    return failed("bad_body", Error::Code::Unavailable, "fetch failed", members.error().message);
  }
  return {std::move(*members), interval};
}

} // namespace libcluster
