// SPDX-License-Identifier: Apache-2.0
// tools/demo/options.hpp: ferry-demo's command line (docs/demo.md), and the plan it makes.
// Thread-safety: plain values and functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ferry::demo {

// Who takes part and how hard they work. The participants are `ferry bench`'s bus roles
// (bench/workload): servers are its responders.
struct Plan {
  std::string endpoint = "bus";
  std::string session;  // empty: ferry's resolution ($FERRY_SESSION, ...)
  double seconds = 10;
  double rate = 100000;     // data messages per second, all publishers together
  std::size_t size = 1024;  // payload bytes of data messages and requests
  std::uint32_t servers = 4;
  std::uint32_t requesters = 12;
  std::uint32_t publishers = 8;
  std::uint32_t subscribers = 8;
  bool inject_error = false;  // self-test: publisher 0 skips one sequence number

  std::uint32_t participants() const noexcept {
    return servers + requesters + publishers + subscribers;
  }
};

// The plan the command line asks for. --help prints the usage and exits 0; a bad option
// or value prints one line saying which and why and exits 2.
Plan parse_options(int argc, char** argv);

}  // namespace ferry::demo
