// SPDX-License-Identifier: Apache-2.0
// Sessions and their runtime directories for ferry/session.hpp. See docs/protocol.md,
// "Where endpoints live".
#include <dirent.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "common/quoted.hpp"
#include "control/file_mode.hpp"
#include "ferry/session.hpp"

namespace ferry {
namespace {

using detail::octal_mode;
using detail::quoted;

constexpr std::size_t kMaxSessionName = 64;
constexpr std::size_t kMaxEndpointName = 64;
// sizeof(sockaddr_un::sun_path) is 108, and the path needs its terminating NUL.
constexpr std::size_t kMaxSocketPath = 107;
// /proc/self/sessionid when the process has no audit session: (uint32_t)-1.
constexpr std::string_view kUnsetAuditSession = "4294967295";

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool is_valid_name(std::string_view name, std::size_t max) {
  return !name.empty() && name.size() <= max && std::all_of(name.begin(), name.end(), is_name_char);
}

// " is not a valid <kind> name: use 1-<max> of A-Z a-z 0-9 _ -"
std::string name_rule(const char* kind, std::size_t max) {
  return std::string(" is not a valid ") + kind + " name: use 1-" + std::to_string(max) +
         " of A-Z a-z 0-9 _ -";
}

// `source` says where the name came from: an environment variable, or what the caller
// passed (then the message shows the name alone).
Result<std::string> checked_session(std::string_view name, const char* source) {
  if (is_valid_name(name, kMaxSessionName)) return std::string(name);
  const std::string what =
      source != nullptr ? std::string(source) + "=" + quoted(name) : "the session " + quoted(name);
  return Error(Errc::invalid_argument, what + name_rule("session", kMaxSessionName));
}

// An environment variable, or nullopt when unset or empty.
std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

// The audit session id (/proc/self/sessionid), or nullopt when the process has none.
std::optional<std::string> audit_session() {
  std::ifstream in("/proc/self/sessionid");
  std::string id;
  if (!(in >> id) || id == kUnsetAuditSession || !is_valid_name(id, kMaxSessionName)) {
    return std::nullopt;
  }
  return id;
}

// The base directory: $XDG_RUNTIME_DIR/ferry when XDG_RUNTIME_DIR is set, absolute and an
// existing directory; else /tmp/ferry-<euid>.
std::string base_dir() {
  if (auto xdg = env("XDG_RUNTIME_DIR"); xdg && xdg->front() == '/') {
    struct stat st {};
    if (::stat(xdg->c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      while (xdg->size() > 1 && xdg->back() == '/') xdg->pop_back();
      return (*xdg == "/" ? std::string() : *xdg) + "/ferry";
    }
  }
  return "/tmp/ferry-" + std::to_string(::geteuid());
}

// Checks a directory ferry owns, the way ssh checks its files: a real directory (not a
// symlink), owned by our effective uid, nothing for group or other.
Result<void> check_dir(const std::string& path, const struct stat& st) {
  if (S_ISLNK(st.st_mode)) {
    return Error(Errc::permission, path + " is a symlink; ferry refuses it: remove it");
  }
  if (!S_ISDIR(st.st_mode)) {
    return Error(Errc::permission, path + " is not a directory (mode " + octal_mode(st.st_mode) +
                                       "); ferry needs a directory there: remove it");
  }
  if (st.st_uid != ::geteuid()) {
    return Error(Errc::permission, path + " is owned by uid " + std::to_string(st.st_uid) +
                                       ", not by you (uid " + std::to_string(::geteuid()) +
                                       "): remove it or set XDG_RUNTIME_DIR");
  }
  if ((st.st_mode & 077) != 0) {
    return Error(Errc::permission, path + " has mode " + octal_mode(st.st_mode) +
                                       "; ferry needs 0700 (chmod 700 " + path + ")");
  }
  return {};
}

// Gives a directory we have just created exactly mode 0700, whatever the umask took away
// (a umask never adds group/other bits, but may remove the owner's, and then not even we
// could open it). Only our own new directory, not a link: its parent is the user's runtime
// directory, our own 0700 base or sticky /tmp, so nobody else can swap it in between.
Result<void> fix_new_dir_mode(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return Error::from_errno(errno, "checking the new directory " + path);
  }
  if (S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 07777) != 0700 &&
      ::chmod(path.c_str(), 0700) != 0) {
    return Error::from_errno(errno, "setting mode 0700 on the new directory " + path);
  }
  return {};
}

// Makes sure `path` is a directory ferry may use, creating it (0700) when `create` is set.
Result<void> ensure_dir(const std::string& path, bool create, std::string_view session) {
  if (create) {
    if (::mkdir(path.c_str(), 0700) == 0) {
      if (auto fixed = fix_new_dir_mode(path); !fixed) return fixed.error();
    } else if (errno != EEXIST) {  // EEXIST: it exists, or another process just made it.
      const int err = errno;
      return Error::from_errno(err, "creating the ferry runtime directory " + path);
    }
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT) {
      return Error(Errc::not_found,
                   path + " does not exist: no ferry server has run in session '" +
                       std::string(session) +
                       "' (start one, or check FERRY_SESSION and XDG_RUNTIME_DIR)",
                   err);
    }
    return Error::from_errno(err, "checking the ferry runtime directory " + path);
  }
  return check_dir(path, st);
}

}  // namespace

Result<std::string> resolve_session(std::string_view explicit_session) {
  if (!explicit_session.empty()) {
    return checked_session(explicit_session, nullptr);
  }
  if (auto s = env("FERRY_SESSION")) return checked_session(*s, "FERRY_SESSION");
  if (auto s = env("XDG_SESSION_ID")) return checked_session(*s, "XDG_SESSION_ID");
  if (auto s = audit_session()) return *s;
  return std::string("default");
}

Result<std::string> session_dir(std::string_view session, bool create) {
  if (auto ok = checked_session(session, nullptr); !ok) return ok.error();
  const std::string base = base_dir();
  if (auto ok = ensure_dir(base, create, session); !ok) return ok.error();
  std::string dir = base + "/" + std::string(session);
  if (auto ok = ensure_dir(dir, create, session); !ok) return ok.error();
  return dir;
}

Result<std::vector<std::string>> list_sessions() {
  const std::string base = base_dir();
  struct stat st {};
  if (::lstat(base.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return Error::from_errno(errno, "checking the ferry runtime directory " + base);
  }
  if (auto ok = check_dir(base, st); !ok) return ok.error();
  DIR* d = ::opendir(base.c_str());
  if (d == nullptr) return Error::from_errno(errno, "reading " + base);
  std::vector<std::string> sessions;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (!is_valid_name(name, kMaxSessionName)) continue;
    std::string dir = base;
    dir.append("/").append(name);
    if (::lstat(dir.c_str(), &st) == 0 && check_dir(dir, st)) sessions.push_back(name);
  }
  ::closedir(d);
  std::sort(sessions.begin(), sessions.end());
  return sessions;
}

Result<void> check_socket_dir(std::string_view socket_path, bool any_owner) {
  const std::string path(socket_path);
  if (path.empty() || path.front() != '/' || path.back() == '/' || path.size() > kMaxSocketPath) {
    return Error(Errc::invalid_argument, "socket path " + quoted(path) +
                                             " must be absolute, name a file and hold at most " +
                                             std::to_string(kMaxSocketPath) + " bytes");
  }
  const std::string dir = path.rfind('/') == 0 ? "/" : path.substr(0, path.rfind('/'));
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    return Error::from_errno(errno, "checking the directory of the socket " + path);
  }
  if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
    return Error(Errc::permission, dir + " (the directory of " + path +
                                       ") is not a real directory; ferry refuses symlinks there");
  }
  if (!any_owner && st.st_uid != ::geteuid() && st.st_uid != 0) {
    return Error(Errc::permission, dir + " is owned by uid " + std::to_string(st.st_uid) +
                                       ", neither you (uid " + std::to_string(::geteuid()) +
                                       ") nor root: put the socket in a directory of your own");
  }
  if ((st.st_mode & 022) != 0) {
    return Error(Errc::permission, dir + " has mode " + octal_mode(st.st_mode) +
                                       ": group or others may write it and could replace the "
                                       "socket (chmod go-w " +
                                       dir + ")");
  }
  return {};
}

Result<void> check_session_name(std::string_view name) {
  if (is_valid_name(name, kMaxSessionName)) return {};
  return Error(Errc::invalid_argument, quoted(name) + name_rule("session", kMaxSessionName));
}

Result<void> check_endpoint_name(std::string_view name) {
  if (is_valid_name(name, kMaxEndpointName)) return {};
  return Error(Errc::invalid_argument, quoted(name) + name_rule("endpoint", kMaxEndpointName));
}

Result<std::string> endpoint_socket_path(std::string_view dir, std::string_view endpoint) {
  if (!is_valid_name(endpoint, kMaxEndpointName)) {
    return Error(Errc::invalid_argument, "endpoint name " + quoted(endpoint) + " (in " +
                                             quoted(dir) + ") is not valid: use 1-" +
                                             std::to_string(kMaxEndpointName) +
                                             " of A-Z a-z 0-9 _ -");
  }
  std::string path(dir);
  path.append("/").append(endpoint).append(".sock");
  if (path.size() > kMaxSocketPath) {
    return Error(Errc::invalid_argument,
                 "the socket path of endpoint '" + std::string(endpoint) + "', " + path + ", is " +
                     std::to_string(path.size()) + " bytes; a Unix socket path holds at most " +
                     std::to_string(kMaxSocketPath) +
                     ": use a shorter endpoint name, or a shorter XDG_RUNTIME_DIR");
  }
  return path;
}

}  // namespace ferry
