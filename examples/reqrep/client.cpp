// SPDX-License-Identifier: Apache-2.0
// examples/reqrep/client.cpp: asks the example server to add numbers and reverse text,
// checks the answers, then tells it to stop. Exit status 0 when every answer was right.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "ferry/client.hpp"
#include "ferry/typed.hpp"

struct AddRequest {
  std::int64_t a;
  std::int64_t b;
};

int main() {
  using namespace std::chrono_literals;
  ferry::ClientOptions options;
  options.endpoint = "calc";
  // The server may still be starting: retry for a moment.
  auto client = ferry::Client::connect(options);
  for (int i = 0; i < 100 && !client && client.code() == ferry::Errc::not_found; ++i) {
    std::this_thread::sleep_for(20ms);
    client = ferry::Client::connect(options);
  }
  if (!client) {
    std::fprintf(stderr, "example client: %s\n", client.error().message().c_str());
    return 1;
  }
  for (std::int64_t i = 0; i < 1000; ++i) {
    const AddRequest q{i, 2 * i};
    auto reply = client->request(1, ferry::bytes_of(q), 1s);
    if (!reply) {
      std::fprintf(stderr, "example client: %s\n", reply.error().message().c_str());
      return 1;
    }
    auto sum = ferry::view_as<std::int64_t>(reply->payload);
    if (!sum || **sum != 3 * i) {
      std::fprintf(stderr, "example client: %lld + %lld came back wrong\n",
                   static_cast<long long>(i), static_cast<long long>(2 * i));
      return 1;
    }
  }
  const std::string text = "ferry";
  auto reversed = client->request(2, std::as_bytes(std::span(text)), 1s);
  if (!reversed || reversed->text() != "yrref") {
    std::fprintf(stderr, "example client: reverse failed\n");
    return 1;
  }
  std::printf("example client: 1000 sums and one reversal checked\n");
  return client->send(3, {}) ? 0 : 1;
}
