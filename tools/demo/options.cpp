// SPDX-License-Identifier: Apache-2.0
// tools/demo/options.cpp: ferry-demo's command line (options.hpp).
#include "options.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/command_line.hpp"
#include "common/number.hpp"

namespace ferry::demo {

namespace {

// Payload sizes as docs/demo.md gives them: multiples of 8 from 40 to 64 KiB.
constexpr std::size_t kMinSize = 40;
constexpr std::size_t kMaxSize = 65536;

constexpr tools::Flag kFlags[] = {
    {"--seconds", "S", "how long publishers and requesters run (10)"},
    {"--clients", "N",
     "participants, 4..1000 (32): 1/8 servers, 3/8 requesters,\n"
     "1/4 publishers, the rest subscribers"},
    {"--rate", "MSGS", "messages per second all publishers publish together (100000)"},
    {"--size", "BYTES", "payload of data messages and requests, a multiple of 8 (1024)"},
    {"--session", "NAME", "ferryd's session (default $FERRY_SESSION, else the login session)"},
    {"--endpoint", "NAME", "ferryd's endpoint (bus)"},
    {"--help", "", ""},
    {"--inject-error", "", ""},  // self-test (docs/demo.md): makes the demo fail
};

std::string usage() {
  return "usage: ferry-demo [--seconds S] [--clients N] [--rate MSGS] [--size BYTES]\n"
         "                  [--session NAME] [--endpoint NAME]\n"
         "\n"
         "Runs N client processes through ferryd for S seconds: servers answering requesters\n"
         "(request/response) and publishers streaming to subscribers (publish/subscribe); every\n"
         "message is checked. Prints live progress on stderr, then a table; exit status 0 when\n"
         "nothing was lost, duplicated, reordered, corrupted or failed. ferryd must be running\n"
         "(scripts/demo.sh, or `make demo`, starts one). See docs/demo.md.\n"
         "\n" +
         tools::flag_help(kFlags, 19);
}

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "ferry-demo: %s (see ferry-demo --help)\n", what.c_str());
  std::exit(2);
}

double parse_number(std::string_view flag, const std::string& text) {
  const auto v = tools::parse_real(text);
  if (!v) usage_error(std::string(flag) + ": expected a number, got '" + text + "'");
  return *v;
}

}  // namespace

Plan parse_options(int argc, char** argv) {
  Plan plan;
  double clients = 32;
  auto given = tools::parse_flags(argc, argv, kFlags, "ferry-demo --help");
  if (!given) {
    std::fprintf(stderr, "ferry-demo: %s\n", given.error().message().c_str());
    std::exit(2);
  }
  for (const auto& [arg, value] : given->given()) {
    if (arg == "--help") {
      std::fputs(usage().c_str(), stdout);
      std::exit(0);
    } else if (arg == "--seconds") {
      plan.seconds = parse_number(arg, value);
      if (plan.seconds <= 0 || plan.seconds > 3600)
        usage_error("--seconds: expected 0 < S <= 3600");
    } else if (arg == "--clients") {
      clients = parse_number(arg, value);
      if (clients < 4 || clients > 1000 || clients != static_cast<int>(clients)) {
        usage_error("--clients: expected a whole number 4..1000");
      }
    } else if (arg == "--rate") {
      plan.rate = parse_number(arg, value);
      if (plan.rate < 1 || plan.rate > 1e8) usage_error("--rate: expected 1..100000000");
    } else if (arg == "--size") {
      const double size = parse_number(arg, value);
      if (size < static_cast<double>(kMinSize) || size > static_cast<double>(kMaxSize) ||
          size != static_cast<double>(static_cast<std::size_t>(size)) ||
          static_cast<std::size_t>(size) % 8 != 0) {
        usage_error("--size: expected a multiple of 8 from 40 to 65536");
      }
      plan.size = static_cast<std::size_t>(size);
    } else if (arg == "--session") {
      plan.session = value;
    } else if (arg == "--endpoint") {
      plan.endpoint = value;
    } else if (arg == "--inject-error") {
      plan.inject_error = true;
    }
  }
  const auto n = static_cast<std::uint32_t>(clients);
  plan.servers = std::max(1U, n / 8);
  plan.requesters = std::max(1U, n * 3 / 8);
  plan.publishers = std::max(1U, n / 4);
  plan.subscribers = n - plan.servers - plan.requesters - plan.publishers;
  return plan;
}

}  // namespace ferry::demo
