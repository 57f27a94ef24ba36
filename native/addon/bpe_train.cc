// BpeWordCounter: the JS-facing handle of a bpe::WordCounter and its training.
//   new BpeWordCounter(pattern: 'gpt2' | 'cl100k' | 'o200k' | 'whole' | 'superword')
//   addAsync(texts: (string | Uint8Array)[], { lines?, whole?, threads?, cancel? }): Promise<void>
//       each text one sequence, or (lines) each '\n'-terminated line of each text, or
//       (whole) each text one word, not pre-tokenized
//   trainAsync({ vocabSize, minFrequency, initialAlphabet, specialCount, specials, byteOrder?, maxTokenBytes?,
//                transition?, cancel? }, superwords?: BpeWordCounter):   (superwords: SuperBPE's stage 2)
//       Promise<{ tokens: Uint8Array, lengths: Uint32Array, merges: Uint32Array }>
//       tokens: the bytes of ids specialCount.. back to back; merges: (left, right, merged) triples
//   progress(): [mergesDone, mergesTotal] of the running or last training
// Calls on one counter must not overlap (lib/tokenize/train.ts awaits each).
#include <memory>

#include "../bpe/train.h"
#include "../common/thread_pool.h"
#include "args.h"
#include "async_job.h"
#include "exports.h"

namespace llmk::addon {

namespace {

class BpeWordCounter : public Napi::ObjectWrap<BpeWordCounter> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BpeWordCounter",
                       {InstanceMethod<&BpeWordCounter::JS_addAsync>("addAsync"),
                        InstanceMethod<&BpeWordCounter::JS_trainAsync>("trainAsync"),
                        InstanceMethod<&BpeWordCounter::JS_progress>("progress")});
  }

  explicit BpeWordCounter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpeWordCounter>(info) {
    const std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    bpe::Pattern p;
    if (name == "gpt2") p = bpe::Pattern::Gpt2;
    else if (name == "superword") p = bpe::Pattern::Superword;
    else if (name == "cl100k") p = bpe::Pattern::Cl100k;
    else if (name == "o200k") p = bpe::Pattern::O200k;
    else if (name == "whole") p = bpe::Pattern::Whole;
    else throw_range(info.Env(), "ERR_LLMK_BAD_OPTION", "pattern must be 'gpt2', 'cl100k', 'o200k', 'whole' or 'superword'");
    counter_ = std::make_shared<bpe::WordCounter>(p);
  }

 private:
  Napi::Value JS_addAsync(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      if (!info[0].IsArray()) throw_type(info.Env(), "ERR_LLMK_BAD_ARGUMENT", "texts must be an array");
      Napi::Array arr = info[0].As<Napi::Array>();
      auto texts = std::make_shared<std::vector<std::string>>(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        TextArg t(arr.Get(i), "each text");
        (*texts)[i].assign(reinterpret_cast<const char*>(t.data), t.size);
      }
      Napi::Object opts = options(info, 1);
      const bool lines = opt_bool(opts, "lines", false);
      const bool whole = opt_bool(opts, "whole", false);
      const size_t threads = opt_threads(opts, default_threads());
      auto counter = counter_;
      return AsyncJob::Start(
          info.Env(),
          [counter, texts, lines, whole, threads](const std::atomic<bool>* cancel) {
            // One counter per thread, merged at the end (serially: more counters
            // than threads only add merging).
            const size_t chunks = std::min(texts->size(), std::max<size_t>(threads, 1));
            std::vector<bpe::WordCounter> parts(chunks, bpe::WordCounter(counter->pattern()));
            run_parallel(chunks, threads, [&](size_t c) {
              for (size_t i = c; i < texts->size(); i += chunks) {
                const auto* s = reinterpret_cast<const uint8_t*>((*texts)[i].data());
                if (whole) parts[c].add_whole(s, (*texts)[i].size());
                else if (lines) parts[c].add_lines(s, (*texts)[i].size());
                else parts[c].add_text(s, (*texts)[i].size());
              }
            }, cancel);
            for (auto& part : parts) counter->absorb(std::move(part));
          },
          [](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value { return env.Undefined(); }, {},
          opt_cancel(opts));
    });
  }

  Napi::Value JS_trainAsync(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      Napi::Object opts = options(info, 0);
      bpe::TrainOptions o;
      o.vocab_size = static_cast<uint32_t>(opt_int(opts, "vocabSize", 1, UINT32_MAX, 30000));
      o.min_frequency = static_cast<uint64_t>(opt_int(opts, "minFrequency", 0, INT64_C(1) << 53, 0));
      o.initial_alphabet = opt_bool(opts, "initialAlphabet", true);
      o.special_count = static_cast<uint32_t>(opt_int(opts, "specialCount", 0, UINT32_MAX, 0));
      o.byte_order = opt_bool(opts, "byteOrder", false);
      o.max_token_bytes = static_cast<uint32_t>(opt_int(opts, "maxTokenBytes", 0, 255, 0));
      o.transition = static_cast<uint32_t>(opt_int(opts, "transition", 0, UINT32_MAX, 0));
      // SuperBPE: the same corpus counted with the superword pattern.
      std::shared_ptr<bpe::WordCounter> superwords;
      if (info[1].IsObject()) superwords = Napi::ObjectWrap<BpeWordCounter>::Unwrap(info[1].As<Napi::Object>())->counter_;
      Napi::Value specials = opts.Get("specials");
      if (specials.IsArray()) {
        Napi::Array arr = specials.As<Napi::Array>();
        for (uint32_t i = 0; i < arr.Length(); ++i) {
          TextArg t(arr.Get(i), "each special");
          o.specials_as_bytes.emplace_back(reinterpret_cast<const char*>(t.data), t.size);
        }
      }
      if (o.specials_as_bytes.size() != o.special_count)
        throw_range(info.Env(), "ERR_LLMK_BAD_OPTION", "specials must have specialCount entries");
      auto counter = counter_;
      auto progress = progress_;
      progress->done = 0;
      progress->total = 0;
      auto result = std::make_shared<bpe::TrainResult>();
      return AsyncJob::Start(
          info.Env(),
          [counter, superwords, progress, result, o](const std::atomic<bool>* cancel) {
            *result = bpe::train(*counter, o, progress.get(), cancel, superwords.get());
          },
          [result](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
            size_t total = 0;
            for (const auto& t : result->tokens) total += t.size();
            Napi::Uint8Array tokens = Napi::Uint8Array::New(env, total);
            Napi::Uint32Array lengths = Napi::Uint32Array::New(env, result->tokens.size());
            size_t at = 0;
            for (size_t i = 0; i < result->tokens.size(); ++i) {
              std::memcpy(tokens.Data() + at, result->tokens[i].data(), result->tokens[i].size());
              at += result->tokens[i].size();
              lengths[i] = static_cast<uint32_t>(result->tokens[i].size());
            }
            Napi::Uint32Array merges = Napi::Uint32Array::New(env, result->merges.size() * 3);
            for (size_t i = 0; i < result->merges.size(); ++i)
              for (int k = 0; k < 3; ++k) merges[3 * i + k] = result->merges[i][k];
            Napi::Object out = Napi::Object::New(env);
            out.Set("tokens", tokens);
            out.Set("lengths", lengths);
            out.Set("merges", merges);
            return out;
          },
          {}, opt_cancel(opts));
    });
  }

  Napi::Value JS_progress(const Napi::CallbackInfo& info) {
    Napi::Array out = Napi::Array::New(info.Env(), 2);
    out.Set(0u, static_cast<double>(progress_->done.load()));
    out.Set(1u, static_cast<double>(progress_->total.load()));
    return out;
  }

  std::shared_ptr<bpe::WordCounter> counter_;
  std::shared_ptr<bpe::TrainProgress> progress_ = std::make_shared<bpe::TrainProgress>();
};

}  // namespace

void register_bpe_train(Napi::Env env, Napi::Object exports) {
  exports.Set("BpeWordCounter", BpeWordCounter::Define(env));
}

}  // namespace llmk::addon
