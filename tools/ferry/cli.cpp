// SPDX-License-Identifier: Apache-2.0
// The `ferry` command's shared pieces (cli.hpp).
#include "cli.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/file.hpp"
#include "common/number.hpp"
#include "common/quoted.hpp"
#include "common/service_notify.hpp"
#include "ferry/message.hpp"
#include "ferry/session.hpp"

namespace ferry::cli {
namespace {

using ferry::tools::quoted;

Error usage_error(std::string_view command, const std::string& message) {
  return Error(Errc::invalid_argument, message + " (see ferry " + std::string(command) +
                                           (command.empty() ? "" : " ") + "--help)");
}

}  // namespace

int fail(int code, std::string_view message) {
  // One line: a multi-line message (a command's stderr, a remote error text) is joined.
  std::string line = "ferry: ";
  for (const char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  while (!line.empty() && line.back() == ' ') line.pop_back();
  line += '\n';
  (void)write_all(STDERR_FILENO, line);
  return code;
}

Result<Args> parse_args(std::string_view command, std::span<const std::string> args,
                        std::span<const Flag> flags) {
  return tools::parse_flags(std::vector<std::string>(args.begin(), args.end()), flags,
                            "ferry " + std::string(command) + " --help");
}

std::string_view exit_codes_text() {
  return "Exit status: 0 ok, 1 runtime error (an error reply, a lost connection), 2 usage\n"
         "error, 3 cannot connect to the endpoint, 4 timeout.\n";
}

std::string_view local_exit_codes_text() {
  return "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";
}

std::string usage_text(std::string_view usage, std::string_view description,
                       std::span<const Flag> flags, std::string_view exit_codes) {
  std::string out = "usage: " + std::string(usage) + "\n\n" + std::string(description) + "\n";
  if (!flags.empty()) out += "\nOptions:\n";
  out += tools::flag_help(flags, 24);
  out += "\n";
  out += exit_codes.empty() ? exit_codes_text() : exit_codes;
  return out;
}

Result<std::uint16_t> parse_type(std::string_view flag, std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return Error(Errc::invalid_argument, std::string(flag) + ": " + why);
  };
  const std::string range = "use 0.." + std::to_string(kReservedTypes - 1) + " (0x0..0x" + [] {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%x", kReservedTypes - 1);
    return std::string(hex);
  }() + ")";
  std::string_view digits = text;
  unsigned base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
    base = 16;
  }
  if (digits.empty()) return bad("expected a message type, got " + quoted(text) + "; " + range);
  std::uint64_t n = 0;
  for (const char c : digits) {
    unsigned d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = static_cast<unsigned>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      d = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return bad("expected a decimal or 0x hex message type, got " + quoted(text));
    }
    n = n * base + d;
    if (n > 0xffff) return bad("message type " + quoted(text) + " is out of range; " + range);
  }
  if (n >= kReservedTypes) {
    return bad("message type " + std::string(text) +
               " is reserved for ferry itself (0xff00..0xffff); " + range);
  }
  return static_cast<std::uint16_t>(n);
}

Result<std::uint64_t> parse_number(std::string_view flag, std::string_view text, std::uint64_t min,
                                   std::uint64_t max, std::string_view unit) {
  const std::string expected = "expected a number " +
                               (unit.empty() ? std::string() : "of " + std::string(unit) + " ") +
                               std::to_string(min) + ".." + std::to_string(max);
  const auto n = tools::parse_number<std::uint64_t>(text);
  if (!n) {
    return Error(Errc::invalid_argument,
                 std::string(flag) + ": " + expected + ", got " + quoted(text));
  }
  if (*n < min || *n > max) {
    return Error(Errc::invalid_argument,
                 std::string(flag) + ": " + expected + ", got " + std::string(text));
  }
  return *n;
}

Result<Common> common_options(const Common& global, const Args& args) {
  Common c = global;
  if (const auto* e = args.get("--endpoint")) c.endpoint = *e;
  if (const auto* s = args.get("--session")) c.session = *s;
  if (const auto* p = args.get("--socket")) c.socket_path = *p;
  if (auto ok = check_endpoint_name(c.endpoint); !ok) {
    return Error(Errc::invalid_argument, "--endpoint: " + ok.error().message());
  }
  if (!c.session.empty()) {
    if (auto ok = check_session_name(c.session); !ok) {
      return Error(Errc::invalid_argument, "--session: " + ok.error().message());
    }
  } else if (auto session = resolve_session();
             !session && session.code() == Errc::invalid_argument) {
    return session.error();  // a bad $FERRY_SESSION: a usage error, like a bad --session
  }
  return c;
}

Result<Client> connect_client(const Common& where, std::string_view name) {
  ClientOptions options;
  options.endpoint = where.endpoint;
  options.session = where.session;
  options.socket_path = where.socket_path;
  options.name = std::string(name);
  return Client::connect(std::move(options));
}

Result<std::string> payload_from(std::string_view command, const Args& args) {
  const std::string* data = args.get("--data");
  const std::string* file = args.get("--file");
  if (data != nullptr && file != nullptr) {
    return usage_error(command, "--data and --file exclude each other");
  }
  if (data != nullptr) return *data;
  if (file == nullptr && ::isatty(STDIN_FILENO) == 1) {
    // Typed by a person who may not know it waits for them.
    std::fprintf(stderr,
                 "ferry %.*s: reading the payload from standard input; end it with Ctrl-D "
                 "(or give --data TEXT or --file PATH)\n",
                 static_cast<int>(command.size()), command.data());
  }
  auto text = tools::read_file(file != nullptr ? *file : "-");
  if (!text) return Error(Errc::system, text.error().message());  // not a usage error
  return text;
}

Result<void> start_background_if_asked(const Args& args) {
  if (!args.has("--background")) return {};
  return tools::start_in_background();
}

Result<void> announce_ready(const Args& args) {
  if (const std::string* path = args.get("--ready-file")) {
    const int fd = ::open(path->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Error::from_errno(errno, "cannot create the ready file " + *path);
    ::close(fd);
  }
  tools::background_ready();
  return {};
}

Result<void> write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno(errno, "write");
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace ferry::cli
