// SPDX-License-Identifier: Apache-2.0
// examples/pubsub/subscriber.cpp: subscribes to type 42 on ferryd's bus, receives `count`
// readings, checks they arrive in order, prints a line when subscribed (so a script knows
// when to start publishing) and a summary at the end.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "ferry/client.hpp"
#include "ferry/typed.hpp"

struct Reading {
  std::uint32_t sensor;
  std::uint32_t seq;
  double celsius;
};

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  const int count = argc > 1 ? std::atoi(argv[1]) : 100;
  auto client = ferry::Client::connect();
  if (!client) {
    std::fprintf(stderr, "subscriber: %s\n", client.error().message().c_str());
    return 1;
  }
  if (auto r = client->subscribe(42); !r) {
    std::fprintf(stderr, "subscriber: %s\n", r.error().message().c_str());
    return 1;
  }
  std::printf("subscriber: subscribed\n");
  std::fflush(stdout);
  int got = 0;
  bool in_order = true;
  double last = 0;
  while (got < count) {
    auto n = client->wait(
        [&](const ferry::Message& m) {
          auto r = ferry::view_as<Reading>(m.payload);
          if (!r || (*r)->seq != static_cast<std::uint32_t>(got)) in_order = false;
          if (r) last = (*r)->celsius;
          ++got;
        },
        10s);
    if (!n || *n == 0) {
      std::fprintf(stderr, "subscriber: %s after %d readings\n",
                   n ? "nothing for 10 s" : n.error().message().c_str(), got);
      return 1;
    }
  }
  std::printf("subscriber: %d readings %s, last %.1f C\n", got,
              in_order ? "in order" : "OUT OF ORDER", last);
  return in_order ? 0 : 1;
}
