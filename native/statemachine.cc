#include "statemachine.h"

#include "apply.h"

namespace axis {

namespace {
MDB_val metaKey(const char* name) { return MDB_val{strlen(name), const_cast<char*>(name)}; }

void dedupKey(uint8_t k[16], uint64_t client, uint64_t seq) {
  putBE64(k, client);
  putBE64(k + 8, seq);
}

Status corruptDedup() { return Status::Error("AXIS_STORAGE", "corrupt dedup record"); }

// Deletes one record and its age entry. `recIndex` is the index the record was made at.
Status dropRecord(MDB_txn* txn, const Dbs& dbs, const uint8_t key[16], uint64_t recIndex) {
  uint8_t ak[8];
  putBE64(ak, recIndex);
  MDB_val k{16, const_cast<uint8_t*>(key)}, a{8, ak};
  AXIS_MDB(mdb_del(txn, dbs.dedup, &k, nullptr), "dedup: drop record");
  AXIS_MDB(mdb_del(txn, dbs.dedupage, &a, nullptr), "dedup: drop age entry");
  return Status::Ok();
}

// Per client, the highest floor it has sent is kept under seq UINT64_MAX (value: u64 floor): a
// request below it was answered already, so a late copy of it (its record pruned) is refused rather
// than applied again. The floor goes when the client's last record ages out.
constexpr uint64_t kFloorSeq = UINT64_MAX;

Status readFloor(MDB_txn* txn, const Dbs& dbs, uint64_t client, uint64_t& floor) {
  uint8_t kb[16];
  dedupKey(kb, client, kFloorSeq);
  MDB_val k{16, kb}, v;
  floor = 0;
  int rc = mdb_get(txn, dbs.dedup, &k, &v);
  if (rc == MDB_NOTFOUND) return Status::Ok();
  AXIS_MDB(rc, "dedup: read floor");
  if (v.mv_size != 8) return corruptDedup();
  floor = getLE64(static_cast<const uint8_t*>(v.mv_data));
  return Status::Ok();
}

Status writeFloor(MDB_txn* txn, const Dbs& dbs, uint64_t client, uint64_t floor) {
  uint8_t kb[16];
  dedupKey(kb, client, kFloorSeq);
  MDB_val k{16, kb}, v{8, &floor};
  AXIS_MDB(mdb_put(txn, dbs.dedup, &k, &v, 0), "dedup: write floor");
  return Status::Ok();
}

// Drops the client's floor once it has no records left.
Status dropFloorIfIdle(MDB_txn* txn, const Dbs& dbs, uint64_t client) {
  MDB_cursor* c = nullptr;
  AXIS_MDB(mdb_cursor_open(txn, dbs.dedup, &c), "dedup: open cursor");
  uint8_t start[16];
  dedupKey(start, client, 0);
  MDB_val k{16, start}, v;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  bool idle = rc == MDB_NOTFOUND ||
              (rc == MDB_SUCCESS && k.mv_size == 16 &&
               (getBE64(static_cast<const uint8_t*>(k.mv_data)) != client ||
                getBE64(static_cast<const uint8_t*>(k.mv_data) + 8) == kFloorSeq));
  mdb_cursor_close(c);
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return Status::Lmdb(rc, "dedup: seek client");
  if (!idle) return Status::Ok();
  uint8_t kb[16];
  dedupKey(kb, client, kFloorSeq);
  MDB_val fk{16, kb};
  rc = mdb_del(txn, dbs.dedup, &fk, nullptr);
  if (rc != MDB_NOTFOUND) AXIS_MDB(rc, "dedup: drop floor");
  return Status::Ok();
}

// The client's records with seq < floor: it has their answers.
Status pruneBelowFloor(MDB_txn* txn, const Dbs& dbs, uint64_t client, uint64_t floor) {
  if (floor == 0) return Status::Ok();
  MDB_cursor* c = nullptr;
  AXIS_MDB(mdb_cursor_open(txn, dbs.dedup, &c), "dedup: open cursor");
  uint8_t start[16], key[16];
  dedupKey(start, client, 0);
  Status s;
  for (;;) {
    MDB_val k{16, start}, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) break;
    if (rc != MDB_SUCCESS) {
      s = Status::Lmdb(rc, "dedup: seek client");
      break;
    }
    if (k.mv_size != 16 || v.mv_size < 8) {
      s = corruptDedup();
      break;
    }
    const uint8_t* kp = static_cast<const uint8_t*>(k.mv_data);
    if (getBE64(kp) != client || getBE64(kp + 8) >= floor) break;
    memcpy(key, kp, 16);  // the cursor's pages change on delete
    s = dropRecord(txn, dbs, key, getLE64(static_cast<const uint8_t*>(v.mv_data)));
    if (!s.ok()) break;
  }
  mdb_cursor_close(c);
  return s;
}

// Records made more than `horizon` entries before `index`, oldest first, at most kDedupAgeBudget.
Status pruneByAge(MDB_txn* txn, const Dbs& dbs, uint64_t index, uint64_t horizon) {
  MDB_cursor* c = nullptr;
  AXIS_MDB(mdb_cursor_open(txn, dbs.dedupage, &c), "dedup: open cursor");
  Status s;
  for (size_t n = 0; n < kDedupAgeBudget; n++) {
    MDB_val k, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    if (rc == MDB_NOTFOUND) break;
    if (rc != MDB_SUCCESS) {
      s = Status::Lmdb(rc, "dedup: oldest record");
      break;
    }
    if (k.mv_size != 8 || v.mv_size != 16) {
      s = corruptDedup();
      break;
    }
    uint64_t recIndex = getBE64(static_cast<const uint8_t*>(k.mv_data));
    if (recIndex >= index || index - recIndex <= horizon) break;
    uint8_t key[16];
    memcpy(key, v.mv_data, 16);
    s = dropRecord(txn, dbs, key, recIndex);
    if (s.ok()) s = dropFloorIfIdle(txn, dbs, getBE64(key));
    if (!s.ok()) break;
  }
  mdb_cursor_close(c);
  return s;
}
}  // namespace

bool ApplyEntry::read(Reader& in) {
  index = in.u64();
  term = in.u64();
  flags = in.u8();
  if (!in.ok || (flags & ~(kApplyConf | kApplyRequest))) return false;
  if (flags & kApplyConf) in.bytes(conf, confLen);
  if (flags & kApplyRequest) {
    client = in.u64();
    seq = in.u64();
    floor = in.u64();
    horizon = in.u64();
    in.bytes(body, bodyLen);
  }
  return in.ok && !in.more();
}

Status readApplied(MDB_txn* txn, const Dbs& dbs, uint64_t& index, uint64_t& term) {
  index = term = 0;
  MDB_val k = metaKey("applied"), v;
  int rc = mdb_get(txn, dbs.meta, &k, &v);
  if (rc == MDB_NOTFOUND) return Status::Ok();
  AXIS_MDB(rc, "read applied index");
  if (v.mv_size != 16) return Status::Error("AXIS_STORAGE", "corrupt applied index");
  index = getLE64(static_cast<const uint8_t*>(v.mv_data));
  term = getLE64(static_cast<const uint8_t*>(v.mv_data) + 8);
  return Status::Ok();
}

Status appliedState(MDB_txn* txn, const Dbs& dbs, Writer& out) {
  uint64_t index, term;
  AXIS_TRY(readApplied(txn, dbs, index, term));
  out.u64(index);
  out.u64(term);
  MDB_val k = metaKey("conf"), v;
  int rc = mdb_get(txn, dbs.meta, &k, &v);
  if (rc == MDB_NOTFOUND) {
    out.u8(0);
    return Status::Ok();
  }
  AXIS_MDB(rc, "read membership");
  out.u8(1);
  out.bytes(v.mv_data, v.mv_size);
  return Status::Ok();
}

Status dedupFind(MDB_txn* txn, const Dbs& dbs, uint64_t client, uint64_t seq, Writer& out, bool& found) {
  uint8_t kb[16];
  dedupKey(kb, client, seq);
  MDB_val k{16, kb}, v;
  int rc = mdb_get(txn, dbs.dedup, &k, &v);
  found = rc == MDB_SUCCESS;
  if (rc == MDB_NOTFOUND) return Status::Ok();
  AXIS_MDB(rc, "dedup: look up");
  if (v.mv_size < 9) return corruptDedup();
  out.raw(static_cast<const uint8_t*>(v.mv_data) + 8, v.mv_size - 8);
  return Status::Ok();
}

Status markApplied(MDB_txn* txn, const Dbs& dbs, const ApplyEntry& e, const uint8_t* result, size_t resultLen,
                   bool record) {
  uint64_t applied[2] = {e.index, e.term};
  MDB_val ak = metaKey("applied"), av{sizeof applied, applied};
  AXIS_MDB(mdb_put(txn, dbs.meta, &ak, &av, 0), "write applied index");
  if (e.flags & kApplyConf) {
    MDB_val ck = metaKey("conf"), cv{e.confLen, const_cast<uint8_t*>(e.conf)};
    AXIS_MDB(mdb_put(txn, dbs.meta, &ck, &cv, 0), "write membership");
  }
  if (!e.hasRequest()) return Status::Ok();
  if (record) {
    uint8_t kb[16], ib[8];
    dedupKey(kb, e.client, e.seq);
    putBE64(ib, e.index);
    MDB_val k{16, kb}, v{8 + resultLen, nullptr};
    AXIS_MDB(mdb_put(txn, dbs.dedup, &k, &v, MDB_RESERVE), "dedup: write record");
    memcpy(v.mv_data, &e.index, 8);
    memcpy(static_cast<uint8_t*>(v.mv_data) + 8, result, resultLen);
    MDB_val ik{8, ib}, iv{16, kb};
    AXIS_MDB(mdb_put(txn, dbs.dedupage, &ik, &iv, 0), "dedup: write age entry");
  }
  AXIS_TRY(pruneBelowFloor(txn, dbs, e.client, e.floor));
  uint64_t stored;
  AXIS_TRY(readFloor(txn, dbs, e.client, stored));
  if (e.floor > stored) AXIS_TRY(writeFloor(txn, dbs, e.client, e.floor));
  return pruneByAge(txn, dbs, e.index, e.horizon);
}

bool failsAlike(const Status& s) {
  if (s.ok()) return false;
  static const char* const local[] = {"AXIS_NO_SPACE", "AXIS_STORAGE", "AXIS_TOO_MANY_SNAPSHOTS", "AXIS_CLOSED"};
  for (const char* code : local) {
    if (strcmp(s.code, code) == 0) return false;
  }
  return true;
}

// kind 5 APPLY (see apply.h).
Status Apply::entry(Reader& in, Writer& out) {
  ApplyEntry e;
  if (!e.read(in)) return Status::Error("AXIS_INVALID_ARGUMENT", "malformed apply request");
  // Raft applies committed entries in order: the next one, or (a store that never applied one) any.
  if (e.index == 0 || (state_.applied != 0 && e.index != state_.applied + 1)) {
    return Status::Error("AXIS_INVALID_ARGUMENT", "cannot apply entry " + std::to_string(e.index) +
                                                      ": the applied index is " + std::to_string(state_.applied));
  }
  out.u8(0);
  size_t lenAt = out.placeholder32();
  size_t at = out.mark();
  bool record = false;
  if (forcedInner_) {
    if (!e.hasRequest()) return Status::Error("AXIS_INVALID_ARGUMENT", "an entry without a request cannot fail");
    writeError(out, *forcedInner_);
    record = true;
  } else if (e.hasRequest()) {
    bool found;
    AXIS_TRY(dedupFind(txn_, dbs_, e.client, e.seq, out, found));
    uint64_t floor = 0;
    if (!found) AXIS_TRY(readFloor(txn_, dbs_, e.client, floor));
    if (!found && e.seq < floor) {
      // A late copy of a request whose answer the client has (it said so) and whose record is gone.
      writeError(out, Status::Error("AXIS_DUPLICATE_REQUEST", "request " + std::to_string(e.seq) + " of client " +
                                                                   std::to_string(e.client) + " was answered already"));
    } else if (!found) {
      Reader inner(e.body, e.bodyLen);
      uint8_t kind = e.bodyLen > 0 ? e.body[0] : 0;
      resultLimit_ = at + kMaxResultBytes;
      Status s = isStateMachineRequest(kind)
                     ? request(inner, out)
                     : Status::Error("AXIS_INVALID_ARGUMENT", "an entry's request is a txn, a compaction or a lease request");
      resultLimit_ = 0;
      if (s.ok() && inner.more()) s = Status::Error("AXIS_INVALID_ARGUMENT", "malformed write request");
      if (s.ok() && out.mark() - at > kMaxResultBytes) {
        s = Status::Error("AXIS_RESPONSE_TOO_LARGE", "the result passes the " + std::to_string(kMaxResultBytes) +
                                                         "-byte limit (prevKvs of a large delete?): nothing was changed");
      }
      if (!s.ok()) {
        // The transaction is dirty: the writer aborts it, then writes only the mark (failsAlike) or nothing.
        if (failsAlike(s)) innerFailure_ = s;
        return s;
      }
      record = true;
    }
  } else {
    out.u8(0);
    out.u64(state_.rev);
  }
  size_t len = out.mark() - at;
  out.patch32(lenAt, static_cast<uint32_t>(len));
  AXIS_TRY(markApplied(txn_, dbs_, e, reinterpret_cast<const uint8_t*>(out.buf.data()) + at, len, record));
  state_.applied = e.index;
  return Status::Ok();
}

}  // namespace axis
