// SPDX-License-Identifier: Apache-2.0
// bench/workload/naive_roles.cpp: the floor under every scenario, --transport naive
// (roles.hpp, docs/bench.md "The naive floor").
//
// The least a shared-memory transport can do, with the same harness and checks as ferry and
// uds: for each client a ring of fixed slots towards the server and one back, in one memfd
// the orchestrator creates (--rings-fd). A slot is a length and the payload; a record costs one
// copy (the producer writes it in place, a request or reply is copied once each way), no
// header, no CRC, no handshake, no connection or dispatch. The consumer waits by --wait:
// spinning, or sleeping on a futex that a producer wakes only when the consumer said it
// sleeps (the wake-up costs no syscall while it is awake); a producer facing a full ring polls
// for room every 50 us (spin: without pausing). One server polls all the clients' rings.
//
// Thread-safety: one thread per participant process; each ring has one producer and one
// consumer process.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <ctime>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/shared_region.hpp"
#include "workload/client_loop.hpp"
#include "workload/receiver.hpp"
#include "workload/roles.hpp"

namespace ferry::bench {

namespace {

constexpr std::size_t kRingBytes = std::size_t{1} << 20;  // each way, as ferry's default
constexpr std::int64_t kHybridSpinNs = 50'000;
constexpr std::int64_t kPatienceNs = 60'000'000'000;

// A futex word and the flag its sleeper raises; one cache line.
struct alignas(64) Sleeper {
  std::atomic<std::uint32_t> sleeping{0};
  std::atomic<std::uint32_t> word{0};
};

struct alignas(64) RingHead {
  alignas(64) std::atomic<std::uint64_t> tail{0};  // written by the producer
  alignas(64) std::atomic<std::uint64_t> head{0};  // written by the consumer
  Sleeper consumer;                                // replies: the client waiting for one
};

struct Geometry {
  std::size_t stride;  // bytes per slot: 8-byte length, payload, rounded to 64
  std::size_t slots;
  std::size_t ring;  // bytes per ring
  std::size_t total(std::uint32_t clients) const noexcept {
    return sizeof(Sleeper) + std::size_t{clients} * 2 * ring;
  }
};

Geometry geometry(const Options& o) {
  Geometry g{};
  g.stride = (8 + o.size + 63) / 64 * 64;
  g.slots = std::max<std::size_t>(16, kRingBytes / g.stride);
  g.ring = sizeof(RingHead) + g.slots * g.stride;
  return g;
}

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the futex is the word
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, nullptr, nullptr,
                   0);
}

// Wakes the sleeper if it said it sleeps. Pairs with wait_until()'s announcement: the
// record was published before the fence, so either the sleeper's re-check sees it or this
// sees the flag.
void wake(Sleeper& s) {
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (s.sleeping.load(std::memory_order_relaxed) != 0 &&
      s.sleeping.exchange(0, std::memory_order_acq_rel) != 0) {
    s.word.fetch_add(1, std::memory_order_release);
    futex(s.word, FUTEX_WAKE, 1);
  }
}

// Waits until ready() is true, the --wait way; false after kPatienceNs.
template <class Ready>
bool wait_until(const Options& o, Sleeper& s, Ready ready) {
  const std::int64_t start = tools::now_ns();
  for (std::uint64_t spins = 0;; ++spins) {
    if (ready()) return true;
    if ((spins & 1023) != 0) continue;
    const std::int64_t waited = tools::now_ns() - start;
    if (waited > kPatienceNs) return false;
    if (o.wait == WaitStrategy::spin ||
        (o.wait == WaitStrategy::hybrid && waited < kHybridSpinNs)) {
      continue;
    }
    const std::uint32_t seen = s.word.load(std::memory_order_acquire);
    s.sleeping.store(1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (ready()) {
      s.sleeping.store(0, std::memory_order_relaxed);
      return true;
    }
    futex(s.word, FUTEX_WAIT, seen);  // returns at once if a wake came after `seen`
    s.sleeping.store(0, std::memory_order_relaxed);
  }
}

// One ring in the shared region.
class Ring {
 public:
  Ring(std::byte* base, const Geometry& g)
      : head_(*reinterpret_cast<RingHead*>(base)),  // NOLINT: the region's layout
        slots_(base + sizeof(RingHead)),
        g_(g) {}

  RingHead& head() noexcept { return head_; }
  bool empty() const noexcept {
    return head_.tail.load(std::memory_order_acquire) == head_.head.load(std::memory_order_relaxed);
  }

  // Producer: room for a record of `size` bytes, written then published by push().
  std::span<std::byte> room(const Options& o, std::size_t size) {
    const std::uint64_t t = head_.tail.load(std::memory_order_relaxed);
    while (t - head_.head.load(std::memory_order_acquire) >= g_.slots) {
      if (o.wait != WaitStrategy::spin) {
        const timespec pause{0, 50'000};
        ::nanosleep(&pause, nullptr);
      }
    }
    std::byte* slot = slots_ + (t % g_.slots) * g_.stride;
    const auto len = static_cast<std::uint32_t>(size);
    std::memcpy(slot, &len, sizeof len);
    return {slot + 8, size};
  }
  void push() noexcept {
    head_.tail.store(head_.tail.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  // Consumer: the oldest record (call only when not empty()), then pop() it.
  std::span<const std::byte> front() const noexcept {
    const std::uint64_t h = head_.head.load(std::memory_order_relaxed);
    const std::byte* slot = slots_ + (h % g_.slots) * g_.stride;
    std::uint32_t len = 0;
    std::memcpy(&len, slot, sizeof len);
    return {slot + 8, std::min<std::size_t>(len, g_.stride - 8)};
  }
  void pop() noexcept {
    head_.head.store(head_.head.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

 private:
  RingHead& head_;
  std::byte* slots_;
  Geometry g_;
};

// The region as a participant maps it: the server's sleeper, then each client's two rings.
class Rings {
 public:
  static Result<Rings> attach(const Options& o) {
    auto region = tools::SharedRegion::attach(UniqueFd(o.rings_fd), "the naive rings (--rings-fd)");
    if (!region) return region.error();
    const Geometry g = geometry(o);
    if (region->size() < g.total(o.clients)) {
      return Error(Errc::invalid_argument, "the naive rings' region is too small");
    }
    return Rings(std::move(*region), g);
  }

  Sleeper& server() noexcept {
    return *reinterpret_cast<Sleeper*>(region_.data());  // NOLINT: the region's layout
  }
  Ring to_server(std::uint32_t client) noexcept { return at(client, 0); }
  Ring to_client(std::uint32_t client) noexcept { return at(client, 1); }

 private:
  Rings(tools::SharedRegion region, const Geometry& g) : region_(std::move(region)), g_(g) {}
  Ring at(std::uint32_t client, std::size_t way) noexcept {
    return Ring(region_.data() + sizeof(Sleeper) + (std::size_t{client} * 2 + way) * g_.ring, g_);
  }
  tools::SharedRegion region_;
  Geometry g_;
};

class NaiveConn {
 public:
  NaiveConn(Rings& rings, const Options& o)
      : o_(o),
        out_(rings.to_server(o.id)),
        in_(rings.to_client(o.id)),
        server_(rings.server()),
        reply_(o.size) {}

  Result<void> send(std::uint32_t producer, std::uint64_t seq, std::uint64_t stamp_ns) {
    fill_payload(out_.room(o_, o_.size), producer, seq, stamp_ns);
    out_.push();
    wake(server_);
    return {};
  }

  Result<std::span<const std::byte>> request(std::span<const std::byte> payload) {
    std::span<std::byte> room = out_.room(o_, payload.size());
    std::memcpy(room.data(), payload.data(), payload.size());
    out_.push();
    wake(server_);
    if (!wait_until(o_, in_.head().consumer, [this] { return !in_.empty(); })) {
      return Error(Errc::timed_out, "no reply from the naive server in 60 s");
    }
    const std::span<const std::byte> got = in_.front();
    reply_.assign(got.begin(), got.end());
    in_.pop();
    return std::span<const std::byte>(reply_);
  }

  Result<void> finish(std::uint32_t producer, std::uint64_t next_seq) {
    auto ack = request(encode_end(producer, next_seq));
    if (!ack) return ack.error();
    return {};
  }

 private:
  const Options& o_;
  Ring out_;
  Ring in_;
  Sleeper& server_;
  std::vector<std::byte> reply_;
};

// Sends `payload` (empty: an end marker's acknowledgement) to a client and wakes it.
void answer(const Options& o, Ring ring, std::span<const std::byte> payload) {
  std::span<std::byte> room = ring.room(o, payload.size());
  if (!payload.empty()) std::memcpy(room.data(), payload.data(), payload.size());
  ring.push();
  wake(ring.head().consumer);
}

}  // namespace

int run_naive_server(RoleContext& ctx) {
  const Options& o = ctx.options();
  set_process_name("bench-server");
  install_stop_handlers();
  auto rings = Rings::attach(o);
  if (!rings) return ctx.fail(rings.error());
  std::vector<Ring> in;
  std::vector<Ring> out;
  for (std::uint32_t i = 0; i < o.clients; ++i) {
    in.push_back(rings->to_server(i));
    out.push_back(rings->to_client(i));
  }
  Receiver rx(o, ctx.state());
  ctx.say("ready");
  const auto any = [&in] {
    return std::any_of(in.begin(), in.end(), [](const Ring& r) { return !r.empty(); });
  };
  while (!rx.finished() && !stop_requested()) {
    if (!wait_until(o, rings->server(), any)) continue;  // nothing for a minute: look again
    for (std::uint32_t i = 0; i < o.clients; ++i) {
      Ring& r = in[i];
      while (!r.empty()) {
        const std::span<const std::byte> m = r.front();
        if (m.size() == kEndBytes) {
          rx.on_end(m);
          answer(o, out[i], {});
        } else if (o.request_reply()) {
          answer(o, out[i], rx.on_request(m));
          rx.accept();
        } else {
          rx.on_data(m, tools::now_ns());
        }
        r.pop();
      }
    }
  }
  ctx.say(rx.report().encode());
  return 0;
}

int run_naive_client(RoleContext& ctx) {
  set_process_name("bench-client");
  auto rings = Rings::attach(ctx.options());
  if (!rings) return ctx.fail(rings.error());
  NaiveConn conn(*rings, ctx.options());
  ctx.say("ready");
  return run_client(ctx, conn);
}

Result<tools::SharedRegion> create_naive_rings(const Options& o) {
  return tools::SharedRegion::create("ferry-bench-naive", geometry(o).total(o.clients));
}

}  // namespace ferry::bench
