#include "apply.h"

#include <vector>

#include "lease.h"
#include "raftlog.h"
#include "statemachine.h"

namespace axis {

namespace {
enum Op : uint8_t { kPut = 1, kDelete = 2, kRange = 3, kTxn = 4 };
enum Target : uint8_t { kValue = 0, kVersion = 1, kCreate = 2, kMod = 3, kLease = 4 };
enum Result : uint8_t { kEqual = 0, kNotEqual = 1, kLess = 2, kGreater = 3 };
Status malformed() { return Status::Error("AXIS_INVALID_ARGUMENT", "malformed write request"); }
}  // namespace

static void header(uint8_t* h, uint8_t flags, uint32_t sub, uint64_t create, uint64_t version, uint64_t lease);

void writeError(Writer& out, const Status& s) {
  out.u8(1);
  out.bytes(s.code, strlen(s.code));
  out.bytes(s.message.data(), s.message.size());
}

Apply::~Apply() {
  // Write-transaction cursors must go before the transaction ends.
  if (hist_) mdb_cursor_close(hist_);
  if (revs_) mdb_cursor_close(revs_);
}

Status Apply::open() {
  if (!hist_) AXIS_MDB(mdb_cursor_open(txn_, dbs_.hist, &hist_), "open cursor");
  if (!revs_) AXIS_MDB(mdb_cursor_open(txn_, dbs_.revs, &revs_), "open cursor");
  return Status::Ok();
}

View Apply::view() {
  View v;
  v.txn = txn_;
  v.hist = hist_;
  v.revs = revs_;
  v.rev = wrote_ ? state_.rev + 1 : state_.rev;  // reads in a txn see its earlier writes
  v.compact = state_.compact;
  return v;
}

Status Apply::request(Reader& in, Writer& out) {
  AXIS_TRY(open());
  uint8_t kind = in.u8();
  if (kind == 1) {
    sub_ = 0;
    wrote_ = false;
    out.u8(0);
    size_t revAt = out.mark();
    out.u64(0);
    AXIS_TRY(txnBody(in, out, true));
    if (!in.ok) return malformed();
    if (wrote_) state_.rev++;
    wrote_ = false;
    out.patch64(revAt, state_.rev);
    return Status::Ok();
  }
  if (kind == 2) {
    uint64_t rev = in.u64();
    if (!in.ok) return malformed();
    if (rev > state_.rev) {
      return Status::Error("AXIS_FUTURE_REVISION", "cannot compact to " + std::to_string(rev) +
                                                       ", after the current revision " + std::to_string(state_.rev));
    }
    if (rev <= state_.compact) {
      return Status::Error("AXIS_COMPACTED", "revision " + std::to_string(rev) + " is already compacted (floor " +
                                                 std::to_string(state_.compact) + ")");
    }
    state_.compact = rev;
    AXIS_TRY(writeMeta(txn_, dbs_, "compact", rev));
    out.u8(0);
    out.u64(state_.rev);
    return Status::Ok();
  }
  if (kind == 3 || kind == 4) {
    AXIS_TRY(kind == 3 ? raftAppend(txn_, dbs_, in) : raftCompact(txn_, dbs_, in));
    out.u8(0);
    out.u64(0);
    return Status::Ok();
  }
  if (kind == 5) return entry(in, out);
  if (kind >= 6 && kind <= 10) return leaseRequest(kind, in, out);
  if (kind == 11) return alarm(in, out);
  return malformed();
}

bool isStateMachineRequest(uint8_t kind) { return kind == 1 || kind == 2 || (kind >= 6 && kind <= 11); }

static Status quotaExceeded() {
  return Status::Error("AXIS_QUOTA_EXCEEDED", "the storage quota is exceeded (a NOSPACE alarm is active): only reads, deletes, compactions and revokes go through until it is disarmed");
}

Status readAlarms(MDB_txn* txn, const Dbs& dbs, std::string& blob, uint32_t& mask) {
  MDB_val k{6, const_cast<char*>("alarms")}, v;
  int rc = mdb_get(txn, dbs.meta, &k, &v);
  blob.clear();
  mask = 0;
  if (rc == MDB_NOTFOUND) return Status::Ok();
  AXIS_MDB(rc, "read alarms");
  blob.assign(static_cast<const char*>(v.mv_data), v.mv_size);
  Reader r(reinterpret_cast<const uint8_t*>(blob.data()), blob.size());
  uint32_t n = r.u32();
  for (uint32_t i = 0; i < n && r.ok; i++) {
    uint8_t type = r.u8();
    r.u64();
    if (type < 32) mask |= 1u << type;
  }
  if (!r.ok) return Status::Error("AXIS_STORAGE", "corrupt alarms entry");
  return Status::Ok();
}

// kind 11 ALARM u8 activate | u8 type | u64 member
Status Apply::alarm(Reader& in, Writer& out) {
  uint8_t activate = in.u8(), type = in.u8();
  uint64_t member = in.u64();
  if (!in.ok || activate > 1 || (type != kAlarmNoSpace && type != kAlarmCorrupt)) return malformed();
  std::string blob;
  uint32_t mask;
  AXIS_TRY(readAlarms(txn_, dbs_, blob, mask));
  std::vector<std::pair<uint8_t, uint64_t>> active;
  Reader r(reinterpret_cast<const uint8_t*>(blob.data()), blob.size());
  uint32_t n = blob.empty() ? 0 : r.u32();
  for (uint32_t i = 0; i < n; i++) {
    uint8_t t = r.u8();
    uint64_t m = r.u64();
    if (t == type && m == member) continue;  // re-added below when activating
    active.emplace_back(t, m);
  }
  if (activate) active.emplace_back(type, member);
  Writer w;
  w.u32(static_cast<uint32_t>(active.size()));
  state_.alarms = 0;
  for (auto& [t, m] : active) {
    w.u8(t);
    w.u64(m);
    state_.alarms |= 1u << t;
  }
  MDB_val k{6, const_cast<char*>("alarms")}, v{w.buf.size(), w.buf.data()};
  AXIS_MDB(mdb_put(txn_, dbs_.meta, &k, &v, 0), "write alarms");
  out.u8(0);
  out.u64(state_.rev);
  return Status::Ok();
}

Status Apply::leaseRequest(uint8_t kind, Reader& in, Writer& out) {
  if (kind == 6) {
    uint64_t id = in.u64(), ttl = in.u64();
    if (!in.ok) return malformed();
    if (state_.alarms & (1u << kAlarmNoSpace)) return quotaExceeded();
    if (id == 0 || ttl == 0) return Status::Error("AXIS_INVALID_ARGUMENT", "a lease needs an id and a TTL of 1 s or more");
    LeaseInfo info;
    bool found;
    AXIS_TRY(readLease(txn_, dbs_, id, info, found));
    if (found) return Status::Error("AXIS_LEASE_EXISTS", "lease " + std::to_string(id) + " already exists");
    info.ttl = ttl;
    info.remainingMs = 0;
    AXIS_TRY(writeLease(txn_, dbs_, id, info));
    out.u8(0);
    out.u64(state_.rev);
    return Status::Ok();
  }
  if (kind == 7 || kind == 10) {
    uint64_t id = in.u64();
    uint64_t renewals = kind == 10 ? in.u64() : 0;
    if (!in.ok) return malformed();
    if (kind == 10) {
      LeaseInfo info;
      bool found;
      AXIS_TRY(readLease(txn_, dbs_, id, info, found));
      if (!found) return leaseNotFound(id);
      if (info.renewals != renewals) {
        return Status::Error("AXIS_LEASE_RENEWED", "lease " + std::to_string(id) + " was renewed after it was found expired");
      }
    }
    uint64_t deleted = 0;
    AXIS_TRY(leaseRevoke(id, deleted));
    out.u8(0);
    out.u64(state_.rev);
    out.u64(deleted);
    return Status::Ok();
  }
  if (kind == 8) {
    uint32_t n = in.u32();
    // Read it all first: a malformed request changes nothing either way, but fail before writing.
    if (!in.ok || !in.need(static_cast<size_t>(n) * 16)) return malformed();
    for (uint32_t i = 0; i < n; i++) {
      uint64_t id = in.u64(), remaining = in.u64();
      LeaseInfo info;
      bool found;
      AXIS_TRY(readLease(txn_, dbs_, id, info, found));
      if (!found) continue;
      info.remainingMs = remaining;
      AXIS_TRY(writeLease(txn_, dbs_, id, info));
    }
    if (!in.ok) return malformed();
    out.u8(0);
    out.u64(state_.rev);
    return Status::Ok();
  }
  // kind 9 LEASE_RENEW
  uint64_t id = in.u64();
  if (!in.ok) return malformed();
  LeaseInfo info;
  bool found;
  AXIS_TRY(readLease(txn_, dbs_, id, info, found));
  if (!found) return leaseNotFound(id);
  info.remainingMs = 0;
  info.renewals++;
  AXIS_TRY(writeLease(txn_, dbs_, id, info));
  out.u8(0);
  out.u64(state_.rev);
  out.u64(info.ttl);
  out.u64(info.renewals);
  return Status::Ok();
}

Status Apply::leaseRevoke(uint64_t id, uint64_t& deleted) {
  LeaseInfo info;
  bool found;
  AXIS_TRY(readLease(txn_, dbs_, id, info, found));
  if (!found) return leaseNotFound(id);
  std::vector<std::string> keys;
  uint64_t count;
  AXIS_TRY(leaseKeys(txn_, dbs_, id, 0, keys, count));
  sub_ = 0;
  wrote_ = false;
  deleted = 0;
  uint8_t h[kHistHeader];
  for (const std::string& k : keys) {
    const uint8_t* kp = reinterpret_cast<const uint8_t*>(k.data());
    AXIS_TRY(detachKey(txn_, dbs_, id, kp, k.size()));
    Version cur;
    bool have;
    AXIS_TRY(findVersion(hist_, kp, k.size(), kRevMax, cur, have));
    // Only a key whose live version carries this lease goes (anything else is a stale attachment).
    if (!have || cur.tombstone() || cur.lease != id) continue;
    header(h, kTombstone, sub_, 0, 0, 0);
    AXIS_TRY(writeVersion(kp, k.size(), h, nullptr, 0, true));
    deleted++;
  }
  uint8_t kb[8];
  putBE64(kb, id);
  MDB_val lk{8, kb};
  AXIS_MDB(mdb_del(txn_, dbs_.leases, &lk, nullptr), "drop lease");
  if (wrote_) state_.rev++;
  wrote_ = false;
  return Status::Ok();
}

Status Apply::txnBody(Reader& in, Writer& out, bool exec) {
  uint32_t ncmp = in.u32();
  bool holds = true;
  for (uint32_t i = 0; i < ncmp && in.ok; i++) {
    bool h = true;
    AXIS_TRY(compare(in, exec, h));
    holds = holds && h;
  }
  if (exec) out.u8(holds ? 1 : 0);
  size_t nAt = exec ? out.placeholder32() : 0;
  uint32_t executed = 0;
  for (int branch = 0; branch < 2 && in.ok; branch++) {
    bool run = exec && (branch == 0) == holds;
    uint32_t nops = in.u32();
    for (uint32_t i = 0; i < nops && in.ok; i++) AXIS_TRY(op(in, out, run, executed));
  }
  if (!in.ok) return malformed();
  if (exec) out.patch32(nAt, executed);
  return Status::Ok();
}

Status Apply::op(Reader& in, Writer& out, bool exec, uint32_t& executed) {
  uint8_t type = in.u8();
  if (exec) {
    out.u8(type);
    executed++;
  }
  switch (type) {
    case kPut: return put(in, out, exec);
    case kDelete: return del(in, out, exec);
    case kRange: return range(in, out, exec);
    case kTxn: return txnBody(in, out, exec);
    default: return malformed();
  }
}

Status Apply::compare(Reader& in, bool exec, bool& holds) {
  uint8_t target = in.u8(), result = in.u8();
  KeyRange range;
  if (!range.read(in) || target > kLease || result > kGreater) return malformed();
  const uint8_t* want = nullptr;
  size_t wantLen = 0;
  uint64_t num = 0;
  if (target == kValue) in.bytes(want, wantLen);
  else num = in.u64();
  if (!in.ok) return malformed();
  if (!exec) return Status::Ok();
  auto check = [&](const Version* v) {
    int c;
    if (target == kValue) {
      c = compareKeys(v->value, v->valueLen, want, wantLen);
    } else {
      uint64_t have = target == kVersion ? v->version : target == kCreate ? v->create : target == kMod ? v->rev : v->lease;
      c = have < num ? -1 : have > num ? 1 : 0;
    }
    switch (result) {
      case kEqual: return c == 0;
      case kNotEqual: return c != 0;
      case kLess: return c < 0;
      default: return c > 0;
    }
  };
  View v = view();
  bool any = false;
  holds = true;
  AXIS_TRY(visitKeys(hist_, range, v.rev, [&](const Version& ver) {
    if (ver.tombstone()) return true;
    any = true;
    holds = check(&ver);
    return holds;
  }));
  if (!any) {
    // etcd: a value compare on a missing key fails; the others compare against zero.
    Version zero;
    holds = target != kValue && check(&zero);
  }
  return Status::Ok();
}

Status Apply::writeVersion(const uint8_t* key, size_t keyLen, const uint8_t* header, const uint8_t* value,
                           size_t valueLen, bool tombstone) {
  uint64_t rev = state_.rev + 1;
  histKey(scratch_, key, keyLen, rev);
  MDB_val k{scratch_.size(), &scratch_[0]}, v{kHistHeader + valueLen, nullptr};
  AXIS_MDB(mdb_put(txn_, dbs_.hist, &k, &v, MDB_RESERVE), "write version");
  memcpy(v.mv_data, header, kHistHeader);
  if (valueLen) memcpy(static_cast<uint8_t*>(v.mv_data) + kHistHeader, value, valueLen);

  uint8_t rk[12];
  putBE64(rk, rev);
  putBE32(rk + 8, sub_);
  MDB_val ck{12, rk}, cv{1 + keyLen, nullptr};
  AXIS_MDB(mdb_put(txn_, dbs_.revs, &ck, &cv, MDB_RESERVE), "write change");
  static_cast<uint8_t*>(cv.mv_data)[0] = tombstone ? 1 : 0;
  memcpy(static_cast<uint8_t*>(cv.mv_data) + 1, key, keyLen);
  sub_++;
  wrote_ = true;
  return Status::Ok();
}

static void header(uint8_t* h, uint8_t flags, uint32_t sub, uint64_t create, uint64_t version, uint64_t lease) {
  h[0] = flags;
  memcpy(h + 1, &sub, 4);
  memcpy(h + 5, &create, 8);
  memcpy(h + 13, &version, 8);
  memcpy(h + 21, &lease, 8);
}

Status Apply::put(Reader& in, Writer& out, bool exec) {
  const uint8_t *key, *value;
  size_t keyLen, valueLen;
  in.bytes(key, keyLen);
  in.bytes(value, valueLen);
  uint64_t lease = in.u64();
  uint8_t flags = in.u8();
  if (!in.ok || keyLen == 0) return malformed();
  if (!exec) return Status::Ok();
  if (state_.alarms & (1u << kAlarmNoSpace)) return quotaExceeded();
  Version prev;
  bool found;
  AXIS_TRY(findVersion(hist_, key, keyLen, kRevMax, prev, found));
  bool live = found && !prev.tombstone();
  if ((flags & 6) && !live) {
    return Status::Error("AXIS_KEY_NOT_FOUND", "ignoreValue/ignoreLease need an existing key");
  }
  bool withPrev = (flags & 1) && live;
  out.u8(withPrev ? 1 : 0);
  if (withPrev) writeKv(out, prev, false);
  std::string kept;
  if (flags & 2) {
    kept.assign(reinterpret_cast<const char*>(prev.value), prev.valueLen);  // prev's page may move on write
    value = reinterpret_cast<const uint8_t*>(kept.data());
    valueLen = kept.size();
  }
  uint64_t prevLease = live ? prev.lease : 0;
  if (flags & 4) {
    lease = prevLease;
  } else if (lease != 0) {
    LeaseInfo info;
    bool exists;
    AXIS_TRY(readLease(txn_, dbs_, lease, info, exists));
    if (!exists) return leaseNotFound(lease);
  }
  if (prevLease != lease) {
    if (prevLease != 0) AXIS_TRY(detachKey(txn_, dbs_, prevLease, key, keyLen));
    if (lease != 0) AXIS_TRY(attachKey(txn_, dbs_, lease, key, keyLen));
  }
  uint8_t h[kHistHeader];
  header(h, 0, sub_, live ? prev.create : state_.rev + 1, live ? prev.version + 1 : 1, lease);
  return writeVersion(key, keyLen, h, value, valueLen, false);
}

Status Apply::del(Reader& in, Writer& out, bool exec) {
  KeyRange range;
  if (!range.read(in)) return malformed();
  uint8_t flags = in.u8();
  if (!in.ok) return malformed();
  if (!exec) return Status::Ok();
  std::vector<std::string> keys;
  std::vector<uint64_t> leases;
  size_t countAt = out.mark();
  out.u64(0);
  size_t nAt = out.placeholder32();
  uint32_t n = 0;
  View v = view();
  AXIS_TRY(visitKeys(hist_, range, v.rev, [&](const Version& ver) {
    if (ver.tombstone()) return true;
    keys.emplace_back(reinterpret_cast<const char*>(ver.key), ver.keyLen);
    leases.push_back(ver.lease);
    if (flags & 1) {
      writeKv(out, ver, false);
      n++;
    }
    return true;
  }));
  out.patch64(countAt, keys.size());
  out.patch32(nAt, n);
  uint8_t h[kHistHeader];
  for (size_t i = 0; i < keys.size(); i++) {
    const uint8_t* kp = reinterpret_cast<const uint8_t*>(keys[i].data());
    if (leases[i] != 0) AXIS_TRY(detachKey(txn_, dbs_, leases[i], kp, keys[i].size()));
    header(h, kTombstone, sub_, 0, 0, 0);
    AXIS_TRY(writeVersion(kp, keys[i].size(), h, nullptr, 0, true));
  }
  return Status::Ok();
}

Status Apply::range(Reader& in, Writer& out, bool exec) {
  KeyRange range;
  RangeOpts opts;
  if (!range.read(in)) return malformed();
  opts.read(in);
  if (!in.ok) return malformed();
  if (!exec) return Status::Ok();
  if (opts.revision > state_.rev) {
    // etcd checks a txn's read revisions before it runs: the txn's own new revision is in the future.
    return Status::Error("AXIS_FUTURE_REVISION", "revision " + std::to_string(opts.revision) +
                                                     " is after the current revision " + std::to_string(state_.rev));
  }
  View v = view();
  return scanRange(v, range, opts, out, resultLimit_);
}

Status compactChunk(MDB_txn* txn, const Dbs& dbs, uint64_t floor, size_t budget, uint8_t at[12], bool& done) {
  done = false;
  MDB_cursor* revs = nullptr;
  MDB_cursor* hist = nullptr;
  AXIS_MDB(mdb_cursor_open(txn, dbs.revs, &revs), "open cursor");
  struct Close {
    MDB_cursor*& a;
    MDB_cursor*& b;
    ~Close() {
      if (a) mdb_cursor_close(a);
      if (b) mdb_cursor_close(b);
    }
  } close{revs, hist};
  AXIS_MDB(mdb_cursor_open(txn, dbs.hist, &hist), "open cursor");

  std::string key, seek;
  std::vector<std::string> doomed;
  for (size_t visited = 0;; visited++) {
    MDB_val k{12, at}, v;
    int rc = mdb_cursor_get(revs, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) break;
    AXIS_MDB(rc, "compact: read change");
    if (k.mv_size != 12 || v.mv_size < 1) return Status::Error("AXIS_STORAGE", "corrupt revs entry");
    uint64_t rev = getBE64(static_cast<const uint8_t*>(k.mv_data));
    if (rev > floor) break;
    if (visited == budget) return Status::Ok();  // more to do in the next chunk
    memcpy(at, k.mv_data, 12);
    key.assign(static_cast<const char*>(v.mv_data) + 1, v.mv_size - 1);
    if (rev < floor) AXIS_MDB(mdb_cursor_del(revs, 0), "compact: drop change");
    // The key's newest version at or below the floor is what reads at the floor see: keep it
    // (unless it is a deletion below the floor), drop everything older.
    Version ver;
    bool found;
    const uint8_t* kp = reinterpret_cast<const uint8_t*>(key.data());
    AXIS_TRY(findVersion(hist, kp, key.size(), floor, ver, found));
    doomed.clear();
    if (found) {
      bool dropNewest = ver.tombstone() && ver.rev < floor;
      uint64_t newest = ver.rev;
      if (dropNewest) {
        histKey(seek, kp, key.size(), newest);
        doomed.push_back(seek);
      }
      MDB_val hk, hv;
      while ((rc = mdb_cursor_get(hist, &hk, &hv, MDB_NEXT)) == MDB_SUCCESS) {
        if (!parseHist(hk, hv, ver)) return corruptEntry();
        if (!sameKey(ver, kp, key.size())) break;
        doomed.emplace_back(static_cast<const char*>(hk.mv_data), hk.mv_size);
      }
      if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return Status::Lmdb(rc, "compact: scan versions");
      for (std::string& d : doomed) {
        MDB_val dk{d.size(), &d[0]};
        AXIS_MDB(mdb_del(txn, dbs.hist, &dk, nullptr), "compact: drop version");
      }
    }
    // Continue after this change entry (it may have been kept, at the floor).
    uint64_t r = getBE64(at);
    uint32_t s = getBE32(at + 8);
    if (s == UINT32_MAX) {
      putBE64(at, r + 1);
      putBE32(at + 8, 0);
    } else {
      putBE32(at + 8, s + 1);
    }
  }
  done = true;
  return Status::Ok();
}

}  // namespace axis
