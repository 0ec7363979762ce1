#include "membership/sources.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "membership/node_name.h"

namespace libcluster {
namespace {

void sortUnique(std::vector<std::string>& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

/// The members of one DNS answer: NODATA (the name exists, without records of this type) is no
/// members; any other error stays an error (unknown is not empty). `nameOf` gives each record's
/// name ("" skips the record), `candidatesOf` the candidates of the sorted, distinct names; the
/// TTL is the least of the records named.
template <typename Record, typename NameOf, typename CandidatesOf>
Result<DnsMembers> membersFromAnswer(const Result<std::vector<Record>>& answer, NameOf nameOf,
                                     CandidatesOf candidatesOf) {
  if (!answer) {
    if (isNoDataAnswer(answer.error())) {
      return DnsMembers{};
    }
    return answer.error();
  }
  DnsMembers members;
  std::vector<std::string> names;
  for (const Record& record : *answer) {
    std::string name = nameOf(record);
    if (name.empty()) {
      continue;
    }
    names.push_back(std::move(name));
    members.ttl = std::min(members.ttl.value_or(record.ttl), record.ttl);
  }
  sortUnique(names);
  members.candidates = candidatesOf(names);
  return members;
}

} // namespace

Result<std::vector<Candidate>> parseRancherMembers(std::string_view body, const std::string& basename,
                                                   const std::string& sourceName) {
  const nlohmann::json document = nlohmann::json::parse(body, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    return Error{Error::Code::Invalid, "rancher metadata is not a JSON object"};
  }
  auto containers = document.find("containers");
  if (containers == document.end() || !containers->is_array()) {
    return Error{Error::Code::Invalid, "rancher metadata has no containers list"};
  }
  std::vector<std::string> ips;
  for (const nlohmann::json& container : *containers) {
    if (!container.is_object()) {
      continue;
    }
    auto list = container.find("ips");
    if (list == container.end() || !list->is_array() || list->empty() || !list->front().is_string()) {
      continue;
    }
    const auto& ip = list->front().get_ref<const std::string&>();
    if (!ip.empty()) { // no address yet: a node named "basename@" is never a member
      ips.push_back(ip);
    }
  }
  sortUnique(ips);
  return membersFromAddresses(ips, basename, sourceName);
}

bool isNoDataAnswer(const Error& error) {
  return error.code == Error::Code::NotFound && error.message.find("(NODATA)") != std::string::npos;
}

Result<DnsMembers> membersFromAddressAnswer(const Result<std::vector<DnsAddress>>& answer,
                                            const std::string& basename, const std::string& sourceName) {
  return membersFromAnswer(
      answer, [](const DnsAddress& address) { return address.address; },
      [&](const std::vector<std::string>& addresses) {
        return membersFromAddresses(addresses, basename, sourceName);
      });
}

Result<DnsMembers> membersFromServiceAnswer(const Result<std::vector<DnsService>>& answer,
                                            const std::string& basename, const std::string& sourceName) {
  return membersFromAnswer(
      answer,
      [&](const DnsService& service) {
        std::string_view target = service.target;
        if (target.ends_with('.')) {
          target.remove_suffix(1);
        }
        return target.empty() ? std::string() : ipNodeName(basename, target);
      },
      [&](const std::vector<std::string>& nodes) { return membersFromNodes(nodes, sourceName); });
}

std::vector<std::string> nodeNamesOf(const std::vector<Candidate>& candidates) {
  std::vector<std::string> nodes;
  nodes.reserve(candidates.size());
  for (const Candidate& candidate : candidates) {
    nodes.push_back(candidate.member.node);
  }
  return nodes;
}

} // namespace libcluster
