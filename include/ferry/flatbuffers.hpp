// SPDX-License-Identifier: Apache-2.0
// ferry/flatbuffers.hpp: FlatBuffers payloads, verified and then read in place (header-only).
//
// Optional: only code that includes this header needs the FlatBuffers headers
// (libflatbuffers-dev); libferry itself does not depend on them. The sender finishes a
// FlatBufferBuilder and sends flatbuffer_bytes(builder); the receiver calls
// verify_flatbuffer<T>(message) before touching any field, so a payload from a buggy or
// hostile peer is an Errc::corrupt value, never an out-of-bounds read.
//
// Verification only protects bytes that cannot change after it: a payload still in the ring
// can (its sender may write it at any time), and an offset changed after verification would
// send the reader anywhere. So verify_flatbuffer(const Message&) copies a payload that is in
// shared memory (Message::in_shared_memory) and verifies and reads the copy; one the server
// or client already copied or decompressed is verified in place. The span overload verifies
// in place: give it only memory nobody else can write.
// Thread-safety: pure functions, safe from any thread. The returned root points into the
// payload (or the copy a Verified owns) and is valid as long as that is.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "ferry/message.hpp"
#include "ferry/result.hpp"

namespace ferry {

// The alignment verify_flatbuffer() requires of a payload's address: FlatBuffers aligns
// scalars relative to the buffer's start, up to 8 bytes (a ring's payloads are 8-aligned).
inline constexpr std::size_t kFlatbufferAlignment = 8;

// Verifies a payload as a FlatBuffer whose root is T (the flatc-generated table type), then
// returns the root, read in place. The payload must not change while the root is in use
// (private memory; for a received Message use the overload below). A payload that fails
// verification is Errc::corrupt
// ("payload failed FlatBuffers verification (N bytes)"), never a crash; so is one of 2 GiB
// or more. When options.check_alignment is on (the default), a payload whose address is not
// kFlatbufferAlignment-aligned is invalid_argument: its fields could not be read in place.
template <class T>
Result<const T*> verify_flatbuffer(std::span<const std::byte> payload,
                                   const flatbuffers::Verifier::Options& options = {}) {
  if (payload.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return Error(Errc::corrupt, "payload of " + std::to_string(payload.size()) +
                                    " bytes is larger than any FlatBuffer (2 GiB)");
  }
  const auto* buf = reinterpret_cast<const std::uint8_t*>(payload.data());
  if (options.check_alignment &&
      reinterpret_cast<std::uintptr_t>(buf) % kFlatbufferAlignment != 0) {
    return Error(Errc::invalid_argument,
                 "FlatBuffers payload is not " + std::to_string(kFlatbufferAlignment) +
                     "-byte aligned; copy it into an aligned buffer before verifying it");
  }
  // VerifyBuffer also refuses buffers too small to hold a root offset and a table.
  flatbuffers::Verifier verifier(buf, payload.size(), options);
  if (!verifier.VerifyBuffer<T>(nullptr)) {
    return Error(Errc::corrupt, "payload failed FlatBuffers verification (" +
                                    std::to_string(payload.size()) + " bytes)");
  }
  return flatbuffers::GetRoot<T>(buf);
}

// A verified root and, when the payload had to be copied first, the copy it points into
// (made by verify_flatbuffer(const Message&); moving it keeps the root valid).
template <class T>
class Verified {
 public:
  Verified(std::vector<std::uint64_t> copy, const T* root) noexcept
      : copy_(std::move(copy)), root_(root) {}
  const T* get() const noexcept { return root_; }
  const T* operator->() const noexcept { return root_; }
  const T& operator*() const noexcept { return *root_; }
  // Whether the payload was copied before it was verified (it was in shared memory).
  bool copied() const noexcept { return !copy_.empty(); }

 private:
  std::vector<std::uint64_t> copy_;  // 8-byte aligned, like a ring's payloads
  const T* root_;
};

// Verifies a received message's payload as a FlatBuffer with root T, copying it first if it
// is in shared memory (see the top); errors as the span overload.
template <class T>
Result<Verified<T>> verify_flatbuffer(const Message& message,
                                      const flatbuffers::Verifier::Options& options = {}) {
  std::vector<std::uint64_t> copy;
  std::span<const std::byte> bytes = message.payload;
  if (message.in_shared_memory && !bytes.empty()) {
    copy.resize((bytes.size() + 7) / 8);
    std::memcpy(copy.data(), bytes.data(), bytes.size());  // once; only the copy is read
    bytes = std::as_bytes(std::span<const std::uint64_t>(copy)).first(bytes.size());
  }
  auto root = verify_flatbuffer<T>(bytes, options);
  if (!root) return root.error();
  return Verified<T>(std::move(copy), *root);
}

// The finished buffer of a builder as bytes, to send. The builder must have been Finish()ed;
// the bytes alias its memory, valid until it is changed, cleared or destroyed.
inline std::span<const std::byte> flatbuffer_bytes(const flatbuffers::FlatBufferBuilder& b) {
  return std::as_bytes(std::span<const std::uint8_t>(b.GetBufferPointer(), b.GetSize()));
}

}  // namespace ferry
