// Code-point classification for the pre-tokenizers, and UTF-8 decoding that
// never fails: an invalid byte reads as one code point of its own (kInvalid),
// so raw bytes are split and encoded like any other text.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace llmk::bpe {

enum CharClass : uint8_t {
  kIsLetter = 1,     // \p{L}
  kIsNumber = 2,     // \p{N}
  kIsUpperish = 4,   // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
  kIsLowerish = 8,   // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
  kIsSpace = 16,     // \s in Rust regex: White_Space
};

constexpr uint32_t kInvalid = 0x110000;  // stands for a byte that is not valid UTF-8

// Classes of the Basic Multilingual Plane, one byte per code point, built
// when the library loads; the rest of the code space is searched.
extern const uint8_t* const kBmpClasses;
uint8_t astral_class(uint32_t cp);
// The class of a code point by searching the range tables one by one: the
// reference the tables above are checked against (self-test).
uint8_t char_class_by_search(uint32_t cp);

inline uint8_t char_class(uint32_t cp) { return cp < 0x10000 ? kBmpClasses[cp] : astral_class(cp); }

// Decodes the code point at s[i] (i < n); returns it and sets `len` (>= 1).
inline uint32_t decode_utf8(const uint8_t* s, size_t n, size_t i, size_t& len) {
  const uint8_t b0 = s[i];
  if (b0 < 0x80) {
    len = 1;
    return b0;
  }
  auto cont = [&](size_t k) { return i + k < n && (s[i + k] & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 < 0xE0 && cont(1)) {
    len = 2;
    return (uint32_t(b0 & 0x1F) << 6) | (s[i + 1] & 0x3F);
  }
  if (b0 >= 0xE0 && b0 < 0xF0 && cont(1) && cont(2)) {
    uint32_t cp = (uint32_t(b0 & 0x0F) << 12) | (uint32_t(s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
    if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) {
      len = 3;
      return cp;
    }
  }
  if (b0 >= 0xF0 && b0 < 0xF5 && cont(1) && cont(2) && cont(3)) {
    uint32_t cp = (uint32_t(b0 & 0x07) << 18) | (uint32_t(s[i + 1] & 0x3F) << 12) | (uint32_t(s[i + 2] & 0x3F) << 6) |
                  (s[i + 3] & 0x3F);
    if (cp >= 0x10000 && cp <= 0x10FFFF) {
      len = 4;
      return cp;
    }
  }
  len = 1;
  return kInvalid;
}

// decode_utf8 of a character of two or three bytes at p, which has three
// readable bytes, with no check of the text's end: the code point, and its
// length in `len`; kInvalid for anything else (ASCII, four bytes, invalid).
// For the pre-tokenizers' runs of letters in other scripts.
inline uint32_t decode_utf8_2or3(const uint8_t* p, size_t& len) {
  const uint8_t b0 = p[0], b1 = p[1];
  if ((b1 & 0xC0) != 0x80) return kInvalid;
  if (static_cast<uint8_t>(b0 - 0xC2) < 0x1E) {
    len = 2;
    return (uint32_t(b0 & 0x1F) << 6) | (b1 & 0x3F);
  }
  if ((b0 & 0xF0) != 0xE0 || (p[2] & 0xC0) != 0x80) return kInvalid;
  const uint32_t cp = (uint32_t(b0 & 0x0F) << 12) | (uint32_t(b1 & 0x3F) << 6) | (p[2] & 0x3F);
  if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return kInvalid;
  len = 3;
  return cp;
}

// Whether every byte of s[0, n) is below 0x80.
bool is_ascii(const uint8_t* s, size_t n);
// The length of the longest prefix of s[0, n) that is well-formed UTF-8 (n
// when all of it is): where decode_utf8 first meets an invalid byte, Rust's
// Utf8Error::valid_up_to.
size_t utf8_valid_prefix(const uint8_t* s, size_t n);

// s[0, n) as UTF-16 into out[0, units) (out must have room for n units:
// UTF-16 never needs more units than UTF-8 has bytes); false when s is not
// well-formed UTF-8 (overlongs, surrogates, code points past U+10FFFF).
bool utf8_to_utf16(const uint8_t* s, size_t n, char16_t* out, size_t& units);
// The same with the SIMD windows below or without (the default: with them
// where cpu_path() is AVX2); both give the same result (the self-test
// compares them).
bool utf8_to_utf16(const uint8_t* s, size_t n, char16_t* out, size_t& units, bool simd);
// The characters of s[0, n) up to the first that is not below U+0100 (or
// is not well-formed UTF-8), as Latin-1 bytes into out (room for n bytes):
// returns the bytes of s converted, n when all were, and sets `chars` to the
// bytes written. A JS string of such text (Western European languages) is
// one byte a character.
size_t utf8_to_latin1(const uint8_t* s, size_t n, uint8_t* out, size_t& chars);
// utf8_to_utf16's SIMD part (unicode_avx2.cc, x86-64 only): converts s from
// its start, a window of up to 12 bytes at a time, while the windows hold
// well-formed characters of one to three bytes and 64 bytes remain; advances
// out past the units written and returns the bytes converted (whole
// characters; 0 when the first window is not one it takes).
size_t utf8_to_utf16_windows(const uint8_t* s, size_t n, char16_t*& out);

// UTF-16 units as UTF-8 into out (room for 3 bytes a unit), a lone surrogate
// as U+FFFD: the bytes V8 gives for a JS string (String::WriteUtf8 with
// REPLACE_INVALID_UTF8, which Node's napi_get_value_string_utf8 uses).
// Returns the number of bytes written.
size_t utf16_to_utf8(const char16_t* s, size_t n, uint8_t* out);
// The same with the SIMD windows below or without (the default: with them
// where cpu_path() is AVX2); the self-test compares the two.
size_t utf16_to_utf8(const char16_t* s, size_t n, uint8_t* out, bool simd);
// utf16_to_utf8's SIMD part (unicode_avx2.cc, x86-64 only): converts s from
// its start, eight units at a time, while a window has no surrogate and 16
// units remain; advances out past the bytes written and returns the units
// converted (0 when the first window is not one it takes).
size_t utf16_to_utf8_windows(const char16_t* s, size_t n, uint8_t*& out);

}  // namespace llmk::bpe
