// Read calls shared by Store (latest view) and Snapshot (pinned view).
#pragma once
#include <napi.h>

#include "mvcc.h"

namespace axis {

struct ReadBuffers {
  const uint8_t* key;  // the key, written by JS into the shared key buffer
  uint8_t* out;        // small results land here, to spare an allocation per get
  size_t outLen;
};

// get(keyLen, revision) → -1 (absent) | bytes written to the out buffer | Buffer (too large for it)
Napi::Value readGet(const Napi::CallbackInfo& info, View& view, const ReadBuffers& bufs);
// range(request: range | rangeOpts) → u64 view revision | rangeResult
Napi::Value readRange(const Napi::CallbackInfo& info, View& view);
// history(keyLen, from, to) → u32 n | (u8 type | kv)*
Napi::Value readHistory(const Napi::CallbackInfo& info, View& view, const ReadBuffers& bufs);
// changes(from, to, limit) → u64 view revision | u64 next | u8 more | u32 n | (u8 type | kv)*
Napi::Value readChanges(const Napi::CallbackInfo& info, View& view);

}  // namespace axis
