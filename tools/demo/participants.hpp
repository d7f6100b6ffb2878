// tools/demo/participants.hpp: the four kinds of ferry-demo participant, each run in a
// process of its own (forked by the orchestrator, main.cpp), each one ferry::Client of
// ferryd's bus:
//
//   server      serve()s kRequestType and answers every request with its bytes inverted
//   requester   closed loop: one request() at a time, checks the reply, records the RTT
//   publisher   publishes sequenced, time-stamped data messages at a steady rate, then an
//               end marker with its count
//   subscriber  receives every publisher's messages, checks order, content and count per
//               publisher, records the one-way latency
//
// Each writes its live count and final results into its Slot of the shared region.
// Thread-safety: one thread per participant process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "board.hpp"

namespace ferry::demo {

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

// The sequence number publisher 0 skips under --inject-error.
inline constexpr std::uint64_t kInjectedGap = 10;

// Runs participant `index` (0-based within its role) in slot `slot`; returns the process's
// exit status: 0 when it ran to the end (errors it found are in its slot), 1 when it had to
// give up (the reason in slot.failure).
int run_participant(Role role, std::uint32_t index, std::size_t slot, const Plan& plan,
                    const Shared& shared);

// "server", "requester", ...
const char* role_name(Role role) noexcept;

}  // namespace ferry::demo
