// Executes write requests inside one LMDB write transaction: etcd's txn semantics over the
// versioned index. Each request that changes something makes exactly one new revision.
//
// Batch: (u32 length | request)*;  request (u8 kind): 1 TXN txnBody | 2 COMPACT u64 revision
//        | 3 RAFT_APPEND | 4 RAFT_COMPACT (see raftlog.h; result u8 0 | u64 0, no new revision)
//        | 5 APPLY applyBody (a committed Raft entry, see below and statemachine.h)
//        | 6 LEASE_GRANT u64 id, u64 ttlSeconds | 7 LEASE_REVOKE u64 id
//        | 8 LEASE_CHECKPOINT u32 n, (u64 id, u64 remainingMs)* | 9 LEASE_RENEW u64 id
//        | 10 LEASE_EXPIRE u64 id, u64 renewals   (see lease.h)
//        | 11 ALARM u8 activate, u8 type (1 NOSPACE, 2 CORRUPT), u64 member
// txnBody:  u32 n compare* | u32 n op* (success) | u32 n op* (failure)
// compare:  u8 target | u8 result | range | (bytes value | u64 number)
// op:       1 PUT bytes key, bytes value, u64 lease, u8 flags(prevKv 1, ignoreValue 2, ignoreLease 4)
//           2 DELETE range, u8 flags(prevKv 1)   3 RANGE range, rangeOpts   4 TXN txnBody
// Result:   u8 0 | u64 revision | (TXN: txnResult)     or    u8 1 | bytes code | bytes message
// txnResult: u8 succeeded | u32 n | resp*;  resp: u8 op, then PUT u8 hasPrev [kv] |
//           DELETE u64 deleted, u32 n kv* | RANGE rangeResult | TXN txnResult
//
// Leases (lease.h). None but a revoke that deletes keys makes a new revision; `revision` is the
// current one then. Lease ids are chosen by the caller and are never 0.
//   LEASE_GRANT:      a new lease with ttlSeconds ≥ 1, no checkpoint. An existing id: AXIS_LEASE_EXISTS.
//                     Result u8 0 | u64 revision.
//   LEASE_REVOKE:     deletes every key attached to the lease in ONE new revision (tombstones and
//                     change-log entries in key order, as a deleteRange; none if no key is attached,
//                     as etcd), then the lease. Missing: AXIS_LEASE_NOT_FOUND.
//                     Result u8 0 | u64 revision | u64 deleted.
//   LEASE_CHECKPOINT: stores each lease's remaining TTL (ms); ids with no lease are skipped.
//                     Result u8 0 | u64 revision.
//   LEASE_RENEW:      clears the lease's checkpoint (a keepalive: full TTL from now on every replica
//                     that loads it) and counts a renewal. Missing: AXIS_LEASE_NOT_FOUND.
//                     Result u8 0 | u64 revision | u64 ttl | u64 renewals.
//   LEASE_EXPIRE:     a lessor's revoke of a lease it found past its deadline: a LEASE_REVOKE if the
//                     lease has had exactly `renewals` keepalives, else AXIS_LEASE_RENEWED and nothing
//                     changes (a keepalive applied after the lessor decided wins the race). Missing:
//                     AXIS_LEASE_NOT_FOUND. Result as LEASE_REVOKE.
// Alarms (etcd's): ALARM activates or deactivates (type, member); meta "alarms" keeps the active ones
// (u32 n | (u8 type | u64 member)*). Result u8 0 | u64 revision. While any NOSPACE alarm is active, a
// PUT that executes and a LEASE_GRANT fail with AXIS_QUOTA_EXCEEDED (deletes, compactions and revokes
// go through, so space can be freed).
// A PUT with lease ≠ 0 needs the lease to exist (AXIS_LEASE_NOT_FOUND otherwise; the request
// changes nothing); ignoreLease keeps the key's lease unchecked.
//
// applyBody: u64 index | u64 term | u8 flags (1 conf, 2 request) | [bytes confState]
//            | [u64 client, u64 seq, u64 floor, u64 horizon, bytes inner]
//   inner:   a kind 1 TXN, 2 COMPACT, 6-10 lease or 11 ALARM request (u8 kind | body), as above.
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
  uint32_t alarms = 0;   // bit (1 << type) for each alarm type active for some member
};

constexpr uint8_t kAlarmNoSpace = 1, kAlarmCorrupt = 2;
// The active alarms: u32 n | (u8 type | u64 member)*, and the bitmask of their types.
Status readAlarms(MDB_txn* txn, const Dbs& dbs, std::string& blob, uint32_t& mask);

// Whether a request kind may be an APPLY's inner request (TXN, COMPACT, the lease kinds).
bool isStateMachineRequest(uint8_t kind);

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
  Status leaseRequest(uint8_t kind, Reader& in, Writer& out);  // kinds 6-10
  Status alarm(Reader& in, Writer& out);                        // kind 11
  Status leaseRevoke(uint64_t id, uint64_t& deleted);
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
  // While an APPLY's request runs, how far `out` may grow (statemachine.cc, kMaxResultBytes).
  size_t resultLimit_ = 0;
};

// Removes versions no reader can ask for any more: for each change at or below `floor`, every
// version of that key older than its newest version at or below the floor, and that version too if
// it is a deletion below the floor. Change-log entries below the floor go. At most `budget` change
// entries per call, starting at change key `at` (be64 rev ‖ be32 sub), which it advances; `done`
// once nothing at or below the floor is left to visit.
Status compactChunk(MDB_txn* txn, const Dbs& dbs, uint64_t floor, size_t budget, uint8_t at[12], bool& done);

}  // namespace axis
