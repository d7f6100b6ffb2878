// tools/demo/participants.cpp: server, requester, publisher and subscriber
// (participants.hpp).
#include "participants.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "common/sequence.hpp"
#include "ferry/client.hpp"
#include "payload.hpp"

namespace ferry::demo {

namespace {

using namespace std::chrono_literals;

// How long a subscriber waits for the last messages after the end of the run.
constexpr std::int64_t kDrainNs = 15'000'000'000;
// A request without a reply for this long counts as failed.
constexpr auto kRequestTimeout = 5s;
// Publishers wake at most this often and send every message that has come due.
constexpr std::int64_t kTickNs = 1'000'000;

class Participant {
 public:
  Participant(Role role, std::uint32_t index, std::size_t slot, const Plan& plan,
              const Shared& shared)
      : role_(role), index_(index), plan_(plan), shared_(shared), slot_(shared.slot(slot)) {}

  int run() {
    if (!connect()) return 1;
    switch (role_) {
      case Role::server: return serve();
      case Role::requester: return request();
      case Role::publisher: return publish();
      case Role::subscriber: return subscribe();
    }
    return 1;
  }

 private:
  Board& board() const noexcept { return shared_.board(); }
  bool aborted() const noexcept { return board().abort.load(std::memory_order_relaxed) != 0; }

  // Records why this participant gives up, stops everyone, returns the exit status.
  int fail(const std::string& why) {
    std::snprintf(slot_.failure, sizeof slot_.failure, "%s %u: %s", role_name(role_), index_,
                  why.c_str());
    board().abort.store(1, std::memory_order_relaxed);
    return 1;
  }

  bool connect() {
    ferry::ClientOptions options;
    options.endpoint = plan_.endpoint;
    options.session = plan_.session;
    options.name = std::string("ferry-demo-") + role_name(role_) + "-" + std::to_string(index_);
    // The default, said out loud: spin briefly, then sleep. With 33 processes on a few
    // cores nobody may spin for long.
    options.wait.strategy = ferry::WaitStrategy::hybrid;
    auto c = ferry::Client::connect(options);
    // Everyone connects at once: give ferryd a moment if it is busy.
    for (int i = 0; i < 50 && !c && c.code() == ferry::Errc::busy; ++i) {
      std::this_thread::sleep_for(20ms);
      c = ferry::Client::connect(options);
    }
    if (!c) {
      fail("cannot connect: " + c.error().message());
      return false;
    }
    client_ = std::move(*c);
    return true;
  }

  void ready() { board().ready.fetch_add(1, std::memory_order_release); }

  // Waits until the orchestrator starts the run; false when it was aborted instead.
  bool wait_for_go() {
    while (board().go_ns.load(std::memory_order_acquire) == 0) {
      if (aborted()) return false;
      std::this_thread::sleep_for(1ms);
    }
    const std::int64_t go = board().go_ns.load(std::memory_order_acquire);
    while (ferry::tools::now_ns() < go) std::this_thread::sleep_for(100us);
    return true;
  }

  void count(std::uint64_t n) { slot_.count.store(n, std::memory_order_relaxed); }

  int serve() {
    if (auto r = client_.serve(kRequestType); !r) return fail("serve: " + r.error().message());
    ready();
    std::vector<std::byte> out(plan_.size);
    std::uint64_t served = 0;
    std::string failure;
    const ferry::Client::Handler handler = [&](const ferry::Message& m) {
      if (!m.is_request() || !failure.empty()) return;
      out.resize(m.payload.size());
      invert(m.payload, out);
      if (auto r = client_.reply(m, out); !r) {
        failure = "reply: " + r.error().message();
        return;
      }
      count(++served);
    };
    while (board().stop_servers.load(std::memory_order_relaxed) == 0 && !aborted()) {
      auto n = client_.wait(handler, 20ms);
      if (!n) return fail("wait: " + n.error().message());
      if (!failure.empty()) return fail(failure);
    }
    return 0;
  }

  int request() {
    ready();
    if (!wait_for_go()) return 1;
    const std::int64_t end = board().end_ns.load(std::memory_order_acquire);
    std::vector<std::byte> req(plan_.size);
    Errors errors;
    std::uint64_t done = 0;
    for (std::uint64_t seq = 0; !aborted(); ++seq) {
      fill(req, kRequest, index_, seq, 0);
      const std::int64_t t0 = ferry::tools::now_ns();
      if (t0 >= end) break;
      std::memcpy(req.data() + offsetof(Head, stamp_ns), &t0, sizeof t0);
      auto reply = client_.request(kRequestType, req, kRequestTimeout);
      const std::int64_t t1 = ferry::tools::now_ns();
      if (!reply) {
        ++errors.failed;
        if (reply.code() != ferry::Errc::timed_out && reply.code() != ferry::Errc::remote) {
          slot_.errors = errors;
          return fail("request: " + reply.error().message());
        }
        continue;
      }
      if (!is_inverse(req, reply->payload)) ++errors.corrupt;
      slot_.latency.add(static_cast<std::uint64_t>(t1 - t0));
      slot_.last_ns = t1;
      count(++done);
    }
    slot_.errors = errors;
    return 0;
  }

  int publish() {
    ready();
    if (!wait_for_go()) return 1;
    const std::int64_t go = board().go_ns.load(std::memory_order_acquire);
    const std::int64_t end = board().end_ns.load(std::memory_order_acquire);
    // Message k of publisher i is due at go + (i + k * publishers) / rate: the publishers
    // take turns, and together send `rate` messages a second. A late publisher catches up.
    const double spacing_ns = 1e9 / plan_.rate;
    const auto due = [&](std::uint64_t k) {
      const double slot = static_cast<double>(index_) +
                          static_cast<double>(k) * static_cast<double>(plan_.publishers);
      return go + static_cast<std::int64_t>(std::llround(slot * spacing_ns));
    };
    std::uint64_t seq = 0;   // sequence numbers used
    std::uint64_t sent = 0;  // messages sent (one fewer than seq under --inject-error)
    std::uint64_t k = 0;
    while (!aborted()) {
      const std::int64_t now = ferry::tools::now_ns();
      for (; due(k) <= now && due(k) < end; ++k) {
        if (plan_.inject_error && index_ == 0 && seq == kInjectedGap) ++seq;  // "lost"
        // Stamped before reserve(): time spent waiting for room (backpressure) counts.
        const std::int64_t stamp = ferry::tools::now_ns();
        auto room = client_.reserve(plan_.size);  // zero-copy: written in place
        if (!room) return fail("publish: " + room.error().message());
        fill(*room, kData, index_, seq, stamp);
        client_.commit(plan_.size, kPublishType);
        ++seq;
        count(++sent);
      }
      if (due(k) >= end) break;
      const timespec at = ferry::tools::to_timespec(std::max(due(k), now + kTickNs));
      while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
      }
    }
    slot_.published.store(seq, std::memory_order_release);
    if (aborted()) return 1;
    // The end marker travels behind this publisher's last message: a subscriber that has
    // it has everything (ferryd keeps each publisher's order).
    Head marker{kEnd, index_, seq, ferry::tools::now_ns(), 0};
    std::byte bytes[sizeof marker];
    std::memcpy(bytes, &marker, sizeof marker);
    if (auto r = client_.send(kPublishType, bytes); !r) {
      return fail("end marker: " + r.error().message());
    }
    return 0;
  }

  // What one subscriber knows of one publisher.
  int subscribe() {
    if (auto r = client_.subscribe(kPublishType); !r) {
      return fail("subscribe: " + r.error().message());
    }
    ready();
    ferry::tools::SequenceTracker sequences(plan_.publishers);
    std::uint32_t ended = 0;
    std::uint64_t received = 0;
    Errors errors;
    const ferry::Client::Handler handler = [&](const ferry::Message& m) {
      const std::int64_t now = ferry::tools::now_ns();
      Head h;
      if (!read_head(m.payload, h) || h.who >= plan_.publishers) {
        ++errors.corrupt;
        return;
      }
      if (h.kind == kEnd && m.payload.size() == sizeof(Head)) {
        if (sequences.ended(h.who)) {
          ++errors.duplicated;
        } else {
          sequences.on_end(h.who, h.seq);
          ++ended;
        }
        return;
      }
      if (h.kind != kData || m.payload.size() != plan_.size || !pattern_ok(m.payload, h) ||
          h.seq >= (std::uint64_t{1} << 32)) {
        ++errors.corrupt;
        return;
      }
      slot_.latency.add(now > h.stamp_ns ? static_cast<std::uint64_t>(now - h.stamp_ns) : 0);
      slot_.last_ns = now;
      sequences.on_message(h.who, h.seq);
      count(++received);
    };
    std::string late;
    while (ended < plan_.publishers) {
      if (aborted()) return 1;
      const std::int64_t end = board().end_ns.load(std::memory_order_acquire);
      if (end != 0 && ferry::tools::now_ns() > end + kDrainNs) {
        late = "only " + std::to_string(ended) + " of " + std::to_string(plan_.publishers) +
               " publishers' end markers arrived";
        break;
      }
      auto n = client_.wait(handler, 50ms);
      if (!n) return fail("wait: " + n.error().message());
    }
    for (std::uint32_t i = 0; i < plan_.publishers; ++i) {
      // Without its end marker, the publisher's own count (published before the marker).
      if (!sequences.ended(i)) {
        sequences.on_end(i,
                         shared_.slot(publisher_slot(i)).published.load(std::memory_order_acquire));
      }
    }
    const ferry::tools::SequenceTracker::Counts c = sequences.counts();
    errors.lost += c.lost;
    errors.duplicated += c.duplicated;
    errors.reordered += c.reordered;
    errors.corrupt += c.unexpected;  // after its end marker, or beyond what it published
    slot_.errors = errors;
    if (!late.empty()) std::snprintf(slot_.failure, sizeof slot_.failure, "%s", late.c_str());
    return 0;
  }

  // Slots are laid out servers, requesters, publishers, subscribers (main.cpp).
  std::size_t publisher_slot(std::size_t i) const noexcept {
    return plan_.servers + plan_.requesters + i;
  }

  Role role_;
  std::uint32_t index_;
  const Plan& plan_;
  const Shared& shared_;
  Slot& slot_;
  ferry::Client client_;
};

}  // namespace

const char* role_name(Role role) noexcept {
  switch (role) {
    case Role::server: return "server";
    case Role::requester: return "requester";
    case Role::publisher: return "publisher";
    case Role::subscriber: return "subscriber";
  }
  return "?";
}

int run_participant(Role role, std::uint32_t index, std::size_t slot, const Plan& plan,
                    const Shared& shared) {
  Participant p(role, index, slot, plan, shared);
  return p.run();
}

}  // namespace ferry::demo
