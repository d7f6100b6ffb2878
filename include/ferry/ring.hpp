// SPDX-License-Identifier: Apache-2.0
// ferry/ring.hpp: a single-producer single-consumer record ring in shared memory.
//
// Records are variable-length (0 bytes up to the ring's max_payload), each a 24-byte wire
// header (ferry/wire.hpp) and its payload, 8-byte aligned, with a padding record (or, when
// fewer than 24 bytes remain, an implicit skip) at the wrap. The layout is documented in
// docs/ring_format.md.
//
// Writing is zero-copy: reserve(n) hands out ring memory, commit() writes the header and
// publishes it. Reading is zero-copy: peek() returns a validated view into the ring,
// release() frees it. send()/recv() are thin copying layers; commit/release with
// Publish::later plus publish() batch many records under one release store.
// A full ring is backpressure, never loss: reserve returns would_block or waits up to its
// timeout. A producer that dies between reserve and commit leaves nothing visible.
//
// The consumer trusts nothing in shared memory: it copies each header once, validates
// the copy against its own copy of the ring geometry (never re-reading it), checks the
// sequence number and, if the ring was formatted with CRCs, the CRC32C. A bad frame is an
// error that stays: every later peek returns it, and the connection should be closed.
//
// Thread-safety: one RingProducer (one thread at a time) and one RingConsumer (one thread
// at a time) per ring, in any processes. Neither object is itself synchronized.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

#include "ferry/crc32c.hpp"
#include "ferry/export.hpp"
#include "ferry/result.hpp"
#include "ferry/wait.hpp"
#include "ferry/wire.hpp"

namespace ferry {

namespace detail {
struct RingHeader;
struct WaitBlock;
template <class T>
class ShmAtomic;
struct RingAccess;

// A consumer that serves many rings (a Server) does not sleep on each ring: producers set
// their bit in a shared bitmap word and, if the server's sleep word says it sleeps, wake it
// through their own socket (src/wait/waiting.hpp, server_needs_wake()).
struct Doorbell {
  ShmAtomic<std::uint64_t>* word = nullptr;
  std::uint64_t bit = 0;
  const ShmAtomic<std::uint64_t>* server_state = nullptr;  // read-only for producers
  int socket = -1;                                         // this connection's
  std::uint64_t woken = 0;  // the server's state when this producer last woke it
};
}  // namespace detail

struct RingConfig {
  std::uint32_t capacity = 1u << 20;  // bytes of record space: a power of two, 4 KiB..1 GiB
  std::uint32_t max_payload = 0;      // 0: capacity / 4; at most capacity / 2 - 32
  bool crc = true;                    // frames carry a CRC32C the consumer checks
};

// Bytes of shared memory a ring of `capacity` occupies (header + record space).
FERRY_API std::size_t ring_bytes(std::uint32_t capacity) noexcept;

// Lays out a new empty ring at `memory` (`size` bytes, at least ring_bytes(capacity)).
// Call before either side attaches; the memory must not be in use.
FERRY_API Result<void> ring_format(void* memory, std::size_t size, const RingConfig& config);

// Header fields the sender chooses; the ring fills in length, version, sequence and CRC.
struct MessageMeta {
  std::uint16_t type = 0;
  std::uint8_t flags = 0;  // wire::kFlag* except kFlagPadding
  std::uint32_t correlation = 0;
};

// Event descriptors for the sleep/wake protocol. With none (-1), sleepers use a futex in
// the ring; with an eventfd (EFD_NONBLOCK), the sleeper can also wait on it with epoll.
// Both sides of a ring must pass the same descriptors (or their dup'ed copies), unless
// `socket` is set: then `data` and `space` are each side's own end of a connected
// SOCK_SEQPACKET socket pair, a wake is a 1-byte message sent without blocking, and a
// sleeper reads its end (which also tells it that the peer is gone). That is the one to use
// when the other side is not trusted: nothing it does to its end can make a wake block. A
// consumer that sleeps on a blocking socket sets the socket's SO_RCVTIMEO: give each
// consumer a `data` socket of its own.
struct RingWakeFds {
  int data = -1;   // the consumer sleeps on it; the producer signals it
  int space = -1;  // the producer sleeps on it; the consumer signals it
  // Optional, this side only: a descriptor that becomes readable or hangs up when the peer
  // is gone (a connection's socket). A sleeper polling an eventfd also polls it, and its
  // wait ends with Errc::disconnected.
  int hangup = -1;
  bool socket = false;  // data and space are sockets (see above)
};

enum class Publish : std::uint8_t { now, later };

namespace detail {
// What a consumer knows of its data socket (RingWakeFds::socket), which only its own sleeps
// change: so that a sleep is one blocking read of the socket instead of a poll and a read
// (waiting.cpp, sleep_on).
struct SocketSleep {
  std::int64_t rcvtimeo_ns = 0;  // the socket's SO_RCVTIMEO as last set; 0: none, no limit
  std::int8_t blocking = -1;     // whether it blocks (no O_NONBLOCK); -1: not looked at yet
};

// What one side knows of its ring: read and checked once at attach, never re-read from
// shared memory.
struct RingSide {
  RingHeader* ring = nullptr;
  std::byte* data = nullptr;  // the record space
  std::uint64_t capacity = 0;
  std::uint64_t mask = 0;
  std::uint32_t max_payload = 0;
  bool crc = true;
  WaitOptions wait;
  RingWakeFds fds;
  Doorbell doorbell;       // producer only; unset: wake through the ring's own data wait block
  SocketSleep data_sleep;  // consumer only
};
}  // namespace detail

// A validated record, in place in the ring. Valid until release().
struct RecordView {
  wire::Header header;                 // a private copy, already validated
  std::span<const std::byte> payload;  // in shared memory
};

// Counters of one ring, read from shared memory (single writer each, relaxed).
struct RingStats {
  std::uint64_t capacity = 0;
  std::uint64_t used_bytes = 0;  // tail - head at the time of reading
  std::uint64_t records_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t records_received = 0;
  std::uint64_t errors = 0;
  std::uint64_t full_waits = 0;        // producer found the ring full and waited
  std::uint64_t full_wait_ns = 0;      // ... and the time it waited in all
  std::uint64_t high_water_bytes = 0;  // most bytes in use when the producer looked (see format)
  std::uint64_t empty_waits = 0;       // consumer found the ring empty and waited
  std::uint64_t producer_wakes = 0;    // syscalls the producer made to wake the consumer
  std::uint64_t consumer_wakes = 0;    // syscalls the consumer made to wake the producer
};

// Reads the counters of a formatted ring (any process, any time, never disturbs it).
FERRY_API RingStats ring_stats(const void* memory) noexcept;

class FERRY_API RingProducer {
 public:
  RingProducer() = default;

  // Attaches to a formatted ring; checks magic, version and geometry.
  static Result<RingProducer> attach(void* memory, std::size_t size, const WaitOptions& wait = {},
                                     RingWakeFds fds = {});

  // Reserves room for an n-byte payload and returns it. Errors: too_large (n over
  // max_payload; the message says the limit), would_block (ring full), timed_out (after
  // waiting `timeout`), corrupt (the consumer's index is impossible). Only the latest
  // reservation is live; reserving again abandons it.
  Result<std::span<std::byte>> reserve(
      std::size_t n, std::chrono::nanoseconds timeout = std::chrono::nanoseconds(0));
  // Finishes the reserved record with `n` (<= reserved) payload bytes and, with
  // Publish::now, makes it and every earlier staged record visible.
  void commit(std::size_t n, const MessageMeta& meta = {}, Publish publish = Publish::now);
  // commit() of a payload whose CRC32C the caller has (one payload sent through many rings):
  // `payload_crc` of exactly the n bytes committed, `join` prepared for n. The frame's CRC
  // then reads only the header; a wrong `payload_crc` makes a frame the consumer refuses as
  // corrupt.
  void commit(std::size_t n, const MessageMeta& meta, std::uint32_t payload_crc,
              const Crc32cJoin& join, Publish publish = Publish::now);
  // Makes every committed record visible with one release store; wakes a sleeping
  // consumer (a syscall only if it sleeps).
  void publish();

  // Copies `payload` into the ring as one record.
  Result<void> send(std::span<const std::byte> payload, const MessageMeta& meta = {},
                    std::chrono::nanoseconds timeout = std::chrono::nanoseconds(0));
  // Sends records in order under one publish; stops at the first that cannot be sent
  // (returning how many went, or the error if none did).
  Result<std::size_t> send_batch(std::span<const std::span<const std::byte>> payloads,
                                 const MessageMeta& meta = {},
                                 std::chrono::nanoseconds timeout = std::chrono::nanoseconds(0));

  // For event loops that must not block: announces that the producer waits for room for
  // an n-byte record, so the consumer's release signals the space descriptor (which must be
  // an eventfd or, with RingWakeFds::socket, a socket). Returns true when the room is already there
  // (nothing armed: reserve again).
  Result<bool> arm_space_wait(std::size_t n);

  // Once the consumer is gone (its process died): calls fn for every record this producer
  // committed that the consumer never released, oldest first, and returns how many (the
  // ring is not changed). The consumer's index is checked against our own, and every
  // record is validated as a consumer would (length, sequence, CRC): corrupt when the
  // memory was written by someone else.
  Result<std::size_t> for_each_unconsumed(const std::function<void(const RecordView&)>& fn) const;

  // Records the consumer has released as it reports them: a lower bound, capped at what
  // this producer committed (the count is anyone's to write).
  std::uint64_t consumed_records() const noexcept;

  std::uint32_t max_payload() const noexcept { return side_.max_payload; }
  std::uint64_t next_sequence() const noexcept { return next_seq_; }
  // Bytes the consumer has released so far (it has finished with every record below).
  std::uint64_t consumed_bytes() const noexcept;
  explicit operator bool() const noexcept { return side_.ring != nullptr; }

 private:
  friend struct detail::RingAccess;
  // Room needed at tail_ for an n-byte record (a wrap skip included) and the head index
  // at which it fits, with the half-empty batching rule applied.
  std::uint64_t space_wanted(std::uint64_t total) const noexcept;
  Result<void> refresh_head();
  Error too_large(std::size_t n) const;
  void commit_frame(std::size_t n, const MessageMeta& meta, const Crc32cJoin* join,
                    std::uint32_t payload_crc, Publish publish);
  void populate_ahead(std::uint64_t end) noexcept;

  detail::RingSide side_;
  std::uint64_t tail_ = 0;        // local write index, including staged records
  std::uint64_t populated_ = 0;   // first pass: record space mapped ahead of tail_
  std::uint64_t published_ = 0;   // last tail stored to shared memory
  std::uint64_t head_cache_ = 0;  // last head read from shared memory
  std::uint64_t next_seq_ = 0;
  std::uint64_t pending_records_ = 0;
  std::uint64_t pending_bytes_ = 0;
  std::uint64_t high_water_ = 0;  // mirrors the shared high-water mark: stored only when it grows
  std::optional<std::size_t> reserved_;
};

class FERRY_API RingConsumer {
 public:
  RingConsumer() = default;

  static Result<RingConsumer> attach(void* memory, std::size_t size, const WaitOptions& wait = {},
                                     RingWakeFds fds = {});

  // The next record, validated, in place. Errors: would_block (empty), timed_out (after
  // waiting `timeout`), or a bad frame (bad_length, bad_version, bad_flags, bad_crc,
  // bad_sequence, corrupt), which is sticky. Peeking again without release() returns the
  // same record.
  Result<RecordView> peek(std::chrono::nanoseconds timeout = std::chrono::nanoseconds(0));
  // Frees the peeked record. With Publish::now the space goes back to the producer at
  // once (and a producer sleeping for space is woken once enough is free).
  void release(Publish publish = Publish::now);
  // Gives every released record's space back with one release store.
  void publish();

  // Copies the next record's payload into `buffer` and releases it. A record larger than
  // `buffer` is too_large (the message says the size needed) and stays in the ring.
  Result<wire::Header> recv(std::span<std::byte> buffer,
                            std::chrono::nanoseconds timeout = std::chrono::nanoseconds(0));

  // Calls fn(const RecordView&) for up to `max` available records, then publishes once.
  // Returns how many were consumed, or the bad-frame error.
  template <class Fn>
  Result<std::size_t> drain(Fn&& fn, std::size_t max = SIZE_MAX) {
    std::size_t n = 0;
    while (n < max) {
      auto r = peek();
      if (!r) {
        publish();
        if (r.code() == Errc::would_block) break;
        return r.error();
      }
      fn(static_cast<const RecordView&>(*r));
      release(Publish::later);
      ++n;
    }
    publish();
    return n;
  }

  // Whether a record is waiting (reads the producer's index; no validation, no wait).
  bool has_data() const noexcept;
  // For event loops: announces that the consumer sleeps, so the producer's next publish
  // signals the data descriptor (an eventfd or, with RingWakeFds::socket, a socket). Returns false
  // when a record is already waiting (nothing armed: peek instead).
  bool arm_data_wait() noexcept;

  std::uint32_t max_payload() const noexcept { return side_.max_payload; }
  explicit operator bool() const noexcept { return side_.ring != nullptr; }

 private:
  Error fail(Error error);
  Result<void> refresh_tail();

  detail::RingSide side_;
  std::uint64_t head_ = 0;        // local read index, including released records
  std::uint64_t published_ = 0;   // last head stored to shared memory
  std::uint64_t tail_cache_ = 0;  // last tail read from shared memory
  std::uint64_t expected_seq_ = 0;
  std::uint64_t pending_records_ = 0;
  std::uint64_t peeked_size_ = 0;  // bytes of the record peek() returned, 0 if none
  std::optional<Error> broken_;
};

}  // namespace ferry
