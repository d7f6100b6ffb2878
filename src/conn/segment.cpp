// SPDX-License-Identifier: Apache-2.0
// Connection and doorbell segments (segment.hpp).
#include "conn/segment.hpp"

#include <sys/random.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <new>
#include <string>

namespace ferry::detail {

Result<void> check_ident(const char* what, std::uint32_t magic, std::uint32_t expected_magic,
                         std::uint16_t version, std::uint16_t header_size,
                         std::size_t expected_header_size) {
  if (magic != expected_magic) return Error(Errc::corrupt, std::string(what) + ": bad magic");
  if (version != kConnLayoutVersion || header_size != expected_header_size) {
    return Error(Errc::bad_version, std::string(what) + " layout version " +
                                        std::to_string(version) + ", this build speaks " +
                                        std::to_string(kConnLayoutVersion));
  }
  return {};
}

SegmentGeometry segment_geometry(std::uint32_t c2s_capacity, std::uint32_t s2c_capacity) noexcept {
  SegmentGeometry g;
  g.c2s_offset = kConnHeaderSize;
  g.s2c_offset = g.c2s_offset + align_up(ring_bytes(c2s_capacity));
  g.size = g.s2c_offset + align_up(ring_bytes(s2c_capacity));
  return g;
}

Result<SharedMemory> create_connection_segment(std::uint64_t connection_id, std::uint32_t slot,
                                               std::uint32_t c2s_capacity,
                                               std::uint32_t s2c_capacity, bool crc) {
  const SegmentGeometry g = segment_geometry(c2s_capacity, s2c_capacity);
  auto shm = SharedMemory::create_anonymous("conn-" + std::to_string(connection_id), g.size);
  if (!shm) return shm.error();
  auto* base = static_cast<std::byte*>(shm->data());
  auto* header = new (base) ConnHeader{};
  header->ident.version = kConnLayoutVersion;
  header->ident.header_size = static_cast<std::uint16_t>(kConnHeaderSize);
  header->ident.connection_id = connection_id;
  header->ident.slot = slot;
  header->ident.c2s_capacity = c2s_capacity;
  header->ident.c2s_offset = g.c2s_offset;
  header->ident.s2c_capacity = s2c_capacity;
  header->ident.s2c_offset = g.s2c_offset;
  RingConfig c2s{c2s_capacity, 0, crc};
  RingConfig s2c{s2c_capacity, 0, crc};
  if (auto r = ring_format(base + g.c2s_offset, g.s2c_offset - g.c2s_offset, c2s); !r) {
    return r.error();
  }
  if (auto r = ring_format(base + g.s2c_offset, g.size - g.s2c_offset, s2c); !r) return r.error();
  header->ident.magic = kConnMagic;
  return shm;
}

Result<ConnView> view_connection_segment(const SharedMemory& segment, std::uint64_t connection_id,
                                         std::uint32_t slot) {
  return view_connection_segment(segment.data(), segment.size(), connection_id, slot);
}

Result<ConnView> view_connection_segment(void* memory, std::size_t segment_size,
                                         std::uint64_t connection_id, std::uint32_t slot) {
  if (segment_size < kConnHeaderSize) {
    return Error(Errc::corrupt, "connection segment of " + std::to_string(segment_size) +
                                    " bytes is smaller than its header");
  }
  auto* base = static_cast<std::byte*>(memory);
  auto* header = std::launder(reinterpret_cast<ConnHeader*>(base));  // NOLINT: shared layout
  // Read once; only these copies are used below.
  const ConnIdent id = header->ident;
  if (auto ok = check_ident("connection segment", id.magic, kConnMagic, id.version, id.header_size,
                            kConnHeaderSize);
      !ok) {
    return ok.error();
  }
  if (id.connection_id != connection_id || id.slot != slot) {
    return Error(Errc::corrupt, "connection segment names connection " +
                                    std::to_string(id.connection_id) + ", the handshake said " +
                                    std::to_string(connection_id));
  }
  const std::uint64_t size = segment_size;
  const auto fits = [&] {
    // Offsets first, so that the sums below cannot overflow.
    if (id.c2s_offset > size || id.s2c_offset > size) return false;
    const std::uint64_t c2s_end = id.c2s_offset + ring_bytes(id.c2s_capacity);
    const std::uint64_t s2c_end = id.s2c_offset + ring_bytes(id.s2c_capacity);
    return id.c2s_offset >= kConnHeaderSize && id.c2s_offset % kSegmentAlign == 0 &&
           id.s2c_offset % kSegmentAlign == 0 && c2s_end <= id.s2c_offset && s2c_end <= size;
  };
  if (!fits()) {
    return Error(Errc::corrupt,
                 "connection segment: rings do not fit its " + std::to_string(size) + " bytes");
  }
  ConnView v;
  v.header = header;
  v.c2s = base + id.c2s_offset;
  v.c2s_bytes = static_cast<std::size_t>(id.s2c_offset - id.c2s_offset);
  v.s2c = base + id.s2c_offset;
  v.s2c_bytes = static_cast<std::size_t>(size - id.s2c_offset);
  return v;
}

void write_goodbye(ConnHeader& header, GoodbyeReason reason, std::string_view text) noexcept {
  ConnGoodbyeBlock& g = header.goodbye;
  const std::size_t n = std::min(text.size(), kGoodbyeTextBytes);
  std::memcpy(g.text, text.data(), n);
  g.length = static_cast<std::uint32_t>(n);
  // SYNC POINT WRITE (release): the text above before the reason; pairs with the acquire
  // in read_goodbye().
  g.reason.store(static_cast<std::uint32_t>(reason), std::memory_order_release);
}

std::string read_goodbye(const ConnHeader& header) {
  const ConnGoodbyeBlock& g = header.goodbye;
  // SYNC POINT READ (acquire): pairs with write_goodbye()'s release.
  if (g.reason.load(std::memory_order_acquire) == 0) return {};
  std::array<char, kGoodbyeTextBytes> copy{};
  std::memcpy(copy.data(), g.text, copy.size());  // once: the server may still write
  const std::size_t n = std::min<std::size_t>(g.length, copy.size());
  std::string text(copy.data(), n);
  for (char& ch : text) {
    if (ch < 0x20 || ch > 0x7e) ch = '?';
  }
  return text;
}

std::size_t doorbell_bytes(std::uint32_t slots) noexcept {
  return static_cast<std::size_t>(align_up(kDoorbellHeaderSize + std::uint64_t{slots} / 8));
}

Result<SharedMemory> create_doorbell(std::uint32_t slots) {
  slots = (slots + 63u) & ~63u;
  auto shm = SharedMemory::create_anonymous("doorbell", doorbell_bytes(slots));
  if (!shm) return shm.error();
  auto* header = new (shm->data()) DoorbellHeader{};
  header->ident.version = kConnLayoutVersion;
  header->ident.header_size = static_cast<std::uint16_t>(kDoorbellHeaderSize);
  header->ident.slots = slots;
  auto* words = static_cast<std::byte*>(shm->data()) + kDoorbellHeaderSize;
  for (std::uint32_t i = 0; i < slots / 64; ++i) {
    new (words + std::size_t{i} * 8) ShmAtomic<std::uint64_t>();
  }
  header->ident.magic = kDoorbellMagic;
  return shm;
}

Result<SharedMemory> create_wake_segment() {
  ShmOptions options;
  options.read_only_for_others = true;
  auto shm = SharedMemory::create_anonymous("wake", kWakeSegmentSize, options);
  if (!shm) return shm.error();
  auto* header = new (shm->data()) WakeHeader{};
  header->ident.version = kConnLayoutVersion;
  header->ident.header_size = static_cast<std::uint16_t>(kWakeSegmentSize);
  header->ident.magic = kWakeMagic;
  return shm;
}

Result<const WakeHeader*> view_wake_segment(const SharedMemory& segment) {
  if (segment.size() < kWakeSegmentSize) {
    return Error(Errc::corrupt, "wake segment is smaller than its header");
  }
  const auto* header = std::launder(static_cast<const WakeHeader*>(segment.data()));
  const WakeIdent id = header->ident;
  if (auto ok = check_ident("wake segment", id.magic, kWakeMagic, id.version, id.header_size,
                            kWakeSegmentSize);
      !ok) {
    return ok.error();
  }
  return header;
}

Result<DoorbellView> view_doorbell(const SharedMemory& segment, std::uint32_t slot) {
  if (segment.size() < kDoorbellHeaderSize) {
    return Error(Errc::corrupt, "doorbell segment is smaller than its header");
  }
  auto* header = std::launder(static_cast<DoorbellHeader*>(segment.data()));
  const DoorbellIdent id = header->ident;
  if (auto ok = check_ident("doorbell segment", id.magic, kDoorbellMagic, id.version,
                            id.header_size, kDoorbellHeaderSize);
      !ok) {
    return ok.error();
  }
  if (id.slots % 64 != 0 || slot >= id.slots || segment.size() < doorbell_bytes(id.slots)) {
    return Error(Errc::corrupt, "doorbell segment: slot " + std::to_string(slot) + " outside its " +
                                    std::to_string(id.slots) + " bits");
  }
  DoorbellView v;
  v.header = header;
  v.words = std::launder(reinterpret_cast<ShmAtomic<std::uint64_t>*>(  // NOLINT: shared layout
      static_cast<std::byte*>(segment.data()) + kDoorbellHeaderSize));
  v.slots = id.slots;
  return v;
}

}  // namespace ferry::detail
