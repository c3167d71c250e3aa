// Leases in the replicated state machine (etcd's lessor, minus its clock: time lives in JS, which
// decides when a lease expires and proposes its revoke; here everything is a deterministic write).
//
//   leases:    be64(id) → u64 ttlSeconds | u64 remainingMs | u64 renewals
//                                                          remainingMs: the last checkpointed
//                                                          remaining TTL, 0 = none (full TTL from the
//                                                          time the lease is loaded or renewed);
//                                                          renewals: keepalives applied so far, so an
//                                                          expiry decided before one is refused
//                                                          (LEASE_EXPIRE). A 16-byte record (written
//                                                          before renewals were kept) reads as 0.
//   leasekeys: be64(id) ‖ userKey → (empty)                 the keys attached to the lease, found with
//                                                          one cursor range
//
// A key is attached to the lease of its live version: a put with lease L attaches it to L (the lease
// must exist) and detaches it from its previous lease; a deletion (single, range, revoke) detaches it.
// The request kinds (LEASE_GRANT, LEASE_REVOKE, LEASE_CHECKPOINT, LEASE_RENEW, LEASE_EXPIRE) are in
// apply.h.
#pragma once
#include <vector>

#include "mvcc.h"

namespace axis {

struct LeaseInfo {
  uint64_t ttl = 0, remainingMs = 0, renewals = 0;
};

Status leaseNotFound(uint64_t id);
// found=false when there is no lease `id`.
Status readLease(MDB_txn* txn, const Dbs& dbs, uint64_t id, LeaseInfo& out, bool& found);
Status writeLease(MDB_txn* txn, const Dbs& dbs, uint64_t id, const LeaseInfo& info);
// Attaches / detaches `key` (a missing attachment is not an error: keys written before leases were
// kept may carry a lease id with no attachment).
Status attachKey(MDB_txn* txn, const Dbs& dbs, uint64_t id, const uint8_t* key, size_t len);
Status detachKey(MDB_txn* txn, const Dbs& dbs, uint64_t id, const uint8_t* key, size_t len);
// The keys attached to `id`, in key order; at most `limit` (0: all) are appended to `keys`; `count`
// is the number of attached keys.
Status leaseKeys(MDB_txn* txn, const Dbs& dbs, uint64_t id, uint64_t limit, std::vector<std::string>& keys,
                 uint64_t& count);

// Reads on a view.
// leases() → u32 n | (u64 id | u64 ttlSeconds | u64 remainingMs | u64 renewals)*   in id order
Status listLeases(MDB_txn* txn, const Dbs& dbs, Writer& out);
// lease(id, keyLimit) → u64 ttlSeconds | u64 remainingMs | u64 renewals | u64 keyCount | u32 n | (bytes key)*
// found=false (and nothing written) when there is no lease `id`. keyLimit 0: no keys; UINT64_MAX: all.
Status describeLease(MDB_txn* txn, const Dbs& dbs, uint64_t id, uint64_t keyLimit, Writer& out, bool& found);

}  // namespace axis
