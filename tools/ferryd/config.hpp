// SPDX-License-Identifier: Apache-2.0
// ferryd/config.hpp: ferryd's configuration, from its TOML file and its command line.
//
// The file is, in order: --config PATH, $FERRY_CONFIG, $XDG_CONFIG_HOME/ferry/ferryd.toml (or
// ~/.config/ferry/ferryd.toml), /etc/ferry/ferryd.toml; the first two must exist, the others
// are read only if they do; with none, the defaults apply. Flags override the file. Every
// key and flag is documented in docs/ferryd.md; packaging/ferryd.toml is an example file.
// Thread-safety: plain functions; they read the environment and the user/group databases.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/config_file.hpp"
#include "ferry/result.hpp"
#include "ferry/server.hpp"
#include "ferryd/bus.hpp"
namespace ferry::ferryd {

struct FerrydConfig {
  ferry::ServerOptions server;      // every field settable
  ferryd::BusOptions bus;           // the bus's policies for slow subscribers and requests
  std::string log_level = "info";   // error|warn|info|debug
  std::string log_format = "json";  // json (one object a line) | text
  std::string metrics_listen;       // "address:port" (normalized); empty: no exporter
  std::string config_path;          // the file that was read, empty if none
  bool background = false;          // --background: return once ready, carry on in a child
};

// Parses argv (flags override the file). Returns the config, or an Error whose message is
// one clear line (invalid_argument for a bad flag or value, not_found for a missing file,
// permission for an unreadable one). `--help` / `--version` set *exit_now and fill *output
// with the text (the returned config is then the defaults).
ferry::Result<FerrydConfig> parse_ferryd_args(int argc, char** argv, std::string* output,
                                              bool* exit_now);

// The --help text.
std::string ferryd_usage();

// Byte counts as the file and the flags take them ("64KiB"; tools/common/config_file.hpp).
using tools::parse_size;

}  // namespace ferry::ferryd
