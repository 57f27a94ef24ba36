// Argument checks and error conversion for every JS-facing function: the one
// place where JavaScript values become C++ values. Each check throws a JS
// TypeError/RangeError whose message names the argument and whose `code` is
// stable (ERR_LLMK_*), so no caller-supplied value can crash the process.
#pragma once
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>

#include "../common/error.h"

namespace llmk::addon {

[[noreturn]] void throw_type(Napi::Env env, const char* code, const std::string& message);
[[noreturn]] void throw_range(Napi::Env env, const char* code, const std::string& message);
Napi::Error to_js(Napi::Env env, const llmk::Error& e);
// Any exception a kernel may throw, as the JS error a caller should see:
// llmk::Error keeps its kind and code, cancellation becomes an AbortError.
Napi::Error js_error(Napi::Env env, std::exception_ptr error);

// Runs body() so that kernel exceptions reach JS as errors with codes rather
// than as "Unknown failure".
template <class Body>
Napi::Value guard(Napi::Env env, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw js_error(env, std::current_exception());
  }
}

// An exported function run under guard().
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] { return F(info); });
}

template <class T>
Napi::TypedArrayOf<T> typed_array(const Napi::Value& v, const char* name);
extern template Napi::TypedArrayOf<float> typed_array<float>(const Napi::Value&, const char*);
extern template Napi::TypedArrayOf<uint32_t> typed_array<uint32_t>(const Napi::Value&, const char*);
extern template Napi::TypedArrayOf<double> typed_array<double>(const Napi::Value&, const char*);

// The UTF-8 bytes of a string argument, or a view of a Uint8Array argument
// (valid while the call lasts: copy it before leaving the main thread).
// A string's bytes go to this thread's buffer, kept between calls (a fresh
// one pays its page faults on every large call), or to a buffer of their
// own while another TextArg of the thread holds it.
struct TextArg {
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool raw = false;  // a Uint8Array's bytes (maybe not UTF-8), not a string's
  TextArg(const Napi::Value& v, const char* name);
  TextArg(const TextArg&) = delete;
  TextArg& operator=(const TextArg&) = delete;

 private:
  char* room(size_t n);
  // Gives the thread's buffer back; a member, so that a constructor that
  // throws gives it back too.
  struct Hold {
    bool held = false;
    ~Hold();
  };
  std::unique_ptr<char[]> owned_;
  Hold hold_;
};

// A buffer of at least n elements for this thread, kept between calls (a
// fresh one would pay its page faults on every large call); one left from a
// call of more than 16 Mi elements is replaced at the next call.
template <class T>
T* thread_buffer(size_t n) {
  thread_local std::unique_ptr<T[]> buffer;
  thread_local size_t room = 0;
  if (room < n || room > (size_t(16) << 20)) {
    room = n > 4096 ? n : 4096;
    buffer.reset(new T[room]);
  }
  return buffer.get();
}

// A new typed array of `type` with room for n elements of `size` bytes (a
// plain typed array, not a Buffer), its memory in *room for the caller to
// fill. From 16 KiB that memory is not zero-filled first (a Node Buffer's:
// malloc, not calloc; the zeroing was ~14 % of the main thread's work in
// encodeBatch).
napi_value new_typed_array(Napi::Env env, napi_typedarray_type type, size_t size, size_t n, void** room);

// A new typed array of `type` holding a copy of n elements of `size` bytes.
napi_value copy_to_js(Napi::Env env, napi_typedarray_type type, size_t size, const void* data, size_t n);

// A new Uint8Array holding a copy of n bytes.
Napi::Uint8Array bytes_to_js(Napi::Env env, const void* data, size_t n);
// A new Uint32Array holding a copy of n ids.
Napi::Uint32Array ids_to_js(Napi::Env env, const uint32_t* ids, size_t n);

// `undefined` becomes an empty object; anything else must be an object.
Napi::Object options(const Napi::CallbackInfo& info, size_t index);

// An optional integer option in [lo, hi]; `fallback` when absent.
int64_t opt_int(const Napi::Object& opts, const char* name, int64_t lo, int64_t hi, int64_t fallback);
bool opt_bool(const Napi::Object& opts, const char* name, bool fallback);
double opt_double(const Napi::Object& opts, const char* name, double fallback);
// `threads`: the per-call thread count, 1 for synchronous calls by default.
size_t opt_threads(const Napi::Object& opts, size_t fallback);
// `backend`: 'cpu' or 'cuda', already resolved by the TypeScript loader.
bool opt_use_cuda(const Napi::Object& opts);

}  // namespace llmk::addon
