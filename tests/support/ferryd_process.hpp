// ferryd_process.hpp: the real ferryd binary (FERRYD_PATH, set by CMake) started for a
// test and stopped with it, plus what /proc says about a process's descriptors and memory.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ferry/session.hpp"

namespace ferry::test {

class FerrydProcess {
 public:
  // Starts ferryd with `args` in the current environment's session and waits (up to 5 s)
  // for its socket to appear. ok() says whether it did.
  explicit FerrydProcess(std::vector<std::string> args = {}, std::string endpoint = "bus") {
    auto session = resolve_session();
    auto dir = session ? session_dir(*session, true) : Result<std::string>(session.error());
    if (dir) socket_ = *dir + "/" + endpoint + ".sock";
    ::unlink(socket_.c_str());
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) std::_Exit(99);
      std::vector<char*> argv;
      std::string path = FERRYD_PATH;
      argv.push_back(path.data());
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(path.c_str(), argv.data());
      std::_Exit(127);
    }
    for (int i = 0; i < 1000 && !std::filesystem::exists(socket_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ~FerrydProcess() { stop(); }
  FerrydProcess(const FerrydProcess&) = delete;
  FerrydProcess& operator=(const FerrydProcess&) = delete;

  bool ok() const { return pid_ > 0 && std::filesystem::exists(socket_); }
  pid_t pid() const { return pid_; }
  const std::string& socket_path() const { return socket_; }

  // SIGTERM, then the exit status (or 128 + signal); SIGKILL after 10 s.
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 1000; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return 128 + SIGKILL;
  }

 private:
  pid_t pid_ = -1;
  std::string socket_;
};

// Runs a shell command: its standard output and exit status (-1 if it did not exit).
inline std::pair<std::string, int> run(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return {"", -1};
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

inline std::size_t open_fds(pid_t pid) {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    ++n;
  }
  return n;
}

// Mappings of ferry's shared-memory segments ("memfd:ferry:..." in /proc/<pid>/maps).
// (All mappings would not do: allocators, sanitizers among them, keep some.)
inline std::size_t ferry_mappings(pid_t pid) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find("memfd:ferry") != std::string::npos) ++n;
  }
  return n;
}

// A field of /proc/<pid>/status in kB (VmRSS, VmHWM, ...); -1 if missing.
inline long status_kb(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
  }
  return -1;
}

}  // namespace ferry::test
