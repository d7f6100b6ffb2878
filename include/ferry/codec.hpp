// SPDX-License-Identifier: Apache-2.0
// ferry/codec.hpp: payload compression with LZ4 or zstd (docs/compression.md).
//
// A compressed payload is a frame: the original length as 4 little-endian bytes, then the
// codec's data. The frame header's flags (wire::kFlagLz4, wire::kFlagZstd) say which codec
// made it. The sender decides whether to compress (CompressionOptions::threshold, and
// compress() returning 0 when compression would not save anything); the receiver refuses a
// frame whose recorded length exceeds its own limit before it allocates or decompresses.
// Thread-safety: every function may be called from any thread at the same time; zstd
// contexts are cached per thread and freed when the thread exits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "ferry/export.hpp"
#include "ferry/result.hpp"

namespace ferry {

enum class Compression : std::uint8_t { none = 0, lz4 = 1, zstd = 2 };

// "none", "lz4" or "zstd" ("unknown" for a value outside the enum).
FERRY_API std::string_view to_string(Compression c) noexcept;

// Parses "none", "lz4" or "zstd"; anything else is invalid_argument naming the choices.
FERRY_API Result<Compression> parse_compression(std::string_view text);

// What a sender does with its payloads.
struct CompressionOptions {
  Compression codec = Compression::none;
  std::uint32_t threshold = 1024;  // payloads smaller than this are sent raw
  int level = 0;                   // 0: the codec's fast default (lz4 acceleration 1, zstd level 1)
};

// The size of the original-length prefix that starts every compressed frame.
inline constexpr std::size_t kCompressedPrefixSize = 4;

// Upper bound of compress() output for n input bytes (4-byte prefix included). none: n.
// Saturates at SIZE_MAX instead of overflowing.
FERRY_API std::size_t compress_bound(Compression c, std::size_t n) noexcept;

// Writes a compressed frame into dst: 4-byte little-endian original length, then codec data.
// Returns the frame size, or 0 when the frame would not be smaller than src (send raw then;
// an empty src always gives 0).
// `level`: 0 is the codec's fast default. For lz4 a positive level is LZ4's acceleration
// (1..65537: higher is faster and compresses less); for zstd it is the zstd level
// (ZSTD_minCLevel()..ZSTD_maxCLevel(), negative levels are zstd's fast modes).
// Errors: invalid_argument (codec none or unknown, level out of range, dst smaller than
// compress_bound, src larger than the codec accepts: 2 GiB - 1 bytes, 2016 MiB for lz4),
// no_memory (a zstd context could not be allocated).
FERRY_API Result<std::size_t> compress(Compression c, int level, std::span<const std::byte> src,
                                       std::span<std::byte> dst);

// Original length recorded in a frame; bad_length if the frame is shorter than 4 bytes or the
// length exceeds max_size (the message names both numbers: a decompression bomb is refused).
FERRY_API Result<std::size_t> decompressed_size(std::span<const std::byte> frame,
                                                std::size_t max_size);

// Decompresses a frame into dst (needs dst.size() >= decompressed_size, else
// invalid_argument). Errors from decompressed_size() come back unchanged; corrupt on any
// codec error or when the codec's output length differs from the recorded one. Never writes
// past dst, nor past the recorded length. Returns the decompressed length.
// The frame is read where it is: copy it out of shared memory first if a peer you do not
// trust can still write there (no codec promises to survive input changing under it).
FERRY_API Result<std::size_t> decompress(Compression c, std::span<const std::byte> frame,
                                         std::span<std::byte> dst, std::size_t max_size);

// The wire flag for a codec (wire::kFlagLz4, wire::kFlagZstd; 0 for none).
FERRY_API std::uint8_t compression_flag(Compression c) noexcept;

// The codec a header's flags name (other flag bits are ignored); bad_flags if both lz4 and
// zstd are set.
FERRY_API Result<Compression> compression_from_flags(std::uint8_t flags);

}  // namespace ferry
