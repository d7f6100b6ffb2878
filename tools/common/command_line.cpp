// SPDX-License-Identifier: Apache-2.0
// The tools' command-line parser (command_line.hpp), on CLI11.
#include "common/command_line.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <map>

#include "common/quoted.hpp"

namespace ferry::tools {
namespace {

Error usage_error(const std::string& message, std::string_view see) {
  return Error(Errc::invalid_argument, message + " (see " + std::string(see) + ")");
}

// CLI11 names a flag that lacks its value only in the message: "--type: 1 required ...".
std::string flag_in(const CLI::ArgumentMismatch& e) {
  const std::string_view what = e.what();
  return std::string(what.substr(0, what.find(':')));
}

}  // namespace

bool Args::has(std::string_view name) const {
  return std::any_of(given_.begin(), given_.end(),
                     [name](const auto& v) { return v.first == name; });
}

const std::string* Args::get(std::string_view name) const {
  const auto it = std::find_if(given_.rbegin(), given_.rend(),
                               [name](const auto& v) { return v.first == name; });
  return it == given_.rend() ? nullptr : &it->second;
}

Result<Args> parse_flags(std::vector<std::string> args, std::span<const Flag> flags,
                         std::string_view see, Words words) {
  CLI::App app;
  app.set_help_flag();  // --help is one of `flags`, and the tool prints its own help
  app.allow_extras();   // unknown words are reported below, in this file's words
  if (words == Words::end_flags) app.prefix_command();

  std::map<const CLI::Option*, const Flag*> flag_of;
  for (const Flag& f : flags) {
    std::string names(f.name);
    if (f.name == "--help") names = "-h,--help";
    CLI::Option* o = f.arg.empty() ? app.add_flag(names) : app.add_option(names)->expected(1);
    o->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    flag_of[o] = &f;
  }

  // CLI11 reads "--flag=" as a flag without its value; here it is an empty value, as
  // "--flag ''" is. And it takes the words last first.
  std::vector<std::string> reversed;
  reversed.reserve(args.size() + 1);
  for (std::string& a : args) {
    if (a.size() > 3 && a.starts_with("--") && a.find('=') == a.size() - 1) {
      a.pop_back();
      reversed.push_back(std::move(a));
      reversed.emplace_back();
    } else {
      reversed.push_back(std::move(a));
    }
  }
  std::reverse(reversed.begin(), reversed.end());
  try {
    app.parse(reversed);
  } catch (const CLI::ArgumentMismatch& e) {
    return usage_error(flag_in(e) + " needs a value", see);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what(), see);
  }

  std::vector<std::string> rest = app.remaining();
  if (!rest.empty() && (words == Words::refuse || rest.front().starts_with("-"))) {
    const std::string& word = rest.front();
    if (word.size() > 2 && word.starts_with("--")) {
      return usage_error("unknown option " + ferry::tools::quoted(word.substr(0, word.find('='))),
                         see);
    }
    return usage_error("unexpected argument " + ferry::tools::quoted(word), see);
  }

  Args out;
  std::map<const CLI::Option*, std::size_t> seen;  // results used so far, per flag
  for (const CLI::Option* o : app.parse_order()) {
    const Flag& f = *flag_of.at(o);
    const std::string& value = o->results().at(seen[o]++);
    if (f.arg.empty()) {
      // A switch given a value ("--json=1") reaches here with that value.
      if (value != "true") return usage_error(std::string(f.name) + " takes no value", see);
      out.add(std::string(f.name), {});
    } else {
      out.add(std::string(f.name), value);
    }
  }
  out.set_rest(std::move(rest));
  return out;
}

Result<Args> parse_flags(int argc, char** argv, std::span<const Flag> flags, std::string_view see,
                         Words words) {
  const std::span<char* const> all(argv, argc > 0 ? static_cast<std::size_t>(argc) : 0);
  return parse_flags(std::vector<std::string>(all.begin() + (all.empty() ? 0 : 1), all.end()),
                     flags, see, words);
}

std::string flag_help(std::span<const Flag> flags, std::size_t column) {
  std::string out;
  for (const Flag& f : flags) {
    if (f.help.empty()) continue;
    std::string left = "  ";
    left.append(f.name);
    if (!f.arg.empty()) left.append(" ").append(f.arg);
    out += left;
    if (left.size() + 2 > column) {
      out.append("\n").append(column, ' ');
    } else {
      out.append(column - left.size(), ' ');
    }
    // Each further line of the help starts at the column too.
    std::string_view help = f.help;
    for (std::size_t nl = help.find('\n'); nl != std::string_view::npos; nl = help.find('\n')) {
      out.append(help.substr(0, nl + 1)).append(column, ' ');
      help.remove_prefix(nl + 1);
    }
    out.append(help).append("\n");
  }
  return out;
}

}  // namespace ferry::tools
