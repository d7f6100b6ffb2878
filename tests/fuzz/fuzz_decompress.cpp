// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for decompress(). The first input byte picks the codec (bit 0: lz4 or
// zstd) and how much room the destination has beyond the recorded length (bits 1-2); the
// rest is the frame. Decompression is limited to 1 MiB. A frame must be refused with
// bad_length or corrupt, or decode to exactly its recorded length, which must then survive
// a compress/decompress round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

#include "ferry/codec.hpp"

namespace {

constexpr std::size_t kLimit = std::size_t{1} << 20;
constexpr std::size_t kSlack[] = {0, 1, 7, 4096};
constexpr std::size_t kMaxRecompress = std::size_t{64} << 10;
constexpr std::size_t kGuard = 64;
constexpr unsigned char kPattern = 0xa5;

void round_trip(ferry::Compression c, std::span<const std::byte> data) {
  const std::size_t bound = ferry::compress_bound(c, data.size());
  auto frame = std::make_unique_for_overwrite<std::byte[]>(bound);
  const auto n = ferry::compress(c, 0, data, std::span(frame.get(), bound));
  if (!n) std::abort();
  if (*n == 0) return;  // not worth compressing
  if (*n >= data.size() || *n > bound) std::abort();
  auto back = std::make_unique_for_overwrite<std::byte[]>(data.size());
  const auto m = ferry::decompress(c, std::span(frame.get(), *n),
                                   std::span(back.get(), data.size()), data.size());
  if (!m || *m != data.size()) std::abort();
  if (std::memcmp(back.get(), data.data(), data.size()) != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using ferry::Compression;
  using ferry::Errc;
  if (size == 0) return 0;
  const Compression c = (data[0] & 1) != 0 ? Compression::zstd : Compression::lz4;
  const std::size_t slack = kSlack[(data[0] >> 1) & 3];
  const auto frame = std::as_bytes(std::span(data + 1, size - 1));

  const auto n = ferry::decompressed_size(frame, kLimit);
  if (!n) {
    if (n.code() != Errc::bad_length) std::abort();
    const auto refused = ferry::decompress(c, frame, {}, kLimit);
    if (refused.code() != Errc::bad_length) std::abort();
    return 0;
  }
  if (*n > kLimit) std::abort();

  // The destination is `room` bytes, followed by guard bytes. liblz4 and libzstd are the
  // system's uninstrumented builds, so ASan would not see them write past the destination:
  // the guard (and the slack past the recorded length) must come back untouched.
  const std::size_t room = *n + slack;
  auto out = std::make_unique_for_overwrite<std::byte[]>(room + kGuard);
  std::memset(out.get() + *n, kPattern, slack + kGuard);
  const auto got = ferry::decompress(c, frame, std::span(out.get(), room), kLimit);
  for (std::size_t i = *n; i < room + kGuard; ++i) {
    if (out[i] != std::byte{kPattern}) std::abort();
  }
  if (!got) {
    if (got.code() != Errc::corrupt) std::abort();
    return 0;
  }
  if (*got != *n) std::abort();
  if (*n <= kMaxRecompress) round_trip(c, std::span(out.get(), *n));
  return 0;
}
