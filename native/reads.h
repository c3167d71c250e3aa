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

// The Raft log (see raftlog.h), on the latest view.
// raftState() → u64 term | u64 vote | u64 commit | u64 snapIndex | u64 snapTerm | bytes confState | u64 first | u64 last
Napi::Value readRaftState(const Napi::CallbackInfo& info, View& view, const Dbs& dbs);
// raftTerm(i) → term | -1 (compacted) | -2 (unavailable)
Napi::Value readRaftTerm(const Napi::CallbackInfo& info, View& view, const Dbs& dbs);
// raftEntries(lo, hi, maxBytes) → u32 n | (u64 index, u64 term, u8 type, bytes data)* | -1 | -2
Napi::Value readRaftEntries(const Napi::CallbackInfo& info, View& view, const Dbs& dbs);

}  // namespace axis
