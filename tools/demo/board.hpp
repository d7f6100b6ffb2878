// tools/demo/board.hpp: what ferry-demo's orchestrator and its participants share.
//
// The orchestrator maps one shared region (tools/common/shared_region.hpp) before it forks
// anyone; every participant inherits the mapping. It holds the run's schedule (set once everyone is
// ready), the stop flags, and one Slot per participant: live counters (one writer each,
// relaxed atomics, read only for the progress line) and the final results, which the
// participant writes before it exits and the orchestrator reads after waitpid().
//
// Thread-safety: any process; the atomics are the synchronization, and a slot's final
// results are published by the participant's exit (waitpid orders them).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>

#include "common/clock.hpp"
#include "common/histogram.hpp"
#include "common/shared_region.hpp"
#include "ferry/result.hpp"

namespace ferry::demo {

// Latency samples: tools/common's log-linear histogram with 32 buckets per power of two
// (percentiles within 1.6%), a plain array, so that it can live in the shared region.
using Histogram = ferry::tools::LogHistogram<5>;

enum class Role : std::uint8_t { server, requester, publisher, subscriber };

// Errors a participant found (all must be 0).
struct Errors {
  std::uint64_t lost = 0;        // published, never delivered to this subscriber
  std::uint64_t duplicated = 0;  // delivered twice
  std::uint64_t reordered = 0;   // delivered after a later message of the same publisher
  std::uint64_t corrupt = 0;     // payload or reply bytes not what was sent
  std::uint64_t failed = 0;      // requests without a (correct) reply: error, timeout
  std::uint64_t total() const noexcept { return lost + duplicated + reordered + corrupt + failed; }
  void add(const Errors& e) noexcept {
    lost += e.lost;
    duplicated += e.duplicated;
    reordered += e.reordered;
    corrupt += e.corrupt;
    failed += e.failed;
  }
};

struct alignas(64) Slot {
  // Live: messages published / delivered / round trips / requests served so far.
  std::atomic<std::uint64_t> count{0};
  // Final, written once before the participant exits.
  Errors errors;
  std::int64_t last_ns = 0;  // subscribers, requesters: when the last message came in
  // Publishers: sequence numbers used (the end marker's count), stored before the marker.
  std::atomic<std::uint64_t> published{0};
  Histogram latency;
  char failure[256] = {};  // why the participant gave up, or what went wrong
};

struct alignas(64) Board {
  static_assert(std::atomic<std::int64_t>::is_always_lock_free);
  std::atomic<std::uint32_t> ready{0};  // participants connected and subscribed/serving
  std::atomic<std::int64_t> go_ns{0};   // when to start (0: not yet)
  std::atomic<std::int64_t> end_ns{0};  // when publishers and requesters stop
  std::atomic<std::uint32_t> stop_servers{0};
  std::atomic<std::uint32_t> abort{0};  // something failed: everyone stops at once
};

// The shared region: a Board, then one Slot per participant.
class Shared {
 public:
  // Maps and constructs a zeroed region for `participants` slots.
  static Result<Shared> create(std::size_t participants);

  Board& board() const noexcept { return *board_; }
  Slot& slot(std::size_t i) const noexcept { return slots_[i]; }  // NOLINT: i < size()
  std::size_t size() const noexcept { return participants_; }

 private:
  // Board and Slot are trivially destructible in practice (atomics of integers, arrays):
  // unmapping the region is all there is to do.
  tools::SharedRegion region_;
  Board* board_ = nullptr;
  Slot* slots_ = nullptr;
  std::size_t participants_ = 0;
};

}  // namespace ferry::demo
