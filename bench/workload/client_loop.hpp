// SPDX-License-Identifier: Apache-2.0
// bench/workload/client_loop.hpp: the client side of every scenario, whatever the transport.
//
// A connection type provides:
//   Result<void> send(std::uint32_t producer, std::uint64_t seq, std::uint64_t stamp_ns)
//       one data message of --size bytes with the payload pattern (payload.hpp), written
//       in place where the transport allows; one that batches (--batch) also takes a
//       Publish: with Publish::later the message waits for the next one sent with
//       Publish::now, or for finish();
//   Result<std::span<const std::byte>> request(std::span<const std::byte> payload)
//       sends a request and returns the reply's payload (valid until the next call);
//   Result<void> finish(std::uint32_t producer, std::uint64_t next_seq)
//       sends the end marker and waits for the server to acknowledge it.
// run_client() waits for the start signal, runs the scenario's loop, and reports.
//
// Thread-safety: one thread per participant process.
#pragma once

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "common/clock.hpp"
#include "ferry/ring.hpp"
#include "workload/payload.hpp"
#include "workload/report.hpp"
#include "workload/role.hpp"

namespace ferry::bench {

namespace detail {

// The sequence number to send next: producer 0 skips one when asked to (--inject-error).
inline std::uint64_t next_seq(const Options& o, std::uint64_t seq) noexcept {
  return o.inject_error && o.id == 0 && seq == kInjectedGap ? seq + 1 : seq;
}

// Sends message `seq`, the last of its --batch (or of the run) published with it. Only the
// transports that batch (options.cpp lets --batch through for them) take the fourth argument.
template <class Conn>
Result<void> send_batched(Conn& conn, const Options& o, std::uint64_t seq, bool last) {
  if constexpr (requires { conn.send(o.id, seq, 0, Publish::now); }) {
    if (o.batch > 1) return conn.send(o.id, seq, 0, last ? Publish::now : Publish::later);
  }
  return conn.send(o.id, seq, 0);
}

// stream and fanin: as fast as the transport takes them, until the count or the time.
template <class Conn>
Result<Report> produce_flat_out(Conn& conn, const Options& o, const Timetable& t) {
  const std::uint64_t limit = o.scenario == Scenario::stream ? kStreamMessages : UINT64_MAX;
  std::uint64_t seq = 0;
  std::uint64_t sent = 0;
  while (sent < limit) {
    if ((sent & 255) == 0 && tools::now_ns() >= t.end) break;
    seq = next_seq(o, seq);
    // Without --batch every message is the last of its batch (and no division per message).
    const bool last = o.batch == 1 || (sent + 1) % o.batch == 0 || sent + 1 == limit;
    if (auto r = send_batched(conn, o, seq, last); !r) return r.error();
    ++seq;
    ++sent;
  }
  if (auto r = conn.finish(o.id, seq); !r) return r.error();
  Report report;
  report.msgs = sent;
  return report;
}

// rate, paced fanout, bus: message k of producer i is due at go + (i + k * producers) /
// rate, an absolute schedule: a late producer sends at once until it has caught up. On the
// bus a producer sleeps a tick at least, then sends everything that has come due.
template <class Conn>
Result<Report> produce_paced(Conn& conn, const Options& o, const Timetable& t) {
  ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);  // 1 us, not the default 50 us
  const double interval_ns = 1e9 / o.rate;
  const std::int64_t tick = o.scenario == Scenario::bus ? kBusTickNs : 0;
  std::uint64_t seq = 0;
  std::uint64_t sent = 0;
  for (std::uint64_t k = 0;; ++k) {
    const double slot = static_cast<double>(o.id) + static_cast<double>(k) * o.producers();
    const std::int64_t due = t.go + static_cast<std::int64_t>(std::llround(slot * interval_ns));
    if (due >= t.end) break;
    if (const std::int64_t now = tools::now_ns(); now < due) {
      const timespec at = tools::to_timespec(std::max(due, now + tick));
      while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
      }
    }
    // The time stamp is taken when the send call starts: a send that blocks counts.
    const std::int64_t stamp = o.stamp == StampFrom::intended ? due : tools::now_ns();
    seq = next_seq(o, seq);
    if (auto r = conn.send(o.id, seq, static_cast<std::uint64_t>(stamp)); !r) return r.error();
    ++seq;
    ++sent;
  }
  if (auto r = conn.finish(o.id, seq); !r) return r.error();
  Report report;
  report.msgs = sent;
  return report;
}

// pingpong and reqrep: one request outstanding; the round trip is timed from the time
// stamp written into the request just before the send call to the reply in hand.
template <class Conn>
class Requester {
 public:
  Requester(Conn& conn, const Options& o) : conn_(conn), o_(o), request_(o.size) {}

  // One round trip of message `seq`; returns its start and end times.
  Result<std::pair<std::int64_t, std::int64_t>> round(std::uint64_t seq) {
    fill_payload(request_, o_.id, seq, 0);
    const std::int64_t t0 = tools::now_ns();
    const auto stamp = static_cast<std::uint64_t>(t0);
    std::memcpy(request_.data(), &stamp, sizeof stamp);
    auto reply = conn_.request(request_);
    if (!reply) return reply.error();
    const std::int64_t t1 = tools::now_ns();
    const std::uint32_t want = o_.scenario == Scenario::pingpong ? o_.id : (o_.id | kReplyTag);
    const auto head = check_payload(*reply, o_.size);
    if (!head || head->producer != want || head->seq != seq || head->stamp_ns != stamp) {
      ++errors_;
    }
    return std::pair{t0, t1};
  }
  std::uint64_t errors() const noexcept { return errors_; }

 private:
  Conn& conn_;
  const Options& o_;
  std::vector<std::byte> request_;
  std::uint64_t errors_ = 0;
};

template <class Conn>
Result<Report> pingpong(Conn& conn, const Options& o, SharedState& state) {
  Requester<Conn> requester(conn, o);
  std::uint64_t seq = 0;
  for (std::uint64_t i = 0; i < kPingpongWarmup; ++i) {
    seq = next_seq(o, seq);
    if (auto r = requester.round(seq++); !r) return r.error();
  }
  Report report;
  const std::int64_t start = tools::now_ns();
  const std::int64_t end = start + static_cast<std::int64_t>(std::llround(o.seconds * 1e9));
  std::int64_t last = start;
  while (report.msgs < kPingpongRounds && last < end) {
    seq = next_seq(o, seq);
    auto r = requester.round(seq++);
    if (!r) return r.error();
    report.latency.add(static_cast<std::uint64_t>(r->second - r->first));
    last = r->second;
    ++report.msgs;
    state.set_count(1 + o.id, report.msgs);
  }
  if (auto r = conn.finish(o.id, seq); !r) return r.error();
  report.seconds = static_cast<double>(last - start) / 1e9;
  report.errors.corrupt = requester.errors();
  return report;
}

// reqrep, bus: closed loops until the end. On the bus a request that times out or that
// the bus refuses (no responder) counts as failed, and the loop goes on.
template <class Conn>
Result<Report> reqrep(Conn& conn, const Options& o, const Timetable& t, SharedState& state) {
  Requester<Conn> requester(conn, o);
  Report report;
  std::uint64_t seq = 0;
  std::int64_t last = t.start;
  for (;;) {
    seq = next_seq(o, seq);
    auto r = requester.round(seq++);
    if (!r) {
      const bool counted =
          o.scenario == Scenario::bus && (r.code() == Errc::timed_out || r.code() == Errc::remote);
      if (!counted) return r.error();
      ++report.errors.failed;
      if (tools::now_ns() >= t.end) break;
      continue;
    }
    if (r->first >= t.start) {
      report.latency.add(static_cast<std::uint64_t>(r->second - r->first));
      last = r->second;
      ++report.msgs;
      state.set_count(1 + o.id, report.msgs);
    }
    if (r->second >= t.end) break;
  }
  if (auto r = conn.finish(o.id, seq); !r) return r.error();
  report.seconds = static_cast<double>(last - t.start) / 1e9;
  report.errors.corrupt = requester.errors();
  return report;
}

}  // namespace detail

// Runs the client's part once it is connected and has said "ready"; returns the exit code.
template <class Conn>
int run_client(RoleContext& ctx, Conn& conn) {
  const Options& o = ctx.options();
  const Timetable t = timetable(o, ctx.wait_for_go());
  Result<Report> report = Error(Errc::invalid_argument, "unknown scenario");
  switch (o.scenario) {
    case Scenario::pingpong: report = detail::pingpong(conn, o, ctx.state()); break;
    case Scenario::stream:
    case Scenario::fanin: report = detail::produce_flat_out(conn, o, t); break;
    case Scenario::reqrep: report = detail::reqrep(conn, o, t, ctx.state()); break;
    case Scenario::rate: report = detail::produce_paced(conn, o, t); break;
    case Scenario::bus:
      report = o.role == Role::publisher ? detail::produce_paced(conn, o, t)
                                         : detail::reqrep(conn, o, t, ctx.state());
      break;
    case Scenario::fanout:
      report = o.paced ? detail::produce_paced(conn, o, t) : detail::produce_flat_out(conn, o, t);
      break;
  }
  if (!report) return ctx.fail(report.error());
  ctx.say(report->encode());
  return 0;
}

}  // namespace ferry::bench
