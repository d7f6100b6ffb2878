// SPDX-License-Identifier: Apache-2.0
// bench/workload/options.cpp: parsing and printing the options (options.hpp).
#include "workload/options.hpp"

#include <cstdio>
#include <optional>
#include <utility>

#include "common/command_line.hpp"
#include "common/number.hpp"

namespace ferry::bench {

namespace {

Error usage_error(std::string message) {
  return Error(Errc::invalid_argument, std::move(message));
}

Result<Scenario> parse_scenario(std::string_view text) {
  for (Scenario s : {Scenario::pingpong, Scenario::stream, Scenario::fanin, Scenario::reqrep,
                     Scenario::rate, Scenario::fanout, Scenario::bus}) {
    if (text == to_string(s)) return s;
  }
  return usage_error("unknown scenario '" + std::string(text) +
                     "' (choose pingpong, stream, fanin, reqrep, rate or fanout)");
}

constexpr std::pair<Role, std::string_view> kRoles[] = {{Role::server, "server"},
                                                        {Role::client, "client"},
                                                        {Role::idle, "idle"},
                                                        {Role::publisher, "publisher"},
                                                        {Role::subscriber, "subscriber"},
                                                        {Role::requester, "requester"},
                                                        {Role::responder, "responder"},
                                                        {Role::daemon, "daemon"}};

std::optional<Role> parse_role(std::string_view text) {
  for (const auto& [role, name] : kRoles) {
    if (text == name) return role;
  }
  return std::nullopt;
}

// One option and its value; `apply` returns the error for a bad value.
struct Parser {
  Options& options;
  bool scenario_given = false;
  bool rate_given = false;
  bool wait_given = false;

  Result<void> apply(std::string_view name, std::string_view value) {
    auto bad = [&](std::string_view want) {
      return usage_error("--" + std::string(name) + " wants " + std::string(want) + ", not '" +
                         std::string(value) + "'");
    };
    if (name == "scenario") {
      auto s = parse_scenario(value);
      if (!s) return s.error();
      options.scenario = *s;
      scenario_given = true;
    } else if (name == "transport") {
      if (value == "ferry") {
        options.transport = Transport::ferry;
      } else if (value == "uds") {
        options.transport = Transport::uds;
      } else if (value == "naive") {
        options.transport = Transport::naive;
      } else if (value == "zmq") {
        options.transport = Transport::zmq;
      } else if (value == "iceoryx") {
        options.transport = Transport::iceoryx;
      } else {
        return bad("ferry, uds, naive, zmq or iceoryx");
      }
    } else if (name == "size") {
      auto n = tools::parse_number<std::size_t>(value);
      if (!n) return bad("a number of bytes");
      if (*n < kMinSize || *n > kMaxSize) {
        return usage_error("--size " + std::string(value) + " is out of range: a message needs " +
                           std::to_string(kMinSize) +
                           " bytes at least (time stamp, sequence number, producer id, check) "
                           "and may have " +
                           std::to_string(kMaxSize) + " at most");
      }
      options.size = *n;
    } else if (name == "clients" || name == "publishers") {  // publishers: the bus's
      auto n = tools::parse_number<std::uint32_t>(value);
      if (!n || *n == 0 || *n > kMaxClients) {
        return bad("a number of " + std::string(name) + " from 1 to " +
                   std::to_string(kMaxClients));
      }
      (name == "clients" ? options.clients : options.publishers) = *n;
    } else if (name == "rate") {
      auto r = tools::parse_real(value);
      if (!r || *r <= 0 || *r > 1e8) return bad("messages per second, more than 0");
      options.rate = *r;
      rate_given = true;
    } else if (name == "wait") {
      auto w = parse_wait_strategy(value);
      if (!w) return bad("spin, block or hybrid");
      options.wait = *w;
      wait_given = true;
    } else if (name == "seconds") {
      auto s = tools::parse_real(value);
      if (!s || *s <= 0 || *s > 3600) return bad("a duration in seconds, more than 0");
      options.seconds = *s;
    } else if (name == "batch") {
      auto n = tools::parse_number<std::uint32_t>(value);
      if (!n || *n == 0 || *n > kMaxBatch)
        return bad("a number of messages from 1 to " + std::to_string(kMaxBatch));
      options.batch = *n;
    } else if (name == "idle") {
      auto n = tools::parse_number<std::uint32_t>(value);
      if (!n || *n > kMaxIdle)
        return bad("a number of connections from 0 to " + std::to_string(kMaxIdle));
      options.idle = *n;
    } else if (name == "metrics" || name == "copy") {
      if (value != "on" && value != "off") return bad("on or off");
      (name == "metrics" ? options.metrics : options.copy) = value == "on";
    } else if (name == "stamp") {
      if (value == "send") {
        options.stamp = StampFrom::send;
      } else if (value == "intended") {
        options.stamp = StampFrom::intended;
      } else {
        return bad("send or intended");
      }
    } else if (name == "role") {
      auto r = parse_role(value);
      if (!r) return bad("a participant's role");
      options.role = *r;
    } else if (name == "id") {
      auto n = tools::parse_number<std::uint32_t>(value);
      if (!n) return bad("a number");
      options.id = *n;
    } else if (name == "endpoint") {
      options.endpoint = value;
    } else if (name == "session") {
      options.session = value;
    } else if (name == "rings-fd") {
      auto fd = tools::parse_number<int>(value);
      if (!fd || *fd < 0) return bad("a descriptor number");
      options.rings_fd = *fd;
    } else if (name == "state-fd" || name == "result-fd" || name == "go-fd") {
      auto fd = tools::parse_number<int>(value);
      if (!fd || *fd < 0) return bad("a descriptor number");
      (name == "state-fd"    ? options.state_fd
       : name == "result-fd" ? options.result_fd
                             : options.go_fd) = *fd;
    }
    return {};
  }
};

// Every flag and its help; the participants' flags, from --role on, have none: the
// orchestrator passes them to its children.
constexpr tools::Flag kFlags[] = {
    {"--scenario", "NAME", ""},  // in the usage line
    {"--transport", "ferry|uds|naive|zmq|iceoryx",
     "ferry rings, Unix stream sockets (the baseline)     [ferry],\nnaive rings (the floor), "
     "ZeroMQ or iceoryx (the peers,\nrun by ferry-bench-peers: docs/bench.md)"},
    {"--size", "BYTES", "payload bytes per message, 24..262144                [1024]"},
    {"--clients", "N",
     "clients (fanout: subscribers) [32 for fanin, reqrep, rate, fanout; 1 otherwise]"},
    {"--rate", "MSGS",
     "rate: messages per second, all producers together   [32000];\nfanout: the publisher's pace   "
     "       [none: flat out]"},
    {"--wait", "spin|block|hybrid",
     "how ferry waits, on both sides (uds always blocks) [hybrid]\n"
     "(iceoryx: the same choice; zmq: block only)"},
    {"--seconds", "S", "how long to run (pingpong: at most)                     [5]"},
    {"--idle", "N", "N more connections, open and silent for the whole run   [0]"},
    {"--batch", "N",
     "stream, fanin, fanout flat out: producers publish N\n"
     "messages at once (ferry: Publish::later, then flush;\n"
     "uds: N frames in one sendmsg)                       [1]"},
    {"--stamp", "send|intended", "rate: latency from the send call or from the schedule [send]"},
    {"--metrics", "on|off",
     "ferry's server keeps a handler histogram and has its\n"
     "counters read 10 times a second (what ferryd's\n"
     "Prometheus exporter does at each scrape)            [off]"},
    {"--copy", "on|off",
     "ferry's server copies every payload before its handler\n"
     "sees it (ServerOptions::payload_copy = always, what it\n"
     "does for peers of other users)                      [off]"},
    {"--json", "", "print one JSON line (docs/bench.md names the fields)"},
    {"--inject-error", "", "self-test: producer 0 skips one sequence number (errors > 0)"},
    {"--help", "", "this text"},
    {"--role", "NAME", ""},
    {"--publishers", "N", ""},
    {"--id", "N", ""},
    {"--endpoint", "NAME", ""},
    {"--session", "NAME", ""},
    {"--state-fd", "FD", ""},
    {"--result-fd", "FD", ""},
    {"--go-fd", "FD", ""},
    {"--rings-fd", "FD", ""},
};

}  // namespace

std::string_view to_string(Scenario scenario) noexcept {
  switch (scenario) {
    case Scenario::pingpong: return "pingpong";
    case Scenario::stream: return "stream";
    case Scenario::fanin: return "fanin";
    case Scenario::reqrep: return "reqrep";
    case Scenario::rate: return "rate";
    case Scenario::fanout: return "fanout";
    case Scenario::bus: return "bus";
  }
  return "unknown";
}

std::string_view to_string(Transport transport) noexcept {
  switch (transport) {
    case Transport::ferry: return "ferry";
    case Transport::uds: return "uds";
    case Transport::naive: return "naive";
    case Transport::zmq: return "zmq";
    case Transport::iceoryx: return "iceoryx";
  }
  return "unknown";
}

std::string_view to_string(Role role) noexcept {
  for (const auto& [r, name] : kRoles) {
    if (r == role) return name;
  }
  return "parent";
}

std::string_view Options::wait_name() const noexcept {
  return transport == Transport::uds ? "block" : ferry::to_string(wait);
}

Result<Options> parse_options(std::vector<std::string> args) {
  auto given = tools::parse_flags(std::move(args), kFlags, "ferry bench --help");
  if (!given) return given.error();
  Options options;
  Parser parser{options};
  for (const auto& [flag, value] : given->given()) {
    const std::string_view name = std::string_view(flag).substr(2);
    if (name == "json") {
      options.json = true;
    } else if (name == "help") {
      options.help = true;
    } else if (name == "inject-error") {
      options.inject_error = true;
    } else if (auto r = parser.apply(name, value); !r) {
      return r.error();
    }
  }
  if (options.help) return options;
  if (!parser.scenario_given) {
    return usage_error("--scenario is required (pingpong, stream, fanin, reqrep, rate or fanout)");
  }
  if (options.scenario == Scenario::bus &&
      (options.role == Role::parent || options.transport != Transport::ferry)) {
    return usage_error("--scenario bus is ferry-demo's workload, over ferry: run ferry-demo");
  }
  const bool single =
      options.scenario == Scenario::pingpong || options.scenario == Scenario::stream;
  if (options.clients == 0) options.clients = single ? 1 : 32;
  options.paced = options.scenario == Scenario::rate || options.scenario == Scenario::bus ||
                  (options.scenario == Scenario::fanout && parser.rate_given);
  if (single && options.clients != 1) {
    return usage_error("--scenario " + std::string(to_string(options.scenario)) +
                       " has exactly one client; use " +
                       (options.scenario == Scenario::pingpong ? "reqrep" : "fanin") +
                       " for --clients " + std::to_string(options.clients));
  }
  if (options.transport == Transport::naive) {
    if (options.scenario == Scenario::fanout || options.idle > 0 || options.metrics ||
        options.copy) {
      return usage_error(
          "the naive floor has no bus, connections or server options: no fanout, --idle, "
          "--metrics or --copy with --transport naive");
    }
  }
  if (is_peer(options.transport)) {
    const std::string name(to_string(options.transport));
    if (options.scenario == Scenario::fanout || options.idle > 0 || options.metrics ||
        options.copy) {
      return usage_error("--transport " + name +
                         " runs pingpong, stream, fanin, reqrep and rate, without --idle, "
                         "--metrics or --copy (docs/bench.md)");
    }
    if (options.transport == Transport::zmq) {
      if (parser.wait_given && options.wait != WaitStrategy::block) {
        return usage_error(
            "--transport zmq takes --wait block only: ZeroMQ has no spin or hybrid "
            "wait (its sockets block in the kernel); leave --wait out or say block");
      }
      options.wait = WaitStrategy::block;
    }
  }
  if (options.batch > 1) {
    const bool flat_out = options.scenario == Scenario::stream ||
                          options.scenario == Scenario::fanin ||
                          (options.scenario == Scenario::fanout && !options.paced);
    if (!flat_out ||
        (options.transport != Transport::ferry && options.transport != Transport::uds)) {
      return usage_error(
          "--batch applies to the producers of stream, fanin and fanout without --rate, over "
          "ferry or uds");
    }
  }
  if (options.metrics && options.transport == Transport::uds) {
    return usage_error("--metrics on measures ferry's server; the uds baseline has none");
  }
  if (options.copy && options.transport == Transport::uds) {
    return usage_error("--copy on measures ferry's server; the uds baseline copies anyway");
  }
  if ((options.role == Role::client || options.role == Role::requester) &&
      options.id >= options.clients) {
    return usage_error("--id " + std::to_string(options.id) + " is not below --clients");
  }
  return options;
}

std::vector<std::string> workload_arguments(const Options& o) {
  char rate[64];
  char seconds[64];
  std::snprintf(rate, sizeof rate, "%.17g", o.rate);
  std::snprintf(seconds, sizeof seconds, "%.17g", o.seconds);
  std::vector<std::string> args = {
      "--scenario",  std::string(to_string(o.scenario)),
      "--transport", std::string(to_string(o.transport)),
      "--size",      std::to_string(o.size),
      "--clients",   std::to_string(o.clients),
      "--wait",      std::string(ferry::to_string(o.wait)),
      "--seconds",   seconds,
      "--idle",      std::to_string(o.idle),
      "--batch",     std::to_string(o.batch),
      "--stamp",     o.stamp == StampFrom::intended ? "intended" : "send",
      "--metrics",   o.metrics ? "on" : "off",
      "--copy",      o.copy ? "on" : "off"};
  if (o.scenario != Scenario::fanout || o.paced) {  // fanout without it: flat out
    args.emplace_back("--rate");
    args.emplace_back(rate);
  }
  if (o.scenario == Scenario::bus) {
    args.emplace_back("--publishers");
    args.push_back(std::to_string(o.publishers));
  }
  if (o.inject_error) args.emplace_back("--inject-error");
  return args;
}

std::string usage() {
  return R"(usage: ferry bench --scenario pingpong|stream|fanin|reqrep|rate|fanout
                   [--transport ferry|uds|naive|zmq|iceoryx] [--size 1024] [--clients N]
                   [--rate 32000] [--wait spin|block|hybrid] [--seconds 5] [--idle 0] [--batch 1]
                   [--stamp send|intended] [--metrics on|off] [--copy on|off] [--json]

Runs one workload between separate processes and prints what it measured. Every message
is checked for loss, duplication, order and content; any error makes the exit code 1.

Scenarios:
  pingpong   1 client, 1 server echoing: 20k warm-up, then 200k round trips (RTT)
  stream     1 producer -> 1 consumer as fast as it can, 5M messages or --seconds
  fanin      N producers -> 1 consumer as fast as they can, for --seconds
  reqrep     N clients, 1 server, one request outstanding per client (RTT)
  rate       N producers paced to --rate messages/s in total (one-way latency)
  fanout     1 publisher -> N subscribers through ferryd's bus (uds: a relay process),
             flat out, or paced to --rate (one-way latency)

Options:
)" + tools::flag_help(kFlags, 26) +
         R"(
Exit codes: 0 ok, 1 the run failed or counted errors, 2 usage error.
)";
}

}  // namespace ferry::bench
