// SPDX-License-Identifier: Apache-2.0
// bench/bridge/bridge_bench.cpp: the participants of the bridge benchmark
// (bench/scripts/bridge.sh, docs/bridge.md "Benchmarks"), one program in five roles:
//
//   nats-stream --server URL [--seconds S] [--size B]
//       plain NATS, the baseline: one connection publishes flat out for S seconds, another
//       counts what arrives; {"msgs":..,"msgs_per_s":..} over first to last arrival
//   nats-reqrep --server URL [--seconds S] [--size B]
//       plain NATS request/reply, closed loop, a responder on another connection that
//       sends its replies at once: the results line of bench/shared/results.hpp
//   js-publish --server URL [--seconds S] [--size B]
//       plain js_PublishAsync into a stream of its own, every publication acknowledged:
//       acknowledged publications a second
//   bus-pub --session S --type T [--seconds S] [--size B]
//       publishes T on a bus flat out (waiting for room): {"sent":..}
//   bus-sub --session S --type T [--quiet-ms M]
//       counts T on a bus until M ms (2000) pass without one after the first:
//       {"msgs":..,"msgs_per_s":..} over first to last arrival
//
// Thread-safety: each role owns its process; threads share atomics and the Results.
#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ferry/client.hpp"
#include "shared/results.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using ferry::bench::Results;

std::string arg(int argc, char** argv, std::string_view name, std::string fallback = {}) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == name) return argv[i + 1];
  }
  return fallback;
}

double seconds_of(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// A connection to `url`, or exits saying why; `send_asap`: each publication goes at once
// (nats.c otherwise buffers them for a moment; what nats.c advises for a replier).
natsConnection* connect(const std::string& url, bool send_asap = false) {
  natsOptions* opts = nullptr;
  natsOptions_Create(&opts);
  natsOptions_SetURL(opts, url.c_str());
  natsOptions_SetSendAsap(opts, send_asap);
  natsConnection* nc = nullptr;
  const natsStatus s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    std::fprintf(stderr, "bridge-bench: cannot connect to %s: %s\n", url.c_str(),
                 nats_GetLastError(nullptr));
    std::exit(1);
  }
  return nc;
}

int nats_stream(int argc, char** argv) {
  const std::string url = arg(argc, argv, "--server");
  const double seconds = std::atof(arg(argc, argv, "--seconds", "5").c_str());
  const auto size = static_cast<std::size_t>(std::atoi(arg(argc, argv, "--size", "1024").c_str()));
  natsConnection* pub = connect(url);
  natsConnection* sub_nc = connect(url);
  natsSubscription* sub = nullptr;
  natsConnection_SubscribeSync(&sub, sub_nc, "bench.stream");
  natsSubscription_SetPendingLimits(sub, -1, -1);  // the baseline drops nothing
  natsConnection_Flush(sub_nc);
  std::atomic<bool> done{false};
  std::uint64_t sent = 0;
  std::thread publisher([&] {
    const std::string payload(size, 'x');
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
      for (int i = 0; i < 100; ++i, ++sent) {
        natsConnection_Publish(pub, "bench.stream", payload.data(), static_cast<int>(size));
      }
    }
    natsConnection_Flush(pub);
    done = true;
  });
  std::uint64_t got = 0;
  Clock::time_point first{};
  Clock::time_point last{};
  for (;;) {
    natsMsg* m = nullptr;
    if (natsSubscription_NextMsg(&m, sub, 2000) != NATS_OK) {
      if (done) break;
      continue;
    }
    last = Clock::now();
    if (got++ == 0) first = last;
    natsMsg_Destroy(m);
  }
  publisher.join();
  std::printf("{\"msgs\":%llu,\"msgs_per_s\":%.0f,\"sent\":%llu}\n",
              static_cast<unsigned long long>(got),
              got > 1 ? static_cast<double>(got) / seconds_of(last - first) : 0.0,
              static_cast<unsigned long long>(sent));
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(sub_nc);
  natsConnection_Destroy(pub);
  return 0;
}

int nats_reqrep(int argc, char** argv) {
  const std::string url = arg(argc, argv, "--server");
  const double seconds = std::atof(arg(argc, argv, "--seconds", "5").c_str());
  const auto size = static_cast<std::size_t>(std::atoi(arg(argc, argv, "--size", "1024").c_str()));
  natsConnection* responder_nc = connect(url, true);
  natsConnection* requester = connect(url);
  natsSubscription* sub = nullptr;
  natsConnection_SubscribeSync(&sub, responder_nc, "bench.req");
  natsConnection_Flush(responder_nc);
  std::atomic<bool> done{false};
  std::thread responder([&] {
    while (!done) {
      natsMsg* m = nullptr;
      if (natsSubscription_NextMsg(&m, sub, 200) != NATS_OK) continue;
      natsConnection_Publish(responder_nc, natsMsg_GetReply(m), natsMsg_GetData(m),
                             natsMsg_GetDataLength(m));
      natsMsg_Destroy(m);
    }
  });
  const std::string payload(size, 'x');
  std::vector<double> mine;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    const auto t0 = Clock::now();
    natsMsg* reply = nullptr;
    if (natsConnection_Request(&reply, requester, "bench.req", payload.data(),
                               static_cast<int>(size), 5000) != NATS_OK) {
      std::fprintf(stderr, "bridge-bench: a request failed: %s\n", nats_GetLastError(nullptr));
      done = true;
      responder.join();
      return 1;
    }
    mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    natsMsg_Destroy(reply);
  }
  done = true;
  responder.join();
  Results results;
  results.add(mine);
  results.print(seconds);
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(requester);
  natsConnection_Destroy(responder_nc);
  return 0;
}

void count_ack(jsCtx* /*js*/, natsMsg* msg, jsPubAck* pa, jsPubAckErr* /*pae*/, void* closure) {
  if (pa != nullptr) static_cast<std::atomic<std::uint64_t>*>(closure)->fetch_add(1);
  natsMsg_Destroy(msg);
}

int js_publish(int argc, char** argv) {
  const std::string url = arg(argc, argv, "--server");
  const double seconds = std::atof(arg(argc, argv, "--seconds", "5").c_str());
  const auto size = static_cast<std::size_t>(std::atoi(arg(argc, argv, "--size", "1024").c_str()));
  natsConnection* nc = connect(url);
  std::atomic<std::uint64_t> acked{0};
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = 4096;  // as ferry-bridge
  jo.PublishAsync.AckHandler = count_ack;
  jo.PublishAsync.AckHandlerClosure = &acked;
  jsCtx* js = nullptr;
  natsConnection_JetStream(&js, nc, &jo);
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  const char* subjects[] = {"bench.js"};
  sc.Name = "BENCH_JS";
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;  // as ferry-bridge's default
  jsStreamInfo* si = nullptr;
  if (js_AddStream(&si, js, &sc, nullptr, nullptr) != NATS_OK) {
    std::fprintf(stderr, "bridge-bench: cannot make stream BENCH_JS: %s\n",
                 nats_GetLastError(nullptr));
    return 1;
  }
  jsStreamInfo_Destroy(si);
  const std::string payload(size, 'x');
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    js_PublishAsync(js, "bench.js", payload.data(), static_cast<int>(size), nullptr);
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 30'000;
  js_PublishAsyncComplete(js, &po);
  const double took = seconds_of(Clock::now() - start);
  std::printf("{\"msgs\":%llu,\"msgs_per_s\":%.0f}\n",
              static_cast<unsigned long long>(acked.load()),
              static_cast<double>(acked.load()) / took);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return 0;
}

ferry::ClientOptions on(const std::string& session) {
  ferry::ClientOptions o;
  o.session = session;
  o.name = "bridge-bench";
  o.send_timeout = std::chrono::seconds(30);
  return o;
}

int bus_pub(int argc, char** argv) {
  const auto type = static_cast<std::uint16_t>(std::atoi(arg(argc, argv, "--type", "7").c_str()));
  const double seconds = std::atof(arg(argc, argv, "--seconds", "5").c_str());
  const auto size = static_cast<std::size_t>(std::atoi(arg(argc, argv, "--size", "1024").c_str()));
  auto c = ferry::Client::connect(on(arg(argc, argv, "--session")));
  if (!c) {
    std::fprintf(stderr, "bus-pub: %s\n", c.error().message().c_str());
    return 1;
  }
  const std::vector<std::byte> payload(size, std::byte{'x'});
  std::uint64_t sent = 0;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    for (int i = 0; i < 100; ++i, ++sent) {
      if (auto r = c->send(type, payload); !r) {
        std::fprintf(stderr, "bus-pub: %s\n", r.error().message().c_str());
        return 1;
      }
    }
  }
  std::printf("{\"sent\":%llu}\n", static_cast<unsigned long long>(sent));
  return 0;
}

int bus_sub(int argc, char** argv) {
  const auto type = static_cast<std::uint16_t>(std::atoi(arg(argc, argv, "--type", "7").c_str()));
  const std::chrono::milliseconds quiet(std::atoi(arg(argc, argv, "--quiet-ms", "2000").c_str()));
  auto c = ferry::Client::connect(on(arg(argc, argv, "--session")));
  if (!c || !c->subscribe(type)) {
    std::fprintf(stderr, "bus-sub: cannot subscribe to type %u\n", type);
    return 1;
  }
  std::printf("subscribed\n");
  std::fflush(stdout);
  std::uint64_t got = 0;
  Clock::time_point first{};
  Clock::time_point last{};
  for (;;) {
    auto n = c->wait(
        [&](const ferry::Message&) {
          last = Clock::now();
          if (got++ == 0) first = last;
        },
        got == 0 ? std::chrono::milliseconds(60'000) : quiet);
    if (!n || *n == 0) break;
  }
  std::printf("{\"msgs\":%llu,\"msgs_per_s\":%.0f}\n", static_cast<unsigned long long>(got),
              got > 1 ? static_cast<double>(got) / seconds_of(last - first) : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view role = argc > 1 ? argv[1] : "";
  if (role == "nats-stream") return nats_stream(argc, argv);
  if (role == "nats-reqrep") return nats_reqrep(argc, argv);
  if (role == "js-publish") return js_publish(argc, argv);
  if (role == "bus-pub") return bus_pub(argc, argv);
  if (role == "bus-sub") return bus_sub(argc, argv);
  std::fprintf(stderr,
               "usage: ferry-bridge-bench nats-stream|nats-reqrep|js-publish|bus-pub|bus-sub ... "
               "(see bench/bridge/bridge_bench.cpp)\n");
  return 2;
}
