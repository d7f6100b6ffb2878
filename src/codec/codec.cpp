// SPDX-License-Identifier: Apache-2.0
// Payload compression (ferry/codec.hpp): LZ4 and zstd frames with a 4-byte length prefix.
#include "ferry/codec.hpp"

#include <lz4.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <climits>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "ferry/wire.hpp"

namespace ferry {
namespace {

constexpr std::size_t kSizeMax = std::numeric_limits<std::size_t>::max();

// The largest input each codec accepts: LZ4's own limit, and for zstd the largest payload a
// frame may carry (the length prefix and the wire both top out there).
constexpr std::size_t kMaxLz4Input = LZ4_MAX_INPUT_SIZE;
constexpr std::size_t kMaxZstdInput = wire::kMaxPayload;
constexpr int kMaxLz4Acceleration = 65537;  // LZ4_ACCELERATION_MAX in lz4.c
constexpr int kDefaultZstdLevel = 1;

std::size_t saturating_add(std::size_t a, std::size_t b) noexcept {
  return a > kSizeMax - b ? kSizeMax : a + b;
}

std::string name_of(Compression c) {
  return std::string(to_string(c));
}

bool is_codec(Compression c) noexcept {
  return c == Compression::lz4 || c == Compression::zstd;
}

void store_prefix(std::byte* out, std::uint32_t v) noexcept {
  for (std::size_t i = 0; i < kCompressedPrefixSize; ++i) {
    out[i] = static_cast<std::byte>(v >> (8 * i));
  }
}

std::uint32_t load_prefix(const std::byte* in) noexcept {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < kCompressedPrefixSize; ++i) {
    v |= static_cast<std::uint32_t>(in[i]) << (8 * i);
  }
  return v;
}

// zstd contexts, one of each per thread, created on first use and freed at thread exit.
struct ZstdFree {
  void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
  void operator()(ZSTD_DCtx* d) const noexcept { ZSTD_freeDCtx(d); }
};

ZSTD_CCtx* thread_cctx() noexcept {
  thread_local std::unique_ptr<ZSTD_CCtx, ZstdFree> ctx;
  if (!ctx) ctx.reset(ZSTD_createCCtx());
  return ctx.get();
}

ZSTD_DCtx* thread_dctx() noexcept {
  thread_local std::unique_ptr<ZSTD_DCtx, ZstdFree> ctx;
  if (!ctx) ctx.reset(ZSTD_createDCtx());
  return ctx.get();
}

// The level is the codec's own knob: LZ4's acceleration, or the zstd level.
Result<void> check_level(Compression c, int level) {
  if (c == Compression::lz4 && (level < 0 || level > kMaxLz4Acceleration)) {
    return Error(Errc::invalid_argument, "lz4 level is its acceleration, 0 (default: 1) to " +
                                             std::to_string(kMaxLz4Acceleration) + "; got " +
                                             std::to_string(level));
  }
  if (c == Compression::zstd && (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())) {
    return Error(Errc::invalid_argument, "zstd level must be " + std::to_string(ZSTD_minCLevel()) +
                                             " to " + std::to_string(ZSTD_maxCLevel()) +
                                             " (0: level 1); got " + std::to_string(level));
  }
  return {};
}

// Compresses src into out (at most `capacity` bytes). 0 when the output does not fit.
Result<std::size_t> lz4_compress(int level, std::span<const std::byte> src, std::byte* out,
                                 std::size_t capacity) {
  const int written = LZ4_compress_fast(reinterpret_cast<const char*>(src.data()),
                                        reinterpret_cast<char*>(out), static_cast<int>(src.size()),
                                        static_cast<int>(capacity), level == 0 ? 1 : level);
  return static_cast<std::size_t>(written > 0 ? written : 0);
}

Result<std::size_t> zstd_compress(int level, std::span<const std::byte> src, std::byte* out,
                                  std::size_t capacity) {
  ZSTD_CCtx* ctx = thread_cctx();
  if (ctx == nullptr) return Error(Errc::no_memory, "zstd: cannot allocate a compression context");
  const std::size_t written = ZSTD_compressCCtx(ctx, out, capacity, src.data(), src.size(),
                                                level == 0 ? kDefaultZstdLevel : level);
  if (!ZSTD_isError(written)) return written;
  switch (ZSTD_getErrorCode(written)) {
    case ZSTD_error_dstSize_tooSmall: return std::size_t{0};
    case ZSTD_error_memory_allocation:
      return Error(Errc::no_memory, std::string("zstd compression: ") + ZSTD_getErrorName(written));
    default:
      return Error(Errc::system,
                   std::string("zstd compression failed: ") + ZSTD_getErrorName(written));
  }
}

Result<std::size_t> lz4_decompress(std::span<const std::byte> data, std::byte* out,
                                   std::size_t size) {
  if (size > kMaxLz4Input) {
    return Error(Errc::corrupt, "lz4 payload is corrupt: it claims " + std::to_string(size) +
                                    " bytes, more than lz4 can encode (" +
                                    std::to_string(kMaxLz4Input) + ")");
  }
  if (data.size() > static_cast<std::size_t>(INT_MAX)) {
    return Error(Errc::corrupt, "lz4 payload is corrupt: " + std::to_string(data.size()) +
                                    " bytes of compressed data, more than lz4 can decode");
  }
  const int got =
      LZ4_decompress_safe(reinterpret_cast<const char*>(data.data()), reinterpret_cast<char*>(out),
                          static_cast<int>(data.size()), static_cast<int>(size));
  if (got < 0) {
    return Error(Errc::corrupt, "lz4 payload is corrupt: decoding failed at input byte " +
                                    std::to_string(-static_cast<long long>(got) - 1) + " of " +
                                    std::to_string(data.size()) +
                                    " (bad data, or it decodes to more than the " +
                                    std::to_string(size) + " bytes its length prefix records)");
  }
  if (static_cast<std::size_t>(got) != size) {
    return Error(Errc::corrupt, "lz4 payload is corrupt: it decodes to " + std::to_string(got) +
                                    " bytes, its length prefix records " + std::to_string(size));
  }
  return size;
}

Result<std::size_t> zstd_decompress(std::span<const std::byte> data, std::byte* out,
                                    std::size_t size) {
  ZSTD_DCtx* ctx = thread_dctx();
  if (ctx == nullptr) {
    return Error(Errc::no_memory, "zstd: cannot allocate a decompression context");
  }
  const std::size_t got = ZSTD_decompressDCtx(ctx, out, size, data.data(), data.size());
  if (ZSTD_isError(got)) {
    if (ZSTD_getErrorCode(got) == ZSTD_error_dstSize_tooSmall) {
      return Error(Errc::corrupt, "zstd payload is corrupt: it decodes to more than the " +
                                      std::to_string(size) + " bytes its length prefix records");
    }
    return Error(Errc::corrupt, std::string("zstd payload is corrupt: ") + ZSTD_getErrorName(got));
  }
  if (got != size) {
    return Error(Errc::corrupt, "zstd payload is corrupt: it decodes to " + std::to_string(got) +
                                    " bytes, its length prefix records " + std::to_string(size));
  }
  return size;
}

}  // namespace

std::string_view to_string(Compression c) noexcept {
  switch (c) {
    case Compression::none: return "none";
    case Compression::lz4: return "lz4";
    case Compression::zstd: return "zstd";
  }
  return "unknown";
}

Result<Compression> parse_compression(std::string_view text) {
  for (const Compression c : {Compression::none, Compression::lz4, Compression::zstd}) {
    if (text == to_string(c)) return c;
  }
  return Error(Errc::invalid_argument,
               "unknown compression \"" + std::string(text) + "\": expected none, lz4 or zstd");
}

std::size_t compress_bound(Compression c, std::size_t n) noexcept {
  switch (c) {
    case Compression::none: return n;
    case Compression::lz4:  // LZ4_COMPRESSBOUND, without its int range
      return saturating_add(saturating_add(n, n / 255), 16 + kCompressedPrefixSize);
    case Compression::zstd:
      if (n >= ZSTD_MAX_INPUT_SIZE) return kSizeMax;
      return saturating_add(ZSTD_compressBound(n), kCompressedPrefixSize);
  }
  return n;
}

Result<std::size_t> compress(Compression c, int level, std::span<const std::byte> src,
                             std::span<std::byte> dst) {
  if (!is_codec(c)) {
    return Error(Errc::invalid_argument, "compress: the codec must be lz4 or zstd, got " +
                                             name_of(c) + " (send the payload raw instead)");
  }
  const std::size_t max_input = c == Compression::lz4 ? kMaxLz4Input : kMaxZstdInput;
  if (src.size() > max_input) {
    return Error(Errc::invalid_argument, "compress: " + name_of(c) + " takes at most " +
                                             std::to_string(max_input) + " bytes, got " +
                                             std::to_string(src.size()));
  }
  const std::size_t bound = compress_bound(c, src.size());
  if (dst.size() < bound) {
    return Error(Errc::invalid_argument,
                 "compress: the destination holds " + std::to_string(dst.size()) +
                     " bytes, less than " + "compress_bound(" + name_of(c) + ", " +
                     std::to_string(src.size()) + ") = " + std::to_string(bound));
  }
  if (auto checked = check_level(c, level); !checked) return checked.error();
  // A frame is worth sending only if it is smaller than src: stop the codec as soon as its
  // output would reach that size.
  if (src.size() <= kCompressedPrefixSize) return std::size_t{0};
  const std::size_t capacity = src.size() - kCompressedPrefixSize - 1;
  std::byte* out = dst.data() + kCompressedPrefixSize;
  auto written = c == Compression::lz4 ? lz4_compress(level, src, out, capacity)
                                       : zstd_compress(level, src, out, capacity);
  if (!written || *written == 0) return written;
  store_prefix(dst.data(), static_cast<std::uint32_t>(src.size()));
  return kCompressedPrefixSize + *written;
}

Result<std::size_t> decompressed_size(std::span<const std::byte> frame, std::size_t max_size) {
  if (frame.size() < kCompressedPrefixSize) {
    return Error(Errc::bad_length, "compressed payload is " + std::to_string(frame.size()) +
                                       " bytes, shorter than its " +
                                       std::to_string(kCompressedPrefixSize) +
                                       "-byte length prefix");
  }
  const std::size_t size = load_prefix(frame.data());
  if (size > max_size) {
    return Error(Errc::bad_length, "compressed payload claims " + std::to_string(size) +
                                       " bytes, more than the " + std::to_string(max_size) +
                                       "-byte limit");
  }
  return size;
}

Result<std::size_t> decompress(Compression c, std::span<const std::byte> frame,
                               std::span<std::byte> dst, std::size_t max_size) {
  if (!is_codec(c)) {
    return Error(Errc::invalid_argument,
                 "decompress: the codec must be lz4 or zstd, got " + name_of(c));
  }
  auto size = decompressed_size(frame, max_size);
  if (!size) return size;
  if (dst.size() < *size) {
    return Error(Errc::invalid_argument,
                 "decompress: the destination holds " + std::to_string(dst.size()) +
                     " bytes, the payload decompresses to " + std::to_string(*size));
  }
  const auto data = frame.subspan(kCompressedPrefixSize);
  return c == Compression::lz4 ? lz4_decompress(data, dst.data(), *size)
                               : zstd_decompress(data, dst.data(), *size);
}

std::uint8_t compression_flag(Compression c) noexcept {
  switch (c) {
    case Compression::none: return 0;
    case Compression::lz4: return wire::kFlagLz4;
    case Compression::zstd: return wire::kFlagZstd;
  }
  return 0;
}

Result<Compression> compression_from_flags(std::uint8_t flags) {
  const bool lz4 = (flags & wire::kFlagLz4) != 0;
  const bool zstd = (flags & wire::kFlagZstd) != 0;
  if (lz4 && zstd) {
    constexpr const char* kHex = "0123456789abcdef";
    const std::string hex = {'0', 'x', kHex[flags >> 4], kHex[flags & 0xfu]};
    return Error(Errc::bad_flags, "frame flags " + hex +
                                      " set both lz4 and zstd compression; at most one may be set");
  }
  if (lz4) return Compression::lz4;
  if (zstd) return Compression::zstd;
  return Compression::none;
}

}  // namespace ferry
