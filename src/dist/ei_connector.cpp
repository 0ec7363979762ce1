#include "dist/ei_connector.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <ei.h>

#include "core/log.h"
#include "core/names.h"
#include "core/secret_file.h"

namespace libcluster {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// A message that has started to arrive must arrive whole within this time, or the stream is
/// considered broken (ei cannot resume a half-read packet).
constexpr unsigned kMessageReadTimeoutMs = 30000;
/// Printed terms in replies are cut here so a huge answer cannot flood a log line.
constexpr std::size_t kMaxTermText = 512;
/// Pids we send from: num in [1, kPidNums], serial counts the wraps (13 bits in old pid formats).
constexpr std::uint32_t kPidNums = 0x7fff;
constexpr std::uint32_t kPidSerials = 0x2000;
constexpr std::size_t kMaxAtomBytes = 255;
/// Node events kept for a waiter that does not come; beyond this the watch is reported as
/// re-armed (the caller looks at the whole state) instead of growing without bound.
constexpr std::size_t kMaxQueuedEvents = 4096;

/// How a node leaves: disconnects from every node of `Nodes` with `global` suspended meanwhile:
///   catch sys:suspend(global_name_server, 1000),
///   Left = (catch lists:foreach(fun erlang:disconnect_node/1, Nodes)),
///   catch sys:resume(global_name_server, 1000),
///   Left.
/// With `global` running, its nodedown of the first peer reaches the others while they are still
/// connected to this node, and each of them then disconnects that peer "to prevent overlapping
/// partitions": the survivors cut each other. Suspended, `global` learns of the nodedowns when
/// no link is left to report them over. A fixed text; `Nodes` is bound to the peers (atoms).
constexpr const char* kLeaveExprs =
    "[{'catch',1,{call,1,{remote,1,{atom,1,sys},{atom,1,suspend}},"
    "[{atom,1,global_name_server},{integer,1,1000}]}},"
    "{match,1,{var,1,'Left'},{'catch',1,{call,1,{remote,1,{atom,1,lists},{atom,1,foreach}},"
    "[{'fun',1,{function,{atom,1,erlang},{atom,1,disconnect_node},{integer,1,1}}},"
    "{var,1,'Nodes'}]}}},"
    "{'catch',1,{call,1,{remote,1,{atom,1,sys},{atom,1,resume}},"
    "[{atom,1,global_name_server},{integer,1,1000}]}},"
    "{var,1,'Left'}]";

/// The node watcher the agent starts in the local node, as erl_eval's abstract format of:
///   link(Agent),
///   ok = net_kernel:monitor_nodes(true, [nodedown_reason]),
///   Forward = fun Loop() -> receive Event -> Agent ! Event, Loop() end end,
///   Forward().
/// A fixed text compiled into the agent (no input reaches it); `Agent` is bound to the agent's
/// event pid. The link ends the watcher when the agent's connection goes, and tells the agent
/// when the watcher dies.
constexpr const char* kWatcherExprs =
    "[{call,1,{atom,1,link},[{var,1,'Agent'}]},"
    "{match,1,{atom,1,ok},{call,1,{remote,1,{atom,1,net_kernel},{atom,1,monitor_nodes}},"
    "[{atom,1,true},{cons,1,{atom,1,nodedown_reason},{nil,1}}]}},"
    "{match,1,{var,1,'Forward'},{named_fun,1,'Loop',[{clause,1,[],[],[{'receive',1,"
    "[{clause,1,[{var,1,'Event'}],[],[{op,1,'!',{var,1,'Agent'},{var,1,'Event'}},"
    "{call,1,{var,1,'Loop'},[]}]}]}]}]}},"
    "{call,1,{var,1,'Forward'},[]}]";

/// How a node connects to many peers at once, as erl_eval's abstract format of:
///   Parent = erlang:self(),
///   Calls = [{Peer, erlang:spawn(fun() ->
///               Parent ! {erlang:self(), catch erlang:apply(M, F, A ++ [Peer])} end)}
///            || Peer <- Peers],
///   Until = erlang:monotonic_time(millisecond) + Timeout,
///   [{Peer, receive {Pid, Reply} -> {reply, Reply}
///           after erlang:max(0, Until - erlang:monotonic_time(millisecond)) -> timeout end}
///    || {Peer, Pid} <- Calls].
/// A fixed text; `M`, `F`, `A` are bound to the configured connect call, `Peers` to the peers
/// (atoms) and `Timeout` to the ms each may take. The connect call is applied exactly as a single
/// connect applies it, one process per peer.
constexpr const char* kConnectExprs =
    "[{match,1,{var,1,'Parent'},{call,1,{remote,1,{atom,1,erlang},{atom,1,self}},[]}},{match,1,"
    "{var,1,'Calls'},{lc,1,{tuple,1,[{var,1,'Peer'},{call,1,{remote,1,{atom,1,erlang},{atom,1,"
    "spawn}},[{'fun',1,{clauses,[{clause,1,[],[],[{op,1,'!',{var,1,'Parent'},{tuple,1,[{call,1,"
    "{remote,1,{atom,1,erlang},{atom,1,self}},[]},{'catch',1,{call,1,{remote,1,{atom,1,erlang},"
    "{atom,1,apply}},[{var,1,'M'},{var,1,'F'},{op,1,'++',{var,1,'A'},{cons,1,{var,1,'Peer'},{nil,"
    "1}}}]}}]}}]}]}}]}]},[{generate,1,{var,1,'Peer'},{var,1,'Peers'}}]}},{match,1,{var,1,'Until'},"
    "{op,1,'+',{call,1,{remote,1,{atom,1,erlang},{atom,1,monotonic_time}},[{atom,1,millisecond}]},"
    "{var,1,'Timeout'}}},{lc,1,{tuple,1,[{var,1,'Peer'},{'receive',1,[{clause,1,[{tuple,1,[{var,"
    "1,'Pid'},{var,1,'Reply'}]}],[],[{tuple,1,[{atom,1,reply},{var,1,'Reply'}]}]}],{call,1,{remote,"
    "1,{atom,1,erlang},{atom,1,max}},[{integer,1,0},{op,1,'-',{var,1,'Until'},{call,1,{remote,"
    "1,{atom,1,erlang},{atom,1,monotonic_time}},[{atom,1,millisecond}]}}]},[{atom,1,timeout}]}]},"
    "[{generate,1,{tuple,1,[{var,1,'Peer'},{var,1,'Pid'}]},{var,1,'Calls'}}]}]";

bool initErlInterface() {
  static const bool ok = ei_init() == 0;
  return ok;
}

/// Owns an ei_x_buff.
class XBuff {
public:
  explicit XBuff(bool withVersion = false) {
    if (withVersion) {
      ei_x_new_with_version(&x_);
    } else {
      ei_x_new(&x_);
    }
  }
  ~XBuff() { ei_x_free(&x_); }
  XBuff(const XBuff&) = delete;
  XBuff& operator=(const XBuff&) = delete;

  ei_x_buff* get() { return &x_; }
  const char* data() const { return x_.buff; }
  int size() const { return x_.index; }

private:
  ei_x_buff x_{};
};

std::string printTerm(const char* buffer, int index) {
  char* text = nullptr;
  if (ei_s_print_term(&text, buffer, &index) < 0 || text == nullptr) {
    std::free(text);
    return "<unprintable term>";
  }
  std::string printed(text);
  std::free(text);
  if (printed.size() > kMaxTermText) {
    printed.resize(kMaxTermText);
    printed += "...";
  }
  return printed;
}

bool isAtomText(const std::string& text) {
  return !text.empty() && text.size() <= kMaxAtomBytes && text.find('\0') == std::string::npos;
}

bool isAliveText(const std::string& alive) {
  return !alive.empty() && alive.size() <= 200 &&
         std::all_of(alive.begin(), alive.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0 || c == '_' || c == '-'; });
}

std::string randomHex(std::size_t bytes) {
  std::random_device device;
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (std::size_t i = 0; i < bytes; ++i) {
    const unsigned value = device() & 0xffU;
    hex += kDigits[value >> 4];
    hex += kDigits[value & 0xfU];
  }
  return hex;
}

std::uint32_t randomCreation() {
  std::random_device device;
  std::uniform_int_distribution<std::uint32_t> distribution(4, 0xffffffffU);
  return distribution(device);
}

std::string trim(const std::string& text) {
  const auto isSpace = [](unsigned char c) { return std::isspace(c) != 0; };
  auto begin = std::find_if_not(text.begin(), text.end(), isSpace);
  auto end = std::find_if_not(text.rbegin(), text.rend(), isSpace).base();
  return begin < end ? std::string(begin, end) : std::string();
}

Result<std::string> loadCookie(const EiConnectorOptions& options) {
  if (!options.cookie.empty() && !options.cookieFile.empty()) {
    return Error{Error::Code::Invalid, "set either the cookie or the cookie file, not both"};
  }
  std::string cookie = options.cookie;
  if (cookie.empty()) {
    std::string path = options.cookieFile;
    if (path.empty()) {
      // Like erl and erl_call: without a cookie, the user's ~/.erlang.cookie.
      const char* home = std::getenv("HOME");
      if (home == nullptr || *home == '\0') {
        return Error{Error::Code::Invalid, "no cookie: set the cookie or the cookie file"};
      }
      path = std::string(home) + "/.erlang.cookie";
    }
    Result<std::string> read = readCookieFile(path);
    if (!read) {
      return read.error();
    }
    cookie = std::move(read).value();
  }
  if (cookie.empty() || cookie.size() > EI_MAX_COOKIE_SIZE ||
      cookie.find('\0') != std::string::npos) {
    return Error{Error::Code::Invalid, "the cookie must be 1 to 512 bytes without NUL"};
  }
  return cookie;
}

/// One MFA with its leading arguments already in the external term format.
struct EncodedMfa {
  std::string module;
  std::string function;
  std::vector<std::string> args; // each one term, without version byte
  int arity = 0;                 // of the call, peer included when one is appended
};

bool samePid(const erlang_pid& a, const erlang_pid& b) {
  return a.num == b.num && a.serial == b.serial && a.creation == b.creation &&
         std::strcmp(a.node, b.node) == 0;
}

/// erlang:spawn(erl_eval, exprs, [Watcher, [{'Agent', EventPid}]]): starts the node watcher.
EncodedMfa watcherCall(const erlang_pid& eventPid) {
  EncodedMfa call{"erlang", "spawn", {}, 3};
  XBuff module;
  ei_x_encode_atom(module.get(), "erl_eval");
  XBuff function;
  ei_x_encode_atom(function.get(), "exprs");
  XBuff args;
  ei_x_encode_list_header(args.get(), 2);
  XBuff exprs;
  if (ei_x_format_wo_ver(exprs.get(), kWatcherExprs) < 0) {
    std::abort(); // a constant of this file: a broken text is a bug, caught by every test
  }
  ei_x_append_buf(args.get(), exprs.data(), exprs.size());
  ei_x_encode_list_header(args.get(), 1);
  ei_x_encode_tuple_header(args.get(), 2);
  ei_x_encode_atom(args.get(), "Agent");
  ei_x_encode_pid(args.get(), &eventPid);
  ei_x_encode_empty_list(args.get());
  ei_x_encode_empty_list(args.get());
  for (XBuff* part : {&module, &function, &args}) {
    call.args.emplace_back(part->data(), static_cast<std::size_t>(part->size()));
  }
  return call;
}

Result<EncodedMfa> encodeMfa(const Mfa& mfa, bool appendsPeer, std::string_view what) {
  if (!isAtomText(mfa.module) || !isAtomText(mfa.function)) {
    return Error{Error::Code::Invalid,
                 std::string(what) + ": module and function must be atoms of 1 to 255 bytes"};
  }
  EncodedMfa encoded{mfa.module, mfa.function, {}, 0};
  for (const std::string& text : mfa.args) {
    // ei_x_format reads '~' as a placeholder for a C argument, which we never pass.
    if (trim(text).empty() || text.find('~') != std::string::npos) {
      return Error{Error::Code::Invalid,
                   std::string(what) + ": argument \"" + text + "\" is not an Erlang term"};
    }
    XBuff term;
    if (ei_x_format_wo_ver(term.get(), text.c_str()) < 0 || term.size() == 0) {
      return Error{Error::Code::Invalid,
                   std::string(what) + ": argument \"" + text + "\" is not an Erlang term"};
    }
    encoded.args.emplace_back(term.data(), static_cast<std::size_t>(term.size()));
  }
  encoded.arity = static_cast<int>(encoded.args.size()) + (appendsPeer ? 1 : 0);
  return encoded;
}

/// Whether something accepts TCP connections on host:port within `timeout` (the connection is
/// closed at once).
bool acceptsTcp(const std::string& host, int port, milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) {
    return false;
  }
  bool accepted = false;
  for (addrinfo* entry = found; entry != nullptr && !accepted; entry = entry->ai_next) {
    const int fd = ::socket(entry->ai_family, entry->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            entry->ai_protocol);
    if (fd < 0) {
      continue;
    }
    if (::connect(fd, entry->ai_addr, entry->ai_addrlen) == 0) {
      accepted = true;
    } else if (errno == EINPROGRESS) {
      pollfd wait{fd, POLLOUT, 0};
      int error = 0;
      socklen_t size = sizeof error;
      accepted = ::poll(&wait, 1, static_cast<int>(timeout.count())) == 1 &&
                 ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error == 0;
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return accepted;
}

/// Maps a failed ei_connect* return (and erl_errno) to an Error. Never mentions the cookie's
/// value. `port` is the local node's distribution port when it is given directly (0: by epmd).
Error setupError(int code, int savedErrno, const NodeName& node, const std::string& host,
                 int port) {
  switch (code) {
  case ERL_NO_PORT:
    return {Error::Code::Unavailable, "local node " + node + " is not registered with epmd"};
  case ERL_CONNECT_FAIL:
    return {Error::Code::Unavailable, "could not connect to local node " + node};
  case ERL_TIMEOUT:
    return {Error::Code::Timeout, "connecting to local node " + node + " timed out"};
  default:
    break;
  }
  if (savedErrno == ETIMEDOUT) {
    return {Error::Code::Timeout, "connecting to local node " + node + " timed out"};
  }
  if (savedErrno == ECONNREFUSED) {
    return {Error::Code::Unavailable, "local node " + node + " refused the connection"};
  }
  if (savedErrno == EIO) {
    // ei reports a refused TCP connection and a rejected handshake alike (ERL_ERROR, EIO), so
    // look: when nothing listens on the port, the node is not running (not a cookie problem).
    if (port > 0 && !acceptsTcp(host, port, milliseconds(500))) {
      return {Error::Code::Unavailable, "local node " + node +
                                            " is not running: nothing accepts "
                                            "connections on " +
                                            host + ":" + std::to_string(port)};
    }
    return {Error::Code::Unavailable, "distribution handshake with local node " + node +
                                          " failed: wrong cookie, or the node refused the agent"};
  }
  return {Error::Code::Unavailable,
          "could not connect to local node " + node + ": " + std::strerror(savedErrno)};
}

unsigned remainingMs(SteadyClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now()).count();
  // ei reads a timeout of 0 as "forever".
  return static_cast<unsigned>(std::max<long long>(left, 1));
}

CallReply interpretCall(const std::string& reply) {
  const char* buffer = reply.data();
  CallReply result{CallOutcome::Other, printTerm(buffer, 0)};
  int index = 0;
  int type = 0;
  int size = 0;
  if (ei_get_type(buffer, &index, &type, &size) < 0) {
    return result;
  }
  if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
      type == ERL_SMALL_ATOM_UTF8_EXT) {
    char atom[MAXATOMLEN_UTF8];
    if (ei_decode_atom_as(buffer, &index, atom, sizeof atom, ERLANG_UTF8, nullptr, nullptr) == 0) {
      const std::string_view name(atom);
      if (name == "true") {
        result.outcome = CallOutcome::True;
      } else if (name == "false") {
        result.outcome = CallOutcome::False;
      } else if (name == "ignored") {
        result.outcome = CallOutcome::Ignored;
      }
    }
  }
  return result;
}

/// Appends `atom` (UTF-8) to `buffer`.
void encodeAtom(ei_x_buff* buffer, std::string_view atom) {
  ei_x_encode_atom_len_as(buffer, atom.data(), static_cast<int>(atom.size()), ERLANG_UTF8,
                          ERLANG_UTF8);
}

/// Appends `nodes` as a proper list of atoms (UTF-8) to `buffer`.
template <typename Nodes>
void encodeAtomList(ei_x_buff* buffer, const Nodes& nodes) {
  if (!nodes.empty()) {
    ei_x_encode_list_header(buffer, static_cast<long>(nodes.size()));
    for (const NodeName& node : nodes) {
      encodeAtom(buffer, node);
    }
  }
  ei_x_encode_empty_list(buffer);
}

/// Opens one {Name, Value} pair of an erl_eval binding list: the value is encoded next.
void encodeBindingName(ei_x_buff* buffer, const char* name) {
  ei_x_encode_tuple_header(buffer, 2);
  ei_x_encode_atom(buffer, name);
}

} // namespace

Result<std::string> readCookieFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return Error{Error::Code::Invalid, "cannot read the cookie file " + path};
  }
  std::string line;
  SecretWiper wipeLine(line);
  std::getline(in, line);
  std::string cookie = trim(line);
  if (cookie.empty()) {
    return Error{Error::Code::Invalid, "the cookie file " + path + " is empty"};
  }
  return cookie;
}

/// The connection to the local node and its reader thread. Locks, outermost first:
/// connectMutex_ (setting up), writeMutex_ (writing to or closing the fd), mutex_ (state).
class EiConnector::Link {
public:
  Link(EiConnectorOptions options, ei_cnode cnode, NodeName agentNode, EncodedMfa connect,
       EncodedMfa disconnect, EncodedMfa listNodes)
      : options_(std::move(options)), cnode_(cnode), sendTemplate_(cnode),
        agentNode_(std::move(agentNode)), connect_(std::move(connect)),
        disconnect_(std::move(disconnect)), listNodes_(std::move(listNodes)),
        host_(options_.localNode.substr(options_.localNode.find('@') + 1)),
        eventPid_(makeEventPid(cnode)), watcher_(watcherCall(eventPid_)) {}

  ~Link() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    eventsCv_.notify_all();
    {
      std::lock_guard connecting(connectMutex_);
      {
        std::lock_guard writing(writeMutex_);
        std::lock_guard lock(mutex_);
        if (fd_ >= 0) {
          open_ = false;
          ::shutdown(fd_, SHUT_RDWR);
        }
      }
      if (reader_.joinable()) {
        reader_.join();
      }
    }
  }

  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  const NodeName& localNode() const { return options_.localNode; }
  const NodeName& agentNode() const { return agentNode_; }

  bool isConnected() const {
    std::lock_guard lock(mutex_);
    return open_;
  }

  std::uint64_t connectionsMade() const {
    std::lock_guard lock(mutex_);
    return connectionsMade_;
  }

  Result<void> ensureConnected(milliseconds timeout) {
    Result<std::uint64_t> generation = connectUntil(SteadyClock::now() + timeout);
    if (!generation) {
      return generation.error();
    }
    return {};
  }

  Result<CallReply> call(const EncodedMfa& mfa, const NodeName& peer, milliseconds timeout) {
    if (!isNodeName(peer)) {
      return Error{Error::Code::Invalid, "not a node name: \"" + peer + "\""};
    }
    Result<std::string> reply = rpc(mfa, &peer, timeout);
    if (!reply) {
      return reply.error();
    }
    return interpretCall(*reply);
  }

  Result<CallReply> connect(const NodeName& peer, milliseconds timeout) {
    return call(connect_, peer, timeout);
  }

  Result<CallReply> disconnect(const NodeName& peer, milliseconds timeout) {
    return call(disconnect_, peer, timeout);
  }

  Result<PeerSet> listNodes(milliseconds timeout) {
    Result<std::string> reply = rpc(listNodes_, nullptr, timeout);
    if (!reply) {
      return reply.error();
    }
    const char* buffer = reply->data();
    const auto notNodes = [&] {
      return Error{Error::Code::Invalid,
                   "list nodes " + listNodes_.module + ":" + listNodes_.function +
                       " answered, not a list of atoms: " + printTerm(buffer, 0)};
    };
    int index = 0;
    int arity = 0;
    if (ei_decode_list_header(buffer, &index, &arity) < 0) {
      return notNodes();
    }
    PeerSet nodes;
    for (int i = 0; i < arity; ++i) {
      char atom[MAXATOMLEN_UTF8];
      if (ei_decode_atom_as(buffer, &index, atom, sizeof atom, ERLANG_UTF8, nullptr, nullptr) < 0) {
        return notNodes();
      }
      if (atom != agentNode_) {
        nodes.insert(atom);
      }
    }
    int tail = 0;
    if (arity > 0 && (ei_decode_list_header(buffer, &index, &tail) < 0 || tail != 0)) {
      return notNodes();
    }
    return nodes;
  }

  /// erl_eval:exprs(Exprs, Bindings) on the local node, for the calls that act on many peers at
  /// once: Invalid before anything is sent when a peer is not a node name. `encodeBindings` writes
  /// the `count` {Name, Value} pairs of the binding list (each opened with encodeBindingName).
  template <typename EncodeBindings>
  Result<std::string> evalForPeers(const PeerSet& peers, const char* exprsText, long count,
                                   EncodeBindings encodeBindings, milliseconds timeout) {
    for (const NodeName& peer : peers) {
      if (!isNodeName(peer)) {
        return Error{Error::Code::Invalid, "not a node name: \"" + peer + "\""};
      }
    }
    EncodedMfa call{"erl_eval", "exprs", {}, 2};
    XBuff exprs;
    if (ei_x_format_wo_ver(exprs.get(), exprsText) < 0) {
      std::abort(); // a constant of this file: a broken text is a bug, caught by every test
    }
    XBuff bindings;
    ei_x_encode_list_header(bindings.get(), count);
    encodeBindings(bindings.get());
    ei_x_encode_empty_list(bindings.get());
    call.args.emplace_back(exprs.data(), static_cast<std::size_t>(exprs.size()));
    call.args.emplace_back(bindings.data(), static_cast<std::size_t>(bindings.size()));
    return rpc(call, nullptr, timeout);
  }

  std::optional<Result<void>> disconnectAtOnce(const PeerSet& peers, milliseconds timeout) {
    if (!(disconnect_.module == "erlang" && disconnect_.function == "disconnect_node" &&
          disconnect_.args.empty())) {
      return std::nullopt; // a custom call may do more than disconnect: one by one, as configured
    }
    // erl_eval:exprs(Leave, [{'Nodes', Peers}]): see kLeaveExprs.
    Result<std::string> reply = evalForPeers(peers, kLeaveExprs, 1, [&](ei_x_buff* bindings) {
      encodeBindingName(bindings, "Nodes");
      encodeAtomList(bindings, peers);
    }, timeout);
    if (!reply) {
      return Result<void>(reply.error());
    }
    // {value, Value, Bindings}: the value of the last expression, lists:foreach's ok.
    int index = 0;
    int arity = 0;
    char value[MAXATOMLEN_UTF8];
    char left[MAXATOMLEN_UTF8];
    if (ei_decode_tuple_header(reply->data(), &index, &arity) < 0 || arity != 3 ||
        ei_decode_atom_as(reply->data(), &index, value, sizeof value, ERLANG_UTF8, nullptr,
                          nullptr) < 0 ||
        ei_decode_atom_as(reply->data(), &index, left, sizeof left, ERLANG_UTF8, nullptr, nullptr) <
            0 ||
        std::strcmp(value, "value") != 0 || std::strcmp(left, "ok") != 0) {
      return Result<void>(Error{Error::Code::Invalid, "disconnecting at once answered " +
                                                          printTerm(reply->data(), 0) +
                                                          ", not {value, ok, _}"});
    }
    return Result<void>();
  }

  Result<ConnectReplies> connectAtOnce(const PeerSet& peers, milliseconds timeout) {
    // erl_eval:exprs(Connect, [{'M', M}, {'F', F}, {'A', A}, {'Peers', Peers}, {'Timeout', T}]):
    // see kConnectExprs. Each peer gets 9/10 of the call's time, so that the replies of the
    // others still come back when one hangs.
    Result<std::string> reply = evalForPeers(peers, kConnectExprs, 5, [&](ei_x_buff* bindings) {
      encodeBindingName(bindings, "M");
      encodeAtom(bindings, connect_.module);
      encodeBindingName(bindings, "F");
      encodeAtom(bindings, connect_.function);
      encodeBindingName(bindings, "A");
      if (!connect_.args.empty()) {
        ei_x_encode_list_header(bindings, static_cast<long>(connect_.args.size()));
        for (const std::string& arg : connect_.args) {
          ei_x_append_buf(bindings, arg.data(), static_cast<int>(arg.size()));
        }
      }
      ei_x_encode_empty_list(bindings);
      encodeBindingName(bindings, "Peers");
      encodeAtomList(bindings, peers);
      encodeBindingName(bindings, "Timeout");
      ei_x_encode_long(bindings, std::max<long>(1, static_cast<long>(timeout.count()) * 9 / 10));
    }, timeout);
    if (!reply) {
      return reply.error();
    }
    Result<ConnectReplies> replies = decodeConnectReplies(*reply);
    if (!replies) {
      return replies;
    }
    for (const NodeName& peer : peers) {
      if (!replies->contains(peer)) {
        return Error{Error::Code::Invalid, "connecting at once answered nothing for " + peer +
                                               ": " + printTerm(reply->data(), 0)};
      }
    }
    return replies;
  }

  /// See Connector::waitForNodeEvents.
  Result<NodeEvents> waitForNodeEvents(milliseconds timeout, std::stop_token stop) {
    const auto deadline = SteadyClock::now() + timeout;
    Result<std::uint64_t> generation = connectUntil(deadline);
    if (!generation) {
      return generation.error();
    }
    bool armed = false;
    {
      std::lock_guard lock(mutex_);
      armed = watcherArmed_ && watcherGeneration_ == *generation && !eventsOverflowed_;
    }
    if (!armed) {
      return armWatcher(*generation, timeout);
    }
    std::unique_lock lock(mutex_);
    eventsCv_.wait_until(lock, stop, deadline, [&] {
      return !events_.empty() || !watcherArmed_ || eventsOverflowed_ || !open_ ||
             generation_ != *generation || stopping_;
    });
    NodeEvents out;
    out.events.assign(events_.begin(), events_.end());
    events_.clear();
    return out;
  }

private:
  struct Pending {
    bool done = false;
    bool lost = false;
    std::string reply; // the Reply of {rex, Reply}, external format without version byte
  };

  /// {value, [{Peer, {reply, Value} | timeout}], _}: each peer's connect reply.
  static Result<ConnectReplies> decodeConnectReplies(const std::string& reply) {
    const char* buffer = reply.data();
    const auto invalid = [&] {
      return Result<ConnectReplies>(
          Error{Error::Code::Invalid,
                "connecting at once answered " + printTerm(buffer, 0) + ", not {value, [...], _}"});
    };
    int index = 0;
    int arity = 0;
    int count = 0;
    char tag[MAXATOMLEN_UTF8];
    if (ei_decode_tuple_header(buffer, &index, &arity) < 0 || arity != 3 ||
        ei_decode_atom_as(buffer, &index, tag, sizeof tag, ERLANG_UTF8, nullptr, nullptr) < 0 ||
        std::strcmp(tag, "value") != 0 || ei_decode_list_header(buffer, &index, &count) < 0) {
      return invalid();
    }
    ConnectReplies replies;
    for (int i = 0; i < count; ++i) {
      char peer[MAXATOMLEN_UTF8];
      int type = 0;
      int size = 0;
      if (ei_decode_tuple_header(buffer, &index, &arity) < 0 || arity != 2 ||
          ei_decode_atom_as(buffer, &index, peer, sizeof peer, ERLANG_UTF8, nullptr, nullptr) < 0 ||
          ei_get_type(buffer, &index, &type, &size) < 0) {
        return invalid();
      }
      if (type == ERL_SMALL_TUPLE_EXT || type == ERL_LARGE_TUPLE_EXT) {
        if (ei_decode_tuple_header(buffer, &index, &arity) < 0 || arity != 2 ||
            ei_decode_atom_as(buffer, &index, tag, sizeof tag, ERLANG_UTF8, nullptr, nullptr) < 0 ||
            std::strcmp(tag, "reply") != 0) {
          return invalid();
        }
        const int start = index;
        if (ei_skip_term(buffer, &index) < 0) {
          return invalid();
        }
        replies.emplace(peer, Result<CallReply>(interpretCall(std::string(
                                  buffer + start, static_cast<std::size_t>(index - start)))));
      } else if (ei_decode_atom_as(buffer, &index, tag, sizeof tag, ERLANG_UTF8, nullptr,
                                   nullptr) == 0 &&
                 std::strcmp(tag, "timeout") == 0) {
        replies.emplace(peer, Result<CallReply>(
                                  Error{Error::Code::Timeout, std::string("connecting to ") + peer +
                                                                  " did not return in time"}));
      } else {
        return invalid();
      }
    }
    return replies;
  }

  /// The open connection's generation, setting one up when there is none.
  Result<std::uint64_t> connectUntil(SteadyClock::time_point deadline) {
    std::lock_guard connecting(connectMutex_);
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        return Error{Error::Code::Unavailable, "the connector is shutting down"};
      }
      if (open_) {
        return generation_;
      }
    }
    if (reader_.joinable()) {
      // The previous connection broke; its reader has been woken and is closing the fd.
      reader_.join();
    }
    const unsigned timeoutMs = std::min<unsigned>(
        remainingMs(deadline),
        static_cast<unsigned>(std::max<long long>(options_.setupTimeout.count(), 1)));
    std::vector<char> node(options_.localNode.begin(), options_.localNode.end());
    node.push_back('\0');
    std::vector<char> host(host_.begin(), host_.end());
    host.push_back('\0');
    erl_errno = 0;
    const int fd =
        options_.localNodePort > 0
            ? ei_connect_host_port_tmo(&cnode_, host.data(), options_.localNodePort, timeoutMs)
            : ei_connect_tmo(&cnode_, node.data(), timeoutMs);
    if (fd < 0) {
      return setupError(fd, erl_errno, options_.localNode, host_, options_.localNodePort);
    }
    std::uint64_t generation = 0;
    std::uint64_t made = 0;
    {
      std::lock_guard lock(mutex_);
      fd_ = fd;
      open_ = true;
      generation = ++generation_;
      made = ++connectionsMade_;
    }
    reader_ = std::thread([this, fd] { readLoop(fd); });
    logInfo("connected to local node",
            {{"node", options_.localNode}, {"agent", agentNode_}, {"connections", made}});
    return generation;
  }

  static erlang_pid makeEventPid(const ei_cnode& cnode) {
    // RPCs send from pids numbered 1 and up; number 0 is the one the node watcher sends to.
    erlang_pid pid = cnode.self;
    pid.num = 0;
    pid.serial = 0;
    return pid;
  }

  Result<NodeEvents> armWatcher(std::uint64_t generation, milliseconds timeout) {
    Result<std::string> reply = rpc(watcher_, nullptr, timeout);
    if (!reply) {
      return reply.error();
    }
    erlang_pid watcher{};
    int index = 0;
    if (ei_decode_pid(reply->data(), &index, &watcher) < 0) {
      return Error{Error::Code::Invalid,
                   "local node " + options_.localNode +
                       " did not start the node watcher: " + printTerm(reply->data(), 0)};
    }
    {
      std::lock_guard lock(mutex_);
      if (!open_ || generation_ != generation) {
        return Error{Error::Code::Unavailable,
                     "lost the connection to local node " + options_.localNode};
      }
      watcherPid_ = watcher;
      watcherArmed_ = true;
      watcherGeneration_ = generation;
      eventsOverflowed_ = false;
      // Events queued before are from an old watcher; the caller looks at the whole state now.
      events_.clear();
    }
    logDebug("watching the local node's connections", {{"node", options_.localNode}});
    return NodeEvents{.rearmed = true, .events = {}};
  }

  /// Queues {nodeup, Node, Info} / {nodedown, Node, Info} from the watcher; anything else sent to
  /// the event pid is dropped.
  void deliverEvent(const char* buffer) {
    int index = 0;
    int version = 0;
    int arity = 0;
    char tag[MAXATOMLEN_UTF8];
    char node[MAXATOMLEN_UTF8];
    if (ei_decode_version(buffer, &index, &version) < 0 ||
        ei_decode_tuple_header(buffer, &index, &arity) < 0 || arity != 3 ||
        ei_decode_atom_as(buffer, &index, tag, sizeof tag, ERLANG_UTF8, nullptr, nullptr) < 0 ||
        ei_decode_atom_as(buffer, &index, node, sizeof node, ERLANG_UTF8, nullptr, nullptr) < 0 ||
        !isNodeName(node)) {
      return;
    }
    NodeEvent event{NodeEvent::Kind::Up, node, ""};
    if (std::strcmp(tag, "nodedown") == 0) {
      event.kind = NodeEvent::Kind::Down;
      event.reason = printTerm(buffer, index);
    } else if (std::strcmp(tag, "nodeup") != 0) {
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (events_.size() >= kMaxQueuedEvents) {
        eventsOverflowed_ = true;
        events_.clear();
      } else {
        events_.push_back(std::move(event));
      }
    }
    eventsCv_.notify_all();
  }

  Result<std::string> rpc(const EncodedMfa& mfa, const NodeName* peer, milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    // A list header of arity 0 is the empty list itself; otherwise elements and a [] tail.
    XBuff args;
    ei_x_encode_list_header(args.get(), mfa.arity);
    if (mfa.arity > 0) {
      for (const std::string& arg : mfa.args) {
        ei_x_append_buf(args.get(), arg.data(), static_cast<int>(arg.size()));
      }
      if (peer != nullptr) {
        encodeAtom(args.get(), *peer);
      }
      ei_x_encode_empty_list(args.get());
    }

    {
      std::unique_lock lock(mutex_);
      if (!cv_.wait_until(lock, deadline, [&] {
            return stopping_ || inFlight_ < std::max<std::size_t>(options_.maxParallelRpcs, 1);
          })) {
        return Error{Error::Code::Timeout, "too many calls to the local node in flight"};
      }
      ++inFlight_;
    }
    struct SlotRelease {
      Link& link;
      ~SlotRelease() {
        {
          std::lock_guard lock(link.mutex_);
          --link.inFlight_;
        }
        link.cv_.notify_all();
      }
    } slot{*this};

    // A broken connection (the local node restarted) gets one reconnect and one retry. The
    // operations are idempotent, so running one twice is harmless.
    for (int attempt = 0;; ++attempt) {
      Result<std::uint64_t> generation = connectUntil(deadline);
      if (!generation) {
        return generation.error();
      }
      Pending pending;
      std::uint32_t id = 0;
      {
        std::lock_guard lock(mutex_);
        id = nextCall_;
        nextCall_ = (nextCall_ + 1) % (kPidNums * kPidSerials);
        pending_[id] = &pending;
      }
      Result<void> sent = send(*generation, id, mfa, args, deadline);
      std::unique_lock lock(mutex_);
      if (sent) {
        cv_.wait_until(lock, deadline, [&] { return pending.done || pending.lost || stopping_; });
      }
      pending_.erase(id);
      if (pending.done) {
        return std::move(pending.reply);
      }
      if (stopping_) {
        return Error{Error::Code::Unavailable, "the connector is shutting down"};
      }
      if (sent && !pending.lost) {
        // The late reply, if it ever comes, goes to a pid nobody waits for and is dropped.
        return Error{Error::Code::Timeout, "local node " + options_.localNode + " did not answer " +
                                               mfa.module + ":" + mfa.function + " within " +
                                               std::to_string(timeout.count()) + " ms"};
      }
      if (attempt > 0 || SteadyClock::now() >= deadline) {
        return Error{Error::Code::Unavailable,
                     "lost the connection to local node " + options_.localNode};
      }
    }
  }

  Result<void> send(std::uint64_t generation, std::uint32_t id, const EncodedMfa& mfa, XBuff& args,
                    SteadyClock::time_point deadline) {
    ei_cnode sender = sendTemplate_;
    sender.self.num = 1 + id % kPidNums;
    sender.self.serial = id / kPidNums;

    // {Self, {call, Module, Function, Args, user}}: what rex expects from a C node.
    XBuff message(true);
    ei_x_encode_tuple_header(message.get(), 2);
    ei_x_encode_pid(message.get(), &sender.self);
    ei_x_encode_tuple_header(message.get(), 5);
    ei_x_encode_atom(message.get(), "call");
    encodeAtom(message.get(), mfa.module);
    encodeAtom(message.get(), mfa.function);
    ei_x_append_buf(message.get(), args.data(), args.size());
    ei_x_encode_atom(message.get(), "user");

    std::lock_guard writing(writeMutex_);
    int fd = -1;
    {
      std::lock_guard lock(mutex_);
      if (!open_ || generation_ != generation) {
        return Error{Error::Code::Unavailable,
                     "lost the connection to local node " + options_.localNode};
      }
      fd = fd_;
    }
    char rex[] = "rex";
    if (ei_reg_send_tmo(&sender, fd, rex, message.get()->buff, message.size(),
                        remainingMs(deadline)) < 0) {
      // A partly written packet leaves the stream unusable: drop the connection.
      std::lock_guard lock(mutex_);
      if (open_ && generation_ == generation) {
        open_ = false;
        ::shutdown(fd_, SHUT_RDWR);
      }
      return Error{Error::Code::Unavailable,
                   "sending to local node " + options_.localNode + " failed"};
    }
    return {};
  }

  void readLoop(int fd) {
    XBuff buffer;
    erlang_msg message{};
    while (true) {
      pollfd readable{fd, POLLIN, 0};
      const int polled = ::poll(&readable, 1, -1);
      if (polled < 0) {
        if (errno == EINTR) {
          continue;
        }
        break;
      }
      buffer.get()->index = 0;
      // Ticks are answered inside ei and come back as ERL_TICK.
      const int got = ei_xreceive_msg_tmo(fd, &message, buffer.get(), kMessageReadTimeoutMs);
      if (got == ERL_TICK) {
        continue;
      }
      if (got == ERL_ERROR) {
        break; // closed by the node, shut down by us, or a packet that did not arrive whole
      }
      if (message.msgtype == ERL_SEND && message.to.num == 0) {
        deliverEvent(buffer.data());
      } else if (message.msgtype == ERL_SEND) {
        deliver(message.to, buffer.data());
      } else if (message.msgtype == ERL_EXIT || message.msgtype == ERL_EXIT2) {
        watcherExited(message.from);
      }
    }

    std::lock_guard writing(writeMutex_);
    {
      std::lock_guard lock(mutex_);
      open_ = false;
      fd_ = -1;
      for (auto& [id, pending] : pending_) {
        pending->lost = true;
      }
      watcherArmed_ = false; // it ends with the connection (linked)
    }
    cv_.notify_all();
    eventsCv_.notify_all();
    ei_close_connection(fd);
  }

  void watcherExited(const erlang_pid& from) {
    {
      std::lock_guard lock(mutex_);
      if (!watcherArmed_ || !samePid(from, watcherPid_)) {
        return;
      }
      watcherArmed_ = false;
    }
    logInfo("the node watcher in the local node ended, starting another",
            {{"node", options_.localNode}});
    eventsCv_.notify_all();
  }

  /// Hands {rex, Reply} to the call that sent from `to`; anything else is not ours and dropped.
  void deliver(const erlang_pid& to, const char* buffer) {
    int index = 0;
    int version = 0;
    int arity = 0;
    char tag[MAXATOMLEN_UTF8];
    if (ei_decode_version(buffer, &index, &version) < 0 ||
        ei_decode_tuple_header(buffer, &index, &arity) < 0 || arity != 2 ||
        ei_decode_atom_as(buffer, &index, tag, sizeof tag, ERLANG_UTF8, nullptr, nullptr) < 0 ||
        std::strcmp(tag, "rex") != 0) {
      return;
    }
    int end = index;
    if (ei_skip_term(buffer, &end) < 0 || to.num == 0 || to.num > kPidNums) {
      return;
    }
    const std::uint32_t id = (to.num - 1) + to.serial * kPidNums;
    {
      std::lock_guard lock(mutex_);
      auto found = pending_.find(id);
      if (found == pending_.end()) {
        return;
      }
      found->second->reply.assign(buffer + index, static_cast<std::size_t>(end - index));
      found->second->done = true;
    }
    cv_.notify_all();
  }

  const EiConnectorOptions options_;
  ei_cnode cnode_;              // used by ei_connect*, under connectMutex_
  const ei_cnode sendTemplate_; // copied per call, with the call's own pid
  const NodeName agentNode_;
  const EncodedMfa connect_;
  const EncodedMfa disconnect_;
  const EncodedMfa listNodes_;
  const std::string host_;
  const erlang_pid eventPid_;
  const EncodedMfa watcher_;

  std::mutex connectMutex_;
  std::mutex writeMutex_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::condition_variable_any eventsCv_; // waits with a stop_token
  int fd_ = -1;
  bool open_ = false;
  bool stopping_ = false;
  std::uint64_t generation_ = 0;
  std::uint64_t connectionsMade_ = 0;
  std::uint32_t nextCall_ = 0;
  std::size_t inFlight_ = 0;
  std::map<std::uint32_t, Pending*> pending_;
  bool watcherArmed_ = false;
  std::uint64_t watcherGeneration_ = 0;
  erlang_pid watcherPid_{};
  bool eventsOverflowed_ = false;
  std::deque<NodeEvent> events_;
  std::thread reader_;
};

Result<std::unique_ptr<EiConnector>> EiConnector::create(EiConnectorOptions options) {
  if (!isNodeName(options.localNode)) {
    return Error{Error::Code::Invalid,
                 "the local node name must look like name@host, got \"" + options.localNode + "\""};
  }
  if (options.localNodePort < 0 || options.localNodePort > 65535) {
    return Error{Error::Code::Invalid, "the local node port must be 0 (epmd) or 1-65535"};
  }
  if (options.setupTimeout.count() <= 0) {
    return Error{Error::Code::Invalid, "the setup timeout must be positive"};
  }
  if (options.creation && *options.creation == 0) {
    return Error{Error::Code::Invalid, "the creation must not be 0"};
  }
  if (options.agentAlive.empty()) {
    options.agentAlive = "libcluster_agent_" + randomHex(6);
  } else if (!isAliveText(options.agentAlive)) {
    return Error{Error::Code::Invalid,
                 "the agent name may hold only letters, digits, '_' and '-', got \"" +
                     options.agentAlive + "\""};
  }
  Result<EncodedMfa> connect = encodeMfa(options.connect, true, "connect");
  if (!connect) {
    return connect.error();
  }
  Result<EncodedMfa> disconnect = encodeMfa(options.disconnect, true, "disconnect");
  if (!disconnect) {
    return disconnect.error();
  }
  Result<EncodedMfa> listNodes = encodeMfa(options.listNodes, false, "listNodes");
  if (!listNodes) {
    return listNodes.error();
  }
  Result<std::string> cookie = loadCookie(options);
  if (!cookie) {
    return cookie.error();
  }
  if (!initErlInterface()) {
    return Error{Error::Code::Internal, "erl_interface failed to initialise"};
  }

  const std::string host = options.localNode.substr(options.localNode.find('@') + 1);
  const NodeName agentNode = options.agentAlive + "@" + host;
  if (!isAtomText(agentNode) || host.size() > EI_MAXHOSTNAMELEN) {
    return Error{Error::Code::Invalid, "the agent node name " + agentNode + " is too long"};
  }
  ei_cnode cnode{};
  const std::uint32_t creation = options.creation.value_or(randomCreation());
  const int initialised = ei_connect_xinit(&cnode, host.c_str(), options.agentAlive.c_str(),
                                           agentNode.c_str(), nullptr, cookie->c_str(), creation);
  // From here on only ei's node structure holds the cookie (it answers every handshake).
  std::string loaded = std::move(cookie).value();
  wipeSecret(loaded);
  wipeSecret(options.cookie);
  if (initialised < 0) {
    return Error{Error::Code::Invalid, "erl_interface rejected the agent node " + agentNode};
  }
  auto link =
      std::make_unique<Link>(std::move(options), cnode, agentNode, std::move(connect).value(),
                             std::move(disconnect).value(), std::move(listNodes).value());
  return std::unique_ptr<EiConnector>(new EiConnector(std::move(link)));
}

EiConnector::EiConnector(std::unique_ptr<Link> link) : link_(std::move(link)) {}

EiConnector::~EiConnector() = default;

Result<CallReply> EiConnector::connect(const NodeName& peer, std::chrono::milliseconds timeout) {
  return link_->connect(peer, timeout);
}

Result<CallReply> EiConnector::disconnect(const NodeName& peer, std::chrono::milliseconds timeout) {
  return link_->disconnect(peer, timeout);
}

Result<PeerSet> EiConnector::connectedPeers(std::chrono::milliseconds timeout) {
  return link_->listNodes(timeout);
}

const NodeName& EiConnector::localNode() const { return link_->localNode(); }

const NodeName& EiConnector::agentNode() const { return link_->agentNode(); }

Result<void> EiConnector::ensureConnected(std::chrono::milliseconds timeout) {
  return link_->ensureConnected(timeout);
}

bool EiConnector::isConnected() const { return link_->isConnected(); }

std::uint64_t EiConnector::connectionsMade() const { return link_->connectionsMade(); }

std::optional<Result<void>> EiConnector::disconnectAtOnce(const PeerSet& peers,
                                                          std::chrono::milliseconds timeout) {
  return link_->disconnectAtOnce(peers, timeout);
}

Result<ConnectReplies> EiConnector::connectAtOnce(const PeerSet& peers,
                                                  std::chrono::milliseconds timeout) {
  return link_->connectAtOnce(peers, timeout);
}

Result<NodeEvents> EiConnector::waitForNodeEvents(std::chrono::milliseconds timeout,
                                                  std::stop_token stop) {
  return link_->waitForNodeEvents(timeout, std::move(stop));
}

} // namespace libcluster
