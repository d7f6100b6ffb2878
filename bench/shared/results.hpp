// SPDX-License-Identifier: Apache-2.0
// bench/shared/results.hpp: round-trip samples of a benchmark's threads and the one JSON line
// about them, {"msgs":..,"msgs_per_s":..,"p50_us":..,"p99_us":..}; the gateway's and the
// bridge's benchmarks print it (bench/scripts/gateway.sh, bridge.sh read it).
// Thread-safety: add() from any thread (under a mutex); print() once they are done.
#pragma once

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

namespace ferry::bench {

struct Results {
  std::mutex lock;
  std::vector<double> rtt_us;
  void add(const std::vector<double>& mine) {
    const std::lock_guard<std::mutex> hold(lock);
    rtt_us.insert(rtt_us.end(), mine.begin(), mine.end());
  }
  // `extra`: more JSON members, each with its leading comma.
  void print(double seconds, const std::string& extra = {}) {
    std::sort(rtt_us.begin(), rtt_us.end());
    const auto at = [&](double q) {
      return rtt_us.empty()
                 ? 0.0
                 : rtt_us[static_cast<std::size_t>(q * static_cast<double>(rtt_us.size() - 1))];
    };
    std::printf("{\"msgs\":%zu,\"msgs_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f%s}\n",
                rtt_us.size(), static_cast<double>(rtt_us.size()) / seconds, at(0.5), at(0.99),
                extra.c_str());
  }
};

}  // namespace ferry::bench
