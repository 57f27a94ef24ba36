#include "async_job.h"

#include "args.h"

namespace llmk::addon {

AsyncJob::AsyncJob(Napi::Env env, Work work, Finish finish, std::shared_ptr<std::atomic<bool>> cancel)
    : Napi::AsyncWorker(env, "llm-kernels"),
      deferred_(Napi::Promise::Deferred::New(env)),
      work_(std::move(work)),
      finish_(std::move(finish)),
      cancel_(std::move(cancel)) {}

Napi::Promise AsyncJob::Start(Napi::Env env, Work work, Finish finish, const std::vector<Napi::Value>& keep,
                              std::shared_ptr<std::atomic<bool>> cancel) {
  auto* job = new AsyncJob(env, std::move(work), std::move(finish), std::move(cancel));
  for (const auto& v : keep) job->keep_.push_back(Napi::Persistent(v));
  Napi::Promise promise = job->deferred_.Promise();
  job->Queue();  // deletes itself after OnOK/OnError
  return promise;
}

void AsyncJob::Execute() {
  try {
    work_(cancel_.get());
  } catch (...) {
    error_ = std::current_exception();
  }
}

void AsyncJob::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (error_) {
    deferred_.Reject(js_error(env, error_).Value());
    return;
  }
  try {
    std::vector<Napi::Value> kept;
    for (auto& ref : keep_) kept.push_back(ref.Value());
    deferred_.Resolve(finish_(env, kept));
  } catch (...) {
    deferred_.Reject(js_error(env, std::current_exception()).Value());
  }
}

void AsyncJob::OnError(const Napi::Error& e) { deferred_.Reject(e.Value()); }

Napi::Function CancelToken::Define(Napi::Env env) {
  return DefineClass(env, "CancelToken", {InstanceMethod<&CancelToken::JS_cancel>("cancel")});
}

CancelToken::CancelToken(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CancelToken>(info) {}

Napi::Value CancelToken::JS_cancel(const Napi::CallbackInfo& info) {
  flag_->store(true);
  return info.Env().Undefined();
}

std::shared_ptr<std::atomic<bool>> opt_cancel(const Napi::Object& opts) {
  Napi::Value v = opts.Get("cancel");
  if (v.IsUndefined()) return nullptr;
  auto* ctor = opts.Env().GetInstanceData<Napi::FunctionReference>();
  if (!v.IsObject() || !ctor || !v.As<Napi::Object>().InstanceOf(ctor->Value()))
    throw_type(opts.Env(), "ERR_LLMK_BAD_OPTION", "cancel must be a CancelToken");
  return CancelToken::Unwrap(v.As<Napi::Object>())->flag();
}

}  // namespace llmk::addon
