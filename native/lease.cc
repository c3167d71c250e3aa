#include "lease.h"

namespace axis {

namespace {
Status corruptLease() { return Status::Error("AXIS_STORAGE", "corrupt lease entry"); }

Status decodeLease(const MDB_val& v, LeaseInfo& out) {
  if (v.mv_size != 16 && v.mv_size != 24) return corruptLease();
  const uint8_t* p = static_cast<const uint8_t*>(v.mv_data);
  out.ttl = getLE64(p);
  out.remainingMs = getLE64(p + 8);
  out.renewals = v.mv_size == 24 ? getLE64(p + 16) : 0;
  return Status::Ok();
}

void attachKeyBytes(std::string& out, uint64_t id, const uint8_t* key, size_t len) {
  out.resize(8 + len);
  putBE64(reinterpret_cast<uint8_t*>(&out[0]), id);
  if (len) memcpy(&out[8], key, len);
}
}  // namespace

Status leaseNotFound(uint64_t id) {
  return Status::Error("AXIS_LEASE_NOT_FOUND", "lease " + std::to_string(id) + " not found");
}

Status readLease(MDB_txn* txn, const Dbs& dbs, uint64_t id, LeaseInfo& out, bool& found) {
  uint8_t kb[8];
  putBE64(kb, id);
  MDB_val k{8, kb}, v;
  int rc = mdb_get(txn, dbs.leases, &k, &v);
  found = rc == MDB_SUCCESS;
  if (rc == MDB_NOTFOUND) return Status::Ok();
  AXIS_MDB(rc, "read lease");
  return decodeLease(v, out);
}

Status writeLease(MDB_txn* txn, const Dbs& dbs, uint64_t id, const LeaseInfo& info) {
  uint8_t kb[8];
  putBE64(kb, id);
  uint64_t val[3] = {info.ttl, info.remainingMs, info.renewals};
  MDB_val k{8, kb}, v{sizeof val, val};
  AXIS_MDB(mdb_put(txn, dbs.leases, &k, &v, 0), "write lease");
  return Status::Ok();
}

Status attachKey(MDB_txn* txn, const Dbs& dbs, uint64_t id, const uint8_t* key, size_t len) {
  std::string kb;
  attachKeyBytes(kb, id, key, len);
  MDB_val k{kb.size(), &kb[0]}, v{0, nullptr};
  AXIS_MDB(mdb_put(txn, dbs.leasekeys, &k, &v, 0), "attach key to lease");
  return Status::Ok();
}

Status detachKey(MDB_txn* txn, const Dbs& dbs, uint64_t id, const uint8_t* key, size_t len) {
  std::string kb;
  attachKeyBytes(kb, id, key, len);
  MDB_val k{kb.size(), &kb[0]};
  int rc = mdb_del(txn, dbs.leasekeys, &k, nullptr);
  if (rc != MDB_NOTFOUND) AXIS_MDB(rc, "detach key from lease");
  return Status::Ok();
}

Status leaseKeys(MDB_txn* txn, const Dbs& dbs, uint64_t id, uint64_t limit, std::vector<std::string>& keys,
                 uint64_t& count) {
  count = 0;
  MDB_cursor* c = nullptr;
  AXIS_MDB(mdb_cursor_open(txn, dbs.leasekeys, &c), "open cursor");
  uint8_t start[8];
  putBE64(start, id);
  MDB_val k{8, start}, v;
  int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  Status s;
  while (rc == MDB_SUCCESS) {
    if (k.mv_size < 8) {
      s = corruptLease();
      break;
    }
    const uint8_t* kp = static_cast<const uint8_t*>(k.mv_data);
    if (getBE64(kp) != id) break;
    if (limit == 0 || count < limit) keys.emplace_back(reinterpret_cast<const char*>(kp) + 8, k.mv_size - 8);
    count++;
    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
  }
  if (s.ok() && rc != MDB_SUCCESS && rc != MDB_NOTFOUND) s = Status::Lmdb(rc, "read lease keys");
  mdb_cursor_close(c);
  return s;
}

Status listLeases(MDB_txn* txn, const Dbs& dbs, Writer& out) {
  MDB_cursor* c = nullptr;
  AXIS_MDB(mdb_cursor_open(txn, dbs.leases, &c), "open cursor");
  size_t nAt = out.placeholder32();
  uint32_t n = 0;
  MDB_val k, v;
  int rc;
  Status s;
  while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == MDB_SUCCESS) {
    LeaseInfo info;
    if (k.mv_size != 8) s = corruptLease();
    if (s.ok()) s = decodeLease(v, info);
    if (!s.ok()) break;
    out.u64(getBE64(static_cast<const uint8_t*>(k.mv_data)));
    out.u64(info.ttl);
    out.u64(info.remainingMs);
    out.u64(info.renewals);
    n++;
  }
  if (s.ok() && rc != MDB_NOTFOUND) s = Status::Lmdb(rc, "list leases");
  mdb_cursor_close(c);
  out.patch32(nAt, n);
  return s;
}

Status describeLease(MDB_txn* txn, const Dbs& dbs, uint64_t id, uint64_t keyLimit, Writer& out, bool& found) {
  LeaseInfo info;
  AXIS_TRY(readLease(txn, dbs, id, info, found));
  if (!found) return Status::Ok();
  std::vector<std::string> keys;
  uint64_t count = 0;
  // limit 0 means "all" to leaseKeys; with keyLimit 0 no key is wanted, only the count.
  AXIS_TRY(leaseKeys(txn, dbs, id, keyLimit == 0 ? 1 : keyLimit == UINT64_MAX ? 0 : keyLimit, keys, count));
  if (keyLimit == 0) keys.clear();
  out.u64(info.ttl);
  out.u64(info.remainingMs);
  out.u64(info.renewals);
  out.u64(count);
  out.u32(static_cast<uint32_t>(keys.size()));
  for (const std::string& k : keys) out.bytes(k.data(), k.size());
  return Status::Ok();
}

}  // namespace axis
