// SPDX-License-Identifier: Apache-2.0
// `ferry subscribe`: prints every message of a type that any client publishes.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "cli.hpp"

namespace ferry::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr Flag kFlags[] = {
    {"--type", "T", "message type: 0..65279, decimal or 0x hex (required)"},
    {"--count", "N", "exit after N messages"},
    {"--timeout", "MS", "stop after MS; exit status 4 if --count was not reached"},
    {"--format", "FMT", "line (payload + newline; the default), raw or hex"},
    kReadyFileFlag,
    kBackgroundFlag,
    kEndpointFlag,
    kSessionFlag,
    kSocketFlag,
    kHelpFlag,
};

constexpr std::string_view kUsage =
    "ferry subscribe --type T [--count N] [--timeout MS] [--format line|raw|hex]\n"
    "                       [--ready-file PATH] [--background] [--endpoint NAME] [--session NAME]\n"
    "                       [--socket PATH]";

constexpr std::string_view kDescription =
    "Subscribes to message type T on ferryd and prints each message published to it:\n"
    "  line  the payload and a newline (the default)\n"
    "  raw   the payload bytes alone\n"
    "  hex   the payload in hexadecimal and a newline\n"
    "Runs until --count messages arrived, --timeout ran out or it is interrupted.";

enum class Format { line, raw, hex };

std::string formatted(Format format, std::string_view payload) {
  switch (format) {
    case Format::raw: return std::string(payload);
    case Format::line: return std::string(payload) + "\n";
    case Format::hex: {
      constexpr char kDigits[] = "0123456789abcdef";
      std::string out;
      out.reserve(payload.size() * 2 + 1);
      for (const char c : payload) {
        const auto b = static_cast<unsigned char>(c);
        out += kDigits[b >> 4];
        out += kDigits[b & 0xf];
      }
      return out + "\n";
    }
  }
  return {};
}

}  // namespace

int run_subscribe(const Common& global, std::span<const std::string> argv) {
  auto args = parse_args("subscribe", argv, kFlags);
  if (!args) return fail(kExitUsage, "subscribe: " + args.error().message());
  if (args->has("--help")) {
    (void)write_all(STDOUT_FILENO, usage_text(kUsage, kDescription, kFlags));
    return kExitOk;
  }
  const auto usage = [](const std::string& message) {
    return fail(kExitUsage, "subscribe: " + message);
  };
  const std::string* type_text = args->get("--type");
  if (type_text == nullptr) return usage("--type is required (see ferry subscribe --help)");
  auto type = parse_type("--type", *type_text);
  if (!type) return usage(type.error().message());
  std::optional<std::uint64_t> count;
  if (const std::string* c = args->get("--count")) {
    auto n = parse_number("--count", *c, 1, UINT64_MAX);
    if (!n) return usage(n.error().message());
    count = *n;
  }
  std::optional<std::chrono::milliseconds> timeout;
  if (const std::string* t = args->get("--timeout")) {
    auto n = parse_number("--timeout", *t, 1, 86400000, "milliseconds");
    if (!n) return usage(n.error().message());
    timeout = std::chrono::milliseconds(*n);
  }
  Format format = Format::line;
  if (const std::string* f = args->get("--format")) {
    if (*f == "line") {
      format = Format::line;
    } else if (*f == "raw") {
      format = Format::raw;
    } else if (*f == "hex") {
      format = Format::hex;
    } else {
      return usage("--format: expected line, raw or hex, got '" + *f + "'");
    }
  }
  auto where = common_options(global, *args);
  if (!where) return usage(where.error().message());

  if (auto r = start_background_if_asked(*args); !r) return fail(kExitError, r.error().message());
  auto client = connect_client(*where, "ferry-subscribe");
  if (!client) return fail(kExitConnect, "cannot connect: " + client.error().message());
  const std::string what = "subscribe type " + std::to_string(*type);
  const auto start = Clock::now();
  const auto ack_timeout = timeout ? *timeout : std::chrono::milliseconds(5000);
  if (auto r = client->subscribe(*type, ack_timeout); !r) {
    return fail(r.code() == Errc::timed_out ? kExitTimeout : kExitError,
                what + ": " + r.error().message());
  }
  if (auto r = announce_ready(*args); !r)
    return fail(kExitError, what + ": " + r.error().message());

  std::uint64_t received = 0;
  std::optional<Error> write_error;
  const auto handler = [&](const Message& m) {
    if (m.type != *type || m.is_reply() || write_error) return;
    if (count && received >= *count) return;  // more than asked for arrived in one batch
    ++received;
    if (auto w = write_all(STDOUT_FILENO, formatted(format, m.text())); !w) write_error = w.error();
  };
  while (!count || received < *count) {
    // Waits in slices of at most a second, so that no deadline arithmetic overflows.
    std::chrono::nanoseconds slice = std::chrono::seconds(1);
    if (timeout) {
      const auto left = start + *timeout - Clock::now();
      if (left <= std::chrono::nanoseconds::zero()) {
        if (!count) return kExitOk;  // the timeout is how a count-less subscription ends
        return fail(kExitTimeout, what + ": timed out after " + std::to_string(timeout->count()) +
                                      " ms with " + std::to_string(received) + " of " +
                                      std::to_string(*count) + " messages");
      }
      slice = std::min<std::chrono::nanoseconds>(slice, left);
    }
    auto r = client->wait(handler, slice);
    if (write_error) {
      return fail(kExitError, what + ": writing to standard output: " + write_error->message());
    }
    if (!r) return fail(kExitError, what + ": " + r.error().message());
  }
  return kExitOk;
}

}  // namespace ferry::cli
