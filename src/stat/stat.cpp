// SPDX-License-Identifier: Apache-2.0
// Reading servers' counters from their shared memory (ferry/stat.hpp).
#include "ferry/stat.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "conn/segment.hpp"
#include "control/owner_lock.hpp"
#include "control/unix_socket.hpp"
#include "ferry/session.hpp"
#include "stat/closed_totals.hpp"
#include "stat/extras.hpp"
#include "stat/proc_fd.hpp"
#include "stat/stat_segment.hpp"

namespace ferry {

namespace {

constexpr std::string_view kStatLink = "/memfd:ferry:stat:";
constexpr std::string_view kConnLink = "/memfd:ferry:conn-";
// Readings of an endpoint before settling for the last one: the first few at once, then
// after a pause that doubles from 50 us to 1 ms (about 25 ms in all), so that a server
// descheduled halfway through closing a connection gets to finish.
constexpr int kReadAttempts = 32;
constexpr int kQuickAttempts = 4;
constexpr std::chrono::microseconds kFirstPause{50};
constexpr std::chrono::microseconds kLongestPause{1000};

// One server's stat segment, mapped.
struct StatSegment {
  std::string session;
  std::string endpoint;
  SharedMemory map;
  detail::StatView view;
  const detail::StatHeader& header() const { return *view.header; }
};

// One connection segment, mapped, with what it said when it was mapped (its ident is the
// client's to write: only the id, which is also in the name the server gave the memfd, is
// checked against the server's).
struct ConnSegment {
  std::uint64_t id = 0;  // from the memfd's name
  std::uint64_t token = 0;
  std::uint32_t slot = 0;
  SharedMemory map;
  detail::ConnView view;
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

// "conn-<id> (deleted)" -> id (never 0).
bool parse_conn_link(std::string_view link, std::uint64_t& id) {
  link.remove_prefix(kConnLink.size());
  const auto [end, ec] = std::from_chars(link.data(), link.data() + link.size(), id);
  return ec == std::errc() && id != 0 && (end == link.data() + link.size() || *end == ' ');
}

// Why a descriptor was skipped, for SessionStat::problems; nothing if it is just gone.
void note_skipped(std::vector<std::string>* notes, const Error& why) {
  if (notes != nullptr && why.code() != Errc::not_found) {
    notes->push_back("skipped " + why.message());
  }
}

// Adds a live connection's rings to an endpoint's totals: the counters the closed totals
// keep bounded as the server will bound them when it closes (so that the sums do not drop
// then), every sum saturating.
void add_live(DirectionTotals& t, const RingStats& ring, std::int64_t connected_unix_ns,
              std::int64_t now_unix_ns) {
  const RingStats r = detail::bounded_ring_counters(ring, connected_unix_ns, now_unix_ns);
  for (const detail::ClosedField& f : detail::kClosedFields) {
    t.*f.totals = detail::saturating_add(t.*f.totals, r.*f.ring);
  }
  t.used_bytes = detail::saturating_add(t.used_bytes, r.used_bytes);
  t.capacity_bytes = detail::saturating_add(t.capacity_bytes, r.capacity);
  t.high_water_bytes = std::max(t.high_water_bytes, r.high_water_bytes);
}

void add_closed(DirectionTotals& t, const detail::StatHeader& header, bool in) {
  for (std::size_t i = 0; i < detail::kClosedFields.size(); ++i) {
    t.*detail::kClosedFields[i].totals =
        detail::closed_counter(header, in, i).load(std::memory_order_relaxed);
  }
}

// The connection's peer entry, copied once, if the slot still holds that connection.
bool read_peer(const StatSegment& server, const ConnSegment& c, ConnectionStat& out) {
  if (c.slot >= server.header().ident.slots) return false;
  const detail::PeerEntry& p = server.view.peers[c.slot];
  // Acquire: pairs with the release store of connection_id when the server filled the entry.
  if (p.connection_id.load(std::memory_order_acquire) != c.id) return false;
  out.pid = p.pid;
  out.uid = p.uid;
  out.gid = p.gid;
  out.connected_unix_ns = p.connected_unix_ns;
  out.name = detail::read_name(p.name);
  return true;
}

// One reading of an endpoint: its counters, closed totals and live connections (`conns`,
// by id). A moment's view only if detail::stat_read_settled() says so afterwards.
void read_endpoint_once(const StatSegment& server, const std::vector<const ConnSegment*>& conns,
                        EndpointStat& e) {
  const detail::StatHeader& header = server.header();
  e.server = detail::endpoint_stats(header);
  e.in = DirectionTotals{};
  e.out = DirectionTotals{};
  add_closed(e.in, header, true);
  add_closed(e.out, header, false);
  e.connections.clear();
  const std::int64_t now = detail::unix_now_ns();
  for (const ConnSegment* c : conns) {
    ConnectionStat stat;
    if (!read_peer(server, *c, stat)) continue;  // closed, or not this server's
    stat.id = c->id;
    stat.reconnects = c->view.header->client.reconnects.load(std::memory_order_relaxed);
    stat.in = ring_stats(c->view.c2s);
    stat.out = ring_stats(c->view.s2c);
    add_live(e.in, stat.in, stat.connected_unix_ns, now);
    add_live(e.out, stat.out, stat.connected_unix_ns, now);
    e.connections.push_back(std::move(stat));
  }
}

void pause_before_retry(int attempt) {
  if (attempt < kQuickAttempts) {
    std::this_thread::yield();
    return;
  }
  const auto pause =
      std::min(kLongestPause, kFirstPause * (1 << std::min(attempt - kQuickAttempts, 5)));
  std::this_thread::sleep_for(pause);
}

// An endpoint read until a reading is one moment (no connection closed while it was taken,
// which would count it twice or not at all), or kReadAttempts readings.
EndpointStat read_endpoint(const StatSegment& server, const std::vector<ConnSegment>& conns) {
  // By id, one per id: a client can write another server's token into its segment.
  std::vector<const ConnSegment*> mine;
  for (const ConnSegment& c : conns) {
    if (c.token == server.header().ident.server_token) mine.push_back(&c);
  }
  const auto by_id = [](const ConnSegment* a, const ConnSegment* b) { return a->id < b->id; };
  std::sort(mine.begin(), mine.end(), by_id);
  mine.erase(std::unique(mine.begin(), mine.end(),
                         [](const ConnSegment* a, const ConnSegment* b) { return a->id == b->id; }),
             mine.end());
  EndpointStat e;
  e.session = server.session;
  e.endpoint = server.endpoint;
  e.started_unix_ns = server.header().ident.started_unix_ns;
  e.max_connections = server.header().ident.slots;
  for (int attempt = 1;; ++attempt) {
    const std::uint64_t begin = detail::stat_read_begin(server.header());
    read_endpoint_once(server, mine, e);
    if (detail::stat_read_settled(server.header(), begin) || attempt == kReadAttempts) break;
    pause_before_retry(attempt);
  }
  // Counters on their own, outside the seqlock: any moment's values will do.
  const detail::StatExtras& extras = server.header().extras;
  e.handler_histogram = detail::times_handlers(extras);
  e.handler_latency = detail::read_latency(extras);
  e.metrics = detail::read_published(extras);
  return e;
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

  // Mapped once: the readings below only load from memory, so they are quick to repeat.
  std::vector<ConnSegment> conns;
  for (const auto& [path, link] : links(dir, kConnLink)) {
    ConnSegment c;
    if (!parse_conn_link(link, c.id)) continue;
    auto mapped = detail::map_server_segment(path, link, detail::kConnHeaderSize);
    if (!mapped) {
      note_skipped(notes, mapped.error());
      continue;
    }
    c.map = std::move(*mapped);
    // The client's to write: copied once, checked by view_connection_segment().
    const detail::ConnIdent ident =
        std::launder(static_cast<const detail::ConnHeader*>(c.map.data()))->ident;
    auto view = detail::view_connection_segment(c.map.data(), c.map.size(), c.id, ident.slot);
    if (!view) continue;  // its client's doing, not a problem of the server's
    c.view = *view;
    c.token = ident.server_token;
    c.slot = ident.slot;
    conns.push_back(std::move(c));
  }
  const long server_pid = pid == 0 ? static_cast<long>(::getpid()) : static_cast<long>(pid);
  for (const StatSegment& server : servers) {
    result.push_back(read_endpoint(server, conns));
    result.back().pid = server_pid;
  }
  return result;
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
