// SPDX-License-Identifier: Apache-2.0
// examples/loops/asio_loop.cpp: ferry inside a Boost.Asio io_context. A
// posix::stream_descriptor watches one WaitSet's fd(), which stands for a Server and a
// Client together (service.hpp); a signal_set stops the loop. The rule is the same as for
// any loop: prepare_wait() before waiting (false: there is work, serve again first), then
// run_once(0) when the descriptor is readable. Work is served a turn at a time, posted
// back to the io_context, so that other handlers get their turn in between.
//
//   example-asio-loop [ENDPOINT]     (ferryd must be running; stop it with SIGTERM)
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <cstdio>
#include <exception>

#include "service.hpp"

namespace asio = boost::asio;

namespace {

class FerryWatch {
 public:
  FerryWatch(asio::io_context& io, example::Service& service, const char* name)
      // The descriptor stays the set's: Asio gets its own copy to close.
      : io_(io), service_(service), name_(name), fd_(io, ::dup(service.set->fd())) {}

  // One turn, then either wait for the descriptor or, with more work waiting, come back.
  void serve() {
    if (auto served = service_.set->run_once(std::chrono::nanoseconds(0)); !served) {
      std::fprintf(stderr, "%s: %s\n", name_, served.error().message().c_str());
      failed_ = true;
      io_.stop();
      return;
    }
    if (!service_.set->prepare_wait()) {
      asio::post(io_, [this] { serve(); });
      return;
    }
    fd_.async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
      if (!ec) serve();
    });
  }
  bool failed() const { return failed_; }

 private:
  asio::io_context& io_;
  example::Service& service_;
  const char* name_;
  asio::posix::stream_descriptor fd_;
  bool failed_ = false;
};

}  // namespace

int main(int argc, char** argv) try {
  const char* name = "asio-loop";
  asio::io_context io;
  example::Service service;
  if (!example::start(service, name, argc > 1 ? argv[1] : "loop-asio")) return 1;

  FerryWatch watch(io, service, name);
  watch.serve();
  asio::signal_set stop(io, SIGINT, SIGTERM);
  stop.async_wait([&](boost::system::error_code, int) {
    example::report(service, name);
    io.stop();
  });
  io.run();
  return watch.failed() ? 1 : 0;
} catch (const std::exception& e) {  // Asio reports its own failures as exceptions
  std::fprintf(stderr, "asio-loop: %s\n", e.what());
  return 1;
}
