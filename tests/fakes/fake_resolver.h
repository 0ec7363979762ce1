#pragma once

#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "dns/resolver.h"

namespace libcluster {

/// A Resolver with scripted answers per name: a value or an Error, kept until replaced. A name
/// with no script is NotFound, as a real server would say for an unknown name. Honours an
/// already-requested stop (Cancelled) and counts calls per name. Thread-safe.
class FakeResolver final : public Resolver {
public:
  /// Answers for A/AAAA lookups of `name`. Addresses are returned for every family; script the
  /// family-specific case with an address list of that family.
  void answerAddresses(const std::string& name, Result<std::vector<DnsAddress>> answer) {
    std::lock_guard lock(mutex_);
    addresses_.insert_or_assign(name, std::move(answer));
  }
  void answerServices(const std::string& name, Result<std::vector<DnsService>> answer) {
    std::lock_guard lock(mutex_);
    services_.insert_or_assign(name, std::move(answer));
  }

  /// How many resolve calls (of either kind) asked about `name`.
  int calls(const std::string& name) const {
    std::lock_guard lock(mutex_);
    auto it = calls_.find(name);
    return it == calls_.end() ? 0 : it->second;
  }
  int totalCalls() const {
    std::lock_guard lock(mutex_);
    int total = 0;
    for (const auto& [name, count] : calls_) {
      total += count;
    }
    return total;
  }
  /// The family asked for by the last resolveAddresses call.
  AddressFamily lastFamily() const {
    std::lock_guard lock(mutex_);
    return lastFamily_;
  }

  // Resolver
  Result<std::vector<DnsAddress>> resolveAddresses(const std::string& name, AddressFamily family,
                                                   std::stop_token stop) override {
    std::lock_guard lock(mutex_);
    ++calls_[name];
    lastFamily_ = family;
    return answer(addresses_, name, stop);
  }
  Result<std::vector<DnsService>> resolveServices(const std::string& name,
                                                  std::stop_token stop) override {
    std::lock_guard lock(mutex_);
    ++calls_[name];
    return answer(services_, name, stop);
  }

private:
  template <typename T>
  static Result<T> answer(const std::map<std::string, Result<T>>& scripts, const std::string& name,
                          const std::stop_token& stop) {
    if (stop.stop_requested()) {
      return Error{Error::Code::Cancelled, "lookup of '" + name + "' was stopped"};
    }
    auto it = scripts.find(name);
    if (it == scripts.end()) {
      return Error{Error::Code::NotFound, "'" + name + "' is not scripted in FakeResolver"};
    }
    return it->second;
  }

  mutable std::mutex mutex_;
  std::map<std::string, Result<std::vector<DnsAddress>>> addresses_;
  std::map<std::string, Result<std::vector<DnsService>>> services_;
  std::map<std::string, int> calls_;
  AddressFamily lastFamily_ = AddressFamily::Any;
};

} // namespace libcluster
