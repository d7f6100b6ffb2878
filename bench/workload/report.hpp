// SPDX-License-Identifier: Apache-2.0
// bench/workload/report.hpp: what one participant measured, and the run's summary.
//
// A participant writes lines to its result pipe: "ready" once it listens or is connected,
// then "result msgs=N seconds=S lost=L duplicated=D reordered=R corrupt=C failed=F
// latency=<histogram>" when done, or
// "error <text>" if it cannot go on. The orchestrator merges the results into a Summary
// and prints it as one JSON line (docs/bench.md's fields, in its order) or as text.
//
// Thread-safety: plain values and functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "workload/histogram.hpp"
#include "workload/options.hpp"

namespace ferry::bench {

// What a participant found wrong (all 0 in a good run).
struct ErrorCounts {
  std::uint64_t lost = 0;        // sent, never arrived
  std::uint64_t duplicated = 0;  // arrived twice
  std::uint64_t reordered = 0;   // arrived after a later message of the same producer
  std::uint64_t corrupt = 0;     // content, size or sender not what was sent
  std::uint64_t failed = 0;      // requests without a reply (ferry-demo's requesters)

  std::uint64_t total() const noexcept { return lost + duplicated + reordered + corrupt + failed; }
  void add(const ErrorCounts& e) noexcept {
    lost += e.lost;
    duplicated += e.duplicated;
    reordered += e.reordered;
    corrupt += e.corrupt;
    failed += e.failed;
  }
};

struct Report {
  std::uint64_t msgs = 0;  // messages (or round trips) measured
  double seconds = 0;      // over this long
  ErrorCounts errors;
  Histogram latency;  // latency samples, if this participant measures latency
  // Wake-up system calls of the whole run, both ways, from the ring counters: a ferry server
  // reads them from its endpoint's totals at the end (the other transports do not count).
  std::optional<std::uint64_t> wakes;

  // The line, without its newline.
  std::string encode() const;
  // Parses a line encode() wrote.
  static std::optional<Report> decode(std::string_view line);
};

struct Summary {
  Options options;
  std::uint64_t msgs = 0;
  double seconds = 0;
  bool has_latency = false;  // pingpong, reqrep and the paced scenarios measure latency
  Histogram latency;
  double cpu_s = 0;
  long peak_rss_kb = 0;
  std::uint64_t errors = 0;
  std::optional<std::uint64_t> wakes;  // Report::wakes, when a participant counted them

  double msgs_per_s() const noexcept;
  double mb_per_s() const noexcept;  // payload bytes, 10^6 per MB
  // All participants' CPU time (the whole run, warm-up and setup too) per message counted.
  double cpu_us_per_msg() const noexcept;
  // Wake-up system calls per message counted (round trip, delivery), when counted.
  std::optional<double> wakes_per_msg() const noexcept;
};

// One line, no newline: {"system":...,"errors":N}
std::string summary_json(const Summary& summary);
// A few lines for a person.
std::string summary_text(const Summary& summary);

}  // namespace ferry::bench
