#include "beam/beam_node.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

/// Once per process: orphans of our children (erl_child_setup outlives a SIGKILLed beam.smp)
/// are re-parented to us instead of init, so we can reap them; and a child that dies while we
/// write its stdin must not kill the test with SIGPIPE.
void prepareProcess() {
  static std::once_flag once;
  std::call_once(once, [] {
    ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    ::signal(SIGPIPE, SIG_IGN);
  });
}

std::string findInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return name;
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return name;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// argv as the char* array execv wants; built before fork, since the child may only call
/// async-signal-safe functions.
class Argv {
public:
  explicit Argv(const std::vector<std::string>& args) : args_(args) {
    for (std::string& arg : args_) {
      pointers_.push_back(arg.data());
    }
    pointers_.push_back(nullptr);
  }
  char* const* get() { return pointers_.data(); }

private:
  std::vector<std::string> args_;
  std::vector<char*> pointers_;
};

/// Waits for `pid` until `deadline`; true when it was reaped.
bool waitUntil(pid_t pid, SteadyClock::time_point deadline) {
  while (true) {
    int status = 0;
    const pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid || (got < 0 && errno == ECHILD)) {
      return true;
    }
    if (SteadyClock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
}

void killAndReap(pid_t pid) {
  ::kill(pid, SIGKILL);
  waitUntil(pid, SteadyClock::now() + 5s);
}

std::vector<pid_t> childrenOf(pid_t pid) {
  std::vector<pid_t> children;
  std::error_code ignored;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks, ignored)) {
    std::ifstream in(task.path() / "children");
    pid_t child = 0;
    while (in >> child) {
      children.push_back(child);
    }
  }
  return children;
}

/// "{ok, X}" → "X"; "{error, ...}" and anything else → nullopt.
std::optional<std::string> okPayload(const std::string& printed) {
  const std::string prefix = "{ok, ";
  std::string trimmed = printed;
  while (!trimmed.empty() && (trimmed.back() == '\n' || trimmed.back() == ' ')) {
    trimmed.pop_back();
  }
  if (trimmed.rfind(prefix, 0) != 0 || trimmed.back() != '}') {
    return std::nullopt;
  }
  return trimmed.substr(prefix.size(), trimmed.size() - prefix.size() - 1);
}

std::atomic<int> probeCounter{0};

constexpr const char* kProbePrefix = "beamprobe";

} // namespace

CommandOutput runCommand(const std::vector<std::string>& argv, const std::string& input,
                         std::chrono::milliseconds timeout) {
  prepareProcess();
  CommandOutput result;
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) {
    result.output = std::string("pipe failed: ") + std::strerror(errno);
    return result;
  }
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    result.output = std::string("pipe failed: ") + std::strerror(errno);
    return result;
  }
  std::vector<std::string> args = argv;
  args[0] = findInPath(args[0]);
  Argv childArgv(args);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    ::execv(childArgv.get()[0], childArgv.get());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  if (pid < 0) {
    ::close(in[1]);
    ::close(out[0]);
    result.output = std::string("fork failed: ") + std::strerror(errno);
    return result;
  }
  std::size_t written = 0;
  while (written < input.size()) {
    const ssize_t n = ::write(in[1], input.data() + written, input.size() - written);
    if (n <= 0) {
      break;
    }
    written += static_cast<std::size_t>(n);
  }
  ::close(in[1]);

  const auto deadline = SteadyClock::now() + timeout;
  char buffer[4096];
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) {
      result.timedOut = true;
      break;
    }
    pollfd readable{out[0], POLLIN, 0};
    const int polled = ::poll(&readable, 1, static_cast<int>(left.count()));
    if (polled < 0 && errno == EINTR) {
      continue;
    }
    if (polled <= 0) {
      continue; // the deadline check above ends the loop
    }
    const ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    result.output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  if (result.timedOut) {
    killAndReap(pid);
    return result;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

int pickDistributionPort(const std::vector<std::string>& addresses) {
  std::random_device device;
  std::uniform_int_distribution<int> distribution(20000, 31999);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = distribution(device);
    bool free = true;
    std::vector<std::string> all = addresses;
    all.insert(all.begin(), "127.0.0.1");
    for (const std::string& address : all) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in bound{};
      bound.sin_family = AF_INET;
      bound.sin_port = htons(static_cast<uint16_t>(port));
      ::inet_pton(AF_INET, address.c_str(), &bound.sin_addr);
      const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&bound), sizeof bound) == 0;
      if (fd >= 0) {
        ::close(fd);
      }
      if (!ok) {
        free = false;
        break;
      }
    }
    if (free) {
      return port;
    }
  }
  return 0;
}

BeamNode::BeamNode(Options options) : options_(std::move(options)) {
  const std::size_t at = options_.name.find('@');
  address_ = at == std::string::npos ? std::string() : options_.name.substr(at + 1);
}

BeamNode::~BeamNode() { kill(); }

std::string BeamNode::logPath() const {
  const std::string alive = options_.name.substr(0, options_.name.find('@'));
  return options_.logDir + "/" + alive + "-" + address_ + ".log";
}

std::string BeamNode::logTail(std::size_t maxChars) const {
  const std::string log = readFile(logPath());
  return log.size() <= maxChars ? log : log.substr(log.size() - maxChars);
}

Result<void> BeamNode::spawn() {
  prepareProcess();
  if (pid_ > 0) {
    return {};
  }
  in_addr parsed{};
  if (::inet_pton(AF_INET, address_.c_str(), &parsed) != 1 || address_.rfind("127.", 0) != 0) {
    return Error{Error::Code::Invalid, "node " + options_.name + " needs a 127.x.y.z host"};
  }
  std::string tuple = "{" + address_ + "}";
  for (char& c : tuple) {
    if (c == '.') {
      c = ',';
    }
  }
  std::vector<std::string> args = {findInPath("erl"),
                                   "-name",
                                   options_.name,
                                   "-setcookie",
                                   options_.cookie,
                                   "-noshell",
                                   "-noinput",
                                   "-start_epmd",
                                   "false",
                                   "-erl_epmd_port",
                                   std::to_string(options_.port),
                                   "-kernel",
                                   "inet_dist_use_interface",
                                   tuple};
  if (options_.isolated) {
    args.insert(args.end(),
                {"-kernel", "prevent_overlapping_partitions", "false", "-connect_all", "false"});
  }
  args.insert(args.end(), options_.extraArgs.begin(), options_.extraArgs.end());
  Argv argv(args);
  const std::string log = logPath();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    const int devNull = ::open("/dev/null", O_RDONLY);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (devNull < 0 || out < 0) {
      ::_exit(127);
    }
    ::dup2(devNull, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    ::execv(argv.get()[0], argv.get());
    ::_exit(127);
  }
  if (pid < 0) {
    return Error{Error::Code::Internal, std::string("fork failed: ") + std::strerror(errno)};
  }
  pid_ = pid;
  children_.clear();
  return {};
}

Result<void> BeamNode::waitUntilUp(std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::this_thread::sleep_for(300ms); // a node takes at least this long to boot
  while (true) {
    if (!isRunning()) {
      return Error{Error::Code::Unavailable,
                   "node " + options_.name + " exited during start-up: " + logTail()};
    }
    Result<std::string> up = eval("node().", 2s);
    if (up) {
      rememberChildren();
      return {};
    }
    if (SteadyClock::now() >= deadline) {
      return Error{Error::Code::Timeout, "node " + options_.name + " did not answer within " +
                                             std::to_string(timeout.count()) +
                                             " ms: " + up.error().message + "; log: " + logTail()};
    }
    std::this_thread::sleep_for(100ms);
  }
}

Result<void> BeamNode::start(std::chrono::milliseconds timeout) {
  if (pid_ > 0 && isRunning()) {
    return {};
  }
  if (Result<void> spawned = spawn(); !spawned) {
    return spawned;
  }
  return waitUntilUp(timeout);
}

bool BeamNode::isRunning() {
  if (pid_ <= 0) {
    return false;
  }
  int status = 0;
  const pid_t got = ::waitpid(pid_, &status, WNOHANG);
  if (got == pid_) {
    pid_ = -1;
    reap(0ms);
    return false;
  }
  return true;
}

void BeamNode::rememberChildren() {
  for (pid_t child : childrenOf(pid_)) {
    if (std::find(children_.begin(), children_.end(), child) == children_.end()) {
      children_.push_back(child);
    }
  }
}

void BeamNode::reap(std::chrono::milliseconds grace) {
  // erl_child_setup exits once beam.smp is gone; as our subreaper orphan we must reap it.
  for (pid_t child : children_) {
    if (!waitUntil(child, SteadyClock::now() + grace)) {
      killAndReap(child);
    }
  }
  children_.clear();
}

void BeamNode::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) {
    return;
  }
  rememberChildren();
  ::kill(pid_, SIGCONT); // a frozen node cannot act on SIGTERM
  ::kill(pid_, SIGTERM);
  if (!waitUntil(pid_, SteadyClock::now() + grace)) {
    killAndReap(pid_);
  }
  pid_ = -1;
  reap(2s);
}

void BeamNode::kill() {
  if (pid_ <= 0) {
    return;
  }
  rememberChildren();
  killAndReap(pid_);
  pid_ = -1;
  reap(2s);
}

Result<void> BeamNode::restart(std::chrono::milliseconds timeout) {
  kill();
  return start(timeout);
}

void BeamNode::freeze() {
  if (pid_ > 0) {
    ::kill(pid_, SIGSTOP);
  }
}

void BeamNode::thaw() {
  if (pid_ > 0) {
    ::kill(pid_, SIGCONT);
  }
}

Result<std::string> BeamNode::eval(const std::string& expression,
                                   std::chrono::milliseconds timeout) {
  // A unique client name per call: parallel erl_calls with one name would collide.
  const std::string probe = std::string(kProbePrefix) + std::to_string(::getpid()) + "_" +
                            std::to_string(probeCounter.fetch_add(1));
  const auto seconds =
      std::max<long long>(1, std::chrono::duration_cast<std::chrono::seconds>(timeout).count());
  CommandOutput run =
      runCommand({"erl_call", "-address", address_ + ":" + std::to_string(options_.port), "-c",
                  options_.cookie, "-h", probe, "-timeout", std::to_string(seconds), "-e"},
                 expression + "\n", timeout + 1s);
  if (run.timedOut) {
    return Error{Error::Code::Timeout, "erl_call to " + options_.name + " timed out"};
  }
  if (run.exitCode != 0) {
    return Error{Error::Code::Unavailable,
                 "erl_call to " + options_.name + " failed: " + run.output};
  }
  std::optional<std::string> payload = okPayload(run.output);
  if (!payload) {
    return Error{Error::Code::Invalid, "erl_call to " + options_.name + " answered " + run.output};
  }
  return *payload;
}

Result<std::set<std::string>> BeamNode::nodeList(const std::string& listExpression) {
  // Printed as one string of space-separated names: trivially parsed, whatever the atom quoting.
  Result<std::string> printed =
      eval("lists:flatten(lists:join(\" \", [atom_to_list(N) || N <- " + listExpression + "])).");
  if (!printed) {
    return printed.error();
  }
  std::string text = *printed;
  if (text == "[]") {
    return std::set<std::string>{};
  }
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') {
    return Error{Error::Code::Invalid, "unexpected node list " + text};
  }
  std::stringstream names(text.substr(1, text.size() - 2));
  std::set<std::string> result;
  std::string name;
  while (names >> name) {
    if (name.rfind(kProbePrefix, 0) != 0) {
      result.insert(name);
    }
  }
  return result;
}

Result<std::set<std::string>> BeamNode::nodes() { return nodeList("nodes()"); }

Result<std::set<std::string>> BeamNode::connectedNodes() { return nodeList("nodes(connected)"); }

bool BeamNode::waitForNodes(const std::function<bool(const std::set<std::string>&)>& predicate,
                            std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (true) {
    Result<std::set<std::string>> current = nodes();
    if (current && predicate(*current)) {
      return true;
    }
    if (SteadyClock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(50ms);
  }
}

Result<void> BeamNode::disconnectAll() {
  // Not the erl_call probe asking: its reply would never arrive.
  Result<std::string> done =
      eval(std::string("[erlang:disconnect_node(N) || N <- nodes(connected), "
                       "not lists:prefix(\"") +
           kProbePrefix + "\", atom_to_list(N))], ok.");
  if (!done) {
    return done.error();
  }
  return {};
}

BeamTestbed::BeamTestbed() {
  prepareProcess();
  std::vector<std::string> addresses;
  for (int host = 2; host < 100; ++host) {
    addresses.push_back("127.0.0." + std::to_string(host));
  }
  port_ = pickDistributionPort(addresses);
  std::random_device device;
  cookie_ = "testcookie";
  for (int i = 0; i < 4; ++i) {
    cookie_ += std::to_string(device() % 100000);
  }
  char pattern[] = "/tmp/libcluster-beam-XXXXXX";
  if (::mkdtemp(pattern) != nullptr) {
    dir_ = pattern;
  } else {
    dir_ = "/tmp";
  }
}

BeamTestbed::~BeamTestbed() {
  stopAll();
  nodes_.clear();
  if (dir_ != "/tmp" && std::getenv("LIBCLUSTER_KEEP_BEAM_LOGS") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

BeamNode& BeamTestbed::add(const std::string& name, std::vector<std::string> extraArgs) {
  auto& slot = nodes_[name];
  if (!slot) {
    slot = std::make_unique<BeamNode>(BeamNode::Options{
        .name = name,
        .cookie = cookie_,
        .port = port_,
        .isolated = true,
        .extraArgs = std::move(extraArgs),
        .logDir = dir_,
    });
  }
  return *slot;
}

BeamNode& BeamTestbed::node(const std::string& name) { return add(name); }

Result<void> BeamTestbed::startAll(std::chrono::milliseconds timeout) {
  if (port_ == 0) {
    return Error{Error::Code::Unavailable, "no free distribution port found"};
  }
  std::vector<BeamNode*> starting;
  for (auto& [name, node] : nodes_) {
    if (!node->isRunning()) {
      if (Result<void> spawned = node->spawn(); !spawned) {
        return spawned;
      }
      starting.push_back(node.get());
    }
  }
  const auto deadline = SteadyClock::now() + timeout;
  for (BeamNode* node : starting) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (Result<void> up = node->waitUntilUp(std::max(left, std::chrono::milliseconds(1))); !up) {
      return up;
    }
  }
  return {};
}

void BeamTestbed::stopAll() {
  // SIGKILL: test nodes keep nothing worth a graceful stop, which takes a second each.
  for (auto& [name, node] : nodes_) {
    node->kill();
  }
}

BlackholePeer::BlackholePeer(const std::string& address, int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    return;
  }
  const int yes = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in bound{};
  bound.sin_family = AF_INET;
  bound.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &bound.sin_addr);
  // Never accepted: the kernel completes the TCP handshake into the backlog, and the peer then
  // waits for a distribution handshake that never comes.
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&bound), sizeof bound) != 0 ||
      ::listen(fd_, 64) != 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

BlackholePeer::~BlackholePeer() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

} // namespace libcluster
