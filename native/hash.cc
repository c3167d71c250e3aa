#include "hash.h"

namespace axis {

namespace {
// FNV-1a, 64 bits.
struct Fnv {
  uint64_t h = 0xcbf29ce484222325ULL;
  void bytes(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; i++) {
      h ^= b[i];
      h *= 0x100000001b3ULL;
    }
  }
  void u64(uint64_t v) {
    uint8_t b[8];
    putBE64(b, v);  // a fixed byte order, so every machine hashes alike
    bytes(b, 8);
  }
};
}  // namespace

Status hashKv(MDB_txn* txn, const Dbs& dbs, uint64_t at, KvHash& out) {
  View view;
  view.txn = txn;
  Status s = view.load(dbs);
  if (s.ok()) s = view.resolve(at, out.revision);
  out.compact = view.compact;
  Fnv f;
  if (s.ok()) {
    MDB_val k, v;
    int rc = mdb_cursor_get(view.hist, &k, &v, MDB_FIRST);
    Version ver;
    std::string lastKey;  // the key whose version at or below the floor was already seen
    bool floorSeen = false;
    while (rc == MDB_SUCCESS) {
      if (!parseHist(k, v, ver)) {
        s = corruptEntry();
        break;
      }
      bool same = lastKey.size() == ver.keyLen && memcmp(lastKey.data(), ver.key, ver.keyLen) == 0;
      if (!same) {
        lastKey.assign(reinterpret_cast<const char*>(ver.key), ver.keyLen);
        floorSeen = false;
      }
      // Versions of a key come newest first.
      bool take = false;
      if (ver.rev <= out.revision) {
        if (ver.rev > view.compact) {
          take = true;
        } else if (!floorSeen) {
          floorSeen = true;
          take = !ver.tombstone();
        }
      }
      if (take) {
        f.u64(ver.keyLen);
        f.bytes(ver.key, ver.keyLen);
        f.u64(ver.rev);
        f.u64(ver.flags);
        f.u64(ver.create);
        f.u64(ver.version);
        f.u64(ver.lease);
        f.u64(ver.valueLen);
        f.bytes(ver.value, ver.valueLen);
        out.versions++;
      }
      rc = mdb_cursor_get(view.hist, &k, &v, MDB_NEXT);
    }
    if (s.ok() && rc != MDB_NOTFOUND) s = Status::Lmdb(rc, "hash the key space");
  }
  if (view.hist) mdb_cursor_close(view.hist);
  if (view.revs) mdb_cursor_close(view.revs);
  out.hash = f.h;
  return s;
}

}  // namespace axis
