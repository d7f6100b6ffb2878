// SPDX-License-Identifier: Apache-2.0
// memfd_maps.hpp: this process's shared mappings of ferry's memfds, found in /proc/self/maps
// ("/memfd:ferry:conn-3 (deleted)", "/memfd:ferry:doorbell:<session>/<endpoint> (deleted)"),
// for tests that play a hostile client by writing a segment directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::test {

struct Mapping {
  std::byte* start = nullptr;
  std::size_t size = 0;
  bool writable = false;  // mapped with PROT_WRITE
};

// Shared mappings from offset 0 of the memfds named "ferry:<label>", or "ferry:<label>:..."
// (the doorbell's name goes on with its session and endpoint).
inline std::vector<Mapping> memfd_mappings(std::string_view label) {
  const std::string want = "/memfd:ferry:" + std::string(label);
  std::ifstream maps("/proc/self/maps");
  std::vector<Mapping> found;
  for (std::string line; std::getline(maps, line);) {
    std::istringstream in(line);
    std::string range;
    std::string perms;
    std::string offset;
    std::string dev;
    std::string inode;
    std::string path;
    in >> range >> perms >> offset >> dev >> inode;
    std::getline(in >> std::ws, path);
    if (!path.starts_with(want)) continue;
    const std::string_view rest = std::string_view(path).substr(want.size());
    if (!rest.empty() && rest[0] != ' ' && rest[0] != ':') continue;
    if (perms.size() < 4 || perms[3] != 's' || std::stoull(offset, nullptr, 16) != 0) continue;
    const std::size_t dash = range.find('-');
    const auto lo = static_cast<std::uintptr_t>(std::stoull(range.substr(0, dash), nullptr, 16));
    const auto hi = static_cast<std::uintptr_t>(std::stoull(range.substr(dash + 1), nullptr, 16));
    Mapping m;
    m.start = reinterpret_cast<std::byte*>(lo);  // NOLINT(performance-no-int-to-ptr): /proc
    m.size = hi - lo;
    m.writable = perms[1] == 'w';
    found.push_back(m);
  }
  return found;
}

}  // namespace ferry::test
