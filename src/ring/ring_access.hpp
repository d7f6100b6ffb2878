// SPDX-License-Identifier: Apache-2.0
// ring_access.hpp: library-internal settings of a ring side that the public API does not
// offer (the Server's doorbell).
// Thread-safety: call before the side is used.
#pragma once

#include "ferry/ring.hpp"

namespace ferry::detail {

struct RingAccess {
  // From now on the producer rings `doorbell` instead of waking the ring's own sleeper.
  static void set_doorbell(RingProducer& producer, const Doorbell& doorbell) noexcept {
    producer.side_.doorbell = doorbell;
  }
};

}  // namespace ferry::detail
