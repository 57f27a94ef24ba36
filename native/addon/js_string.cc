#include "js_string.h"

#include "../bpe/unicode.h"
#include "args.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

// Node-API's external strings (Node >= 20.4; experimental in Node 20's
// headers, stable from Node-API 10), declared here so that the addon keeps
// NAPI_VERSION 8. Weak where the platform has weak imports: a runtime
// without them leaves them null and gets copied strings instead of a
// failed call. Our finalizer is a basic one: it only frees.
#if defined(__GNUC__) && !defined(_WIN32)
#define LLMK_WEAK_IMPORT __attribute__((weak))
#else
#define LLMK_WEAK_IMPORT
#endif
extern "C" {
napi_status node_api_create_external_string_latin1(napi_env, char*, size_t, napi_finalize, void*, napi_value*, bool*) LLMK_WEAK_IMPORT;
napi_status node_api_create_external_string_utf16(napi_env, char16_t*, size_t, napi_finalize, void*, napi_value*, bool*) LLMK_WEAK_IMPORT;
}

namespace llmk::addon {

namespace {

constexpr size_t kExternalBytes = size_t(64) << 10;  // external strings from here up

// Room for the text of one string (malloc'd): freed unless a string took it over.
class TextBuffer {
 public:
  explicit TextBuffer(size_t bytes) : data_(std::malloc(bytes ? bytes : 1)), capacity_(bytes ? bytes : 1) {
    if (!data_) throw std::bad_alloc();
  }
  ~TextBuffer() { std::free(data_); }
  TextBuffer(const TextBuffer&) = delete;
  TextBuffer& operator=(const TextBuffer&) = delete;

  char* chars() const { return static_cast<char*>(data_); }
  char16_t* units() const { return static_cast<char16_t*>(data_); }
  size_t capacity() const { return capacity_; }
  void shrink_to(size_t bytes) {  // gives back the room past `bytes`
    if (bytes == 0 || bytes >= capacity_) return;
    if (void* p = std::realloc(data_, bytes)) data_ = p, capacity_ = bytes;
  }
  void* release() {
    void* p = data_;
    data_ = nullptr;
    return p;
  }

 private:
  void* data_;
  size_t capacity_;
};


// The buffer's capacity is the finalizer's hint. V8 is told of the memory
// both ways, or it would not collect the strings' small handles for a long
// time while their text piled up outside its heap (1000 decodes of 600 KB
// in a loop: RSS +595 MB untold, +130 MB told).
void free_text(napi_env env, void* data, void* hint) {
  const size_t capacity = static_cast<size_t>(reinterpret_cast<uintptr_t>(hint));
  std::free(data);
  int64_t ignored;
  napi_adjust_external_memory(env, -static_cast<int64_t>(capacity), &ignored);
}

// External from kExternalBytes of text; below V8's longest string (2^29 - 24
// units), so that too long a text fails in the copying call, with its error.
template <class Create>
bool external_size(Create* create, size_t bytes, size_t units) {
  return create != nullptr && bytes >= kExternalBytes && units <= (size_t(1) << 28);
}

// A string made by a Node-API call: its status checked before its value is read.
template <class Make>
Napi::Value make_string(Napi::Env env, Make&& make) {
  napi_value out;
  NAPI_THROW_IF_FAILED(env, make(&out), Napi::Value());
  return Napi::Value(env, out);
}

// An external string over the buffer, made by create(data, finalizer, hint, out, copied).
template <class Create>
Napi::Value external_string(Napi::Env env, TextBuffer& text, Create&& create) {
  const size_t capacity = text.capacity();
  void* hint = reinterpret_cast<void*>(static_cast<uintptr_t>(capacity));
  bool copied;  // true in V8 sandbox builds, where Node copies and calls the finalizer at once
  Napi::Value s = make_string(env, [&](napi_value* out) { return create(text.release(), free_text, hint, out, &copied); });
  int64_t ignored;
  napi_adjust_external_memory(env, static_cast<int64_t>(capacity), &ignored);
  return s;
}

// A string of n Latin-1 chars (copied).
Napi::Value latin1_to_js(Napi::Env env, const char* s, size_t n) {
  if (!external_size(&node_api_create_external_string_latin1, n, n))
    return make_string(env, [&](napi_value* out) { return napi_create_string_latin1(env, s, n, out); });
  TextBuffer copy(n);
  std::memcpy(copy.chars(), s, n);
  return external_string(env, copy, [&](void* data, napi_finalize fin, void* hint, napi_value* out, bool* copied) {
    return node_api_create_external_string_latin1(env, static_cast<char*>(data), n, fin, hint, out, copied);
  });
}

// A string of the n UTF-16 units in `units` (taken over when external).
Napi::Value utf16_to_js(Napi::Env env, TextBuffer& units, size_t n) {
  if (!external_size(&node_api_create_external_string_utf16, 2 * n, n))
    return make_string(env, [&](napi_value* out) { return napi_create_string_utf16(env, units.units(), n, out); });
  units.shrink_to(2 * n);  // the buffer was sized for the worst case
  return external_string(env, units, [&](void* data, napi_finalize fin, void* hint, napi_value* out, bool* copied) {
    return node_api_create_external_string_utf16(env, static_cast<char16_t*>(data), n, fin, hint, out, copied);
  });
}

}  // namespace

Napi::Value utf8_to_js(Napi::Env env, const uint8_t* s, size_t n) {
  if (bpe::is_ascii(s, n)) return latin1_to_js(env, reinterpret_cast<const char*>(s), n);
  size_t units;  // at most n
  if (2 * n < kExternalBytes) {
    // Short text, the most common call: this thread's scratch, no allocation.
    char16_t* utf16 = thread_buffer<char16_t>(n);
    if (!bpe::utf8_to_utf16(s, n, utf16, units)) return env.Undefined();
    return make_string(env, [&](napi_value* out) { return napi_create_string_utf16(env, utf16, units, out); });
  }
  TextBuffer utf16(2 * n);
  if (!bpe::utf8_to_utf16(s, n, utf16.units(), units)) return env.Undefined();
  return utf16_to_js(env, utf16, units);
}

}  // namespace llmk::addon
