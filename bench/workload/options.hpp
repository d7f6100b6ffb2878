// SPDX-License-Identifier: Apache-2.0
// bench/workload/options.hpp: the command line of `ferry bench`, and the hidden role
// arguments the orchestrating process passes to each participant it starts.
//
// Thread-safety: plain values and functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/result.hpp"
#include "ferry/wait.hpp"

namespace ferry::bench {

// bus: ferry-demo's mix through a running ferryd (tools/demo): requesters and responders,
// publishers and subscribers at once. ferry-demo starts its participants; ferry bench
// accepts it only for them.
enum class Scenario : std::uint8_t { pingpong, stream, fanin, reqrep, rate, fanout, bus };
// naive: the floor, the least a shared-memory transport does (naive_roles.cpp). zmq and
// iceoryx: other libraries' transports, the peers, whose participants run in a program of
// their own (peers.hpp).
enum class Transport : std::uint8_t { ferry, uds, naive, zmq, iceoryx };
enum class StampFrom : std::uint8_t { send, intended };
// parent: the process the user started; the others are participants it starts. The bus
// scenario's are publisher, subscriber, requester and responder. daemon: the transport's
// own daemon, for a transport that has one (iceoryx: RouDi), started before the server and
// stopped after everyone else.
enum class Role : std::uint8_t {
  parent,
  server,
  client,
  idle,
  publisher,
  subscriber,
  requester,
  responder,
  daemon
};

std::string_view to_string(Scenario scenario) noexcept;
std::string_view to_string(Transport transport) noexcept;
std::string_view to_string(Role role) noexcept;

// The transports of other libraries, run by ferry-bench-peers (peers.hpp).
constexpr bool is_peer(Transport transport) noexcept {
  return transport == Transport::zmq || transport == Transport::iceoryx;
}
// Whether a run of the transport needs its own daemon (Role::daemon).
constexpr bool has_daemon(Transport transport) noexcept {
  return transport == Transport::iceoryx;
}

// Payload bytes every message needs: time stamp, sequence number, producer id, check word.
inline constexpr std::size_t kMinSize = 24;
// The largest payload: a quarter of ferry's default 1 MiB ring.
inline constexpr std::size_t kMaxSize = 256 * 1024;
inline constexpr std::uint32_t kMaxClients = 1024;
inline constexpr std::uint32_t kMaxIdle = 10000;
inline constexpr std::uint32_t kMaxBatch = 4096;

struct Options {
  Scenario scenario = Scenario::pingpong;
  Transport transport = Transport::ferry;
  std::size_t size = 1024;
  // After parsing: never 0 (the scenario's default filled in). bus: the requesters.
  std::uint32_t clients = 0;
  std::uint32_t publishers = 1;  // bus: the publishers (fanout has one)
  double rate = 32000;           // messages per second, all producers together (rate)
  // The producers follow a schedule of --rate messages a second: rate, and fanout with
  // --rate given (without, fanout publishes flat out).
  bool paced = false;
  WaitStrategy wait = WaitStrategy::hybrid;
  double seconds = 5;
  std::uint32_t idle = 0;
  StampFrom stamp = StampFrom::send;
  // stream, fanin and fanout flat out: each producer publishes its messages this many at a
  // time (ferry: Publish::later and a flush; uds: the frames in one sendmsg()).
  std::uint32_t batch = 1;
  // ferry's server with its metrics on: the handler histogram, and the counters read
  // (ferry::read_process_stat) ten times a second, as an eager Prometheus would.
  bool metrics = false;
  // ferry's server copies payloads before handlers see them (PayloadCopy::always).
  bool copy = false;
  bool json = false;
  bool help = false;
  bool inject_error = false;  // self-test: producer 0 skips one sequence number

  // Hidden: set by the orchestrator for the participants.
  Role role = Role::parent;
  std::uint32_t id = 0;  // client number, 0..clients-1
  std::string endpoint;
  std::string session;
  int state_fd = -1;   // the shared counters (shared_state.hpp)
  int result_fd = -1;  // where the participant writes "ready" and its result line
  int go_fd = -1;      // clients: start when it reaches end of file; idle, responders: exit then
  int rings_fd = -1;   // naive: the rings (naive_roles.cpp)

  // The wait mode the results are reported under (uds always blocks; zmq takes block only).
  std::string_view wait_name() const noexcept;
  // Pingpong and reqrep measure round trips at the clients; the others one-way at the
  // consumer.
  bool request_reply() const noexcept {
    return scenario == Scenario::pingpong || scenario == Scenario::reqrep;
  }
  // Who sends data: the clients, or the publishers (fanout: one; the clients subscribe).
  std::uint32_t producers() const noexcept {
    return scenario == Scenario::fanout || scenario == Scenario::bus ? publishers : clients;
  }
};

// Parses the arguments after "bench". Errors are invalid_argument with a message for the
// line "ferry bench: <message>".
Result<Options> parse_options(std::vector<std::string> args);

// The arguments that give a participant the same workload (role arguments not included).
std::vector<std::string> workload_arguments(const Options& options);

std::string usage();

}  // namespace ferry::bench
