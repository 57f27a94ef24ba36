// Compiled in the AVX2 unit; only called when cpu_path() says AVX2 (it uses
// SSSE3/SSE4.1 on 16-byte vectors). UTF-8 to UTF-16 a window at a time, in
// the manner of Lemire and Keiser's transcoder: where the characters of the
// next 12 bytes end is a 12-bit mask, which a table turns into one byte
// shuffle that puts six characters of one or two bytes into six 16-bit
// lanes, or four characters of one to three bytes into four 32-bit lanes;
// shifts and masks then make code points. Unlike theirs, each window checks
// its own characters (leading byte for the length, no overlong form, no
// surrogate), so no separate validation pass runs: a window that fails, or
// holds a four-byte character, is left to the portable loop, which converts
// it one character at a time and reports bad input itself.
//
// The other way, UTF-16 to UTF-8 (utf16_to_utf8_windows): eight units at a
// time, made one to three bytes each in their lanes and packed together by
// a byte shuffle that a table keyed by the units' lengths gives; a window
// with a surrogate is left to the portable loop.
#include "unicode.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <cstdint>

namespace llmk::bpe {

namespace {

constexpr int kCaseTwoBytes = 64;   // table ids 0..63: six characters of 1-2 bytes
constexpr int kCaseThreeBytes = 81;  // ids 64..144: four characters of 1-3 bytes
constexpr uint8_t kNoCase = 0xFF;
constexpr uint8_t kZero = 0x80;  // a shuffle index that writes 0

struct Windows {
  struct Step {
    uint8_t shuffle;   // index into shuffles, or kNoCase
    uint8_t consumed;  // bytes of the characters it converts
  };
  Step step[4096];
  alignas(16) uint8_t shuffles[kCaseTwoBytes + kCaseThreeBytes][16];

  constexpr Windows() : step(), shuffles() {
    for (auto& s : shuffles)
      for (auto& b : s) b = kZero;
    for (int m = 0; m < 4096; ++m) {
      // The lengths of the characters that end within the 12 bytes.
      int len[12] = {}, count = 0;
      for (int start = 0, at = 0; at < 12; ++at)
        if (m >> at & 1) len[count++] = at - start + 1, start = at + 1;
      step[m] = {kNoCase, 0};
      bool two = count >= 6, three = count >= 4;
      for (int k = 0; k < 6 && k < count; ++k) two = two && len[k] <= 2;
      for (int k = 0; k < 4 && k < count; ++k) three = three && len[k] <= 3;
      int id = 0, weight = 1, consumed = 0;
      if (two) {
        for (int k = 0; k < 6; ++k) id += (len[k] - 1) << k;
        for (int k = 0; k < 6; ++k) {  // lane: last byte low, first byte high
          uint8_t* lane = shuffles[id] + 2 * k;
          lane[0] = static_cast<uint8_t>(consumed + len[k] - 1);
          if (len[k] == 2) lane[1] = static_cast<uint8_t>(consumed);
          consumed += len[k];
        }
      } else if (three) {
        for (int k = 0; k < 4; ++k) id += (len[k] - 1) * weight, weight *= 3;
        id += kCaseTwoBytes;
        for (int k = 0; k < 4; ++k) {  // lane: last byte, middle byte, first byte, 0
          uint8_t* lane = shuffles[id] + 4 * k;
          for (int b = 0; b < len[k]; ++b) lane[b] = static_cast<uint8_t>(consumed + len[k] - 1 - b);
          consumed += len[k];
        }
      } else {
        continue;
      }
      step[m] = {static_cast<uint8_t>(id), static_cast<uint8_t>(consumed)};
    }
  }
};

constexpr Windows kWindows;

inline __m128i set16(int v) { return _mm_set1_epi16(static_cast<short>(v)); }
inline __m128i set32(int v) { return _mm_set1_epi32(v); }
inline __m128i is_zero16(__m128i v) { return _mm_cmpeq_epi16(v, _mm_setzero_si128()); }
inline __m128i is_zero32(__m128i v) { return _mm_cmpeq_epi32(v, _mm_setzero_si128()); }

// Six characters of one or two bytes in 16-bit lanes (first byte high):
// their units into o[0..6) (o[6..8) garbage); false if one is malformed.
inline bool six_units(__m128i lanes, char16_t* o) {
  const __m128i unit = _mm_or_si128(_mm_and_si128(lanes, set16(0x7F)), _mm_srli_epi16(_mm_and_si128(lanes, set16(0x1F00)), 2));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(o), unit);
  const __m128i one = is_zero16(_mm_and_si128(lanes, set16(0xFF00)));
  // One byte: below 0x80. Two: 110xxxxx first, and not overlong (the unit from 0x80).
  const __m128i bad_one = _mm_andnot_si128(is_zero16(_mm_and_si128(lanes, set16(0x80))), one);
  const __m128i bad_two = _mm_andnot_si128(
      one, _mm_or_si128(_mm_xor_si128(_mm_cmpeq_epi16(_mm_and_si128(lanes, set16(0xE000)), set16(0xC000)), set16(-1)),
                        is_zero16(_mm_and_si128(unit, set16(0x780)))));
  return (_mm_movemask_epi8(_mm_or_si128(bad_one, bad_two)) & 0xFFF) == 0;
}

// Four characters of one to three bytes in 32-bit lanes (last byte low):
// their units into o[0..4) (o[4..8) garbage); false if one is malformed.
inline bool four_units(__m128i lanes, char16_t* o) {
  const __m128i cp = _mm_or_si128(_mm_or_si128(_mm_and_si128(lanes, set32(0x7F)), _mm_srli_epi32(_mm_and_si128(lanes, set32(0x3F00)), 2)),
                                  _mm_srli_epi32(_mm_and_si128(lanes, set32(0x0F0000)), 4));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm_packus_epi32(cp, cp));
  const __m128i ones = set32(-1);
  const __m128i three = _mm_xor_si128(is_zero32(_mm_and_si128(lanes, set32(0xFF0000))), ones);
  const __m128i one = is_zero32(_mm_and_si128(lanes, set32(0xFFFF00)));
  const __m128i two = _mm_andnot_si128(_mm_or_si128(one, three), ones);
  const __m128i bad_one = _mm_andnot_si128(is_zero32(_mm_and_si128(lanes, set32(0x80))), one);
  // Two bytes: 110xxxxx first, the code point from 0x80.
  const __m128i bad_two = _mm_and_si128(
      two, _mm_or_si128(_mm_xor_si128(_mm_cmpeq_epi32(_mm_and_si128(lanes, set32(0xE000)), set32(0xC000)), ones),
                        is_zero32(_mm_and_si128(cp, set32(0xFF80)))));
  // Three bytes: 1110xxxx first, the code point from 0x800 and not a surrogate.
  const __m128i high = _mm_and_si128(cp, set32(0xF800));
  const __m128i bad_three = _mm_and_si128(
      three, _mm_or_si128(_mm_or_si128(_mm_xor_si128(_mm_cmpeq_epi32(_mm_and_si128(lanes, set32(0xF00000)), set32(0xE00000)), ones),
                                       is_zero32(high)),
                          _mm_cmpeq_epi32(high, set32(0xD800))));
  return _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(bad_one, bad_two), bad_three)) == 0;
}

}  // namespace

size_t utf8_to_utf16_windows(const uint8_t* s, size_t n, char16_t*& out) {
  const __m128i top_two = _mm_set1_epi8(static_cast<char>(0xC0)), continuation_bits = _mm_set1_epi8(static_cast<char>(0x80));
  char16_t* o = out;  // a local: stores of units through the reference would make it reload out
  auto stop = [&](size_t read) {
    out = o;
    return read;
  };
  size_t i = 0, at = 0;
  // A block of 64 bytes at a time: which bytes are not ASCII and which are
  // continuation bytes (10xxxxxx) is found for the whole block first, so that
  // from one window to the next only a shift and a table lookup wait on the
  // bytes the window took (a window at a time: ~15 % slower). Windows start
  // at most 48 bytes in: their 16 bytes and the 13 bits they need lie in the
  // block. No character has more units than bytes, so o - out <= i + at and
  // the 16 units a window may write fit within the caller's n.
  for (; i + 64 <= n; i += at) {
    uint64_t high = 0, continuation = 0;
    for (int k = 0; k < 4; ++k) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 16 * k));
      high |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(v))) << (16 * k);
      continuation |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(v, top_two), continuation_bits))))
                      << (16 * k);
    }
    for (at = 0; at <= 48;) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + at));
      if ((high >> at & 0xFFFF) == 0) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm_unpacklo_epi8(v, _mm_setzero_si128()));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 8), _mm_unpackhi_epi8(v, _mm_setzero_si128()));
        at += 16, o += 16;
        continue;
      }
      // Byte k of the window ends a character when byte k + 1 is not a continuation byte.
      const Windows::Step step = kWindows.step[~continuation >> (at + 1) & 0xFFF];
      if (step.shuffle == kNoCase) return stop(i + at);
      const __m128i lanes = _mm_shuffle_epi8(v, _mm_load_si128(reinterpret_cast<const __m128i*>(kWindows.shuffles[step.shuffle])));
      if (step.shuffle < kCaseTwoBytes) {
        if (!six_units(lanes, o)) return stop(i + at);
        o += 6;
      } else {
        if (!four_units(lanes, o)) return stop(i + at);
        o += 4;
      }
      at += step.consumed;
    }
  }
  return stop(i);
}

namespace {

// Eight units of at most two bytes each (16-bit lanes, lead byte low):
// bit k of the key says unit k is ASCII (one byte). Four units of at most
// three bytes (32-bit lanes, lead byte low): bit k says unit k takes two
// bytes or more, bit 4 + k that it takes three. Each entry: the shuffle
// packing the bytes in order, and their count.
struct Packs {
  struct Pack {
    alignas(16) uint8_t shuffle[16];
    uint8_t length;
  };
  Pack two[256], three[256];
  constexpr Packs() : two(), three() {
    for (int m = 0; m < 256; ++m) {
      Pack& p = two[m];
      for (auto& b : p.shuffle) b = kZero;
      int at = 0;
      for (int k = 0; k < 8; ++k) {
        p.shuffle[at++] = static_cast<uint8_t>(2 * k);
        if (!(m >> k & 1)) p.shuffle[at++] = static_cast<uint8_t>(2 * k + 1);
      }
      p.length = static_cast<uint8_t>(at);
      Pack& q = three[m];
      for (auto& b : q.shuffle) b = kZero;
      at = 0;
      for (int k = 0; k < 4; ++k)
        for (int b = 0; b < 1 + (m >> k & 1) + (m >> (4 + k) & 1); ++b) q.shuffle[at++] = static_cast<uint8_t>(4 * k + b);
      q.length = static_cast<uint8_t>(at);
    }
  }
};

constexpr Packs kPacks;

// Four units (zero-extended in 32-bit lanes) as UTF-8, packed at o; returns
// the bytes written (up to 12; 16 are stored).
inline size_t four_to_utf8(__m128i c, uint8_t* o) {
  const __m128i ones = set32(-1);
  const __m128i one = is_zero32(_mm_and_si128(c, set32(0xFF80)));    // below 0x80
  const __m128i upto_two = is_zero32(_mm_and_si128(c, set32(0xF800)));  // below 0x800
  const __m128i three = _mm_xor_si128(upto_two, ones);
  const __m128i low6 = _mm_and_si128(c, set32(0x3F)), mid6 = _mm_and_si128(_mm_srli_epi32(c, 6), set32(0x3F));
  // Three bytes: 1110xxxx 10xxxxxx 10xxxxxx; two: 110xxxxx 10xxxxxx.
  const __m128i three_bytes = _mm_or_si128(_mm_or_si128(_mm_or_si128(_mm_srli_epi32(c, 12), set32(0x8080E0)), _mm_slli_epi32(mid6, 8)),
                                           _mm_slli_epi32(low6, 16));
  const __m128i two_bytes = _mm_or_si128(_mm_or_si128(_mm_srli_epi32(c, 6), set32(0x80C0)), _mm_slli_epi32(low6, 8));
  const __m128i bytes = _mm_blendv_epi8(_mm_blendv_epi8(two_bytes, three_bytes, three), c, one);
  const int key = _mm_movemask_ps(_mm_castsi128_ps(_mm_andnot_si128(one, ones))) | _mm_movemask_ps(_mm_castsi128_ps(three)) << 4;
  const Packs::Pack& p = kPacks.three[key];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm_shuffle_epi8(bytes, _mm_load_si128(reinterpret_cast<const __m128i*>(p.shuffle))));
  return p.length;
}

}  // namespace

size_t utf16_to_utf8_windows(const char16_t* s, size_t n, uint8_t*& out) {
  uint8_t* o = out;  // a local, as above
  size_t i = 0;
  // Each window reads 8 units and writes at most 28 bytes (two stores of 16
  // from at most 12 bytes apart); o - out <= 3 i and 16 units remain, so the
  // caller's 3 bytes a unit hold them.
  for (; i + 16 <= n; i += 8) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    const __m128i ascii = _mm_cmpeq_epi16(_mm_and_si128(v, set16(0xFF80)), _mm_setzero_si128());
    const int ascii_bits = _mm_movemask_epi8(_mm_packs_epi16(ascii, ascii)) & 0xFF;
    if (ascii_bits == 0xFF) {
      _mm_storel_epi64(reinterpret_cast<__m128i*>(o), _mm_packus_epi16(v, v));
      o += 8;
      continue;
    }
    if (_mm_testz_si128(v, set16(0xF800))) {  // all below 0x800: one or two bytes each
      const __m128i two_bytes = _mm_or_si128(_mm_or_si128(_mm_srli_epi16(v, 6), set16(0x80C0)), _mm_slli_epi16(_mm_and_si128(v, set16(0x3F)), 8));
      const __m128i bytes = _mm_blendv_epi8(two_bytes, v, ascii);
      const Packs::Pack& p = kPacks.two[ascii_bits];
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm_shuffle_epi8(bytes, _mm_load_si128(reinterpret_cast<const __m128i*>(p.shuffle))));
      o += p.length;
      continue;
    }
    const __m128i surrogate = _mm_cmpeq_epi16(_mm_and_si128(v, set16(0xF800)), set16(static_cast<short>(0xD800)));
    if (!_mm_testz_si128(surrogate, surrogate)) break;
    o += four_to_utf8(_mm_cvtepu16_epi32(v), o);
    o += four_to_utf8(_mm_cvtepu16_epi32(_mm_srli_si128(v, 8)), o);
  }
  out = o;
  return i;
}

}  // namespace llmk::bpe
#endif
