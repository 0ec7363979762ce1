#include "strategy/erlang_hosts_strategy.h"

#include <arpa/inet.h>

#include <cctype>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "core/log.h"

namespace libcluster {
namespace {

/// A cursor over the file that counts lines for error messages.
class HostsScanner {
public:
  explicit HostsScanner(std::string_view text) : text_(text) {}

  bool atEnd() const { return pos_ >= text_.size(); }
  char peek(std::size_t ahead = 0) const {
    return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
  }
  char take() {
    const char c = text_[pos_++];
    if (c == '\n') {
      ++line_;
    }
    return c;
  }
  int line() const { return line_; }

  void skipBlanks() {
    while (!atEnd()) {
      const char c = peek();
      if (c == '%') {
        while (!atEnd() && peek() != '\n') {
          take();
        }
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        take();
      } else {
        return;
      }
    }
  }

  Error fail(const std::string& why) const { return failAt(line_, why); }
  static Error failAt(int line, const std::string& why) {
    return Error{Error::Code::Invalid, "line " + std::to_string(line) + ": " + why};
  }

private:
  std::string_view text_;
  std::size_t pos_ = 0;
  int line_ = 1;
};

/// A quoted atom or string body, after the opening quote; Erlang's escapes for the usual cases.
Result<std::string> readQuoted(HostsScanner& scanner, char quote) {
  std::string value;
  while (true) {
    if (scanner.atEnd()) {
      return scanner.fail(std::string("missing closing ") + quote);
    }
    if (scanner.peek() == '\n') {
      return scanner.fail(std::string("missing closing ") + quote + " before the end of the line");
    }
    char c = scanner.take();
    if (c == quote) {
      return value;
    }
    if (c == '\\') {
      if (scanner.atEnd()) {
        return scanner.fail("unfinished escape");
      }
      c = scanner.take();
      switch (c) {
      case 'n':
        c = '\n';
        break;
      case 't':
        c = '\t';
        break;
      default:
        break; // \' \" \\ and anything else stand for themselves
      }
    }
    value += c;
  }
}

bool isAtomChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '@';
}

} // namespace

Result<std::vector<std::string>> parseHostsErlang(std::string_view text) {
  HostsScanner scanner(text);
  std::vector<std::string> hosts;
  while (true) {
    scanner.skipBlanks();
    if (scanner.atEnd()) {
      return hosts;
    }
    std::string host;
    const char first = scanner.peek();
    if (first == '\'' || first == '"') {
      scanner.take();
      Result<std::string> quoted = readQuoted(scanner, first);
      if (!quoted) {
        return quoted.error();
      }
      host = std::move(*quoted);
    } else if (std::islower(static_cast<unsigned char>(first))) {
      while (!scanner.atEnd() && isAtomChar(scanner.peek())) {
        host += scanner.take();
      }
      if (scanner.peek() == '.' && isAtomChar(scanner.peek(1))) {
        return scanner.fail("host names with dots must be quoted, e.g. '" + host +
                            ".example.com'.");
      }
    } else {
      return scanner.fail(std::string("expected a host name such as 'host.example.com'., got '") +
                          first + "'");
    }
    if (host.empty()) {
      return scanner.fail("empty host name");
    }
    const int termLine = scanner.line();
    scanner.skipBlanks();
    if (scanner.atEnd() || scanner.peek() != '.') {
      return HostsScanner::failAt(termLine, "expected '.' after '" + host + "'");
    }
    scanner.take();
    // In Erlang a term ends with a dot followed by white space, a comment or the end of the file.
    if (!scanner.atEnd() && !std::isspace(static_cast<unsigned char>(scanner.peek())) &&
        scanner.peek() != '%') {
      return scanner.fail("expected a new line or space after the '.' that ends '" + host + "'");
    }
    hosts.push_back(std::move(host));
  }
}

Result<std::unique_ptr<ErlangHostsStrategy>> ErlangHostsStrategy::create(Options options,
                                                                         Resolver& resolver) {
  std::filesystem::path file = options.hostsFile;
  if (file.empty()) {
    std::string looked;
    for (const std::filesystem::path& dir : options.searchPath) {
      std::error_code error;
      const std::filesystem::path candidate = dir / ".hosts.erlang";
      if (std::filesystem::is_regular_file(candidate, error)) {
        file = candidate;
        break;
      }
      looked += (looked.empty() ? "" : ", ") + dir.string();
    }
    if (file.empty()) {
      return Error{Error::Code::NotFound, "couldn't find .hosts.erlang (looked in " + looked + ")"};
    }
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return Error{Error::Code::NotFound, "cannot read " + file.string()};
  }
  std::stringstream content;
  content << in.rdbuf();
  Result<std::vector<std::string>> hosts = parseHostsErlang(content.str());
  if (!hosts) {
    return Error{Error::Code::Invalid, file.string() + ": " + hosts.error().message};
  }
  if (hosts->empty()) {
    logWarn("hosts file lists no hosts", {{"file", file.string()}});
  }
  return std::unique_ptr<ErlangHostsStrategy>(
      new ErlangHostsStrategy(std::move(options), resolver, std::move(file), std::move(*hosts)));
}

Result<PeerSet> ErlangHostsStrategy::discoverPeers(std::stop_token stop) {
  if (hosts_.empty()) {
    return PeerSet{};
  }
  struct Query {
    std::string host;
    std::string address;
    std::optional<Result<std::vector<EpmdName>>> answer;
  };
  std::vector<Query> queries;
  for (const std::string& host : hosts_) {
    Query query{host, {}, std::nullopt};
    unsigned char buffer[sizeof(in6_addr)];
    if (inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
        inet_pton(AF_INET6, host.c_str(), buffer) == 1) {
      query.address = host;
    } else {
      Result<std::vector<DnsAddress>> addresses =
          resolver_.resolveAddresses(host, AddressFamily::Any, stop);
      if (!addresses) {
        if (addresses.error().code == Error::Code::Cancelled) {
          return addresses.error();
        }
        query.answer = addresses.error();
      } else {
        query.address = addresses->front().address;
      }
    }
    queries.push_back(std::move(query));
  }
  {
    // One unreachable host must not delay the others: each epmd is asked on its own thread.
    std::vector<std::jthread> workers;
    for (Query& query : queries) {
      if (!query.answer) {
        workers.emplace_back([this, &query, stop] {
          query.answer =
              queryEpmdNames(query.address, options_.epmdPort, options_.epmdTimeout, stop);
        });
      }
    }
  }
  PeerSet peers;
  std::size_t answered = 0;
  std::string lastError;
  for (const Query& query : queries) {
    if (!*query.answer) {
      if (query.answer->error().code == Error::Code::Cancelled) {
        return query.answer->error();
      }
      logDebug("host skipped", {{"host", query.host}, {"error", query.answer->error().message}});
      lastError = query.answer->error().message;
      continue;
    }
    ++answered;
    for (const EpmdName& name : **query.answer) {
      peers.insert(name.name + "@" + query.host);
    }
  }
  if (answered == 0) {
    return Error{Error::Code::Unavailable,
                 "no host of " + file_.string() + " answered (last: " + lastError + ")"};
  }
  return peers;
}

} // namespace libcluster
