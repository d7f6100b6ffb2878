// tools/common/service_notify.hpp: telling systemd that a daemon (ferryd, ferry-gateway) is
// ready, or stopping (a unit with Type=notify waits for READY=1 before it counts it started).
// Thread-safety: a plain function; it reads the environment.
#pragma once

#include <string_view>

#include "ferry/result.hpp"

namespace ferry::tools {

// Sends `state` ("READY=1", "STOPPING=1", ...) to the service manager's notification socket
// named by $NOTIFY_SOCKET: an AF_UNIX datagram socket, a path or, starting with '@', an
// abstract name. Without $NOTIFY_SOCKET (not started by a Type=notify unit) it does nothing.
// Errors name the socket and the cause.
ferry::Result<void> notify_service_manager(std::string_view state);

}  // namespace ferry::tools
