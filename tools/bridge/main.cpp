// SPDX-License-Identifier: Apache-2.0
// ferry-bridge: the bus on NATS (docs/bridge.md). Reads its configuration (config.cpp), then
// runs the bridge (bridge.cpp) until SIGINT or SIGTERM.
// Exit status: 0 stopped by a signal, 1 failed (e.g. no NATS server reachable), 2 usage or
// configuration error, 3 the local bus cannot be reached.
#include <cstdio>
#include <exception>
#include <string>

#include "bridge/bridge.hpp"
#include "bridge/config.hpp"
#include "common/log.hpp"

int main(int argc, char** argv) {
  try {
    std::string output;
    bool exit_now = false;
    auto config = ferry::bridge::parse_bridge_args(argc, argv, &output, &exit_now);
    if (exit_now) {
      std::fputs(output.c_str(), stdout);
      return 0;
    }
    if (!config) {
      std::fprintf(stderr, "ferry-bridge: %s\n", config.error().message().c_str());
      return 2;
    }
    ferry::tools::Log log(ferry::tools::parse_log_level(config->log_level).value(),
                          ferry::tools::parse_log_format(config->log_format).value(),
                          "ferry-bridge");
    return ferry::bridge::run_bridge(*config, log);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry-bridge: %s\n", e.what());
    return 1;
  }
}
