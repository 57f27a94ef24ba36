// The texts of one encodeBatch call, copied on the main thread (the pool may
// not touch JS values) and handed to the pool as they are copied: the pool
// starts on the first texts while the rest are still being copied (the
// copying was ~8 % of a 2-thread batch of English, spent before any
// encoding began). The pool's slots take their texts in order and block,
// never spin, until the next one is copied.
//
// The main thread waits for a copy, not a conversion: a string is copied as
// its UTF-16 units, made UTF-8 on the pool. (Copying an ASCII string as its
// Latin-1 bytes took V8's UTF-8 length to tell it from a wide string whose
// characters' low bytes are ASCII: half of the main thread's time in a batch
// of e-mail, whose slices are two-byte strings.)
#pragma once
#include <napi.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace llmk::addon {

class BatchTexts {
 public:
  explicit BatchTexts(size_t n) : text_(n) {}
  size_t size() const { return text_.size(); }

  // Main thread: copies the string or Uint8Array v (already checked to be
  // one) as text i. Throws a JS error on a failed Node-API call.
  void copy(napi_env env, napi_value v, size_t i);
  // The bytes text i took to copy (its units count two each).
  size_t copied_bytes(size_t i) const { return text_[i].n_bytes + 2 * text_[i].n_units; }
  // Texts [0, count) are copied; `failed`: the rest never will be.
  void publish(size_t count, bool failed = false);

  // Pool: waits until text i is copied; false if it never will be.
  bool wait_for(size_t i);
  // Text i as UTF-8 (converted into `scratch`, room for 3 bytes a unit,
  // when it was copied as units); valid until release(i).
  const uint8_t* utf8(size_t i, uint8_t* (*scratch)(size_t), size_t& n);
  // Whether text i came as a Uint8Array (bytes that may not be UTF-8).
  bool raw(size_t i) const { return text_[i].raw; }
  void release(size_t i);

 private:
  struct Text {
    std::unique_ptr<char[]> bytes;      // a Uint8Array's bytes
    size_t n_bytes = 0;
    std::unique_ptr<char16_t[]> units;  // or a string's units (neither zero-filled first)
    size_t n_units = 0;
    bool raw = false;
  };

  std::vector<Text> text_;
  std::mutex mu_;
  std::condition_variable ready_cv_;
  size_t ready_ = 0;
  bool failed_ = false;
};

}  // namespace llmk::addon
