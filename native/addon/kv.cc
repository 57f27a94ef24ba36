// The KV codec (native/kv/) for JavaScript. Layouts arrive as plain objects
// of numbers, already checked by lib/kv/options.ts; native/kv/ checks them again.
//   kvEncode(data: Float32Array | Uint16Array, layout, opts) -> Uint8Array
//   kvEncodeAsync(...)                                        -> Promise<Uint8Array>
//   kvDecode(bytes: Uint8Array, opts: { tokens?, threads? })  -> { data, layout }
//   kvDecodeAsync(...)                                        -> Promise<same>
//   kvInspect(bytes) -> { layout, tileBytes: Float64Array }
//   new KvStreamEncoder(layout): append(data, tokens), bytes(), tokens
// layout: { dtype: 0 f32 | 1 f16 | 2 bf16, mode: 0 lossless | 1 lossy,
//           kind: 0 key | 1 value | 2 auto, bits, maxError, packed, layers, heads,
//           tokens, headDim, hasLayers, tileTokens }
#include <memory>

#include "../common/thread_pool.h"
#include "../kv/container.h"
#include "args.h"
#include "async_job.h"
#include "exports.h"

namespace llmk::addon {

namespace {

using kv::Layout;

Layout layout_from_js(const Napi::Value& v) {
  if (!v.IsObject()) throw_type(v.Env(), "ERR_LLMK_BAD_ARGUMENT", "layout must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Layout l;
  l.codec.dtype = static_cast<kv::DType>(opt_int(o, "dtype", 0, 2, 0));
  l.codec.mode = static_cast<kv::Mode>(opt_int(o, "mode", 0, 1, 0));
  l.codec.kind = static_cast<kv::Kind>(opt_int(o, "kind", 0, 2, 2));
  l.codec.bits = static_cast<int>(opt_int(o, "bits", 0, 8, 0));
  l.codec.max_error = opt_double(o, "maxError", 0);
  l.codec.packed = opt_bool(o, "packed", false);
  l.layers = static_cast<uint32_t>(opt_int(o, "layers", 1, UINT32_MAX, 1));
  l.heads = static_cast<uint32_t>(opt_int(o, "heads", 1, UINT32_MAX, 1));
  l.tokens = static_cast<uint32_t>(opt_int(o, "tokens", 0, UINT32_MAX, 0));
  l.head_dim = static_cast<uint32_t>(opt_int(o, "headDim", 1, UINT32_MAX, 1));
  l.has_layers = opt_bool(o, "hasLayers", false);
  l.tile_tokens = static_cast<uint32_t>(opt_int(o, "tileTokens", 1, kv::kMaxTileTokens, 256));
  return l;
}

Napi::Object layout_to_js(Napi::Env env, const Layout& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("dtype", static_cast<double>(l.codec.dtype));
  o.Set("mode", static_cast<double>(l.codec.mode));
  o.Set("kind", static_cast<double>(l.codec.kind));
  o.Set("bits", l.codec.bits);
  o.Set("maxError", l.codec.max_error);
  o.Set("packed", l.codec.packed);
  o.Set("layers", l.layers);
  o.Set("heads", l.heads);
  o.Set("tokens", l.tokens);
  o.Set("headDim", l.head_dim);
  o.Set("hasLayers", l.has_layers);
  o.Set("tileTokens", l.tile_tokens);
  return o;
}

// The element data of a tensor in the layout's dtype: Float32Array for f32,
// Uint16Array (raw bits) for f16 and bf16.
Napi::TypedArray tensor_arg(const Napi::Value& v, kv::DType dtype, uint64_t elements, const char* name) {
  const napi_typedarray_type want = dtype == kv::DType::F32 ? napi_float32_array : napi_uint16_array;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
    throw_type(v.Env(), "ERR_LLMK_BAD_ARGUMENT",
               std::string(name) + (dtype == kv::DType::F32 ? " must be a Float32Array for dtype 'f32'"
                                                            : " must be a Uint16Array (raw bits) for dtype 'f16'/'bf16'"));
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  if (a.ElementLength() != elements)
    throw_range(v.Env(), "ERR_LLMK_BAD_SHAPE",
                std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements; the shape needs " +
                    std::to_string(elements));
  return a;
}

Napi::TypedArray new_tensor(Napi::Env env, kv::DType dtype, uint64_t elements) {
  if (elements * kv::dtype_size(dtype) > (uint64_t{1} << 35))
    throw_range(env, "ERR_LLMK_BAD_SHAPE", "the decoded tensor would exceed 32 GiB");
  if (dtype == kv::DType::F32) return Napi::Float32Array::New(env, static_cast<size_t>(elements));
  return Napi::Uint16Array::New(env, static_cast<size_t>(elements));
}

Napi::Uint8Array bytes_arg(const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw_type(v.Env(), "ERR_LLMK_BAD_ARGUMENT", std::string(name) + " must be a Uint8Array");
  return v.As<Napi::Uint8Array>();
}

struct EncodeCall {
  Layout layout;
  Napi::TypedArray data;
  size_t threads;
  std::shared_ptr<std::atomic<bool>> cancel;
  EncodeCall(const Napi::CallbackInfo& info, size_t default_threads_) {
    layout = layout_from_js(info[1]);
    kv::validate_layout(layout);
    data = tensor_arg(info[0], layout.codec.dtype, layout.elements(), "data");
    Napi::Object opts = options(info, 2);
    threads = opt_threads(opts, default_threads_);
    cancel = opt_cancel(opts);
  }
  const void* ptr() const { return static_cast<const uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset(); }
};

// The container of encoded tiles, written straight into a new Uint8Array (one
// copy of the tiles; through a vector it was two, and a fresh vector's pages).
Napi::Value container_to_js(Napi::Env env, const kv::Layout& l, const kv::TileRefs& tiles) {
  void* room;
  napi_value out = new_typed_array(env, napi_uint8_array, 1, kv::assembled_size(tiles), &room);
  kv::assemble_into(l, tiles, static_cast<uint8_t*>(room));
  return Napi::Value(env, out);
}

Napi::Value JS_kvEncode(const Napi::CallbackInfo& info) {
  EncodeCall call(info, 1);
  const kv::Tiles tiles = kv::encode_tiles(call.layout, call.ptr(), call.threads, call.cancel.get());
  return container_to_js(info.Env(), call.layout, kv::refs(tiles));
}

Napi::Value JS_kvEncodeAsync(const Napi::CallbackInfo& info) {
  EncodeCall call(info, default_threads());
  auto result = std::make_shared<kv::Tiles>();
  return AsyncJob::Start(
      info.Env(),
      [l = call.layout, p = call.ptr(), t = call.threads, result](const std::atomic<bool>* cancel) {
        *result = kv::encode_tiles(l, p, t, cancel);
      },
      [l = call.layout, result](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
        return container_to_js(env, l, kv::refs(*result));
      },
      {call.data}, call.cancel);
}

struct DecodeCall {
  Napi::Uint8Array bytes;
  kv::Parsed parsed;
  uint32_t tokens;
  Napi::TypedArray out;
  size_t threads;
  std::shared_ptr<std::atomic<bool>> cancel;
  DecodeCall(const Napi::CallbackInfo& info, size_t default_threads_) {
    bytes = bytes_arg(info[0], "bytes");
    Napi::Object opts = options(info, 1);
    threads = opt_threads(opts, default_threads_);
    cancel = opt_cancel(opts);
    parsed = kv::parse(bytes.Data(), bytes.ByteLength());
    tokens = static_cast<uint32_t>(opt_int(opts, "tokens", 0, parsed.layout.tokens, parsed.layout.tokens));
    Layout l = parsed.layout;
    l.tokens = tokens;
    out = new_tensor(info.Env(), l.codec.dtype, l.elements());
  }
  std::function<void(const std::atomic<bool>*)> work() {
    void* dst = static_cast<uint8_t*>(out.ArrayBuffer().Data()) + out.ByteOffset();
    return [this_parsed = parsed, p = bytes.Data(), n = tokens, dst, t = threads](const std::atomic<bool>* cancel) {
      kv::decode(this_parsed, p, n, dst, t, cancel);
    };
  }
  Napi::Object result(Napi::Env env, const Napi::Value& data) const {
    Layout l = parsed.layout;
    l.tokens = tokens;
    Napi::Object o = Napi::Object::New(env);
    o.Set("data", data);
    o.Set("layout", layout_to_js(env, l));
    o.Set("streamTokens", parsed.layout.tokens);
    return o;
  }
};

Napi::Value JS_kvDecode(const Napi::CallbackInfo& info) {
  DecodeCall call(info, 1);
  call.work()(call.cancel.get());
  return call.result(info.Env(), call.out);
}

Napi::Value JS_kvDecodeAsync(const Napi::CallbackInfo& info) {
  auto call = std::make_shared<DecodeCall>(info, default_threads());
  return AsyncJob::Start(
      info.Env(), call->work(),
      [call](Napi::Env env, const std::vector<Napi::Value>& kept) -> Napi::Value { return call->result(env, kept[1]); },
      {call->bytes, call->out}, call->cancel);
}

Napi::Value JS_kvInspect(const Napi::CallbackInfo& info) {
  Napi::Uint8Array bytes = bytes_arg(info[0], "bytes");
  kv::Parsed parsed = kv::parse(bytes.Data(), bytes.ByteLength());
  Napi::Float64Array sizes = Napi::Float64Array::New(info.Env(), parsed.crcs.size());
  for (size_t i = 0; i < parsed.crcs.size(); ++i)
    sizes[i] = static_cast<double>(parsed.offsets[i + 1] - parsed.offsets[i]);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("layout", layout_to_js(info.Env(), parsed.layout));
  o.Set("tileBytes", sizes);
  return o;
}

class KvStreamEncoder : public Napi::ObjectWrap<KvStreamEncoder> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "KvStreamEncoder",
                       {InstanceMethod<&KvStreamEncoder::JS_append>("append"),
                        InstanceMethod<&KvStreamEncoder::JS_bytes>("bytes"),
                        InstanceAccessor<&KvStreamEncoder::JS_tokens>("tokens")});
  }
  explicit KvStreamEncoder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<KvStreamEncoder>(info) {
    guard(info.Env(), [&] {
      layout_ = layout_from_js(info[0]);
      encoder_ = std::make_unique<kv::StreamEncoder>(layout_);
      return info.Env().Undefined();
    });
  }

 private:
  Napi::Value JS_append(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const int64_t tokens = opt_int_arg(info[1]);
      Napi::TypedArray data = tensor_arg(info[0], layout_.codec.dtype,
                                         static_cast<uint64_t>(layout_.heads) * tokens * layout_.head_dim, "data");
      encoder_->append(static_cast<const uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset(),
                       static_cast<uint32_t>(tokens));
      return info.Env().Undefined();
    });
  }
  Napi::Value JS_bytes(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      kv::Tiles partial;
      return container_to_js(info.Env(), encoder_->layout(), encoder_->tiles(partial));
    });
  }
  Napi::Value JS_tokens(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), encoder_->tokens()); }

  static int64_t opt_int_arg(const Napi::Value& v) {
    if (!v.IsNumber()) throw_type(v.Env(), "ERR_LLMK_BAD_ARGUMENT", "tokens must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= UINT32_MAX && d == static_cast<double>(static_cast<int64_t>(d))))
      throw_range(v.Env(), "ERR_LLMK_BAD_ARGUMENT", "tokens must be an integer >= 0");
    return static_cast<int64_t>(d);
  }

  Layout layout_;
  std::unique_ptr<kv::StreamEncoder> encoder_;
};

}  // namespace

void register_kv(Napi::Env env, Napi::Object exports) {
  exports.Set("kvEncode", Napi::Function::New<guarded<JS_kvEncode>>(env, "kvEncode"));
  exports.Set("kvEncodeAsync", Napi::Function::New<guarded<JS_kvEncodeAsync>>(env, "kvEncodeAsync"));
  exports.Set("kvDecode", Napi::Function::New<guarded<JS_kvDecode>>(env, "kvDecode"));
  exports.Set("kvDecodeAsync", Napi::Function::New<guarded<JS_kvDecodeAsync>>(env, "kvDecodeAsync"));
  exports.Set("kvInspect", Napi::Function::New<guarded<JS_kvInspect>>(env, "kvInspect"));
  exports.Set("KvStreamEncoder", KvStreamEncoder::Define(env));
}

}  // namespace llmk::addon
