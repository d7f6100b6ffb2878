// SPDX-License-Identifier: Apache-2.0
// The SPSC record ring (ferry/ring.hpp). Layout: ring_layout.hpp, docs/ring_format.md.
//
// Indices are 64-bit byte counts that only grow (they never wrap in practice); the
// position in the record space is index & mask. Each side keeps a cached copy of the
// other side's index and reads the shared one (acquire) only when the cache says the
// ring is full (producer) or empty (consumer).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <string>

#include "ferry/ring.hpp"
#include "ring/ring_layout.hpp"
#include "wait/waiting.hpp"
#include "wire/sign.hpp"

namespace ferry {

using detail::RingHeader;

namespace {

constexpr std::uint64_t kAlign = 8;
constexpr std::uint32_t kMinCapacity = 4096;
constexpr std::uint32_t kMaxCapacity = 1u << 30;

// A page of a ring first touched by a write costs its writer a page fault: a trap into the
// kernel (and, on a virtual machine that shadows page tables, out to the hypervisor) paid
// by the message that touched it; on the development VM these faults made most of the
// paced scenario's tail (docs/performance.md). On its first pass over the ring a producer
// has the pages ahead of it mapped instead, one system call at a time: as far ahead as it
// has written so far, up to this much, so that a connection that sends little still
// commits about only the memory it uses.
constexpr std::uint64_t kPopulateAhead = std::uint64_t{64} * 1024;

// Maps writable in this process, as writing them would, without writing, the pages from
// the one `from` is in up to the one `to` is in (that one is left for the next call, or to
// fault once if `to` is the ring's end: the range never reaches past it). Best effort: a
// kernel before Linux 5.14 says EINVAL, and the writes fault as before.
void populate(std::byte* from, std::byte* to) noexcept {
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  std::byte* begin = from - (reinterpret_cast<std::uintptr_t>(from) & (page - 1));
  std::byte* end = to - (reinterpret_cast<std::uintptr_t>(to) & (page - 1));
  if (end > begin) {
    (void)::madvise(begin, static_cast<std::size_t>(end - begin), MADV_POPULATE_WRITE);
  }
}

constexpr std::uint64_t record_size(std::uint64_t payload) noexcept {
  return (wire::kHeaderSize + payload + kAlign - 1) & ~(kAlign - 1);
}

// The largest payload whose record is guaranteed to fit after a worst-case wrap.
constexpr std::uint32_t max_payload_limit(std::uint32_t capacity) noexcept {
  return capacity / 2 - 32;
}

[[noreturn]] void contract_violation(const char* what) {
  (void)std::fprintf(stderr, "ferry: ring misuse: %s\n", what);
  std::abort();
}

// How the sleepers of this side's data and space waits are woken.
detail::WakeFd data_wake(const detail::RingSide& side) noexcept {
  return {side.fds.data, side.fds.socket};
}
detail::WakeFd space_wake(const detail::RingSide& side) noexcept {
  return {side.fds.space, side.fds.socket};
}
// The consumer's own sleeps on the data descriptor (with what it knows of a socket).
detail::WakeFd data_sleep(detail::RingSide& side) noexcept {
  return {side.fds.data, side.fds.socket, &side.data_sleep};
}

// Checks a ring header and returns the geometry it promises, for one side to keep.
Result<detail::RingSide> attach_side(void* memory, std::size_t size, const WaitOptions& wait,
                                     RingWakeFds fds) {
  if (memory == nullptr || size < sizeof(RingHeader)) {
    return Error(Errc::invalid_argument, "ring: segment of " + std::to_string(size) +
                                             " bytes is smaller than the 1024-byte ring header");
  }
  auto* ring = std::launder(static_cast<RingHeader*>(memory));
  const detail::RingIdent& id = ring->ident;
  if (id.magic != detail::kRingMagic) {
    return Error(Errc::corrupt, "ring: bad magic (not a ferry ring, or not formatted yet)");
  }
  if (id.version != detail::kRingLayoutVersion || id.header_size != detail::kRingHeaderSize) {
    return Error(Errc::bad_version, "ring: layout version " + std::to_string(id.version) +
                                        ", this build speaks version " +
                                        std::to_string(detail::kRingLayoutVersion));
  }
  if (!std::has_single_bit(id.capacity) || id.capacity < kMinCapacity ||
      id.capacity > kMaxCapacity || id.max_payload > max_payload_limit(id.capacity)) {
    return Error(Errc::corrupt, "ring: impossible geometry (capacity " +
                                    std::to_string(id.capacity) + ", max payload " +
                                    std::to_string(id.max_payload) + ")");
  }
  if (size < ring_bytes(id.capacity)) {
    return Error(Errc::corrupt, "ring: capacity " + std::to_string(id.capacity) +
                                    " does not fit the " + std::to_string(size) + "-byte segment");
  }
  detail::RingSide side;
  side.ring = ring;
  side.data = static_cast<std::byte*>(memory) + detail::kRingHeaderSize;
  side.capacity = id.capacity;
  side.mask = side.capacity - 1;
  side.max_payload = id.max_payload;
  side.crc = (id.flags & detail::kRingFlagCrc) != 0;
  side.wait = wait;
  side.fds = fds;
  return side;
}

// What lies at `index` of a ring with `avail` published bytes from there: the bytes to skip
// (the implicit gap or a padding record at the wrap), or one validated record whose
// sequence number is `expected_seq` (any, when unset).
struct RecordStep {
  std::uint64_t skip = 0;  // > 0: no record here, move on by this much
  std::uint64_t size = 0;  // the record's size in the ring
  RecordView view;
};

// Both readers of records use it: the consumer, and a producer walking back over what its
// consumer never released. The header is copied once; only the copy is validated and used.
Result<RecordStep> read_record(const detail::RingSide& side, std::uint64_t index,
                               std::uint64_t avail, std::optional<std::uint64_t> expected_seq) {
  RecordStep step;
  const std::uint64_t pos = index & side.mask;
  const std::uint64_t to_end = side.capacity - pos;
  if (to_end < wire::kHeaderSize) {  // implicit skip at the wrap
    if (avail < to_end) return Error(Errc::corrupt, "ring: producer index inside the wrap gap");
    step.skip = to_end;
    return step;
  }
  if (avail < wire::kHeaderSize) {
    return Error(Errc::corrupt, "ring: published data ends inside a frame header");
  }
  alignas(8) std::byte raw[wire::kHeaderSize];
  std::memcpy(raw, side.data + pos, wire::kHeaderSize);
  const wire::Header h = wire::load(raw);
  if ((h.flags & wire::kFlagPadding) != 0) {
    if (h.flags != wire::kFlagPadding || h.length != to_end - wire::kHeaderSize || avail < to_end) {
      return Error(Errc::bad_flags, "ring: malformed padding record at the wrap");
    }
    step.skip = to_end;
    return step;
  }
  wire::Limits limits;
  limits.max_payload = side.max_payload;
  if (auto v = wire::validate(h, limits); !v) return v.error();
  step.size = record_size(h.length);
  if (step.size > to_end || step.size > avail) {
    return Error(Errc::bad_length, "ring: frame of " + std::to_string(h.length) +
                                       " bytes runs past the published data");
  }
  if (expected_seq && h.seq != *expected_seq) {
    return Error(Errc::bad_sequence, "ring: frame sequence " + std::to_string(h.seq) +
                                         ", expected " + std::to_string(*expected_seq) +
                                         " (a frame was lost or repeated)");
  }
  std::span<const std::byte> payload(side.data + pos + wire::kHeaderSize, h.length);
  if (side.crc) {
    if (auto ok = wire::check_crc(h, raw, payload); !ok) return ok.error();
  }
  step.view = RecordView{h, payload};
  return step;
}

}  // namespace

std::size_t ring_bytes(std::uint32_t capacity) noexcept {
  return detail::kRingHeaderSize + capacity;
}

Result<void> ring_format(void* memory, std::size_t size, const RingConfig& config) {
  if (!std::has_single_bit(config.capacity) || config.capacity < kMinCapacity ||
      config.capacity > kMaxCapacity) {
    return Error(Errc::invalid_argument,
                 "ring capacity " + std::to_string(config.capacity) +
                     " must be a power of two between 4096 and 1073741824 bytes");
  }
  const std::uint32_t max_payload =
      config.max_payload == 0 ? config.capacity / 4 : config.max_payload;
  if (max_payload > max_payload_limit(config.capacity)) {
    return Error(Errc::invalid_argument,
                 "ring max payload " + std::to_string(max_payload) + " exceeds " +
                     std::to_string(max_payload_limit(config.capacity)) + ", the most a ring of " +
                     std::to_string(config.capacity) +
                     " bytes can hold after a wrap; use a larger capacity");
  }
  if (memory == nullptr || size < ring_bytes(config.capacity)) {
    return Error(Errc::invalid_argument, "ring of capacity " + std::to_string(config.capacity) +
                                             " needs " +
                                             std::to_string(ring_bytes(config.capacity)) +
                                             " bytes, the segment has " + std::to_string(size));
  }
  auto* ring = new (memory) RingHeader{};
  ring->ident.version = detail::kRingLayoutVersion;
  ring->ident.header_size = static_cast<std::uint16_t>(detail::kRingHeaderSize);
  ring->ident.capacity = config.capacity;
  ring->ident.max_payload = max_payload;
  ring->ident.flags = config.crc ? detail::kRingFlagCrc : 0;
  // The magic goes last: a ring is recognisable only once it is complete. (Formatting
  // happens before the segment is shared, so no ordering beyond program order is needed.)
  ring->ident.magic = detail::kRingMagic;
  return {};
}

RingStats ring_stats(const void* memory) noexcept {
  // Counters only: loads are relaxed, values may be a moment apart from each other.
  auto* ring = std::launder(static_cast<RingHeader*>(const_cast<void*>(memory)));
  constexpr auto r = std::memory_order_relaxed;
  RingStats s;
  s.capacity = ring->ident.capacity;
  const std::uint64_t tail = ring->producer.tail.load(r);
  const std::uint64_t head = ring->consumer.head.load(r);
  s.used_bytes = tail >= head ? tail - head : 0;
  s.records_sent = ring->producer.records.load(r);
  s.bytes_sent = ring->producer.bytes.load(r);
  s.full_waits = ring->producer.full_waits.load(r);
  s.full_wait_ns = ring->producer.full_wait_ns.load(r);
  s.high_water_bytes = ring->producer.high_water.load(r);
  s.producer_wakes = ring->producer.wake_syscalls.load(r);
  s.records_received = ring->consumer.records.load(r);
  s.errors = ring->consumer.errors.load(r);
  s.empty_waits = ring->consumer.empty_waits.load(r);
  s.consumer_wakes = ring->consumer.wake_syscalls.load(r);
  return s;
}

// ---------------------------------------------------------------------------- producer

Result<RingProducer> RingProducer::attach(void* memory, std::size_t size, const WaitOptions& wait,
                                          RingWakeFds fds) {
  auto side = attach_side(memory, size, wait, fds);
  if (!side) return side.error();
  RingProducer p;
  p.side_ = *side;
  // A producer (re)attaching continues where the last one published.
  p.tail_ = p.published_ = p.side_.ring->producer.tail.load(std::memory_order_relaxed);
  p.next_seq_ = p.side_.ring->producer.records.load(std::memory_order_relaxed);
  p.high_water_ = p.side_.ring->producer.high_water.load(std::memory_order_relaxed);
  if (auto r = p.refresh_head(); !r) return r.error();
  return p;
}

Result<void> RingProducer::refresh_head() {
  // SYNC POINT READ (acquire): pairs with the consumer's release store of head in
  // RingConsumer::publish(); after it, the consumer is done reading the freed bytes.
  const std::uint64_t head = side_.ring->consumer.head.load(std::memory_order_acquire);
  if (head > published_ || published_ - head > side_.capacity || head % kAlign != 0) {
    return Error(Errc::corrupt, "ring: consumer index " + std::to_string(head) +
                                    " is impossible (producer at " + std::to_string(published_) +
                                    ", capacity " + std::to_string(side_.capacity) + ")");
  }
  head_cache_ = head;
  // The occupancy now, exact: we look only when our cached view said the ring was full,
  // so this samples the moments that matter without a read of the consumer's line per
  // message. Our own line.
  if (published_ - head > high_water_) {
    high_water_ = published_ - head;
    side_.ring->producer.high_water.store(high_water_, std::memory_order_relaxed);
  }
  return {};
}

Error RingProducer::too_large(std::size_t n) const {
  return Error(Errc::too_large, "record of " + std::to_string(n) +
                                    " bytes exceeds the ring's maximum payload of " +
                                    std::to_string(side_.max_payload) +
                                    " bytes (RingConfig::max_payload, a quarter of the ring's "
                                    "capacity by default; for a server's connections "
                                    "ServerOptions::ring_capacity, ferryd's ring_capacity)");
}

std::uint64_t RingProducer::space_wanted(std::uint64_t total) const noexcept {
  // Wake me once the record fits and, to batch wake-ups, half the ring is free.
  const std::uint64_t fits_at = tail_ + total - side_.capacity;
  const std::uint64_t half_free = tail_ - side_.capacity / 2;
  return tail_ > side_.capacity / 2 ? std::max(fits_at, half_free) : fits_at;
}

std::uint64_t RingProducer::consumed_bytes() const noexcept {
  return side_.ring->consumer.head.load(std::memory_order_acquire);
}

Result<bool> RingProducer::arm_space_wait(std::size_t n) {
  if (n > side_.max_payload) return too_large(n);
  const std::uint64_t need = record_size(n);
  const std::uint64_t to_end = side_.capacity - (tail_ & side_.mask);
  const std::uint64_t total = need <= to_end ? need : to_end + need;
  publish();
  detail::WaitBlock& wb = side_.ring->space_wait;
  // Either the re-check below sees the consumer's release, or the consumer sees the flag.
  detail::announce_sleep(wb, space_wanted(total));
  if (auto r = refresh_head(); !r) return r.error();
  if (tail_ + total - head_cache_ <= side_.capacity) {
    wb.sleeping.store(0, std::memory_order_relaxed);
    return true;
  }
  side_.ring->producer.full_waits.add_relaxed(1);
  return false;
}

Result<std::span<std::byte>> RingProducer::reserve(std::size_t n,
                                                   std::chrono::nanoseconds timeout) {
  if (n > side_.max_payload) return too_large(n);
  const std::uint64_t need = record_size(n);
  const std::uint64_t to_end = side_.capacity - (tail_ & side_.mask);
  const std::uint64_t total = need <= to_end ? need : to_end + need;
  if (tail_ + total - head_cache_ > side_.capacity) {
    if (auto r = refresh_head(); !r) return r.error();
    if (tail_ + total - head_cache_ > side_.capacity) {
      if (timeout.count() <= 0) return Error(Errc::would_block);
      // Staged records must be visible, or the consumer could never free the space.
      publish();
      side_.ring->producer.full_waits.add_relaxed(1);
      const std::int64_t wait_start = detail::monotonic_ns();
      bool bad_index = false;
      auto waited = detail::wait_until(
          [&] {
            if (!refresh_head()) return bad_index = true;
            return tail_ + total - head_cache_ <= side_.capacity;
          },
          side_.ring->space_wait, space_wanted(total), space_wake(side_), side_.fds.hangup,
          side_.wait, detail::Deadline(timeout));
      side_.ring->producer.full_wait_ns.add_relaxed(
          static_cast<std::uint64_t>(detail::monotonic_ns() - wait_start));
      if (bad_index) return refresh_head().error();
      if (!waited) {
        if (waited.code() == Errc::disconnected) return waited.error();
        return Error(Errc::timed_out, "ring full: waited " +
                                          std::to_string(timeout.count() / 1000) +
                                          " us for room for a " + std::to_string(n) +
                                          "-byte record; the consumer is not keeping up");
      }
    }
  }
  if (need > to_end) {
    // Not enough room before the end: fill it (a padding record, or an implicit skip
    // when even a header does not fit) and start at offset 0.
    if (to_end >= wire::kHeaderSize) {
      wire::Header pad;
      pad.flags = wire::kFlagPadding;
      pad.length = static_cast<std::uint32_t>(to_end - wire::kHeaderSize);
      wire::encode(pad, {}, side_.data + (tail_ & side_.mask));
    }
    tail_ += to_end;
  }
  if (tail_ < side_.capacity) populate_ahead(tail_ + need);
  reserved_ = n;
  return std::span<std::byte>(side_.data + (tail_ & side_.mask) + wire::kHeaderSize, n);
}

void RingProducer::populate_ahead(std::uint64_t end) noexcept {
  const std::uint64_t ahead = std::min(kPopulateAhead, end);
  if (end + ahead / 2 <= populated_ || populated_ >= side_.capacity) return;
  const std::uint64_t to = std::min<std::uint64_t>(side_.capacity, end + ahead);
  populate(side_.data + populated_, side_.data + to);
  populated_ = to;
}

void RingProducer::commit(std::size_t n, const MessageMeta& meta, Publish publish_now) {
  commit_frame(n, meta, nullptr, 0, publish_now);
}

void RingProducer::commit(std::size_t n, const MessageMeta& meta, std::uint32_t payload_crc,
                          const Crc32cJoin& join, Publish publish_now) {
  if (join.size_b() != n) contract_violation("commit() with a CRC join prepared for another size");
  commit_frame(n, meta, &join, payload_crc, publish_now);
}

void RingProducer::commit_frame(std::size_t n, const MessageMeta& meta, const Crc32cJoin* join,
                                std::uint32_t payload_crc, Publish publish_now) {
  if (!reserved_ || n > *reserved_) {
    contract_violation("commit() without a live reservation of at least that size");
  }
  if ((meta.flags & (wire::kFlagPadding | ~wire::kKnownFlags)) != 0) {
    contract_violation("commit() with the padding flag or an unknown flag");
  }
  std::byte* frame = side_.data + (tail_ & side_.mask);
  wire::Header h;
  h.length = static_cast<std::uint32_t>(n);
  h.type = meta.type;
  h.flags = meta.flags;
  h.seq = next_seq_++;
  h.correlation = meta.correlation;
  // Inline (wire/sign.hpp): the header's fields stay in registers.
  if (side_.crc && join != nullptr) {
    wire::detail::encode(h, payload_crc, *join, frame);
  } else if (side_.crc) {
    wire::detail::encode(h, std::span<const std::byte>(frame + wire::kHeaderSize, n), frame);
  } else {
    wire::detail::put_covered(h, frame);
    std::memset(frame + wire::kCrcCoveredHeaderBytes, 0, 4);
  }
  tail_ += record_size(n);
  reserved_.reset();
  ++pending_records_;
  pending_bytes_ += n;
  if (publish_now == Publish::now) publish();
}

void RingProducer::publish() {
  if (tail_ == published_) return;
  side_.ring->producer.records.add_relaxed(pending_records_);
  side_.ring->producer.bytes.add_relaxed(pending_bytes_);
  pending_records_ = pending_bytes_ = 0;
  // SYNC POINT WRITE (release): publishes every record below tail_ (headers, payloads,
  // padding). Pairs with the consumer's acquire load in RingConsumer::refresh_tail().
  side_.ring->producer.tail.store(tail_, std::memory_order_release);
  published_ = tail_;
  detail::Doorbell& bell = side_.doorbell;
  if (bell.word != nullptr) {
    // Ring the doorbell: acq_rel, so the server's exchange of this word that reads our bit
    // also sees the tail stored above. The bit is a hint (any client can set or clear it),
    // so whether the server sleeps is looked at every time, in a word only it writes.
    bell.word->fetch_or(bell.bit, std::memory_order_acq_rel);
    if (detail::server_needs_wake(*bell.server_state, bell.woken)) {
      detail::signal_wake({bell.socket, true});
      side_.ring->producer.wake_syscalls.add_relaxed(1);
    }
    return;
  }
  if (detail::wake_if_sleeping(side_.ring->data_wait, tail_, data_wake(side_))) {
    side_.ring->producer.wake_syscalls.add_relaxed(1);
  }
}

Result<void> RingProducer::send(std::span<const std::byte> payload, const MessageMeta& meta,
                                std::chrono::nanoseconds timeout) {
  auto room = reserve(payload.size(), timeout);
  if (!room) return room.error();
  if (!payload.empty()) std::memcpy(room->data(), payload.data(), payload.size());
  commit(payload.size(), meta);
  return {};
}

std::uint64_t RingProducer::consumed_records() const noexcept {
  return std::min(side_.ring->consumer.records.load(std::memory_order_relaxed), next_seq_);
}

Result<std::size_t> RingProducer::for_each_unconsumed(
    const std::function<void(const RecordView&)>& fn) const {
  // Acquire, as in refresh_head(); the value is anyone's to write, so it is checked.
  const std::uint64_t head = side_.ring->consumer.head.load(std::memory_order_acquire);
  if (head > tail_ || tail_ - head > side_.capacity || head % kAlign != 0) {
    return Error(Errc::corrupt, "ring: consumer index " + std::to_string(head) +
                                    " is impossible (producer at " + std::to_string(tail_) +
                                    ", capacity " + std::to_string(side_.capacity) + ")");
  }
  std::optional<std::uint64_t> seq;
  std::size_t n = 0;
  for (std::uint64_t at = head; at != tail_;) {
    auto step = read_record(side_, at, tail_ - at, seq);
    if (!step) return step.error();
    if (step->skip != 0) {
      at += step->skip;
      continue;
    }
    fn(step->view);
    ++n;
    seq = step->view.header.seq + 1;
    at += step->size;
  }
  if (seq && *seq != next_seq_) {
    return Error(Errc::bad_sequence, "ring: the last unconsumed frame has sequence " +
                                         std::to_string(*seq - 1) + ", this producer wrote " +
                                         std::to_string(next_seq_ - 1));
  }
  return n;
}

Result<std::size_t> RingProducer::send_batch(std::span<const std::span<const std::byte>> payloads,
                                             const MessageMeta& meta,
                                             std::chrono::nanoseconds timeout) {
  std::size_t sent = 0;
  for (const auto& payload : payloads) {
    auto room = reserve(payload.size(), timeout);
    if (!room) {
      publish();
      if (sent == 0) return room.error();
      return sent;
    }
    if (!payload.empty()) std::memcpy(room->data(), payload.data(), payload.size());
    commit(payload.size(), meta, Publish::later);
    ++sent;
  }
  publish();
  return sent;
}

// ---------------------------------------------------------------------------- consumer

Result<RingConsumer> RingConsumer::attach(void* memory, std::size_t size, const WaitOptions& wait,
                                          RingWakeFds fds) {
  auto side = attach_side(memory, size, wait, fds);
  if (!side) return side.error();
  RingConsumer c;
  c.side_ = *side;
  c.head_ = c.published_ = c.tail_cache_ =
      c.side_.ring->consumer.head.load(std::memory_order_relaxed);
  c.expected_seq_ = c.side_.ring->consumer.records.load(std::memory_order_relaxed);
  return c;
}

Error RingConsumer::fail(Error error) {
  side_.ring->consumer.errors.add_relaxed(1);
  broken_ = error;
  return error;
}

Result<void> RingConsumer::refresh_tail() {
  // SYNC POINT READ (acquire): pairs with the producer's release store of tail in
  // RingProducer::publish(); every record below it is complete.
  const std::uint64_t tail = side_.ring->producer.tail.load(std::memory_order_acquire);
  if (tail < head_ || tail - head_ > side_.capacity || tail % kAlign != 0) {
    return fail(Error(Errc::corrupt, "ring: producer index " + std::to_string(tail) +
                                         " is impossible (consumer at " + std::to_string(head_) +
                                         ", capacity " + std::to_string(side_.capacity) + ")"));
  }
  tail_cache_ = tail;
  return {};
}

bool RingConsumer::has_data() const noexcept {
  if (head_ != tail_cache_) return true;
  // Acquire, as in refresh_tail(); an impossible value is left for peek() to report.
  return side_.ring->producer.tail.load(std::memory_order_acquire) != head_;
}

bool RingConsumer::arm_data_wait() noexcept {
  if (has_data()) return false;
  publish();
  detail::WaitBlock& wb = side_.ring->data_wait;
  detail::announce_sleep(wb, head_ + 1);
  if (has_data()) {
    wb.sleeping.store(0, std::memory_order_relaxed);
    return false;
  }
  return true;
}

Result<RecordView> RingConsumer::peek(std::chrono::nanoseconds timeout) {
  if (broken_) return *broken_;
  peeked_size_ = 0;  // peeking again without release() re-reads the same record
  for (;;) {
    if (head_ == tail_cache_) {
      if (auto r = refresh_tail(); !r) return r.error();
      if (head_ == tail_cache_) {
        // Skipped padding frees space too; hand it back before waiting.
        publish();
        if (timeout.count() <= 0) return Error(Errc::would_block);
        side_.ring->consumer.empty_waits.add_relaxed(1);
        bool bad_index = false;
        auto waited = detail::wait_until(
            [&] {
              if (!refresh_tail()) return bad_index = true;
              return tail_cache_ != head_;
            },
            side_.ring->data_wait, head_ + 1, data_sleep(side_), side_.fds.hangup, side_.wait,
            detail::Deadline(timeout));
        if (bad_index) return *broken_;
        if (!waited) return waited.error();
        timeout = std::chrono::nanoseconds(0);  // data is there now; no second wait
        continue;
      }
    }
    auto step = read_record(side_, head_, tail_cache_ - head_, expected_seq_);
    if (!step) return fail(step.error());
    if (step->skip != 0) {  // the gap or padding at the wrap
      head_ += step->skip;
      continue;
    }
    peeked_size_ = step->size;
    return step->view;
  }
}

void RingConsumer::release(Publish publish_now) {
  if (peeked_size_ == 0) contract_violation("release() without a peeked record");
  head_ += peeked_size_;
  peeked_size_ = 0;
  ++expected_seq_;
  ++pending_records_;
  if (publish_now == Publish::now) publish();
}

void RingConsumer::publish() {
  if (head_ == published_) return;
  // SYNC POINT WRITE (release): hands the bytes below head_ back to the producer; our
  // reads of them happen before. Pairs with the acquire in RingProducer::refresh_head().
  side_.ring->consumer.head.store(head_, std::memory_order_release);
  published_ = head_;
  // After the index: the count never runs ahead of it, so a producer may read it as a
  // lower bound of what was consumed (RingProducer::consumed_records()).
  side_.ring->consumer.records.add_relaxed(pending_records_);
  pending_records_ = 0;
  if (detail::wake_if_sleeping(side_.ring->space_wait, head_, space_wake(side_))) {
    side_.ring->consumer.wake_syscalls.add_relaxed(1);
  }
}

Result<wire::Header> RingConsumer::recv(std::span<std::byte> buffer,
                                        std::chrono::nanoseconds timeout) {
  auto view = peek(timeout);
  if (!view) return view.error();
  if (view->payload.size() > buffer.size()) {
    const std::size_t need = view->payload.size();
    peeked_size_ = 0;  // the record stays for a later peek with a larger buffer
    return Error(Errc::too_large, "record of " + std::to_string(need) + " bytes does not fit the " +
                                      std::to_string(buffer.size()) + "-byte buffer");
  }
  if (!view->payload.empty())
    std::memcpy(buffer.data(), view->payload.data(), view->payload.size());
  const wire::Header h = view->header;
  release();
  return h;
}

}  // namespace ferry
