// The replicated state machine's bookkeeping, written in the same LMDB transaction as the data
// change of the Raft entry it describes, so that after a crash at any instant an entry is applied
// exactly once: either its data change and its mark are both there, or neither is.
//
//   meta:     "applied" → u64 index | u64 term        the last applied Raft entry
//             "conf"    → confState                     membership as of the last entry that changed it
//                                                       (opaque bytes, encoded by JS)
//   dedup:    be64(client) ‖ be64(seq) → u64 index | result   a client request's result, kept so a
//                                                       retry of it is answered, not applied again
//   dedupage: be64(index) → be64(client) ‖ be64(seq)     the same records by the entry that made them,
//                                                       oldest first (each entry makes at most one)
//
// The request and its result are described in apply.h (kind 5 APPLY). Everything here is
// replicated state: it depends only on the entries applied so far, never on time or on the node.
#pragma once
#include "mvcc.h"

namespace axis {

constexpr uint8_t kApplyConf = 1, kApplyRequest = 2;
// Most old dedup records removed by one APPLY's age pruning: bounded work per entry, and still more
// than the one record an entry can add, so the table keeps up with the horizon.
constexpr size_t kDedupAgeBudget = 8;
// The largest result an APPLY's request may have (64 MiB, the client port's reply limit): every
// member builds it and stores it in its dedup record, so a txn of ranges over a large key space
// would otherwise cost every member that much memory and disk at once. Past it the request fails
// alike everywhere with AXIS_RESPONSE_TOO_LARGE and changes nothing.
constexpr size_t kMaxResultBytes = 64 * 1024 * 1024;

struct ApplyEntry {
  uint64_t index = 0, term = 0;
  uint8_t flags = 0;
  const uint8_t* conf = nullptr;  // points into the request
  size_t confLen = 0;
  uint64_t client = 0, seq = 0, floor = 0, horizon = 0;
  const uint8_t* body = nullptr;  // the inner request: u8 kind (1 TXN, 2 COMPACT, 6-9 lease) | its body
  size_t bodyLen = 0;

  bool hasRequest() const { return flags & kApplyRequest; }
  // Parses everything after the u8 kind; false if malformed.
  bool read(Reader& in);
};

// The applied index and term (0, 0 on a store that never applied an entry).
Status readApplied(MDB_txn* txn, const Dbs& dbs, uint64_t& index, uint64_t& term);
// u64 index | u64 term | u8 hasConf | [bytes confState]
Status appliedState(MDB_txn* txn, const Dbs& dbs, Writer& out);
// Appends the stored result of (client, seq) to `out`, if there is one.
Status dedupFind(MDB_txn* txn, const Dbs& dbs, uint64_t client, uint64_t seq, Writer& out, bool& found);
// The entry's mark: its applied index/term, its confState (flag 1) and, when `record`, the dedup
// record holding `result`; then the client's records below `floor`, then (up to kDedupAgeBudget)
// records made more than `horizon` entries before this one, go.
Status markApplied(MDB_txn* txn, const Dbs& dbs, const ApplyEntry& e, const uint8_t* result, size_t resultLen,
                   bool record);
// Whether a request's failure is its own (the same on every replica: bad input, a missing key, a
// compacted or future revision), rather than this node's (no space, a storage fault). An entry
// whose request fails on its own is still applied, with the error as its result.
bool failsAlike(const Status& s);

}  // namespace axis
