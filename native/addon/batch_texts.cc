#include "batch_texts.h"

#include <cstring>

#include "../bpe/unicode.h"
#include "args.h"

namespace llmk::addon {

void BatchTexts::copy(napi_env env, napi_value v, size_t i) {
  Text& t = text_[i];
  napi_valuetype type;
  NAPI_THROW_IF_FAILED_VOID(env, napi_typeof(env, v, &type));
  if (type == napi_string) {
    size_t n = 0;
    NAPI_THROW_IF_FAILED_VOID(env, napi_get_value_string_utf16(env, v, nullptr, 0, &n));
    t.units.reset(new char16_t[n + 1]);  // room for the terminator napi writes
    NAPI_THROW_IF_FAILED_VOID(env, napi_get_value_string_utf16(env, v, t.units.get(), n + 1, &n));
    t.n_units = n;
  } else {
    TextArg bytes(Napi::Value(env, v), "texts[i]");
    t.bytes.reset(new char[bytes.size]);
    if (bytes.size) std::memcpy(t.bytes.get(), bytes.data, bytes.size);
    t.n_bytes = bytes.size;
    t.raw = true;
  }
}

void BatchTexts::publish(size_t count, bool failed) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready_ = count;
    failed_ = failed;
  }
  ready_cv_.notify_all();
}

bool BatchTexts::wait_for(size_t i) {
  std::unique_lock<std::mutex> lock(mu_);
  ready_cv_.wait(lock, [&] { return ready_ > i || failed_; });
  return ready_ > i;
}

const uint8_t* BatchTexts::utf8(size_t i, uint8_t* (*scratch)(size_t), size_t& n) {
  Text& t = text_[i];
  if (!t.units) {
    n = t.n_bytes;
    return reinterpret_cast<const uint8_t*>(t.bytes.get());
  }
  uint8_t* out = scratch(3 * t.n_units);
  n = bpe::utf16_to_utf8(t.units.get(), t.n_units, out);
  t.units.reset();
  return out;
}

void BatchTexts::release(size_t i) { text_[i].bytes.reset(); }

}  // namespace llmk::addon
