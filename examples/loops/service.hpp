// SPDX-License-Identifier: Apache-2.0
// examples/loops/service.hpp: what both loop examples serve, so that they differ only in
// the loop. A Server of its own (endpoint from the command line) answers requests of type 1
// with the text in upper case; a Client of ferryd's bus receives the notes published as
// type 42 and prints each. Both go into one ferry::WaitSet, which the host loop waits on.
#pragma once

#include <cctype>
#include <cstdio>
#include <optional>
#include <string>

#include "ferry/client.hpp"
#include "ferry/server.hpp"
#include "ferry/wait_set.hpp"

namespace example {

inline constexpr std::uint16_t kUpper = 1;  // a request: the text, upper-cased
inline constexpr std::uint16_t kNote = 42;  // published on the bus: printed

struct Service {
  std::optional<ferry::Server> server;  // set up by start(); stays put (the set holds it)
  ferry::Client bus;
  std::optional<ferry::WaitSet> set;  // set up by start()
  int answered = 0;
  int notes = 0;
};

// Sets everything up; prints the reason and returns false when something is missing (is
// ferryd running?).
inline bool start(Service& s, const char* name, const char* endpoint) {
  auto fail = [name](const ferry::Error& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.message().c_str());
    return false;
  };
  ferry::ServerOptions options;
  options.endpoint = endpoint;
  auto server = ferry::Server::create(options);
  if (!server) return fail(server.error());
  s.server.emplace(std::move(*server));
  s.server->on(kUpper, [&s](ferry::Request& r) {
    std::string text(r.message().text());
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (auto ok = r.reply(text); ok) ++s.answered;
  });
  auto bus = ferry::Client::connect();  // ferryd's endpoint "bus"
  if (!bus) return fail(bus.error());
  s.bus = std::move(*bus);
  if (auto ok = s.bus.subscribe(kNote); !ok) return fail(ok.error());
  auto set = ferry::WaitSet::create();
  if (!set) return fail(set.error());
  s.set.emplace(std::move(*set));
  auto print_note = [&s, name](const ferry::Message& m) {
    if (m.type != kNote) return;
    ++s.notes;
    std::printf("%s: note \"%.*s\"\n", name, static_cast<int>(m.payload.size()),
                reinterpret_cast<const char*>(m.payload.data()));
    std::fflush(stdout);
  };
  if (auto ok = s.set->add(s.bus, print_note); !ok) return fail(ok.error());
  if (auto ok = s.set->add(*s.server); !ok) return fail(ok.error());
  std::printf("%s: ready\n", name);
  std::fflush(stdout);
  return true;
}

inline void report(const Service& s, const char* name) {
  std::printf("%s: stopped after %d answers and %d notes\n", name, s.answered, s.notes);
}

}  // namespace example
