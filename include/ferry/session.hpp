// SPDX-License-Identifier: Apache-2.0
// ferry/session.hpp: where a session's endpoints live.
//
// Every endpoint is a Unix socket under the session's runtime directory:
//   $XDG_RUNTIME_DIR/ferry/<session>/<endpoint>.sock   (fallback /tmp/ferry-<uid>/<session>/)
// Directories are 0700 and owned by the user, checked on every use the way ssh checks its
// files: another owner, group/other bits or a symlink is an error that names the path,
// what was found and the fix. ferry never chmods a directory it did not create.
// Thread-safety: plain functions; they read the environment.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ferry/export.hpp"
#include "ferry/result.hpp"

namespace ferry {

// Session and endpoint names become file names: 1-64 characters of [A-Za-z0-9_-]. Otherwise
// invalid_argument naming the value and the rule ("'a b' is not a valid endpoint name: use
// 1-64 of A-Z a-z 0-9 _ -").
FERRY_API Result<void> check_session_name(std::string_view name);
FERRY_API Result<void> check_endpoint_name(std::string_view name);

// The session to use: `explicit_session` if non-empty, else $FERRY_SESSION, else
// $XDG_SESSION_ID, else the audit session of /proc/self/sessionid when one is set, else
// "default". A name is 1-64 characters of [A-Za-z0-9_-] (invalid_argument otherwise,
// naming where the bad name came from).
FERRY_API Result<std::string> resolve_session(std::string_view explicit_session = {});

// The runtime directory of `session` (already validated by resolve_session). With
// `create`, missing directories are created with mode 0700. Without it, a missing
// directory is not_found. Errors: permission (wrong owner, group/other bits, not a
// directory, a symlink), naming the path, the mode and owner found, and the fix.
FERRY_API Result<std::string> session_dir(std::string_view session, bool create);

// This user's sessions that have a runtime directory, by name (ferry exporter
// --all-sessions): the entries of the base directory that are session names and pass the
// same checks as session_dir(). None when the base directory does not exist; permission when
// it fails its checks.
FERRY_API Result<std::vector<std::string>> list_sessions();

// An explicit socket path (ServerOptions::socket_path, ClientOptions::socket_path): absolute,
// in a real directory (not a symlink) that neither group nor others may write, so nobody
// else can put a socket there, and owned by you or root; with `any_owner` (a client
// reaching another user's server) owned by anyone. permission or invalid_argument
// otherwise, naming the path, what was found and the fix.
FERRY_API Result<void> check_socket_dir(std::string_view socket_path, bool any_owner);

// What cleanup_session() did.
struct CleanupReport {
  std::vector<std::string> removed;  // every path removed, lock files last
  std::vector<std::string> alive;    // lock files a live process holds: "<path> (pid N)"
  std::vector<std::string> unowned;  // named segments with no lock file: left alone
  // Lock files that could not be checked (a directory, a symlink, a file we may not open):
  // what is wrong and what to do. Their endpoints' objects are left alone; the rest of the
  // session is cleaned up all the same.
  std::vector<std::string> problems;
};

// Removes the objects of `session` (this user's) whose owner is dead: for each
// "<name>.lock" in the session directory that no live process holds, "<name>.sock" and the
// named segment "ferry.<uid>.<session>.<name>" (shm_object_name()), then the lock itself;
// and sockets without a lock file that nobody listens on, including the temporary names a
// server binds before it publishes its socket (".ferry-tmp.<pid>.<n>", left by a process
// killed in that moment). An owner holds its lock for its lifetime (servers do, for their
// endpoint), and the kernel drops it when the owner dies, so a live owner's objects are
// never removed. Run by ferryd at start-up and shutdown and by `ferry cleanup`. A missing
// session directory is an empty report.
FERRY_API Result<CleanupReport> cleanup_session(std::string_view session);

// "<dir>/<endpoint>.sock". `endpoint` is 1-64 characters of [A-Za-z0-9_-]; the path must
// fit a sockaddr_un (at most 107 bytes). invalid_argument otherwise, naming both.
FERRY_API Result<std::string> endpoint_socket_path(std::string_view dir, std::string_view endpoint);

}  // namespace ferry
