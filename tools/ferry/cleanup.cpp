// SPDX-License-Identifier: Apache-2.0
// ferry cleanup: removes the stale objects of dead owners in a session, by hand
// (ferry::cleanup_session(); ferryd does the same at start-up and shutdown).
#include <unistd.h>

#include <array>
#include <string>

#include "cli.hpp"
#include "ferry/session.hpp"

namespace ferry::cli {

namespace {
constexpr std::array kCleanupFlags = {kSessionFlag, kHelpFlag};
}  // namespace

int run_cleanup(const Common& global, std::span<const std::string> argv) {
  auto args = parse_args("cleanup", argv, kCleanupFlags);
  if (!args) return fail(kExitUsage, "cleanup: " + args.error().message());
  if (args->has("--help")) {
    (void)write_all(
        STDOUT_FILENO,
        usage_text("ferry cleanup [--session NAME]",
                   "Removes the sockets, lock files and named shared-memory segments of "
                   "this user's\nsession whose owner has died, and lists them. Objects "
                   "of live owners are never\ntouched (each owner holds a lock for its "
                   "lifetime); they are listed as alive.\nA lock file it cannot check (a "
                   "directory, a symlink, one it may not open) is\nlisted as a problem (exit "
                   "status 1); the rest is cleaned up all the same.",
                   kCleanupFlags, local_exit_codes_text()));
    return kExitOk;
  }
  auto where = common_options(global, *args);
  if (!where) return fail(kExitUsage, "cleanup: " + where.error().message());
  auto session = resolve_session(where->session);
  if (!session) return fail(kExitUsage, "cleanup: " + session.error().message());
  auto report = cleanup_session(*session);
  if (!report) return fail(kExitError, "cleanup: " + report.error().message());
  std::string out;
  for (const std::string& p : report->removed) out += "removed " + p + "\n";
  for (const std::string& p : report->alive) out += "alive   " + p + "\n";
  for (const std::string& p : report->unowned)
    out += "unowned " + p + " (no lock file: left alone)\n";
  for (const std::string& p : report->problems) out += "problem " + p + "\n";
  out += "session " + *session + ": " + std::to_string(report->removed.size()) + " removed, " +
         std::to_string(report->alive.size()) + " alive\n";
  (void)write_all(STDOUT_FILENO, out);
  if (!report->problems.empty()) {
    return fail(kExitError, "cleanup: " + std::to_string(report->problems.size()) +
                                " lock file(s) could not be checked (see the problem lines); "
                                "the rest of the session was cleaned up");
  }
  return kExitOk;
}

}  // namespace ferry::cli
