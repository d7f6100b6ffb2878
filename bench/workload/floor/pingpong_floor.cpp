// SPDX-License-Identifier: Apache-2.0
// ferry-pingpong-floor: what a round trip costs on this machine below ferry's API, measured
// in the same `make bench` run as ferry's pingpong, so that a pingpong miss can be told apart
// from a slow machine (docs/performance.md).
//
//   ferry-pingpong-floor bench --kind naive|ring|ring-crc [--round-trips N] [--json]
//
// Two processes, both spinning, 1 KB messages echoed back, 20k warm-up round trips then N:
//   naive     the minimal ring the pingpong targets were set with: fixed 1 KB slots,
//             a head and a tail on their own cache lines, one memcpy each way, no header,
//             no CRC, no sleep/wake handshake
//   ring      ferry's ring (RingProducer/RingConsumer) without the server, client,
//             doorbell or dispatch, frames without CRC
//   ring-crc  the same with CRC32C, as connections use it
// Every echoed message is checked (sequence number and content, fill_payload's pattern);
// a mismatch counts an error and the exit status is 1. Prints one JSON line in the shape
// of `ferry bench --json`.
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "common/command_line.hpp"
#include "common/number.hpp"
#include "common/process.hpp"
#include "common/shared_region.hpp"
#include "ferry/ring.hpp"
#include "workload/histogram.hpp"
#include "workload/payload.hpp"

namespace {

using ferry::bench::Histogram;
using ferry::tools::now_ns;

constexpr std::size_t kSize = 1024;
constexpr std::uint64_t kWarmup = 20'000;
constexpr auto kPatience = std::chrono::seconds(10);

// ---- the naive ring: one producer, one consumer, fixed slots
constexpr std::size_t kSlots = 256;
struct NaiveRing {
  alignas(64) std::atomic<std::uint64_t> tail;
  alignas(64) std::atomic<std::uint64_t> head;
  alignas(64) std::array<std::array<std::byte, kSize>, kSlots> slots;
};

void naive_send(NaiveRing& r, std::span<const std::byte> m) {
  const std::uint64_t t = r.tail.load(std::memory_order_relaxed);
  while (t - r.head.load(std::memory_order_acquire) >= kSlots) {
  }
  std::memcpy(r.slots[t % kSlots].data(), m.data(), kSize);
  r.tail.store(t + 1, std::memory_order_release);
}

void naive_recv(NaiveRing& r, std::span<std::byte> m) {
  const std::uint64_t h = r.head.load(std::memory_order_relaxed);
  while (r.tail.load(std::memory_order_acquire) == h) {
  }
  std::memcpy(m.data(), r.slots[h % kSlots].data(), kSize);
  r.head.store(h + 1, std::memory_order_release);
}

struct Transport {
  virtual ~Transport() = default;
  virtual bool send(std::span<const std::byte> m) = 0;  // into the ring towards the peer
  virtual bool recv(std::span<std::byte> m) = 0;        // from the ring from the peer
};

struct Naive final : Transport {
  NaiveRing* out;
  NaiveRing* in;
  Naive(NaiveRing* o, NaiveRing* i) : out(o), in(i) {}
  bool send(std::span<const std::byte> m) override {
    naive_send(*out, m);
    return true;
  }
  bool recv(std::span<std::byte> m) override {
    naive_recv(*in, m);
    return true;
  }
};

struct Ring final : Transport {
  ferry::RingProducer out;
  ferry::RingConsumer in;
  Ring(ferry::RingProducer o, ferry::RingConsumer i) : out(o), in(std::move(i)) {}
  bool send(std::span<const std::byte> m) override { return out.send(m, {}, kPatience).ok(); }
  bool recv(std::span<std::byte> m) override {
    auto r = in.peek(kPatience);
    if (!r || r->payload.size() != m.size()) return false;
    std::memcpy(m.data(), r->payload.data(), m.size());
    in.release();
    return true;
  }
};

int usage(const char* why) {
  std::fprintf(stderr,
               "ferry-pingpong-floor: %s\n"
               "usage: ferry-pingpong-floor bench --kind naive|ring|ring-crc "
               "[--round-trips N] [--json]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // `bench` first, as the benchmark scripts call every program; it always prints JSON.
  constexpr ferry::tools::Flag kFlags[] = {
      {"--kind", "NAME", ""}, {"--round-trips", "N", ""}, {"--json", "", ""}};
  const std::span<char* const> all(argv, static_cast<std::size_t>(argc));
  std::vector<std::string> words(all.begin() + (argc > 0 ? 1 : 0), all.end());
  if (!words.empty() && words.front() == "bench") words.erase(words.begin());
  const auto given = ferry::tools::parse_flags(std::move(words), kFlags, "the usage below");
  if (!given) return usage(given.error().message().c_str());
  const std::string kind = given->get("--kind") != nullptr ? *given->get("--kind") : "";
  std::uint64_t trips = 200'000;
  if (const std::string* text = given->get("--round-trips")) {
    const auto n = ferry::tools::parse_number<std::uint64_t>(*text);
    if (!n || *n == 0) return usage("--round-trips wants a number of round trips, more than 0");
    trips = *n;
  }
  if (kind != "naive" && kind != "ring" && kind != "ring-crc") return usage("--kind is required");

  const bool naive = kind == "naive";
  ferry::RingConfig config;
  config.capacity = 1u << 20;
  config.crc = kind == "ring-crc";
  const std::size_t bytes = naive ? sizeof(NaiveRing) : ferry::ring_bytes(config.capacity);
  auto to_echo = ferry::tools::SharedRegion::create("ferry-floor-to-echo", bytes);
  auto from_echo = ferry::tools::SharedRegion::create("ferry-floor-from-echo", bytes);
  if (!to_echo || !from_echo) {
    return usage((to_echo ? from_echo.error() : to_echo.error()).message().c_str());
  }
  void* a = to_echo->data();
  void* b = from_echo->data();
  if (!naive && (!ferry::ring_format(a, bytes, config) || !ferry::ring_format(b, bytes, config))) {
    return usage("ring_format failed");
  }
  ferry::WaitOptions spin;
  spin.strategy = ferry::WaitStrategy::spin;
  auto make = [&](void* out, void* in) -> std::unique_ptr<Transport> {
    if (naive)
      return std::make_unique<Naive>(static_cast<NaiveRing*>(out), static_cast<NaiveRing*>(in));
    auto p = ferry::RingProducer::attach(out, bytes, spin);
    auto c = ferry::RingConsumer::attach(in, bytes, spin);
    if (!p || !c) return nullptr;
    return std::make_unique<Ring>(*p, std::move(*c));
  };

  const std::uint64_t total = kWarmup + trips;
  const pid_t echo = ferry::tools::fork_child([&] {
    auto t = make(b, a);
    std::array<std::byte, kSize> m{};
    for (std::uint64_t i = 0; t && i < total; ++i) {
      if (!t->recv(m) || !t->send(m)) return 1;
    }
    return t ? 0 : 1;
  });
  if (echo < 0) return usage("fork failed");

  auto t = make(a, b);
  Histogram h;
  std::uint64_t errors = t ? 0 : 1;
  std::array<std::byte, kSize> msg{};
  std::array<std::byte, kSize> back{};
  const std::int64_t start = now_ns();
  std::int64_t measured_from = start;
  for (std::uint64_t i = 0; t && i < total; ++i) {
    if (i == kWarmup) measured_from = now_ns();
    const std::int64_t t0 = now_ns();
    ferry::bench::fill_payload(msg, 0, i, static_cast<std::uint64_t>(t0));
    if (!t->send(msg) || !t->recv(back)) {
      ++errors;
      break;
    }
    const std::int64_t t1 = now_ns();
    auto head = ferry::bench::check_payload(back, kSize);
    if (!head || head->seq != i) ++errors;
    if (i >= kWarmup) h.add(static_cast<std::uint64_t>(t1 - t0));
  }
  const double seconds = static_cast<double>(now_ns() - measured_from) / 1e9;
  if (ferry::tools::wait_child(echo) != 0) ++errors;

  std::printf(
      "{\"system\":\"%s\",\"scenario\":\"pingpong\",\"size\":%zu,\"clients\":1,\"wait\":\"spin\","
      "\"msgs\":%llu,\"seconds\":%.3f,\"msgs_per_s\":%.0f,\"p50_us\":%.3f,\"p99_us\":%.3f,"
      "\"p999_us\":%.3f,\"max_us\":%.3f,\"errors\":%llu}\n",
      kind == "naive"  ? "naive-ring"
      : kind == "ring" ? "ferry-ring"
                       : "ferry-ring-crc",
      kSize, static_cast<unsigned long long>(h.count()), seconds,
      seconds > 0 ? static_cast<double>(h.count()) / seconds : 0.0, h.quantile_us(0.5),
      h.quantile_us(0.99), h.quantile_us(0.999), h.max_us(),
      static_cast<unsigned long long>(errors));
  return errors == 0 ? 0 : 1;
}
