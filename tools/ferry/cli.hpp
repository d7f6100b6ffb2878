// SPDX-License-Identifier: Apache-2.0
// tools/ferry/cli.hpp: what the `ferry` command's subcommands share: exit codes, the one-line
// error report, flag parsing, help texts and connecting (docs/cli.md).
// Thread-safety: single-threaded tool code.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/command_line.hpp"
#include "ferry/client.hpp"
#include "ferry/result.hpp"

namespace ferry::cli {

// Exit codes (docs/cli.md). Scripts may rely on them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;    // runtime error: error reply, lost connection, ...
inline constexpr int kExitUsage = 2;    // bad flag or value
inline constexpr int kExitConnect = 3;  // cannot connect to the endpoint
inline constexpr int kExitTimeout = 4;  // a --timeout ran out

// Prints "ferry: <message>" to stderr as exactly one line and returns `code`.
int fail(int code, std::string_view message);

// Where to connect; the global options, which each subcommand also accepts.
struct Common {
  std::string endpoint = "bus";
  std::string session;      // empty: FERRY_SESSION, else the login session, else "default"
  std::string socket_path;  // --socket: ferryd's socket_path, instead of the two above
};

// A subcommand: runs with the global options and the words after its name, returns the
// exit code (it prints its own errors with fail()).
using CommandFn = int (*)(const Common& global, std::span<const std::string> args);

int run_send(const Common& global, std::span<const std::string> argv);       // send.cpp
int run_request(const Common& global, std::span<const std::string> argv);    // send.cpp
int run_subscribe(const Common& global, std::span<const std::string> argv);  // subscribe.cpp
int run_serve(const Common& global, std::span<const std::string> argv);      // serve.cpp
int run_bench(const Common& global, std::span<const std::string> argv);      // bench.cpp
int run_cleanup(const Common& global, std::span<const std::string> argv);    // cleanup.cpp
int run_stat(const Common& global, std::span<const std::string> argv);       // stat.cpp
int run_exporter(const Common& global, std::span<const std::string> argv);   // exporter.cpp

// A subcommand's flags and what was given (tools/common/command_line.hpp).
using tools::Args;
using tools::Flag;

// The flags every messaging subcommand takes besides its own.
inline constexpr Flag kEndpointFlag{"--endpoint", "NAME", "ferryd's endpoint (default bus)"};
inline constexpr Flag kSessionFlag{"--session", "NAME",
                                   "session (default $FERRY_SESSION, else the login session)"};
inline constexpr Flag kSocketFlag{"--socket", "PATH",
                                  "ferryd's socket (its socket_path), not by endpoint and session"};
inline constexpr Flag kHelpFlag{"--help", "", "print this help and exit"};

// Parses `args` (the words after the subcommand's name) against `flags`. A usage error is
// invalid_argument with a message that names the problem and ends with
// "(see ferry <command> --help)".
Result<Args> parse_args(std::string_view command, std::span<const std::string> args,
                        std::span<const Flag> flags);

// The --help text of a subcommand: usage line, description, flags, exit codes.
std::string usage_text(std::string_view usage, std::string_view description,
                       std::span<const Flag> flags, std::string_view exit_codes = {});

// The exit-code table, for help texts.
std::string_view exit_codes_text();
// ... of the commands that connect to nothing (stat, cleanup): 0, 1 and 2 only.
std::string_view local_exit_codes_text();

// A message type: decimal or 0x hex, 0 .. kReservedTypes - 1. Usage errors name `flag`.
Result<std::uint16_t> parse_type(std::string_view flag, std::string_view text);

// A decimal number in [min, max] of `unit` ("milliseconds"; none for a count). Usage
// errors name `flag` and the unit.
Result<std::uint64_t> parse_number(std::string_view flag, std::string_view text, std::uint64_t min,
                                   std::uint64_t max, std::string_view unit = {});

// The endpoint and session from the global options, overridden by the subcommand's flags;
// a bad name is a usage error.
Result<Common> common_options(const Common& global, const Args& args);

// Connects to the endpoint as `name` (shown to the server). The caller reports a failure
// as "cannot connect" (kExitConnect).
Result<Client> connect_client(const Common& where, std::string_view name);

// The payload of send and request: --data, --file (- for stdin), else all of stdin.
// Both flags at once is a usage error (invalid_argument); a read error is anything else.
Result<std::string> payload_from(std::string_view command, const Args& args);

// Readiness, for the commands that keep running (subscribe, serve): --background returns
// to the shell once the command is ready, the command carrying on in a child process
// (start_background_if_asked(), before it connects); --ready-file creates a file then.
inline constexpr Flag kBackgroundFlag{"--background", "",
                                      "return once ready, carrying on in the background"};
inline constexpr Flag kReadyFileFlag{"--ready-file", "PATH", "create PATH once ready"};
Result<void> start_background_if_asked(const Args& args);
// Ready (subscribed, serving): creates --ready-file, then lets a --background caller return.
Result<void> announce_ready(const Args& args);

// Writes all bytes to a descriptor (retrying short writes and EINTR).
Result<void> write_all(int fd, std::string_view bytes);

}  // namespace ferry::cli
