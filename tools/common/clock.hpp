// SPDX-License-Identifier: Apache-2.0
// tools/common/clock.hpp: the tools' one clock, CLOCK_MONOTONIC in nanoseconds (the time
// stamps the benchmark and the demo put in payloads come from it, in every process), and
// its conversion for clock_nanosleep().
// Thread-safety: any.
#pragma once

#include <time.h>

#include <cstdint>

namespace ferry::tools {

inline std::int64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

inline timespec to_timespec(std::int64_t ns) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  return ts;
}

}  // namespace ferry::tools
