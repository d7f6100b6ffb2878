// ferry/flatbuffers.hpp: FlatBuffers payloads, verified and then read in place (header-only).
//
// Optional: only code that includes this header needs the FlatBuffers headers
// (libflatbuffers-dev); libferry itself does not depend on them. The sender finishes a
// FlatBufferBuilder and sends flatbuffer_bytes(builder); the receiver calls
// verify_flatbuffer<T>(payload) before touching any field, so a payload from a buggy or
// hostile peer is an Errc::corrupt value, never an out-of-bounds read.
// Thread-safety: pure functions, safe from any thread. The returned root points into the
// payload and is valid as long as the payload is (e.g. until the ring record is released).
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "ferry/result.hpp"

namespace ferry {

// The alignment verify_flatbuffer() requires of a payload's address: FlatBuffers aligns
// scalars relative to the buffer's start, up to 8 bytes (a ring's payloads are 8-aligned).
inline constexpr std::size_t kFlatbufferAlignment = 8;

// Verifies a payload as a FlatBuffer whose root is T (the flatc-generated table type), then
// returns the root, read in place. A payload that fails verification is Errc::corrupt
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

// The finished buffer of a builder as bytes, to send. The builder must have been Finish()ed;
// the bytes alias its memory, valid until it is changed, cleared or destroyed.
inline std::span<const std::byte> flatbuffer_bytes(const flatbuffers::FlatBufferBuilder& b) {
  return std::as_bytes(std::span<const std::uint8_t>(b.GetBufferPointer(), b.GetSize()));
}

}  // namespace ferry
