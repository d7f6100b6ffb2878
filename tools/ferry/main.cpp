// ferry: the command-line tool for scripts and debugging against ferryd's bus.
//
//   ferry [--endpoint NAME] [--session NAME] COMMAND [OPTION...]
//
// send, request, subscribe and serve; `ferry COMMAND --help` for each; docs/cli.md.
// Errors go to stderr as one line "ferry: ..."; exit codes in cli.hpp.
#include <unistd.h>

#include <exception>
#include <span>
#include <string>
#include <string_view>

#include "cli.hpp"

#ifndef FERRY_VERSION
#define FERRY_VERSION "unknown"
#endif

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
};

std::string usage() {
  std::string out =
      "usage: ferry [--endpoint NAME] [--session NAME] COMMAND [OPTION...]\n"
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
      "Options (also accepted after COMMAND):\n"
      "  --endpoint NAME   ferryd's endpoint (default bus)\n"
      "  --session NAME    session (default $FERRY_SESSION, else the login session)\n"
      "  --help            print this help and exit\n"
      "  --version         print the version and exit\n"
      "\n";
  out += exit_codes_text();
  return out;
}

const Command* find_command(std::string_view name) {
  for (const Command& c : kCommands) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

int run(std::span<char* const> argv) {
  Common global;
  std::size_t i = 1;
  // Global options, before the command.
  for (; i < argv.size(); ++i) {
    const std::string_view arg = argv[i];
    if (arg.substr(0, 1) != "-") break;
    if (arg == "--help" || arg == "-h") {
      (void)write_all(STDOUT_FILENO, usage());
      return kExitOk;
    }
    if (arg == "--version") {
      (void)write_all(STDOUT_FILENO, std::string("ferry ") + FERRY_VERSION + "\n");
      return kExitOk;
    }
    const std::size_t eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq);
    if (name != "--endpoint" && name != "--session") {
      return fail(kExitUsage, "unknown option '" + std::string(name) + "' (see ferry --help)");
    }
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < argv.size()) {
      value = argv[++i];
    } else {
      return fail(kExitUsage, std::string(name) + " needs a value (see ferry --help)");
    }
    (name == "--endpoint" ? global.endpoint : global.session) = value;
  }
  if (i >= argv.size()) {
    (void)write_all(STDERR_FILENO, usage());
    return kExitUsage;
  }
  const std::string_view name = argv[i];
  if (name == "help") {
    if (i + 1 >= argv.size()) {
      (void)write_all(STDOUT_FILENO, usage());
      return kExitOk;
    }
    const Command* command = find_command(argv[i + 1]);
    if (command == nullptr) {
      return fail(kExitUsage,
                  "unknown command '" + std::string(argv[i + 1]) + "' (see ferry --help)");
    }
    char help[] = "--help";
    char* const help_args[] = {help};
    return command->run(global, std::span<char* const>(help_args, 1));
  }
  const Command* command = find_command(name);
  if (command == nullptr) {
    return fail(kExitUsage, "unknown command '" + std::string(name) + "' (see ferry --help)");
  }
  return command->run(global, argv.subspan(i + 1));
}

}  // namespace
}  // namespace ferry::cli

int main(int argc, char** argv) {
  try {
    return ferry::cli::run(std::span<char* const>(argv, static_cast<std::size_t>(argc)));
  } catch (const std::exception& e) {
    return ferry::cli::fail(ferry::cli::kExitError, e.what());
  } catch (...) {
    return ferry::cli::fail(ferry::cli::kExitError, "unexpected error");
  }
}
