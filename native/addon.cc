// Module entry: the JS side hands in its error class, so native errors are AxisErrors with a code.
#include "store.h"

namespace axis {

static Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  info.Env().GetInstanceData<AddonData>()->errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  AddonData* data = new AddonData();
  env.SetInstanceData(data);
  Napi::Function snapshot = Snapshot::Init(env);
  data->snapshotClass = Napi::Persistent(snapshot);
  exports.Set("NativeStore", Store::Init(env));
  exports.Set("NativeSnapshot", snapshot);
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  return exports;
}

}  // namespace axis

static Napi::Object InitAxis(Napi::Env env, Napi::Object exports) { return axis::Init(env, exports); }

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAxis)
