#include "reads.h"
#include "store.h"

namespace axis {

Napi::Function Snapshot::Init(Napi::Env env) {
  return DefineClass(env, "NativeSnapshot",
                     {
                         InstanceMethod<&Snapshot::Get>("get"),
                         InstanceMethod<&Snapshot::Range>("range"),
                         InstanceMethod<&Snapshot::History>("history"),
                         InstanceMethod<&Snapshot::Changes>("changes"),
                         InstanceMethod<&Snapshot::Release>("release"),
                         InstanceAccessor<&Snapshot::Revision>("revision"),
                         InstanceAccessor<&Snapshot::CompactRevision>("compactRevision"),
                     });
}

// Made only by Store.snapshot(): a read transaction pinned at the newest committed state.
Snapshot::Snapshot(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Snapshot>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    throwStatus(env, Status::Error("AXIS_INVALID_ARGUMENT", "snapshots come from store.snapshot()"));
    return;
  }
  store_ = Store::Unwrap(info[0].As<Napi::Object>());
  if (!store_->open()) {
    store_ = nullptr;
    throwStatus(env, Status::Error("AXIS_CLOSED", "the store is closed"));
    return;
  }
  Status s = Status::Lmdb(mdb_txn_begin(store_->lmdb(), nullptr, MDB_RDONLY, &view_.txn), "begin snapshot");
  if (s.ok()) s = view_.load(store_->dbs());
  if (!s.ok()) {
    release();
    store_ = nullptr;
    throwStatus(env, s);
    return;
  }
  storeRef_ = Napi::Persistent(info[0].As<Napi::Object>());
}

Snapshot::~Snapshot() { release(); }

void Snapshot::release() {
  if (view_.hist) mdb_cursor_close(view_.hist);
  if (view_.revs) mdb_cursor_close(view_.revs);
  if (view_.txn) mdb_txn_abort(view_.txn);
  view_ = View();
  if (store_) store_->forget(this);
}

View* Snapshot::view(Napi::Env env) {
  if (!view_.txn) {
    throwStatus(env, Status::Error("AXIS_SNAPSHOT_RELEASED", "the snapshot was released"));
    return nullptr;
  }
  return &view_;
}

Napi::Value Snapshot::Get(const Napi::CallbackInfo& info) {
  View* v = view(info.Env());
  return v ? readGet(info, *v, {store_->keyBuf(), store_->outBuf(), store_->outBufLen()}) : info.Env().Undefined();
}

Napi::Value Snapshot::Range(const Napi::CallbackInfo& info) {
  View* v = view(info.Env());
  return v ? readRange(info, *v) : info.Env().Undefined();
}

Napi::Value Snapshot::History(const Napi::CallbackInfo& info) {
  View* v = view(info.Env());
  return v ? readHistory(info, *v, {store_->keyBuf(), store_->outBuf(), store_->outBufLen()}) : info.Env().Undefined();
}

Napi::Value Snapshot::Changes(const Napi::CallbackInfo& info) {
  View* v = view(info.Env());
  return v ? readChanges(info, *v) : info.Env().Undefined();
}

Napi::Value Snapshot::Release(const Napi::CallbackInfo& info) {
  release();
  return info.Env().Undefined();
}

Napi::Value Snapshot::Revision(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(view_.rev));
}

Napi::Value Snapshot::CompactRevision(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(view_.compact));
}

}  // namespace axis
