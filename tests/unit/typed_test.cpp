// SPDX-License-Identifier: Apache-2.0
// Tests for typed payloads (ferry/typed.hpp) and FlatBuffers payloads (ferry/flatbuffers.hpp).
#include "ferry/typed.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ferry/flatbuffers.hpp"
#include "sample_generated.h"

namespace {

using ferry::Errc;

struct Quote {
  std::uint64_t id;
  double price;
  std::uint32_t quantity;
  std::uint32_t venue;
};
static_assert(sizeof(Quote) == 24 && alignof(Quote) == 8);

// Storage aligned for anything the tests view, with room to misalign on purpose.
struct Aligned {
  alignas(16) std::byte bytes[256];
};

// An exact-size, 8-aligned copy of `bytes` (a vector of uint64_t words), so ASan sees any
// read past the end of the payload.
class AlignedCopy {
 public:
  explicit AlignedCopy(std::span<const std::byte> bytes)
      : words_((bytes.size() + 7) / 8), size_(bytes.size()) {
    if (!bytes.empty()) std::memcpy(words_.data(), bytes.data(), bytes.size());
  }
  std::span<const std::byte> bytes() const { return std::as_bytes(std::span(words_)).first(size_); }

 private:
  std::vector<std::uint64_t> words_;
  std::size_t size_;
};

TEST(Typed, ViewAsReadsInPlace) {
  const Quote q{.id = 42, .price = 101.25, .quantity = 7, .venue = 3};
  const auto bytes = ferry::bytes_of(q);
  EXPECT_EQ(bytes.size(), sizeof(Quote));
  EXPECT_EQ(static_cast<const void*>(bytes.data()), static_cast<const void*>(&q));

  auto view = ferry::view_as<Quote>(bytes);
  ASSERT_TRUE(view.ok()) << view.error().message();
  EXPECT_EQ(*view, &q);
  EXPECT_EQ((*view)->id, 42u);
  EXPECT_EQ((*view)->price, 101.25);
  EXPECT_EQ((*view)->quantity, 7u);
  EXPECT_EQ((*view)->venue, 3u);
}

TEST(Typed, ViewAsWorksOnACopiedPayload) {
  const Quote q{.id = 1, .price = 2.5, .quantity = 3, .venue = 4};
  Aligned buf{};
  std::memcpy(buf.bytes, &q, sizeof q);
  auto view = ferry::view_as<Quote>(std::span(buf.bytes, sizeof q));
  ASSERT_TRUE(view.ok()) << view.error().message();
  EXPECT_EQ((*view)->price, 2.5);
}

TEST(Typed, ViewAsRefusesTheWrongSize) {
  Aligned buf{};
  for (std::size_t n : {std::size_t{0}, sizeof(Quote) - 1, sizeof(Quote) + 1, 2 * sizeof(Quote)}) {
    auto view = ferry::view_as<Quote>(std::span(buf.bytes, n));
    ASSERT_FALSE(view.ok()) << n;
    EXPECT_EQ(view.code(), Errc::bad_length);
    const std::string msg = view.error().message();
    EXPECT_NE(msg.find("payload is " + std::to_string(n) + " bytes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Quote"), std::string::npos) << msg;
    EXPECT_NE(msg.find("24 bytes"), std::string::npos) << msg;
  }
}

TEST(Typed, ViewAsRefusesAMisalignedPayload) {
  Aligned buf{};
  for (std::size_t offset = 1; offset < alignof(Quote); ++offset) {
    auto view = ferry::view_as<Quote>(std::span(buf.bytes + offset, sizeof(Quote)));
    ASSERT_FALSE(view.ok()) << offset;
    EXPECT_EQ(view.code(), Errc::invalid_argument);
    EXPECT_NE(view.error().message().find("alignof("), std::string::npos) << view.error().message();
  }
  // A type with alignment 1 can sit anywhere.
  auto byte_view = ferry::view_as<std::array<char, 3>>(std::span(buf.bytes + 1, 3));
  EXPECT_TRUE(byte_view.ok());
}

TEST(Typed, ViewArrayAs) {
  const std::vector<Quote> quotes = {{1, 1.5, 10, 0}, {2, 2.5, 20, 0}, {3, 3.5, 30, 0}};
  auto view = ferry::view_array_as<Quote>(std::as_bytes(std::span(quotes)));
  ASSERT_TRUE(view.ok()) << view.error().message();
  ASSERT_EQ(view->size(), 3u);
  EXPECT_EQ(view->data(), quotes.data());
  EXPECT_EQ((*view)[2].price, 3.5);

  auto empty = ferry::view_array_as<Quote>({});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  Aligned buf{};
  auto ragged = ferry::view_array_as<Quote>(std::span(buf.bytes, sizeof(Quote) + 5));
  ASSERT_FALSE(ragged.ok());
  EXPECT_EQ(ragged.code(), Errc::bad_length);
  EXPECT_NE(ragged.error().message().find("not a multiple"), std::string::npos);

  auto misaligned = ferry::view_array_as<Quote>(std::span(buf.bytes + 4, 2 * sizeof(Quote)));
  ASSERT_FALSE(misaligned.ok());
  EXPECT_EQ(misaligned.code(), Errc::invalid_argument);
}

// FlatBuffers: a Trade with a symbol, fills and tags (tests/schemas/sample.fbs).
flatbuffers::FlatBufferBuilder build_trade() {
  namespace sample = ferry::sample;
  flatbuffers::FlatBufferBuilder b;
  const std::vector<sample::Fill> fills = {sample::Fill(100, 10.5), sample::Fill(250, 10.75)};
  b.Finish(sample::CreateTradeDirect(b, 7001, 10.625, "FRRY", &fills, nullptr));
  return b;
}

flatbuffers::FlatBufferBuilder build_trade_with_tags() {
  namespace sample = ferry::sample;
  flatbuffers::FlatBufferBuilder b;
  const std::vector<sample::Fill> fills = {sample::Fill(100, 10.5), sample::Fill(250, 10.75)};
  auto tag_offsets = b.CreateVectorOfStrings({"dark", "odd-lot"});
  auto symbol = b.CreateString("FRRY");
  auto fill_vec = b.CreateVectorOfStructs(fills);
  b.Finish(sample::CreateTrade(b, 7001, 10.625, symbol, fill_vec, tag_offsets));
  return b;
}

TEST(Flatbuffers, BuildVerifyRead) {
  const auto b = build_trade_with_tags();
  const auto bytes = ferry::flatbuffer_bytes(b);
  EXPECT_EQ(bytes.size(), b.GetSize());

  auto trade = ferry::verify_flatbuffer<ferry::sample::Trade>(bytes);
  ASSERT_TRUE(trade.ok()) << trade.error().message();
  const ferry::sample::Trade* t = *trade;
  EXPECT_EQ(t->id(), 7001u);
  EXPECT_EQ(t->price(), 10.625);
  // Locals, checked once: GCC's -Wnull-dereference cannot see through a second call.
  const flatbuffers::String* symbol = t->symbol();
  ASSERT_NE(symbol, nullptr);
  EXPECT_EQ(std::string_view(symbol->c_str(), symbol->size()), "FRRY");
  ASSERT_NE(t->fills(), nullptr);
  ASSERT_EQ(t->fills()->size(), 2u);
  EXPECT_EQ(t->fills()->Get(1)->quantity(), 250u);
  EXPECT_EQ(t->fills()->Get(1)->price(), 10.75);
  ASSERT_NE(t->tags(), nullptr);
  ASSERT_EQ(t->tags()->size(), 2u);
  const flatbuffers::String* tag = t->tags()->Get(1);
  ASSERT_NE(tag, nullptr);
  EXPECT_EQ(std::string_view(tag->c_str(), tag->size()), "odd-lot");
}

TEST(Flatbuffers, AbsentFieldsReadAsDefaults) {
  const auto b = build_trade();
  const AlignedCopy copy(ferry::flatbuffer_bytes(b));
  auto trade = ferry::verify_flatbuffer<ferry::sample::Trade>(copy.bytes());
  ASSERT_TRUE(trade.ok()) << trade.error().message();
  EXPECT_EQ((*trade)->tags(), nullptr);
  const auto* fills = (*trade)->fills();
  ASSERT_NE(fills, nullptr);
  EXPECT_EQ(fills->Get(0)->quantity(), 100u);
}

TEST(Flatbuffers, EmptyAndTinyPayloadsAreCorrupt) {
  for (std::size_t n = 0; n < 12; ++n) {
    const std::vector<std::byte> zeros(n);
    const AlignedCopy copy(zeros);
    auto trade = ferry::verify_flatbuffer<ferry::sample::Trade>(copy.bytes());
    ASSERT_FALSE(trade.ok()) << n;
    EXPECT_EQ(trade.code(), Errc::corrupt);
    EXPECT_EQ(trade.error().message(),
              "payload failed FlatBuffers verification (" + std::to_string(n) + " bytes)");
  }
}

// Reads every field, as a receiver would after a successful verification.
std::size_t touch(const ferry::sample::Trade* t) {
  std::size_t sum = t->id() + static_cast<std::size_t>(t->price());
  if (t->symbol() != nullptr) sum += t->symbol()->str().size();
  if (t->fills() != nullptr) {
    for (const auto* f : *t->fills()) sum += f->quantity() + static_cast<std::size_t>(f->price());
  }
  if (t->tags() != nullptr) {
    for (const auto* s : *t->tags()) sum += s->str().size();
  }
  return sum;
}

TEST(Flatbuffers, TruncatedBuffersAreCorrupt) {
  const auto b = build_trade_with_tags();
  const auto bytes = ferry::flatbuffer_bytes(b);
  // Cutting into any object is corrupt. Only alignment padding after the last object (the
  // first one built, at the buffer's end) may go: such a prefix reads exactly the same.
  const std::size_t full = touch(*ferry::verify_flatbuffer<ferry::sample::Trade>(bytes));
  std::size_t shortest_valid = bytes.size();
  for (std::size_t n = bytes.size(); n-- > 0;) {
    const AlignedCopy copy(bytes.first(n));
    auto trade = ferry::verify_flatbuffer<ferry::sample::Trade>(copy.bytes());
    if (trade.ok() && shortest_valid == n + 1) {
      shortest_valid = n;
      EXPECT_EQ(touch(*trade), full) << n;
      continue;
    }
    ASSERT_FALSE(trade.ok()) << n << " verifies, but " << n + 1 << " did not";
    EXPECT_EQ(trade.code(), Errc::corrupt) << n;
  }
  EXPECT_GE(shortest_valid + 7, bytes.size()) << "more than padding was cut";
}

TEST(Flatbuffers, RandomGarbageIsCorruptNeverACrash) {
  std::mt19937 rng(3);
  for (int i = 0; i < 5000; ++i) {
    std::vector<std::byte> junk(rng() % 200);
    for (auto& x : junk) x = static_cast<std::byte>(rng());
    const AlignedCopy copy(junk);
    auto trade = ferry::verify_flatbuffer<ferry::sample::Trade>(copy.bytes());
    if (trade.ok()) {
      (void)touch(*trade);
    } else {
      ASSERT_EQ(trade.code(), Errc::corrupt);
    }
  }
}

TEST(Flatbuffers, FlippedBytesAreCorruptOrSafeToRead) {
  const auto b = build_trade_with_tags();
  const auto bytes = ferry::flatbuffer_bytes(b);
  int corrupt = 0;
  for (std::size_t pos = 0; pos < bytes.size(); ++pos) {
    for (std::byte flip : {std::byte{0x01}, std::byte{0x80}, std::byte{0xff}}) {
      std::vector<std::byte> bad(bytes.begin(), bytes.end());
      bad[pos] ^= flip;
      const AlignedCopy copy(bad);
      auto trade = ferry::verify_flatbuffer<ferry::sample::Trade>(copy.bytes());
      if (trade.ok()) {
        (void)touch(*trade);
      } else {
        ASSERT_EQ(trade.code(), Errc::corrupt);
        ++corrupt;
      }
    }
  }
  EXPECT_GT(corrupt, 0);
}

TEST(Flatbuffers, MisalignedPayloadIsRefused) {
  const auto b = build_trade_with_tags();
  const auto bytes = ferry::flatbuffer_bytes(b);
  std::vector<std::uint64_t> words(bytes.size() / 8 + 2);
  auto* shifted = reinterpret_cast<std::byte*>(words.data()) + 4;
  std::memcpy(shifted, bytes.data(), bytes.size());
  auto trade = ferry::verify_flatbuffer<ferry::sample::Trade>(std::span(shifted, bytes.size()));
  ASSERT_FALSE(trade.ok());
  EXPECT_EQ(trade.code(), Errc::invalid_argument);
}

TEST(Flatbuffers, VerifierOptionsAreHonoured) {
  const auto b = build_trade_with_tags();
  flatbuffers::Verifier::Options tight;
  tight.max_tables = 0;  // the root table alone is over this limit
  auto trade = ferry::verify_flatbuffer<ferry::sample::Trade>(ferry::flatbuffer_bytes(b), tight);
  ASSERT_FALSE(trade.ok());
  EXPECT_EQ(trade.code(), Errc::corrupt);
}

}  // namespace
