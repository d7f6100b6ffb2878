// tools/demo/options.hpp: ferry-demo's command line (docs/demo.md).
// Thread-safety: plain functions.
#pragma once

#include "participants.hpp"

namespace ferry::demo {

// The plan the command line asks for. --help prints the usage and exits 0; a bad option
// or value prints one line saying which and why and exits 2.
Plan parse_options(int argc, char** argv);

}  // namespace ferry::demo
