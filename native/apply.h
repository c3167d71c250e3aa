// Executes write requests inside one LMDB write transaction: etcd's txn semantics over the
// versioned index. Each request that changes something makes exactly one new revision.
//
// Batch: (u32 length | request)*;  request (u8 kind): 1 TXN txnBody | 2 COMPACT u64 revision
//        | 3 RAFT_APPEND | 4 RAFT_COMPACT (see raftlog.h; result u8 0 | u64 0, no new revision)
// txnBody:  u32 n compare* | u32 n op* (success) | u32 n op* (failure)
// compare:  u8 target | u8 result | range | (bytes value | u64 number)
// op:       1 PUT bytes key, bytes value, u64 lease, u8 flags(prevKv 1, ignoreValue 2, ignoreLease 4)
//           2 DELETE range, u8 flags(prevKv 1)   3 RANGE range, rangeOpts   4 TXN txnBody
// Result:   u8 0 | u64 revision | (TXN: txnResult)     or    u8 1 | bytes code | bytes message
// txnResult: u8 succeeded | u32 n | resp*;  resp: u8 op, then PUT u8 hasPrev [kv] |
//           DELETE u64 deleted, u32 n kv* | RANGE rangeResult | TXN txnResult
#pragma once
#include "mvcc.h"

namespace axis {

struct WriteState {
  uint64_t rev = 1;
  uint64_t compact = 0;
};

class Apply {
 public:
  Apply(MDB_txn* txn, const Dbs& dbs, const WriteState& state) : txn_(txn), dbs_(dbs), state_(state) {}
  ~Apply();
  // Runs one request from `in`, appending its result to `out`. An error leaves the LMDB
  // transaction dirty: the caller aborts it.
  Status request(Reader& in, Writer& out);
  const WriteState& state() const { return state_; }

 private:
  Status open();
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
};

// Removes versions no reader can ask for any more: for each change at or below `floor`, every
// version of that key older than its newest version at or below the floor, and that version too if
// it is a deletion below the floor. Change-log entries below the floor go. At most `budget` change
// entries per call, starting at change key `at` (be64 rev ‖ be32 sub), which it advances; `done`
// once nothing at or below the floor is left to visit.
Status compactChunk(MDB_txn* txn, const Dbs& dbs, uint64_t floor, size_t budget, uint8_t at[12], bool& done);

}  // namespace axis
