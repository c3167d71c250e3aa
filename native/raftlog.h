// The Raft log, durable in the same LMDB environment as the versioned index and written by the
// same writer thread, so a Ready's entries and hard state share a group commit with client writes.
//
//   rlog:  be64(index) → u64 term | u8 type | data
//   rmeta: "hs"   → u64 term | u64 vote | u64 commit
//          "snap" → u64 index | u64 term | confState (opaque bytes, encoded by JS)
//
// The snapshot stands for every entry up to its index: firstIndex = snap.index + 1, lastIndex =
// the last rlog key (or snap.index when there is none or it is older). Entries at or below the
// snapshot index that are still stored are invisible.
//
// Requests (after the u8 kind, see apply.h):
//   3 RAFT_APPEND  u8 flags (1 hardState, 2 snapshot, 4 entries, 8 lazy: durability not needed now,
//                  e.g. only the commit index moved; see "lazy commits" in writer.h)
//                  [u64 term, u64 vote, u64 commit] [u64 index, u64 term, bytes confState]
//                  [u32 n, (u64 index, u64 term, u8 type, bytes data)*]
//       A snapshot at or past the stored one replaces the log; entries (consecutive indices)
//       replace any suffix from the first one on; entries at or below the snapshot are skipped.
//   4 RAFT_COMPACT u64 snapIndex, u64 snapTerm, bytes confState, u64 compactTo
//       Stores the snapshot meta (if newer) and drops entries below compactTo.
// Neither touches the MVCC revision.
#pragma once
#include "mvcc.h"

namespace axis {

Status raftAppend(MDB_txn* txn, const Dbs& dbs, Reader& in);
Status raftCompact(MDB_txn* txn, const Dbs& dbs, Reader& in);

// Reads, on any transaction.
struct RaftSnapMeta {
  uint64_t index = 0, term = 0;
  const uint8_t* conf = nullptr;  // valid until the transaction ends or writes
  size_t confLen = 0;
};
Status raftSnapMeta(MDB_txn* txn, const Dbs& dbs, RaftSnapMeta& out);
Status raftLastIndex(MDB_txn* txn, const Dbs& dbs, uint64_t snapIndex, uint64_t& last);
// u64 term | u64 vote | u64 commit | u64 snapIndex | u64 snapTerm | bytes confState | u64 first | u64 last
Status raftState(MDB_txn* txn, const Dbs& dbs, Writer& out);
// Term of entry i: kCompacted below the snapshot, kUnavailable past the last entry.
constexpr int64_t kRaftCompacted = -1, kRaftUnavailable = -2;
Status raftTerm(MDB_txn* txn, const Dbs& dbs, uint64_t i, int64_t& term);
// Entries [lo, hi) with at most maxBytes of data, but at least one: u32 n | (u64 index, u64 term,
// u8 type, bytes data)*. `code` is 0, or kRaftCompacted (lo ≤ snapshot) / kRaftUnavailable (hi > last + 1).
Status raftEntries(MDB_txn* txn, const Dbs& dbs, uint64_t lo, uint64_t hi, uint64_t maxBytes, Writer& out,
                   int64_t& code);

}  // namespace axis
