// SPDX-License-Identifier: Apache-2.0
// ferry/export.hpp: symbol visibility for the ferry library.
//
// The library is built with -fvisibility=hidden; FERRY_API marks what is public.
#pragma once

#if defined(FERRY_BUILDING_LIBRARY)
#define FERRY_API __attribute__((visibility("default")))
#else
#define FERRY_API
#endif
