// SPDX-License-Identifier: Apache-2.0
// Dropping the code pages start-up used (code_pages.hpp).
#include "common/code_pages.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ferry::tools {

Dropped drop_code_pages() noexcept {
  Dropped dropped;
  std::FILE* maps = std::fopen("/proc/self/maps", "re");
  if (maps == nullptr) return dropped;
  // "start-end perms offset dev inode path": only "r-xp" with a path (not [vdso]).
  char line[4096];
  while (std::fgets(line, sizeof line, maps) != nullptr) {
    char* p = line;
    const std::uintptr_t start = std::strtoull(p, &p, 16);
    if (*p != '-') continue;
    const std::uintptr_t end = std::strtoull(p + 1, &p, 16);
    if (*p != ' ' || std::strncmp(p + 1, "r-xp", 4) != 0 || end <= start) continue;
    if (std::strchr(p, '/') == nullptr) continue;  // anonymous, [vdso]: not a file's code
    // NOLINTNEXTLINE(performance-no-int-to-ptr): the address /proc/self/maps gives
    if (::madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED) == 0) {
      ++dropped.mappings;
      dropped.bytes += end - start;
    }
  }
  std::fclose(maps);
  return dropped;
}

}  // namespace ferry::tools
