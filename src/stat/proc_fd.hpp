// proc_fd.hpp: mapping a ferry server's segments through its /proc/<pid>/fd links, for
// the stat reader (stat.cpp) and its tests.
// Thread-safety: plain functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "ferry/result.hpp"

namespace ferry::detail {

// A read-only mapping of another process's segment.
class MappedSegment {
 public:
  MappedSegment() = default;
  MappedSegment(void* data, std::size_t size) noexcept : data_(data), size_(size) {}
  MappedSegment(const MappedSegment&) = delete;
  MappedSegment& operator=(const MappedSegment&) = delete;
  MappedSegment(MappedSegment&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  MappedSegment& operator=(MappedSegment&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    return *this;
  }
  ~MappedSegment();
  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

// Maps the whole of the file behind `fd_path` (/proc/<pid>/fd/<n>, whose link started with
// `link_prefix` when it was listed), read-only, if it has at least `min_size` bytes.
Result<MappedSegment> map_server_segment(const std::string& fd_path, std::string_view link_prefix,
                                         std::size_t min_size);

}  // namespace ferry::detail
