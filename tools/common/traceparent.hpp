// SPDX-License-Identifier: Apache-2.0
// tools/common/traceparent.hpp: W3C trace context, the `traceparent` a request carries
// between hosts (ferry-gateway's trace frames, ferry-bridge's NATS headers) so that one
// request can be followed from one host's log to another's.
// Thread-safety: plain functions (new_traceparent() draws from a per-thread generator).
#pragma once

#include <string>
#include <string_view>

namespace ferry::tools {

// A traceparent ("00-<32 hex>-<16 hex>-<2 hex>"): whether `text` is one, and a new one
// with random ids.
bool is_traceparent(std::string_view text) noexcept;
std::string new_traceparent();
// The trace id of a traceparent (its 32 hex digits).
std::string_view trace_id(std::string_view traceparent) noexcept;

}  // namespace ferry::tools
