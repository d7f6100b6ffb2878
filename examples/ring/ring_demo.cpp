// SPDX-License-Identifier: Apache-2.0
// ferry-ring-demo: streams messages from this process to a child process through one ring
// in a sealed memfd segment, prints live progress and what happened. The child maps the
// segment from the inherited descriptor and checks every message's sequence and bytes.
//
//   ferry-ring-demo [--seconds 3] [--size 1024] [--wait hybrid|spin|block]
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include "ferry/ring.hpp"
#include "ferry/shm.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  double seconds = 3;
  std::size_t size = 1024;
  ferry::WaitOptions wait;
};

[[noreturn]] void usage(const char* error) {
  if (error != nullptr) std::fprintf(stderr, "ferry-ring-demo: %s\n", error);
  std::fprintf(stderr,
               "usage: ferry-ring-demo [--seconds S] [--size BYTES] [--wait hybrid|spin|block]\n");
  std::exit(error != nullptr ? 2 : 0);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") usage(nullptr);
    if (i + 1 >= argc) usage(("missing value after " + std::string(arg)).c_str());
    const char* value = argv[++i];
    if (arg == "--seconds") {
      o.seconds = std::strtod(value, nullptr);
      if (o.seconds <= 0) usage("--seconds must be positive");
    } else if (arg == "--size") {
      o.size = std::strtoul(value, nullptr, 10);
      if (o.size < 8) usage("--size must be at least 8 bytes (the sequence number)");
    } else if (arg == "--wait") {
      auto w = ferry::parse_wait_strategy(value);
      if (!w) usage(w.error().message().c_str());
      o.wait.strategy = *w;
    } else {
      usage(("unknown option " + std::string(arg)).c_str());
    }
  }
  return o;
}

// The consumer: counts, checks sequence numbers and bytes; exits 0 if all were right.
int consume(int fd, std::size_t bytes, const Options& o) {
  auto shm = ferry::SharedMemory::from_fd(fd, bytes);
  if (!shm) {
    std::fprintf(stderr, "consumer: %s\n", shm.error().message().c_str());
    return 1;
  }
  auto c = ferry::RingConsumer::attach(shm->data(), shm->size(), o.wait);
  if (!c) {
    std::fprintf(stderr, "consumer: %s\n", c.error().message().c_str());
    return 1;
  }
  std::uint64_t expect = 0;
  std::uint64_t bad = 0;
  for (;;) {
    auto v = c->peek(std::chrono::seconds(10));
    if (!v) {
      std::fprintf(stderr, "consumer: %s\n", v.error().message().c_str());
      return 1;
    }
    if (v->header.type == 0) break;  // end of stream
    std::uint64_t seq = 0;
    std::memcpy(&seq, v->payload.data(), sizeof seq);
    const auto fill = static_cast<std::byte>(seq & 0xff);
    if (seq != expect || v->payload.size() != o.size || v->payload[v->payload.size() - 1] != fill)
      ++bad;
    ++expect;
    c->release();
  }
  std::printf("consumer: received %llu messages, %llu wrong\n",
              static_cast<unsigned long long>(expect), static_cast<unsigned long long>(bad));
  std::fflush(stdout);
  return bad == 0 ? 0 : 1;
}

}  // namespace

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  ferry::RingConfig cfg;
  cfg.capacity = 1u << 20;
  if (o.size > cfg.capacity / 4)
    usage("--size must be at most 262144 bytes (a quarter of the 1 MiB ring)");
  const std::size_t bytes = ferry::ring_bytes(cfg.capacity);
  auto shm = ferry::SharedMemory::create_anonymous("ring-demo", bytes);
  if (!shm) {
    std::fprintf(stderr, "ferry-ring-demo: %s\n", shm.error().message().c_str());
    return 1;
  }
  if (auto r = ferry::ring_format(shm->data(), shm->size(), cfg); !r) {
    std::fprintf(stderr, "ferry-ring-demo: %s\n", r.error().message().c_str());
    return 1;
  }
  std::printf(
      "ferry-ring-demo: %zu-byte messages for %.1f s through a 1 MiB ring (memfd, CRC32C on, wait "
      "%s)\n",
      o.size, o.seconds, std::string(ferry::to_string(o.wait.strategy)).c_str());
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) std::_Exit(consume(dup(shm->fd()), bytes, o));

  auto p = ferry::RingProducer::attach(shm->data(), shm->size(), o.wait).value();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(o.seconds);
  auto next_report = start + std::chrono::seconds(1);
  std::uint64_t seq = 0;
  std::uint64_t last_seq = 0;
  for (auto now = start; now < end; now = Clock::now()) {
    for (int i = 0; i < 256; ++i, ++seq) {
      auto room = p.reserve(o.size, std::chrono::seconds(10));
      if (!room) {
        std::fprintf(stderr, "producer: %s\n", room.error().message().c_str());
        return 1;
      }
      std::memset(room->data(), static_cast<int>(seq & 0xff), o.size);
      std::memcpy(room->data(), &seq, sizeof seq);
      p.commit(o.size, {1});
    }
    if (now >= next_report) {
      std::fprintf(stderr, "\r  %4.1f s  %10.0f msgs/s",
                   std::chrono::duration<double>(now - start).count(),
                   static_cast<double>(seq - last_seq));
      last_seq = seq;
      next_report += std::chrono::seconds(1);
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  (void)p.send({}, {0}, std::chrono::seconds(10));  // type 0: end of stream
  std::fprintf(stderr, "\n");
  int status = 0;
  waitpid(child, &status, 0);
  const ferry::RingStats s = ferry::ring_stats(shm->data());
  const unsigned long long wakes = s.producer_wakes + s.consumer_wakes;
  std::printf("producer: sent %llu messages in %.2f s: %.2fM msgs/s, %.0f MB/s\n",
              static_cast<unsigned long long>(seq), elapsed,
              static_cast<double>(seq) / elapsed / 1e6,
              static_cast<double>(seq) * static_cast<double>(o.size) / elapsed / 1e6);
  std::printf(
      "ring: %llu full waits, %llu empty waits, %llu wake-up syscalls (%.5f per message), %llu "
      "frame errors\n",
      static_cast<unsigned long long>(s.full_waits), static_cast<unsigned long long>(s.empty_waits),
      wakes, static_cast<double>(wakes) / static_cast<double>(seq ? seq : 1),
      static_cast<unsigned long long>(s.errors));
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::printf("%s\n", ok ? "all messages arrived intact and in order"
                         : "FAILED: see the consumer's message above");
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry-ring-demo: %s\n", e.what());
    return 1;
  }
}
