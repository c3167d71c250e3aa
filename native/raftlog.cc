#include "raftlog.h"

#include <algorithm>

namespace axis {

namespace {
constexpr uint8_t kHasHardState = 1, kHasSnapshot = 2, kHasEntries = 4, kLazy = 8;
constexpr size_t kEntryHeader = 9;  // u64 term | u8 type

Status malformed() { return Status::Error("AXIS_INVALID_ARGUMENT", "malformed raft log request"); }

MDB_val metaKey(const char* name) { return MDB_val{strlen(name), const_cast<char*>(name)}; }

Status putSnapMeta(MDB_txn* txn, const Dbs& dbs, uint64_t index, uint64_t term, const uint8_t* conf, size_t confLen) {
  MDB_val k = metaKey("snap"), v{16 + confLen, nullptr};
  AXIS_MDB(mdb_put(txn, dbs.rmeta, &k, &v, MDB_RESERVE), "raft: write snapshot meta");
  uint8_t* p = static_cast<uint8_t*>(v.mv_data);
  memcpy(p, &index, 8);
  memcpy(p + 8, &term, 8);
  if (confLen) memcpy(p + 16, conf, confLen);
  return Status::Ok();
}

// Deletes every rlog entry with index ≥ from (a conflicting suffix).
Status dropFrom(MDB_txn* txn, const Dbs& dbs, uint64_t from) {
  MDB_cursor* c = nullptr;
  AXIS_MDB(mdb_cursor_open(txn, dbs.rlog, &c), "raft: open cursor");
  uint8_t kb[8];
  putBE64(kb, from);
  Status s;
  for (;;) {
    MDB_val k{8, kb}, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) break;
    if (rc != MDB_SUCCESS) {
      s = Status::Lmdb(rc, "raft: seek suffix");
      break;
    }
    rc = mdb_cursor_del(c, 0);
    if (rc != MDB_SUCCESS) {
      s = Status::Lmdb(rc, "raft: drop suffix");
      break;
    }
  }
  mdb_cursor_close(c);
  return s;
}

// Deletes every rlog entry with index < to.
Status dropBelow(MDB_txn* txn, const Dbs& dbs, uint64_t to) {
  MDB_cursor* c = nullptr;
  AXIS_MDB(mdb_cursor_open(txn, dbs.rlog, &c), "raft: open cursor");
  Status s;
  for (;;) {
    MDB_val k, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    if (rc == MDB_NOTFOUND) break;
    if (rc != MDB_SUCCESS) {
      s = Status::Lmdb(rc, "raft: seek prefix");
      break;
    }
    if (k.mv_size != 8) {
      s = Status::Error("AXIS_STORAGE", "corrupt raft log key");
      break;
    }
    if (getBE64(static_cast<const uint8_t*>(k.mv_data)) >= to) break;
    rc = mdb_cursor_del(c, 0);
    if (rc != MDB_SUCCESS) {
      s = Status::Lmdb(rc, "raft: drop prefix");
      break;
    }
  }
  mdb_cursor_close(c);
  return s;
}
}  // namespace

Status raftSnapMeta(MDB_txn* txn, const Dbs& dbs, RaftSnapMeta& out) {
  out = RaftSnapMeta();
  MDB_val k = metaKey("snap"), v;
  int rc = mdb_get(txn, dbs.rmeta, &k, &v);
  if (rc == MDB_NOTFOUND) return Status::Ok();
  AXIS_MDB(rc, "raft: read snapshot meta");
  if (v.mv_size < 16) return Status::Error("AXIS_STORAGE", "corrupt raft snapshot meta");
  const uint8_t* p = static_cast<const uint8_t*>(v.mv_data);
  out.index = getLE64(p);
  out.term = getLE64(p + 8);
  out.conf = p + 16;
  out.confLen = v.mv_size - 16;
  return Status::Ok();
}

Status raftLastIndex(MDB_txn* txn, const Dbs& dbs, uint64_t snapIndex, uint64_t& last) {
  last = snapIndex;
  MDB_cursor* c = nullptr;
  AXIS_MDB(mdb_cursor_open(txn, dbs.rlog, &c), "raft: open cursor");
  MDB_val k, v;
  int rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
  Status s;
  if (rc == MDB_SUCCESS) {
    if (k.mv_size != 8) s = Status::Error("AXIS_STORAGE", "corrupt raft log key");
    else last = std::max(snapIndex, getBE64(static_cast<const uint8_t*>(k.mv_data)));
  } else if (rc != MDB_NOTFOUND) {
    s = Status::Lmdb(rc, "raft: read last entry");
  }
  mdb_cursor_close(c);
  return s;
}

Status raftAppend(MDB_txn* txn, const Dbs& dbs, Reader& in) {
  uint8_t flags = in.u8();
  if (!in.ok || (flags & ~(kHasHardState | kHasSnapshot | kHasEntries | kLazy))) return malformed();
  uint64_t hs[3] = {0, 0, 0};
  if (flags & kHasHardState) {
    for (uint64_t& x : hs) x = in.u64();
  }
  uint64_t snapIndex = 0, snapTerm = 0;
  const uint8_t* conf = nullptr;
  size_t confLen = 0;
  if (flags & kHasSnapshot) {
    snapIndex = in.u64();
    snapTerm = in.u64();
    in.bytes(conf, confLen);
  }
  if (!in.ok) return malformed();

  RaftSnapMeta stored;
  AXIS_TRY(raftSnapMeta(txn, dbs, stored));
  uint64_t floor = stored.index;  // entries at or below it are covered by the snapshot
  if ((flags & kHasSnapshot) && snapIndex >= stored.index) {
    // The snapshot replaces the whole log (a follower installing one; one at the stored index too,
    // so a store copied from another member keeps none of that member's log).
    AXIS_MDB(mdb_drop(txn, dbs.rlog, 0), "raft: clear log");
    AXIS_TRY(putSnapMeta(txn, dbs, snapIndex, snapTerm, conf, confLen));
    floor = snapIndex;
  }

  if (flags & kHasEntries) {
    uint32_t n = in.u32();
    if (!in.ok) return malformed();
    uint64_t last;
    AXIS_TRY(raftLastIndex(txn, dbs, floor, last));
    uint64_t expect = 0;
    bool truncated = false;
    for (uint32_t i = 0; i < n; i++) {
      uint64_t index = in.u64(), term = in.u64();
      uint8_t type = in.u8();
      const uint8_t* data;
      size_t len;
      in.bytes(data, len);
      if (!in.ok) return malformed();
      if (i > 0 && index != expect) {
        return Status::Error("AXIS_INVALID_ARGUMENT", "raft entries must have consecutive indices");
      }
      expect = index + 1;
      if (index <= floor) continue;  // compacted into the snapshot already
      if (!truncated) {
        if (index > last + 1) {
          return Status::Error("AXIS_INVALID_ARGUMENT", "raft entry " + std::to_string(index) +
                                                            " would leave a gap after the last entry " +
                                                            std::to_string(last));
        }
        AXIS_TRY(dropFrom(txn, dbs, index));
        truncated = true;
      }
      uint8_t kb[8];
      putBE64(kb, index);
      MDB_val k{8, kb}, v{kEntryHeader + len, nullptr};
      AXIS_MDB(mdb_put(txn, dbs.rlog, &k, &v, MDB_RESERVE | MDB_APPEND), "raft: write entry");
      uint8_t* p = static_cast<uint8_t*>(v.mv_data);
      memcpy(p, &term, 8);
      p[8] = type;
      if (len) memcpy(p + kEntryHeader, data, len);
    }
  }
  if (in.more()) return malformed();

  if (flags & kHasHardState) {
    MDB_val k = metaKey("hs"), v{sizeof hs, hs};
    AXIS_MDB(mdb_put(txn, dbs.rmeta, &k, &v, 0), "raft: write hard state");
  }
  return Status::Ok();
}

Status raftCompact(MDB_txn* txn, const Dbs& dbs, Reader& in) {
  uint64_t snapIndex = in.u64(), snapTerm = in.u64();
  const uint8_t* conf;
  size_t confLen;
  in.bytes(conf, confLen);
  uint64_t compactTo = in.u64();
  if (!in.ok || in.more()) return malformed();
  RaftSnapMeta stored;
  AXIS_TRY(raftSnapMeta(txn, dbs, stored));
  uint64_t floor = stored.index;
  if (snapIndex > stored.index) {
    uint64_t last;
    AXIS_TRY(raftLastIndex(txn, dbs, stored.index, last));
    if (snapIndex > last) {
      return Status::Error("AXIS_INVALID_ARGUMENT", "raft snapshot at " + std::to_string(snapIndex) +
                                                        " is past the last entry " + std::to_string(last));
    }
    AXIS_TRY(putSnapMeta(txn, dbs, snapIndex, snapTerm, conf, confLen));
    floor = snapIndex;
  }
  if (compactTo > floor + 1) {
    return Status::Error("AXIS_INVALID_ARGUMENT", "cannot compact the raft log to " + std::to_string(compactTo) +
                                                      ": the snapshot covers only up to " + std::to_string(floor));
  }
  return dropBelow(txn, dbs, compactTo);
}

Status raftState(MDB_txn* txn, const Dbs& dbs, Writer& out) {
  MDB_val k = metaKey("hs"), v;
  int rc = mdb_get(txn, dbs.rmeta, &k, &v);
  uint64_t hs[3] = {0, 0, 0};
  if (rc == MDB_SUCCESS) {
    if (v.mv_size != sizeof hs) return Status::Error("AXIS_STORAGE", "corrupt raft hard state");
    memcpy(hs, v.mv_data, sizeof hs);
  } else if (rc != MDB_NOTFOUND) {
    return Status::Lmdb(rc, "raft: read hard state");
  }
  RaftSnapMeta snap;
  AXIS_TRY(raftSnapMeta(txn, dbs, snap));
  uint64_t last;
  AXIS_TRY(raftLastIndex(txn, dbs, snap.index, last));
  for (uint64_t x : hs) out.u64(x);
  out.u64(snap.index);
  out.u64(snap.term);
  out.bytes(snap.conf, snap.confLen);
  out.u64(snap.index + 1);
  out.u64(last);
  return Status::Ok();
}

Status raftTerm(MDB_txn* txn, const Dbs& dbs, uint64_t i, int64_t& term) {
  RaftSnapMeta snap;
  AXIS_TRY(raftSnapMeta(txn, dbs, snap));
  if (i < snap.index) {
    term = kRaftCompacted;
    return Status::Ok();
  }
  if (i == snap.index) {
    term = static_cast<int64_t>(snap.term);
    return Status::Ok();
  }
  uint8_t kb[8];
  putBE64(kb, i);
  MDB_val k{8, kb}, v;
  int rc = mdb_get(txn, dbs.rlog, &k, &v);
  if (rc == MDB_NOTFOUND) {
    // Past the end (the log is contiguous from the snapshot on).
    term = kRaftUnavailable;
    return Status::Ok();
  }
  AXIS_MDB(rc, "raft: read entry");
  if (v.mv_size < kEntryHeader) return Status::Error("AXIS_STORAGE", "corrupt raft log entry");
  term = static_cast<int64_t>(getLE64(static_cast<const uint8_t*>(v.mv_data)));
  return Status::Ok();
}

Status raftEntries(MDB_txn* txn, const Dbs& dbs, uint64_t lo, uint64_t hi, uint64_t maxBytes, Writer& out,
                   int64_t& code) {
  code = 0;
  RaftSnapMeta snap;
  AXIS_TRY(raftSnapMeta(txn, dbs, snap));
  if (lo <= snap.index) {
    code = kRaftCompacted;
    return Status::Ok();
  }
  uint64_t last;
  AXIS_TRY(raftLastIndex(txn, dbs, snap.index, last));
  if (hi > last + 1) {
    code = kRaftUnavailable;
    return Status::Ok();
  }
  size_t nAt = out.placeholder32();
  uint32_t n = 0;
  if (lo >= hi) return Status::Ok();
  MDB_cursor* c = nullptr;
  AXIS_MDB(mdb_cursor_open(txn, dbs.rlog, &c), "raft: open cursor");
  uint8_t kb[8];
  putBE64(kb, lo);
  MDB_val k{8, kb}, v;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
  uint64_t size = 0;
  Status s;
  for (uint64_t want = lo; want < hi; want++) {
    if (rc != MDB_SUCCESS) {
      s = rc == MDB_NOTFOUND ? Status::Error("AXIS_STORAGE", "raft log entry " + std::to_string(want) + " is missing")
                             : Status::Lmdb(rc, "raft: read entries");
      break;
    }
    if (k.mv_size != 8 || v.mv_size < kEntryHeader || getBE64(static_cast<const uint8_t*>(k.mv_data)) != want) {
      s = Status::Error("AXIS_STORAGE", "raft log entry " + std::to_string(want) + " is missing or corrupt");
      break;
    }
    size_t len = v.mv_size - kEntryHeader;
    size += len;
    if (n > 0 && size > maxBytes) break;  // at least one entry, however large
    const uint8_t* p = static_cast<const uint8_t*>(v.mv_data);
    out.u64(want);
    out.u64(getLE64(p));
    out.u8(p[8]);
    out.bytes(p + kEntryHeader, len);
    n++;
    if (want + 1 < hi) rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  mdb_cursor_close(c);
  out.patch32(nAt, n);
  return s;
}

}  // namespace axis
