// tools/demo/report.cpp: ferry-demo's table (report.hpp).
#include "report.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace ferry::demo {

namespace {

// Microseconds: one decimal below 1000, whole (and grouped) above.
std::string micros(double us) {
  if (us >= 1000) return grouped(static_cast<std::uint64_t>(std::llround(us)));
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", us);
  return text;
}

// The first few of `notes` (when everyone lost the connection, one line says it all).
void print_notes(std::FILE* to, const char* prefix, const std::vector<std::string>& notes) {
  constexpr std::size_t kShown = 4;
  for (std::size_t i = 0; i < notes.size() && i < kShown; ++i) {
    std::fprintf(to, "%s%s\n", prefix, notes[i].c_str());
  }
  if (notes.size() > kShown)
    std::fprintf(to, "%s... and %zu more\n", prefix, notes.size() - kShown);
}

}  // namespace

// 1234567 -> "1,234,567".
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// "1 server", "4 servers".
std::string counted(std::uint64_t n, const char* what) {
  return grouped(n) + " " + what + (n == 1 ? "" : "s");
}

std::uint64_t sum_counts(const Shared& shared, const std::vector<Child>& children, Role role) {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < children.size(); ++i) {
    if (children[i].role == role) n += shared.slot(i).count.load(std::memory_order_relaxed);
  }
  return n;
}

int print_report(const Plan& plan, const Shared& shared, const std::vector<Child>& children,
                 bool ran) {
  Histogram pub_latency;
  Histogram rr_latency;
  Errors pub_errors;
  Errors rr_errors;
  std::uint64_t published = 0;
  // What went wrong, in the participants' words; else how they ended (when not well).
  // Those that stopped because another failed say nothing and are not listed.
  std::vector<std::string> causes;
  std::vector<std::string> exits;
  for (std::size_t i = 0; i < children.size(); ++i) {
    const Child& c = children[i];
    const Slot& s = shared.slot(i);
    if (c.role == Role::subscriber) {
      pub_latency.merge(s.latency);
      pub_errors.add(s.errors);
    } else if (c.role == Role::requester) {
      rr_latency.merge(s.latency);
      rr_errors.add(s.errors);
    } else if (c.role == Role::publisher) {
      published += s.count.load(std::memory_order_relaxed);
    }
    if (s.failure[0] != '\0') causes.emplace_back(s.failure);
    if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0) {
      std::string what = std::string(role_name(c.role)) + " " + std::to_string(c.index) + " (pid " +
                         std::to_string(c.pid) + ") ";
      if (WIFSIGNALED(c.status)) {
        what += std::string("was killed by signal ") + std::to_string(WTERMSIG(c.status)) + " (" +
                strsignal(WTERMSIG(c.status)) + ")";
      } else {
        what += "exited with status " + std::to_string(WEXITSTATUS(c.status));
      }
      exits.push_back(what);
    }
  }
  const std::vector<std::string>& notes = causes.empty() ? exits : causes;
  if (!ran) {
    print_notes(stderr, "ferry-demo: ", notes);
    std::fprintf(stderr, "ferry-demo: FAILED: the participants could not all start\n");
    return 1;
  }
  const std::uint64_t delivered = sum_counts(shared, children, Role::subscriber);
  const std::uint64_t answered = sum_counts(shared, children, Role::requester);
  // Rates over the time the messages took: from the start to the last one received
  // (after the end when subscribers lagged), never less than --seconds.
  const std::int64_t go = shared.board().go_ns.load(std::memory_order_acquire);
  const auto rate = [&](std::uint64_t n, Role role) {
    std::int64_t last = 0;
    for (std::size_t i = 0; i < children.size(); ++i) {
      if (children[i].role == role) last = std::max(last, shared.slot(i).last_ns);
    }
    const double seconds = std::max(plan.seconds, static_cast<double>(last - go) / 1e9);
    return grouped(static_cast<std::uint64_t>(static_cast<double>(n) / seconds));
  };
  // "µs" is two bytes and one column: its fields are one byte wider.
  std::printf("\n%-20s %12s %11s %10s %10s %8s\n", "", "messages", "msgs/s", "p50 µs", "p99 µs",
              "errors");
  std::printf("%-20s %12s %11s %9s %9s %8s\n", "publish/subscribe", grouped(delivered).c_str(),
              rate(delivered, Role::subscriber).c_str(),
              micros(pub_latency.quantile_us(0.5)).c_str(),
              micros(pub_latency.quantile_us(0.99)).c_str(), grouped(pub_errors.total()).c_str());
  std::printf("%-20s %12s %11s %9s %9s %8s\n", "request/response", grouped(answered).c_str(),
              rate(answered, Role::requester).c_str(), micros(rr_latency.quantile_us(0.5)).c_str(),
              micros(rr_latency.quantile_us(0.99)).c_str(), grouped(rr_errors.total()).c_str());
  std::printf("\n  publish/subscribe: %s published by %s, each delivered to all %s;\n",
              counted(published, "message").c_str(), counted(plan.publishers, "publisher").c_str(),
              counted(plan.subscribers, "subscriber").c_str());
  std::printf("    latency: one way, from the publisher's send to the subscriber's handler.\n");
  std::printf("  request/response: %s, one request at a time, answered by %s;\n",
              counted(plan.requesters, "requester").c_str(),
              counted(plan.servers, "server").c_str());
  std::printf("    latency: the round trip, from the request's send to its reply in hand.\n");
  Errors all = pub_errors;
  all.add(rr_errors);
  std::printf("  errors: %s lost, %s duplicated, %s reordered, %s corrupt, %s failed requests\n",
              grouped(all.lost).c_str(), grouped(all.duplicated).c_str(),
              grouped(all.reordered).c_str(), grouped(all.corrupt).c_str(),
              grouped(all.failed).c_str());
  print_notes(stdout, "  problem: ", notes);
  const bool ok = all.total() == 0 && notes.empty() && (delivered > 0 || published == 0);
  if (ok) {
    std::printf(
        "\nferry-demo: OK: every message arrived once, in order and intact; every "
        "request was answered correctly\n");
  } else {
    std::printf(
        "\nferry-demo: FAILED: %s errors%s%s\n", grouped(all.total()).c_str(),
        notes.empty() ? "" : ", problems above",
        plan.inject_error ? " (--inject-error: publisher 0 skipped a message, as asked)" : "");
  }
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace ferry::demo
