#include "js_string.h"

#include "../bpe/unicode.h"
#include "args.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <optional>
#include <utility>
#include <vector>

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

// The buffers of external strings V8 has collected, kept for the next
// large string: a fresh buffer pays a page fault every 4 KiB (on this
// project's VMs about a sixth of decoding 1 MiB of UDHR text to a string).
// At most kPoolBuffers of them and kPoolBytes in all; any thread may give one
// back (a string's finalizer), so a mutex guards them.
class TextPool {
 public:
  // A kept buffer of `bytes` to twice that (its size in *capacity), or null.
  void* take(size_t bytes, size_t* capacity) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t best = kept_.size();
    for (size_t i = 0; i < kept_.size(); ++i)
      if (kept_[i].second >= bytes && kept_[i].second <= 2 * bytes && (best == kept_.size() || kept_[i].second < kept_[best].second)) best = i;
    if (best == kept_.size()) return nullptr;
    void* p = kept_[best].first;
    *capacity = kept_[best].second;
    total_ -= *capacity;
    kept_.erase(kept_.begin() + static_cast<std::ptrdiff_t>(best));
    return p;
  }
  // Keeps p (of `capacity` bytes) while there is room, or frees it.
  void give(void* p, size_t capacity) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (kept_.size() < kPoolBuffers && total_ + capacity <= kPoolBytes) {
        kept_.emplace_back(p, capacity);
        total_ += capacity;
        return;
      }
    }
    std::free(p);
  }

 private:
  static constexpr size_t kPoolBuffers = 8, kPoolBytes = size_t(32) << 20;
  std::mutex mu_;
  std::vector<std::pair<void*, size_t>> kept_;
  size_t total_ = 0;
};

// Never destroyed: strings may be collected as the process exits.
TextPool& text_pool() {
  static TextPool* pool = new TextPool;
  return *pool;
}

// Room for the text of one string (kept or malloc'd): back to the pool
// unless a string took it over.
class TextBuffer {
 public:
  explicit TextBuffer(size_t bytes) {
    bytes = bytes ? bytes : 1;
    data_ = bytes >= kExternalBytes ? text_pool().take(bytes, &capacity_) : nullptr;
    if (!data_) data_ = std::malloc(bytes), capacity_ = bytes;
    if (!data_) throw std::bad_alloc();
  }
  ~TextBuffer() {
    if (data_) text_pool().give(data_, capacity_);
  }
  TextBuffer(const TextBuffer&) = delete;
  TextBuffer& operator=(const TextBuffer&) = delete;

  char* chars() const { return static_cast<char*>(data_); }
  char16_t* units() const { return static_cast<char16_t*>(data_); }
  size_t capacity() const { return capacity_; }
  // Gives back the room past `bytes` where that is more than a quarter of
  // it (a buffer a little larger than its text is reused whole next time).
  void shrink_to(size_t bytes) {
    if (bytes == 0 || 4 * (capacity_ - std::min(bytes, capacity_)) <= capacity_) return;
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
  text_pool().give(data, capacity);
  int64_t ignored;
  napi_adjust_external_memory(env, -static_cast<int64_t>(capacity), &ignored);
}

// External where the caller allows it, from kExternalBytes of text; below
// V8's longest string (2^29 - 24 units), so that too long a text fails in
// the copying call, with its error.
template <class Create>
bool external_size(bool external, Create* create, size_t bytes, size_t units) {
  return external && create != nullptr && bytes >= kExternalBytes && units <= (size_t(1) << 28);
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
Napi::Value latin1_to_js(Napi::Env env, const char* s, size_t n, bool external) {
  if (!external_size(external, &node_api_create_external_string_latin1, n, n))
    return make_string(env, [&](napi_value* out) { return napi_create_string_latin1(env, s, n, out); });
  TextBuffer copy(n);
  std::memcpy(copy.chars(), s, n);
  return external_string(env, copy, [&](void* data, napi_finalize fin, void* hint, napi_value* out, bool* copied) {
    return node_api_create_external_string_latin1(env, static_cast<char*>(data), n, fin, hint, out, copied);
  });
}

// A string of the n UTF-16 units in `units` (taken over when external; the
// caller has chosen an external string where the text is large enough).
Napi::Value utf16_to_js(Napi::Env env, TextBuffer& units, size_t n) {
  if (!external_size(true, &node_api_create_external_string_utf16, 2 * n, n))
    return make_string(env, [&](napi_value* out) { return napi_create_string_utf16(env, units.units(), n, out); });
  units.shrink_to(2 * n);  // the buffer was sized for the worst case
  return external_string(env, units, [&](void* data, napi_finalize fin, void* hint, napi_value* out, bool* copied) {
    return node_api_create_external_string_utf16(env, static_cast<char16_t*>(data), n, fin, hint, out, copied);
  });
}

}  // namespace

// Text whose characters are all below U+0100 (ASCII, and Western European
// languages) becomes a one-byte string, as V8 keeps such text: half the
// memory of UTF-16, and half the bytes to copy. Other text is converted to
// Latin-1 up to its first character past U+00FF; that part is widened and
// the rest transcoded to UTF-16.
Napi::Value utf8_to_js(Napi::Env env, const uint8_t* s, size_t n, bool external) {
  if (bpe::is_ascii(s, n)) return latin1_to_js(env, reinterpret_cast<const char*>(s), n, external);
  // Latin-1 into this thread's scratch (no allocation for text that turns
  // out otherwise), copied for the string.
  uint8_t* chars = thread_buffer<uint8_t>(n);
  size_t count;
  const size_t done = bpe::utf8_to_latin1(s, n, chars, count);
  if (done == n) return latin1_to_js(env, reinterpret_cast<const char*>(chars), count, external);
  // The UTF-16 in a buffer of its own where the string may be external;
  // this thread's scratch otherwise (the most common call: short text).
  std::optional<TextBuffer> utf16;
  if (external && 2 * n >= kExternalBytes) utf16.emplace(2 * n);
  char16_t* units = utf16 ? utf16->units() : thread_buffer<char16_t>(n);
  std::copy(chars, chars + count, units);
  size_t rest;  // count + rest <= n: no character takes more units than bytes
  if (!bpe::utf8_to_utf16(s + done, n - done, units + count, rest)) return env.Undefined();
  if (utf16) return utf16_to_js(env, *utf16, count + rest);
  return make_string(env, [&](napi_value* out) { return napi_create_string_utf16(env, units, count + rest, out); });
}

}  // namespace llmk::addon
