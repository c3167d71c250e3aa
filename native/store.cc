#include "store.h"

#include <algorithm>

#include "hash.h"
#include "lease.h"
#include "reads.h"
#include "statemachine.h"

namespace axis {

void throwStatus(Napi::Env env, const Status& s) {
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Object err = data->errorClass.New({Napi::String::New(env, s.code), Napi::String::New(env, s.message)});
  Napi::Error(env, err).ThrowAsJavaScriptException();
}

static Napi::Value fail(Napi::Env env, const char* code, const char* message) {
  throwStatus(env, Status::Error(code, message));
  return env.Undefined();
}

Napi::Function Store::Init(Napi::Env env) {
  return DefineClass(env, "NativeStore",
                     {
                         InstanceMethod<&Store::Open>("open"),
                         InstanceMethod<&Store::Get>("get"),
                         InstanceMethod<&Store::Range>("range"),
                         InstanceMethod<&Store::History>("history"),
                         InstanceMethod<&Store::Changes>("changes"),
                         InstanceMethod<&Store::RaftState>("raftState"),
                         InstanceMethod<&Store::RaftTerm>("raftTerm"),
                         InstanceMethod<&Store::RaftEntries>("raftEntries"),
                         InstanceMethod<&Store::Applied>("applied"),
                         InstanceMethod<&Store::Leases>("leases"),
                         InstanceMethod<&Store::Lease>("lease"),
                         InstanceMethod<&Store::Write>("write"),
                         InstanceMethod<&Store::WaitCompaction>("waitCompaction"),
                         InstanceMethod<&Store::TakeSnapshot>("snapshot"),
                         InstanceMethod<&Store::Status_>("status"),
                         InstanceMethod<&Store::Revision>("revision"),
                         InstanceMethod<&Store::Close>("close"),
                         InstanceMethod<&Store::Copy>("copy"),
                         InstanceMethod<&Store::HashKv>("hashKv"),
                         InstanceMethod<&Store::Alarms>("alarms"),
                     });
}

// new NativeStore(path, mapSize, maxSnapshots, durability, keyBuffer, outBuffer[, spinMicros])
// durability: 0 sync, 1 nosync, 2 raft (writer.h)
Store::Store(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Store>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsString() || !info[4].IsBuffer() || !info[5].IsBuffer()) {
    fail(env, "AXIS_INVALID_ARGUMENT", "NativeStore(path, mapSize, maxReaders, durability, keyBuffer, outBuffer)");
    return;
  }
  config_.path = info[0].As<Napi::String>().Utf8Value();
  config_.mapSize = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  maxSnapshots_ = info[2].As<Napi::Number>().Uint32Value();
  config_.maxReaders = static_cast<unsigned>(maxSnapshots_ + 4);  // + the store's own view, a copy, two hashes
  uint32_t durability = info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;
  if (durability > 2) {
    fail(env, "AXIS_INVALID_ARGUMENT", "durability must be 0 (sync), 1 (nosync) or 2 (raft)");
    return;
  }
  config_.durability = static_cast<Durability>(durability);
  if (info.Length() > 6 && info[6].IsNumber()) config_.spinMicros = info[6].As<Napi::Number>().Uint32Value();
  auto key = info[4].As<Napi::Buffer<uint8_t>>();
  auto out = info[5].As<Napi::Buffer<uint8_t>>();
  keyRef_ = Napi::Persistent(key.As<Napi::Object>());
  outRef_ = Napi::Persistent(out.As<Napi::Object>());
  keyBuf_ = key.Data();
  keyBufLen_ = key.Length();
  outBuf_ = out.Data();
  outBufLen_ = out.Length();
  napiEnv_ = env;
}

Store::~Store() {
  if (writer_) atExit(this);
  if (hooked_) napi_remove_env_cleanup_hook(napiEnv_, atExit, this);
}

// At process exit (or if a store is collected while open): stop the writer, close the views.
void Store::atExit(void* self) {
  Store* store = static_cast<Store*>(self);
  store->hooked_ = false;
  if (!store->writer_) return;
  if (store->state_ == kOpen || store->state_ == kOpening) {
    Job* job = new Job(Job::kClose);
    store->writer_->submit(job);  // leaked with the process; the writer must see it to stop
  }
  store->writer_->join();
  store->shutdown();
  store->state_ = kClosed;
}

Napi::Promise Store::enqueue(Napi::Env env, Job* job) {
  auto deferred = new Napi::Promise::Deferred(env);
  Napi::Promise promise = deferred->Promise();
  job->deferred = deferred;
  if (pending_++ == 0) wake_.Ref(env);
  writer_->submit(job);
  return promise;
}

Napi::Value Store::Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != kNew) return fail(env, "AXIS_INVALID_ARGUMENT", "the store was opened already");
  state_ = kOpening;
  wake_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                        "axis-writer", 0, 1);
  wake_.Unref(env);
  Napi::ThreadSafeFunction wake = wake_;
  writer_ = std::make_unique<WriterThread>(config_, [this, wake]() mutable {
    wake.NonBlockingCall([this](Napi::Env env, Napi::Function) { drain(env); });
  });
  napi_add_env_cleanup_hook(env, atExit, this);
  hooked_ = true;
  Ref();  // an open store stays alive until closed
  return enqueue(env, new Job(Job::kOpen));
}

void Store::drain(Napi::Env env) {
  if (!writer_) return;
  // A commit happened: stop pinning the old state, or LMDB cannot reuse the pages it freed.
  if (view_.txn && !viewReset_ && viewSeq_ != writer_->commitSeq.load(std::memory_order_acquire)) {
    mdb_txn_reset(view_.txn);
    viewReset_ = true;
  }
  for (Job* job : writer_->takeDone()) {
    Napi::HandleScope scope(env);
    auto deferred = static_cast<Napi::Promise::Deferred*>(job->deferred);
    Napi::Value result = env.Undefined();
    if (job->kind == Job::kOpen && !job->status.ok()) {
      writer_->join();
      shutdown();
      state_ = kClosed;
    } else if (job->kind == Job::kOpen) {
      state_ = kOpen;
    } else if (job->kind == Job::kClose) {
      writer_->join();
      shutdown();
      state_ = kClosed;
    } else if (job->kind == Job::kWrite && job->status.ok()) {
      result = Napi::Buffer<char>::Copy(env, job->output.data(), job->output.size());
    }
    if (job->status.ok()) {
      deferred->Resolve(result);
    } else {
      AddonData* data = env.GetInstanceData<AddonData>();
      deferred->Reject(data->errorClass.New({Napi::String::New(env, job->status.code),
                                             Napi::String::New(env, job->status.message)}));
    }
    delete deferred;
    delete job;
    if (--pending_ == 0 && wake_) wake_.Unref(env);
  }
  if (state_ == kClosed && writer_) {
    wake_.Release();
    wake_ = Napi::ThreadSafeFunction();
    writer_.reset();
    if (hooked_) napi_remove_env_cleanup_hook(napiEnv_, atExit, this);
    hooked_ = false;
    Unref();
  }
}

void Store::shutdown() {
  while (!snapshots_.empty()) (*snapshots_.begin())->release();
  if (view_.hist) mdb_cursor_close(view_.hist);
  if (view_.revs) mdb_cursor_close(view_.revs);
  if (view_.txn) mdb_txn_abort(view_.txn);
  view_ = View();
  viewReset_ = false;
  if (writer_) writer_->closeEnv();
}

View* Store::latest(Napi::Env env) {
  if (state_ != kOpen) {
    fail(env, "AXIS_CLOSED", "the store is closed");
    return nullptr;
  }
  uint64_t seq = writer_->commitSeq.load(std::memory_order_acquire);
  int rc = MDB_SUCCESS;
  if (!view_.txn) {
    rc = mdb_txn_begin(lmdb(), nullptr, MDB_RDONLY, &view_.txn);
  } else if (seq != viewSeq_ || viewReset_) {
    if (!viewReset_) mdb_txn_reset(view_.txn);
    viewReset_ = false;
    rc = mdb_txn_renew(view_.txn);
    if (rc == MDB_SUCCESS) rc = mdb_cursor_renew(view_.txn, view_.hist);
    if (rc == MDB_SUCCESS) rc = mdb_cursor_renew(view_.txn, view_.revs);
  } else {
    return &view_;
  }
  Status s = Status::Lmdb(rc, "begin read");
  if (s.ok()) s = view_.load(dbs());
  if (!s.ok()) {
    if (view_.hist) mdb_cursor_close(view_.hist);
    if (view_.revs) mdb_cursor_close(view_.revs);
    if (view_.txn) mdb_txn_abort(view_.txn);
    view_ = View();
    viewReset_ = false;
    throwStatus(env, s);
    return nullptr;
  }
  viewSeq_ = seq;
  return &view_;
}

Napi::Value Store::Get(const Napi::CallbackInfo& info) {
  View* v = latest(info.Env());
  return v ? readGet(info, *v, {keyBuf_, outBuf_, outBufLen_}) : info.Env().Undefined();
}

Napi::Value Store::Range(const Napi::CallbackInfo& info) {
  View* v = latest(info.Env());
  return v ? readRange(info, *v) : info.Env().Undefined();
}

Napi::Value Store::History(const Napi::CallbackInfo& info) {
  View* v = latest(info.Env());
  return v ? readHistory(info, *v, {keyBuf_, outBuf_, outBufLen_}) : info.Env().Undefined();
}

Napi::Value Store::Changes(const Napi::CallbackInfo& info) {
  View* v = latest(info.Env());
  return v ? readChanges(info, *v) : info.Env().Undefined();
}

Napi::Value Store::RaftState(const Napi::CallbackInfo& info) {
  View* v = latest(info.Env());
  return v ? readRaftState(info, *v, dbs()) : info.Env().Undefined();
}

Napi::Value Store::RaftTerm(const Napi::CallbackInfo& info) {
  View* v = latest(info.Env());
  return v ? readRaftTerm(info, *v, dbs()) : info.Env().Undefined();
}

Napi::Value Store::RaftEntries(const Napi::CallbackInfo& info) {
  View* v = latest(info.Env());
  return v ? readRaftEntries(info, *v, dbs()) : info.Env().Undefined();
}

// Runs fn(txn, out) on the latest view: what it wrote as a Buffer, or its error thrown.
template <class F>
static Napi::Value viewBytes(Napi::Env env, View* v, F&& fn) {
  if (!v) return env.Undefined();
  Writer w;
  Status s = fn(v->txn, w);
  if (!s.ok()) {
    throwStatus(env, s);
    return env.Undefined();
  }
  return Napi::Buffer<char>::Copy(env, w.buf.data(), w.buf.size());
}

// applied() → u64 index | u64 term | u8 hasConf | [bytes confState]  (see statemachine.h)
Napi::Value Store::Applied(const Napi::CallbackInfo& info) {
  return viewBytes(info.Env(), latest(info.Env()), [&](MDB_txn* t, Writer& w) { return appliedState(t, dbs(), w); });
}

// leases() → u32 n | (u64 id | u64 ttlSeconds | u64 remainingMs | u64 renewals)*  (see lease.h)
Napi::Value Store::Leases(const Napi::CallbackInfo& info) {
  return viewBytes(info.Env(), latest(info.Env()), [&](MDB_txn* t, Writer& w) { return listLeases(t, dbs(), w); });
}

// lease(id, keyLimit) → null (no such lease) | u64 ttlSeconds | u64 remainingMs | u64 keyCount | u32 n | (bytes key)*
// keyLimit: 0 no keys, -1 every key, else at most that many.
Napi::Value Store::Lease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    return fail(env, "AXIS_INVALID_ARGUMENT", "lease(id, keyLimit)");
  }
  View* v = latest(env);
  if (!v) return env.Undefined();
  uint64_t id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  int64_t limit = info[1].As<Napi::Number>().Int64Value();
  Writer w;
  bool found = false;
  Status s = describeLease(v->txn, dbs(), id, limit < 0 ? UINT64_MAX : static_cast<uint64_t>(limit), w, found);
  if (!s.ok()) {
    throwStatus(env, s);
    return env.Undefined();
  }
  if (!found) return env.Null();
  return Napi::Buffer<char>::Copy(env, w.buf.data(), w.buf.size());
}

Napi::Value Store::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != kOpen) return fail(env, "AXIS_CLOSED", "the store is closed");
  auto buf = info[0].As<Napi::Buffer<char>>();
  Job* job = new Job(Job::kWrite);
  job->input.assign(buf.Data(), buf.Length());
  return enqueue(env, job);
}

Napi::Value Store::WaitCompaction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != kOpen) return fail(env, "AXIS_CLOSED", "the store is closed");
  Job* job = new Job(Job::kWaitCompaction);
  job->target = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  return enqueue(env, job);
}

Napi::Value Store::TakeSnapshot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != kOpen) return fail(env, "AXIS_CLOSED", "the store is closed");
  if (snapshots_.size() >= maxSnapshots_) {
    return fail(env, "AXIS_TOO_MANY_SNAPSHOTS",
                "too many snapshots held; release some (or raise maxSnapshots when opening)");
  }
  Napi::Object snap = env.GetInstanceData<AddonData>()->snapshotClass.New({Value()});
  if (env.IsExceptionPending()) return env.Undefined();
  snapshots_.insert(Snapshot::Unwrap(snap));
  return snap;
}

// alarms() → u32 n | (u8 type | u64 member)*  (see apply.h)
Napi::Value Store::Alarms(const Napi::CallbackInfo& info) {
  return viewBytes(info.Env(), latest(info.Env()), [&](MDB_txn* t, Writer& w) {
    std::string blob;
    uint32_t mask;
    AXIS_TRY(readAlarms(t, dbs(), blob, mask));
    if (blob.empty()) w.u32(0);
    else w.raw(blob.data(), blob.size());
    return Status::Ok();
  });
}

// The latest revision alone: status() without its free-list walk.
Napi::Value Store::Revision(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View* v = latest(env);
  if (!v) return env.Undefined();
  return Napi::Number::New(env, static_cast<double>(v->rev));
}

Napi::Value Store::Status_(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  View* v = latest(env);
  if (!v) return env.Undefined();
  MDB_envinfo ei;
  MDB_stat st;
  Status s = Status::Lmdb(mdb_env_info(lmdb(), &ei), "env info");
  if (s.ok()) s = Status::Lmdb(mdb_env_stat(lmdb(), &st), "env stat");
  // The size in use: every page a B+tree holds (each table's, LMDB's main and free-list trees'),
  // plus the two meta pages. Counting the free list instead misses the pages the writer has
  // taken from it into memory for reuse, so "in use" would jump back up after any write.
  size_t usedPages = 2;
  const MDB_dbi tables[] = {0, 1, dbs().hist, dbs().revs, dbs().meta, dbs().rlog, dbs().rmeta,
                            dbs().dedup, dbs().dedupage, dbs().leases, dbs().leasekeys};
  for (MDB_dbi dbi : tables) {
    if (!s.ok()) break;
    MDB_stat t;
    s = Status::Lmdb(mdb_stat(v->txn, dbi, &t), "table stat");
    if (s.ok()) usedPages += t.ms_branch_pages + t.ms_leaf_pages + t.ms_overflow_pages;
  }
  if (!s.ok()) {
    throwStatus(env, s);
    return env.Undefined();
  }
  // LMDB's high-water mark: the file's size, as far as LMDB has used it.
  double size = static_cast<double>(ei.me_last_pgno + 1) * st.ms_psize;
  double used = static_cast<double>(std::min<size_t>(usedPages, ei.me_last_pgno + 1)) * st.ms_psize;
  Napi::Object o = Napi::Object::New(env);
  o.Set("revision", Napi::Number::New(env, static_cast<double>(v->rev)));
  o.Set("compactRevision", Napi::Number::New(env, static_cast<double>(v->compact)));
  o.Set("dbSize", Napi::Number::New(env, size));
  o.Set("dbSizeInUse", Napi::Number::New(env, used));
  o.Set("compacting", Napi::Boolean::New(env, writer_->compacting.load()));
  o.Set("journalReplayed", Napi::Number::New(env, static_cast<double>(writer_->journalReplayed)));
  return o;
}

namespace {
// Work on a pool thread against the store's environment, answered through a promise. The store is
// kept alive (Ref) until OnOK has told it the work is done and settled the promise.
class PoolWorker : public Napi::AsyncWorker {
 public:
  PoolWorker(Napi::Env env, Store* store, MDB_env* mdb, void (Store::*done)())
      : Napi::AsyncWorker(env), mdb_(mdb), deferred_(Napi::Promise::Deferred::New(env)), store_(store), done_(done) {
    store_->Ref();
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void OnOK() override {
    Napi::Env env = Env();
    (store_->*done_)();
    if (status_.ok()) {
      deferred_.Resolve(result(env));
    } else {
      AddonData* data = env.GetInstanceData<AddonData>();
      deferred_.Reject(data->errorClass.New({Napi::String::New(env, status_.code), Napi::String::New(env, status_.message)}));
    }
    store_->Unref();
  }

 protected:
  virtual Napi::Value result(Napi::Env env) { return env.Undefined(); }
  MDB_env* mdb_;
  Status status_;

 private:
  Napi::Promise::Deferred deferred_;
  Store* store_;
  void (Store::*done_)();
};

// mdb_env_copy2: LMDB copies from its own read transaction, so writers go on. Compacting
// (MDB_CP_COMPACT) writes the copy's meta pages afresh for that transaction: a plain copy would
// carry the source's meta pages, and under durability 'raft' the newest of them may be marked "not
// flushed yet", so a member opening the copy would fall back to an older commit than the one copied.
class CopyWorker : public PoolWorker {
 public:
  CopyWorker(Napi::Env env, Store* store, MDB_env* mdb, std::string path)
      : PoolWorker(env, store, mdb, &Store::copied), path_(std::move(path)) {}
  void Execute() override {
    status_ = Status::Lmdb(mdb_env_copy2(mdb_, path_.c_str(), MDB_CP_COMPACT), "copy the environment");
  }

 private:
  std::string path_;
};

// hashKv(revision) on a read transaction of its own → {hash (hex), revision, compactRevision,
// versions}. See hash.h.
class HashWorker : public PoolWorker {
 public:
  HashWorker(Napi::Env env, Store* store, MDB_env* mdb, const Dbs& dbs, uint64_t at)
      : PoolWorker(env, store, mdb, &Store::hashed), dbs_(dbs), at_(at) {}
  void Execute() override {
    MDB_txn* txn = nullptr;
    status_ = Status::Lmdb(mdb_txn_begin(mdb_, nullptr, MDB_RDONLY, &txn), "begin read");
    if (!status_.ok()) return;
    status_ = hashKv(txn, dbs_, at_, out_);
    mdb_txn_abort(txn);
  }

 protected:
  Napi::Value result(Napi::Env env) override {
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(out_.hash));
    Napi::Object o = Napi::Object::New(env);
    o.Set("hash", Napi::String::New(env, hex));
    o.Set("revision", Napi::Number::New(env, static_cast<double>(out_.revision)));
    o.Set("compactRevision", Napi::Number::New(env, static_cast<double>(out_.compact)));
    o.Set("versions", Napi::Number::New(env, static_cast<double>(out_.versions)));
    return o;
  }

 private:
  Dbs dbs_;
  uint64_t at_;
  KvHash out_;
};
}  // namespace

Napi::Value Store::HashKv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != kOpen) return fail(env, "AXIS_CLOSED", "the store is closed");
  if (info.Length() < 1 || !info[0].IsNumber()) return fail(env, "AXIS_INVALID_ARGUMENT", "hashKv(revision)");
  if (hashing_ >= 2) return fail(env, "AXIS_TOO_MANY_REQUESTS", "two hashes of this store are being computed; try again later");
  hashing_++;
  auto* worker = new HashWorker(env, this, lmdb(), dbs(), static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// copy(dir): a consistent copy of the environment (data.mdb) into the existing empty directory
// `dir`, from a read view taken when the copy starts; writes go on meanwhile. One at a time.
Napi::Value Store::Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != kOpen) return fail(env, "AXIS_CLOSED", "the store is closed");
  if (info.Length() < 1 || !info[0].IsString()) return fail(env, "AXIS_INVALID_ARGUMENT", "copy(dir)");
  if (copying_) return fail(env, "AXIS_STORAGE", "a copy is in progress");
  copying_ = true;
  auto* worker = new CopyWorker(env, this, lmdb(), info[0].As<Napi::String>().Utf8Value());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value Store::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != kOpen) return fail(env, "AXIS_CLOSED", "the store is not open");
  if (copying_ || hashing_ > 0) return fail(env, "AXIS_STORAGE", "a copy or hash is in progress; close once it is done");
  state_ = kClosing;
  return enqueue(env, new Job(Job::kClose));
}

}  // namespace axis
