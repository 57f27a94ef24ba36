// New JS strings from text the addon has made (decode's output).
//
// From 64 KiB of text up a string may be external: V8 keeps the text where
// the addon wrote it and frees it through a finalizer, instead of copying it
// into fresh pages of its own (and scanning UTF-16 for a one-byte form);
// on 1 MiB of multilingual text that copy took as long as decoding the
// tokens. The caller decides (see Tokenizer.decode): V8 frees external
// strings only in full collections, which cost more than the copy where
// its heap is large.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace llmk::addon {

// A string of UTF-8 text (decode's output): a one-byte string when it is
// ASCII, else UTF-16; external when `external` and the text is large.
// `undefined` when the text is not well-formed UTF-8, for the caller's
// replacement rules.
Napi::Value utf8_to_js(Napi::Env env, const uint8_t* s, size_t n, bool external);

}  // namespace llmk::addon
