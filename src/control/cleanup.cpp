// SPDX-License-Identifier: Apache-2.0
// cleanup_session() (ferry/session.hpp): stale objects of dead owners.
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <string>

#include "control/owner_lock.hpp"
#include "control/unix_socket.hpp"
#include "ferry/session.hpp"
#include "ferry/shm.hpp"

namespace ferry {

namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() > suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The entries of `dir` (empty when it cannot be read).
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

bool is_socket(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Removes the socket at `path` if nobody listens on it: a dead server's.
void remove_if_nobody_listens(const std::string& path, CleanupReport& report) {
  if (is_socket(path) && detail::nobody_listens(path) && ::unlink(path.c_str()) == 0) {
    report.removed.push_back(path);
  }
}

}  // namespace

Result<CleanupReport> cleanup_session(std::string_view session) {
  CleanupReport report;
  auto dir = session_dir(session, false);
  if (!dir && dir.code() != Errc::not_found) return dir.error();
  // Names with a lock or a socket in the directory, and named segments of this session.
  std::set<std::string> locked;
  std::set<std::string> sockets;
  std::vector<std::string> temporaries;  // sockets bound by listen_seqpacket(), not yet renamed
  if (dir) {
    for (const std::string& e : entries(*dir)) {
      if (ends_with(e, ".lock")) locked.insert(e.substr(0, e.size() - 5));
      if (ends_with(e, ".sock")) sockets.insert(e.substr(0, e.size() - 5));
      if (detail::is_temporary_socket_name(e)) temporaries.push_back(e);
    }
  }
  auto prefix = shm_object_name(session, "x");
  if (!prefix) return prefix.error();
  prefix->pop_back();  // "ferry.<uid>.<session>."
  std::set<std::string> segments;
  for (const std::string& e : entries("/dev/shm")) {
    if (e.size() > prefix->size() && e.compare(0, prefix->size(), *prefix) == 0) {
      segments.insert(e.substr(prefix->size()));
    }
  }

  for (const std::string& name : locked) {
    const std::string lock_path = *dir + "/" + name + ".lock";
    auto claim = detail::OwnerLock::claim_if_dead(lock_path);
    if (!claim) {
      // Not a lock file we can use: say so, leave its endpoint alone, go on with the rest.
      report.problems.push_back(claim.error().message());
      continue;
    }
    if (!*claim) {
      report.alive.push_back(lock_path + " (" + detail::lock_holder_text(lock_path) + ")");
      continue;
    }
    // Ours now: nobody can take this name until the lock file is gone.
    const std::string socket = *dir + "/" + name + ".sock";
    if (is_socket(socket) && ::unlink(socket.c_str()) == 0) report.removed.push_back(socket);
    if (segments.contains(name)) {
      const std::string object = *prefix + name;
      if (SharedMemory::unlink_named(object)) report.removed.push_back("/dev/shm/" + object);
    }
    (*claim)->remove();
    report.removed.push_back(lock_path);
  }
  for (const std::string& name : sockets) {
    if (!locked.contains(name)) remove_if_nobody_listens(*dir + "/" + name + ".sock", report);
  }
  // A temporary name is a socket a server was about to publish: one nobody listens on was
  // left by a killed process (one that has not reached listen() yet binds a new name if
  // this removes it).
  for (const std::string& name : temporaries) remove_if_nobody_listens(*dir + "/" + name, report);
  for (const std::string& name : segments) {
    if (!locked.contains(name)) report.unowned.push_back("/dev/shm/" + *prefix + name);
  }
  return report;
}

}  // namespace ferry
