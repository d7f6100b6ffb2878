// SPDX-License-Identifier: Apache-2.0
// bench/peers/iceoryx_roudi.cpp: RouDi for an iceoryx run, in a place of the run's own
// (peer_roles.hpp, docs/bench.md "Over iceoryx").
//
// iceoryx 2.0 names everything of RouDi's at fixed places: its socket /tmp/roudi, its locks
// /tmp/roudi.lock and /tmp/iox-unique-roudi.lock, each application's socket /tmp/<name>,
// and its shared memory /dev/shm/iceoryx_mgmt and /dev/shm/<group>. It has no domain id and
// no configurable name for them (those came after 2.0). So before starting anyone, the
// orchestrator moves into a mount namespace of its own (a user namespace too when it is not
// privileged) with a fresh tmpfs on /tmp and on /dev/shm; RouDi and every participant,
// its children, see those, and nothing of another run, a test or a RouDi of the system.
// Where namespaces are not allowed (some containers), runs of iceoryx take turns instead:
// each holds an flock on /tmp/ferry-bench-iceoryx.lock for its whole run, and a RouDi
// running outside makes the run fail (RouDi says so).
//
// The daemon participant starts iox-roudi with a configuration sized for the run (one
// mempool: chunks of --size plus room for request/response headers, enough for every
// queue to be full), process monitoring off (the benchmark starts and stops everyone
// itself, and a keep-alive late by a second and a half on a loaded machine would make RouDi
// tear down a live participant), and its log at warnings. It says ready when RouDi does,
// keeps RouDi's output to show if RouDi fails, and stops RouDi (SIGTERM) when the
// orchestrator closes its pipe after the run; RouDi's CPU time counts in the run's.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "common/process.hpp"
#include "ferry/unique_fd.hpp"
#include "peer_roles.hpp"
#include "workload/participants.hpp"
#include "workload/payload.hpp"
#include "workload/report.hpp"

namespace ferry::bench {

namespace {

constexpr const char* kLockPath = "/tmp/ferry-bench-iceoryx.lock";
constexpr std::string_view kReady = "RouDi is ready for clients";
constexpr std::int64_t kStartNs = 30'000'000'000;
constexpr std::int64_t kStopNs = 10'000'000'000;
// A chunk's room beyond the payload: iceoryx's request and response headers.
constexpr std::size_t kHeaderRoom = 256;
// iceoryx's largest queue, a subscriber's or a server's.
constexpr std::size_t kQueueChunks = 256;

Result<void> write_file(const char* path, const std::string& text) {
  UniqueFd fd(::open(path, O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0 ||
      ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return Error::from_errno(errno, std::string("writing ") + path);
  }
  return {};
}

// Moves this process into a mount namespace with a fresh /tmp and /dev/shm.
Result<void> make_private_namespace() {
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  if (::unshare(CLONE_NEWNS) != 0) {  // privileged: a mount namespace is enough
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
      return Error::from_errno(errno, "unshare(CLONE_NEWUSER | CLONE_NEWNS)");
    }
    // The same user and group inside: RouDi names its segment after the group.
    const auto map_to_self = [](const char* path, unsigned id) {
      const std::string n = std::to_string(id);
      return write_file(path, n + " " + n + " 1");
    };
    if (auto r = write_file("/proc/self/setgroups", "deny"); !r) return r;
    if (auto r = map_to_self("/proc/self/uid_map", uid); !r) return r;
    if (auto r = map_to_self("/proc/self/gid_map", gid); !r) return r;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return Error::from_errno(errno, "making the mounts private");
  }
  for (const char* dir : {"/tmp", "/dev/shm"}) {
    if (::mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
      return Error::from_errno(errno, std::string("mounting a tmpfs on ") + dir);
    }
  }
  return {};
}

// make_private_namespace(), tried first in a child: where the system allows the namespace
// but not the mounts or the mapping, this process stays as it was (with its own identity in
// the shared /tmp and /dev/shm). An error if the system does not allow it.
Result<void> enter_private_namespace() {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe");
  UniqueFd from_child(pipe_fds[0]);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipe_fds[1]);
    return Error::from_errno(errno, "fork");
  }
  if (pid == 0) {
    auto made = make_private_namespace();
    const std::string why = made ? std::string() : made.error().message();
    [[maybe_unused]] const ssize_t n = ::write(pipe_fds[1], why.data(), why.size());
    std::_Exit(made ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string why;
  char buf[512];
  for (ssize_t n = 0; (n = ::read(from_child.get(), buf, sizeof buf)) != 0;) {
    if (n > 0) why.append(buf, static_cast<std::size_t>(n));
    if (n < 0 && errno != EINTR) break;
  }
  if (tools::wait_child(pid) != 0) {
    return Error(Errc::permission, why.empty() ? "the namespace probe failed" : why);
  }
  return make_private_namespace();
}

// RouDi's configuration for the run: one mempool for every message, request and reply.
std::string roudi_config(const Options& o) {
  const std::size_t size = (std::max(o.size, kEndBytes) + kHeaderRoom + 7) / 8 * 8;
  // The server's queue, a server's request queue, and per client: the chunk it loaned, the
  // last one its publisher keeps, its reply and the server's publisher's last one (x2).
  const std::size_t count = 2 * kQueueChunks + 8 * std::size_t{o.clients} + 64;
  return "[general]\nversion = 1\n\n[[segment]]\n\n[[segment.mempool]]\nsize = " +
         std::to_string(size) + "\ncount = " + std::to_string(count) + "\n";
}

// What RouDi printed, without terminal colours, its last lines only.
class Output {
 public:
  void add(std::string_view bytes) {
    for (char c : bytes) {
      if (c == '\033') {
        escape_ = true;
      } else if (escape_) {
        escape_ = c != 'm';
      } else {
        text_ += c;
      }
    }
    if (text_.size() > 4096) text_.erase(0, text_.size() - 4096);
  }
  bool says(std::string_view what) const { return text_.find(what) != std::string::npos; }
  // The last non-empty line.
  std::string last_line() const {
    std::string_view t = text_;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.remove_suffix(1);
    const std::size_t nl = t.rfind('\n');
    return std::string(nl == std::string_view::npos ? t : t.substr(nl + 1));
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  bool escape_ = false;
};

class Roudi {
 public:
  Roudi() = default;
  Roudi(const Roudi&) = delete;
  Roudi& operator=(const Roudi&) = delete;
  ~Roudi() { stop(); }

  Result<void> start(const Options& o) {
    UniqueFd config(::memfd_create("ferry-bench-roudi.toml", 0));  // RouDi reads it: no CLOEXEC
    const std::string text = roudi_config(o);
    if (config.get() < 0 ||
        ::write(config.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      return Error::from_errno(errno, "writing RouDi's configuration");
    }
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return Error::from_errno(errno, "pipe for RouDi");
    out_ = UniqueFd(out[0]);
    const std::string config_path = "/proc/self/fd/" + std::to_string(config.get());
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) {
      ::close(out[1]);
      return Error::from_errno(errno, "fork for RouDi");
    }
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(out[1], STDERR_FILENO);
      ::execl(FERRY_IOX_ROUDI, FERRY_IOX_ROUDI, "--log-level", "warning", "--monitoring-mode",
              "off", "--config-file", config_path.c_str(), nullptr);
      static constexpr char kMsg[] = "cannot execute " FERRY_IOX_ROUDI "\n";
      [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
      ::_exit(127);
    }
    ::close(out[1]);
    const std::int64_t until = tools::now_ns() + kStartNs;
    while (!output_.says(kReady)) {
      const std::int64_t left = until - tools::now_ns();
      if (left <= 0 || stop_requested())
        return Error(Errc::timed_out, "RouDi did not start in time");
      if (!read_output(static_cast<int>(left / 1'000'000) + 1)) {
        return Error(Errc::system, "RouDi ended before it was ready: " + output_.last_line());
      }
    }
    return {};
  }

  // Reads what RouDi wrote, waiting up to `timeout_ms`; false once it closed its output.
  bool read_output(int timeout_ms, int also_fd = -1) {
    pollfd fds[2] = {{out_.get(), POLLIN, 0}, {also_fd, POLLIN, 0}};
    if (::poll(fds, also_fd >= 0 ? 2 : 1, timeout_ms) <= 0) return true;
    if (fds[0].revents == 0) return true;
    char buf[4096];
    const ssize_t n = ::read(out_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    output_.add({buf, static_cast<std::size_t>(n)});
    return true;
  }

  // Stops RouDi (SIGTERM, SIGKILL after kStopNs) and reaps it; its exit status.
  int stop() {
    if (pid_ <= 0) return status_;
    ::kill(pid_, SIGTERM);
    const std::int64_t until = tools::now_ns() + kStopNs;
    int status = 0;
    for (;;) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) break;
      if (tools::now_ns() > until) {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      read_output(10);
    }
    pid_ = -1;
    status_ = status;
    return status;
  }

  // Whether RouDi still runs (if not, it is reaped and stop() returns its status).
  bool running() {
    if (pid_ <= 0) return false;
    if (::waitpid(pid_, &status_, WNOHANG) == 0) return true;
    pid_ = -1;
    return false;
  }
  const Output& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  UniqueFd out_;
  Output output_;
};

}  // namespace

Result<void> prepare_iceoryx_run(const Options& options) {
  auto isolated = enter_private_namespace();
  if (isolated) return {};
  // No namespace here: take turns with the other iceoryx runs of this machine.
  static UniqueFd lock;  // held until this process ends
  lock = UniqueFd(::open(kLockPath, O_RDONLY | O_CREAT | O_CLOEXEC, 0666));
  if (lock.get() < 0) return Error::from_errno(errno, std::string("opening ") + kLockPath);
  if (!options.json) {
    std::fprintf(stderr,
                 "ferry bench: no namespace of its own for RouDi (%s): iceoryx runs take turns "
                 "(%s) and share /tmp and /dev/shm\n",
                 isolated.error().message().c_str(), kLockPath);
  }
  while (::flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR || stop_requested())
      return Error::from_errno(errno, std::string("locking ") + kLockPath);
  }
  return {};
}

int run_iceoryx_roudi(RoleContext& ctx) {
  const Options& o = ctx.options();
  set_process_name("bench-roudi");
  install_stop_handlers();
  Roudi roudi;
  if (auto r = roudi.start(o); !r) return ctx.fail(r.error());
  ctx.say("ready");
  // Until the orchestrator closes our pipe (end of file) or stops us.
  bool open = true;
  while (!stop_requested()) {
    pollfd go{o.go_fd, POLLIN, 0};
    if (::poll(&go, 1, 0) > 0) {
      char byte = 0;
      if (::read(o.go_fd, &byte, 1) <= 0) break;
    }
    if (open) open = roudi.read_output(100, o.go_fd);
    if (!open || !roudi.running()) {
      return ctx.fail(
          Error(Errc::system, "RouDi ended during the run: " + roudi.output().last_line()));
    }
  }
  const int status = roudi.stop();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "ferry bench: RouDi: %s\n", roudi.output().text().c_str());
    return ctx.fail(
        Error(Errc::system, "RouDi did not stop cleanly (" + describe_status(status) + ")"));
  }
  ctx.say(Report{}.encode());
  return 0;
}

}  // namespace ferry::bench
