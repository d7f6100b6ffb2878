// Mapping a server's segments through /proc/<pid>/fd (proc_fd.hpp).
#include "stat/proc_fd.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "control/unix_socket.hpp"

namespace ferry::detail {

MappedSegment::~MappedSegment() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

Result<MappedSegment> map_server_segment(const std::string& fd_path,
                                         std::string_view /*link_prefix*/, std::size_t min_size) {
  const UniqueFd fd(::open(fd_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::from_errno(errno, "opening " + fd_path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || st.st_size < 0 ||
      static_cast<std::uint64_t>(st.st_size) < min_size) {
    return Error(Errc::corrupt, fd_path + " is too small");
  }
  void* p =
      ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return Error::from_errno(errno, "mapping " + fd_path);
  return MappedSegment(p, static_cast<std::size_t>(st.st_size));
}

}  // namespace ferry::detail
