// SPDX-License-Identifier: Apache-2.0
// ferryd's readiness: it tells systemd READY=1 (sd_notify, Type=notify) only once its
// endpoint accepts connections, STOPPING=1 when it stops; and the test helper that waits for
// it says why when ferryd never becomes ready.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "control/unix_socket.hpp"
#include "ferry/client.hpp"
#include "support/endpoint_support.hpp"
#include "support/ferryd_process.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

// With a dead server's socket at the path (a file that exists but refuses connections),
// READY=1 still comes only once the new ferryd listens: the first connect after it, without
// retrying, is accepted. The helper's default NOTIFY_SOCKET is an abstract name; this one is
// a path.
TEST(Readiness, ReadyOnlyOnceTheEndpointAcceptsConnectionsStoppingOnSigterm) {
  test::ScopedSession session("ready");
  auto dir = session_dir("ready", true);
  ASSERT_TRUE(dir) << dir.error().message();
  const std::string socket = *dir + "/bus.sock";
  ASSERT_TRUE(detail::listen_seqpacket(socket, 1));  // closed at once: a dead server's socket
  ASSERT_TRUE(detail::nobody_listens(socket));

  test::FerrydOptions options;
  options.notify_socket = session.dir() + "/notify.sock";
  test::FerrydProcess ferryd(options);
  ASSERT_TRUE(ferryd.ok());
  auto connected = detail::connect_seqpacket(ferryd.socket_path(), 0ms);
  EXPECT_TRUE(connected) << "connecting just after READY=1: " << connected.error().message();
  auto client = Client::connect();
  ASSERT_TRUE(client) << client.error().message();

  EXPECT_EQ(ferryd.stop(SIGTERM), 0);
  const auto stopping = ferryd.notification(1s);
  ASSERT_TRUE(stopping) << "no message after READY=1";
  EXPECT_TRUE(test::has_line(*stopping, "STOPPING=1")) << *stopping;
}

// The helper names what went wrong when ferryd exits before it is ready.
TEST(Readiness, TheHelperSaysWhenFerrydExitsBeforeItIsReady) {
  test::ScopedSession session("never-ready");
  test::FerrydProcess ferryd({"--bogus"});
  const auto ok = ferryd.ok();
  ASSERT_FALSE(ok);
  EXPECT_NE(std::string(ok.message()).find("ferryd exited with status 2 before it was ready"),
            std::string::npos)
      << ok.message();
}

}  // namespace
}  // namespace ferry
