// SPDX-License-Identifier: Apache-2.0
// tools/common/metrics_listen.hpp: the address a Prometheus exporter listens on, as ferryd's
// --metrics-listen (and metrics_listen) and `ferry exporter --listen` take it: "9464" ->
// "127.0.0.1:9464", ":9464" -> "127.0.0.1:9464", "0.0.0.0:9464" as given: loopback unless
// the operator names another address. Why one could not be used once it was taken is
// listen_error.hpp's. Header-only: ferryd's configuration and the ferry command use it.
// Thread-safety: a plain function.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <string>
#include <string_view>
#include <system_error>

#include "ferry/result.hpp"

namespace ferry::tools {

// The normalized "address:port", or invalid_argument naming the text for anything else (a
// host name, IPv6, a port above 65535), with the forms that work.
inline ferry::Result<std::string> normalize_metrics_listen(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return ferry::Error(ferry::Errc::invalid_argument,
                        "metrics address '" + std::string(text) + "': " + why +
                            " (use PORT or IPV4-ADDRESS:PORT, e.g. 127.0.0.1:9464)");
  };
  std::string host = "127.0.0.1";
  std::string_view port = text;
  if (const std::size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (host.empty()) host = "127.0.0.1";
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  if (!host.empty() && host.front() == '[') {
    // civetweb, under prometheus-cpp's exposer, is built without IPv6 in Debian.
    return bad("IPv6 addresses are not supported (Debian's civetweb has no IPv6)");
  }
  std::array<unsigned char, 4> addr{};
  if (::inet_pton(AF_INET, host.c_str(), addr.data()) != 1) {
    return bad("the address must be a numeric IPv4 address");
  }
  return host + ":" + std::to_string(value);
}

}  // namespace ferry::tools
