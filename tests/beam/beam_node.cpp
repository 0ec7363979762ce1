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

extern char** environ;

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <set>
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

/// Every process this library forked and still has to wait for itself. reapOrphans() leaves
/// these alone, so a concurrent runCommand keeps its exit status.
std::mutex spawnedMutex;
std::set<pid_t>& spawned() {
  static std::set<pid_t> pids;
  return pids;
}
void forgetSpawned(pid_t pid) {
  std::lock_guard lock(spawnedMutex);
  spawned().erase(pid);
}

/// fork(), with the child recorded before any other thread can see it exit. The child must not
/// touch the (copied, still locked) mutex: it only calls async-signal-safe functions until exec.
pid_t forkRegistered() {
  spawnedMutex.lock();
  const pid_t pid = ::fork();
  if (pid == 0) {
    return 0;
  }
  if (pid > 0) {
    spawned().insert(pid);
  }
  spawnedMutex.unlock();
  return pid;
}

/// Reaps zombies that were handed to us as subreaper: our children that are in another process
/// group than ours (the nodes' groups and sessions) and that we did not fork ourselves. Other
/// fixtures' children (same process group) are theirs to wait for.
void reapOrphans() {
  const pid_t self = ::getpid();
  const pid_t group = ::getpgrp();
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ignored)) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) {
      continue;
    }
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    const std::size_t close = stat.rfind(')');
    if (close == std::string::npos) {
      continue;
    }
    std::istringstream fields(stat.substr(close + 1));
    char state = 0;
    pid_t parent = 0;
    pid_t processGroup = 0;
    fields >> state >> parent >> processGroup;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    bool ours = false;
    {
      std::lock_guard lock(spawnedMutex);
      ours = spawned().contains(pid);
    }
    if (state == 'Z' && parent == self && processGroup != group && !ours) {
      int status = 0;
      ::waitpid(pid, &status, WNOHANG);
    }
  }
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

/// The environment for execve: ours with `overrides` replacing or adding variables. Built before
/// fork, like Argv.
std::vector<std::string> environmentWith(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string text(*entry);
    const std::string name = text.substr(0, text.find('='));
    if (!overrides.contains(name)) {
      env.push_back(text);
    }
  }
  for (const auto& [name, value] : overrides) {
    env.push_back(name + "=" + value);
  }
  return env;
}

/// Forks and executes `argv` with `envp`, stdin, stdout and stderr on the given descriptors (they
/// may be O_CLOEXEC: dup2 clears it). The child runs in a process group of its own, dies with
/// the thread that forked it (PR_SET_PDEATHSIG) and is recorded by forkRegistered. The child's
/// pid, or -1 with errno when fork failed.
pid_t spawnChild(Argv& argv, Argv& envp, int in, int out, int err) {
  const pid_t parent = ::getpid();
  const pid_t pid = forkRegistered();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    ::dup2(in, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    ::execve(argv.get()[0], argv.get(), envp.get());
    ::_exit(127);
  }
  return pid;
}

/// Waits for `pid` until `deadline`; true when it was reaped.
bool waitUntil(pid_t pid, SteadyClock::time_point deadline) {
  while (true) {
    int status = 0;
    const pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid || (got < 0 && errno == ECHILD)) {
      forgetSpawned(pid);
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

/// Every descendant of `pid` (erl_child_setup, inet_gethost and theirs), parents before their
/// children: reaped in this order, each one's children have been handed to us (the subreaper)
/// by the time we wait for them.
std::vector<pid_t> descendantsOf(pid_t pid) {
  std::vector<pid_t> found;
  std::vector<pid_t> parents = {pid};
  for (std::size_t next = 0; next < parents.size(); ++next) {
    std::error_code ignored;
    const std::string tasks = "/proc/" + std::to_string(parents[next]) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(tasks, ignored)) {
      std::ifstream in(task.path() / "children");
      pid_t child = 0;
      while (in >> child) {
        if (std::find(found.begin(), found.end(), child) == found.end()) {
          found.push_back(child);
          parents.push_back(child);
        }
      }
    }
  }
  return found;
}

/// Reaps `pids` in order. One that is still our child and alive after `grace` is killed: only
/// then can we be sure the pid is ours (a pid we cannot wait for is not, and is left alone).
void reapAll(const std::vector<pid_t>& pids, std::chrono::milliseconds grace) {
  for (pid_t pid : pids) {
    if (!waitUntil(pid, SteadyClock::now() + grace)) {
      killAndReap(pid);
    }
  }
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
                         std::chrono::milliseconds timeout,
                         const std::map<std::string, std::string>& env) {
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
  Argv childEnv(environmentWith(env));
  const pid_t pid = spawnChild(childArgv, childEnv, in[0], out[1], out[1]);
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
  forgetSpawned(pid);
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
                                   "-kernel",
                                   "inet_dist_use_interface",
                                   tuple};
  std::map<std::string, std::string> env;
  if (options_.epmdPort > 0) {
    env["ERL_EPMD_PORT"] = std::to_string(options_.epmdPort);
  } else {
    args.insert(args.end(), {"-erl_epmd_port", std::to_string(options_.port)});
  }
  if (options_.isolated) {
    args.insert(args.end(),
                {"-kernel", "prevent_overlapping_partitions", "false", "-connect_all", "false"});
  }
  args.insert(args.end(), options_.extraArgs.begin(), options_.extraArgs.end());
  Argv argv(args);
  Argv envp(environmentWith(env));
  const int devNull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int out = ::open(logPath().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const pid_t pid = devNull >= 0 && out >= 0 ? spawnChild(argv, envp, devNull, out, out) : -1;
  const std::string failure = std::strerror(errno);
  for (const int fd : {devNull, out}) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
  if (pid < 0) {
    return Error{Error::Code::Internal, "cannot start " + options_.name + ": " + failure};
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
    // It died on its own: reap what we knew of its processes (taken when it came up).
    forgetSpawned(pid_);
    pid_ = -1;
    reap(100ms);
    return false;
  }
  return true;
}

void BeamNode::rememberChildren() {
  for (pid_t child : descendantsOf(pid_)) {
    if (std::find(children_.begin(), children_.end(), child) == children_.end()) {
      children_.push_back(child);
    }
  }
}

void BeamNode::reap(std::chrono::milliseconds grace) {
  reapAll(children_, grace);
  children_.clear();
  reapOrphans();
}

void BeamNode::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) {
    return;
  }
  children_ = descendantsOf(pid_);
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
  // Taken just before the kill, so every pid in it is still one of the node's processes.
  children_ = descendantsOf(pid_);
  ::kill(pid_, SIGKILL);
  for (pid_t child : children_) {
    ::kill(child, SIGKILL);
  }
  waitUntil(pid_, SteadyClock::now() + 5s);
  pid_ = -1;
  reap(2s);
}

Result<void> BeamNode::restart(std::chrono::milliseconds timeout) {
  kill();
  return start(timeout);
}

namespace {

/// Whether every thread of `pid` is stopped (state T in /proc/PID/task/TID/stat). SIGSTOP reaches
/// the threads of a process one by one after kill() has returned, so a scheduler thread can still
/// answer for a moment; callers wait for this before relying on the freeze.
bool allThreadsStopped(pid_t pid) {
  std::error_code error;
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  bool any = false;
  for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
    std::ifstream stat(task.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const std::size_t close = line.rfind(')');
    if (close == std::string::npos || close + 2 >= line.size()) {
      return false;
    }
    const char state = line[close + 2];
    if (state != 'T' && state != 't') {
      return false;
    }
    any = true;
  }
  return any && !error;
}

} // namespace

void BeamNode::freeze() {
  if (pid_ > 0) {
    ::kill(pid_, SIGSTOP);
    // Bounded: a node that cannot be seen stopped within 5 s is left as it is (the test then
    // fails on what it checks, not here).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!allThreadsStopped(pid_) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
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
  std::vector<std::string> argv = {"erl_call", "-c",       options_.cookie,         "-h",
                                   probe,      "-timeout", std::to_string(seconds), "-e"};
  std::map<std::string, std::string> env;
  if (options_.epmdPort > 0) {
    argv.insert(argv.begin() + 1, {"-n", options_.name});
    env["ERL_EPMD_PORT"] = std::to_string(options_.epmdPort);
  } else {
    argv.insert(argv.begin() + 1, {"-address", address_ + ":" + std::to_string(options_.port)});
  }
  CommandOutput run = runCommand(argv, expression + "\n", timeout + 1s, env);
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

BeamTestbed::BeamTestbed(Discovery discovery) : discovery_(discovery) {
  prepareProcess();
  std::vector<std::string> addresses;
  for (int host = 2; host < 100 && discovery_ == Discovery::SharedPort; ++host) {
    addresses.push_back("127.0.0." + std::to_string(host));
  }
  port_ = pickDistributionPort(addresses);
  if (discovery_ == Discovery::Epmd && port_ != 0) {
    ::setenv("ERL_EPMD_PORT", std::to_string(port_).c_str(), 1); // for ei, as for erl
  }
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
  if (discovery_ == Discovery::Epmd) {
    epmd_.reset();
    ::unsetenv("ERL_EPMD_PORT");
  }
  // Helpers the nodes forked and abandoned (inet_gethost) may still be exiting.
  std::this_thread::sleep_for(50ms);
  reapOrphans();
  if (dir_ != "/tmp" && std::getenv("LIBCLUSTER_KEEP_BEAM_LOGS") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

BeamNode& BeamTestbed::add(const std::string& name, std::vector<std::string> extraArgs,
                           bool isolated) {
  auto& slot = nodes_[name];
  if (!slot) {
    slot = std::make_unique<BeamNode>(BeamNode::Options{
        .name = name,
        .cookie = cookie_,
        .port = discovery_ == Discovery::SharedPort ? port_ : 0,
        .epmdPort = discovery_ == Discovery::Epmd ? port_ : 0,
        .isolated = isolated,
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
  if (discovery_ == Discovery::Epmd && !epmd_) {
    epmd_ = std::make_unique<EpmdDaemon>(port_);
    if (Result<void> up = epmd_->start(); !up) {
      epmd_.reset();
      return up;
    }
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

Result<void> BeamTestbed::resetAll() {
  for (auto& [name, node] : nodes_) {
    if (Result<void> started = node->start(); !started) {
      return started;
    }
    if (Result<void> clean = node->disconnectAll(); !clean) {
      return Error{clean.error().code, name + ": " + clean.error().message};
    }
  }
  return {};
}

EpmdDaemon::EpmdDaemon(int port) : port_(port) {}

EpmdDaemon::~EpmdDaemon() { stop(); }

Result<void> EpmdDaemon::start(std::chrono::milliseconds timeout) {
  prepareProcess();
  if (pid_ > 0) {
    return {};
  }
  Argv argv({findInPath("epmd"), "-address", "127.0.0.1", "-port", std::to_string(port_)});
  Argv envp(environmentWith({}));
  const int devNull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  const pid_t pid = devNull >= 0 ? spawnChild(argv, envp, devNull, devNull, devNull) : -1;
  const std::string failure = std::strerror(errno);
  if (devNull >= 0) {
    ::close(devNull);
  }
  if (pid < 0) {
    return Error{Error::Code::Internal, "cannot start epmd: " + failure};
  }
  pid_ = pid;
  const auto deadline = SteadyClock::now() + timeout;
  while (true) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port_));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool up =
        fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    if (fd >= 0) {
      ::close(fd);
    }
    if (up) {
      return {};
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      forgetSpawned(pid_);
      pid_ = -1;
      return Error{Error::Code::Unavailable, "epmd exited during start-up"};
    }
    if (SteadyClock::now() >= deadline) {
      stop();
      return Error{Error::Code::Timeout, "epmd did not listen in time"};
    }
    std::this_thread::sleep_for(20ms);
  }
}

void EpmdDaemon::stop() {
  if (pid_ > 0) {
    killAndReap(pid_);
    pid_ = -1;
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
