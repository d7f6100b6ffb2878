// SPDX-License-Identifier: Apache-2.0
// file_mode.hpp: a file's mode as people read it in messages.
#pragma once

#include <sys/types.h>

#include <cstdio>
#include <string>

namespace ferry::detail {

// "0755": the permission bits of `mode`, in octal.
inline std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

}  // namespace ferry::detail
