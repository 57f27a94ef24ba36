// Module entry point. Context-aware: every Node environment (the main thread
// and each worker_thread) gets its own exports and instance data, and all of
// them share the one thread pool, which the last environment to exit joins.
#include <napi.h>

#include "../common/thread_pool.h"
#include "async_job.h"
#include "exports.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  llmk::retain_env_pool();
  env.AddCleanupHook([] { llmk::release_env_pool(); });

  Napi::Function token = llmk::addon::CancelToken::Define(env);
  env.SetInstanceData(new Napi::FunctionReference(Napi::Persistent(token)));
  exports.Set("CancelToken", token);

  llmk::addon::register_runtime(env, exports);
  llmk::addon::register_vector(env, exports);
  llmk::addon::register_bleu(env, exports);
  llmk::addon::register_tokenizer(env, exports);
  llmk::addon::register_kv(env, exports);
  llmk::addon::register_bpe_train(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(llm_kernels, Init)
