// bleuStats(candTokens, candOffsets, refTokens, refOffsets, refGroups, opts)
// and bleuStatsAsync(...): the integer BLEU statistics of a packed batch
// (see native/bleu/bleu.h for the layout). Scoring is done in lib/bleu/.
#include "../bleu/bleu.h"
#include "../common/cuda_api.h"
#include "../common/thread_pool.h"
#include "args.h"
#include "async_job.h"
#include "exports.h"

namespace llmk::addon {

namespace {

struct BleuStatsCall {
  Napi::Uint32Array cand_tokens, cand_offsets, ref_tokens, ref_offsets, ref_groups, out;
  bleu::Batch batch;
  int max_order;
  size_t threads;
  bool cuda;
  std::shared_ptr<std::atomic<bool>> cancel;

  BleuStatsCall(const Napi::CallbackInfo& info, size_t default_threads_) {
    cand_tokens = typed_array<uint32_t>(info[0], "candTokens");
    cand_offsets = typed_array<uint32_t>(info[1], "candOffsets");
    ref_tokens = typed_array<uint32_t>(info[2], "refTokens");
    ref_offsets = typed_array<uint32_t>(info[3], "refOffsets");
    ref_groups = typed_array<uint32_t>(info[4], "refGroups");
    Napi::Object opts = options(info, 5);
    max_order = static_cast<int>(opt_int(opts, "maxOrder", 1, bleu::kMaxOrder, 4));
    threads = opt_threads(opts, default_threads_);
    cuda = opt_use_cuda(opts);
    cancel = opt_cancel(opts);
    if (cand_offsets.ElementLength() < 1 || ref_offsets.ElementLength() < 1)
      throw_range(info.Env(), "ERR_LLMK_BAD_SHAPE", "candOffsets and refOffsets need at least one entry (0)");
    if (ref_groups.ElementLength() != cand_offsets.ElementLength())
      throw_range(info.Env(), "ERR_LLMK_BAD_SHAPE", "refGroups must have one entry per candidate plus one");
    batch.cand_tokens = cand_tokens.Data();
    batch.cand_tokens_len = cand_tokens.ElementLength();
    batch.cand_offsets = cand_offsets.Data();
    batch.n_cand = cand_offsets.ElementLength() - 1;
    batch.ref_tokens = ref_tokens.Data();
    batch.ref_tokens_len = ref_tokens.ElementLength();
    batch.ref_offsets = ref_offsets.Data();
    batch.n_refs = ref_offsets.ElementLength() - 1;
    batch.ref_groups = ref_groups.Data();
    bleu::validate(batch, max_order);
    out = Napi::Uint32Array::New(info.Env(), batch.n_cand * bleu::stats_width(max_order));
  }

  std::function<void(const std::atomic<bool>*)> work() {
    uint32_t* po = out.Data();
    return [b = batch, n = max_order, t = threads, use_cuda = cuda, po](const std::atomic<bool>* cancel_flag) {
      if (use_cuda)
        cuda::bleu_stats(b, n, po);
      else
        bleu::compute_stats(b, n, po, t, cancel_flag);
    };
  }
};

Napi::Value JS_bleuStats(const Napi::CallbackInfo& info) {
  BleuStatsCall call(info, 1);
  call.work()(call.cancel.get());
  return call.out;
}

Napi::Value JS_bleuStatsAsync(const Napi::CallbackInfo& info) {
  BleuStatsCall call(info, default_threads());
  return AsyncJob::Start(
      info.Env(), call.work(), [](Napi::Env, const std::vector<Napi::Value>& kept) { return kept[5]; },
      {call.cand_tokens, call.cand_offsets, call.ref_tokens, call.ref_offsets, call.ref_groups, call.out},
      call.cancel);
}

}  // namespace

void register_bleu(Napi::Env env, Napi::Object exports) {
  exports.Set("bleuStats", Napi::Function::New<guarded<JS_bleuStats>>(env, "bleuStats"));
  exports.Set("bleuStatsAsync", Napi::Function::New<guarded<JS_bleuStatsAsync>>(env, "bleuStatsAsync"));
}

}  // namespace llmk::addon
