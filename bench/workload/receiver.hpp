// SPDX-License-Identifier: Apache-2.0
// bench/workload/receiver.hpp: the server side of every scenario, whatever the transport.
//
// The ferry and uds servers (and fanout's subscribers) hand each message here: data
// messages (stream, fanin, rate, fanout) are checked, counted and, when paced, timed; requests
// (pingpong, reqrep) are checked and answered; end markers close a producer's sequence. The counts,
// errors and latency histogram become the server's Report.
//
// Thread-safety: one thread (the server's loop).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/sequence.hpp"
#include "workload/histogram.hpp"
#include "workload/options.hpp"
#include "workload/payload.hpp"
#include "workload/report.hpp"
#include "workload/role.hpp"
#include "workload/shared_state.hpp"

namespace ferry::bench {

class Receiver {
 public:
  // `slot`: the shared state's progress counter this receiver keeps.
  Receiver(const Options& options, SharedState& state, std::uint32_t slot = kServerSlot);

  // stream, fanin, rate, fanout: a data message, in the consumer's hands since `now_ns`.
  void on_data(std::span<const std::byte> payload, std::int64_t now_ns);
  // pingpong, reqrep: checks a request and returns the reply (pingpong: the request's own
  // bytes; reqrep: --size bytes of the reply pattern). Valid until the next call. Call
  // accept() once the reply went out (not if the transport asks to retry).
  std::span<const std::byte> on_request(std::span<const std::byte> payload);
  void accept();
  // An end marker (a request of its own type on ferry, a 16-byte frame on uds).
  void on_end(std::span<const std::byte> payload);
  // Something else went wrong with a message (a frame the transport refused).
  void count_error(std::uint64_t n = 1) noexcept { errors_ += n; }

  // Every producer sent its end marker.
  bool finished() const noexcept { return sequences_.all_ended(); }
  // How many producers sent their end marker.
  std::size_t ended() const noexcept { return sequences_.ended_count(); }
  Report report() const;

 private:
  std::int64_t measure_from() const noexcept;

  const Options& options_;
  SharedState& state_;
  std::uint32_t slot_;
  tools::SequenceTracker sequences_;
  Histogram latency_;
  std::uint64_t received_ = 0;
  std::uint64_t measured_ = 0;
  std::uint64_t errors_ = 0;
  std::int64_t last_ns_ = 0;        // when the last measured message arrived
  std::int64_t window_start_ = -1;  // rate: messages stamped before it are warm-up
  std::vector<std::byte> reply_;
  std::optional<PayloadHead> pending_;  // the request on_request() saw last
};

}  // namespace ferry::bench
