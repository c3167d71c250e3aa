// Executes write requests inside one LMDB write transaction: etcd's txn semantics over the
// versioned index. Each request that changes something makes exactly one new revision.
//
// Batch: (u32 length | request)*;  request (u8 kind): 1 TXN txnBody | 2 COMPACT u64 revision
//        | 3 RAFT_APPEND | 4 RAFT_COMPACT (see raftlog.h; result u8 0 | u64 0, no new revision)
//        | 5 APPLY applyBody (a committed Raft entry, see below and statemachine.h)
// txnBody:  u32 n compare* | u32 n op* (success) | u32 n op* (failure)
// compare:  u8 target | u8 result | range | (bytes value | u64 number)
// op:       1 PUT bytes key, bytes value, u64 lease, u8 flags(prevKv 1, ignoreValue 2, ignoreLease 4)
//           2 DELETE range, u8 flags(prevKv 1)   3 RANGE range, rangeOpts   4 TXN txnBody
// Result:   u8 0 | u64 revision | (TXN: txnResult)     or    u8 1 | bytes code | bytes message
// txnResult: u8 succeeded | u32 n | resp*;  resp: u8 op, then PUT u8 hasPrev [kv] |
//           DELETE u64 deleted, u32 n kv* | RANGE rangeResult | TXN txnResult
//
// applyBody: u64 index | u64 term | u8 flags (1 conf, 2 request) | [bytes confState]
//            | [u64 client, u64 seq, u64 floor, u64 horizon, bytes inner]
//   inner:   a kind 1 TXN or kind 2 COMPACT request (u8 kind | body), as above.
//   Applies the entry in one transaction with its mark: meta "applied" = index | term, and (flag 1)
//   meta "conf" = confState. `index` must be the applied index + 1 (any index ≥ 1 on a store that
//   never applied an entry). Flag 2: if (client, seq) has a dedup record, its stored result is the
//   entry's result and `inner` does not run; otherwise `inner` runs and its result (success or error
//   form, exactly what it gives alone) is stored in a new record. Then the client's records with
//   seq < floor go, then up to 8 of the oldest records made more than `horizon` entries ago
//   (index - recordIndex > horizon). Without flag 2 the entry's result is u8 0 | u64 revision.
//   An inner request that fails on its own (failsAlike: bad input, a missing key, a compacted or
//   future revision) changes no data, but the entry is applied all the same with the error result:
//   the writer aborts and commits the mark alone (Apply::failInner).
// applyResult: u8 0 | u32 len | result (applied: `result` is the entry's result)
//            | u8 1 | bytes code | bytes message (not applied: nothing changed, e.g. no space, or out
//              of order; the APPLYs after it in the same batch are not applied either)
#pragma once
#include "mvcc.h"

namespace axis {

struct WriteState {
  uint64_t rev = 1;
  uint64_t compact = 0;
  uint64_t applied = 0;  // the last applied Raft entry (statemachine.h)
};

// The error form of a result: u8 1 | bytes code | bytes message.
void writeError(Writer& out, const Status& s);

class Apply {
 public:
  Apply(MDB_txn* txn, const Dbs& dbs, const WriteState& state) : txn_(txn), dbs_(dbs), state_(state) {}
  ~Apply();
  // Runs one request from `in`, appending its result to `out`. An error leaves the LMDB
  // transaction dirty: the caller aborts it.
  Status request(Reader& in, Writer& out);
  const WriteState& state() const { return state_; }
  // Set when an APPLY failed because its inner request failed on its own: run it again on a fresh
  // transaction after failInner(that status), and it writes the entry's mark with the error result.
  const Status& innerFailure() const { return innerFailure_; }
  void failInner(const Status& s) { forcedInner_ = &s; }

 private:
  Status open();
  Status entry(Reader& in, Writer& out);  // kind 5 APPLY, in statemachine.cc
  Status txnBody(Reader& in, Writer& out, bool exec);
  Status op(Reader& in, Writer& out, bool exec, uint32_t& executed);
  Status put(Reader& in, Writer& out, bool exec);
  Status del(Reader& in, Writer& out, bool exec);
  Status range(Reader& in, Writer& out, bool exec);
  Status compare(Reader& in, bool exec, bool& holds);
  Status writeVersion(const uint8_t* key, size_t keyLen, const uint8_t* header, const uint8_t* value, size_t valueLen,
                      bool tombstone);
  View view();

  MDB_txn* txn_;
  Dbs dbs_;
  WriteState state_;
  MDB_cursor* hist_ = nullptr;
  MDB_cursor* revs_ = nullptr;
  uint32_t sub_ = 0;
  bool wrote_ = false;
  std::string scratch_;
  Status innerFailure_;
  const Status* forcedInner_ = nullptr;
};

// Removes versions no reader can ask for any more: for each change at or below `floor`, every
// version of that key older than its newest version at or below the floor, and that version too if
// it is a deletion below the floor. Change-log entries below the floor go. At most `budget` change
// entries per call, starting at change key `at` (be64 rev ‖ be32 sub), which it advances; `done`
// once nothing at or below the floor is left to visit.
Status compactChunk(MDB_txn* txn, const Dbs& dbs, uint64_t floor, size_t budget, uint8_t at[12], bool& done);

}  // namespace axis
