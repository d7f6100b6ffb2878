// SPDX-License-Identifier: Apache-2.0
// examples/pubsub/publisher.cpp: publishes `count` temperature readings (type 42) through
// ferryd's bus. Run ferryd first; start subscribers before publishing.
//
//   build/bin/ferryd &  build/bin/example-subscriber 100 &  build/bin/example-publisher 100
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
  const int count = argc > 1 ? std::atoi(argv[1]) : 100;
  auto client = ferry::Client::connect();  // ferryd's "bus" endpoint in this session
  if (!client) {
    std::fprintf(stderr, "publisher: %s\n", client.error().message().c_str());
    return 1;
  }
  for (int i = 0; i < count; ++i) {
    const Reading r{7, static_cast<std::uint32_t>(i), 20.0 + i * 0.5};
    if (auto sent = client->send(42, ferry::bytes_of(r)); !sent) {
      std::fprintf(stderr, "publisher: %s\n", sent.error().message().c_str());
      return 1;
    }
  }
  std::printf("publisher: sent %d readings\n", count);
  return 0;
}
