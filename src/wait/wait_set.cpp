// SPDX-License-Identifier: Apache-2.0
// wait_set.cpp: several clients and servers on one epoll descriptor (ferry/wait_set.hpp).
//
// A server's fd() never changes; a client's changes when it reconnects (and is -1 while it
// has none), so each client is registered again when its links() count changes. A registration of a
// closed descriptor goes away with it in the kernel, so an old one never needs removing. A client
// without a connection has nothing to wait on: a timer in the epoll set then wakes the thread every
// 10 ms so that its turns try to reconnect.
#include "ferry/wait_set.hpp"

#include <sys/epoll.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <utility>
#include <vector>

#include "ferry/unique_fd.hpp"

namespace ferry {

namespace {
// The longest sleep while a client has no connection: its reconnection is tried in its turn.
constexpr std::chrono::milliseconds kReconnectTick{10};
}  // namespace

struct WaitSet::Impl {
  struct Member {
    Client* client = nullptr;
    Server* server = nullptr;
    Client::Handler handler;
    std::size_t max_per_turn = 0;
    int registered_fd = -1;             // the descriptor epoll holds for it, or -1
    std::uint32_t registered_link = 0;  // a client's links() when it was registered
  };
  UniqueFd epoll;
  UniqueFd timer;  // in `epoll`; set while a client has no connection
  bool timer_set = false;
  std::vector<Member> members;

  bool has(const void* member) const {
    return std::any_of(members.begin(), members.end(),
                       [&](const Member& m) { return m.client == member || m.server == member; });
  }

  // Registers `m`'s current descriptor if it is new. False when the member has none.
  Result<bool> track(Member& m) const {
    const int fd = m.client ? m.client->fd() : m.server->fd();
    if (fd < 0) return false;
    const std::uint32_t link = m.client ? m.client->links() : 0;
    if (fd == m.registered_fd && link == m.registered_link) return true;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &ev) != 0 &&
        (errno != EEXIST || ::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, fd, &ev) != 0)) {
      return Error::from_errno(errno, "cannot add a member's descriptor to the wait set");
    }
    m.registered_fd = fd;
    m.registered_link = link;
    return true;
  }

  void forget(std::vector<Member>::iterator it) {
    const int fd = it->client ? it->client->fd() : it->server->fd();
    // Only while it is still the registered descriptor (a new one is not in the set).
    if (fd >= 0 && fd == it->registered_fd &&
        (!it->client || it->client->links() == it->registered_link)) {
      ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
    }
    members.erase(it);
  }

  // One turn for every member; the client messages handled.
  Result<std::size_t> turn() {
    std::size_t handled = 0;
    for (Member& m : members) {
      if (m.server) {
        if (auto r = m.server->run_once(std::chrono::nanoseconds(0)); !r) return r.error();
        continue;
      }
      auto n = m.client->poll(m.handler, m.max_per_turn);
      if (!n) return n.error();
      handled += *n;
    }
    return handled;
  }

  // Announces that this thread sleeps. False: a member has work.
  Result<bool> arm() {
    bool unconnected = false;
    for (Member& m : members) {
      auto tracked = track(m);
      if (!tracked) return tracked.error();
      if (!*tracked) {
        unconnected = true;
        continue;
      }
      if (!(m.client ? m.client->prepare_wait() : m.server->prepare_wait())) return false;
    }
    // Setting the timer also clears an expiry already counted; a syscall only while a
    // client is unconnected or just after.
    if (unconnected || timer_set) {
      itimerspec due{};
      due.it_value.tv_nsec = unconnected ? std::chrono::nanoseconds(kReconnectTick).count() : 0;
      if (::timerfd_settime(timer.get(), 0, &due, nullptr) != 0) {
        return Error::from_errno(errno, "cannot set the wait set's reconnection timer");
      }
      timer_set = unconnected;
    }
    return true;
  }
};

Result<WaitSet> WaitSet::create() {
  auto impl = std::make_unique<Impl>();
  impl->epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!impl->epoll)
    return Error::from_errno(errno, "cannot create the wait set's epoll descriptor");
  impl->timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = impl->timer.get();
  if (!impl->timer || ::epoll_ctl(impl->epoll.get(), EPOLL_CTL_ADD, impl->timer.get(), &ev) != 0) {
    return Error::from_errno(errno, "cannot create the wait set's timer");
  }
  return WaitSet(std::move(impl));
}

WaitSet::WaitSet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WaitSet::WaitSet(WaitSet&& other) noexcept = default;
WaitSet& WaitSet::operator=(WaitSet&& other) noexcept = default;
WaitSet::~WaitSet() = default;

Result<void> WaitSet::add(Client& client, Client::Handler handler, std::size_t max_per_turn) {
  if (impl_->has(&client))
    return Error(Errc::invalid_argument, "this client is already in the wait set");
  if (!handler) return Error(Errc::invalid_argument, "a client in a wait set needs a handler");
  if (max_per_turn == 0) return Error(Errc::invalid_argument, "max_per_turn must be at least 1");
  Impl::Member m;
  m.client = &client;
  m.handler = std::move(handler);
  m.max_per_turn = max_per_turn;
  impl_->members.push_back(std::move(m));
  return {};
}

Result<void> WaitSet::add(Server& server) {
  if (impl_->has(&server))
    return Error(Errc::invalid_argument, "this server is already in the wait set");
  Impl::Member m;
  m.server = &server;
  impl_->members.push_back(std::move(m));
  return {};
}

void WaitSet::remove(const Client& client) noexcept {
  auto& ms = impl_->members;
  auto it = std::find_if(ms.begin(), ms.end(),
                         [&](const Impl::Member& m) { return m.client == &client; });
  if (it != ms.end()) impl_->forget(it);
}

void WaitSet::remove(const Server& server) noexcept {
  auto& ms = impl_->members;
  auto it = std::find_if(ms.begin(), ms.end(),
                         [&](const Impl::Member& m) { return m.server == &server; });
  if (it != ms.end()) impl_->forget(it);
}

std::size_t WaitSet::size() const noexcept {
  return impl_->members.size();
}

Result<std::size_t> WaitSet::run_once(std::chrono::nanoseconds timeout) {
  auto handled = impl_->turn();
  if (!handled || *handled > 0 || timeout <= std::chrono::nanoseconds(0)) return handled;
  auto armed = impl_->arm();
  if (!armed) return armed.error();
  if (*armed) {
    // Round up so that a wait of less than a millisecond still sleeps.
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
    const int timeout_ms = ms > INT32_MAX ? -1 : static_cast<int>(ms);
    epoll_event events[16];
    if (::epoll_wait(impl_->epoll.get(), events, 16, timeout_ms) < 0 && errno != EINTR) {
      return Error::from_errno(errno, "the wait set's epoll_wait failed");
    }
  }
  return impl_->turn();
}

int WaitSet::fd() const noexcept {
  return impl_->epoll.get();
}

bool WaitSet::prepare_wait() {
  auto armed = impl_->arm();
  return armed && *armed;  // on an error, run_once() reports it
}

}  // namespace ferry
