// SPDX-License-Identifier: Apache-2.0
// The 24-byte frame header (ferry/wire.hpp): little-endian encoding, validation, decoding.
#include "ferry/wire.hpp"

#include <array>
#include <cstring>
#include <string>

#include "ferry/crc32c.hpp"
#include "wire/sign.hpp"

namespace ferry::wire {
namespace {

// The layout, field by field; each starts where the previous one ends.
struct Field {
  std::size_t offset;
  std::size_t size;
};
constexpr Field kLength{0, sizeof(Header::length)};
constexpr Field kType{4, sizeof(Header::type)};
constexpr Field kVersionField{6, sizeof(Header::version)};
constexpr Field kFlags{7, sizeof(Header::flags)};
constexpr Field kSeq{8, sizeof(Header::seq)};
constexpr Field kCorrelation{16, sizeof(Header::correlation)};
constexpr Field kCrc{20, sizeof(Header::crc)};

constexpr bool contiguous(std::array<Field, 7> fields) {
  std::size_t end = 0;
  for (const Field& f : fields) {
    if (f.offset != end) return false;
    end += f.size;
  }
  return end == kHeaderSize;
}
static_assert(contiguous({kLength, kType, kVersionField, kFlags, kSeq, kCorrelation, kCrc}),
              "header fields must tile bytes 0..24 without gaps");
static_assert(kCrc.offset == kCrcCoveredHeaderBytes, "the CRC covers every byte before it");

template <Field F, class T>
void store_le(std::byte* out, T v) noexcept {
  static_assert(sizeof v == F.size, "field and value differ in size");
  v = detail::little_endian(v);
  std::memcpy(out + F.offset, &v, sizeof v);
}

template <Field F, class T>
void load_le(const std::byte* in, T& v) noexcept {
  static_assert(sizeof v == F.size, "field and value differ in size");
  std::memcpy(&v, in + F.offset, sizeof v);
  v = detail::little_endian(v);
}

// "0x" and every hex digit of v: 0x0c for a uint8_t, 0x0000abcd for a uint32_t.
template <class T>
std::string hex(T v) {
  std::string s = "0x" + std::string(2 * sizeof v, '0');
  for (auto it = s.rbegin(); v != 0; ++it, v = static_cast<T>(v >> 4)) {
    *it = "0123456789abcdef"[v & 0xfu];
  }
  return s;
}

Error header_error(Errc code, const std::string& what) {
  return Error(code, "frame header: " + what);
}

}  // namespace

// detail::put_covered() writes these fields as three words.
static_assert(kLength.offset == 0 && kType.offset == 4 && kVersionField.offset == 6 &&
              kFlags.offset == 7 && kSeq.offset == 8 && kCorrelation.offset == 16);

void store_fields(const Header& h, std::byte* out) noexcept {
  detail::put_covered(h, out);
}

std::uint32_t encode(const Header& h, std::span<const std::byte> payload, std::byte* out) noexcept {
  return detail::encode(h, payload, out);
}

std::uint32_t encode(const Header& h, std::uint32_t payload_crc, const Crc32cJoin& join,
                     std::byte* out) noexcept {
  return detail::encode(h, payload_crc, join, out);
}

Header load(const std::byte* in) noexcept {
  Header h;
  load_le<kLength>(in, h.length);
  load_le<kType>(in, h.type);
  load_le<kVersionField>(in, h.version);
  load_le<kFlags>(in, h.flags);
  load_le<kSeq>(in, h.seq);
  load_le<kCorrelation>(in, h.correlation);
  load_le<kCrc>(in, h.crc);
  return h;
}

std::uint32_t frame_crc(const std::byte* header, std::span<const std::byte> payload) noexcept {
  return crc32c(payload.data(), payload.size(), crc32c(header, kCrcCoveredHeaderBytes));
}

Result<void> check_crc(const Header& h, const std::byte* header,
                       std::span<const std::byte> payload) {
  const std::uint32_t computed = frame_crc(header, payload);
  if (computed == h.crc) return {};
  return Error(Errc::bad_crc,
               "frame crc32c mismatch: header says " + hex(h.crc) + ", computed " + hex(computed));
}

Result<void> validate(const Header& h, const Limits& limits) {
  // The version first: the other fields mean what that version says they mean.
  if (h.version != kVersion) {
    return header_error(Errc::bad_version, "protocol version " + std::to_string(h.version) +
                                               ", this build speaks version " +
                                               std::to_string(kVersion));
  }
  if (h.length > limits.max_payload) {
    return header_error(Errc::bad_length, "payload length " + std::to_string(h.length) +
                                              " exceeds the limit of " +
                                              std::to_string(limits.max_payload) + " bytes");
  }
  if (const auto unknown = static_cast<std::uint8_t>(h.flags & ~kKnownFlags); unknown != 0) {
    return header_error(Errc::bad_flags, "unknown flag bits " + hex(unknown) + " in flags " +
                                             hex(h.flags) + " (known: " + hex(kKnownFlags) + ")");
  }
  if ((h.flags & kFlagLz4) != 0 && (h.flags & kFlagZstd) != 0) {
    return header_error(Errc::bad_flags, "flags " + hex(h.flags) +
                                             " mark the payload both lz4- and zstd-compressed");
  }
  if ((h.flags & kFlagPadding) != 0 && h.flags != kFlagPadding) {
    return header_error(
        Errc::bad_flags,
        "flags " + hex(h.flags) + " combine padding with other flags; padding stands alone");
  }
  return {};
}

Result<Header> decode(std::span<const std::byte> frame, const Limits& limits) {
  if (frame.size() < kHeaderSize) {
    return header_error(Errc::bad_length, "buffer of " + std::to_string(frame.size()) +
                                              " bytes is shorter than the " +
                                              std::to_string(kHeaderSize) + "-byte header");
  }
  // One copy of the header: a peer rewriting shared memory cannot change what we validate
  // and checksum after the fact.
  std::array<std::byte, kHeaderSize> raw;
  std::memcpy(raw.data(), frame.data(), raw.size());
  const Header h = load(raw.data());
  if (Result<void> valid = validate(h, limits); !valid) return valid.error();
  const std::size_t room = frame.size() - kHeaderSize;
  if (h.length > room) {
    return header_error(Errc::bad_length, "payload length " + std::to_string(h.length) +
                                              " runs past the buffer, which holds " +
                                              std::to_string(room) + " bytes after the header");
  }
  if (limits.check_crc) {
    if (auto ok = check_crc(h, raw.data(), frame.subspan(kHeaderSize, h.length)); !ok) {
      return ok.error();
    }
  }
  return h;
}

}  // namespace ferry::wire
