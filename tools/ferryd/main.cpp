// ferryd: the local message bus. Runs one endpoint (default "bus") in the foreground until
// SIGINT or SIGTERM; configuration from its TOML file and flags (docs/ferryd.md).
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "ferry/server.hpp"
#include "ferry/session.hpp"
#include "ferryd/bus.hpp"
#include "ferryd/config.hpp"

namespace {

ferry::Server* g_server = nullptr;

extern "C" void on_signal(int /*signal*/) {
  if (g_server != nullptr) g_server->stop();  // async-signal-safe
}

int level_of(const std::string& level) {
  if (level == "error") return 0;
  if (level == "warn") return 1;
  if (level == "info") return 2;
  return 3;
}

// Removes the objects of dead owners in `session` and says what went (paths only).
void clean_up(const std::string& session_option, int level, const char* when) {
  auto session = ferry::resolve_session(session_option);
  if (!session) return;  // Server::create reports a bad session
  auto report = ferry::cleanup_session(*session);
  if (!report) {
    std::fprintf(stderr, "ferryd: %s clean-up: %s\n", when, report.error().message().c_str());
    return;
  }
  if (level >= 2) {
    for (const std::string& p : report->removed) {
      std::fprintf(stderr, "ferryd: %s clean-up: removed %s (its owner is dead)\n", when,
                   p.c_str());
    }
  }
}

int run(int argc, char** argv) {
  std::string output;
  bool exit_now = false;
  auto config = parse_ferryd_args(argc, argv, &output, &exit_now);
  if (exit_now) {
    std::fputs(output.c_str(), stdout);
    return 0;
  }
  if (!config) {
    std::fprintf(stderr, "ferryd: %s\n", config.error().message().c_str());
    return 2;
  }
  const int level = level_of(config->log_level);
  // Stale objects of dead owners in our session go first; live owners' stay.
  clean_up(config->server.session, level, "start-up");
  auto server = ferry::Server::create(config->server);
  if (!server) {
    std::fprintf(stderr, "ferryd: cannot start: %s\n", server.error().message().c_str());
    return 1;
  }
  ferryd::Bus bus(**server);
  if (level >= 3) {
    // Names, pids and reasons only: never payload bytes.
    (*server)->on_connect([](const ferry::ConnectionInfo& c) {
      std::fprintf(stderr, "ferryd: connected id=%llu pid=%d uid=%u name=%s\n",
                   static_cast<unsigned long long>(c.id), static_cast<int>(c.pid),
                   static_cast<unsigned>(c.uid), c.name.c_str());
    });
  }
  // A peer that broke the protocol is a warning; anyone else leaving is routine. Names,
  // pids and reasons only.
  bus.observe_disconnects([level](const ferry::ConnectionInfo& c, ferry::DisconnectReason why) {
    const bool bad = why == ferry::DisconnectReason::protocol_error;
    if (level >= (bad ? 1 : 3)) {
      std::fprintf(stderr, "ferryd: %s id=%llu pid=%d uid=%u name=%s reason=%s\n",
                   bad ? "disconnected a peer that broke the protocol:" : "disconnected",
                   static_cast<unsigned long long>(c.id), static_cast<int>(c.pid),
                   static_cast<unsigned>(c.uid), c.name.c_str(),
                   std::string(ferry::to_string(why)).c_str());
    }
  });
  g_server = server->get();
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (level >= 2) {
    std::fprintf(stderr, "ferryd: listening on %s (session %s, up to %u connections)%s%s\n",
                 (*server)->socket_path().c_str(), (*server)->session().c_str(),
                 config->server.max_connections, config->config_path.empty() ? "" : ", config ",
                 config->config_path.c_str());
  }
  auto r = (*server)->run();
  g_server = nullptr;
  const ferry::ServerStats s = (*server)->stats();
  const ferryd::BusStats& b = bus.stats();
  if (level >= 2) {
    std::fprintf(
        stderr,
        "ferryd: stopped: %llu connections accepted, %llu rejected, %llu lost, "
        "%llu messages in, %llu out, %llu protocol errors\n",
        static_cast<unsigned long long>(s.accepted), static_cast<unsigned long long>(s.rejected),
        static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(s.messages_in),
        static_cast<unsigned long long>(s.messages_out),
        static_cast<unsigned long long>(s.protocol_errors));
    (void)b;
  }
  const std::string session = (*server)->session();
  server->reset();  // our socket and lock go (bus only keeps an unused reference); then
                    // whatever else died meanwhile
  clean_up(session, level, "shutdown");
  if (!r) {
    std::fprintf(stderr, "ferryd: %s\n", r.error().message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferryd: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "ferryd: unexpected error\n");
  }
  return 1;
}
