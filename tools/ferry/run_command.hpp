// SPDX-License-Identifier: Apache-2.0
// tools/ferry/run_command.hpp: runs a shell command with bytes on its stdin and collects its
// stdout and stderr, for `ferry serve --exec`. fork/exec and pipes, no popen: stdin is
// written while stdout and stderr are read (poll), so a command that writes before it has
// read everything cannot deadlock us; a time limit kills the command's whole process group.
// Thread-safety: call from one thread; the caller should ignore SIGPIPE (the command gets
// the default disposition back).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "ferry/result.hpp"

namespace ferry::cli {

struct CommandOutcome {
  enum class End { exited, signaled, timed_out };
  End end = End::exited;
  int status = 0;              // the exit status, or the signal number
  std::string out;             // stdout, at most `max_output` bytes
  bool out_too_large = false;  // stdout was longer than `max_output` (the rest was dropped)
  std::string err;             // the start of stderr (at most 4 KiB)
};

// Runs `/bin/sh -c command` with `input` on its stdin. Errors only when the command could
// not be started (pipe, fork); a command that fails is an outcome.
Result<CommandOutcome> run_command(const std::string& command, std::string_view input,
                                   std::size_t max_output, std::chrono::milliseconds timeout);

// "exited with status 3", "was killed by signal 9 (Killed)", "timed out after 100 ms".
std::string describe(const CommandOutcome& outcome, std::chrono::milliseconds timeout);

}  // namespace ferry::cli
