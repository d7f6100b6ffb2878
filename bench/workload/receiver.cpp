// SPDX-License-Identifier: Apache-2.0
// bench/workload/receiver.cpp: checking, counting and answering (receiver.hpp).
#include "workload/receiver.hpp"

#include "workload/role.hpp"

namespace ferry::bench {

Receiver::Receiver(const Options& options, SharedState& state, std::uint32_t slot)
    : options_(options),
      state_(state),
      slot_(slot),
      sequences_(options.producers()),
      reply_(options.size) {}

std::int64_t Receiver::measure_from() const noexcept {
  return timetable(options_, state_.go()).start;
}

void Receiver::on_data(std::span<const std::byte> payload, std::int64_t now_ns) {
  ++received_;
  if ((received_ & 63) == 0) state_.set_count(slot_, received_);
  const auto head = check_payload(payload, options_.size);
  if (!head || head->producer >= options_.producers()) {
    ++errors_;
    return;
  }
  sequences_.on_message(head->producer, head->seq);
  if (options_.paced) {
    if (window_start_ < 0) window_start_ = measure_from();
    if (static_cast<std::int64_t>(head->stamp_ns) < window_start_) return;  // warm-up
    const std::int64_t latency = now_ns - static_cast<std::int64_t>(head->stamp_ns);
    latency_.add(latency > 0 ? static_cast<std::uint64_t>(latency) : 0);
  }
  ++measured_;
  last_ns_ = now_ns;
}

std::span<const std::byte> Receiver::on_request(std::span<const std::byte> payload) {
  pending_ = check_payload(payload, options_.size);
  if (options_.scenario == Scenario::pingpong) return payload;  // the echo
  const PayloadHead head = pending_.value_or(PayloadHead{});
  fill_payload(reply_, head.producer | kReplyTag, head.seq, head.stamp_ns);
  return reply_;
}

void Receiver::accept() {
  ++received_;
  if (!pending_ || pending_->producer >= options_.clients) {
    ++errors_;
  } else if (options_.scenario != Scenario::bus) {
    // (On the bus each responder sees only some of a requester's requests.)
    sequences_.on_message(pending_->producer, pending_->seq);
  }
  pending_.reset();
}

void Receiver::on_end(std::span<const std::byte> payload) {
  const auto end = decode_end(payload);
  if (!end) {
    ++errors_;
    return;
  }
  sequences_.on_end(end->producer, end->next_seq);
}

Report Receiver::report() const {
  Report r;
  const tools::SequenceTracker::Counts c = sequences_.counts();
  r.errors.lost = c.lost;
  r.errors.duplicated = c.duplicated;
  r.errors.reordered = c.reordered;
  r.errors.corrupt = errors_ + c.unexpected;
  if (options_.request_reply()) {
    r.msgs = received_;  // the clients measure; this is only the server's own count
    return r;
  }
  r.msgs = measured_;
  const std::int64_t from = options_.paced ? measure_from() : state_.go();
  r.seconds = last_ns_ > from ? static_cast<double>(last_ns_ - from) / 1e9 : 0;
  r.latency = latency_;
  return r;
}

}  // namespace ferry::bench
