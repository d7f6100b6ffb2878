// SPDX-License-Identifier: Apache-2.0
// tools/gateway/gateway.hpp: ferry-gateway's runtime (docs/gateway.md). One Asio event loop
// drives everything: the local bus's ferry::Client (through fd() and prepare_wait()), the
// listener and the links it accepts, and a pool of links to each upstream.
//
// What flows:
//   a publication of a routed type on the local bus  -> one frame to its upstream
//   a request of a routed type (the gateway serves it) -> a request frame; its reply frame
//                                                         is the bus request's reply
//   a publication frame of an accepted type          -> published on the local bus
//   a request frame of an accepted type              -> a request on the local bus; its
//                                                         reply goes back as a reply frame
// Thread-safety: run_gateway() owns the calling thread until the gateway stops.
#pragma once

#include "common/log.hpp"
#include "gateway/config.hpp"

namespace ferry::gateway {

// Runs until SIGINT or SIGTERM (then drains: requests in flight get up to a second, links
// are told goaway) or until it cannot go on. Returns the process's exit status: 0 after a
// signal, 1 when the gateway failed (logged), 3 when the local bus cannot be reached.
int run_gateway(const GatewayConfig& config, tools::Log& log);

}  // namespace ferry::gateway
