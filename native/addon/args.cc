#include "args.h"

#include "../bpe/unicode.h"

#include <cmath>
#include <cstring>
#include <type_traits>

namespace llmk::addon {

namespace {
const char* typed_array_name(napi_typedarray_type t) {
  switch (t) {
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_uint32_array: return "Uint32Array";
    default: return "TypedArray";
  }
}
}  // namespace

void throw_type(Napi::Env env, const char* code, const std::string& message) {
  Napi::TypeError err = Napi::TypeError::New(env, message);
  err.Set("code", code);
  throw err;
}

void throw_range(Napi::Env env, const char* code, const std::string& message) {
  Napi::RangeError err = Napi::RangeError::New(env, message);
  err.Set("code", code);
  throw err;
}

Napi::Error to_js(Napi::Env env, const llmk::Error& e) {
  Napi::Error err = e.kind() == ErrorKind::Type    ? Napi::TypeError::New(env, e.what())
                    : e.kind() == ErrorKind::Range ? Napi::RangeError::New(env, e.what())
                                                   : Napi::Error::New(env, e.what());
  err.Set("code", e.code());
  return err;
}

Napi::Error js_error(Napi::Env env, std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const Napi::Error& e) {
    return e;
  } catch (const llmk::Error& e) {
    return to_js(env, e);
  } catch (const llmk::Cancelled&) {
    Napi::Error err = Napi::Error::New(env, "The operation was aborted");
    err.Set("name", "AbortError");
    err.Set("code", "ABORT_ERR");
    return err;
  } catch (const std::bad_alloc&) {
    Napi::RangeError err = Napi::RangeError::New(env, "out of memory");
    err.Set("code", "ERR_LLMK_OUT_OF_MEMORY");
    return err;
  } catch (const std::exception& e) {
    Napi::Error err = Napi::Error::New(env, std::string("internal error: ") + e.what());
    err.Set("code", "ERR_LLMK_INTERNAL");
    return err;
  }
}

template <class T>
Napi::TypedArrayOf<T> typed_array(const Napi::Value& v, const char* name) {
  napi_typedarray_type expected = std::is_same<T, float>::value      ? napi_float32_array
                                  : std::is_same<T, double>::value   ? napi_float64_array
                                                                     : napi_uint32_array;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != expected)
    throw_type(v.Env(), "ERR_LLMK_BAD_ARGUMENT", std::string(name) + " must be a " + typed_array_name(expected));
  return v.As<Napi::TypedArrayOf<T>>();
}
template Napi::TypedArrayOf<float> typed_array<float>(const Napi::Value&, const char*);
template Napi::TypedArrayOf<uint32_t> typed_array<uint32_t>(const Napi::Value&, const char*);
template Napi::TypedArrayOf<double> typed_array<double>(const Napi::Value&, const char*);

namespace {
// This thread's text buffer, and whether a TextArg holds it.
thread_local std::unique_ptr<char[]> text_buffer;
thread_local size_t text_buffer_size = 0;
thread_local bool text_buffer_held = false;
constexpr size_t kKeptBytes = size_t(16) << 20;  // a larger text gets a buffer of its own
// Strings this long are converted by us (one more call: not worth it on a few words).
constexpr size_t kCopyUnitsFrom = 256;
}  // namespace

char* TextArg::room(size_t n) {
  if (text_buffer_held || n > kKeptBytes) {
    owned_.reset(new char[n]);
    return owned_.get();
  }
  if (text_buffer_size < n) {
    text_buffer.reset(new char[n]);
    text_buffer_size = n;
  }
  text_buffer_held = hold_.held = true;
  return text_buffer.get();
}

TextArg::Hold::~Hold() {
  if (held) text_buffer_held = false;
}

TextArg::TextArg(const Napi::Value& v, const char* name) {
  if (v.IsString()) {
    const napi_env env = v.Env();
    size_t units = 0;
    napi_status st = napi_get_value_string_utf16(env, v, nullptr, 0, &units);
    if (st == napi_ok && units >= kCopyUnitsFrom) {
      // V8's own UTF-8 runs at ~0.5 GB/s on a two-byte string and ~2.5 on
      // a one-byte one; a copy of the units with our conversion is several
      // times faster (the same bytes). An ASCII string's Latin-1 copy is
      // ~12 % faster still on a one-byte string, but telling an ASCII
      // string from a wide one whose characters' low bytes are ASCII took
      // V8's UTF-8 length, 0.5 ms a MB on two-byte strings (slices of any
      // text with one non-ASCII character are two-byte).
      char* out = room(5 * units + 2);  // the units, then 3 bytes a unit
      uint8_t* utf8 = reinterpret_cast<uint8_t*>(out + 2 * units + 2);
      char16_t* utf16 = reinterpret_cast<char16_t*>(out);
      size_t copied = 0;
      st = napi_get_value_string_utf16(env, v, utf16, units + 1, &copied);
      if (st == napi_ok && copied != units) st = napi_generic_failure;
      if (st == napi_ok) size = bpe::utf16_to_utf8(utf16, units, utf8);
      data = utf8;
    } else if (st == napi_ok) {
      // A UTF-16 unit is at most 3 UTF-8 bytes (a lone surrogate becomes U+FFFD).
      char* out = room(3 * units + 1);
      st = napi_get_value_string_utf8(env, v, out, 3 * units + 1, &size);
      data = reinterpret_cast<const uint8_t*>(out);
    }
    if (st != napi_ok) throw Napi::Error::New(env);
  } else if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    auto a = v.As<Napi::Uint8Array>();
    data = a.Data();
    size = a.ElementLength();
    raw = true;
  } else {
    throw_type(v.Env(), "ERR_LLMK_BAD_ARGUMENT", std::string(name) + " must be a string or a Uint8Array");
  }
}

napi_value new_typed_array(Napi::Env env, napi_typedarray_type type, size_t size, size_t n, void** room) {
  napi_value buffer, array_buffer, out;
  if (n * size < (size_t(16) << 10)) {
    NAPI_THROW_IF_FAILED(env, napi_create_arraybuffer(env, n * size, room, &array_buffer), nullptr);
  } else {
    NAPI_THROW_IF_FAILED(env, napi_create_buffer(env, n * size, room, &buffer), nullptr);
    NAPI_THROW_IF_FAILED(env, napi_get_typedarray_info(env, buffer, nullptr, nullptr, nullptr, &array_buffer, nullptr), nullptr);
  }
  NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, type, n, array_buffer, 0, &out), nullptr);
  return out;
}

napi_value copy_to_js(Napi::Env env, napi_typedarray_type type, size_t size, const void* data, size_t n) {
  void* room;
  napi_value out = new_typed_array(env, type, size, n, &room);
  if (n) std::memcpy(room, data, n * size);
  return out;
}

Napi::Uint8Array bytes_to_js(Napi::Env env, const void* data, size_t n) {
  return Napi::Uint8Array(env, copy_to_js(env, napi_uint8_array, 1, data, n));
}

Napi::Uint32Array ids_to_js(Napi::Env env, const uint32_t* ids, size_t n) {
  return Napi::Uint32Array(env, copy_to_js(env, napi_uint32_array, 4, ids, n));
}

Napi::Object options(const Napi::CallbackInfo& info, size_t index) {
  Napi::Value v = info[index];
  if (v.IsUndefined()) return Napi::Object::New(info.Env());
  if (!v.IsObject() || v.IsArray())
    throw_type(info.Env(), "ERR_LLMK_BAD_ARGUMENT", "options must be an object");
  return v.As<Napi::Object>();
}

int64_t opt_int(const Napi::Object& opts, const char* name, int64_t lo, int64_t hi, int64_t fallback) {
  Napi::Value v = opts.Get(name);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw_type(opts.Env(), "ERR_LLMK_BAD_OPTION", std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) || d > static_cast<double>(hi))
    throw_range(opts.Env(), "ERR_LLMK_BAD_OPTION",
                std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int64_t>(d);
}

bool opt_bool(const Napi::Object& opts, const char* name, bool fallback) {
  Napi::Value v = opts.Get(name);
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) throw_type(opts.Env(), "ERR_LLMK_BAD_OPTION", std::string(name) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

double opt_double(const Napi::Object& opts, const char* name, double fallback) {
  Napi::Value v = opts.Get(name);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw_type(opts.Env(), "ERR_LLMK_BAD_OPTION", std::string(name) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

size_t opt_threads(const Napi::Object& opts, size_t fallback) {
  return static_cast<size_t>(opt_int(opts, "threads", 1, 1024, static_cast<int64_t>(fallback)));
}

bool opt_use_cuda(const Napi::Object& opts) {
  Napi::Value v = opts.Get("backend");
  if (v.IsUndefined()) return false;
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s != "cpu" && s != "cuda")
    throw_type(opts.Env(), "ERR_LLMK_BAD_OPTION", "backend must be 'cpu' or 'cuda'");
  return s == "cuda";
}

}  // namespace llmk::addon
