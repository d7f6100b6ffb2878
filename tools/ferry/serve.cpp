// SPDX-License-Identifier: Apache-2.0
// `ferry serve`: answers the requests of a type with a shell command's output.
#include <unistd.h>
#include <csignal>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "run_command.hpp"

namespace ferry::cli {
namespace {

constexpr Flag kFlags[] = {
    {"--type", "T", "message type: 0..65279, decimal or 0x hex (required)"},
    {"--exec", "CMD", "answer with the output of /bin/sh -c CMD (required)"},
    {"--count", "N", "exit after answering N requests"},
    {"--exec-timeout", "MS", "kill CMD after MS and answer with an error (default 10000)"},
    kReadyFileFlag,
    kBackgroundFlag,
    kEndpointFlag,
    kSessionFlag,
    kSocketFlag,
    kHelpFlag,
};

constexpr std::string_view kUsage =
    "ferry serve --type T --exec CMD [--count N] [--exec-timeout MS] [--ready-file PATH]\n"
    "                   [--background] [--endpoint NAME] [--session NAME] [--socket PATH]";

constexpr std::string_view kDescription =
    "Serves message type T on ferryd: for each request, runs CMD with /bin/sh -c, the\n"
    "request's payload on its standard input, and replies with its standard output.\n"
    "When CMD exits with a non-zero status, is killed, or outlives --exec-timeout, the\n"
    "reply is an error: \"command exited with status N: <first line of its stderr>\".\n"
    "Requests are answered one at a time, in order. Runs until --count requests were\n"
    "answered or it is interrupted.";

// A request copied out of the ring: the command runs after the receive callback returned.
struct PendingRequest {
  std::uint16_t type = 0;
  std::uint8_t flags = 0;
  std::uint32_t correlation = 0;
  std::vector<std::byte> payload;

  Message message() const { return Message{type, flags, correlation, payload}; }
  std::string_view text() const {
    return {reinterpret_cast<const char*>(payload.data()), payload.size()};  // NOLINT
  }
};

std::string first_line(std::string_view text) {
  const std::size_t end = text.find('\n');
  std::string line(text.substr(0, end));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

std::span<const std::byte> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};  // NOLINT
}

// Runs the command for one request and sends the reply (or the error reply).
Result<void> answer(Client& client, const PendingRequest& request, const std::string& command,
                    std::chrono::milliseconds timeout) {
  const Message m = request.message();
  auto outcome = run_command(command, request.text(), client.max_payload(), timeout);
  if (!outcome)
    return client.reply_error(m, "cannot run the command: " + outcome.error().message());
  const bool ok = outcome->end == CommandOutcome::End::exited && outcome->status == 0;
  if (ok && !outcome->out_too_large) return client.reply(m, bytes_of(outcome->out));
  std::string text = ok ? "command output is larger than the reply limit of " +
                              std::to_string(client.max_payload()) + " bytes"
                        : describe(*outcome, timeout);
  if (const std::string err = first_line(outcome->err); !err.empty()) text += ": " + err;
  return client.reply_error(m, text);
}

}  // namespace

int run_serve(const Common& global, std::span<const std::string> argv) {
  auto args = parse_args("serve", argv, kFlags);
  if (!args) return fail(kExitUsage, "serve: " + args.error().message());
  if (args->has("--help")) {
    (void)write_all(STDOUT_FILENO, usage_text(kUsage, kDescription, kFlags));
    return kExitOk;
  }
  const auto usage = [](const std::string& message) {
    return fail(kExitUsage, "serve: " + message);
  };
  const std::string* type_text = args->get("--type");
  if (type_text == nullptr) return usage("--type is required (see ferry serve --help)");
  auto type = parse_type("--type", *type_text);
  if (!type) return usage(type.error().message());
  const std::string* command = args->get("--exec");
  if (command == nullptr || command->empty()) {
    return usage("--exec CMD is required (see ferry serve --help)");
  }
  std::optional<std::uint64_t> count;
  if (const std::string* c = args->get("--count")) {
    auto n = parse_number("--count", *c, 1, UINT64_MAX);
    if (!n) return usage(n.error().message());
    count = *n;
  }
  std::chrono::milliseconds exec_timeout(10000);
  if (const std::string* t = args->get("--exec-timeout")) {
    auto n = parse_number("--exec-timeout", *t, 1, 86400000, "milliseconds");
    if (!n) return usage(n.error().message());
    exec_timeout = std::chrono::milliseconds(*n);
  }
  auto where = common_options(global, *args);
  if (!where) return usage(where.error().message());

  // Writing a request to a command that does not read it must not kill us (EPIPE instead).
  ::signal(SIGPIPE, SIG_IGN);

  if (auto r = start_background_if_asked(*args); !r) return fail(kExitError, r.error().message());
  auto client = connect_client(*where, "ferry-serve");
  if (!client) return fail(kExitConnect, "cannot connect: " + client.error().message());
  const std::string what = "serve type " + std::to_string(*type);
  if (auto r = client->serve(*type); !r) {
    return fail(r.code() == Errc::timed_out ? kExitTimeout : kExitError,
                what + ": " + r.error().message());
  }
  if (auto r = announce_ready(*args); !r)
    return fail(kExitError, what + ": " + r.error().message());

  std::uint64_t answered = 0;
  std::vector<PendingRequest> pending;
  const auto handler = [&](const Message& m) {
    if (m.type != *type || !m.is_request()) return;
    PendingRequest p;
    p.type = m.type;
    p.flags = m.flags;
    p.correlation = m.correlation;
    p.payload.assign(m.payload.begin(), m.payload.end());
    pending.push_back(std::move(p));
  };
  while (!count || answered < *count) {
    auto r = client->wait(handler, std::chrono::seconds(1));
    if (!r) return fail(kExitError, what + ": " + r.error().message());
    for (const PendingRequest& request : pending) {
      if (count && answered >= *count) {
        // Arrived in the same batch as the last one we answer: tell the requester at once.
        (void)client->reply_error(
            request.message(), "ferry serve exited after " + std::to_string(*count) + " requests");
        continue;
      }
      if (auto a = answer(*client, request, *command, exec_timeout); !a) {
        return fail(kExitError, what + ": replying: " + a.error().message());
      }
      ++answered;
    }
    pending.clear();
  }
  return kExitOk;
}

}  // namespace ferry::cli
