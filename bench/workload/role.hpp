// SPDX-License-Identifier: Apache-2.0
// bench/workload/role.hpp: what every participant process has: its options, the shared
// state, its result pipe, the start signal and the run's timetable; and the workload
// constants of docs/bench.md.
//
// Thread-safety: one thread per participant process.
#pragma once

#include <cstdint>
#include <string_view>

#include "ferry/result.hpp"
#include "workload/options.hpp"
#include "workload/shared_state.hpp"

namespace ferry::bench {

inline constexpr std::uint64_t kPingpongWarmup = 20'000;
inline constexpr std::uint64_t kPingpongRounds = 200'000;
inline constexpr std::uint64_t kStreamMessages = 5'000'000;
// reqrep and the paced scenarios: samples of the first half second are not measured.
inline constexpr std::int64_t kWarmupNs = 500'000'000;
// --inject-error: producer 0 skips this sequence number.
inline constexpr std::uint64_t kInjectedGap = 100;
// The shared state's counter slot of the server (clients use 1 + id); kNoSlot counts nowhere.
inline constexpr std::uint32_t kServerSlot = 0;
inline constexpr std::uint32_t kNoSlot = UINT32_MAX;
// bus (ferry-demo): a publisher wakes at most this often and sends what has come due; a
// subscriber gives up on the end markers this long after the end; a request without a
// reply this long counts as failed.
inline constexpr std::int64_t kBusTickNs = 1'000'000;
inline constexpr std::int64_t kBusDrainNs = 15'000'000'000;
inline constexpr std::int64_t kBusRequestTimeoutNs = 5'000'000'000;

// When things happen, in CLOCK_MONOTONIC ns (pingpong keeps its own after warm-up).
struct Timetable {
  std::int64_t go = 0;     // the clients are released
  std::int64_t start = 0;  // measurement starts (go + warm-up)
  std::int64_t end = 0;    // producers stop sending, clients stop starting requests
};
Timetable timetable(const Options& options, std::int64_t go);

class RoleContext {
 public:
  // Checks the role arguments and maps the shared state.
  static Result<RoleContext> open(const Options& options);

  const Options& options() const noexcept { return *options_; }
  SharedState& state() noexcept { return state_; }
  // Writes one line (a newline is added) to the result pipe.
  void say(std::string_view line) const;
  // Says "error <message>"; returns the exit code for that (1).
  int fail(const Error& error) const;
  // Blocks until the orchestrator closes the go pipe; returns the start time.
  std::int64_t wait_for_go();

 private:
  const Options* options_ = nullptr;
  SharedState state_;
};

// SIGINT and SIGTERM set a flag instead of killing the process (servers use it to stop
// and remove their socket).
void install_stop_handlers();
bool stop_requested() noexcept;
// Lifts the soft descriptor limit to the hard one (idle connections need many).
void raise_fd_limit() noexcept;
// Names the process for ps and top (15 characters at most).
void set_process_name(const char* name) noexcept;

}  // namespace ferry::bench
