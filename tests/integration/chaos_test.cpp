// SPDX-License-Identifier: Apache-2.0
// Chaos: 32 client processes send numbered messages to a server process while the test
// kills random clients with SIGKILL hundreds of times (each replaced by a new process) and
// the server several times (restarted after a pause). Afterwards: no message the server
// acknowledged was lost, none was delivered twice unless marked as sent again, none was
// corrupt, every surviving client reconnected by itself, and nothing leaked (descriptors,
// mappings, /dev/shm, the session directory). Prints the totals; docs/reliability.md
// records them.
//
// The server logs what it handled into memory shared with the test (it survives the
// server's death): per producer, the next sequence number it expects. A message it already
// logged may come again only marked resent (the server died after handling it but before
// acknowledging it); anything else out of order is a loss or a duplicate.
//
// Every other server kill first stops the server (SIGSTOP) until the clients committed
// more: messages certainly not consumed when it dies, so every run sends some again. The
// negative control runs the same checker with Unsent::hand_back, where those messages are
// never sent again: it must report them lost.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "ferry/client.hpp"
#include "ferry/server.hpp"
#include "ferry/session.hpp"
#include "support/endpoint_support.hpp"
#include "support/ferryd_process.hpp"
#include "support/test_support.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

constexpr int kMaxProducers = 4096;
constexpr std::size_t kPayload = 200;
constexpr int kBurst = 16;            // messages per burst, then a pause
constexpr long kPauseNs = 4'000'000;  // about 4k messages/s per client
constexpr std::uint16_t kData = 1;
constexpr const char* kEndpoint = "chaos";

struct ProducerSlot {
  std::atomic<std::uint64_t> committed;    // messages send() accepted (stored after each)
  std::atomic<std::uint64_t> acked;        // Client::acknowledged(), now and then
  std::atomic<std::uint64_t> handed_back;  // Unsent::hand_back: take_unsent() gave back
  std::atomic<std::uint64_t> logged;       // server: every sequence number below was handled
  std::atomic<std::uint32_t> lost_events;
  std::atomic<std::uint32_t> restored_events;
  std::atomic<std::int64_t> restored_at_ns;
  std::atomic<std::uint32_t> killed;
  std::atomic<std::uint32_t> connected;  // its first connection succeeded
};

struct Shared {
  std::atomic<std::uint32_t> stop;
  std::atomic<std::uint64_t> sink_generation;
  std::atomic<std::int64_t> sink_ready_ns;
  std::atomic<std::uint64_t> handled;
  std::atomic<std::uint64_t> resent_new;     // marked resent, not handled before
  std::atomic<std::uint64_t> resent_seen;    // marked resent and already logged: deduped
  std::atomic<std::uint64_t> unmarked_dups;  // already logged and not marked: a duplicate
  std::atomic<std::uint64_t> gaps;           // a sequence number skipped: a loss
  std::atomic<std::uint64_t> corrupt;
  std::atomic<std::int64_t> sink_final_fds_extra;  // open fds at the end minus at the start
  std::atomic<std::int64_t> sink_final_mappings;   // ferry mappings at the end minus at the start
  std::atomic<std::int64_t> sink_final_connections;
  ProducerSlot p[kMaxProducers];
};

void encode(std::span<std::byte> out, std::uint32_t id, std::uint64_t seq) {
  std::memcpy(out.data(), &id, 4);
  std::memcpy(out.data() + 8, &seq, 8);
  test::fill_pattern(out.subspan(16), (std::uint64_t{id} << 40) ^ seq);
}

// ------------------------------------------------------------------------------ the server

Server* g_sink = nullptr;
extern "C" void stop_sink(int /*signal*/) {
  if (g_sink != nullptr) g_sink->stop();
}

int run_sink(Shared& sh) {
  ServerOptions o;
  o.endpoint = kEndpoint;
  o.max_connections = 512;
  o.ring_capacity = 64 * 1024;
  auto created = Server::create(o);
  if (!created) {
    std::fprintf(stderr, "sink: %s\n", created.error().message().c_str());
    return 1;
  }
  Server& s = *created;
  s.on(kData, [&](Request& r) {
    const auto payload = r.payload();
    std::uint32_t id = 0;
    std::uint64_t seq = 0;
    if (payload.size() != kPayload) {
      sh.corrupt.fetch_add(1);
      return;
    }
    std::memcpy(&id, payload.data(), 4);
    std::memcpy(&seq, payload.data() + 8, 8);
    if (id >= kMaxProducers ||
        !test::check_pattern(payload.subspan(16), (std::uint64_t{id} << 40) ^ seq)) {
      sh.corrupt.fetch_add(1);
      return;
    }
    ProducerSlot& slot = sh.p[id];
    const std::uint64_t next = slot.logged.load();
    if (seq == next) {
      slot.logged.store(next + 1);
      sh.handled.fetch_add(1);
      if (r.message().is_resent()) sh.resent_new.fetch_add(1);
    } else if (seq < next) {
      (r.message().is_resent() ? sh.resent_seen : sh.unmarked_dups).fetch_add(1);
    } else {
      sh.gaps.fetch_add(seq - next);
      slot.logged.store(seq + 1);
      sh.handled.fetch_add(1);  // this one arrived; those before it did not
    }
  });
  g_sink = &s;
  struct sigaction sa {};
  sa.sa_handler = stop_sink;
  ::sigaction(SIGTERM, &sa, nullptr);
  const std::size_t fds_at_start = test::open_fds(::getpid());
  const std::size_t mappings_at_start = test::ferry_mappings(::getpid());  // the doorbell
  sh.sink_ready_ns.store(tools::now_ns());
  sh.sink_generation.fetch_add(1);
  (void)s.run();  // until SIGTERM (or SIGKILL, the point of this test)
  // A clean stop: every client has left by now; the last hang-ups may still be queued.
  const std::int64_t give_up = tools::now_ns() + 30'000'000'000;
  while (s.connection_count() > 0 && tools::now_ns() < give_up) (void)s.run_once(10ms);
  sh.sink_final_connections.store(static_cast<std::int64_t>(s.connection_count()));
  sh.sink_final_fds_extra.store(static_cast<std::int64_t>(test::open_fds(::getpid())) -
                                static_cast<std::int64_t>(fds_at_start));
  sh.sink_final_mappings.store(static_cast<std::int64_t>(test::ferry_mappings(::getpid())) -
                               static_cast<std::int64_t>(mappings_at_start));
  g_sink = nullptr;
  return 0;
}

// ------------------------------------------------------------------------------ a client

int run_producer(Shared& sh, std::uint32_t id, Unsent unsent) {
  ProducerSlot& slot = sh.p[id];
  ClientOptions o;
  o.endpoint = kEndpoint;
  o.name = "chaos-" + std::to_string(id);
  o.ring_capacity = 64 * 1024;
  o.send_timeout = 30s;
  o.unsent = unsent;
  o.on_link = [&](const LinkEvent& e) {
    if (e.kind == LinkEvent::Kind::lost) {
      slot.lost_events.fetch_add(1);
    } else {
      slot.restored_at_ns.store(tools::now_ns());
      slot.restored_events.fetch_add(1);
    }
  };
  // The server may be down for a moment when we start.
  Result<Client> client = Error(Errc::not_found, "not tried");
  const std::int64_t connect_until = tools::now_ns() + 60'000'000'000;
  while (!client && tools::now_ns() < connect_until) {
    client = Client::connect(o);
    if (!client) std::this_thread::sleep_for(5ms);
  }
  if (!client) {
    std::fprintf(stderr, "producer %u: %s\n", id, client.error().message().c_str());
    return 2;
  }
  slot.connected.store(1);
  // With Unsent::hand_back, what the dead servers never consumed comes back here and is
  // never sent again: counted, so that the checker can be held to it.
  std::uint64_t handed_back = 0;
  auto take_unsent = [&] {
    handed_back += client->take_unsent().size();
    slot.handed_back.store(handed_back);
  };
  std::vector<std::byte> payload(kPayload);
  std::uint64_t seq = 0;
  while (sh.stop.load() == 0) {
    for (int k = 0; k < kBurst; ++k) {
      encode(payload, id, seq);
      if (auto r = client->send(kData, payload); !r) {
        std::fprintf(stderr, "producer %u: send %llu: %s\n", id,
                     static_cast<unsigned long long>(seq), r.error().message().c_str());
        return 3;
      }
      slot.committed.store(++seq);
    }
    take_unsent();
    slot.acked.store(client->acknowledged());
    const timespec pause{0, kPauseNs};
    ::nanosleep(&pause, nullptr);
  }
  // Until the server has consumed everything (reconnecting if it is down right now).
  const std::int64_t give_up = tools::now_ns() + 30'000'000'000;
  while (client->acknowledged() + handed_back < seq && tools::now_ns() < give_up) {
    (void)client->wait([](const Message&) {}, 5ms);
    take_unsent();
  }
  slot.acked.store(client->acknowledged());
  return client->acknowledged() + handed_back == seq && client->connected() ? 0 : 4;
}

// ------------------------------------------------------------------------------ the test

std::vector<std::string> shm_objects(const std::string& prefix) {
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm")) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) found.push_back(name);
  }
  return found;
}

struct ChaosConfig {
  double seconds = 30.0;
  int clients = 32;
  int server_kills = 5;
  bool kill_clients = true;
  Unsent unsent = Unsent::resend;
  int freeze_every = 2;  // every n-th server kill is preceded by a SIGSTOP (0: none)
};

// What a run did and what the checker found.
struct ChaosReport {
  std::uint32_t client_kills = 0;
  int server_kills = 0;
  std::uint32_t clients_in_all = 0;
  std::uint32_t early_exits = 0;
  std::uint64_t committed = 0;
  std::uint64_t handled = 0;
  std::uint64_t resent_new = 0;
  std::uint64_t resent_seen = 0;
  std::uint64_t frozen = 0;  // committed while the server was stopped, before it was killed
  std::uint64_t handed_back = 0;
  std::uint64_t delivered_after_death = 0;
  std::uint64_t lost_acked = 0;
  std::uint64_t unmarked_dups = 0;
  std::uint64_t gaps = 0;
  std::uint64_t survivors_unlogged = 0;  // committed by survivors, never handled, no later one
  std::uint64_t survivors_incomplete = 0;
  std::uint32_t survivors_not_reconnected = 0;
  std::uint64_t corrupt = 0;
  std::size_t leaked_shm = 0;
  std::size_t leaked_files = 0;
  std::int64_t sink_fds_extra = 0;
  std::int64_t sink_mappings = 0;
  std::int64_t sink_connections = 0;
  std::int64_t fds_extra = 0;
  std::int64_t longest_down_ns = 0;
  std::int64_t longest_reconnect_ns = 0;

  // Every message the checker finds missing: skipped sequence numbers, and survivors' last
  // messages that never arrived.
  std::uint64_t lost() const { return gaps + survivors_unlogged; }
};

// Runs the chaos and fills `out` (call with ASSERT_NO_FATAL_FAILURE).
void run_chaos(const ChaosConfig& cfg, ChaosReport& out) {
  test::ScopedSession session("chaos");
  test::SharedBlock block(sizeof(Shared));
  auto& sh = *new (block.data()) Shared{};
  const std::size_t fds_before = test::open_fds(::getpid());
  const std::string shm_prefix = "ferry." + std::to_string(::geteuid()) + ".chaos.";
  ASSERT_TRUE(shm_objects(shm_prefix).empty());

  auto start_sink = [&]() {
    const std::uint64_t generation = sh.sink_generation.load();
    const pid_t pid = test::fork_child([&] { return run_sink(sh); });
    test::wait_for([&] { return sh.sink_generation.load() != generation; });
    return pid;
  };
  pid_t sink = start_sink();
  ASSERT_EQ(sh.sink_generation.load(), 1u) << "the server did not start";

  struct Running {
    pid_t pid;
    std::uint32_t id;
  };
  std::vector<Running> running;
  std::uint32_t next_id = 0;
  auto spawn = [&] {
    const std::uint32_t id = next_id++;
    running.push_back(
        {test::fork_child([&sh, id, &cfg] { return run_producer(sh, id, cfg.unsent); }), id});
  };
  for (int i = 0; i < cfg.clients; ++i) spawn();
  // The chaos starts once every client is connected: a server kill then always meets some
  // (on a busy machine the first ones could still be starting when the first kill is due).
  ASSERT_TRUE(test::wait_for([&] {
    for (const Running& r : running) {
      if (sh.p[r.id].connected.load() == 0) return false;
    }
    return true;
  })) << "the clients did not all connect";
  auto committed_by = [&](const std::vector<std::uint32_t>& ids) {
    std::uint64_t n = 0;
    for (std::uint32_t id : ids) n += sh.p[id].committed.load();
    return n;
  };

  std::mt19937 rng(20261127);
  const std::int64_t t0 = tools::now_ns();
  const auto total_ns = static_cast<std::int64_t>(cfg.seconds * 1e9);
  // Hundreds at full scale. A busy machine kills less often, so the run goes on until
  // there were this many rather than fail for it.
  const auto min_client_kills = cfg.kill_clients ? static_cast<std::uint32_t>(cfg.seconds * 6) : 0u;
  std::int64_t next_client_kill = t0 + 100'000'000;
  while (tools::now_ns() - t0 < total_ns || out.server_kills < cfg.server_kills ||
         out.client_kills < min_client_kills) {
    std::this_thread::sleep_for(5ms);
    const std::int64_t now = tools::now_ns();
    // A client that ended by itself has failed: its exit code says why (stderr has more).
    for (std::size_t i = 0; i < running.size(); ++i) {
      int status = 0;
      if (::waitpid(running[i].pid, &status, WNOHANG) == running[i].pid) {
        ADD_FAILURE() << "client " << running[i].id << " exited by itself, status " << status;
        ++out.early_exits;
        running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
        spawn();
        break;
      }
    }
    if (cfg.kill_clients && now >= next_client_kill) {
      std::uniform_int_distribution<std::size_t> pick(0, running.size() - 1);
      const std::size_t i = pick(rng);
      sh.p[running[i].id].killed.store(1);
      ::kill(running[i].pid, SIGKILL);
      (void)test::wait_child(running[i].pid);
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i));
      ++out.client_kills;
      spawn();
      next_client_kill =
          now + std::uniform_int_distribution<std::int64_t>(40, 120)(rng) * 1'000'000;
    }
    if (out.server_kills < cfg.server_kills &&
        now - t0 >= total_ns * (out.server_kills + 1) / (cfg.server_kills + 1)) {
      // Kill the server, leave it dead for 20-150 ms, start it again, then time how long
      // each client that lived through it takes to be back.
      std::vector<std::uint32_t> before;
      std::vector<std::uint32_t> restored_before;
      for (const Running& r : running) {
        if (sh.p[r.id].connected.load() == 0) continue;  // still starting: not a reconnect
        before.push_back(r.id);
        restored_before.push_back(sh.p[r.id].restored_events.load());
      }
      if (cfg.freeze_every > 0 && (out.server_kills + 1) % cfg.freeze_every == 0) {
        // Stopped (waitpid says so), the server consumes nothing more: what these clients
        // commit from now on is certainly not consumed when it dies.
        ::kill(sink, SIGSTOP);
        int status = 0;
        ASSERT_EQ(::waitpid(sink, &status, WUNTRACED), sink);
        ASSERT_TRUE(WIFSTOPPED(status)) << "the server did not stop, status " << status;
        const std::uint64_t at_stop = committed_by(before);
        EXPECT_TRUE(test::wait_for([&] { return committed_by(before) >= at_stop + kBurst; }))
            << "the clients committed nothing while the server was stopped";
        out.frozen += committed_by(before) - at_stop;
      }
      ::kill(sink, SIGKILL);
      (void)test::wait_child(sink);
      const std::int64_t died = tools::now_ns();
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 150)(rng)));
      sink = start_sink();
      const std::int64_t ready = sh.sink_ready_ns.load();
      ASSERT_EQ(sh.sink_generation.load(), static_cast<std::uint64_t>(out.server_kills + 2))
          << "the server did not come back";
      out.longest_down_ns = std::max(out.longest_down_ns, ready - died);
      test::wait_for([&] {
        for (std::size_t k = 0; k < before.size(); ++k) {
          if (sh.p[before[k]].restored_events.load() == restored_before[k]) return false;
        }
        return true;
      });
      for (std::size_t k = 0; k < before.size(); ++k) {
        const ProducerSlot& slot = sh.p[before[k]];
        EXPECT_GT(slot.restored_events.load(), restored_before[k])
            << "client " << before[k] << " did not reconnect within " << test::kPatience.count()
            << " s";
        out.longest_reconnect_ns =
            std::max(out.longest_reconnect_ns, slot.restored_at_ns.load() - ready);
      }
      ++out.server_kills;
    }
  }

  // The end: clients stop, wait until the server consumed everything, and leave.
  sh.stop.store(1);
  for (const Running& r : running) {
    EXPECT_EQ(test::wait_child(r.pid), 0) << "client " << r.id << " did not finish cleanly";
  }
  ::kill(sink, SIGTERM);
  EXPECT_EQ(test::wait_child(sink), 0);

  // What the server handled against what the clients were told.
  out.clients_in_all = next_id;
  for (std::uint32_t id = 0; id < next_id; ++id) {
    const ProducerSlot& s = sh.p[id];
    out.committed += s.committed.load();
    out.handed_back += s.handed_back.load();
    if (s.logged.load() < s.acked.load()) out.lost_acked += s.acked.load() - s.logged.load();
    if (s.killed.load() != 0) {
      if (s.logged.load() > s.acked.load())
        out.delivered_after_death += s.logged.load() - s.acked.load();
      continue;
    }
    if (s.logged.load() < s.committed.load()) {
      out.survivors_unlogged += s.committed.load() - s.logged.load();
    }
    if (s.logged.load() != s.committed.load() || s.acked.load() != s.committed.load()) {
      ++out.survivors_incomplete;
    }
    if (s.restored_events.load() != s.lost_events.load()) ++out.survivors_not_reconnected;
  }
  out.handled = sh.handled.load();
  out.resent_new = sh.resent_new.load();
  out.resent_seen = sh.resent_seen.load();
  out.unmarked_dups = sh.unmarked_dups.load();
  out.gaps = sh.gaps.load();
  out.corrupt = sh.corrupt.load();
  out.leaked_shm = shm_objects(shm_prefix).size();
  auto dir = session_dir("chaos", false);
  if (dir) {
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(*dir)) {
      ++out.leaked_files;
    }
  }
  out.sink_fds_extra = sh.sink_final_fds_extra.load();
  out.sink_mappings = sh.sink_final_mappings.load();
  out.sink_connections = sh.sink_final_connections.load();
  out.fds_extra =
      static_cast<std::int64_t>(test::open_fds(::getpid())) - static_cast<std::int64_t>(fds_before);
}

void print(const char* what, const ChaosConfig& cfg, const ChaosReport& r) {
  std::printf(
      "%s: %.0f s, %u client kills, %d server kills, %u clients in all; %llu messages "
      "committed, %llu handled (%llu of them sent again after a server kill; %llu committed "
      "while the server was stopped), %llu sent again and already handled (marked resent: "
      "deduped), %llu handed back, %llu delivered after their client was killed; lost "
      "(acknowledged) %llu, unmarked duplicates %llu, gaps %llu, never arrived %llu, corrupt "
      "%llu; leaked: %zu shm objects, %zu files, server fds %+lld, server mappings %lld, test "
      "fds %+lld; longest server downtime %.1f ms, longest reconnect after the server was "
      "back %.1f ms\n",
      what, cfg.seconds, r.client_kills, r.server_kills, r.clients_in_all,
      static_cast<unsigned long long>(r.committed), static_cast<unsigned long long>(r.handled),
      static_cast<unsigned long long>(r.resent_new), static_cast<unsigned long long>(r.frozen),
      static_cast<unsigned long long>(r.resent_seen),
      static_cast<unsigned long long>(r.handed_back),
      static_cast<unsigned long long>(r.delivered_after_death),
      static_cast<unsigned long long>(r.lost_acked),
      static_cast<unsigned long long>(r.unmarked_dups), static_cast<unsigned long long>(r.gaps),
      static_cast<unsigned long long>(r.survivors_unlogged),
      static_cast<unsigned long long>(r.corrupt), r.leaked_shm, r.leaked_files,
      static_cast<long long>(r.sink_fds_extra), static_cast<long long>(r.sink_mappings),
      static_cast<long long>(r.fds_extra), static_cast<double>(r.longest_down_ns) / 1e6,
      static_cast<double>(r.longest_reconnect_ns) / 1e6);
}

TEST(Chaos, KillClientsAndTheServerNothingLostNothingLeaked) {
  test::Watchdog watchdog(240s, "the chaos test");
  ChaosConfig cfg;
  cfg.seconds = 30.0 * test::test_scale();
  ChaosReport r;
  ASSERT_NO_FATAL_FAILURE(run_chaos(cfg, r));
  print("chaos", cfg, r);

  EXPECT_GE(r.client_kills, static_cast<std::uint32_t>(cfg.seconds * 6));  // hundreds at full scale
  EXPECT_EQ(r.server_kills, cfg.server_kills);
  EXPECT_EQ(r.early_exits, 0u);
  EXPECT_EQ(r.lost_acked, 0u);
  EXPECT_EQ(r.survivors_incomplete, 0u);
  EXPECT_EQ(r.survivors_not_reconnected, 0u);
  EXPECT_EQ(r.unmarked_dups, 0u);
  EXPECT_EQ(r.gaps, 0u);
  EXPECT_EQ(r.corrupt, 0u);
  EXPECT_GT(r.handled, 0u);
  // What was committed while the server was stopped was sent again and handled, as new.
  EXPECT_GT(r.frozen, 0u);
  EXPECT_GE(r.resent_new, r.frozen);
  EXPECT_EQ(r.handed_back, 0u);
  EXPECT_EQ(r.leaked_shm, 0u);
  EXPECT_EQ(r.leaked_files, 0u) << "the session directory should be empty after a clean stop";
  EXPECT_EQ(r.sink_connections, 0);
  EXPECT_EQ(r.sink_fds_extra, 0);
  EXPECT_EQ(r.sink_mappings, 0);
  EXPECT_EQ(r.fds_extra, 0);
  // Not a speed target: a generous bound that still catches a client that stopped trying.
  EXPECT_LT(r.longest_reconnect_ns, 2'000'000'000);
}

// The negative control: the same checker, with the messages a dead server never consumed
// handed back to the application instead of sent again. It must find them missing: at
// least those committed while the server was stopped, at most those handed back (the dead
// server may have handled some it had not acknowledged). No client is killed, so that
// every message handed back belongs to a client that lived to the end.
TEST(Chaos, HandBackInsteadOfResendIsReportedAsLoss) {
  test::Watchdog watchdog(120s, "the chaos negative control");
  ChaosConfig cfg;
  cfg.seconds = 6.0 * test::test_scale();
  cfg.clients = 8;
  cfg.server_kills = 2;
  cfg.kill_clients = false;
  cfg.unsent = Unsent::hand_back;
  cfg.freeze_every = 1;
  ChaosReport r;
  ASSERT_NO_FATAL_FAILURE(run_chaos(cfg, r));
  print("chaos with hand-back", cfg, r);

  EXPECT_EQ(r.server_kills, cfg.server_kills);
  EXPECT_EQ(r.early_exits, 0u);
  EXPECT_GT(r.frozen, 0u);
  EXPECT_GE(r.handed_back, r.frozen);
  EXPECT_GE(r.lost(), r.frozen) << "the checker missed messages that were never sent again";
  EXPECT_LE(r.lost(), r.handed_back) << "the checker found more missing than was handed back";
  EXPECT_EQ(r.committed, r.handled + r.lost()) << "every message arrived or was found missing";
  EXPECT_GT(r.survivors_incomplete, 0u) << "the main test's check would have passed";
  EXPECT_EQ(r.resent_new, 0u);
  EXPECT_EQ(r.lost_acked, 0u);  // acknowledged ones are still never lost
  EXPECT_EQ(r.unmarked_dups, 0u);
  EXPECT_EQ(r.corrupt, 0u);
  EXPECT_EQ(r.survivors_not_reconnected, 0u);
}

}  // namespace
}  // namespace ferry
