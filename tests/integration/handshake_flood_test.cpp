// SPDX-License-Identifier: Apache-2.0
// Before authentication: a flood of connections that never say hello, beyond the server's
// descriptor limit. The server (a child process with RLIMIT_NOFILE lowered to 256) must not
// spin on a listener it cannot serve (accept() failing with EMFILE), must bound the
// handshakes it holds, and must let honest clients in as soon as the flood goes away.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "control/unix_socket.hpp"
#include "ferry/client.hpp"
#include "ferry/server.hpp"
#include "support/endpoint_support.hpp"
#include "support/ferryd_process.hpp"
#include "support/server_child.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::uint16_t kEcho = 1;

int serve_with_few_descriptors() {
  const rlimit few{256, 256};
  if (::setrlimit(RLIMIT_NOFILE, &few) != 0) return 2;
  ServerOptions options;
  options.endpoint = "flood";
  options.max_connections = 16;
  options.handshake_timeout = 10s;  // longer than the test: only the flood's end frees them
  auto server = Server::create(options);
  if (!server) return 3;
  server->on(kEcho, [](Request& r) {
    if (r.reply(r.payload()).code() == Errc::would_block) r.retry_later();
  });
  for (;;) {
    if (!server->run()) return 4;
  }
}

TEST(HandshakeFlood, SilentConnectionsBeyondTheDescriptorLimitNeitherSpinNorLockOut) {
  test::ScopedSession session("flood");
  test::ServerChild server("flood", serve_with_few_descriptors);
  ASSERT_TRUE(server.ready());
  test::Watchdog watchdog(60s, "handshake flood");
  ClientOptions options;
  options.endpoint = "flood";
  auto probe = Client::connect(options);
  ASSERT_TRUE(probe) << probe.error().message();
  const std::string path = probe->socket_path();

  // More silent connections than the server has descriptors: the kernel queues what the
  // server does not accept (backlog 1024).
  std::vector<UniqueFd> silent;
  for (int i = 0; i < 400; ++i) {
    auto s = detail::connect_seqpacket(path, 2000ms);
    ASSERT_TRUE(s) << "silent connection " << i << ": " << s.error().message();
    silent.push_back(std::move(*s));
  }
  std::this_thread::sleep_for(200ms);  // let the server take in what it will
  const long cpu_before = test::cpu_ms(server.pid());
  std::this_thread::sleep_for(1s);
  const long cpu_used = test::cpu_ms(server.pid()) - cpu_before;
  std::printf("400 silent connections: the server used %ld ms of CPU in 1 s, holds %zu fds\n",
              cpu_used, test::open_fds(server.pid()));
  EXPECT_LT(cpu_used, 200) << "the server spun on a listener it could not serve";
  EXPECT_LE(test::open_fds(server.pid()), 256u);
  // A connected client is not held up meanwhile.
  auto reply = probe->request(kEcho, test::as_bytes("during"), 2s);
  EXPECT_TRUE(reply) << reply.error().message();

  // The flood goes away: an honest client gets in at once.
  silent.clear();
  const auto start = Clock::now();
  options.connect_timeout = 5000ms;
  auto honest = Client::connect(options);
  ASSERT_TRUE(honest) << honest.error().message();
  reply = honest->request(kEcho, test::as_bytes("after"), 5s);
  ASSERT_TRUE(reply) << reply.error().message();
  const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  std::printf("after the flood: connected and answered in %lld ms\n",
              static_cast<long long>(waited.count()));
  EXPECT_LT(waited.count(), 1000) << "honest clients were locked out after the flood ended";
}

}  // namespace
}  // namespace ferry
