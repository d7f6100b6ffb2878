// SPDX-License-Identifier: Apache-2.0
// bench/workload/shared_state.hpp: the few words the orchestrator and the participants share.
//
// A memfd the orchestrator creates before starting anyone and passes by descriptor number
// (exec keeps descriptors, not mappings). It holds the start time (set just before the
// clients are released), whether the server has every producer's end marker and how many
// clients have their end marker's acknowledgement (for transports whose sockets may lose
// what was sent just before they close: nobody closes before the other side is done), and
// one counter per participant: how many messages it has measured so far, for the progress
// line. Each counter has one writer, on its own cache line, stored with relaxed order;
// readers only display it.
//
// Thread-safety: any process, any thread; the atomics are the synchronization.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/shared_region.hpp"
#include "ferry/result.hpp"

namespace ferry::bench {

class SharedState {
 public:
  // A new zeroed state with `slots` counters.
  static Result<SharedState> create(std::uint32_t slots);
  // Maps the state behind an inherited descriptor (which it then owns).
  static Result<SharedState> attach(int fd);

  int fd() const noexcept { return region_.fd(); }
  // CLOCK_MONOTONIC ns at which the run started (0 before).
  void set_go(std::int64_t ns) noexcept;
  std::int64_t go() const noexcept;
  // The server has every producer's end marker (false before).
  void set_all_ended() noexcept;
  bool all_ended() const noexcept;
  // One more client has the acknowledgement of its end marker; how many have.
  void add_acknowledged() noexcept;
  std::uint64_t acknowledged() const noexcept;
  // The messages participant `slot` has measured so far (a slot past the end is ignored).
  void set_count(std::uint32_t slot, std::uint64_t count) noexcept;
  std::uint64_t total() const noexcept;

 private:
  static constexpr std::size_t kLine = 64;
  std::uint32_t slots() const noexcept {
    return static_cast<std::uint32_t>(region_.size() / kLine - 1);
  }
  tools::SharedRegion region_;
};

}  // namespace ferry::bench
