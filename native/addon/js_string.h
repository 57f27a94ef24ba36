// New JS strings from text the addon has made (decode's output).
//
// From 64 KiB of text up a string is external: V8 keeps the text where the
// addon wrote it and frees it through a finalizer, instead of copying it
// into fresh pages of its own (and scanning UTF-16 for a one-byte form);
// on 1 MiB of multilingual text that copy took as long as decoding the
// tokens.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdlib>

namespace llmk::addon {

// Room for the text of one string (malloc'd): freed unless a string took it over.
class TextBuffer {
 public:
  explicit TextBuffer(size_t bytes);
  ~TextBuffer() { std::free(data_); }
  TextBuffer(TextBuffer&& other) noexcept : data_(other.data_), capacity_(other.capacity_) { other.data_ = nullptr; }
  TextBuffer(const TextBuffer&) = delete;
  TextBuffer& operator=(const TextBuffer&) = delete;
  TextBuffer& operator=(TextBuffer&&) = delete;

  char* chars() const { return static_cast<char*>(data_); }
  char16_t* units() const { return static_cast<char16_t*>(data_); }
  size_t capacity() const { return capacity_; }
  void shrink_to(size_t bytes);  // gives back the room past `bytes`
  void* release() { void* p = data_; data_ = nullptr; return p; }

 private:
  void* data_;
  size_t capacity_;
};

// A string of n Latin-1 chars (copied) or of n UTF-16 units (the buffer's,
// taken over when the string is external).
Napi::Value latin1_to_js(Napi::Env env, const char* s, size_t n);
Napi::Value utf16_to_js(Napi::Env env, TextBuffer units, size_t n);

}  // namespace llmk::addon
