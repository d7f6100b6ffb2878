// SPDX-License-Identifier: Apache-2.0
// ferry/wait_set.hpp: one thread waiting on several clients and servers at once.
//
//   auto set = ferry::WaitSet::create().value();
//   set.add(prices, [](const ferry::Message& m) { ... });  // a Client and its handler
//   set.add(orders, [](const ferry::Message& m) { ... });
//   set.add(server);                                       // a Server: its handlers run
//   while (running) (void)set.run_once(std::chrono::seconds(1));
//
// run_once() gives every member a turn (poll() for a client, run_once(0) for a server);
// when no client message came, it announces that the thread sleeps (each member's
// prepare_wait()), sleeps up to the timeout on one epoll descriptor and gives every member
// another turn. While messages flow nobody sleeps and no wake-up syscall is made, as with
// a single client. A client that lost its server reconnects inside its turn (see
// client.hpp); while it has no connection the set sleeps at most 10 ms at a time so that its
// reconnection pauses are kept.
//
// Nested in a loop of your own (epoll, poll, Asio): fd() becomes readable when a member may
// have work, but only after prepare_wait() returned true; then call run_once(0). This is
// the same contract as Client::fd() and Server::fd() (examples/loops/ shows both).
//
// The set keeps references: a member must stay where it is (not moved) and alive until it
// is removed or the set is gone. A turn costs a few loads per member; a set is meant for a
// handful to a few dozen members, not for thousands (a Server already serves thousands of
// connections in one turn).
// Thread-safety: like a Client: one thread at a time, and that thread drives the members.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "ferry/client.hpp"
#include "ferry/export.hpp"
#include "ferry/result.hpp"
#include "ferry/server.hpp"

namespace ferry {

class FERRY_API WaitSet {
 public:
  // Errors: no_memory or system when the epoll descriptor cannot be made (say, at the
  // descriptor limit).
  static Result<WaitSet> create();
  WaitSet(WaitSet&& other) noexcept;
  WaitSet& operator=(WaitSet&& other) noexcept;
  WaitSet(const WaitSet&) = delete;
  WaitSet& operator=(const WaitSet&) = delete;
  ~WaitSet();

  // Adds a client whose messages go to `handler`, at most `max_per_turn` per turn (so that
  // one busy client cannot starve the others). Adding a member twice is invalid_argument.
  Result<void> add(Client& client, Client::Handler handler, std::size_t max_per_turn = 256);
  Result<void> add(Server& server);
  // Forgets a member (nothing happens if it is not in the set).
  void remove(const Client& client) noexcept;
  void remove(const Server& server) noexcept;
  std::size_t size() const noexcept;

  // One turn for every member, then (if no client message came) a wait of up to `timeout`
  // and another turn. Returns the client messages handed to handlers. An error from a
  // member (a client with reconnect off whose server went away: Errc::disconnected) is
  // returned at once; the members after it get their turn on the next call. Remove a
  // member that keeps failing.
  Result<std::size_t> run_once(std::chrono::nanoseconds timeout);

  // For a loop of your own (see above).
  int fd() const noexcept;
  bool prepare_wait();

  struct Impl;

 private:
  explicit WaitSet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ferry
