// SPDX-License-Identifier: Apache-2.0
// proc_fd.hpp: mapping a ferry server's segments through its /proc/<pid>/fd links, for
// the stat reader (stat.cpp) and its tests.
// Thread-safety: plain functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ferry/result.hpp"
#include "ferry/shm.hpp"

namespace ferry::detail {

// Maps, read-only, the segment behind `fd_path` (/proc/<pid>/fd/<n>) whose link read
// `listed_link` when the caller listed the directory. Never blocks: the file is pinned
// without being opened (O_PATH) and opened only if its link still reads `listed_link`,
// then with O_NONBLOCK; it is mapped only if it is a regular file sealed against shrinking
// and growing (a memfd as SharedMemory::create_anonymous makes them) of at least `min_size`
// bytes. The descriptor is closed again; the mapping stays.
// Errors: not_found if the descriptor is gone or now names another file (the server
// closed it, and may have reused the number); otherwise what was found, naming fd_path.
Result<SharedMemory> map_server_segment(const std::string& fd_path, std::string_view listed_link,
                                        std::size_t min_size);

// The text of the link at `path`, or empty if there is none.
std::string read_link(const std::string& path);

}  // namespace ferry::detail
