// SPDX-License-Identifier: Apache-2.0
// bench/workload/participants.hpp: the orchestrator's view of the processes it starts.
//
// Each participant is this program again (fork + exec of the self command) with role
// arguments, and a pipe on which it says "ready", then "result ..." or "error ..."
// (report.hpp). Its stdout goes to stderr, so only the orchestrator writes stdout. It dies
// with the orchestrator (PR_SET_PDEATHSIG).
//
// Thread-safety: one thread (the orchestrator's).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ferry/result.hpp"
#include "workload/report.hpp"

namespace ferry::bench {

struct Participant {
  std::string name;  // "server", "client 3", "idle connections"
  pid_t pid = -1;
  int out = -1;         // read end of its result pipe; -1 once at end of file
  std::string pending;  // bytes of an unfinished line
  bool ready = false;
  std::optional<Report> report;
  std::string error;  // what it said went wrong, or how it ended without a result
  bool reaped = false;
  int status = 0;
  rusage usage{};
};

class Participants {
 public:
  Participants() = default;
  Participants(const Participants&) = delete;
  Participants& operator=(const Participants&) = delete;
  // Kills and reaps whoever still runs.
  ~Participants();

  // Starts command + args + "--result-fd N"; the child keeps `keep_fds` open across exec.
  // Returns its index.
  Result<std::size_t> start(std::string name, const std::vector<std::string>& command,
                            std::vector<std::string> args, std::span<const int> keep_fds);

  // Reads whatever the participants wrote, waiting up to `timeout_ms` for something.
  void pump(int timeout_ms);
  // Until every participant in `which` is ready (true), one fails, or the deadline
  // (CLOCK_MONOTONIC ns) passes (false for both).
  bool wait_ready(std::span<const std::size_t> which, std::int64_t deadline_ns);

  Participant& operator[](std::size_t i) { return list_[i]; }
  const Participant& operator[](std::size_t i) const { return list_[i]; }
  std::size_t size() const noexcept { return list_.size(); }
  // Whether every one of `which` closed its pipe.
  bool all_closed(std::span<const std::size_t> which) const;
  // The first participant that reported an error or closed its pipe without a result.
  const Participant* failed() const;

  void signal_all(int sig);
  // Waits for every participant (up to `timeout_ms`, then SIGKILL).
  void reap_all(int timeout_ms);

 private:
  std::vector<Participant> list_;
};

// A pipe whose two ends close with their owners. Participants block on the read end of a
// go pipe (or, holding on, poll it) until the orchestrator closes the write end: end of
// file is the signal, for all of them at once.
struct Pipe {
  int read = -1;
  int write = -1;
  Pipe();  // both -1 when pipe2() failed
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe();
  bool ok() const noexcept { return read >= 0; }
  void close_read() noexcept;
  void close_write() noexcept;
};

// "exited with status 3", "killed by signal 9 (Killed)".
std::string describe_status(int status);

}  // namespace ferry::bench
