// SPDX-License-Identifier: GPL-2.0
// Logging from the core goes through the platform's mk_log().
#pragma once

#include <minikvm/platform.h>

#define mk_err(fmt, ...) mk_log(MK_LOG_ERR, fmt, ##__VA_ARGS__)
#define mk_warn(fmt, ...) mk_log(MK_LOG_WARN, fmt, ##__VA_ARGS__)
#define mk_info(fmt, ...) mk_log(MK_LOG_INFO, fmt, ##__VA_ARGS__)

// Logs at most once per call site for the life of the module: hostile input
// gets a clear line, never a flood. Not thread-exact (two racing first calls
// may both log), which is acceptable for a diagnostic.
#define mk_log_once(level, fmt, ...)                              \
  do {                                                            \
    static bool mk_logged_;                                       \
    if (!__atomic_exchange_n(&mk_logged_, true, __ATOMIC_RELAXED)) \
      mk_log(level, fmt, ##__VA_ARGS__);                          \
  } while (0)
