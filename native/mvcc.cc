#include "mvcc.h"

#include <algorithm>
#include <vector>

namespace axis {

int compareKeys(const uint8_t* a, size_t al, const uint8_t* b, size_t bl) {
  int c = memcmp(a, b, std::min(al, bl));
  if (c != 0) return c;
  return al < bl ? -1 : al > bl ? 1 : 0;
}

// LMDB calls this for every comparison in hist: user key ascending, then revision descending.
int histCompare(const MDB_val* a, const MDB_val* b) {
  const uint8_t* pa = static_cast<const uint8_t*>(a->mv_data);
  const uint8_t* pb = static_cast<const uint8_t*>(b->mv_data);
  size_t la = a->mv_size - 8, lb = b->mv_size - 8;
  int c = compareKeys(pa, la, pb, lb);
  if (c != 0) return c;
  uint64_t ra = getBE64(pa + la), rb = getBE64(pb + lb);
  return ra > rb ? -1 : ra < rb ? 1 : 0;
}

void histKey(std::string& out, const uint8_t* key, size_t len, uint64_t rev) {
  out.resize(len + 8);
  memcpy(&out[0], key, len);
  putBE64(reinterpret_cast<uint8_t*>(&out[len]), rev);
}

bool parseHist(const MDB_val& k, const MDB_val& v, Version& out) {
  if (k.mv_size < 8 || v.mv_size < kHistHeader) return false;
  const uint8_t* kp = static_cast<const uint8_t*>(k.mv_data);
  const uint8_t* vp = static_cast<const uint8_t*>(v.mv_data);
  out.key = kp;
  out.keyLen = k.mv_size - 8;
  out.rev = getBE64(kp + out.keyLen);
  out.flags = vp[0];
  out.sub = getLE32(vp + 1);
  out.create = getLE64(vp + 5);
  out.version = getLE64(vp + 13);
  out.lease = getLE64(vp + 21);
  out.value = vp + kHistHeader;
  out.valueLen = v.mv_size - kHistHeader;
  return true;
}

bool sameKey(const Version& v, const uint8_t* key, size_t len) {
  return v.keyLen == len && memcmp(v.key, key, len) == 0;
}

Status readMeta(MDB_txn* txn, const Dbs& dbs, const char* name, uint64_t& out) {
  MDB_val k{strlen(name), const_cast<char*>(name)}, v;
  int rc = mdb_get(txn, dbs.meta, &k, &v);
  if (rc == MDB_NOTFOUND) {
    out = 0;
    return Status::Ok();
  }
  AXIS_MDB(rc, "read meta");
  if (v.mv_size != 8) return Status::Error("AXIS_STORAGE", std::string("corrupt meta entry ") + name);
  out = getLE64(static_cast<const uint8_t*>(v.mv_data));
  return Status::Ok();
}

Status writeMeta(MDB_txn* txn, const Dbs& dbs, const char* name, uint64_t value) {
  MDB_val k{strlen(name), const_cast<char*>(name)}, v{8, &value};
  AXIS_MDB(mdb_put(txn, dbs.meta, &k, &v, 0), "write meta");
  return Status::Ok();
}

bool KeyRange::read(Reader& r) {
  uint8_t k = r.u8();
  if (k > kFrom) return false;
  kind = static_cast<Kind>(k);
  r.bytes(start, startLen);
  if (kind == kBounded) r.bytes(end, endLen);
  return r.ok;
}

bool KeyRange::after(const uint8_t* key, size_t len) const {
  switch (kind) {
    case kOne: return compareKeys(key, len, start, startLen) > 0;
    case kBounded: return compareKeys(key, len, end, endLen) >= 0;
    default: return false;
  }
}

void RangeOpts::read(Reader& r) {
  revision = r.u64();
  limit = r.u64();
  minMod = r.u64();
  maxMod = r.u64();
  minCreate = r.u64();
  maxCreate = r.u64();
  uint8_t f = r.u8();
  keysOnly = f & 1;
  countOnly = f & 2;
}

Status View::load(const Dbs& dbs) {
  if (!hist) AXIS_MDB(mdb_cursor_open(txn, dbs.hist, &hist), "open cursor");
  if (!revs) AXIS_MDB(mdb_cursor_open(txn, dbs.revs, &revs), "open cursor");
  // The current revision is the last one in the change log (compaction keeps the floor's entries,
  // and the floor is never past the head), so commits need not write it anywhere else.
  MDB_val k, v;
  int rc = mdb_cursor_get(revs, &k, &v, MDB_LAST);
  if (rc == MDB_NOTFOUND) {
    rev = 1;  // an empty store is at revision 1, as etcd's
  } else {
    AXIS_MDB(rc, "read head revision");
    if (k.mv_size != 12) return Status::Error("AXIS_STORAGE", "corrupt revs entry");
    rev = getBE64(static_cast<const uint8_t*>(k.mv_data));
  }
  AXIS_TRY(readMeta(txn, dbs, "compact", compact));
  return Status::Ok();
}

Status View::resolve(uint64_t asked, uint64_t& at) const {
  if (asked == 0) {
    at = rev;
    return Status::Ok();
  }
  if (asked > rev) {
    return Status::Error("AXIS_FUTURE_REVISION",
                         "revision " + std::to_string(asked) + " is after the current revision " + std::to_string(rev));
  }
  if (asked < compact) {
    return Status::Error("AXIS_COMPACTED", "revision " + std::to_string(asked) + " is below the compaction floor " +
                                               std::to_string(compact));
  }
  at = asked;
  return Status::Ok();
}

// kv: u64 create | u64 mod | u64 version | u64 lease | u32 keyLen | u32 valueLen | key | value
void writeKv(Writer& w, const Version& v, bool keysOnly) {
  w.u64(v.create);
  w.u64(v.rev);
  w.u64(v.version);
  w.u64(v.lease);
  w.u32(static_cast<uint32_t>(v.keyLen));
  size_t valueLen = keysOnly ? 0 : v.valueLen;
  w.u32(static_cast<uint32_t>(valueLen));
  w.raw(v.key, v.keyLen);
  w.raw(v.value, valueLen);
}


Status findVersion(MDB_cursor* c, const uint8_t* key, size_t len, uint64_t at, Version& out, bool& found) {
  // The point-read path: build the seek key on the stack (keys are at most 1024 bytes).
  uint8_t small[1040];
  std::string large;
  uint8_t* seek = small;
  if (len + 8 > sizeof small) {
    large.resize(len + 8);
    seek = reinterpret_cast<uint8_t*>(&large[0]);
  }
  memcpy(seek, key, len);
  putBE64(seek + len, at);
  MDB_val k{len + 8, seek}, v;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  found = false;
  if (rc == MDB_NOTFOUND) return Status::Ok();
  AXIS_MDB(rc, "seek");
  if (!parseHist(k, v, out)) return corruptEntry();
  found = sameKey(out, key, len);
  return Status::Ok();
}

Status scanRange(View& view, const KeyRange& range, const RangeOpts& opts, Writer& out, size_t maxOut) {
  uint64_t at;
  AXIS_TRY(view.resolve(opts.revision, at));
  size_t countAt = out.mark();
  bool tooLarge = false;
  out.u64(0);
  size_t moreAt = out.mark();
  out.u8(0);
  size_t nAt = out.placeholder32();
  uint64_t count = 0;
  uint32_t n = 0;
  bool more = false;
  AXIS_TRY(visitKeys(view.hist, range, at, [&](const Version& ver) {
    if (ver.tombstone()) return true;
    count++;  // as etcd's, count is taken before the revision filters
    if (opts.countOnly) return true;
    if ((opts.minMod && ver.rev < opts.minMod) || (opts.maxMod && ver.rev > opts.maxMod) ||
        (opts.minCreate && ver.create < opts.minCreate) || (opts.maxCreate && ver.create > opts.maxCreate)) {
      return true;
    }
    if (opts.limit == 0 || n < opts.limit) {
      writeKv(out, ver, opts.keysOnly);
      n++;
      if (maxOut != 0 && out.buf.size() > maxOut) {
        tooLarge = true;
        return false;
      }
    } else {
      more = true;
    }
    return true;
  }));
  if (tooLarge) {
    out.truncate(countAt);
    return Status::Error("AXIS_RESPONSE_TOO_LARGE", "the range holds more than the " + std::to_string(maxOut - countAt) +
                                                        " bytes of key-values an answer may: read it in pages (a limit, then on from the last key)");
  }
  out.patch64(countAt, count);
  out.buf[moreAt] = more ? 1 : 0;
  out.patch32(nAt, n);
  return Status::Ok();
}

static void writeEvent(Writer& w, const Version& v) {
  if (v.tombstone()) {
    w.u8(1);
    Version t;
    t.key = v.key;
    t.keyLen = v.keyLen;
    t.rev = v.rev;
    writeKv(w, t, true);
  } else {
    w.u8(0);
    writeKv(w, v, false);
  }
}

Status scanHistory(View& view, const uint8_t* key, size_t len, uint64_t from, uint64_t to, Writer& out) {
  if (to == 0) to = view.rev;
  if (from == 0) from = std::max<uint64_t>(view.compact, 1);
  if (from < view.compact) return Status::Error("AXIS_COMPACTED", "history start " + std::to_string(from) + " is below the compaction floor");
  if (to > view.rev) return Status::Error("AXIS_FUTURE_REVISION", "history end " + std::to_string(to) + " is after the current revision");
  if (from > to) return Status::Error("AXIS_INVALID_RANGE", "history start is after its end");
  std::vector<Version> found;
  Version ver;
  bool ok;
  AXIS_TRY(findVersion(view.hist, key, len, to, ver, ok));
  MDB_val k, v;
  while (ok && ver.rev >= from) {
    found.push_back(ver);
    int rc = mdb_cursor_get(view.hist, &k, &v, MDB_NEXT);
    if (rc == MDB_NOTFOUND) break;
    AXIS_MDB(rc, "history");
    if (!parseHist(k, v, ver)) return corruptEntry();
    ok = sameKey(ver, key, len);
  }
  out.u32(static_cast<uint32_t>(found.size()));
  for (auto it = found.rbegin(); it != found.rend(); ++it) writeEvent(out, *it);
  return Status::Ok();
}

Status scanChanges(View& view, uint64_t from, uint64_t to, uint64_t limit, Writer& out) {
  if (from == 0) return Status::Error("AXIS_INVALID_ARGUMENT", "changes start at revision 1 or later");
  if (from < view.compact) {
    return Status::Error("AXIS_COMPACTED", "revision " + std::to_string(from) + " is below the compaction floor " +
                                               std::to_string(view.compact));
  }
  if (to == 0) to = view.rev;
  if (from > view.rev + 1 || to > view.rev) {
    return Status::Error("AXIS_FUTURE_REVISION", "changes past the current revision " + std::to_string(view.rev));
  }
  size_t nextAt = out.mark();
  out.u64(0);
  size_t moreAt = out.mark();
  out.u8(0);
  size_t nAt = out.placeholder32();
  uint32_t n = 0;
  bool more = false;

  uint8_t seek[12];
  putBE64(seek, from);
  putBE32(seek + 8, 0);
  MDB_val k{12, seek}, v;
  int rc = mdb_cursor_get(view.revs, &k, &v, MDB_SET_RANGE);
  uint64_t current = 0;  // revision being written
  uint64_t lastWhole = 0;  // last revision written whole
  size_t revStart = out.mark();
  uint32_t nAtRevStart = 0;
  while (rc == MDB_SUCCESS) {
    if (k.mv_size != 12 || v.mv_size < 1) return Status::Error("AXIS_STORAGE", "corrupt revs entry");
    uint64_t rev = getBE64(static_cast<const uint8_t*>(k.mv_data));
    if (rev > to) break;
    if (rev != current) {
      if (current != 0) lastWhole = current;
      if (limit != 0 && n >= limit) {
        more = true;
        break;
      }
      current = rev;
      revStart = out.mark();
      nAtRevStart = n;
    }
    const uint8_t* key = static_cast<const uint8_t*>(v.mv_data) + 1;
    size_t keyLen = v.mv_size - 1;
    Version ver;
    bool found;
    AXIS_TRY(findVersion(view.hist, key, keyLen, rev, ver, found));
    if (!found || ver.rev != rev) return Status::Error("AXIS_STORAGE", "change log names a missing version");
    writeEvent(out, ver);
    n++;
    if (limit != 0 && n > limit && nAtRevStart > 0) {
      // A revision is never split: it overflowed the limit and is not the first, so it goes whole.
      out.truncate(revStart);
      n = nAtRevStart;
      more = true;
      current = 0;
      break;
    }
    rc = mdb_cursor_get(view.revs, &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return Status::Lmdb(rc, "changes");
  if (current != 0) lastWhole = current;
  uint64_t next = lastWhole != 0 ? lastWhole + 1 : from;
  out.patch64(nextAt, next);
  out.buf[moreAt] = more ? 1 : 0;
  out.patch32(nAt, n);
  return Status::Ok();
}

}  // namespace axis
