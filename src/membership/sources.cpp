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
  if (!answer) {
    if (isNoDataAnswer(answer.error())) {
      return DnsMembers{};
    }
    return answer.error();
  }
  DnsMembers members;
  std::vector<std::string> addresses;
  for (const DnsAddress& address : *answer) {
    if (address.address.empty()) {
      continue;
    }
    addresses.push_back(address.address);
    members.ttl = std::min(members.ttl.value_or(address.ttl), address.ttl);
  }
  sortUnique(addresses);
  members.candidates = membersFromAddresses(addresses, basename, sourceName);
  return members;
}

Result<DnsMembers> membersFromServiceAnswer(const Result<std::vector<DnsService>>& answer,
                                            const std::string& basename, const std::string& sourceName) {
  if (!answer) {
    if (isNoDataAnswer(answer.error())) {
      return DnsMembers{};
    }
    return answer.error();
  }
  DnsMembers members;
  std::vector<std::string> nodes;
  for (const DnsService& service : *answer) {
    std::string target = service.target;
    if (!target.empty() && target.back() == '.') {
      target.pop_back();
    }
    if (target.empty()) {
      continue;
    }
    nodes.push_back(ipNodeName(basename, target));
    members.ttl = std::min(members.ttl.value_or(service.ttl), service.ttl);
  }
  sortUnique(nodes);
  members.candidates = membersFromNodes(nodes, sourceName);
  return members;
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
