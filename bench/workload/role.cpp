// SPDX-License-Identifier: Apache-2.0
// bench/workload/role.cpp: the participant's context (role.hpp).
#include "workload/role.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <string>

namespace ferry::bench {

namespace {
volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int /*sig*/) {
  g_stop = 1;
}
}  // namespace

Timetable timetable(const Options& o, std::int64_t go) {
  const auto run = static_cast<std::int64_t>(std::llround(o.seconds * 1e9));
  // (ferry-demo's bus counts everything: its table adds up to what was published.)
  const bool warms_up = (o.scenario == Scenario::reqrep || o.paced) && o.scenario != Scenario::bus;
  const std::int64_t warm = warms_up ? kWarmupNs : 0;
  return Timetable{go, go + warm, go + warm + run};
}

Result<RoleContext> RoleContext::open(const Options& options) {
  if (options.result_fd < 0 || options.state_fd < 0 || options.endpoint.empty()) {
    return Error(Errc::invalid_argument,
                 "--role is for the participants ferry bench starts itself; run it without");
  }
  auto state = SharedState::attach(options.state_fd);
  if (!state) return state.error();
  RoleContext ctx;
  ctx.options_ = &options;
  ctx.state_ = std::move(*state);
  return ctx;
}

void RoleContext::say(std::string_view line) const {
  std::string text(line);
  text += '\n';
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(options_->result_fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the orchestrator is gone; nobody to tell
    done += static_cast<std::size_t>(n);
  }
}

int RoleContext::fail(const Error& error) const {
  std::string message = error.message();
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  say("error " + message);
  return 1;
}

std::int64_t RoleContext::wait_for_go() {
  if (options_->go_fd >= 0) {
    char byte = 0;
    for (;;) {
      const ssize_t n = ::read(options_->go_fd, &byte, 1);
      if (n < 0 && errno == EINTR && g_stop == 0) continue;
      if (n != 1) break;  // end of file: go (a byte is never written)
    }
    ::close(options_->go_fd);
  }
  return state_.go();
}

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR and the loops look
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() noexcept {
  return g_stop != 0;
}

void raise_fd_limit() noexcept {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

void set_process_name(const char* name) noexcept {
  ::prctl(PR_SET_NAME, name, 0, 0, 0);
}

}  // namespace ferry::bench
