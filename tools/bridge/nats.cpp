// SPDX-License-Identifier: Apache-2.0
// tools/bridge/nats.cpp: nats.c glue (nats.hpp).
#include "bridge/nats.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>

namespace ferry::bridge {

Error nats_error(natsStatus s, std::string_view what) {
  std::string text = "nats: " + std::string(what) + ": " + natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  if (const char* detail = nats_GetLastError(&last);
      detail != nullptr && *detail != '\0' && text.find(detail) == std::string::npos) {
    text += " (" + std::string(detail) + ")";
  }
  return Error(s == NATS_INVALID_ARG ? Errc::invalid_argument : Errc::system, std::move(text));
}

std::string_view nats_header(natsMsg* msg, const char* key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, key, &value) != NATS_OK || value == nullptr) return {};
  return value;
}

EventQueue::EventQueue(std::size_t capacity) : capacity_(capacity) {
  fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

EventQueue::~EventQueue() {
  if (fd_ >= 0) ::close(fd_);
}

void EventQueue::push(NatsEvent event) {
  std::unique_lock<std::mutex> hold(lock_);
  room_.wait(hold, [&] { return closed_ || events_.size() < capacity_; });
  if (closed_) return;
  const bool was_empty = events_.empty();
  events_.push_back(std::move(event));
  hold.unlock();
  if (was_empty) {
    const std::uint64_t one = 1;
    (void)!::write(fd_, &one, sizeof one);
  }
}

std::deque<NatsEvent> EventQueue::take() {
  std::uint64_t count = 0;
  (void)!::read(fd_, &count, sizeof count);
  std::deque<NatsEvent> out;
  {
    const std::lock_guard<std::mutex> hold(lock_);
    out.swap(events_);
  }
  room_.notify_all();
  return out;
}

void EventQueue::close() {
  {
    const std::lock_guard<std::mutex> hold(lock_);
    closed_ = true;
    events_.clear();
  }
  room_.notify_all();
}

}  // namespace ferry::bridge
