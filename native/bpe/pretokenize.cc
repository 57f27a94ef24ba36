#include "pretokenize.h"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "unicode.h"

namespace llmk::bpe {

namespace {

// A decoded code point and where it ends.
struct Cp {
  uint32_t cp;
  uint8_t cls;
  size_t end;
};

struct Text {
  const uint8_t* s;
  size_t n;
  Cp at(size_t i) const {
    size_t len;
    const uint32_t cp = decode_utf8(s, n, i, len);
    return {cp, char_class(cp), i + len};
  }
};

constexpr auto is_letter = [](const Cp& c) -> bool { return c.cls & kIsLetter; };
constexpr auto is_number = [](const Cp& c) -> bool { return c.cls & kIsNumber; };
constexpr auto is_space = [](const Cp& c) -> bool { return c.cls & kIsSpace; };
constexpr auto is_crlf = [](const Cp& c) -> bool { return c.cp == '\r' || c.cp == '\n'; };
// [^\s\p{L}\p{N}]
constexpr auto is_other = [](const Cp& c) -> bool { return !(c.cls & (kIsSpace | kIsLetter | kIsNumber)); };
// [^\r\n\p{L}\p{N}]
constexpr auto is_prefix = [](const Cp& c) -> bool { return !is_crlf(c) && !(c.cls & (kIsLetter | kIsNumber)); };

// Case-insensitive match of one ASCII letter, with Unicode simple case
// folding as the regex crate applies it (U+017F LATIN SMALL LETTER LONG S
// folds to 's').
bool same_ci(uint32_t cp, char c) {
  return cp == uint32_t(c) || cp == uint32_t(c - 'a' + 'A') || (c == 's' && cp == 0x17F);
}

// 's|'t|'re|'ve|'m|'ll|'d at i, where t.s[i] is a quote; returns the end or 0.
[[gnu::noinline]] size_t contraction_after_quote(const Text& t, size_t i, bool ignore_case) {
  const size_t j = i + 1;
  if (j >= t.n) return 0;
  const Cp a = t.at(j);
  auto eq = [&](const Cp& c, char want) { return ignore_case ? same_ci(c.cp, want) : c.cp == uint32_t(want); };
  if (eq(a, 's') || eq(a, 't') || eq(a, 'm') || eq(a, 'd')) return a.end;
  if (a.end >= t.n) return 0;
  const Cp b = t.at(a.end);
  if ((eq(a, 'r') && eq(b, 'e')) || (eq(a, 'v') && eq(b, 'e')) || (eq(a, 'l') && eq(b, 'l'))) return b.end;
  return 0;
}

// 's|'t|'re|'ve|'m|'ll|'d at i; returns the end or 0. Asked at nearly every
// piece that is not an ASCII word, so the quote is looked for inline.
[[gnu::always_inline]] inline size_t contraction(const Text& t, size_t i, bool ignore_case) {
  return i < t.n && t.s[i] == '\'' ? contraction_after_quote(t, i, ignore_case) : 0;
}

template <class Pred>
size_t run(const Text& t, size_t i, Pred pred) {
  while (i < t.n) {
    const Cp c = t.at(i);
    if (!pred(c)) break;
    i = c.end;
  }
  return i;
}

// The first i' >= i where t.s[i'] is not an ASCII letter in [lo, hi] (with
// `fold`, either case of one), eight bytes at a time: each byte's test is
// a carry-free addition into its top bit.
[[gnu::always_inline]] inline size_t ascii_range_end(const Text& t, size_t i, uint8_t lo, uint8_t hi, bool fold) {
  constexpr uint64_t kOnes = 0x0101010101010101ull, kTops = kOnes * 0x80;
  for (; i + 8 <= t.n; i += 8) {
    uint64_t x;
    std::memcpy(&x, t.s + i, 8);
    const uint64_t low7 = (fold ? x | kOnes * 0x20 : x) & ~kTops;  // each byte <= 0x7F
    const uint64_t at_least_lo = low7 + kOnes * (0x80 - lo), above_hi = low7 + kOnes * (0x7F - hi);
    const uint64_t outside = ~(at_least_lo & ~above_hi & ~x) & kTops;
    if (outside) return i + size_t(__builtin_ctzll(outside) >> 3);
  }
  while (i < t.n && static_cast<uint8_t>((fold ? t.s[i] | 0x20 : t.s[i]) - lo) <= hi - lo) ++i;
  return i;
}

// run(t, i, pred) with a fast path over ASCII: `ascii` (a, A-Z or a-z)
// must agree with pred on every ASCII character, which then needs no
// decoding or table lookup (letter runs are most of the work on
// Latin-script text). The ASCII run is inlined; the rest, from the first
// non-ASCII character on, is not.
enum class Ascii { Letters, Upper, Lower };
[[gnu::always_inline]] inline size_t ascii_run_end(const Text& t, size_t i, Ascii ascii) {
  return ascii == Ascii::Letters ? ascii_range_end(t, i, 'a', 'z', true)
         : ascii == Ascii::Upper ? ascii_range_end(t, i, 'A', 'Z', false)
                                 : ascii_range_end(t, i, 'a', 'z', false);
}
template <class Pred>
[[gnu::noinline]] size_t run_ascii_from_other(const Text& t, size_t i, Ascii ascii, Pred pred) {
  for (;;) {
    // Characters of two and three bytes away from the text's end (most
    // letters of other scripts) without decode_utf8's checks of the end.
    for (size_t len; i + 4 <= t.n;) {
      const uint32_t cp = decode_utf8_2or3(t.s + i, len);
      if (cp == kInvalid) break;
      if (!pred(Cp{cp, kBmpClasses[cp], i + len})) return i;
      i += len;
    }
    const Cp c = t.at(i);
    if (!pred(c)) return i;
    i = c.end;
    // Another non-ASCII character next (a word in another script): no ASCII run to look for.
    if (i < t.n && t.s[i] >= 0x80) continue;
    i = ascii_run_end(t, i, ascii);
    if (i >= t.n || t.s[i] < 0x80) return i;
  }
}
template <class Pred>
[[gnu::always_inline]] inline size_t run_ascii(const Text& t, size_t i, Ascii ascii, Pred pred) {
  if (i < t.n && t.s[i] >= 0x80) return run_ascii_from_other(t, i, ascii, pred);  // a word in another script goes on
  i = ascii_run_end(t, i, ascii);
  if (i >= t.n || t.s[i] < 0x80) return i;
  return run_ascii_from_other(t, i, ascii, pred);
}
bool ascii_letter(uint8_t b) { return static_cast<uint8_t>((b | 0x20) - 'a') < 26; }
bool ascii_lower(uint8_t b) { return static_cast<uint8_t>(b - 'a') < 26; }
bool ascii_upper(uint8_t b) { return static_cast<uint8_t>(b - 'A') < 26; }
[[gnu::always_inline]] inline size_t letters(const Text& t, size_t i) { return run_ascii(t, i, Ascii::Letters, is_letter); }

// The whitespace alternatives at a whitespace character c0:
// [\s*[\r\n]+ when `newline_rule`] | \s+(?!\S) | \s+
size_t whitespace(const Text& t, size_t i, bool newline_rule) {
  size_t end = i, last_crlf_end = 0, last_start = i;
  while (end < t.n) {
    const Cp c = t.at(end);
    if (!is_space(c)) break;
    if (is_crlf(c)) last_crlf_end = c.end;
    last_start = end;
    end = c.end;
  }
  if (newline_rule && last_crlf_end) return last_crlf_end;  // \s*[\r\n]+
  if (end == t.n) return end;                                // \s+(?!\S) at the end
  if (last_start > i) return last_start;                     // \s+(?!\S): all but the last
  return end;                                                // \s+ (a single space)
}

// If the text at i opens with an ASCII letter, or with one ASCII character
// of the class `prefix` and then an ASCII letter: the end of that first
// letter (> 0); else 0. Most words of Latin-script text, found without
// decoding (the word rules then take the same letters).
template <class Prefix>
size_t ascii_word_start(const Text& t, size_t i, Prefix prefix) {
  const uint8_t b0 = t.s[i];
  if (ascii_letter(b0)) return i + 1;
  if (b0 < 0x80 && prefix(b0) && i + 1 < t.n && ascii_letter(t.s[i + 1])) return i + 2;
  return 0;
}

size_t gpt2(const Text& t, size_t i) {
  // ' ?\p{L}+' (a contraction starts with a quote, which is not a space)
  if (const size_t w = ascii_word_start(t, i, [](uint8_t b) { return b == ' '; })) return letters(t, w);
  if (const size_t e = contraction(t, i, false)) return e;
  const Cp c0 = t.at(i);
  const size_t j = c0.cp == ' ' ? c0.end : i;
  if (j < t.n) {
    const Cp c1 = t.at(j);
    if (is_letter(c1)) return letters(t, c1.end);
    if (is_number(c1)) return run(t, c1.end, is_number);
    if (is_other(c1)) return run(t, c1.end, is_other);
  }
  return whitespace(t, i, false);
}

// \p{N}{1,3} from the number c0: the end of c0 and at most two more numbers.
size_t up_to_three_numbers(const Text& t, const Cp& c0) {
  size_t end = c0.end;
  for (int k = 1; k < 3 && end < t.n; ++k) {
    const Cp c = t.at(end);
    if (!is_number(c)) break;
    end = c.end;
  }
  return end;
}

// The alternatives cl100k and o200k share after their word rules:
// \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// (o200k lets '/' trail punctuation too: [\r\n/]*).
size_t number_punct_space(const Text& t, size_t i, const Cp& c0, bool slash_trails) {
  if (is_number(c0)) return up_to_three_numbers(t, c0);
  const size_t j = c0.cp == ' ' ? c0.end : i;
  if (j < t.n) {
    const Cp c1 = t.at(j);
    if (is_other(c1))
      return run(t, run(t, c1.end, is_other), [&](const Cp& c) { return is_crlf(c) || (slash_trails && c.cp == '/'); });
  }
  return whitespace(t, i, true);
}

// [^\r\n\p{L}\p{N}] within ASCII (false for every other byte).
bool ascii_prefix(uint8_t b) {
  return b < 0x80 && b != '\r' && b != '\n' && !ascii_letter(b) && static_cast<uint8_t>(b - '0') >= 10;
}
// The same less the quote, which may open a contraction.
bool ascii_prefix_not_quote(uint8_t b) { return b != '\'' && ascii_prefix(b); }

size_t cl100k(const Text& t, size_t i) {
  // [^\r\n\p{L}\p{N}]?\p{L}+ when no contraction can match (no leading quote)
  if (const size_t w = ascii_word_start(t, i, ascii_prefix_not_quote)) return letters(t, w);
  if (const size_t e = contraction(t, i, true)) return e;
  const Cp c0 = t.at(i);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (is_prefix(c0) && c0.end < t.n) {
    const Cp c1 = t.at(c0.end);
    if (is_letter(c1)) return letters(t, c1.end);
  }
  if (is_letter(c0)) return letters(t, c0.end);
  return number_punct_space(t, i, c0, false);
}

constexpr auto upperish = [](const Cp& c) -> bool { return c.cls & kIsUpperish; };
constexpr auto lowerish = [](const Cp& c) -> bool { return c.cls & kIsLowerish; };

// [U]*[Lw]+ from `start` (U and Lw overlap in Lm, Lo, M): the U run is taken
// whole, then given back one code point at a time until a Lw character can
// start the Lw run, as a backtracking regex does. Returns the end or 0.
size_t upper_star_lower_plus(const Text& t, size_t start) {
  size_t u_end = start;
  size_t last_lw_in_run = SIZE_MAX;  // rightmost position in the U run that is also Lw
  while (u_end < t.n) {
    if (t.s[u_end] < 0x80) {  // ASCII: only A-Z is U, and none of it Lw
      if (!ascii_upper(t.s[u_end])) break;
      ++u_end;
      continue;
    }
    const Cp c = t.at(u_end);
    if (!upperish(c)) break;
    if (lowerish(c)) last_lw_in_run = u_end;
    u_end = c.end;
  }
  if (u_end < t.n && lowerish(t.at(u_end))) return run_ascii(t, u_end, Ascii::Lower, lowerish);  // U* keeps its whole run
  if (last_lw_in_run == SIZE_MAX) return 0;
  return run_ascii(t, last_lw_in_run, Ascii::Lower, lowerish);  // the Lw run stops inside the U run
}

size_t o200k(const Text& t, size_t i) {
  auto with_contraction = [&](size_t e) {
    const size_t c = e < t.n && t.s[e] == '\'' ? contraction(t, e, true) : 0;
    return c ? c : e;
  };
  // The first word rule on ASCII: a prefix, A-Z*, then a-z (which U* cannot
  // give back, so the rule matches here), found without decoding.
  {
    size_t k = i;
    if (ascii_prefix(t.s[k]) && k + 1 < t.n) ++k;
    while (k < t.n && ascii_upper(t.s[k])) ++k;
    if (k < t.n && ascii_lower(t.s[k])) return with_contraction(run_ascii(t, k + 1, Ascii::Lower, lowerish));
  }
  const Cp c0 = t.at(i);
  // [^\r\n\p{L}\p{N}]?[U]*[Lw]+(contraction)?
  if (is_prefix(c0) && c0.end < t.n)
    if (const size_t e = upper_star_lower_plus(t, c0.end)) return with_contraction(e);
  if (const size_t e = upper_star_lower_plus(t, i)) return with_contraction(e);
  // [^\r\n\p{L}\p{N}]?[U]+[Lw]*(contraction)?
  if (is_prefix(c0) && c0.end < t.n && upperish(t.at(c0.end)))
    return with_contraction(run_ascii(t, run_ascii(t, c0.end, Ascii::Upper, upperish), Ascii::Lower, lowerish));
  if (upperish(c0)) return with_contraction(run_ascii(t, run_ascii(t, c0.end, Ascii::Upper, upperish), Ascii::Lower, lowerish));
  return number_punct_space(t, i, c0, true);
}

// SuperBPE's superword pattern, used as a Split with behavior Isolated: the
// matches are pieces and so is the text between them, spaces and all.
//   \p{N}{1,3}| ?[^\s\p{L}\p{N}]{2,}[\r\n/]*| +(?!\S)
// Returns the end of the match at i, or 0.
size_t superword_match(const Text& t, size_t i) {
  const Cp c0 = t.at(i);
  if (is_number(c0)) return up_to_three_numbers(t, c0);
  const size_t start = c0.cp == ' ' ? c0.end : i;
  size_t end = start, others = 0;
  while (end < t.n) {
    const Cp c = t.at(end);
    if (!is_other(c)) break;
    end = c.end;
    ++others;
  }
  if (others >= 2) return run(t, end, [](const Cp& c) { return is_crlf(c) || c.cp == '/'; });
  if (c0.cp != ' ') return 0;
  // ' +(?!\S)': the spaces, less the last one when a non-space follows.
  size_t spaces_end = i;
  while (spaces_end < t.n && t.s[spaces_end] == ' ') ++spaces_end;
  if (spaces_end == t.n || is_space(t.at(spaces_end))) return spaces_end;
  return spaces_end - 1 > i ? spaces_end - 1 : 0;
}

size_t superword(const Text& t, size_t i) {
  if (size_t end = superword_match(t, i)) return end;
  size_t j = t.at(i).end;
  while (j < t.n && !superword_match(t, j)) j = t.at(j).end;
  return j;
}

constexpr std::string_view kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kSuperword = R"(\p{N}{1,3}| ?[^\s\p{L}\p{N}]{2,}[\r\n/]*| +(?!\S))";
constexpr std::string_view kCl100k =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kO200k =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

}  // namespace

bool pattern_kind(std::string_view pattern, Pattern& kind) {
  if (pattern == kGpt2) return kind = Pattern::Gpt2, true;
  if (pattern == kSuperword) return kind = Pattern::Superword, true;
  if (pattern == kCl100k) return kind = Pattern::Cl100k, true;
  if (pattern == kO200k) return kind = Pattern::O200k, true;
  if (pattern.empty()) return kind = Pattern::Whole, true;
  if (pattern == "\u2581") return kind = Pattern::Metaspace, true;
  return false;
}

namespace {

size_t whole(const Text& t, size_t) { return t.n; }

// U+2581 is E2 96 81 in UTF-8; a piece runs up to the next one.
size_t metaspace(const Text& t, size_t i) {
  for (size_t j = i + 1; j + 2 < t.n; ++j)
    if (t.s[j] == 0xE2 && t.s[j + 1] == 0x96 && t.s[j + 2] == 0x81) return j;
  return t.n;
}

template <size_t (*End)(const Text&, size_t)>
size_t pieces(const Text& t, size_t i, size_t* ends, size_t max) {
  size_t count = 0;
  for (; count < max && i < t.n; ++count) ends[count] = i = End(t, i);
  return count;
}

// Windows. Most text is letters, digits, spaces, newlines and punctuation.
// Over bytes of only those (no quote, control character, number or space past ASCII,
// character of four bytes; see classify_wide for the rest) the pieces of
// the Gpt2, Cl100k and O200k patterns follow from each character's class
// and its neighbours', so 64 bytes are split at once, with a bit a byte (a
// character of two or three bytes has its class on each of them). A piece
// starts at
//   - a run of letters, unless a space comes right before it, or (Cl100k,
//     O200k: [^\r\n\p{L}\p{N}]?\p{L}+) a lone punctuation mark that follows
//     a letter, a digit or a newline or opens the window (the character
//     before the mark, which may be of several bytes);
//   - a run of digits (Gpt2: unless a space comes before it, ' ?\p{N}+'),
//     and (Cl100k, O200k: \p{N}{1,3}) every third digit of the run;
//   - a run of punctuation, unless a space comes before it (' ?[^\s\p{L}\p{N}]+');
//   - the last space before a non-space, which goes with what follows, and
//     the first of several spaces (\s+(?!\S));
//   - (O200k) an upper-case letter after a lower-case one ([U]*[Lw]+).
// For Cl100k and O200k newlines right after punctuation end the
// punctuation's piece ([\r\n]* after it), and other newlines are
// whitespace that ends its piece at the run's last newline (\s*[\r\n]+);
// Gpt2's window stops at a newline. A start is known once the byte after it
// is (a run of whitespace: once the run's end is), so starts are taken up
// to the second last clean byte, and the piece from the last start is left
// to the next call. The window's first byte starts a piece (the caller's
// position).
struct WindowClasses {
  uint64_t letter = 0, upper = 0, digit = 0, space = 0, newline = 0, other = 0;  // other: none of the rest, nor punctuation
  uint64_t slash = 0;  // (O200k)
  uint64_t later = 0;  // bytes of characters of two or three bytes after their first
};

// Characters of two and three bytes in the window, in order, take the
// classes of their code points on all their bytes, so that the rules below
// (which look one byte back, or one byte ahead from an ASCII space) see a
// character's class wherever they look: letters, and as punctuation
// anything that is neither a letter, a number nor a space (marks included,
// as cl100k's and GPT-2's patterns have it). The first character they cannot
// take stays `other` and ends what the window decides: a number or a space
// past ASCII (counted or split by characters, not bytes), a character of four bytes,
// one that may run past the window, bytes that are not UTF-8, and for
// O200k a mark or a letter without case (U and Lw overlap there; the rule
// for upper case after lower case holds only where they do not).
template <bool kO200k>
// `high`: the window's bytes from 0x80 up.
[[gnu::noinline]] void classify_wide(const uint8_t* s, WindowClasses& c, uint64_t high) {
  // Nothing past the first ASCII byte that stops the window matters.
  if (const uint64_t stop = c.other & ~high & ~c.newline) high &= (stop & (0 - stop)) - 1;
  while (high) {
    const unsigned k = static_cast<unsigned>(__builtin_ctzll(high));
    if (k > 61) return;  // decode_utf8_2or3 reads three bytes
    size_t len;
    const uint32_t cp = decode_utf8_2or3(s + k, len);
    if (cp == kInvalid) return;
    const uint8_t cls = kBmpClasses[cp];
    const uint64_t bytes = (len == 2 ? uint64_t(3) : uint64_t(7)) << k;
    if (cls & (kIsNumber | kIsSpace)) return;
    if (kO200k) {
      const bool upperish = cls & kIsUpperish, lowerish = cls & kIsLowerish;
      if (upperish && lowerish) return;  // Lm, Lo, M
      if (upperish) c.upper |= bytes;
    }
    if (cls & kIsLetter) c.letter |= bytes;
    c.other &= ~bytes;
    c.later |= bytes & (bytes << 1);
    high &= ~bytes;
  }
}

// `upper` and `slash` only when asked (O200k). Returns false, leaving the rest
// unclassified, when one of the first 3 bytes is neither a letter, a digit,
// a space, punctuation nor a newline: such a window decides nothing.
template <bool kUpper>
bool classify_window(const uint8_t* s, WindowClasses& c) {
  uint64_t high = 0;  // bytes from 0x80 up
#if defined(__SSE2__)
  // x + 0x80 - lo < count - 128, signed: lo <= x < lo + count. Bytes from
  // 0x80 up fall outside every range used here (none reaches past 0x7A).
  auto in_range = [](__m128i x, char lo, int count) {
    return _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8(static_cast<char>(0x80 - lo))),
                          _mm_set1_epi8(static_cast<char>(-128 + count)));
  };
  auto mask = [](__m128i m) { return static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(m))); };
  // In locals, stored once: updates of the struct's fields chunk by chunk
  // were vectorized by GCC into loads and stores of pairs of them.
  uint64_t letter = 0, upper = 0, digit = 0, space = 0, newline = 0, other = 0, slash = 0;
  __m128i any = _mm_setzero_si128();  // bytes from 0x80 up, found apart only where there are some
  for (int k = 0; k < 4; ++k) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 16 * k));
    const int shift = 16 * k;
    // controls and bytes from 0x80 up (both below ' ', signed), the quote
    other |= mask(_mm_or_si128(_mm_cmplt_epi8(b, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(b, _mm_set1_epi8('\'')))) << shift;
    newline |= mask(_mm_cmpeq_epi8(b, _mm_set1_epi8('\n'))) << shift;
    if (k == 0 && (other & ~mask(b) & ~newline & 7)) return false;  // an ASCII byte that stops the window
    any = _mm_or_si128(any, b);
    letter |= mask(in_range(_mm_or_si128(b, _mm_set1_epi8(0x20)), 'a', 26)) << shift;
    digit |= mask(in_range(b, '0', 10)) << shift;
    if (kUpper) upper |= mask(in_range(b, 'A', 26)) << shift, slash |= mask(_mm_cmpeq_epi8(b, _mm_set1_epi8('/'))) << shift;
    space |= mask(_mm_cmpeq_epi8(b, _mm_set1_epi8(' '))) << shift;
  }
  c.letter = letter, c.upper = upper, c.digit = digit, c.space = space, c.newline = newline, c.other = other, c.slash = slash;
  if (_mm_movemask_epi8(any)) {
    for (int k = 0; k < 4; ++k) high |= mask(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 16 * k))) << 16 * k;
  }
#else
  for (int k = 0; k < 64; ++k) {
    const uint8_t b = s[k];
    const uint64_t bit = uint64_t(1) << k;
    if (ascii_letter(b)) c.letter |= bit;
    if (kUpper && ascii_upper(b)) c.upper |= bit;
    if (kUpper && b == '/') c.slash |= bit;
    if (b == ' ') c.space |= bit;
    if (b == '\n') c.newline |= bit;
    if (static_cast<uint8_t>(b - '0') < 10) c.digit |= bit;
    if (b >= 0x80 || b < ' ' || b == '\'') c.other |= bit;
    if (b >= 0x80) high |= bit;
  }
#endif
  if (!high) return true;
  classify_wide<kUpper>(s, c, high);
  return (c.other & ~c.newline & 7) == 0;
}

enum class WindowRules { Gpt2, Cl100k, O200k };

// The bits of `through` that a bit of `from` reaches by steps up (toward
// later bytes) or down, every step on a bit of `through`, and `from`
// itself: runs filled from where they are marked, by doubling steps.
inline uint64_t fill_up(uint64_t from, uint64_t through) {
  for (unsigned k = 1; k < 64; k <<= 1) from |= from << k & through, through &= through << k;
  return from;
}
inline uint64_t fill_down(uint64_t from, uint64_t through) {
  for (unsigned k = 1; k < 64; k <<= 1) from |= from >> k & through, through &= through >> k;
  return from;
}

// The ends of the pieces that start in s[0..64) (s[0] starts one), at most
// `room`; 0 when the window's clean bytes decide none. `clean` gets the
// number of leading clean bytes.
template <WindowRules R>
size_t window_pieces(const uint8_t* s, size_t at, size_t* ends, size_t room, size_t& clean) {
  WindowClasses c;
  if (!classify_window<R == WindowRules::O200k>(s, c)) return clean = 0, 0;
  const uint64_t letter = c.letter, digit = c.digit, space = c.space;
  // Newlines (Cl100k, O200k; Gpt2 leaves them to the matcher). A run of them
  // right after punctuation ends the punctuation's piece ([\r\n]* after it)
  // and starts none: where a carry from its first newline ripples through.
  // With O200k slashes go on such a run ([\r\n/]*), and each slash in it
  // is punctuation after which a newline may seem to start another: the run
  // is filled on from its first newline instead. Any other newline is
  // whitespace (below).
  const uint64_t newline = R == WindowRules::Gpt2 ? 0 : c.newline;
  const uint64_t after_punct = newline & ~(letter | digit | space | c.other) << 1;
  uint64_t trailing = newline & ~(newline + after_punct);
  if (R == WindowRules::O200k && (c.slash & trailing << 1)) trailing = fill_up(after_punct, newline | c.slash);
  const uint64_t punct = ~(letter | digit | space | c.other | trailing), whitespace = space | (newline & ~trailing);
  const uint64_t other = c.other & ~newline;
  clean = other ? static_cast<size_t>(__builtin_ctzll(other)) : 64;
  if (clean < 3) return 0;
  // The window's start counts as after a letter (its first byte starts a piece).
  const uint64_t letter_before = letter << 1 | 1;
  // Whether the character before the one that ends at the byte before is a
  // letter, a digit, a newline or a trailing slash (or the window's start),
  // after which a lone punctuation mark starts a piece: at each character's
  // first byte, then carried over its later bytes, then one byte on.
  uint64_t word_before = (letter | digit | newline | trailing) << 1 | 1;
  if (c.later) {
    word_before &= ~c.later;
    word_before |= word_before << 1 & c.later;
    word_before |= word_before << 1 & c.later;
  }
  const uint64_t space_before = space << 1, punct_before = punct << 1, word_two_before = word_before << 1;
  const uint64_t space_after = space >> 1;
  uint64_t starts = (space & ~space_after) | (space & ~space_before & space_after) | (punct & ~punct_before & ~space_before);
  uint64_t letter_starts = letter & ~letter_before & ~space_before;
  if (R != WindowRules::Gpt2) letter_starts &= ~(punct_before & word_two_before);
  starts |= letter_starts;
  const uint64_t digit_starts = digit & ~(digit << 1);
  if (R == WindowRules::Gpt2) {
    starts |= digit_starts & ~space_before;
  } else {
    starts |= digit_starts;
    for (uint64_t runs = digit_starts; runs; runs &= runs - 1) {  // into threes
      const unsigned r = static_cast<unsigned>(__builtin_ctzll(runs));
      const uint64_t run = digit >> r;
      const unsigned length = ~run ? static_cast<unsigned>(__builtin_ctzll(~run)) : 64;
      for (unsigned k = r + 3; k < r + length; k += 3) starts |= uint64_t(1) << k;
    }
  }
  if (R == WindowRules::O200k) starts |= c.upper & (letter & ~c.upper) << 1;
  // A run of whitespace with a newline in it is one piece up to its last
  // newline (\s*[\r\n]+), then spaces as above; with newlines about, a run
  // that reaches the window's last clean byte may have one past it, so only
  // its start is decided. Those bytes are where whitespace leads on to a
  // newline, or to that last byte, and none of them starts a piece but the
  // run's first.
  if (const uint64_t newlines = whitespace & ~space) {
    const uint64_t led = fill_down(newlines | (whitespace & uint64_t(1) << (clean - 1)), whitespace);
    starts = (starts & ~led) | (whitespace & ~(whitespace << 1) & led);
  }
  starts &= ((uint64_t(1) << (clean - 1)) - 1) & ~uint64_t(1);  // decided, and past the window's own start
  size_t count = 0;
  for (; starts && count < room; starts &= starts - 1) ends[count++] = at + static_cast<size_t>(__builtin_ctzll(starts));
  return count;
}

// pieces<End> with windows wherever 64 bytes are left. The matcher
// takes over until past the byte that stopped a window (the next window
// starts at the last piece a window decided when nothing stopped it), and
// after a window that decides nothing for 1, 2, 4, ... 64 pieces until a
// window yields 4 (text that windows do not take would otherwise pay for a
// window a piece).
template <size_t (*End)(const Text&, size_t), WindowRules R>
size_t pieces_by_windows(const Text& t, size_t i, size_t* ends, size_t max) {
  size_t count = 0, matcher_until = i, matcher_pieces = 0, backoff = 1;
  while (count < max && i < t.n) {
    if (i >= matcher_until && matcher_pieces == 0 && i + 64 <= t.n) {
      size_t clean;
      const size_t got = window_pieces<R>(t.s + i, i, ends + count, max - count, clean);
      // The matcher takes the byte that stopped the window, if one did (a
      // window from just before it would stop at once).
      matcher_until = clean < 64 ? i + clean + 1 : i;
      if (got >= 4) backoff = 1;  // a window that paid off
      if (got) {
        count += got;
        i = ends[count - 1];
        continue;
      }
      matcher_pieces = backoff;
      backoff = backoff < 64 ? 2 * backoff : 64;
    }
    ends[count++] = i = End(t, i);
    if (matcher_pieces) --matcher_pieces;
  }
  return count;
}

}  // namespace

size_t next_pieces(Pattern kind, const uint8_t* s, size_t n, size_t i, size_t* ends, size_t max) {
  const Text t{s, n};
  switch (kind) {
    case Pattern::Gpt2: return pieces_by_windows<gpt2, WindowRules::Gpt2>(t, i, ends, max);
    case Pattern::Cl100k: return pieces_by_windows<cl100k, WindowRules::Cl100k>(t, i, ends, max);
    case Pattern::O200k: return pieces_by_windows<o200k, WindowRules::O200k>(t, i, ends, max);
    default: return next_pieces_by_matcher(kind, s, n, i, ends, max);
  }
}

size_t next_pieces_by_matcher(Pattern kind, const uint8_t* s, size_t n, size_t i, size_t* ends, size_t max) {
  const Text t{s, n};
  switch (kind) {
    case Pattern::Gpt2: return pieces<gpt2>(t, i, ends, max);
    case Pattern::Cl100k: return pieces<cl100k>(t, i, ends, max);
    case Pattern::O200k: return pieces<o200k>(t, i, ends, max);
    case Pattern::Whole: return pieces<whole>(t, i, ends, max);
    case Pattern::Superword: return pieces<superword>(t, i, ends, max);
    case Pattern::Metaspace: return pieces<metaspace>(t, i, ends, max);
  }
  return 0;
}

size_t next_piece(Pattern kind, const uint8_t* s, size_t n, size_t i) {
  size_t end = i;  // i == n: no piece
  next_pieces(kind, s, n, i, &end, 1);
  return end - i;
}

}  // namespace llmk::bpe
