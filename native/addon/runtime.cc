// info(), setThreads(), getThreads(): facts about this binary and its pool.
#include "../common/cpu.h"
#include "../common/cuda_api.h"
#include "../common/thread_pool.h"
#include "args.h"
#include "exports.h"

namespace llmk::addon {

namespace {

Napi::Value JS_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("cpuPath", cpu_path_name(cpu_path()));
  out.Set("cpuHasAvx2Fma", cpu_has_avx2_fma());
  out.Set("threads", static_cast<double>(default_threads()));
  out.Set("hardwareThreads", static_cast<double>(hardware_threads()));
  out.Set("cudaCompiled", cuda::compiled());
  std::string why;
  auto devices = cuda::devices(&why);
  Napi::Array list = Napi::Array::New(env, devices.size());
  for (size_t i = 0; i < devices.size(); ++i) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", devices[i].name);
    d.Set("computeCapability", std::to_string(devices[i].major) + "." + std::to_string(devices[i].minor));
    d.Set("memoryBytes", static_cast<double>(devices[i].memory_bytes));
    list.Set(static_cast<uint32_t>(i), d);
  }
  out.Set("cudaDevices", list);
  out.Set("cudaReason", devices.empty() ? Napi::Value(Napi::String::New(env, why)) : env.Null());
  return out;
}

Napi::Value JS_setThreads(const Napi::CallbackInfo& info) {
  Napi::Value v = info[0];
  if (!v.IsNumber()) throw_type(info.Env(), "ERR_LLMK_BAD_THREADS", "threads must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 1 && d <= 1024) || d != static_cast<double>(static_cast<int64_t>(d)))
    throw_range(info.Env(), "ERR_LLMK_BAD_THREADS", "threads must be an integer in [1, 1024]");
  set_default_threads(static_cast<size_t>(d));
  return info.Env().Undefined();
}

Napi::Value JS_getThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(default_threads()));
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New<guarded<JS_info>>(env, "info"));
  exports.Set("setThreads", Napi::Function::New<guarded<JS_setThreads>>(env, "setThreads"));
  exports.Set("getThreads", Napi::Function::New<guarded<JS_getThreads>>(env, "getThreads"));
}

}  // namespace llmk::addon
