#include "reads.h"

#include "raftlog.h"
#include "store.h"

namespace axis {

static uint64_t u64Arg(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<uint64_t>(info[i].As<Napi::Number>().Int64Value());
}

Napi::Value readGet(const Napi::CallbackInfo& info, View& view, const ReadBuffers& bufs) {
  Napi::Env env = info.Env();
  size_t keyLen = info[0].As<Napi::Number>().Uint32Value();
  uint64_t at;
  Status s = view.resolve(u64Arg(info, 1), at);
  Version v;
  bool found = false;
  if (s.ok()) s = findVersion(view.hist, bufs.key, keyLen, at, v, found);
  if (!s.ok()) {
    throwStatus(env, s);
    return env.Undefined();
  }
  if (!found || v.tombstone()) return Napi::Number::New(env, -1);
  size_t size = 40 + v.keyLen + v.valueLen;
  if (size <= bufs.outLen) {
    uint8_t* p = bufs.out;
    memcpy(p, &v.create, 8);
    memcpy(p + 8, &v.rev, 8);
    memcpy(p + 16, &v.version, 8);
    memcpy(p + 24, &v.lease, 8);
    uint32_t kl = static_cast<uint32_t>(v.keyLen), vl = static_cast<uint32_t>(v.valueLen);
    memcpy(p + 32, &kl, 4);
    memcpy(p + 36, &vl, 4);
    memcpy(p + 40, v.key, v.keyLen);
    memcpy(p + 40 + v.keyLen, v.value, v.valueLen);
    return Napi::Number::New(env, static_cast<double>(size));
  }
  Writer w;
  writeKv(w, v, false);
  return Napi::Buffer<char>::Copy(env, w.buf.data(), w.buf.size());
}

static Napi::Value finish(Napi::Env env, const Status& s, const Writer& w) {
  if (!s.ok()) {
    throwStatus(env, s);
    return env.Undefined();
  }
  return Napi::Buffer<char>::Copy(env, w.buf.data(), w.buf.size());
}

Napi::Value readRange(const Napi::CallbackInfo& info, View& view) {
  auto req = info[0].As<Napi::Buffer<uint8_t>>();
  Reader in(req.Data(), req.Length());
  KeyRange range;
  RangeOpts opts;
  bool ok = range.read(in);
  opts.read(in);
  Writer w;
  w.u64(view.rev);
  if (!ok || !in.ok) return finish(info.Env(), Status::Error("AXIS_INVALID_ARGUMENT", "malformed range request"), w);
  // An optional second argument: the most bytes of key-values the answer may hold (0: no bound).
  uint64_t maxBytes = info.Length() > 1 && info[1].IsNumber() ? u64Arg(info, 1) : 0;
  return finish(info.Env(), scanRange(view, range, opts, w, maxBytes == 0 ? 0 : w.mark() + maxBytes), w);
}

Napi::Value readHistory(const Napi::CallbackInfo& info, View& view, const ReadBuffers& bufs) {
  size_t keyLen = info[0].As<Napi::Number>().Uint32Value();
  Writer w;
  return finish(info.Env(), scanHistory(view, bufs.key, keyLen, u64Arg(info, 1), u64Arg(info, 2), w), w);
}

Napi::Value readChanges(const Napi::CallbackInfo& info, View& view) {
  Writer w;
  w.u64(view.rev);
  return finish(info.Env(), scanChanges(view, u64Arg(info, 0), u64Arg(info, 1), u64Arg(info, 2), w), w);
}

Napi::Value readRaftState(const Napi::CallbackInfo& info, View& view, const Dbs& dbs) {
  Writer w;
  return finish(info.Env(), raftState(view.txn, dbs, w), w);
}

Napi::Value readRaftTerm(const Napi::CallbackInfo& info, View& view, const Dbs& dbs) {
  Napi::Env env = info.Env();
  int64_t term = 0;
  Status s = raftTerm(view.txn, dbs, u64Arg(info, 0), term);
  if (!s.ok()) {
    throwStatus(env, s);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(term));
}

Napi::Value readRaftEntries(const Napi::CallbackInfo& info, View& view, const Dbs& dbs) {
  Writer w;
  int64_t code = 0;
  Status s = raftEntries(view.txn, dbs, u64Arg(info, 0), u64Arg(info, 1), u64Arg(info, 2), w, code);
  if (s.ok() && code != 0) return Napi::Number::New(info.Env(), static_cast<double>(code));
  return finish(info.Env(), s, w);
}

}  // namespace axis
