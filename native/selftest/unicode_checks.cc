// utf8_to_utf16 with its SIMD windows and without, against a reference that
// decodes one character at a time (decode_utf8): the same units, or both
// reporting bad input, on fresh random text of every length up to 300 bytes
// — ASCII, two-, three- and four-byte characters in runs and mixed — and on
// the same text with a byte changed, a character cut short, an overlong
// form, a surrogate or a byte that never starts a character put anywhere.
// utf16_to_utf8 with its windows and without, against a reference that
// encodes one unit at a time, on the same text's units and on random units
// (lone surrogates and pairs among them). char_class of every code point
// against a search of the range tables; decode_utf8_2or3 on every three
// bytes against decode_utf8. utf8_to_latin1 against decode_utf8 one
// character at a time, on the same text and on text mostly below U+0100.
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "../bpe/unicode.h"
#include "../common/cpu.h"
#include "checks.h"

namespace llmk::selftest {

namespace {

bool reference_utf16(const std::string& s, std::u16string& out) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const uint32_t cp = bpe::decode_utf8(p, s.size(), i, len);
    if (cp == bpe::kInvalid) return false;
    if (cp < 0x10000) {
      out += static_cast<char16_t>(cp);
    } else {
      out += static_cast<char16_t>(0xD800 + ((cp - 0x10000) >> 10));
      out += static_cast<char16_t>(0xDC00 + ((cp - 0x10000) & 0x3FF));
    }
    i += len;
  }
  return true;
}

void append_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | cp >> 6), s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | cp >> 12), s += static_cast<char>(0x80 | (cp >> 6 & 0x3F)), s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | cp >> 18), s += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
    s += static_cast<char>(0x80 | (cp >> 6 & 0x3F)), s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Valid text whose characters come in runs of one length (the windows'
// common cases) or mixed, ranges' edges included.
std::string random_text(std::mt19937& rng, size_t length) {
  std::string s;
  int run_length = 1, left = 0;
  while (s.size() < length) {
    if (left-- <= 0) run_length = static_cast<int>(rng() % 5), left = static_cast<int>(rng() % 20);
    const int bytes = run_length ? run_length : 1 + static_cast<int>(rng() % 4);
    uint32_t cp;
    if (bytes == 1) cp = rng() % 0x80;
    else if (bytes == 2) cp = 0x80 + rng() % 0x780;
    else if (bytes == 3) do cp = 0x800 + rng() % 0xF800; while (cp >= 0xD800 && cp <= 0xDFFF);
    else cp = 0x10000 + rng() % 0x100000;
    if (rng() % 16 == 0) cp = bytes == 1 ? 0x7F : bytes == 2 ? (rng() % 2 ? 0x80 : 0x7FF) : bytes == 3 ? (rng() % 2 ? 0x800 : 0xFFFF) : 0x10FFFF;
    append_utf8(s, cp);
  }
  return s;
}

void damage(std::mt19937& rng, std::string& s) {
  static const char* const kBad[] = {"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf",
                                     "\xf0\x80\x80\x80", "\xf4\x90\x80\x80", "\xf5", "\xff", "\xc3", "\xe4\xb8", "\xf0\x9f\x98", "\x00\x80"};
  const size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
  switch (rng() % 3) {
    case 0: s.insert(at, kBad[rng() % (sizeof kBad / sizeof *kBad)]); break;
    case 1: if (!s.empty()) s[at % s.size()] = static_cast<char>(rng()); break;
    default: if (at < s.size()) s.erase(at, 1); break;  // may cut a character short
  }
}

void expect_same(const std::string& s, bool simd, const std::string& what) {
  std::u16string want;
  const bool valid = reference_utf16(s, want);
  std::vector<char16_t> got(s.size() + 1);
  size_t units = 0;
  const bool ok = bpe::utf8_to_utf16(reinterpret_cast<const uint8_t*>(s.data()), s.size(), got.data(), units, simd);
  expect(ok == valid, what + (simd ? " (simd)" : " (portable)") + ": validity differs, " + std::to_string(s.size()) + " bytes");
  expect(!ok || std::u16string(got.data(), units) == want, what + (simd ? " (simd)" : " (portable)") + ": units differ, " + std::to_string(s.size()) + " bytes");
}

// utf8_to_latin1: the characters up to the first past U+00FF or bad input,
// as decode_utf8 reads them.
void expect_same_latin1(const std::string& s, const std::string& what) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  std::string want;
  size_t i = 0;
  for (size_t len; i < s.size(); i += len) {
    const uint32_t cp = bpe::decode_utf8(p, s.size(), i, len);
    if (cp > 0xFF) break;  // kInvalid too
    want += static_cast<char>(cp);
  }
  std::vector<uint8_t> got(s.size() + 1);
  size_t chars = 0;
  const size_t done = bpe::utf8_to_latin1(p, s.size(), got.data(), chars);
  expect(done == i && std::string(reinterpret_cast<const char*>(got.data()), chars) == want,
         what + ": Latin-1 differs, " + std::to_string(s.size()) + " bytes");
}

// Text of characters below U+0100 in runs of ASCII and not, with a wider
// one now and then.
std::string random_latin1(std::mt19937& rng, size_t length) {
  std::string s;
  while (s.size() < length) {
    const uint32_t cp = rng() % 64 == 0 ? 0x100 + rng() % 0x10000 : rng() % 3 ? 0x20 + rng() % 0x60 : rng() % 0x100;
    append_utf8(s, cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp);
  }
  return s;
}

// Units as UTF-8 one at a time, a lone surrogate as U+FFFD.
std::string reference_utf8(const std::u16string& u) {
  std::string s;
  for (size_t i = 0; i < u.size(); ++i) {
    uint32_t c = u[i];
    if (c >= 0xD800 && c <= 0xDFFF) {
      if (c <= 0xDBFF && i + 1 < u.size() && u[i + 1] >= 0xDC00 && u[i + 1] <= 0xDFFF) c = 0x10000 + ((c - 0xD800) << 10) + (u[++i] - 0xDC00);
      else c = 0xFFFD;
    }
    append_utf8(s, c);
  }
  return s;
}

void expect_same_utf8(const std::u16string& u, bool simd, const std::string& what) {
  std::vector<uint8_t> got(3 * u.size() + 1);
  const size_t n = bpe::utf16_to_utf8(u.data(), u.size(), got.data(), simd);
  expect(std::string(reinterpret_cast<const char*>(got.data()), n) == reference_utf8(u),
         what + (simd ? " (simd)" : " (portable)") + ": UTF-8 differs, " + std::to_string(u.size()) + " units");
}

// Random units in runs of one kind (ASCII, below 0x800, the rest of the BMP,
// surrogate pairs, lone surrogates) or mixed.
std::u16string random_units(std::mt19937& rng, size_t length) {
  std::u16string u;
  int kind = 0, left = 0;
  while (u.size() < length) {
    if (left-- <= 0) kind = static_cast<int>(rng() % 6), left = static_cast<int>(rng() % 24);
    const int k = kind == 5 ? static_cast<int>(rng() % 5) : kind;
    if (k == 0) u += static_cast<char16_t>(rng() % 0x80);
    else if (k == 1) u += static_cast<char16_t>(0x80 + rng() % 0x780);
    else if (k == 2) u += static_cast<char16_t>(rng() % 2 ? 0x800 + rng() % 0xD000 : 0xE000 + rng() % 0x2000);
    else if (k == 3) u += static_cast<char16_t>(0xD800 + rng() % 0x400), u += static_cast<char16_t>(0xDC00 + rng() % 0x400);
    else u += static_cast<char16_t>(0xD800 + rng() % 0x800);  // lone, or by chance a pair
  }
  return u;
}

// utf8_valid_prefix: its prefix is valid UTF-8, and no longer one is (a
// longer valid prefix would end a character of at most 4 bytes past it).
void expect_valid_prefix(const std::string& s) {
  const size_t p = bpe::utf8_valid_prefix(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  std::u16string ignored;
  bool ok = p <= s.size() && reference_utf16(s.substr(0, p), ignored);
  for (size_t k = p + 1; k <= std::min(s.size(), p + 4); ++k) ok = ok && !reference_utf16(s.substr(0, k), ignored);
  expect(ok, "utf8_valid_prefix: " + std::to_string(p) + " of " + std::to_string(s.size()) + " bytes");
}

}  // namespace

void check_unicode(Context&) {
  std::mt19937 rng(5);
  const bool simd = cpu_path() == CpuPath::Avx2;
  for (int round = 0; round < 4000; ++round) {
    std::string s = random_text(rng, rng() % 300);
    std::u16string units;
    expect(reference_utf16(s, units), "random text is valid UTF-8");
    expect_same_utf8(units, false, "text's units");
    if (simd) expect_same_utf8(units, true, "text's units");
    std::string latin1 = random_latin1(rng, rng() % 300);
    for (int damaged = 0; damaged < 2; ++damaged) {
      expect_same_latin1(s, damaged ? "damaged text" : "text");
      expect_same_latin1(latin1, damaged ? "damaged Latin-1 text" : "Latin-1 text");
      damage(rng, latin1);
      expect_valid_prefix(s);
      expect_same(s, false, damaged ? "damaged text" : "text");
      if (simd) expect_same(s, true, damaged ? "damaged text" : "text");
      damage(rng, s);
    }
    const std::u16string u = random_units(rng, rng() % 200);
    expect_same_utf8(u, false, "random units");
    if (simd) expect_same_utf8(u, true, "random units");
  }
  // The pre-tokenizers' classes: every code point's, from the BMP table or
  // the runs past it, against the five range tables searched one by one.
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp)
    if (bpe::char_class(cp) != bpe::char_class_by_search(cp)) {
      char name[16];
      std::snprintf(name, sizeof name, "U+%04X", cp);
      expect(false, std::string("class of ") + name);
    }
  expect(bpe::char_class(bpe::kInvalid) == 0, "an invalid byte has no class");
  // decode_utf8_2or3 against decode_utf8 on every three bytes (and a fourth
  // after them): the same character where decode_utf8 reads one of two or
  // three bytes, kInvalid everywhere else.
  for (uint32_t bytes = 0; bytes < (1u << 24); ++bytes) {
    const uint8_t p[4] = {uint8_t(bytes >> 16), uint8_t(bytes >> 8), uint8_t(bytes), 0x80};
    size_t len = 0, fast_len = 0;
    const uint32_t cp = bpe::decode_utf8(p, 4, 0, len), fast = bpe::decode_utf8_2or3(p, fast_len);
    const bool two_or_three = cp != bpe::kInvalid && (len == 2 || len == 3);
    if (two_or_three ? fast != cp || fast_len != len : fast != bpe::kInvalid) expect(false, "decode_utf8_2or3 of bytes " + std::to_string(bytes));
  }
}

}  // namespace llmk::selftest
