// SPDX-License-Identifier: Apache-2.0
// tools/common/sequence.hpp: whether each sender's messages arrived once each and in order,
// for ferry bench's and the demo's receivers.
//
// Every sender numbers its messages 0, 1, 2, ... and finally says how many numbers it used
// (its end). A message with the next number costs one comparison; one ahead of it leaves a
// gap, whose numbers are remembered as missing (up to kMaxGap of them at once; a larger gap
// counts as lost at once); one below it is reordered if it was missing, else duplicated.
// What is still missing, and what a sender's end says it sent beyond what came, is lost.
// Thread-safety: one thread.
#pragma once

#include <cstdint>
#include <unordered_set>
#include <vector>

namespace ferry::tools {

class SequenceTracker {
 public:
  static constexpr std::uint64_t kMaxGap = 1u << 16;

  struct Counts {
    std::uint64_t lost = 0;        // sent, never arrived
    std::uint64_t duplicated = 0;  // arrived again
    std::uint64_t reordered = 0;   // arrived after a later one of the same sender
    std::uint64_t unexpected = 0;  // from no known sender, after its end, or beyond it
    std::uint64_t total() const noexcept { return lost + duplicated + reordered + unexpected; }
  };

  explicit SequenceTracker(std::uint32_t senders) : senders_(senders) {}

  // Message `seq` of `sender`.
  void on_message(std::uint32_t sender, std::uint64_t seq) {
    if (sender >= senders_.size() || senders_[sender].ended) {
      ++counts_.unexpected;
      return;
    }
    Sender& s = senders_[sender];
    if (seq == s.next) {  // the common case
      ++s.next;
      return;
    }
    if (seq > s.next) {
      if (seq - s.next > kMaxGap) {
        counts_.lost += seq - s.next;
      } else {
        for (std::uint64_t n = s.next; n < seq; ++n) s.missing.insert(n);
      }
      s.next = seq + 1;
      return;
    }
    if (s.missing.erase(seq) != 0) {
      ++counts_.reordered;
    } else {
      ++counts_.duplicated;
    }
  }
  // The end of `sender`: it used the numbers below `count`. A second end, or one of an
  // unknown sender, is unexpected.
  void on_end(std::uint32_t sender, std::uint64_t count) {
    if (sender >= senders_.size() || senders_[sender].ended) {
      ++counts_.unexpected;
      return;
    }
    Sender& s = senders_[sender];
    s.ended = true;
    ++ended_;
    if (count >= s.next) {
      counts_.lost += count - s.next;
    } else {
      // Numbers at or above its count arrived: it never sent them.
      std::uint64_t never_came = 0;
      for (auto it = s.missing.begin(); it != s.missing.end();) {
        if (*it >= count) {
          it = s.missing.erase(it);
          ++never_came;
        } else {
          ++it;
        }
      }
      counts_.unexpected += s.next - count - never_came;
    }
  }
  bool ended(std::uint32_t sender) const noexcept {
    return sender < senders_.size() && senders_[sender].ended;
  }
  bool all_ended() const noexcept { return ended_ == senders_.size(); }
  std::size_t ended_count() const noexcept { return ended_; }
  // What was found so far; the numbers still missing count as lost.
  Counts counts() const noexcept {
    Counts c = counts_;
    for (const Sender& s : senders_) c.lost += s.missing.size();
    return c;
  }

 private:
  struct Sender {
    std::uint64_t next = 0;  // the number expected next: one past the highest seen
    std::unordered_set<std::uint64_t> missing;
    bool ended = false;
  };
  std::vector<Sender> senders_;
  std::size_t ended_ = 0;
  Counts counts_;
};

}  // namespace ferry::tools
