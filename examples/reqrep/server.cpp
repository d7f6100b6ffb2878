// SPDX-License-Identifier: Apache-2.0
// examples/reqrep/server.cpp: a request/response server on its own endpoint ("calc").
// It answers type 1 (add two 64-bit integers, a trivially-copyable struct read in place)
// and type 2 (text: returns it reversed), until SIGINT/SIGTERM or a type 3 message.
//
//   build/bin/example-reqrep-server &   build/bin/example-reqrep-client
#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include "ferry/server.hpp"
#include "ferry/typed.hpp"

struct AddRequest {
  std::int64_t a;
  std::int64_t b;
};

namespace {
ferry::Server* g_server = nullptr;
extern "C" void on_signal(int) {
  g_server->stop();
}
}  // namespace

int main() {
  ferry::ServerOptions options;
  options.endpoint = "calc";
  auto created = ferry::Server::create(options);
  if (!created) {
    std::fprintf(stderr, "example server: %s\n", created.error().message().c_str());
    return 1;
  }
  ferry::Server server = std::move(*created);  // a move-only value, like ferry::Client
  server.on(1, [](ferry::Request& r) {
    auto add = ferry::view_as<AddRequest>(r.payload());  // size and alignment checked
    if (!add) {
      (void)r.reply_error(add.error().message());
      return;
    }
    const std::int64_t sum = (*add)->a + (*add)->b;
    (void)r.reply(ferry::bytes_of(sum));
  });
  server.on(2, [](ferry::Request& r) {
    std::string text(r.message().text());
    std::reverse(text.begin(), text.end());
    (void)r.reply(std::as_bytes(std::span(text)));
  });
  // This handler and the signal handler hold server's address: it is not moved after this.
  server.on(3, [&server](ferry::Request&) { server.stop(); });
  g_server = &server;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  std::printf("example server: listening on %s\n", server.socket_path().c_str());
  std::fflush(stdout);
  auto r = server.run();
  std::printf("example server: served %llu messages\n",
              static_cast<unsigned long long>(server.stats().messages_in));
  return r ? 0 : 1;
}
