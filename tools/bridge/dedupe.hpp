// SPDX-License-Identifier: Apache-2.0
// tools/bridge/dedupe.hpp: which JetStream messages a bridge has already put on its bus, by
// origin and sequence number, kept in a file so that a bridge killed between putting a
// message on the bus and acknowledging it (JetStream then delivers it again) drops it when
// it comes back, after a restart too.
//
// The file is mapped shared: what commit() wrote is in the kernel's page cache the moment it
// returns, so it survives the process being killed (not the machine going down). Per key
// (an origin's subject) a slot holds `last` (every sequence number up to it was committed)
// and a bitmap of the `window` numbers after it; a number beyond last + window moves the
// window on (what it passes over counts as committed: JetStream has nothing that far out of
// order while the consumer's max_ack_pending stays below the window). The least recently
// used slot is reused when all are taken.
// Thread-safety: one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ferry/result.hpp"

namespace ferry::bridge {

class Dedupe {
 public:
  static constexpr std::uint32_t kSlots = 256;

  // Opens (or makes, mode 0600) the file at `path` for windows of `window` sequence numbers
  // (rounded up to a multiple of 64, at least 64). A file made for another window or not
  // one of these is started afresh.
  static Result<Dedupe> open(const std::string& path, std::uint32_t window);

  Dedupe() = default;
  Dedupe(Dedupe&& other) noexcept;
  Dedupe& operator=(Dedupe&& other) noexcept;
  ~Dedupe();

  // Whether `seq` of `key` was committed.
  bool seen(std::string_view key, std::uint64_t seq) const;
  // Records `seq` of `key` as committed.
  void commit(std::string_view key, std::uint64_t seq);
  std::uint32_t window() const noexcept { return window_; }

 private:
  struct Slot;
  Slot* find(std::uint64_t hash) const;
  Slot* slot(std::size_t i) const;
  std::size_t slot_bytes() const noexcept;

  std::byte* map_ = nullptr;
  std::size_t size_ = 0;
  std::uint32_t window_ = 0;
  std::uint64_t clock_ = 0;  // for least recently used
};

}  // namespace ferry::bridge
