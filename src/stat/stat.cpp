// Reading servers' counters from their shared memory (ferry/stat.hpp).
#include "ferry/stat.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "conn/segment.hpp"
#include "control/owner_lock.hpp"
#include "control/unix_socket.hpp"
#include "ferry/session.hpp"
#include "stat/proc_fd.hpp"

namespace ferry {

namespace {

using detail::EndpointCounter;

constexpr std::string_view kStatLink = "/memfd:ferry:stat:";
constexpr std::string_view kConnLink = "/memfd:ferry:conn-";
constexpr int kReadAttempts = 32;  // reads of an endpoint before settling for the last one

// One server's stat segment, mapped.
struct StatSegment {
  std::string session;
  std::string endpoint;
  SharedMemory map;
  detail::StatView view;
  const detail::StatHeader& header() const { return *view.header; }
  std::uint64_t counter(EndpointCounter which, std::memory_order order) const {
    return header().counters[static_cast<std::size_t>(which)].load(order);
  }
};

std::string proc_fd_dir(pid_t pid) {
  std::string dir = "/proc/";
  dir.append(pid == 0 ? std::string("self") : std::to_string(pid)).append("/fd");
  return dir;
}

// The process's descriptors whose link starts with `prefix`: path and link text.
std::vector<std::pair<std::string, std::string>> links(const std::string& dir,
                                                       std::string_view prefix) {
  std::vector<std::pair<std::string, std::string>> found;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return found;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string path = dir + "/" + e->d_name;
    std::string link = detail::read_link(path);
    if (link.starts_with(prefix)) found.emplace_back(std::move(path), std::move(link));
  }
  ::closedir(d);
  return found;
}

// "stat:<session>/<endpoint> (deleted)" -> session, endpoint.
bool parse_stat_link(std::string_view link, std::string& session, std::string& endpoint) {
  link.remove_prefix(kStatLink.size());
  if (const std::size_t space = link.find(' '); space != std::string_view::npos) {
    link = link.substr(0, space);
  }
  const std::size_t slash = link.find('/');
  if (slash == std::string_view::npos) return false;
  session = link.substr(0, slash);
  endpoint = link.substr(slash + 1);
  return true;
}

// Why a descriptor was skipped, for SessionStat::problems; nothing if it is just gone.
void note_skipped(std::vector<std::string>* notes, const Error& why) {
  if (notes != nullptr && why.code() != Errc::not_found) {
    notes->push_back("skipped " + why.message());
  }
}

void add_live(DirectionTotals& t, const RingStats& r) {
  t.full_waits += r.full_waits;
  t.full_wait_ns += r.full_wait_ns;
  t.producer_wakes += r.producer_wakes;
  t.consumer_wakes += r.consumer_wakes;
  t.errors += r.errors;
  t.used_bytes += r.used_bytes;
  t.capacity_bytes += r.capacity;
  t.high_water_bytes = std::max(t.high_water_bytes, r.high_water_bytes);
}

void add_closed(DirectionTotals& t, const StatSegment& server, bool in) {
  // Acquire: the second look at closed_generation cannot move before these loads.
  auto get = [&](EndpointCounter c) { return server.counter(c, std::memory_order_acquire); };
  if (in) {
    t.full_waits += get(EndpointCounter::closed_in_full_waits);
    t.full_wait_ns += get(EndpointCounter::closed_in_full_wait_ns);
    t.producer_wakes += get(EndpointCounter::closed_in_producer_wakes);
    t.consumer_wakes += get(EndpointCounter::closed_in_consumer_wakes);
    t.errors += get(EndpointCounter::closed_in_errors);
  } else {
    t.full_waits += get(EndpointCounter::closed_out_full_waits);
    t.full_wait_ns += get(EndpointCounter::closed_out_full_wait_ns);
    t.producer_wakes += get(EndpointCounter::closed_out_producer_wakes);
    t.consumer_wakes += get(EndpointCounter::closed_out_consumer_wakes);
    t.errors += get(EndpointCounter::closed_out_errors);
  }
}

// A connection segment's rings and ids, if it can be read.
struct ConnReading {
  std::uint64_t token = 0;
  std::uint32_t slot = 0;
  ConnectionStat stat;
};
bool read_connection(const std::string& fd_path, const std::string& link, ConnReading& out,
                     std::vector<std::string>* notes) {
  auto mapped = detail::map_server_segment(fd_path, link, detail::kConnHeaderSize);
  if (!mapped) {
    note_skipped(notes, mapped.error());
    return false;
  }
  const SharedMemory& m = *mapped;
  const auto* h = static_cast<const detail::ConnHeader*>(m.data());
  auto view =
      detail::view_connection_segment(m.data(), m.size(), h->ident.connection_id, h->ident.slot);
  if (!view) return false;
  out.token = h->ident.server_token;
  out.slot = h->ident.slot;
  out.stat.id = h->ident.connection_id;
  out.stat.reconnects = h->client.reconnects.load(std::memory_order_relaxed);
  out.stat.in = ring_stats(view->c2s);
  out.stat.out = ring_stats(view->s2c);
  return true;
}

// Who holds the connection, from its server's stat segment; false if that slot no longer
// holds it (closing, or a segment claiming a server it does not belong to).
bool fill_peer(const StatSegment& server, ConnReading& c) {
  if (c.slot >= server.header().ident.slots) return false;
  const detail::PeerEntry& p = server.view.peers[c.slot];
  if (p.connection_id.load(std::memory_order_acquire) != c.stat.id) return false;
  c.stat.pid = p.pid;
  c.stat.uid = p.uid;
  c.stat.gid = p.gid;
  c.stat.connected_unix_ns = p.connected_unix_ns;
  c.stat.name = detail::read_name(p.name);
  // The server may have given the slot to a newer connection while we read: then it is gone.
  return p.connection_id.load(std::memory_order_acquire) == c.stat.id;
}

// read_process_stat(), with why descriptors that looked like a server's segments were
// skipped added to `notes` (if not null).
Result<std::vector<EndpointStat>> read_process(pid_t pid, std::vector<std::string>* notes) {
  const std::string dir = proc_fd_dir(pid);
  if (::access(dir.c_str(), R_OK | X_OK) != 0) {
    const int err = errno;
    if (err == ENOENT) return Error(Errc::not_found, "no process " + std::to_string(pid));
    return Error::from_errno(err, "reading " + dir + " (a server of another user needs root)");
  }
  std::vector<StatSegment> servers;
  for (const auto& [path, link] : links(dir, kStatLink)) {
    StatSegment b;
    if (!parse_stat_link(link, b.session, b.endpoint)) continue;
    auto mapped = detail::map_server_segment(path, link, detail::kStatHeaderSize);
    if (!mapped) {
      note_skipped(notes, mapped.error());
      continue;
    }
    b.map = std::move(*mapped);
    auto view = detail::view_stat_segment(b.map.data(), b.map.size());
    if (!view) {
      std::string why = path;
      why.append(" (").append(link).append("): ").append(view.error().message());
      note_skipped(notes, Error(view.code(), why));
      continue;
    }
    b.view = *view;
    servers.push_back(std::move(b));
  }
  std::vector<EndpointStat> result;
  if (servers.empty()) return result;

  std::vector<EndpointStat> stats(servers.size());
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    std::vector<std::uint64_t> before(servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i) {
      before[i] = servers[i].counter(EndpointCounter::closed_generation, std::memory_order_acquire);
      EndpointStat& e = stats[i];
      e = EndpointStat{};
      e.session = servers[i].session;
      e.endpoint = servers[i].endpoint;
      e.pid = pid == 0 ? static_cast<long>(::getpid()) : static_cast<long>(pid);
      e.started_unix_ns = servers[i].header().ident.started_unix_ns;
      e.max_connections = servers[i].header().ident.slots;
      e.server = detail::endpoint_stats(servers[i].header());
      add_closed(e.in, servers[i], true);
      add_closed(e.out, servers[i], false);
    }
    for (const auto& [path, link] : links(dir, kConnLink)) {
      ConnReading c;
      if (!read_connection(path, link, c, notes)) continue;
      for (std::size_t i = 0; i < servers.size(); ++i) {
        if (servers[i].header().ident.server_token != c.token) continue;
        if (!fill_peer(servers[i], c)) break;
        add_live(stats[i].in, c.stat.in);
        add_live(stats[i].out, c.stat.out);
        stats[i].connections.push_back(std::move(c.stat));
        break;
      }
    }
    bool settled = true;
    for (std::size_t i = 0; i < servers.size(); ++i) {
      if (servers[i].counter(EndpointCounter::closed_generation, std::memory_order_relaxed) !=
          before[i]) {
        settled = false;
      }
    }
    if (settled) break;
  }
  for (EndpointStat& e : stats) {
    std::sort(e.connections.begin(), e.connections.end(),
              [](const ConnectionStat& a, const ConnectionStat& b) { return a.id < b.id; });
  }
  return stats;
}

}  // namespace

Result<std::vector<EndpointStat>> read_process_stat(pid_t pid) {
  return read_process(pid, nullptr);
}

Result<SessionStat> read_session_stat(std::string_view session) {
  auto name = resolve_session(session);
  if (!name) return name.error();
  auto dir = session_dir(*name, false);
  if (!dir) return dir.error();
  SessionStat out;
  out.session = *name;
  out.directory = *dir;

  std::set<long> pids;
  DIR* d = ::opendir(dir->c_str());
  if (d == nullptr) return Error::from_errno(errno, "reading " + *dir);
  while (const dirent* e = ::readdir(d)) {
    const std::string_view file(e->d_name);
    if (!file.ends_with(".lock")) continue;
    const long pid = detail::live_owner_pid(*dir + "/" + std::string(file));
    if (pid > 0) pids.insert(pid);
  }
  ::closedir(d);

  for (const long pid : pids) {
    std::vector<std::string> notes;
    auto endpoints = read_process(static_cast<pid_t>(pid), &notes);
    for (const std::string& note : notes) {
      out.problems.push_back("pid " + std::to_string(pid) + ": " + note);
    }
    if (!endpoints) {
      if (endpoints.code() != Errc::not_found) {
        out.problems.push_back("pid " + std::to_string(pid) + ": " + endpoints.error().message());
      }
      continue;
    }
    for (EndpointStat& e : *endpoints) {
      if (e.session == out.session) out.endpoints.push_back(std::move(e));
    }
  }
  std::sort(out.endpoints.begin(), out.endpoints.end(),
            [](const EndpointStat& a, const EndpointStat& b) { return a.endpoint < b.endpoint; });
  return out;
}

}  // namespace ferry
