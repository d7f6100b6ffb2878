// The stat reader's way to a server's segments (src/stat/proc_fd.*): a descriptor that is
// not a server's sealed memfd (a FIFO, a plain file, an unsealed memfd) is skipped, and
// without blocking.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <string>

#include "conn/conn_layout.hpp"
#include "control/unix_socket.hpp"
#include "ferry/shm.hpp"
#include "stat/proc_fd.hpp"

namespace ferry {
namespace {

using namespace std::chrono_literals;

// A descriptor number the server reused between the reader's listing and its open, for a
// FIFO nobody writes: open(O_RDONLY) on it would wait for a writer forever.
TEST(StatReader, AFifoBehindTheDescriptorDoesNotBlockTheReader) {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("ferry-stat-fifo-" + std::to_string(::getpid()));
  std::filesystem::create_directory(dir);
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const detail::UniqueFd reader(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_TRUE(reader);
  const std::string path = "/proc/self/fd/" + std::to_string(reader.get());
  // As if the link had named this FIFO when it was listed (then the reader opens it), and
  // as if it had named a ferry segment (then it does not).
  for (const std::string& listed : {detail::read_link(path), std::string("/memfd:ferry:conn-1")}) {
    auto mapped = std::async(std::launch::async,
                             [&] { return detail::map_server_segment(path, listed, 4096); });
    if (mapped.wait_for(2s) != std::future_status::ready) {
      // Let it go: a writer appears.
      const detail::UniqueFd writer(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
      mapped.wait();
      ADD_FAILURE() << "map_server_segment(" << path << ", \"" << listed
                    << "\") blocked in open() on a FIFO";
      continue;
    }
    auto m = mapped.get();
    EXPECT_FALSE(m) << "a FIFO was taken for a segment";
    if (!m) {
      EXPECT_NE(m.error().message().find(path), std::string::npos) << m.error().message();
    }
  }
  std::filesystem::remove_all(dir);
}

// Only a server's sealed memfds are mapped: not a plain file, not a memfd nobody sealed
// (whoever holds it could truncate it under the reader's mapping: SIGBUS).
TEST(StatReader, OnlySealedMemfdsAreMapped) {
  const detail::UniqueFd unsealed(::memfd_create("ferry:conn-77", MFD_CLOEXEC));
  ASSERT_TRUE(unsealed);
  ASSERT_EQ(::ftruncate(unsealed.get(), 8192), 0);
  const std::string unsealed_path = "/proc/self/fd/" + std::to_string(unsealed.get());
  auto m = detail::map_server_segment(unsealed_path, detail::read_link(unsealed_path),
                                      detail::kConnHeaderSize);
  ASSERT_FALSE(m) << "an unsealed memfd was mapped";
  EXPECT_NE(m.error().message().find("seal"), std::string::npos) << m.error().message();

  const std::string file =
      std::filesystem::temp_directory_path() / ("ferry-stat-plain-" + std::to_string(::getpid()));
  const detail::UniqueFd plain(::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(plain);
  ASSERT_EQ(::ftruncate(plain.get(), 8192), 0);
  const std::string plain_path = "/proc/self/fd/" + std::to_string(plain.get());
  auto p = detail::map_server_segment(plain_path, detail::read_link(plain_path),
                                      detail::kConnHeaderSize);
  ::unlink(file.c_str());
  EXPECT_FALSE(p) << "a plain file was mapped";

  // A sealed one that is too small for what it claims to be.
  auto small = SharedMemory::create_anonymous("conn-78", 4096);
  ASSERT_TRUE(small);
  const std::string small_path = "/proc/self/fd/" + std::to_string(small->fd());
  auto s = detail::map_server_segment(small_path, detail::read_link(small_path), 2 * 4096);
  EXPECT_FALSE(s) << "a segment smaller than its header was mapped";

  // What a server makes is mapped, and its descriptor not kept.
  auto good = SharedMemory::create_anonymous("conn-79", 8192);
  ASSERT_TRUE(good);
  const std::string good_path = "/proc/self/fd/" + std::to_string(good->fd());
  auto g = detail::map_server_segment(good_path, detail::read_link(good_path), 8192);
  ASSERT_TRUE(g) << g.error().message();
  EXPECT_EQ(g->size(), 8192u);
  EXPECT_EQ(g->fd(), -1);
}

}  // namespace
}  // namespace ferry
