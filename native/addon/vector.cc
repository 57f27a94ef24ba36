// vectorAdd(a, b, opts) and vectorAddAsync(a, b, opts): the foundation's
// proof kernel, on the CPU pool or on CUDA (opts.backend).
#include "../common/cuda_api.h"
#include "../common/thread_pool.h"
#include "../vector/vector_add.h"
#include "args.h"
#include "async_job.h"
#include "exports.h"

namespace llmk::addon {

namespace {

struct VectorAddCall {
  Napi::Float32Array a, b, out;
  size_t threads;
  bool cuda;
  std::shared_ptr<std::atomic<bool>> cancel;

  VectorAddCall(const Napi::CallbackInfo& info, size_t default_threads_) {
    a = typed_array<float>(info[0], "a");
    b = typed_array<float>(info[1], "b");
    if (a.ElementLength() != b.ElementLength())
      throw_range(info.Env(), "ERR_LLMK_BAD_SHAPE",
                  "a and b must have the same length (got " + std::to_string(a.ElementLength()) + " and " +
                      std::to_string(b.ElementLength()) + ")");
    Napi::Object opts = options(info, 2);
    threads = opt_threads(opts, default_threads_);
    cuda = opt_use_cuda(opts);
    cancel = opt_cancel(opts);
    out = Napi::Float32Array::New(info.Env(), a.ElementLength());
  }

  // Runs off the main thread in the async form: raw pointers only.
  std::function<void(const std::atomic<bool>*)> work() {
    const float* pa = a.Data();
    const float* pb = b.Data();
    float* po = out.Data();
    size_t n = a.ElementLength(), t = threads;
    bool use_cuda = cuda;
    return [=](const std::atomic<bool>* cancel_flag) {
      if (use_cuda)
        cuda::vector_add(pa, pb, po, n);
      else
        vector_add(pa, pb, po, n, t, cancel_flag);
    };
  }
};

Napi::Value JS_vectorAdd(const Napi::CallbackInfo& info) {
  VectorAddCall call(info, 1);
  call.work()(call.cancel.get());
  return call.out;
}

Napi::Value JS_vectorAddAsync(const Napi::CallbackInfo& info) {
  VectorAddCall call(info, default_threads());
  return AsyncJob::Start(
      info.Env(), call.work(), [](Napi::Env, const std::vector<Napi::Value>& kept) { return kept[2]; },
      {call.a, call.b, call.out}, call.cancel);
}

}  // namespace

void register_vector(Napi::Env env, Napi::Object exports) {
  exports.Set("vectorAdd", Napi::Function::New<guarded<JS_vectorAdd>>(env, "vectorAdd"));
  exports.Set("vectorAddAsync", Napi::Function::New<guarded<JS_vectorAddAsync>>(env, "vectorAddAsync"));
}

}  // namespace llmk::addon
