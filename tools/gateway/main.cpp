// SPDX-License-Identifier: Apache-2.0
// ferry-gateway: ferry between hosts over TLS WebSocket (docs/gateway.md). Reads its
// configuration (config.cpp), then runs the gateway (gateway.cpp) until SIGINT or SIGTERM.
// Exit status: 0 stopped by a signal, 1 failed, 2 usage or configuration error, 3 the local
// bus cannot be reached.
#include <cstdio>
#include <exception>
#include <string>

#include "common/log.hpp"
#include "gateway/config.hpp"
#include "gateway/gateway.hpp"

int main(int argc, char** argv) {
  try {
    std::string output;
    bool exit_now = false;
    auto config = ferry::gateway::parse_gateway_args(argc, argv, &output, &exit_now);
    if (exit_now) {
      std::fputs(output.c_str(), stdout);
      return 0;
    }
    if (!config) {
      std::fprintf(stderr, "ferry-gateway: %s\n", config.error().message().c_str());
      return 2;
    }
    ferry::tools::Log log(ferry::tools::parse_log_level(config->log_level).value(),
                          ferry::tools::parse_log_format(config->log_format).value(),
                          "ferry-gateway");
    return ferry::gateway::run_gateway(*config, log);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry-gateway: %s\n", e.what());
    return 1;
  }
}
