// SPDX-License-Identifier: Apache-2.0
// examples/loops/epoll_loop.cpp: ferry inside an epoll loop of your own. The loop waits on
// its own descriptors (here a signalfd for SIGINT and SIGTERM) and on one WaitSet's fd(),
// which stands for a Server and a Client together (service.hpp). The rule for any loop:
// call prepare_wait() before sleeping (false: there is work, do not sleep), then run_once(0)
// after waking.
//
//   example-epoll-loop [ENDPOINT]     (ferryd must be running; stop it with SIGTERM)
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>

#include "ferry/unique_fd.hpp"
#include "service.hpp"

int main(int argc, char** argv) {
  const char* name = "epoll-loop";
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);  // delivered through the signalfd instead
  const ferry::UniqueFd signals(::signalfd(-1, &stop_signals, SFD_CLOEXEC));
  const ferry::UniqueFd loop(::epoll_create1(EPOLL_CLOEXEC));
  if (!signals || !loop) {
    std::perror(name);
    return 1;
  }

  example::Service service;
  if (!example::start(service, name, argc > 1 ? argv[1] : "loop-epoll")) return 1;

  for (const int fd : {signals.get(), service.set->fd()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(loop.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      std::perror(name);
      return 1;
    }
  }
  for (;;) {
    if (service.set->prepare_wait()) {
      epoll_event events[4];
      const int n = ::epoll_wait(loop.get(), events, 4, -1);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.fd == signals.get()) {
          example::report(service, name);
          return 0;
        }
      }
    }
    if (auto served = service.set->run_once(std::chrono::nanoseconds(0)); !served) {
      std::fprintf(stderr, "%s: %s\n", name, served.error().message().c_str());
      return 1;
    }
  }
}
