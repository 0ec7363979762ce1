#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "dns/resolver.h"
#include "membership/membership.h"

namespace libcluster {

/// The one reading of external sources' answers, shared by the controller (ExternalSources) and
/// the agent's strategies (rancher, dns, dns_srv), so both binaries name the same members.

/// Parses libcluster's Rancher metadata answer ({"containers": [{"ips": [...]}, ...]}) into one
/// member `basename@<first IP>` per container, sorted by node, duplicates removed. A container
/// whose first IP is missing, not a string or empty is skipped (it has no address yet; a node
/// named `basename@` is never a member). A body that is not a JSON object with a `containers`
/// list is Invalid (unknown, never "no peers").
Result<std::vector<Candidate>> parseRancherMembers(std::string_view body, const std::string& basename,
                                                   const std::string& sourceName);

/// Members from a DNS answer, and the smallest TTL among the records used (nullopt without records).
struct DnsMembers {
  std::vector<Candidate> candidates;
  std::optional<std::chrono::seconds> ttl;
};

/// Whether a resolver failure says the name exists but has no records of the kind asked for
/// (NOERROR with an empty answer, "NODATA"). CaresResolver marks those NotFound errors "(NODATA)";
/// a NotFound without that mark (NXDOMAIN, an unscripted fake) is not NODATA.
bool isNoDataAnswer(const Error& error);

/// The rule for A/AAAA answers, in both binaries: each address becomes `basename@<address>`
/// (IPv6 as the resolver writes it), sorted, duplicates and empty addresses removed.
/// - NODATA (the server says the name exists with no such records) is "no peers": an empty set.
///   The DNS answered with certainty, and a headless Service with no ready pods looks like this.
/// - NXDOMAIN, and every other failure, is unknown: the Error is returned and the caller keeps its
///   last set. A name that does not exist is more often a typo or a DNS outage than an empty
///   cluster, and unknown is not empty.
Result<DnsMembers> membersFromAddressAnswer(const Result<std::vector<DnsAddress>>& answer,
                                            const std::string& basename, const std::string& sourceName);

/// The same rule for SRV answers: each target (trailing dot dropped; empty targets skipped)
/// becomes `basename@<target>`, sorted, duplicates removed.
Result<DnsMembers> membersFromServiceAnswer(const Result<std::vector<DnsService>>& answer,
                                            const std::string& basename, const std::string& sourceName);

/// The node names of `candidates`, in order.
std::vector<std::string> nodeNamesOf(const std::vector<Candidate>& candidates);

} // namespace libcluster
