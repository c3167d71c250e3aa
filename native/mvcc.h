// The versioned index: how every version of every key lives in LMDB's B+tree, and how it is read.
//
//   hist: userKey ‖ be64(revision)  →  flags u8 | sub u32 | createRev u64 | version u64 | lease u64 | value
//         ordered by userKey (bytewise, shorter first), then revision *descending*, so one
//         MDB_SET_RANGE seek to (key, R) lands on the newest version at or below R.
//   revs: be64(revision) ‖ be32(sub)  →  kind u8 | userKey          (the change log)
//   meta: "compact" → u64 compaction floor  (the current revision is the change log's last)
//         "applied", "conf" → the last applied Raft entry and membership (see statemachine.h)
//   leases, leasekeys: leases and the keys attached to them (see lease.h)
#pragma once
#include <cstdint>
#include <string>
#include "codec.h"
#include "lmdb.h"
#include "status.h"

namespace axis {

constexpr uint64_t kRevMax = UINT64_MAX;
constexpr size_t kHistHeader = 1 + 4 + 8 + 8 + 8;
constexpr uint8_t kTombstone = 1;

struct Dbs {
  MDB_dbi hist = 0, revs = 0, meta = 0;
  MDB_dbi rlog = 0, rmeta = 0;  // the Raft log (see raftlog.h)
  MDB_dbi dedup = 0, dedupage = 0;  // the state machine's client request table (see statemachine.h)
  MDB_dbi leases = 0, leasekeys = 0;  // leases and their attached keys (see lease.h)
};

struct Version {
  const uint8_t* key = nullptr;
  size_t keyLen = 0;
  uint64_t rev = 0;
  uint8_t flags = 0;
  uint32_t sub = 0;
  uint64_t create = 0, version = 0, lease = 0;
  const uint8_t* value = nullptr;
  size_t valueLen = 0;
  bool tombstone() const { return flags & kTombstone; }
};

int histCompare(const MDB_val* a, const MDB_val* b);
void histKey(std::string& out, const uint8_t* key, size_t len, uint64_t rev);
// Parses a hist entry; false if it is malformed.
bool parseHist(const MDB_val& k, const MDB_val& v, Version& out);
bool sameKey(const Version& v, const uint8_t* key, size_t len);
int compareKeys(const uint8_t* a, size_t al, const uint8_t* b, size_t bl);

Status readMeta(MDB_txn* txn, const Dbs& dbs, const char* name, uint64_t& out);
Status writeMeta(MDB_txn* txn, const Dbs& dbs, const char* name, uint64_t value);

// A key range: one key, [start, end), or everything from start on.
struct KeyRange {
  enum Kind : uint8_t { kOne = 0, kBounded = 1, kFrom = 2 };
  Kind kind = kOne;
  const uint8_t* start = nullptr;
  size_t startLen = 0;
  const uint8_t* end = nullptr;
  size_t endLen = 0;
  bool read(Reader& r);
  // Past the range's end (keys arrive in order).
  bool after(const uint8_t* key, size_t len) const;
};

struct RangeOpts {
  uint64_t revision = 0, limit = 0, minMod = 0, maxMod = 0, minCreate = 0, maxCreate = 0;
  bool keysOnly = false, countOnly = false;
  void read(Reader& r);
};

// A consistent read view: an LMDB transaction and the revisions it sees.
struct View {
  MDB_txn* txn = nullptr;
  MDB_cursor* hist = nullptr;
  MDB_cursor* revs = nullptr;
  uint64_t rev = 0;      // current revision seen by the view
  uint64_t compact = 0;  // compaction floor seen by the view

  Status load(const Dbs& dbs);  // opens cursors (if needed) and reads rev/compact
  // The revision a read asked for (0 = latest), checked against the floor and the head.
  Status resolve(uint64_t asked, uint64_t& at) const;
};

void writeKv(Writer& w, const Version& v, bool keysOnly);
inline Status corruptEntry() { return Status::Error("AXIS_STORAGE", "corrupt hist entry"); }

// Calls fn(version) for the newest version at or below `at` of every key in range, tombstones
// included, in key order, until fn returns false. Old versions are skipped with one seek per key,
// so the cost does not grow with a key's history. The Version's pointers live until the next write.
template <class F>
Status visitKeys(MDB_cursor* c, const KeyRange& range, uint64_t at, F&& fn) {
  std::string seek;
  histKey(seek, range.start, range.startLen, kRevMax);
  MDB_val k{seek.size(), &seek[0]}, v;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  Version ver;
  while (rc == MDB_SUCCESS) {
    if (!parseHist(k, v, ver)) return corruptEntry();
    if (range.after(ver.key, ver.keyLen)) break;
    if (ver.rev > at) {
      size_t keyLen = ver.keyLen;
      histKey(seek, ver.key, keyLen, at);
      k = {seek.size(), &seek[0]};
      rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
      if (rc != MDB_SUCCESS) break;
      if (!parseHist(k, v, ver)) return corruptEntry();
      if (!sameKey(ver, reinterpret_cast<const uint8_t*>(seek.data()), keyLen)) continue;  // none at `at`
    }
    if (!fn(ver)) return Status::Ok();
    if (range.kind == KeyRange::kOne) return Status::Ok();
    // The next user key is usually the next entry; past older versions, one seek.
    const uint8_t* key = ver.key;
    size_t keyLen = ver.keyLen;
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    if (rc != MDB_SUCCESS) break;
    if (!parseHist(k, v, ver)) return corruptEntry();
    if (sameKey(ver, key, keyLen)) {
      histKey(seek, key, keyLen, 0);
      k = {seek.size(), &seek[0]};
      rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    }
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return Status::Lmdb(rc, "range");
  return Status::Ok();
}
// Newest version of key at or below `at`; found=false if none (or a tombstone when !withTombstone).
Status findVersion(MDB_cursor* c, const uint8_t* key, size_t len, uint64_t at, Version& out, bool& found);
// rangeResult: u64 count | u8 more | u32 n | kv*
// With maxOut, the key-values may not grow `out` past that size: AXIS_RESPONSE_TOO_LARGE instead,
// before more is read (a reply must fit a frame; a replicated result is stored on every member).
Status scanRange(View& view, const KeyRange& range, const RangeOpts& opts, Writer& out, size_t maxOut = 0);
// u32 n | (u8 type | kv)*  oldest first
Status scanHistory(View& view, const uint8_t* key, size_t len, uint64_t from, uint64_t to, Writer& out);
// u64 next | u8 more | u32 n | (u8 type | kv)*
Status scanChanges(View& view, uint64_t from, uint64_t to, uint64_t limit, Writer& out);

}  // namespace axis
