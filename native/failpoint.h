// Fault injection for crash tests, read once from the environment (as ts/failpoint.ts):
//   AXIS_FAILPOINT=name      the process kills itself (SIGKILL) on reaching failpoint(name);
//   AXIS_FSYNC_DELAY_MS=n    every flush waits n ms first (a slow disk).
// Off, each costs one comparison.
#pragma once
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace axis {

inline void failpoint(const char* name) {
  static const char* armed = getenv("AXIS_FAILPOINT");
  if (armed && strcmp(armed, name) == 0) kill(getpid(), SIGKILL);
}

inline void slowDisk() {
  static const long ms = [] {
    const char* v = getenv("AXIS_FSYNC_DELAY_MS");
    return v ? strtol(v, nullptr, 10) : 0L;
  }();
  if (ms > 0) usleep(static_cast<useconds_t>(ms) * 1000);
}

}  // namespace axis
