#include "dns/cares_resolver.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <ares.h>

#include "core/check.h"
#include "dns/cares_status.h"

namespace libcluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// One attempt never waits less than this, however many tries and servers share the deadline.
constexpr milliseconds kMinAttemptTimeout{20};
// c-ares doubles the wait per round; more rounds than this would only add waits of microseconds.
constexpr int kMaxTries = 10;

int initLibrary() {
  // The library stays initialised for the life of the process: ares_library_cleanup would race
  // with channels still alive on other threads.
  static std::once_flag once;
  static int status = ARES_SUCCESS;
  std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
  return status;
}

struct ChannelDeleter {
  void operator()(ares_channel channel) const { ares_destroy(channel); }
};
using ChannelPtr = std::unique_ptr<ares_channeldata, ChannelDeleter>;

struct SrvReplyDeleter {
  void operator()(ares_srv_reply* reply) const { ares_free_data(reply); }
};

struct ChannelConfig {
  int serverCount = 0;
  int ndots = 1;
  std::vector<std::string> searchDomains;
};

std::string joinServers(const std::vector<std::string>& servers) {
  std::string csv;
  for (const std::string& server : servers) {
    if (!csv.empty()) {
      csv += ',';
    }
    csv += server;
  }
  return csv;
}

Result<ChannelPtr> makeChannel(const CaresResolverOptions& options, ares_options* init,
                               int optmask) {
  ares_channel raw = nullptr;
  const int status = ares_init_options(&raw, init, optmask);
  if (status != ARES_SUCCESS) {
    return caresError(status, "starting a c-ares channel");
  }
  ChannelPtr channel(raw);
  if (!options.servers.empty()) {
    const std::string csv = joinServers(options.servers);
    const int set = ares_set_servers_ports_csv(channel.get(), csv.c_str());
    if (set != ARES_SUCCESS) {
      return Error{Error::Code::Invalid,
                   "DNS servers '" + csv +
                       "' are not a list of ip, ip:port or [ipv6]:port: " + ares_strerror(set)};
    }
  }
  return channel;
}

// Reads what the channel learnt from resolv.conf (or the options): how many servers it will ask,
// and the search list and ndots that candidate names are built from.
Result<ChannelConfig> readChannelConfig(ares_channel channel) {
  ChannelConfig config;
  ares_addr_port_node* servers = nullptr;
  const int got = ares_get_servers_ports(channel, &servers);
  if (got != ARES_SUCCESS) {
    return caresError(got, "reading the DNS server list");
  }
  for (const ares_addr_port_node* node = servers; node != nullptr; node = node->next) {
    ++config.serverCount;
  }
  ares_free_data(servers);

  ares_options saved{};
  int optmask = 0;
  const int save = ares_save_options(channel, &saved, &optmask);
  if (save != ARES_SUCCESS) {
    return caresError(save, "reading the resolver configuration");
  }
  config.ndots = saved.ndots;
  for (int i = 0; i < saved.ndomains; ++i) {
    config.searchDomains.emplace_back(saved.domains[i]);
  }
  ares_destroy_options(&saved);
  return config;
}

// The first attempt's wait, such that `tries` rounds over `servers` servers, each round waiting
// twice as long as the one before (as c-ares does), add up to `total`.
milliseconds attemptTimeout(milliseconds total, int tries, int servers) {
  const long long rounds = (1LL << tries) - 1;
  const long long attempts = rounds * std::max(servers, 1);
  return std::max(kMinAttemptTimeout, milliseconds(total.count() / attempts));
}

std::uint16_t readU16(const unsigned char* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

std::uint32_t readU32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

// Steps over a possibly compressed domain name; false if it runs off the end of the message.
bool skipName(const std::vector<unsigned char>& message, std::size_t& pos) {
  while (pos < message.size()) {
    const unsigned char length = message[pos];
    if (length == 0) {
      pos += 1;
      return true;
    }
    if ((length & 0xC0) == 0xC0) {
      pos += 2;
      return pos <= message.size();
    }
    if ((length & 0xC0) != 0) {
      return false;
    }
    pos += 1 + length;
  }
  return false;
}

seconds ttlSeconds(std::uint32_t ttl) {
  // RFC 2181 §8: a TTL with the top bit set is to be read as zero.
  return seconds(ttl > 0x7FFFFFFFU ? 0 : ttl);
}

// The TTL of each IN SRV record of the answer section, in order: the same records, in the same
// order, as ares_parse_srv_reply returns (it has no TTLs in c-ares 1.18). nullopt if malformed.
std::optional<std::vector<seconds>> srvTtls(const std::vector<unsigned char>& message) {
  if (message.size() < HFIXEDSZ) {
    return std::nullopt;
  }
  const int questions = readU16(&message[4]);
  const int answers = readU16(&message[6]);
  std::size_t pos = HFIXEDSZ;
  for (int i = 0; i < questions; ++i) {
    if (!skipName(message, pos) || pos + QFIXEDSZ > message.size()) {
      return std::nullopt;
    }
    pos += QFIXEDSZ;
  }
  std::vector<seconds> ttls;
  for (int i = 0; i < answers; ++i) {
    if (!skipName(message, pos) || pos + RRFIXEDSZ > message.size()) {
      return std::nullopt;
    }
    const int type = readU16(&message[pos]);
    const int klass = readU16(&message[pos + 2]);
    const std::uint32_t ttl = readU32(&message[pos + 4]);
    const std::size_t length = readU16(&message[pos + 8]);
    pos += RRFIXEDSZ;
    if (pos + length > message.size()) {
      return std::nullopt;
    }
    if (type == ns_t_srv && klass == ns_c_in) {
      ttls.push_back(ttlSeconds(ttl));
    }
    pos += length;
  }
  return ttls;
}

std::string quoted(const std::string& name) { return "'" + name + "'"; }

} // namespace

/// The record types asked for one name, walking the candidate names of the search list together,
/// as getaddrinfo does: the first candidate where any type has records is the answer. Lives on the
/// caller's stack for one run(); c-ares calls back into its queries.
struct CaresResolver::Lookup {
  struct Query {
    Lookup* lookup;
    int type;
    std::string_view typeName;
    int status = ARES_ENOTFOUND;
    bool sawNoData = false;
    std::vector<unsigned char> answer{};

    // "A lookup of 'app'", with the names tried when the search list was used.
    [[nodiscard]] std::string describe() const {
      return std::string(typeName) + " lookup of " + lookup->tried();
    }
    [[nodiscard]] Error failure() const { return caresError(status, describe()); }
  };

  Lookup(ares_channel channel, std::string name, std::vector<std::string> candidates,
         const std::vector<std::pair<int, std::string_view>>& types)
      : channel(channel), name(std::move(name)), candidates(std::move(candidates)) {
    for (const auto& [type, typeName] : types) {
      queries.push_back(Query{this, type, typeName});
    }
  }
  Lookup(const Lookup&) = delete;
  Lookup& operator=(const Lookup&) = delete;

  ares_channel channel;
  std::string name;
  std::vector<std::string> candidates;
  std::vector<Query> queries;
  std::size_t index = 0;
  std::size_t outstanding = 0;
  bool done = false;

  void send() {
    outstanding = queries.size();
    // c-ares may call back before ares_query returns (e.g. for a bad name), which can only
    // settle the candidate once the last query is sent.
    const std::string candidate = candidates[index];
    for (Query& query : queries) {
      ares_query(channel, candidate.c_str(), ns_c_in, query.type, &Lookup::onAnswer, &query);
    }
  }

  static void onAnswer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* query = static_cast<Query*>(arg);
    if (status == ARES_SUCCESS && (abuf == nullptr || alen <= 0)) {
      status = ARES_EBADRESP;
    }
    query->status = status;
    query->sawNoData = query->sawNoData || status == ARES_ENODATA;
    if (status == ARES_SUCCESS) {
      query->answer.assign(abuf, abuf + alen);
    }
    Lookup* lookup = query->lookup;
    if (--lookup->outstanding == 0) {
      lookup->settle();
    }
  }

  void settle() {
    const bool nothingThere = std::all_of(queries.begin(), queries.end(), [](const Query& q) {
      return q.status == ARES_ENOTFOUND || q.status == ARES_ENODATA;
    });
    // Only a definite "nothing there" moves on to the next candidate. After any other failure
    // the answer for this candidate is unknown, and a later candidate is a different name.
    if (nothingThere && index + 1 < candidates.size()) {
      ++index;
      send();
      return;
    }
    for (Query& query : queries) {
      // NXDOMAIN for the last candidate, but an earlier one exists: say "no records", as c-ares'
      // own search does.
      if (query.status == ARES_ENOTFOUND && query.sawNoData) {
        query.status = ARES_ENODATA;
      }
    }
    done = true;
  }

  // "'app'", or "'app' (tried 'app.test', 'app')" when the search list was used.
  [[nodiscard]] std::string tried() const {
    std::string text = quoted(name);
    if (candidates.size() > 1 || candidates.front() != name) {
      text += " (tried";
      for (std::size_t i = 0; i <= index && i < candidates.size(); ++i) {
        text += (i == 0 ? " " : ", ") + quoted(candidates[i]);
      }
      text += ")";
    }
    return text;
  }
};

Result<std::unique_ptr<CaresResolver>> CaresResolver::create(CaresResolverOptions options) {
  if (options.timeout <= milliseconds::zero()) {
    return Error{Error::Code::Invalid, "DNS timeout must be positive"};
  }
  if (options.tries < 1 || options.tries > kMaxTries) {
    return Error{Error::Code::Invalid, "DNS tries must be between 1 and 10"};
  }
  if (options.ndots && *options.ndots < 0) {
    return Error{Error::Code::Invalid, "DNS ndots must not be negative"};
  }
  for (const std::string& server : options.servers) {
    if (server.empty() || server.find(',') != std::string::npos) {
      return Error{Error::Code::Invalid,
                   "DNS server '" + server + "' is not ip, ip:port or [ipv6]:port"};
    }
  }
  const int library = initLibrary();
  if (library != ARES_SUCCESS) {
    return caresError(library, "initialising c-ares");
  }

  // A first channel reads resolv.conf and checks the servers, so that the real one can be given
  // an attempt timeout that fits every try into the deadline.
  ares_options probeOptions{};
  Result<ChannelPtr> probe = makeChannel(options, &probeOptions, 0);
  if (!probe) {
    return probe.error();
  }
  Result<ChannelConfig> config = readChannelConfig(probe->get());
  if (!config) {
    return config.error();
  }

  ares_options init{};
  init.timeout =
      static_cast<int>(attemptTimeout(options.timeout, options.tries, config->serverCount).count());
  init.tries = options.tries;
  Result<ChannelPtr> channel = makeChannel(options, &init, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (!channel) {
    return channel.error();
  }

  const int wakeFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd < 0) {
    return Error{Error::Code::Internal, "could not create an eventfd for the DNS resolver"};
  }
  std::vector<std::string> searchDomains =
      options.searchDomains.empty() ? std::move(config->searchDomains) : options.searchDomains;
  const int ndots = options.ndots.value_or(config->ndots);
  return std::unique_ptr<CaresResolver>(new CaresResolver(
      std::move(*channel).release(), wakeFd, std::move(options), std::move(searchDomains), ndots));
}

CaresResolver::CaresResolver(ares_channeldata* channel, int wakeFd, CaresResolverOptions options,
                             std::vector<std::string> searchDomains, int ndots)
    : channel_(channel), wakeFd_(wakeFd), options_(std::move(options)),
      searchDomains_(std::move(searchDomains)), ndots_(ndots) {}

CaresResolver::~CaresResolver() {
  ares_destroy(channel_);
  close(wakeFd_);
}

std::vector<std::string> CaresResolver::candidateNames(const std::string& name) const {
  if (name.empty() || name.back() == '.' || !options_.useSearchDomains || searchDomains_.empty()) {
    return {name};
  }
  const auto dots = static_cast<int>(std::count(name.begin(), name.end(), '.'));
  std::vector<std::string> names;
  if (dots >= ndots_) {
    names.push_back(name);
  }
  for (const std::string& domain : searchDomains_) {
    names.push_back(name + '.');
    names.back() += domain;
  }
  if (dots < ndots_) {
    names.push_back(name);
  }
  return names;
}

Result<void> CaresResolver::run(Lookup& lookup, const std::stop_token& stop) {
  std::uint64_t drained = 0;
  while (read(wakeFd_, &drained, sizeof drained) > 0) {
  }
  const std::string& name = lookup.name;
  if (stop.stop_requested()) {
    return Error{Error::Code::Cancelled, "lookup of " + quoted(name) + " was stopped"};
  }
  std::stop_callback wake(stop, [fd = wakeFd_] {
    const std::uint64_t one = 1;
    // A failed write leaves the periodic wake-up below to notice the stop.
    [[maybe_unused]] const ssize_t written = write(fd, &one, sizeof one);
  });

  const steady_clock::time_point deadline = steady_clock::now() + options_.timeout;
  lookup.send();
  while (!lookup.done) {
    if (stop.stop_requested()) {
      ares_cancel(channel_);
      return Error{Error::Code::Cancelled, "lookup of " + quoted(name) + " was stopped"};
    }
    const steady_clock::time_point now = steady_clock::now();
    if (now >= deadline) {
      // c-ares only supports channel-wide cancellation, which is fine: a call owns the channel.
      ares_cancel(channel_);
      return Error{Error::Code::Timeout, "lookup of " + quoted(name) + " got no answer within " +
                                             std::to_string(options_.timeout.count()) + " ms"};
    }

    ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
    const int bits = ares_getsock(channel_, sockets, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM + 1];
    nfds_t count = 0;
    fds[count++] = pollfd{wakeFd_, POLLIN, 0};
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      const bool readable = ARES_GETSOCK_READABLE(bits, i) != 0;
      const bool writable = ARES_GETSOCK_WRITABLE(bits, i) != 0;
      if (!readable && !writable) {
        continue;
      }
      const short events = static_cast<short>((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
      fds[count++] = pollfd{sockets[i], events, 0};
    }

    // Wake for c-ares' next retransmission, the deadline, or at the latest every 100 ms: the
    // eventfd makes stops prompt, the cap keeps them noticed even if the write failed.
    const auto untilDeadline = std::chrono::ceil<milliseconds>(deadline - now);
    const milliseconds cap = std::min(untilDeadline, milliseconds(100));
    timeval maxWait{static_cast<time_t>(cap.count() / 1000),
                    static_cast<suseconds_t>((cap.count() % 1000) * 1000)};
    timeval wait{};
    const timeval* next = ares_timeout(channel_, &maxWait, &wait);
    const int waitMs = static_cast<int>(next->tv_sec * 1000 + (next->tv_usec + 999) / 1000);

    const int ready = poll(fds, count, waitMs);
    if (ready < 0 && errno != EINTR) {
      ares_cancel(channel_);
      return Error{Error::Code::Internal, "poll failed while resolving " + quoted(name) +
                                              ": errno " + std::to_string(errno)};
    }
    bool processed = false;
    for (nfds_t i = 1; ready > 0 && i < count; ++i) {
      const short revents = fds[i].revents;
      if (revents == 0) {
        continue;
      }
      // POLLERR carries e.g. an ICMP port unreachable; c-ares sees it when it reads.
      const bool readable = (revents & (POLLIN | POLLERR | POLLHUP)) != 0;
      const bool writable = (revents & POLLOUT) != 0;
      ares_process_fd(channel_, readable ? fds[i].fd : ARES_SOCKET_BAD,
                      writable ? fds[i].fd : ARES_SOCKET_BAD);
      processed = true;
    }
    if (!processed) {
      // Nothing to read: let c-ares retransmit or give up on queries whose attempt timed out.
      ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    }
  }
  return {};
}

namespace {

// The addresses of an A or AAAA answer; `query` names the lookup in errors.
Result<std::vector<DnsAddress>> parseAddresses(const std::vector<unsigned char>& answer, int type,
                                               const std::string& query) {
  if (answer.size() < HFIXEDSZ) {
    return caresError(ARES_EBADRESP, query);
  }
  const int capacity = std::max(1, static_cast<int>(readU16(&answer[6])));
  std::vector<DnsAddress> addresses;
  char text[INET6_ADDRSTRLEN] = {};
  int count = capacity;
  if (type == ns_t_a) {
    std::vector<ares_addrttl> records(static_cast<std::size_t>(capacity));
    const int status = ares_parse_a_reply(answer.data(), static_cast<int>(answer.size()), nullptr,
                                          records.data(), &count);
    if (status != ARES_SUCCESS) {
      return caresError(status, query);
    }
    for (int i = 0; i < count; ++i) {
      if (inet_ntop(AF_INET, &records[i].ipaddr, text, sizeof text) != nullptr) {
        addresses.push_back({text, seconds(std::max(0, records[i].ttl))});
      }
    }
  } else {
    std::vector<ares_addr6ttl> records(static_cast<std::size_t>(capacity));
    const int status = ares_parse_aaaa_reply(answer.data(), static_cast<int>(answer.size()),
                                             nullptr, records.data(), &count);
    if (status != ARES_SUCCESS) {
      return caresError(status, query);
    }
    for (int i = 0; i < count; ++i) {
      if (inet_ntop(AF_INET6, &records[i].ip6addr, text, sizeof text) != nullptr) {
        addresses.push_back({text, seconds(std::max(0, records[i].ttl))});
      }
    }
  }
  return addresses;
}

} // namespace

Result<std::vector<DnsAddress>> CaresResolver::resolveAddresses(const std::string& name,
                                                                AddressFamily family,
                                                                std::stop_token stop) {
  if (name.empty()) {
    return Error{Error::Code::Invalid, "cannot resolve an empty name"};
  }
  std::vector<std::pair<int, std::string_view>> types;
  if (family != AddressFamily::IPv6) {
    types.emplace_back(ns_t_a, "A");
  }
  if (family != AddressFamily::IPv4) {
    types.emplace_back(ns_t_aaaa, "AAAA");
  }
  Lookup lookup(channel_, name, candidateNames(name), types);
  Result<void> ran = run(lookup, stop);
  if (!ran) {
    return ran.error();
  }

  std::vector<Result<std::vector<DnsAddress>>> results;
  for (const Lookup::Query& query : lookup.queries) {
    if (query.status != ARES_SUCCESS) {
      results.emplace_back(query.failure());
      continue;
    }
    Result<std::vector<DnsAddress>> parsed =
        parseAddresses(query.answer, query.type, query.describe());
    if (parsed && parsed->empty()) {
      results.emplace_back(caresError(ARES_ENODATA, query.describe()));
    } else {
      results.push_back(std::move(parsed));
    }
  }

  // Any: a family that is not there is skipped; a family whose answer is unknown fails the call,
  // because the other family alone would look like a smaller set of peers.
  std::vector<DnsAddress> merged;
  std::optional<Error> notFound;
  for (Result<std::vector<DnsAddress>>& result : results) {
    if (result) {
      merged.insert(merged.end(), result->begin(), result->end());
    } else if (result.error().code != Error::Code::NotFound) {
      return result.error();
    } else if (!notFound) {
      notFound = result.error();
    } else {
      notFound->message += "; " + result.error().message;
    }
  }
  if (merged.empty()) {
    CHECK(notFound.has_value(), "a lookup without addresses has failed");
    return *notFound;
  }
  return merged;
}

Result<std::vector<DnsService>> CaresResolver::resolveServices(const std::string& name,
                                                               std::stop_token stop) {
  if (name.empty()) {
    return Error{Error::Code::Invalid, "cannot resolve an empty name"};
  }
  Lookup lookup(channel_, name, candidateNames(name), {{ns_t_srv, "SRV"}});
  Result<void> ran = run(lookup, stop);
  if (!ran) {
    return ran.error();
  }
  const Lookup::Query& srv = lookup.queries.front();
  if (srv.status != ARES_SUCCESS) {
    return srv.failure();
  }

  ares_srv_reply* head = nullptr;
  const int status =
      ares_parse_srv_reply(srv.answer.data(), static_cast<int>(srv.answer.size()), &head);
  const std::unique_ptr<ares_srv_reply, SrvReplyDeleter> replies(head);
  if (status != ARES_SUCCESS) {
    return caresError(status, srv.describe());
  }
  std::size_t count = 0;
  for (const ares_srv_reply* reply = head; reply != nullptr; reply = reply->next) {
    ++count;
  }
  const std::optional<std::vector<seconds>> ttls = srvTtls(srv.answer);
  if (!ttls || ttls->size() != count) {
    return caresError(ARES_EBADRESP, srv.describe());
  }
  std::vector<DnsService> services;
  std::size_t i = 0;
  for (const ares_srv_reply* reply = head; reply != nullptr; reply = reply->next, ++i) {
    // RFC 2782: a target of "." means the service is decidedly not available at this name.
    if (reply->host == nullptr || reply->host[0] == '\0') {
      continue;
    }
    services.push_back(
        DnsService{reply->host, reply->port, reply->priority, reply->weight, (*ttls)[i]});
  }
  if (services.empty()) {
    return caresError(ARES_ENODATA, srv.describe());
  }
  return services;
}

} // namespace libcluster
