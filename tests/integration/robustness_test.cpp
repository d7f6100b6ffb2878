// SPDX-License-Identifier: Apache-2.0
// What a server does when its peers misbehave, with real connections and real shared memory:
//
//   - a hostile client that writes garbage into its own client->server ring (random bytes,
//     impossible indices, impossible lengths, bad CRCs, ...) or an impossible index into its
//     server->client ring is disconnected with a counted protocol error, while a well-behaved
//     client keeps getting its replies throughout; so is one that writes on its control
//     socket after the handshake; one that never finishes its handshake is dropped after
//     handshake_timeout (hostile_wakeups_test.cpp: the wake-up plumbing and the doorbell);
//   - a client that stops reading fills only its own ring: Server::send to it says
//     would_block at once and the other clients keep receiving everything, in order; a
//     message held for it (retry_later) costs the server no CPU until it has room;
//   - a client whose server does not consume waits up to send_timeout and is then told that
//     the ring is full, and nothing it sent before is lost;
//   - a small /dev/shm (as in containers) does not limit ferry, whose segments are memfds.
//
// The hostile client connects with ferry::Client and then writes into its mapping of the
// connection segment directly (found in /proc/self/maps as memfd:ferry:conn-<id>; layout in
// docs/connection_format.md and docs/ring_format.md), as a buggy or malicious peer could.
#include <gtest/gtest.h>

#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "conn/conn_layout.hpp"
#include "control/handshake.hpp"
#include "control/unix_socket.hpp"
#include "ferry/client.hpp"
#include "ferry/server.hpp"
#include "ferry/shm.hpp"
#include "ferry/wire.hpp"
#include "ring/ring_layout.hpp"
#include "support/assertions.hpp"
#include "support/endpoint_support.hpp"
#include "support/lateness.hpp"
#include "support/memfd_maps.hpp"
#include "support/steady_client.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::as_bytes;
using test::expect_steady;
using test::SteadyClient;

constexpr std::uint16_t kEcho = 1;     // replies with the payload
constexpr std::uint16_t kStats = 2;    // replies with some ServerStats (Counters)
constexpr std::uint16_t kCount = 3;    // one-way, counted
constexpr std::uint16_t kFlood = 4;    // one-way: the server pushes to the sender until refused
constexpr std::uint16_t kForward = 5;  // one-way: forwarded to another client
constexpr std::uint16_t kStuck = 7;    // the handler never takes it (retry_later forever)
constexpr std::uint16_t kPushed = 9;   // what the server pushes

// Concatenates anything streamable (GCC 12 warns on "literal" + std::string temporaries).
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

std::int64_t ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// ---------------------------------------------------------------------------- memory

using test::Mapping;
using test::memfd_mappings;

// The client->server ring of one connection, as its client maps it.
struct ConnMemory {
  detail::RingHeader* c2s = nullptr;
  detail::RingHeader* s2c = nullptr;  // server -> client: the client is its consumer
  std::byte* data = nullptr;          // the record space
  std::uint64_t capacity = 0;
  std::uint32_t max_payload = 0;
  std::uint32_t slot = 0;

  std::uint64_t tail() const { return c2s->producer.tail.load(std::memory_order_acquire); }
  // The sequence number the server expects next (the producer's published record count).
  std::uint64_t next_seq() const { return c2s->producer.records.load(std::memory_order_relaxed); }
  void publish_tail(std::uint64_t tail) const {
    c2s->producer.tail.store(tail, std::memory_order_release);
  }
  std::byte* at(std::uint64_t index) const { return data + (index & (capacity - 1)); }
};

// Finds connection `id`'s segment among this process's mappings and checks its ident.
std::optional<ConnMemory> connection_memory(ConnectionId id) {
  for (const Mapping& m : memfd_mappings(cat("conn-", id))) {
    if (m.size < detail::kConnHeaderSize) continue;
    auto* header = std::launder(reinterpret_cast<detail::ConnHeader*>(m.start));  // NOLINT
    const detail::ConnIdent ident = header->ident;
    if (ident.magic != detail::kConnMagic || ident.connection_id != id ||
        ident.c2s_offset + ring_bytes(ident.c2s_capacity) > m.size ||
        ident.s2c_offset + ring_bytes(ident.s2c_capacity) > m.size) {
      continue;
    }
    ConnMemory c;
    c.c2s = std::launder(
        reinterpret_cast<detail::RingHeader*>(m.start + ident.c2s_offset));  // NOLINT: layout
    c.s2c = std::launder(
        reinterpret_cast<detail::RingHeader*>(m.start + ident.s2c_offset));  // NOLINT: layout
    c.data = m.start + ident.c2s_offset + detail::kRingHeaderSize;
    c.capacity = c.c2s->ident.capacity;
    c.max_payload = c.c2s->ident.max_payload;
    c.slot = ident.slot;
    if (c.capacity != ident.c2s_capacity) continue;
    return c;
  }
  return std::nullopt;
}

// Sets `slot`'s bit in every ferry doorbell this process maps, as a producer does after
// publishing: the server visits the connection on its next turn (a sleeping server within
// the 100 ms its run() loop sleeps at most). Returns how many doorbells it rang.
int ring_doorbell(std::uint32_t slot) {
  int rung = 0;
  for (const Mapping& m : memfd_mappings("doorbell")) {
    if (m.size < detail::kDoorbellHeaderSize) continue;
    auto* header = std::launder(reinterpret_cast<detail::DoorbellHeader*>(m.start));  // NOLINT
    const std::uint32_t slots = header->ident.slots;
    if (header->ident.magic != detail::kDoorbellMagic || slot >= slots ||
        m.size < detail::kDoorbellHeaderSize + slots / 8) {
      continue;
    }
    auto* words = std::launder(reinterpret_cast<detail::ShmAtomic<std::uint64_t>*>(  // NOLINT
        m.start + detail::kDoorbellHeaderSize));
    words[slot / 64].fetch_or(std::uint64_t{1} << (slot % 64), std::memory_order_acq_rel);
    ++rung;
  }
  return rung;
}

std::uint64_t record_size(std::size_t payload) {
  return (wire::kHeaderSize + payload + 7) & ~std::uint64_t{7};
}

// Writes a frame at ring index `index`: `h` exactly as given (its CRC computed over the
// header and `payload`, then broken if `bad_crc`), then the payload. Returns its record size.
std::uint64_t write_frame(const ConnMemory& c, std::uint64_t index, const wire::Header& h,
                          std::span<const std::byte> payload, bool bad_crc = false) {
  std::byte* frame = c.at(index);
  wire::encode(h, payload, frame);
  if (!payload.empty()) std::memcpy(frame + wire::kHeaderSize, payload.data(), payload.size());
  if (bad_crc) frame[wire::kCrcCoveredHeaderBytes] ^= std::byte{0x5a};
  return record_size(payload.size());
}

// A frame header a correct producer would write next on this ring.
wire::Header next_header(const ConnMemory& c, std::size_t length) {
  wire::Header h;
  h.length = static_cast<std::uint32_t>(length);
  h.type = kEcho;
  h.seq = c.next_seq();
  h.correlation = 0;
  return h;
}

// Writes a frame at the producer tail (as write_frame) and publishes it.
void publish_frame(const ConnMemory& c, const wire::Header& h, std::span<const std::byte> payload,
                   bool bad_crc = false) {
  const std::uint64_t t = c.tail();
  c.publish_tail(t + write_frame(c, t, h, payload, bad_crc));
}

// Writes a header claiming `length` payload bytes and publishes only 32 bytes.
void publish_header_claiming(const ConnMemory& c, std::size_t length) {
  const std::uint64_t t = c.tail();
  write_frame(c, t, next_header(c, length), {});
  c.publish_tail(t + 32);
}

// ---------------------------------------------------------------------------- server

// What kStats replies: some of the server's ServerStats, read on its own thread.
struct Counters {
  std::uint64_t protocol_errors = 0;
  std::uint64_t rejected = 0;
  std::uint64_t lost = 0;
  std::uint64_t active = 0;
};

// A server on a thread: kEcho echoes, kStats replies with Counters, kCount counts, kFlood
// pushes to its sender until a send fails, kStuck is never consumed; disconnections are
// recorded with their reason.
class WatchedServer {
 public:
  explicit WatchedServer(ServerOptions options) {
    auto created = Server::create(std::move(options));
    if (!created) {
      ADD_FAILURE() << "Server::create: " << created.error().message();
      return;
    }
    server_.emplace(std::move(*created));
    Server& s = **server_;
    s.on(kEcho, [](Request& r) {
      if (r.reply(r.payload()).code() == Errc::would_block) r.retry_later();
    });
    s.on(kStats, [&s](Request& r) {
      const ServerStats stats = s.stats();
      const Counters c{stats.protocol_errors, stats.rejected, stats.lost, stats.active};
      std::array<std::byte, sizeof c> out{};
      std::memcpy(out.data(), &c, sizeof c);
      if (r.reply(out).code() == Errc::would_block) r.retry_later();
    });
    s.on(kFlood, [&s](Request& r) {
      const std::string payload(1000, 'f');
      for (int i = 0; i < 100000 && s.send(r.connection(), kPushed, as_bytes(payload)); ++i) {
      }
    });
    s.on(kCount, [this](Request&) { counted_.fetch_add(1); });
    s.on(kStuck, [](Request& r) { r.retry_later(); });
    s.on_disconnect([this](const ConnectionInfo& info, DisconnectReason why) {
      const std::lock_guard lock(mu_);
      gone_.emplace_back(info.id, why);
    });
    server_->start();
  }

  bool server_ok() const { return server_.has_value(); }
  test::ServerThread& thread() { return *server_; }
  int counted() const { return counted_.load(); }

  // How connection `id` ended, once it has (waits up to `limit`).
  std::optional<DisconnectReason> wait_gone(ConnectionId id, std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    for (;;) {
      {
        const std::lock_guard lock(mu_);
        for (const auto& [who, why] : gone_) {
          if (who == id) return why;
        }
      }
      if (Clock::now() >= until) return std::nullopt;
      std::this_thread::sleep_for(1ms);
    }
  }

 private:
  // Declared before server_, so that they outlive its thread.
  std::atomic<int> counted_{0};
  std::mutex mu_;
  std::vector<std::pair<ConnectionId, DisconnectReason>> gone_;
  std::optional<test::ServerThread> server_;  // empty if the server could not be created
};

// The server's counters, read on its own thread through a request.
std::optional<Counters> counters(Client& probe) {
  auto reply = probe.request(kStats, {}, 5s);
  if (!reply || reply->payload.size() != sizeof(Counters)) {
    ADD_FAILURE() << "stats request: "
                  << (reply ? cat("reply of ", reply->payload.size(), " bytes")
                            : reply.error().message());
    return std::nullopt;
  }
  Counters c;
  std::memcpy(&c, reply->payload.data(), sizeof c);
  return c;
}

// Checks that the server closes connection `id` (within test::kPatience) for a protocol error,
// counted once since `before`, and not as a client that left. Call with ASSERT_NO_FATAL_FAILURE.
void expect_protocol_error(WatchedServer& server, Client& probe, ConnectionId id,
                           const Counters& before) {
  const auto why = server.wait_gone(id, test::kPatience);
  ASSERT_TRUE(why) << "the server did not close connection " << id << " within "
                   << test::kPatience.count() << " s";
  EXPECT_EQ(to_string(*why), to_string(DisconnectReason::protocol_error));
  const auto after = counters(probe);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->protocol_errors, before.protocol_errors + 1)
      << "protocol_errors not counted once";
  EXPECT_EQ(after->lost, before.lost) << "counted as a client that left, not as an error";
}

// ---------------------------------------------------------------------------- hostile peers

// Where hostile clients are let loose: a WatchedServer on endpoint "hostile", a probe client
// that reads its counters, and a well-behaved client that must stay served throughout.
struct HostileScene {
  std::optional<WatchedServer> server;
  std::optional<Client> probe;
  std::optional<SteadyClient> steady;

  // Call with ASSERT_NO_FATAL_FAILURE.
  void start() {
    ServerOptions options;
    options.endpoint = "hostile";
    server.emplace(options);
    ASSERT_TRUE(server->server_ok());
    ClientOptions probe_options;
    probe_options.endpoint = "hostile";
    probe_options.name = "probe";
    auto connected = Client::connect(probe_options);
    ASSERT_TRUE(connected) << connected.error().message();
    probe.emplace(std::move(*connected));
    steady.emplace("hostile");
    ASSERT_FALSE(steady->failed()) << steady->first_error();
  }
};

// Writes into a connection's rings as a hostile client would (it may use the client, too).
using Corruption = std::function<void(ConnMemory&, Client&)>;

// Connects a hostile client, shows it works (one round trip), lets `corrupt` write into its
// rings, rings its doorbell, and checks that the server cut exactly it off with a counted
// protocol error while the scene's well-behaved client is still served.
void expect_cut_off(HostileScene& scene, const std::string& what, const Corruption& corrupt) {
  SCOPED_TRACE(what);
  SteadyClient& steady = *scene.steady;
  ClientOptions options;
  options.endpoint = "hostile";
  options.name = "hostile";
  options.ring_capacity = 65536;
  options.reconnect = false;
  auto hostile = Client::connect(options);
  ASSERT_TRUE(hostile) << hostile.error().message();
  auto hello = hostile->request(kEcho, as_bytes("still friendly"), 5s);
  ASSERT_TRUE(hello) << hello.error().message();
  auto memory = connection_memory(hostile->id());
  ASSERT_TRUE(memory) << "no mapping of memfd:ferry:conn-" << hostile->id()
                      << " with a matching ident in /proc/self/maps";
  const auto before = counters(*scene.probe);
  ASSERT_TRUE(before);

  corrupt(*memory, *hostile);
  ASSERT_GT(ring_doorbell(memory->slot), 0) << "no doorbell mapping found";

  ASSERT_NO_FATAL_FAILURE(
      expect_protocol_error(*scene.server, *scene.probe, hostile->id(), *before));
  // The hostile client's end sees the server hang up.
  test::wait_for([&] { return !hostile->connected(); });
  EXPECT_FALSE(hostile->connected()) << "the hostile client's socket was not closed";
  // It is told why.
  auto told = hostile->request(kEcho, as_bytes("why?"), 2s);
  ASSERT_FALSE(told);
  EXPECT_EQ(to_string(told.code()), to_string(Errc::disconnected));
  EXPECT_NE(told.error().message().find("it broke the protocol: "), std::string::npos)
      << told.error().message();
  // And the well-behaved client is still served.
  const int trips = steady.round_trips();
  test::wait_for([&] { return steady.round_trips() >= trips + 3 || steady.failed(); });
  EXPECT_GE(steady.round_trips(), trips + 3) << "the well-behaved client is no longer served";
}

TEST(Robustness, HostileRingWritesCutOffOnlyTheWriter) {
  test::ScopedSession session("hostile");
  test::Watchdog watchdog(120s, "hostile ring writes");
  HostileScene scene;
  ASSERT_NO_FATAL_FAILURE(scene.start());

  const std::string hello = "hello hostile";
  struct Case {
    const char* what;
    Corruption corrupt;
  };
  const std::vector<Case> cases = {
      {"random bytes over the record space and a bumped producer tail",
       [](ConnMemory& c, Client& /*client*/) {
         std::mt19937_64 rng(42);  // NOLINT(cert-msc32-c,cert-msc51-cpp): reproducible
         for (std::uint64_t i = 0; i < c.capacity; i += 8) {
           const std::uint64_t w = rng();
           std::memcpy(c.data + i, &w, sizeof w);
         }
         c.publish_tail(c.tail() + 8 * (3 + rng() % (c.capacity / 8 - 3)));
       }},
      {"a producer tail beyond the capacity",
       [](ConnMemory& c, Client& /*client*/) { c.publish_tail(c.tail() + c.capacity + 8); }},
      {"an unaligned producer tail",
       [](ConnMemory& c, Client& /*client*/) { c.publish_tail(c.tail() + 13); }},
      {"a producer tail behind the consumer",
       [](ConnMemory& c, Client& /*client*/) { c.publish_tail(c.tail() - 8); }},
      {"a producer tail near 2^64",
       [](ConnMemory& c, Client& /*client*/) { c.publish_tail(~std::uint64_t{0} - 7); }},
      {"a valid-looking header with a length over the ring's maximum",
       [](ConnMemory& c, Client& /*client*/) {
         publish_header_claiming(c, std::size_t{c.max_payload} + 1);
       }},
      {"a valid-looking header with length 0xffffffff",
       [](ConnMemory& c, Client& /*client*/) { publish_header_claiming(c, 0xffffffffu); }},
      {"a frame longer than the bytes published",
       [](ConnMemory& c, Client& /*client*/) { publish_header_claiming(c, 1000); }},
      {"a frame with a bad CRC",
       [&hello](ConnMemory& c, Client& /*client*/) {
         publish_frame(c, next_header(c, hello.size()), as_bytes(hello), /*bad_crc=*/true);
       }},
      {"a frame whose payload changed after its CRC",
       [&hello](ConnMemory& c, Client& /*client*/) {
         const std::uint64_t t = c.tail();
         const std::uint64_t n = write_frame(c, t, next_header(c, hello.size()), as_bytes(hello));
         *(c.at(t) + wire::kHeaderSize) ^= std::byte{1};
         c.publish_tail(t + n);
       }},
      {"a frame with the wrong sequence number",
       [&hello](ConnMemory& c, Client& /*client*/) {
         wire::Header h = next_header(c, hello.size());
         h.seq += 5;
         publish_frame(c, h, as_bytes(hello));
       }},
      {"a frame with unknown flags",
       [&hello](ConnMemory& c, Client& /*client*/) {
         wire::Header h = next_header(c, hello.size());
         h.flags = 0x80;
         publish_frame(c, h, as_bytes(hello));
       }},
      {"a frame of another wire version",
       [&hello](ConnMemory& c, Client& /*client*/) {
         wire::Header h = next_header(c, hello.size());
         h.version = 7;
         publish_frame(c, h, as_bytes(hello));
       }},
      {"a padding record in the middle of the ring",
       [](ConnMemory& c, Client& /*client*/) {
         wire::Header h = next_header(c, 8);
         h.flags = wire::kFlagPadding;
         publish_frame(c, h, std::array<std::byte, 8>{});
       }},
      {"an LZ4-flagged frame that does not decompress",
       [&hello](ConnMemory& c, Client& /*client*/) {
         wire::Header h = next_header(c, hello.size());
         h.flags = wire::kFlagLz4;
         publish_frame(c, h, as_bytes(hello));
       }},
      {"a zstd-flagged frame claiming a huge decompressed size",
       [](ConnMemory& c, Client& /*client*/) {
         std::array<std::byte, 16> bomb{};
         const std::uint32_t claimed = 0x7fffffff;  // the original-length prefix
         std::memcpy(bomb.data(), &claimed, sizeof claimed);
         wire::Header h = next_header(c, bomb.size());
         h.flags = wire::kFlagZstd;
         publish_frame(c, h, bomb);
       }},
      {"an impossible consumer index in the server->client ring",
       [](ConnMemory& c, Client& client) {
         // The server reads it when that ring is full: the client asks to be flooded.
         c.s2c->consumer.head.store(13, std::memory_order_release);
         ASSERT_TRUE(client.send(kFlood, {}));
       }},
  };
  for (const Case& c : cases) {
    expect_cut_off(scene, c.what, c.corrupt);
    if (HasFatalFailure()) break;
  }
  expect_steady(*scene.steady, static_cast<int>(3 * cases.size()));
}

// Random garbage of random length at the tail, and a tail that is random too (half the
// time a plausible one), over many seeds: every one is a protocol error, never a crash,
// hang or a message handed to a handler.
TEST(Robustness, RandomGarbageFromHostileClientsNeverHurtsTheServer) {
  test::ScopedSession session("garbage");
  test::Watchdog watchdog(120s, "random garbage");
  HostileScene scene;
  ASSERT_NO_FATAL_FAILURE(scene.start());

  const std::uint64_t seeds = test::scaled(40);
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    std::string what = "seed ";
    what += std::to_string(seed);
    expect_cut_off(scene, what, [seed](ConnMemory& c, Client& /*client*/) {
      std::mt19937_64 rng(seed);
      const std::uint64_t t = c.tail();
      const std::uint64_t length = 1 + rng() % 4096;
      for (std::uint64_t i = 0; i < length; ++i) {
        *c.at(t + i) = static_cast<std::byte>(rng() & 0xff);
      }
      std::uint64_t tail = 0;
      switch (rng() % 3) {
        case 0: tail = t + 8 * (1 + rng() % (c.capacity / 8)); break;  // plausible
        case 1: tail = t + 1 + rng() % (2 * c.capacity); break;        // near, any alignment
        default: tail = rng(); break;                                  // anything
      }
      if (tail == t) tail = t + 8;
      c.publish_tail(tail);
    });
    if (HasFatalFailure()) break;
  }
  // Nothing hostile ever reached a handler as a message.
  EXPECT_EQ(scene.server->counted(), 0);
  expect_steady(*scene.steady, static_cast<int>(3 * seeds));
}

// A client that speaks the handshake itself and keeps what the Welcome carries.
struct RawConnection {
  UniqueFd socket;
  detail::Welcome welcome;
  std::vector<UniqueFd> fds;
};
// Sends a hello (with `fds` attached) and returns whatever Welcome comes back.
Result<RawConnection> raw_hello(const std::string& socket_path, std::span<const int> fds = {}) {
  auto sock = detail::connect_seqpacket(socket_path, 2000ms);
  if (!sock) return sock.error();
  detail::Hello hello;
  hello.name = "raw";
  if (auto sent = detail::send_message(sock->get(), detail::encode_hello(hello), fds); !sent) {
    return sent.error();
  }
  std::array<std::byte, detail::kWelcomeSize + 1> buf{};
  auto got = detail::recv_message(sock->get(), buf, 2000ms);
  if (!got) return got.error();
  auto welcome = detail::decode_welcome(std::span<const std::byte>(buf.data(), got->size));
  if (!welcome) return welcome.error();
  RawConnection c;
  c.socket = std::move(*sock);
  c.welcome = *welcome;
  c.fds = std::move(got->fds);
  return c;
}
// The same, and the connection must be accepted.
Result<RawConnection> raw_connect(const std::string& socket_path) {
  auto c = raw_hello(socket_path);
  if (c && c->welcome.status != detail::WelcomeStatus::ok) {
    return Error(Errc::permission, c->welcome.message);
  }
  return c;
}

// After the handshake a client sends only wakes on its socket (one byte each, no
// descriptors); anything else is a protocol error, whatever its size (one that does not fit
// the server's buffer is no hang-up either), and a wake carrying a descriptor is one too: the
// server never installs a descriptor a client sends. A hello with descriptors is refused.
TEST(Robustness, BytesOnTheControlSocketAfterTheHandshakeAreAProtocolError) {
  test::ScopedSession session("socket");
  test::Watchdog watchdog(60s, "control socket bytes");
  ServerOptions options;
  options.endpoint = "sock";
  WatchedServer server(options);
  ASSERT_TRUE(server.server_ok());
  ClientOptions probe_options;
  probe_options.endpoint = "sock";
  auto probe = Client::connect(probe_options);
  ASSERT_TRUE(probe) << probe.error().message();
  const std::string path = probe->socket_path();
  const UniqueFd passed(::eventfd(0, EFD_CLOEXEC));
  ASSERT_TRUE(passed);
  const int passed_fd[] = {passed.get()};
  struct Case {
    std::size_t size;
    bool with_fd;
  };
  for (const Case c : {Case{2, false}, Case{64, false}, Case{200, false}, Case{1, true}}) {
    SCOPED_TRACE(
        cat(c.size, "-byte message", c.with_fd ? " with a descriptor" : "", " on the socket"));
    auto raw = raw_connect(path);
    ASSERT_TRUE(raw) << raw.error().message();
    const auto before = counters(*probe);
    ASSERT_TRUE(before);
    const std::vector<std::byte> junk(c.size, std::byte{0x42});
    ASSERT_TRUE(
        detail::send_message(raw->socket.get(), junk,
                             c.with_fd ? std::span<const int>(passed_fd) : std::span<const int>()));
    ASSERT_NO_FATAL_FAILURE(
        expect_protocol_error(server, *probe, raw->welcome.connection_id, *before));
  }
  // A wake is no error, however many come.
  auto raw = raw_connect(path);
  ASSERT_TRUE(raw) << raw.error().message();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(detail::send_message(raw->socket.get(), std::vector<std::byte>(1)));
  }
  ASSERT_TRUE(probe->request(kEcho, as_bytes("still here"), 5s));
  EXPECT_FALSE(server.wait_gone(raw->welcome.connection_id, 200ms))
      << "wake-ups were taken for a protocol error";
  // A hello that carries descriptors is refused as malformed.
  auto refused = raw_hello(path, passed_fd);
  ASSERT_TRUE(refused) << refused.error().message();
  EXPECT_EQ(refused->welcome.status, detail::WelcomeStatus::bad_request)
      << refused->welcome.message;
  EXPECT_NE(refused->welcome.message.find("descriptors"), std::string::npos)
      << refused->welcome.message;
  EXPECT_TRUE(refused->fds.empty());
}

// Connections that never send their hello are dropped after handshake_timeout, and do not
// hold up anyone meanwhile.
TEST(Robustness, SilentHandshakesAreDroppedWithoutHoldingUpOthers) {
  test::ScopedSession session("silent");
  test::Watchdog watchdog(60s, "silent handshakes");
  ServerOptions options;
  options.endpoint = "silent";
  options.handshake_timeout = 300ms;
  WatchedServer server(options);
  ASSERT_TRUE(server.server_ok());
  ClientOptions co;
  co.endpoint = "silent";
  auto probe = Client::connect(co);
  ASSERT_TRUE(probe) << probe.error().message();
  const auto before = counters(*probe);
  ASSERT_TRUE(before);
  constexpr int kSilent = 50;
  std::vector<UniqueFd> silent;
  for (int i = 0; i < kSilent; ++i) {
    auto s = detail::connect_seqpacket(probe->socket_path(), 2000ms);
    ASSERT_TRUE(s) << s.error().message();
    silent.push_back(std::move(*s));
  }
  // Meanwhile others connect and are served at once (beyond what the machine itself held
  // us up: lateness.hpp).
  const test::Lateness lateness;
  const test::Stopwatch serving(lateness);
  for (int i = 0; i < 10; ++i) {
    auto c = Client::connect(co);
    ASSERT_TRUE(c) << c.error().message();
    ASSERT_TRUE(c->request(kEcho, as_bytes("hi"), 5s));
  }
  EXPECT_LT(serving.unexplained_ms(), 1000) << "silent handshakes held up new clients";
  // Each silent one is closed by the server after the timeout.
  for (UniqueFd& s : silent) {
    std::array<std::byte, 16> buf{};
    auto got = detail::recv_message(s.get(), buf, 3000ms);
    EXPECT_EQ(to_string(got.code()), to_string(Errc::disconnected))
        << (got ? std::string("a message") : got.error().message());
  }
  EXPECT_GE(serving.elapsed_ms(), 250) << "dropped before handshake_timeout";
  EXPECT_LT(serving.unexplained_ms(), 2500) << "dropped long after handshake_timeout";
  // The ten clients above have closed: the server counts each close when it sees it.
  std::optional<Counters> after;
  test::wait_for([&] {
    after = counters(*probe);
    return !after || after->active == before->active;
  });
  ASSERT_TRUE(after);
  EXPECT_EQ(after->rejected, before->rejected + kSilent);
  EXPECT_EQ(after->active, before->active);
}

// ---------------------------------------------------------------------------- backpressure

std::vector<std::byte> pushed_payload(std::uint64_t seq, std::size_t size) {
  std::vector<std::byte> p(size);
  std::memcpy(p.data(), &seq, sizeof seq);
  test::fill_pattern(std::span<std::byte>(p).subspan(8), seq);
  return p;
}

// Checks a pushed message: the next sequence number and its pattern.
bool is_pushed(const Message& m, std::uint64_t expected_seq, std::size_t size) {
  if (m.type != kPushed || m.payload.size() != size) return false;
  std::uint64_t seq = 0;
  std::memcpy(&seq, m.payload.data(), sizeof seq);
  return seq == expected_seq && test::check_pattern(m.payload.subspan(8), seq);
}

// The server pushes to two clients; one never reads. Sends to it say would_block as soon as
// its ring is full, at once every time; the other client receives every message in order;
// and once the stalled client reads, it finds exactly what was accepted for it.
TEST(Robustness, AStalledConsumerFillsOnlyItsOwnRing) {
  test::ScopedSession session("stalled");
  test::Watchdog watchdog(60s, "stalled consumer");
  ServerOptions options;
  options.endpoint = "push";
  auto created = Server::create(options);
  ASSERT_TRUE(created) << created.error().message();
  Server& server = *created;  // driven by this thread only

  ClientOptions co;
  co.endpoint = "push";
  co.ring_capacity = 16384;
  co.name = "stalled";
  auto stalled = test::connect_while_serving(server, co);
  ASSERT_TRUE(stalled) << stalled.error().message();
  co.name = "reader";
  auto reader = test::connect_while_serving(server, co);
  ASSERT_TRUE(reader) << reader.error().message();

  const ConnectionId stalled_id = stalled->id();
  const ConnectionId reader_id = reader->id();
  constexpr std::uint64_t kMessages = 3000;
  constexpr std::size_t kSize = 256;
  std::atomic<std::uint64_t> received{0};
  std::atomic<int> bad{0};
  std::string reader_error;
  std::thread reading([&] {
    const auto until = Clock::now() + 30s;
    while (received.load() < kMessages && Clock::now() < until) {
      auto n = reader->wait(
          [&](const Message& m) {
            if (!is_pushed(m, received.load(), kSize)) bad.fetch_add(1);
            received.fetch_add(1);
          },
          1s);
      if (!n) {
        reader_error = n.error().message();
        return;
      }
    }
  });

  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;
  // Each send's time less what the machine itself held us up meanwhile (lateness.hpp).
  const test::Lateness lateness;
  std::int64_t slowest = 0;   // us
  std::int64_t refusing = 0;  // us, all the sends that said would_block, together
  const auto deadline = Clock::now() + 30s;
  for (std::uint64_t seq = 0; seq < kMessages; ++seq) {
    const auto payload = pushed_payload(seq, kSize);
    const test::Stopwatch sending(lateness);
    auto to_stalled = server.send(stalled_id, kPushed, payload);
    const std::int64_t took = sending.unexplained_us();
    slowest = std::max(slowest, took);
    if (to_stalled) {
      ASSERT_EQ(refused, 0u) << "message " << seq << " accepted after a would_block";
      ++accepted;
    } else {
      ASSERT_EQ(to_stalled.code(), Errc::would_block) << to_stalled.error().message();
      ++refused;
      refusing += took;
    }
    for (;;) {
      auto to_reader = server.send(reader_id, kPushed, payload);
      if (to_reader) break;
      ASSERT_EQ(to_reader.code(), Errc::would_block) << to_reader.error().message();
      ASSERT_LT(Clock::now(), deadline) << "the reading client stopped making room at " << seq;
      (void)server.run_once(1ms);  // woken by the reader's release
    }
  }
  reading.join();
  EXPECT_EQ(reader_error, "");
  EXPECT_EQ(received.load(), kMessages) << "the reading client missed messages";
  EXPECT_EQ(bad.load(), 0) << "messages out of order or damaged";
  EXPECT_GT(accepted, 0u);
  EXPECT_GT(refused, 0u) << "the stalled client's ring never filled";
  EXPECT_EQ(accepted + refused, kMessages);
  // Thousands of refusals in well under a second: none of them waited (a wait of even 1 ms
  // each would add up to seconds; a scheduler hiccup is one slow call, not many).
  EXPECT_LT(refusing, 1'000'000) << refused << " refused sends to the stalled client took "
                                 << refusing << " us together: Server::send waited";
  EXPECT_LT(slowest, 1'000'000) << "a Server::send to the stalled client took " << slowest << " us";

  // The stalled client finds exactly what was accepted for it, in order.
  std::uint64_t got = 0;
  int damaged = 0;
  auto n = stalled->poll([&](const Message& m) {
    if (!is_pushed(m, got, kSize)) ++damaged;
    ++got;
  });
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(got, accepted);
  EXPECT_EQ(damaged, 0);
  // Now it has room again.
  EXPECT_TRUE(server.send(stalled_id, kPushed, pushed_payload(accepted, kSize)));
}

// CPU time this process has used, in milliseconds.
std::int64_t cpu_ms() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return (static_cast<std::int64_t>(ru.ru_utime.tv_sec) + ru.ru_stime.tv_sec) * 1000 +
         (static_cast<std::int64_t>(ru.ru_utime.tv_usec) + ru.ru_stime.tv_usec) / 1000;
}

// A handler that forwards to a client whose ring is full holds the message (retry_later),
// as the README shows and ferryd's bus does. The server is then woken when that client frees
// room (server.hpp); meanwhile it must not spin re-dispatching the message, burning a core.
// Once the client reads, everything held arrives, in order.
TEST(Robustness, AServerHoldingAMessageForAFullClientDoesNotSpin) {
  test::ScopedSession session("hold");
  test::Watchdog watchdog(60s, "held message");
  ServerOptions options;
  options.endpoint = "hold";
  auto created = Server::create(options);
  ASSERT_TRUE(created) << created.error().message();
  test::ServerThread server(std::move(*created));
  Server& srv = *server;
  std::atomic<ConnectionId> target{0};
  std::atomic<int> dispatches{0};
  std::atomic<int> holds{0};
  std::atomic<int> failures{0};
  server->on(kForward, [&](Request& r) {
    dispatches.fetch_add(1);
    auto sent = srv.send(target.load(), kPushed, r.payload());
    if (sent.code() == Errc::would_block) {
      holds.fetch_add(1);
      r.retry_later();
    } else if (!sent) {
      failures.fetch_add(1);
    }
  });
  server.start();
  ClientOptions co;
  co.endpoint = "hold";
  co.ring_capacity = 16384;
  co.name = "full";
  auto full = Client::connect(co);
  ASSERT_TRUE(full) << full.error().message();
  target = full->id();
  co.name = "sender";
  co.ring_capacity = 0;
  auto sender = Client::connect(co);
  ASSERT_TRUE(sender) << sender.error().message();
  constexpr std::uint64_t kMessages = 40;  // 16 KiB holds 15 of them
  constexpr std::size_t kSize = 1000;
  for (std::uint64_t seq = 0; seq < kMessages; ++seq) {
    ASSERT_TRUE(sender->send(kForward, pushed_payload(seq, kSize)));
  }
  // The server fills `full` and holds the next one.
  ASSERT_TRUE(test::wait_for([&] { return holds.load() > 0; })) << "nothing was held";
  const std::int64_t cpu_before = cpu_ms();
  const int dispatches_before = dispatches.load();
  std::this_thread::sleep_for(1000ms);
  const std::int64_t cpu_used = cpu_ms() - cpu_before;
  const int redispatched = dispatches.load() - dispatches_before;
  EXPECT_LT(cpu_used, 300) << "the server used " << cpu_used
                           << " ms of CPU in 1 s holding one message for a full client (it "
                              "dispatched it again "
                           << redispatched << " times)";
  std::printf("holding a message for 1 s: %lld ms of CPU, %d dispatches\n",
              static_cast<long long>(cpu_used), redispatched);

  std::uint64_t got = 0;
  int damaged = 0;
  const auto until = Clock::now() + 10s;
  while (got < kMessages && Clock::now() < until) {
    auto n = full->wait(
        [&](const Message& m) {
          if (!is_pushed(m, got, kSize)) ++damaged;
          ++got;
        },
        1s);
    ASSERT_TRUE(n) << n.error().message();
  }
  EXPECT_EQ(got, kMessages) << "held messages did not arrive once there was room";
  EXPECT_EQ(damaged, 0);
  EXPECT_EQ(failures.load(), 0);
}

// Sends of `size` bytes until one fails; returns how many succeeded, the failure and how
// long that last send took.
struct FillResult {
  int sent = 0;
  std::optional<Error> error;
  std::int64_t last_ms = 0;
};
FillResult fill_until_refused(Client& client, std::uint16_t type, std::size_t size) {
  FillResult r;
  const std::string payload(size, 'b');
  for (int i = 0; i < 10000; ++i) {
    const auto start = Clock::now();
    auto sent = client.send(type, as_bytes(payload));
    r.last_ms = ms_since(start);
    if (!sent) {
      r.error = sent.error();
      return r;
    }
    ++r.sent;
  }
  return r;
}

// A client expect_ring_full_timeout can judge: a 16 KiB ring and a send_timeout of 300 ms.
ClientOptions small_ring_client(const char* endpoint, const char* name) {
  ClientOptions co;
  co.endpoint = endpoint;
  co.name = name;
  co.ring_capacity = 16384;
  co.send_timeout = 300ms;
  return co;
}

void expect_ring_full_timeout(const FillResult& fill, const Client& client,
                              std::int64_t send_timeout_ms) {
  ASSERT_TRUE(fill.error) << "10000 sends succeeded into a ring nobody consumes";
  EXPECT_EQ(fill.error->code(), Errc::timed_out) << fill.error->message();
  const std::string message = fill.error->message();
  EXPECT_NE(message.find("ring full"), std::string::npos) << message;
  EXPECT_NE(message.find(client.socket_path()), std::string::npos) << message;
  EXPECT_GE(fill.last_ms, send_timeout_ms - 5) << "the send gave up before send_timeout";
  EXPECT_LT(fill.last_ms, send_timeout_ms + 2000) << "the send waited far past send_timeout";
  // 16 KiB ring, 1000-byte payloads: at most 16 fit.
  EXPECT_GE(fill.sent, 1);
  EXPECT_LE(fill.sent, 16);
}

// A handler that never takes a message (retry_later forever): its sender fills its ring,
// then waits send_timeout and is told the ring is full; the server's other clients do not
// notice.
TEST(Robustness, ASenderWhoseMessagesAreNeverTakenGetsBackpressure) {
  test::ScopedSession session("backpressure");
  test::Watchdog watchdog(60s, "backpressure");
  ServerOptions options;
  options.endpoint = "slow";
  WatchedServer server(options);
  ASSERT_TRUE(server.server_ok());
  SteadyClient steady("slow");
  ASSERT_FALSE(steady.failed()) << steady.first_error();

  auto blocked = Client::connect(small_ring_client("slow", "blocked"));
  ASSERT_TRUE(blocked) << blocked.error().message();
  const FillResult fill = fill_until_refused(*blocked, kStuck, 1000);
  expect_ring_full_timeout(fill, *blocked, 300);
  if (HasFatalFailure()) return;
  // Still full: the next send is refused the same way.
  const auto start = Clock::now();
  auto again = blocked->send(kStuck, as_bytes(std::string(1000, 'c')));
  EXPECT_TRUE(test::fails_with(again, Errc::timed_out, "ring full"));
  EXPECT_GE(ms_since(start), 295);
  // Served meanwhile, however slow the machine: the blocked client's message is still held.
  test::wait_for([&] { return steady.round_trips() >= 50 || steady.failed(); });
  expect_steady(steady, 50);
}

// A server that is not running its loop: the sender waits send_timeout, then is told the
// ring is full; once the server runs again, every message sent before arrives.
TEST(Robustness, ASenderToAStoppedServerTimesOutAndLosesNothing) {
  test::ScopedSession session("stopped");
  test::Watchdog watchdog(60s, "stopped server");
  ServerOptions options;
  options.endpoint = "paused";
  WatchedServer server(options);
  ASSERT_TRUE(server.server_ok());
  auto sender = Client::connect(small_ring_client("paused", "sender"));
  ASSERT_TRUE(sender) << sender.error().message();
  ASSERT_TRUE(sender->request(kEcho, as_bytes("up"), 5s));

  server.thread().stop();  // the loop no longer runs
  const FillResult fill = fill_until_refused(*sender, kCount, 1000);
  expect_ring_full_timeout(fill, *sender, 300);
  if (HasFatalFailure()) return;

  server.thread().start();
  auto reply = sender->request(kEcho, as_bytes("after"), 5s);
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(server.counted(), fill.sent) << "messages sent before the timeout were lost";
}

// ---------------------------------------------------------------------------- containers

// Runs `fn` in a forked child whose stdout and stderr go to a pipe; collects them and the
// exit status, killing the child after `limit`.
struct ChildResult {
  int status = -1;  // exit code, or 128 + signal
  bool timed_out = false;
  std::string output;
};
ChildResult run_child(const std::function<int()>& fn, std::chrono::seconds limit) {
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return {};
  }
  (void)std::fflush(stdout);  // or the child would write our buffered output again
  (void)std::fflush(stderr);
  const pid_t pid = test::fork_child([&] {
    ::close(fds[0]);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[1]);
    const int rc = fn();
    (void)std::fflush(stdout);
    (void)std::fflush(stderr);
    return rc;
  });
  ::close(fds[1]);
  ChildResult r;
  const auto until = Clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    r.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  r.status = test::wait_child(pid);
  return r;
}

bool program_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (!dir.empty() && ::access(cat(dir, "/", name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

constexpr int kChildSkip = 77;

// The bytes of all connection segments this process maps (each counted once, however many
// times it is mapped), and how many there are.
std::uint64_t connection_segment_bytes(std::size_t* count) {
  std::map<std::string, std::uint64_t> sizes;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    const std::size_t at = line.find("/memfd:ferry:conn-");
    const std::size_t dash = line.find('-');
    if (at == std::string::npos || dash == std::string::npos) continue;
    const std::string name = line.substr(at, line.find(' ', at) - at);
    const std::uint64_t lo = std::stoull(line.substr(0, dash), nullptr, 16);
    const std::uint64_t hi = std::stoull(line.substr(dash + 1), nullptr, 16);
    sizes[name] = std::max(sizes[name], hi - lo);
  }
  std::uint64_t total = 0;
  for (const auto& [name, size] : sizes) total += size;
  *count = sizes.size();
  return total;
}

// In a private mount namespace with a 64 MiB /dev/shm: a server with 1 MiB rings and 1000
// clients (about 2 GiB of connection segments), each doing a round trip. Exits 0 on success.
int thousand_clients_over_a_small_dev_shm() {
  if (::unshare(CLONE_NEWNS) != 0) {
    std::printf("SKIP: unshare(CLONE_NEWNS): %s\n", std::strerror(errno));
    return kChildSkip;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::printf("SKIP: making mounts private: %s\n", std::strerror(errno));
    return kChildSkip;
  }
  if (::mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=64m") != 0) {
    std::printf("SKIP: mounting a 64 MiB tmpfs on /dev/shm: %s\n", std::strerror(errno));
    return kChildSkip;
  }
  struct statfs fs {};
  if (::statfs("/dev/shm", &fs) != 0) {
    std::printf("statfs /dev/shm: %s\n", std::strerror(errno));
    return 10;
  }
  const std::uint64_t shm_bytes =
      std::uint64_t{fs.f_blocks} * static_cast<std::uint64_t>(fs.f_bsize);
  if (shm_bytes > (std::uint64_t{64} << 20)) {
    std::printf("/dev/shm is %llu bytes, not the 64 MiB just mounted\n",
                static_cast<unsigned long long>(shm_bytes));
    return 11;
  }
  // The limit is real: a named object larger than /dev/shm cannot be created.
  {
    std::string name = "ferry-robustness-";
    name += std::to_string(::getpid());
    auto big = SharedMemory::create_named(name, std::size_t{128} << 20);
    if (big) {
      (void)SharedMemory::unlink_named(name);
      std::printf("a 128 MiB /dev/shm object fit into the 64 MiB /dev/shm\n");
      return 12;
    }
    std::printf("control: 128 MiB in /dev/shm fails: %s\n", big.error().message().c_str());
  }
  // Both ends of 1000 connections live in this process: 4 + 3 descriptors each.
  constexpr int kClients = 1000;
  constexpr rlim_t kFdsNeeded = rlim_t{8} * kClients + 256;
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < kFdsNeeded) {
    std::printf("SKIP: the hard descriptor limit %llu is below the %llu needed\n",
                static_cast<unsigned long long>(lim.rlim_max),
                static_cast<unsigned long long>(kFdsNeeded));
    return kChildSkip;
  }
  lim.rlim_cur = lim.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    std::printf("setrlimit(RLIMIT_NOFILE): %s\n", std::strerror(errno));
    return 13;
  }

  ServerOptions options;
  options.endpoint = "many";
  options.ring_capacity = 1u << 20;
  options.max_connections = 1024;
  options.wait.strategy = WaitStrategy::block;
  auto created = Server::create(options);
  if (!created) {
    std::printf("Server::create: %s\n", created.error().message().c_str());
    return 14;
  }
  test::ServerThread server(std::move(*created));
  server->on(kEcho, [](Request& r) {
    if (r.reply(r.payload()).code() == Errc::would_block) r.retry_later();
  });
  server.start();

  std::vector<Client> clients;
  clients.reserve(kClients);
  int replies = 0;
  for (int i = 0; i < kClients; ++i) {
    ClientOptions co;
    co.endpoint = "many";
    co.wait.strategy = WaitStrategy::block;
    co.name = "c";
    co.name += std::to_string(i);
    auto c = Client::connect(co);
    if (!c) {
      std::printf("client %d: connect: %s\n", i, c.error().message().c_str());
      return 15;
    }
    std::string payload = "hello ";
    payload += std::to_string(i);
    auto reply = c->request(kEcho, as_bytes(payload), 10s);
    if (!reply) {
      std::printf("client %d: request: %s\n", i, reply.error().message().c_str());
      return 16;
    }
    if (reply->text() != payload) {
      std::printf("client %d: reply \"%s\"\n", i, std::string(reply->text()).c_str());
      return 17;
    }
    ++replies;
    clients.push_back(std::move(*c));
  }
  // Every connection is still up, and their segments are far larger than /dev/shm.
  std::size_t segments = 0;
  const std::uint64_t segment_bytes = connection_segment_bytes(&segments);
  if (segments != clients.size()) {
    std::printf("%zu connection segments mapped, expected %zu\n", segments, clients.size());
    return 18;
  }
  for (Client& c : clients) {
    if (!c.connected()) {
      std::printf("connection %llu was lost\n", static_cast<unsigned long long>(c.id()));
      return 20;
    }
  }
  struct statfs after {};
  ::statfs("/dev/shm", &after);
  const std::uint64_t shm_used =
      std::uint64_t{after.f_blocks - after.f_bfree} * static_cast<std::uint64_t>(after.f_bsize);
  std::printf(
      "%d clients connected, %d replies; %llu MiB of connection segments; /dev/shm %llu MiB, "
      "%llu KiB used\n",
      static_cast<int>(clients.size()), replies,
      static_cast<unsigned long long>(segment_bytes >> 20),
      static_cast<unsigned long long>(shm_bytes >> 20),
      static_cast<unsigned long long>(shm_used >> 10));
  if (segment_bytes <= shm_bytes * 4) {
    std::printf("the segments (%llu bytes) are not far beyond /dev/shm: the test proves nothing\n",
                static_cast<unsigned long long>(segment_bytes));
    return 19;
  }
  clients.clear();
  server.stop();
  return 0;
}

TEST(Robustness, ASmallDevShmNeverLimitsFerry) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs on /dev/shm";
  if (!program_on_path("unshare")) {
    GTEST_SKIP() << "unshare (util-linux) is not installed: no mount namespaces here";
  }
  test::ScopedSession session("container");
  const auto start = Clock::now();
  const ChildResult r = run_child(thousand_clients_over_a_small_dev_shm, 60s);
  if (r.status == kChildSkip) GTEST_SKIP() << r.output;
  EXPECT_FALSE(r.timed_out) << "the child did not finish within 60 s; its output:\n" << r.output;
  EXPECT_EQ(r.status, 0) << "the child's output:\n" << r.output;
  std::printf("%s(%lld ms)\n", r.output.c_str(), static_cast<long long>(ms_since(start)));
}

}  // namespace
}  // namespace ferry
