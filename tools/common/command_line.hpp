// SPDX-License-Identifier: Apache-2.0
// tools/common/command_line.hpp: the one command-line parser of ferry's tools (ferry, its
// subcommands, ferryd, ferry bench, ferry-demo), CLI11 underneath. Each tool describes its
// flags once, in a table of Flag, and prints its own help from it; this file turns argv into
// the flags given, in command-line order, or into one usage error a person can act on.
// Thread-safety: plain functions.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/result.hpp"

namespace ferry::tools {

// One flag: "--type" with a value shown as "T" in help; an empty `arg` makes it a switch.
// A flag named "--help" also answers to "-h". An empty `help` leaves it out of the help.
struct Flag {
  std::string_view name;
  std::string_view arg;
  std::string_view help;
};

// The flags given, in command-line order (a flag given twice is there twice; a switch's
// value is empty), and, with Words::end_flags, the words from the first non-flag on.
class Args {
 public:
  bool has(std::string_view name) const;
  // The last value given for `name`, or nullptr.
  const std::string* get(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& given() const { return given_; }
  const std::vector<std::string>& rest() const { return rest_; }

  void add(std::string name, std::string value) {
    given_.emplace_back(std::move(name), std::move(value));
  }
  void set_rest(std::vector<std::string> rest) { rest_ = std::move(rest); }

 private:
  std::vector<std::pair<std::string, std::string>> given_;
  std::vector<std::string> rest_;
};

// What a word that is not a flag means: a usage error, or the end of the flags (a command
// name, as in `ferry --session s send ...`, after which Args::rest() holds the words).
enum class Words { refuse, end_flags };

// Parses `args` (the words after the program's or subcommand's name) against `flags`:
// `--flag VALUE`, `--flag=VALUE` (also `--flag=` for an empty value) and switches. A usage
// error is invalid_argument with one line, followed by " (see `see`)":
//   unknown option '--bogus' | unexpected argument 'stray' | --type needs a value |
//   --json takes no value
// One problem is reported, and it wins over a --help: a flag without its value first, then
// the first word that is not a flag, then a switch given a value.
Result<Args> parse_flags(std::vector<std::string> args, std::span<const Flag> flags,
                         std::string_view see, Words words = Words::refuse);

// The same for main()'s argv, skipping argv[0].
Result<Args> parse_flags(int argc, char** argv, std::span<const Flag> flags, std::string_view see,
                         Words words = Words::refuse);

// Help lines for `flags`: "  --name ARG", then the help text from `column` on (on the next
// line when the name is too long; each line of a help with several starts there). A flag
// with no help is not listed (flags a tool passes to its own child processes).
std::string flag_help(std::span<const Flag> flags, std::size_t column);

}  // namespace ferry::tools
