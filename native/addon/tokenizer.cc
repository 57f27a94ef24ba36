// BpeEncoding: the JS-facing handle of a bpe::Encoding (native/bpe/).
//   new BpeEncoding(data: Uint8Array)
//   encodeOrdinary(text: string | Uint8Array, small?: Uint32Array): Uint32Array, or the count of ids written to small
//     (a Uint8Array that is not UTF-8: Encoding::encode_bytes, tiktoken's rule for bytes)
//   countOrdinary(text: string | Uint8Array, limit?: number): number (stops once past limit)
//   decodeBytes(ids: Uint32Array): Uint8Array
//   decodeText(ids: Uint32Array, external?: boolean): string, or undefined when the bytes are not valid UTF-8
//     (external: a large text may stay in the addon's buffer, js_string.h)
//   utf16Offsets(text: string | Uint8Array, ids: Uint32Array): Uint32Array (where each token starts in the text)
//   tokenToId(bytes: Uint8Array): number (-1 when absent)
//   idToBytes(id: number): Uint8Array | null
//   encodeOrdinaryBatchAsync(texts: (string | Uint8Array)[], opts): Promise<{ each, small }>: each[i] the ids
//     of text i, or their count when they are the next ones in `small` (up to 16 ids a text)
//   vocabSize: number, pattern: string, specials: [text, id][]
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "../common/slot_claims.h"
#include "../common/thread_pool.h"
#include "async_job.h"
#include "batch_texts.h"

#include "../bpe/encoding.h"
#include "../bpe/merge_batch.h"
#include "args.h"
#include "exports.h"
#include "js_string.h"

namespace llmk::addon {

namespace {

// A large text on the JS thread is encoded with the caches of a batch's slot 0
// (those of encodeAsync too), not the thread's own: a batch after such calls
// then starts warm (a 2-thread batch of English after four single-thread
// calls took 0.75-0.87 ms longer than one after four encodeAsync calls with
// the thread's own caches, 0.21-0.26 ms with slot 0's). Small texts keep the
// thread's own caches: a lease's lock would weigh on a ten-word call.
struct LargeTextLease {
  explicit LargeTextLease(size_t bytes) {
    if (bytes >= (size_t(64) << 10)) lease.emplace(0);
  }
  std::optional<bpe::Encoding::CacheLease> lease;
};

class BpeEncoding : public Napi::ObjectWrap<BpeEncoding> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BpeEncoding",
                       {InstanceMethod<&BpeEncoding::JS_encodeOrdinary>("encodeOrdinary"),
                        InstanceMethod<&BpeEncoding::JS_countOrdinary>("countOrdinary"),
                        InstanceMethod<&BpeEncoding::JS_encodeOrdinaryBatchAsync>("encodeOrdinaryBatchAsync"),
                        InstanceMethod<&BpeEncoding::JS_decodeBytes>("decodeBytes"),
                        InstanceMethod<&BpeEncoding::JS_decodeText>("decodeText"),
                        InstanceMethod<&BpeEncoding::JS_utf16Offsets>("utf16Offsets"),
                        InstanceMethod<&BpeEncoding::JS_tokenToId>("tokenToId"),
                        InstanceMethod<&BpeEncoding::JS_idToBytes>("idToBytes"),
                        InstanceMethod<&BpeEncoding::JS_mergeBatch>("mergeBatch"),
                        InstanceAccessor<&BpeEncoding::JS_vocabSize>("vocabSize"),
                        InstanceAccessor<&BpeEncoding::JS_pattern>("pattern"),
                        InstanceAccessor<&BpeEncoding::JS_specials>("specials")});
  }

  explicit BpeEncoding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpeEncoding>(info) {
    guarded<&BpeEncoding::construct_checked>(info);
  }

 private:
  static Napi::Value construct_checked(const Napi::CallbackInfo& info) {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw_type(info.Env(), "ERR_LLMK_BAD_ARGUMENT", "data must be a Uint8Array");
    auto data = info[0].As<Napi::Uint8Array>();
    auto* self = Unwrap(info.This().As<Napi::Object>());
    self->enc_ = std::make_shared<bpe::Encoding>(bpe::Encoding::load(data.Data(), data.ElementLength()));
    Napi::MemoryManagement::AdjustExternalMemory(info.Env(), static_cast<int64_t>(data.ElementLength() * 3));
    return info.Env().Undefined();
  }

  // With a second argument `small` (a Uint32Array), ids that fit in it are
  // written there and their count returned: the caller slices them out in
  // JS, where a typed array of up to 64 bytes lives on V8's heap. Made here,
  // every result had a backing store to allocate and later sweep: ~35 % of
  // encoding a ten-word string.
  Napi::Value JS_encodeOrdinary(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      TextArg text(info[0], "text");
      // Reused between calls on this JS thread: a fresh
      // buffer would cost its page faults on every large call.
      thread_local std::vector<bpe::Rank> ids;
      ids.clear();
      ids.reserve(text.size / 3 + 8);
      {
        LargeTextLease lease(text.size);
        if (text.raw) enc_->encode_bytes(text.data, text.size, ids);
        else enc_->encode_ordinary(text.data, text.size, ids);
      }
      if (info.Length() > 1 && !info[1].IsUndefined()) {
        auto small = typed_array<uint32_t>(info[1], "small");
        if (ids.size() <= small.ElementLength()) {
          if (!ids.empty()) std::memcpy(small.Data(), ids.data(), ids.size() * 4);
          return Napi::Value(Napi::Number::New(info.Env(), static_cast<double>(ids.size())));
        }
      }
      Napi::Uint32Array out = ids_to_js(info.Env(), ids.data(), ids.size());
      if (ids.capacity() > (size_t(1) << 22)) std::vector<bpe::Rank>().swap(ids);  // keep at most 16 MiB
      return Napi::Value(out);
    });
  }

  Napi::Value JS_encodeOrdinaryBatchAsync(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      if (!info[0].IsArray()) throw_type(info.Env(), "ERR_LLMK_BAD_ARGUMENT", "texts must be an array");
      Napi::Array arr = info[0].As<Napi::Array>();
      Napi::Object opts = options(info, 1);
      const size_t threads = opt_threads(opts, default_threads());
      auto cancel = opt_cancel(opts);
      // Every argument checked before the pool starts: past that point the
      // copying must not throw for a bad argument.
      std::vector<napi_value> values(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        Napi::Value v = arr.Get(i);
        if (!v.IsString() && !(v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array))
          throw_type(info.Env(), "ERR_LLMK_BAD_ARGUMENT", "texts[i] must be a string or a Uint8Array");
        values[i] = v;
      }
      auto texts = std::make_shared<BatchTexts>(values.size());
      auto results = std::make_shared<std::vector<std::vector<bpe::Rank>>>(texts->size());
      std::shared_ptr<bpe::Encoding> enc = enc_;
      Napi::Value promise = AsyncJob::Start(
          info.Env(),
          [enc, texts, results, threads](const std::atomic<bool>* cancel_flag) {
            // Text i goes to slot i % slots where timing allows, each slot with its own lease:
            // a batch that repeats meets warm caches (2-thread batches of English: ~10 % less
            // time than with texts first come, first served).
            const size_t slots = std::min(threads, texts->size());
            SlotClaims claims(texts->size(), slots);
            run_parallel(
                slots, slots,
                [&](size_t slot) {
                  bpe::Encoding::CacheLease lease(slot);
                  for (size_t step = 0, i; claims.next(slot, step, i);) {
                    if (cancel_flag && cancel_flag->load(std::memory_order_relaxed)) throw Cancelled();
                    if (!texts->wait_for(i)) return;
                    size_t n;
                    const uint8_t* bytes = texts->utf8(i, &thread_buffer<uint8_t>, n);
                    // Into a vector of this slot's own, moved into place once done: results'
                    // adjacent vectors share cache lines, and each appended id writes its
                    // vector's end, which bounced between the cores (false sharing: in a
                    // native harness, 2-thread batches of English ran 1.28-1.38x one thread
                    // with the vectors side by side, 1.67-1.72x with them apart).
                    std::vector<bpe::Rank> ids;
                    ids.reserve(n / 3 + 8);  // as encodeOrdinary: no regrowth on typical text
                    if (texts->raw(i)) enc->encode_bytes(bytes, n, ids);
                    else enc->encode_ordinary(bytes, n, ids);
                    (*results)[i] = std::move(ids);
                    texts->release(i);
                  }
                },
                cancel_flag);
          },
          [results](Napi::Env env, const std::vector<Napi::Value>&) {
            // Results of up to kSmallIds ids go out one after another in one array, the
            // others as arrays of their own: the caller slices the small ones (as
            // encodeOrdinary's `small`).
            constexpr size_t kSmallIds = 16;
            size_t small_total = 0;
            for (const auto& ids : *results) small_total += ids.size() <= kSmallIds ? ids.size() : 0;
            std::vector<bpe::Rank> small;
            small.reserve(small_total);
            Napi::Array each = Napi::Array::New(env, results->size());
            for (uint32_t i = 0; i < results->size(); ++i) {
              const auto& ids = (*results)[i];
              if (ids.size() <= kSmallIds) {
                small.insert(small.end(), ids.begin(), ids.end());
                each.Set(i, Napi::Number::New(env, static_cast<double>(ids.size())));
              } else {
                each.Set(i, ids_to_js(env, ids.data(), ids.size()));
              }
            }
            Napi::Object out = Napi::Object::New(env);
            out.Set("each", each);
            out.Set("small", ids_to_js(env, small.data(), small.size()));
            return Napi::Value(out);
          },
          {info.This()}, cancel);
      // Published every 64 KiB or so: each publication may wake a thread.
      size_t copied = 0, unpublished = 0;
      try {
        for (; copied < values.size(); ++copied) {
          texts->copy(info.Env(), values[copied], copied);
          unpublished += texts->copied_bytes(copied) + 64;
          if (unpublished >= (size_t(64) << 10)) {
            texts->publish(copied + 1);
            unpublished = 0;
          }
        }
      } catch (...) {
        // The pool skips the rest; its promise is dropped, and marked handled
        // so that a rejection (a cancel meanwhile) is not reported as unhandled.
        texts->publish(copied, true);
        promise.As<Napi::Object>().Get("catch").As<Napi::Function>().Call(promise, {Napi::Function::New(info.Env(), [](const Napi::CallbackInfo&) {})});
        throw;
      }
      texts->publish(copied);
      return promise;
    });
  }

  Napi::Value JS_countOrdinary(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      TextArg text(info[0], "text");
      size_t limit = SIZE_MAX;
      if (!info[1].IsUndefined()) {
        if (!info[1].IsNumber()) throw_type(info.Env(), "ERR_LLMK_BAD_ARGUMENT", "limit must be a number");
        const double d = info[1].As<Napi::Number>().DoubleValue();
        if (!(d >= 0)) throw_range(info.Env(), "ERR_LLMK_BAD_ARGUMENT", "limit must be >= 0");
        if (d < 9007199254740992.0) limit = static_cast<size_t>(d);
      }
      LargeTextLease lease(text.size);
      return Napi::Value(Napi::Number::New(info.Env(), static_cast<double>(text.raw ? enc_->count_bytes(text.data, text.size, limit)
                                                                                  : enc_->count_ordinary(text.data, text.size, limit))));
    });
  }

  Napi::Value JS_decodeBytes(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      const std::string& bytes = decode(info[0]);
      Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), bytes.size());
      std::memcpy(out.Data(), bytes.data(), bytes.size());
      return Napi::Value(out);
    });
  }

  // The string is made here, not by a TextDecoder over decodeBytes: no
  // Uint8Array to allocate, ASCII text becomes a one-byte string by a copy,
  // and other text is transcoded to UTF-16 here (V8's own UTF-8 decoding
  // runs at ~200 MB/s on multilingual text). Invalid UTF-8 is left to the
  // caller's replacement rules.
  Napi::Value JS_decodeText(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      const std::string& bytes = decode(info[0]);
      const bool external = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
      return utf8_to_js(info.Env(), reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), external);
    });
  }

  // The bytes of the ids argument, in a buffer reused across calls (callers
  // copy it out): a fresh one would pay a page fault every 4 KiB. One per
  // thread (worker_threads are threads of their own); a large one is freed
  // at the next call.
  const std::string& decode(const Napi::Value& arg) {
    auto ids = typed_array<uint32_t>(arg, "ids");
    thread_local std::string bytes;
    if (bytes.capacity() > (size_t(16) << 20)) std::string().swap(bytes);
    enc_->decode(ids.Data(), ids.ElementLength(), bytes);
    return bytes;
  }

  Napi::Value JS_utf16Offsets(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      TextArg text(info[0], "text");
      auto ids = typed_array<uint32_t>(info[1], "ids");
      std::vector<uint32_t> offsets(ids.ElementLength());
      if (!enc_->utf16_offsets(text.data, text.size, ids.Data(), ids.ElementLength(), offsets.data()))
        throw_range(info.Env(), "ERR_LLMK_BAD_ARGUMENT", "the ids do not spell the text");
      return Napi::Value(ids_to_js(info.Env(), offsets.data(), offsets.size()));
    });
  }

  Napi::Value JS_tokenToId(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      TextArg bytes(info[0], "token");
      const bpe::Rank r = enc_->rank_of(std::string_view(reinterpret_cast<const char*>(bytes.data), bytes.size));
      return Napi::Value(Napi::Number::New(info.Env(), r == bpe::kNoRank ? -1.0 : double(r)));
    });
  }

  Napi::Value JS_idToBytes(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&] {
      if (!info[0].IsNumber()) throw_type(info.Env(), "ERR_LLMK_BAD_ARGUMENT", "id must be a number");
      const double d = info[0].As<Napi::Number>().DoubleValue();
      std::string_view bytes;
      if (!(d >= 0 && d <= 4294967295.0 && d == static_cast<double>(static_cast<uint32_t>(d))) ||
          !enc_->token_bytes(static_cast<uint32_t>(d), bytes))
        return info.Env().Null();
      return Napi::Value(bytes_to_js(info.Env(), bytes.data(), bytes.size()));
    });
  }

  // mergeBatch(sequences: Uint32Array[], maxMerges, boundary: 'pretoken' | 'word')
  //   -> { sequences: Uint32Array[], merges: Uint32Array (left, right pairs), tokens: Uint8Array[] }
  Napi::Value JS_mergeBatch(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      if (!info[0].IsArray()) throw_type(info.Env(), "ERR_LLMK_BAD_ARGUMENT", "sequences must be an array");
      Napi::Array arr = info[0].As<Napi::Array>();
      std::vector<std::vector<uint32_t>> seqs(arr.Length());
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        Napi::Uint32Array a = typed_array<uint32_t>(arr.Get(i), "each sequence");
        seqs[i].assign(a.Data(), a.Data() + a.ElementLength());
      }
      if (!info[1].IsNumber()) throw_type(info.Env(), "ERR_LLMK_BAD_ARGUMENT", "maxMerges must be a number");
      const size_t max_merges = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
      const std::string b = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
      if (b != "pretoken" && b != "word") throw_range(info.Env(), "ERR_LLMK_BAD_OPTION", "boundary must be 'pretoken' or 'word'");
      const auto* enc = enc_.get();
      const auto made = bpe::merge_batch(seqs, max_merges, b == "word" ? bpe::Boundary::Word : bpe::Boundary::Pretoken,
                                         enc->pattern_family(), static_cast<uint32_t>(enc->vocab_size()),
                                         [enc](uint32_t id, std::string_view& out) { return enc->token_bytes(id, out); });
      Napi::Env env = info.Env();
      Napi::Array out_seqs = Napi::Array::New(env, seqs.size());
      for (size_t i = 0; i < seqs.size(); ++i) {
        out_seqs.Set(static_cast<uint32_t>(i), ids_to_js(env, seqs[i].data(), seqs[i].size()));
      }
      Napi::Uint32Array merges = Napi::Uint32Array::New(env, made.size() * 2);
      Napi::Array tokens = Napi::Array::New(env, made.size());
      for (size_t i = 0; i < made.size(); ++i) {
        merges[2 * i] = made[i].left;
        merges[2 * i + 1] = made[i].right;
        tokens.Set(static_cast<uint32_t>(i), bytes_to_js(env, made[i].bytes.data(), made[i].bytes.size()));
      }
      Napi::Object out = Napi::Object::New(env);
      out.Set("sequences", out_seqs);
      out.Set("merges", merges);
      out.Set("tokens", tokens);
      return out;
    });
  }

  Napi::Value JS_vocabSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(enc_->vocab_size()));
  }
  Napi::Value JS_pattern(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), enc_->pattern()); }
  Napi::Value JS_specials(const Napi::CallbackInfo& info) {
    Napi::Array out = Napi::Array::New(info.Env(), enc_->specials().size());
    uint32_t k = 0;
    for (const auto& [text, id] : enc_->specials()) {
      Napi::Array pair = Napi::Array::New(info.Env(), 2);
      pair.Set(0u, Napi::String::New(info.Env(), text));
      pair.Set(1u, Napi::Number::New(info.Env(), id));
      out.Set(k++, pair);
    }
    return out;
  }

  std::shared_ptr<bpe::Encoding> enc_;
};

}  // namespace

void register_tokenizer(Napi::Env env, Napi::Object exports) {
  exports.Set("BpeEncoding", BpeEncoding::Define(env));
}

}  // namespace llmk::addon
