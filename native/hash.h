// A hash of the key space at a revision, to tell whether members diverged (etcd's HashKV).
//
// It covers every version a read at a revision from the compaction floor up to `at` can see: the
// versions newer than the floor, and each key's newest version at or below the floor unless it is
// a tombstone. Older versions are left out whether or not background compaction has removed them
// yet, so members at the same floor hash alike whatever their compaction's progress.
#pragma once
#include "mvcc.h"

namespace axis {

struct KvHash {
  uint64_t hash = 0;
  uint64_t revision = 0;  // the revision hashed
  uint64_t compact = 0;   // the floor then
  uint64_t versions = 0;  // how many versions went in
};

// On a read transaction of its own (any thread). `at` 0: the current revision.
Status hashKv(MDB_txn* txn, const Dbs& dbs, uint64_t at, KvHash& out);

}  // namespace axis
