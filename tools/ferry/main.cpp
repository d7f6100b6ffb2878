// SPDX-License-Identifier: Apache-2.0
// ferry: the command-line tool for scripts and debugging against ferryd's bus.
//
//   ferry [--endpoint NAME] [--session NAME] [--socket PATH] COMMAND [OPTION...]
//
// send, request, subscribe, serve, bench, cleanup, stat and exporter; `ferry COMMAND --help`
// for each; docs/cli.md.
// Errors go to stderr as one line "ferry: ..."; exit codes in cli.hpp.
#include <unistd.h>

#include <array>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "ferry/version.hpp"

namespace ferry::cli {
namespace {

struct Command {
  std::string_view name;
  std::string_view summary;
  CommandFn run;
};

// The subcommands, each in its own file.
constexpr Command kCommands[] = {
    {"send", "publish one message to the subscribers of a type", run_send},
    {"request", "send a request and print the reply", run_request},
    {"subscribe", "print the messages published to a type", run_subscribe},
    {"serve", "answer the requests of a type with a command's output", run_serve},
    {"bench", "run a benchmark workload, ferry or Unix sockets (docs/bench.md)", run_bench},
    {"cleanup", "remove the sockets and segments of dead owners in the session", run_cleanup},
    {"stat", "show the session's endpoints and connections live (or --json)", run_stat},
    {"exporter", "serve Prometheus metrics for every endpoint of the session", run_exporter},
};

// The options before COMMAND (the messaging commands take the first two too).
constexpr Flag kGlobalFlags[] = {kEndpointFlag,
                                 kSessionFlag,
                                 kSocketFlag,
                                 kHelpFlag,
                                 {"--version", "", "print the version and exit"}};

std::string usage() {
  std::string out =
      "usage: ferry [--endpoint NAME] [--session NAME] [--socket PATH] COMMAND [OPTION...]\n"
      "       ferry COMMAND --help\n"
      "\n"
      "Talks to ferryd, the ferry message bus, in the current session.\n"
      "\n"
      "Commands:\n";
  for (const Command& c : kCommands) {
    out.append("  ").append(c.name).append(16 - c.name.size(), ' ').append(c.summary).append("\n");
  }
  out +=
      "  help [COMMAND]  this text, or a command's --help\n"
      "\n"
      "Options (also accepted after COMMAND):\n";
  out += tools::flag_help(kGlobalFlags, 20);
  out += "\n";
  out += exit_codes_text();
  return out;
}

const Command* find_command(std::string_view name) {
  for (const Command& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

int run(int argc, char** argv) {
  auto parsed =
      tools::parse_flags(argc, argv, kGlobalFlags, "ferry --help", tools::Words::end_flags);
  if (!parsed) return fail(kExitUsage, parsed.error().message());
  if (parsed->has("--help")) {
    (void)write_all(STDOUT_FILENO, usage());
    return kExitOk;
  }
  if (parsed->has("--version")) {
    (void)write_all(STDOUT_FILENO, std::string("ferry ") + FERRY_VERSION_STRING + "\n");
    return kExitOk;
  }
  Common global;
  if (const auto* e = parsed->get("--endpoint")) global.endpoint = *e;
  if (const auto* s = parsed->get("--session")) global.session = *s;
  if (const auto* p = parsed->get("--socket")) global.socket_path = *p;
  const std::vector<std::string>& words = parsed->rest();  // COMMAND and what follows it
  if (words.empty()) {
    (void)write_all(STDERR_FILENO, usage());
    return kExitUsage;
  }
  const std::string& name = words[0];
  if (name == "help") {
    if (words.size() < 2) {
      (void)write_all(STDOUT_FILENO, usage());
      return kExitOk;
    }
    const Command* command = find_command(words[1]);
    if (command == nullptr) {
      return fail(kExitUsage, "unknown command '" + words[1] + "' (see ferry --help)");
    }
    const std::array<std::string, 1> help{"--help"};
    return command->run(global, help);
  }
  const Command* command = find_command(name);
  if (command == nullptr) {
    return fail(kExitUsage, "unknown command '" + name + "' (see ferry --help)");
  }
  return command->run(global, std::span(words).subspan(1));
}

}  // namespace
}  // namespace ferry::cli

int main(int argc, char** argv) {
  try {
    return ferry::cli::run(argc, argv);
  } catch (const std::exception& e) {
    return ferry::cli::fail(ferry::cli::kExitError, e.what());
  } catch (...) {
    return ferry::cli::fail(ferry::cli::kExitError, "unexpected error");
  }
}
