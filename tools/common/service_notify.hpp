// SPDX-License-Identifier: Apache-2.0
// tools/common/service_notify.hpp: telling whoever waits that a program is ready: systemd
// (a unit with Type=notify waits for READY=1 before it counts ferryd, ferry-gateway or
// ferry-bridge started), or the shell that ran it with --background (ferryd, `ferry
// subscribe`, `ferry serve`: the command returns once it is ready, the program carrying on
// in the background, so that the next command of a script finds it ready).
// Thread-safety: call start_in_background() before any thread is started; the rest are
// plain functions.
#pragma once

#include <string_view>

#include "ferry/result.hpp"

namespace ferry::tools {

// Sends `state` ("READY=1", "STOPPING=1", ...) to the service manager's notification socket
// named by $NOTIFY_SOCKET: an AF_UNIX datagram socket, a path or, starting with '@', an
// abstract name. Without $NOTIFY_SOCKET (not started by a Type=notify unit) it does nothing.
// Errors name the socket and the cause.
ferry::Result<void> notify_service_manager(std::string_view state);

// --background: forks. The calling process waits until the child (which returns from here
// and runs the rest of the program) calls background_ready(), then exits 0; if the child
// ends first (it failed to start), it exits with the child's status, the child having
// said why on stderr. Errors (returned in the caller) when it cannot fork.
ferry::Result<void> start_in_background();

// In the child of start_in_background(): tells the waiting parent it is ready (once; later
// calls do nothing). In any other process it does nothing.
void background_ready() noexcept;

}  // namespace ferry::tools
