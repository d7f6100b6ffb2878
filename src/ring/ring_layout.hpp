// SPDX-License-Identifier: Apache-2.0
// ring_layout.hpp: the binary layout of a ring in shared memory (docs/ring_format.md).
//
// A ring is a 1024-byte header followed by `capacity` bytes of records. The header is a
// file format: fixed offsets, explicit padding, a version first, checked below. Each
// 128-byte block has one writer (named per block) so the two sides never write the same
// cache line on the hot path.
// Thread-safety: the producer writes the producer block, the consumer the consumer
// block; the wait blocks are written by both, only when one side goes to sleep or wakes
// the other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "common/shm_atomic.hpp"
#include "wait/wait_layout.hpp"

namespace ferry::detail {

inline constexpr std::uint32_t kRingMagic = 0x474e5246;  // "FRNG" little-endian
inline constexpr std::uint16_t kRingLayoutVersion = 1;
inline constexpr std::size_t kRingBlock = 128;  // our cache-line padding, fixed on purpose
inline constexpr std::size_t kRingHeaderSize = 1024;
inline constexpr std::uint32_t kRingFlagCrc = 1u << 0;  // frames carry a checked CRC32C

// Written once by the creator before the ring is shared; read-only afterwards.
struct RingIdent {
  std::uint32_t magic;        // 0   kRingMagic
  std::uint16_t version;      // 4   kRingLayoutVersion
  std::uint16_t header_size;  // 6   kRingHeaderSize
  std::uint32_t capacity;     // 8   bytes of record space, a power of two
  std::uint32_t max_payload;  // 12  largest record payload
  std::uint32_t flags;        // 16  kRingFlag*
  std::uint8_t pad[kRingBlock - 20];
};

// Written by the producer only.
struct RingProducerBlock {
  ShmAtomic<std::uint64_t> tail;           // 128 bytes ever published; release-stored
  ShmAtomic<std::uint64_t> records;        // 136 records published
  ShmAtomic<std::uint64_t> bytes;          // 144 payload bytes published
  ShmAtomic<std::uint64_t> full_waits;     // 152 times a reserve found the ring full and waited
  ShmAtomic<std::uint64_t> wake_syscalls;  // 160 futex/eventfd wakes of the consumer
  ShmAtomic<std::uint64_t> full_wait_ns;   // 168 time spent in those full waits
  ShmAtomic<std::uint64_t> high_water;     // 176 most bytes in use when the producer looked
  std::uint8_t pad[kRingBlock - 56];
};

// Written by the consumer only.
struct RingConsumerBlock {
  ShmAtomic<std::uint64_t> head;           // 256 bytes ever released; release-stored
  ShmAtomic<std::uint64_t> records;        // 264 records released
  ShmAtomic<std::uint64_t> errors;         // 272 bad frames seen (length, version, flags, crc, seq)
  ShmAtomic<std::uint64_t> empty_waits;    // 280 times a peek found the ring empty and waited
  ShmAtomic<std::uint64_t> wake_syscalls;  // 288 futex/eventfd wakes of the producer
  std::uint8_t pad[kRingBlock - 40];
};

struct RingHeader {
  RingIdent ident;             // 0
  RingProducerBlock producer;  // 128
  RingConsumerBlock consumer;  // 256
  WaitBlock data_wait;         // 384: the consumer waits for records
  WaitBlock space_wait;        // 512: the producer waits for free space
  std::uint8_t reserved[kRingHeaderSize - 5 * kRingBlock];  // 640..1024, zero
};

static_assert(std::is_standard_layout_v<RingHeader>);
static_assert(sizeof(RingIdent) == kRingBlock);
static_assert(sizeof(RingProducerBlock) == kRingBlock);
static_assert(sizeof(RingConsumerBlock) == kRingBlock);
static_assert(sizeof(WaitBlock) == kRingBlock);
static_assert(sizeof(RingHeader) == kRingHeaderSize);
static_assert(offsetof(RingIdent, version) == 4);
static_assert(offsetof(RingIdent, capacity) == 8);
static_assert(offsetof(RingIdent, max_payload) == 12);
static_assert(offsetof(RingIdent, flags) == 16);
static_assert(offsetof(RingHeader, producer) + offsetof(RingProducerBlock, tail) == 128);
static_assert(offsetof(RingHeader, producer) + offsetof(RingProducerBlock, wake_syscalls) == 160);
static_assert(offsetof(RingHeader, producer) + offsetof(RingProducerBlock, full_wait_ns) == 168);
static_assert(offsetof(RingHeader, producer) + offsetof(RingProducerBlock, high_water) == 176);
static_assert(offsetof(RingHeader, consumer) + offsetof(RingConsumerBlock, head) == 256);
static_assert(offsetof(RingHeader, consumer) + offsetof(RingConsumerBlock, wake_syscalls) == 288);
static_assert(offsetof(RingHeader, data_wait) == 384);
static_assert(offsetof(RingHeader, space_wait) == 512);

}  // namespace ferry::detail
