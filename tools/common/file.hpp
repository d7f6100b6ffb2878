// SPDX-License-Identifier: Apache-2.0
// tools/common/file.hpp: reading a whole file (a config file, a payload) for the tools.
// Thread-safety: a plain function.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "ferry/result.hpp"
#include "ferry/unique_fd.hpp"

namespace ferry::tools {

// The whole of the file at `path`, "-" being standard input. An error reads "cannot read
// <what> <path>: <reason>" ("cannot read config file /etc/x.toml: No such file or
// directory"), or "cannot read standard input: <reason>".
inline Result<std::string> read_file(const std::string& path, std::string_view what = {}) {
  const bool is_stdin = path == "-";
  const std::string context =
      "cannot read " + (is_stdin ? std::string("standard input")
                                 : (what.empty() ? "" : std::string(what) + " ") + path);
  UniqueFd owned(is_stdin ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!is_stdin && !owned) return Error::from_errno(errno, context);
  const int fd = is_stdin ? STDIN_FILENO : owned.get();
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno(errno, context);
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
  }
}

}  // namespace ferry::tools
