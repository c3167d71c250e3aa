// The JS face of the addon: Store (one LMDB environment, its writer thread, the latest read view)
// and Snapshot (a pinned read view). Reads are synchronous; writes return promises.
#pragma once
#include <napi.h>

#include <memory>
#include <set>

#include "writer.h"

namespace axis {

struct AddonData {
  Napi::FunctionReference errorClass;
  Napi::FunctionReference snapshotClass;
};

void throwStatus(Napi::Env env, const Status& s);

class Snapshot;

class Store : public Napi::ObjectWrap<Store> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Store(const Napi::CallbackInfo& info);
  ~Store() override;

  // Reads of the newest state go through here; the view is renewed after commits.
  View* latest(Napi::Env env);
  uint8_t* keyBuf() const { return keyBuf_; }
  size_t keyBufLen() const { return keyBufLen_; }
  uint8_t* outBuf() const { return outBuf_; }
  size_t outBufLen() const { return outBufLen_; }
  const Dbs& dbs() const { return writer_->dbs(); }
  MDB_env* lmdb() const { return writer_ ? writer_->env() : nullptr; }
  bool open() const { return state_ == kOpen; }
  void forget(Snapshot* s) { snapshots_.erase(s); }

 private:
  Napi::Value Open(const Napi::CallbackInfo& info);
  Napi::Value Get(const Napi::CallbackInfo& info);
  Napi::Value Range(const Napi::CallbackInfo& info);
  Napi::Value History(const Napi::CallbackInfo& info);
  Napi::Value Changes(const Napi::CallbackInfo& info);
  Napi::Value RaftState(const Napi::CallbackInfo& info);
  Napi::Value RaftTerm(const Napi::CallbackInfo& info);
  Napi::Value RaftEntries(const Napi::CallbackInfo& info);
  Napi::Value Applied(const Napi::CallbackInfo& info);
  Napi::Value Leases(const Napi::CallbackInfo& info);
  Napi::Value Lease(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value WaitCompaction(const Napi::CallbackInfo& info);
  Napi::Value TakeSnapshot(const Napi::CallbackInfo& info);
  Napi::Value Status_(const Napi::CallbackInfo& info);
  Napi::Value Revision(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Copy(const Napi::CallbackInfo& info);
  Napi::Value HashKv(const Napi::CallbackInfo& info);
  Napi::Value Alarms(const Napi::CallbackInfo& info);
 public:
  // The copy / hash worker is done (JS thread).
  void copied() { copying_ = false; }
  void hashed() { hashing_--; }

 private:

  Napi::Promise enqueue(Napi::Env env, Job* job);
  void drain(Napi::Env env);
  void shutdown();  // closes every view and the environment; JS thread, writer joined
  static void atExit(void* self);

  enum State { kNew, kOpening, kOpen, kClosing, kClosed } state_ = kNew;
  Config config_;
  std::unique_ptr<WriterThread> writer_;
  Napi::ThreadSafeFunction wake_;
  size_t pending_ = 0;
  View view_;
  uint64_t viewSeq_ = 0;
  bool viewReset_ = false;  // the view's transaction is reset (holds no snapshot) until the next read
  size_t maxSnapshots_ = 0;
  std::set<Snapshot*> snapshots_;
  Napi::ObjectReference keyRef_, outRef_;
  uint8_t* keyBuf_ = nullptr;
  size_t keyBufLen_ = 0;
  uint8_t* outBuf_ = nullptr;
  size_t outBufLen_ = 0;
  napi_env napiEnv_ = nullptr;
  bool hooked_ = false;
  bool copying_ = false;  // one copy() at a time; close() waits for it on the JS side
  int hashing_ = 0;       // hashKv() workers running (at most two); close() waits for them
};

class Snapshot : public Napi::ObjectWrap<Snapshot> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Snapshot(const Napi::CallbackInfo& info);
  ~Snapshot() override;
  void release();  // also called by the store when it closes

 private:
  View* view(Napi::Env env);
  Napi::Value Get(const Napi::CallbackInfo& info);
  Napi::Value Range(const Napi::CallbackInfo& info);
  Napi::Value History(const Napi::CallbackInfo& info);
  Napi::Value Changes(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Revision(const Napi::CallbackInfo& info);
  Napi::Value CompactRevision(const Napi::CallbackInfo& info);

  Store* store_ = nullptr;
  Napi::ObjectReference storeRef_;  // the store outlives its snapshots
  View view_;
};

}  // namespace axis
