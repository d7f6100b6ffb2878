// SPDX-License-Identifier: Apache-2.0
// tools/common/code_pages.hpp: a long-running tool keeps only the code it runs once set up
// (an idle ferryd; `ferry exporter` between scrapes).
//
// Start-up runs code that never runs again: the TOML and command-line parsers, the C++
// runtime's locale set-up, the library's endpoint set-up, loading a module. Its pages stay
// mapped (and counted in VmRSS) although the loop never touches them. Once everything is
// set up, the tool unmaps the pages of its executable code (every file-backed,
// read-and-execute mapping: its own text, libc's, the loader's, a module's) with
// madvise(MADV_DONTNEED). The pages stay in the page cache, shared with every other process
// that maps them; the idle loop's code comes back at once with a minor fault, as does any
// other code when it next runs. Read-only data is left alone: part of it (RELRO) was written
// by the loader, and dropping a written private page would undo that.
// Thread-safety: call it while no other thread runs code that is being unmapped (it is
// safe, only slower: a thread faults its code back in).
#pragma once

#include <cstddef>

namespace ferry::tools {

struct Dropped {
  std::size_t mappings = 0;  // file-backed executable mappings dropped
  std::size_t bytes = 0;     // their size (not all of it was resident)
};

// Drops the resident pages of every file-backed executable mapping of this process. Never
// fails: a mapping madvise() refuses is left as it is.
Dropped drop_code_pages() noexcept;

}  // namespace ferry::tools
