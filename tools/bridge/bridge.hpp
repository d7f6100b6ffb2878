// SPDX-License-Identifier: Apache-2.0
// tools/bridge/bridge.hpp: ferry-bridge's runtime (docs/bridge.md). One loop on one thread
// drives the local bus's ferry::Client (through fd() and prepare_wait()), the events the
// NATS library's threads queue (nats.hpp) and a 50 ms tick, with poll(2).
//
// What flows (the routes of config.hpp):
//   a publication of an "out"/"both" type on the bus -> a NATS message on its subject, with
//       headers Ferry-Type, Ferry-Flags, Ferry-Origin (host/session/start), Ferry-Seq (per
//       origin and subject) and traceparent; while NATS is away, into a bounded buffer
//       (the route's when_down policy once it is full)
//   a NATS message on an "in"/"both" subject -> a publication on the bus (never one of this
//       bridge's own: the server does not echo them, the bus does not echo the bridge's);
//       gaps in an origin's sequence are counted and logged
//   a request of a "request" type on the bus (the bridge serves the type while a remote
//       bridge advertises a responder) -> a NATS request; its reply answers the bus request
//   a NATS request on a "serve" subject (queue group) -> a request on the bus; its reply is
//       the NATS reply
// Thread-safety: run_bridge() owns the calling thread until the bridge stops.
#pragma once

#include "bridge/config.hpp"
#include "common/log.hpp"

namespace ferry::bridge {

// Runs until SIGINT or SIGTERM. Returns the process's exit status: 0 after a signal, 1 when
// the bridge failed (logged; e.g. no NATS server could be reached at start), 3 when the
// local bus cannot be reached.
int run_bridge(const BridgeConfig& config, tools::Log& log);

}  // namespace ferry::bridge
