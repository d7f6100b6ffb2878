// SPDX-License-Identifier: Apache-2.0
// `ferry send` (publish one message) and `ferry request` (send a request, print the reply).
#include <unistd.h>

#include <chrono>
#include <string>

#include "cli.hpp"

namespace ferry::cli {
namespace {

std::span<const std::byte> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};  // NOLINT
}

constexpr Flag kSendFlags[] = {
    {"--type", "T", "message type: 0..65279, decimal or 0x hex (required)"},
    {"--data", "STR", "the payload"},
    {"--file", "F", "read the payload from file F (- for stdin)"},
    kEndpointFlag,
    kSessionFlag,
    kSocketFlag,
    kHelpFlag,
};

constexpr Flag kRequestFlags[] = {
    {"--type", "T", "message type: 0..65279, decimal or 0x hex (required)"},
    {"--data", "STR", "the payload"},
    {"--file", "F", "read the payload from file F (- for stdin)"},
    {"--timeout", "MS", "wait this long for the reply (default 5000)"},
    kEndpointFlag,
    kSessionFlag,
    kSocketFlag,
    kHelpFlag,
};

// What send and request share: flags, type, payload, connection.
struct Prepared {
  Args args;
  std::uint16_t type = 0;
  std::string payload;
  Client client;
};

// Parses, reads the payload and connects. False when the caller should stop (after --help,
// or an error already printed), with the exit code in *exit.
bool prepare(std::string_view command, std::span<const std::string> argv,
             std::span<const Flag> flags, std::string_view usage, std::string_view description,
             const Common& global, Prepared* p, int* exit) {
  auto args = parse_args(command, argv, flags);
  if (!args) {
    *exit = fail(kExitUsage, std::string(command) + ": " + args.error().message());
    return false;
  }
  p->args = std::move(*args);
  if (p->args.has("--help")) {
    (void)write_all(STDOUT_FILENO, usage_text(usage, description, flags));
    *exit = kExitOk;
    return false;
  }
  const std::string* type_text = p->args.get("--type");
  if (type_text == nullptr) {
    *exit = fail(kExitUsage, std::string(command) + ": --type is required (see ferry " +
                                 std::string(command) + " --help)");
    return false;
  }
  auto type = parse_type("--type", *type_text);
  if (!type) {
    *exit = fail(kExitUsage, std::string(command) + ": " + type.error().message());
    return false;
  }
  p->type = *type;
  if (p->args.has("--timeout")) {
    auto ms = parse_number("--timeout", *p->args.get("--timeout"), 1, 86400000, "milliseconds");
    if (!ms) {
      *exit = fail(kExitUsage, std::string(command) + ": " + ms.error().message());
      return false;
    }
  }
  auto where = common_options(global, p->args);
  if (!where) {
    *exit = fail(kExitUsage, std::string(command) + ": " + where.error().message());
    return false;
  }
  auto payload = payload_from(command, p->args);
  if (!payload) {
    const bool bad_usage = payload.code() == Errc::invalid_argument;
    *exit = fail(bad_usage ? kExitUsage : kExitError,
                 std::string(command) + ": " + payload.error().message());
    return false;
  }
  p->payload = std::move(*payload);
  auto client = connect_client(*where, "ferry-" + std::string(command));
  if (!client) {
    *exit = fail(kExitConnect, "cannot connect: " + client.error().message());
    return false;
  }
  p->client = std::move(*client);
  if (p->payload.size() > p->client.max_payload()) {
    *exit = fail(kExitError, std::string(command) + " type " + std::to_string(p->type) +
                                 ": the payload of " + std::to_string(p->payload.size()) +
                                 " bytes is larger than the connection's limit of " +
                                 std::to_string(p->client.max_payload()) +
                                 " bytes (a quarter of the ring: ferryd's ring_capacity, "
                                 "--ring-capacity, raises it)");
    return false;
  }
  return true;
}

}  // namespace

int run_send(const Common& global, std::span<const std::string> argv) {
  Prepared p;
  int exit = kExitOk;
  if (!prepare("send", argv, kSendFlags,
               "ferry send --type T [--data STR | --file F] [--endpoint NAME] [--session NAME]\n"
               "                  [--socket PATH]",
               "Publishes one message of type T to ferryd: every client subscribed to T gets it.\n"
               "The payload is STR, the contents of F, or else all of standard input.",
               global, &p, &exit)) {
    return exit;
  }
  if (auto r = p.client.send(p.type, bytes_of(p.payload)); !r) {
    return fail(r.code() == Errc::timed_out ? kExitTimeout : kExitError,
                "send type " + std::to_string(p.type) + ": " + r.error().message());
  }
  return kExitOk;
}

int run_request(const Common& global, std::span<const std::string> argv) {
  Prepared p;
  int exit = kExitOk;
  if (!prepare("request", argv, kRequestFlags,
               "ferry request --type T [--data STR | --file F] [--timeout MS] [--endpoint NAME]\n"
               "                     [--session NAME] [--socket PATH]",
               "Sends a request of type T through ferryd to the client that serves T and writes\n"
               "the reply's payload to standard output as it is (on a terminal, with a newline\n"
               "added if it lacks one). An error reply is printed as \"ferry: request type T:\n"
               "<text>\" with exit status 1. The payload is STR, the contents of F, or else\n"
               "all of standard input.",
               global, &p, &exit)) {
    return exit;
  }
  std::chrono::milliseconds timeout(5000);
  if (const std::string* t = p.args.get("--timeout")) {
    timeout = std::chrono::milliseconds(
        parse_number("--timeout", *t, 1, 86400000, "milliseconds").value());
  }
  const std::string what = "request type " + std::to_string(p.type);
  auto reply = p.client.request(p.type, bytes_of(p.payload), timeout);
  if (!reply) {
    if (reply.code() == Errc::timed_out) {
      return fail(kExitTimeout,
                  what + ": no reply within " + std::to_string(timeout.count()) + " ms");
    }
    return fail(kExitError, what + ": " + reply.error().message());
  }
  std::string out(reply->text());
  if (::isatty(STDOUT_FILENO) == 1 && !out.empty() && out.back() != '\n') out += '\n';
  if (auto w = write_all(STDOUT_FILENO, out); !w) {
    return fail(kExitError,
                what + ": writing the reply to standard output: " + w.error().message());
  }
  return kExitOk;
}

}  // namespace ferry::cli
