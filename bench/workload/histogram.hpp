// SPDX-License-Identifier: Apache-2.0
// bench/workload/histogram.hpp: ferry bench's latency histogram, tools/common's log-linear one
// with 128 buckets per power of two (percentiles within 0.4%, the maximum exact).
// Participants send theirs to the orchestrator as text (encode()), which merges them:
// percentiles then come from every sample of every participant.
// Thread-safety: a plain value.
#pragma once

#include "common/histogram.hpp"

namespace ferry::bench {

using Histogram = tools::LogHistogram<7>;

}  // namespace ferry::bench
