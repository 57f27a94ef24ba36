#include "pretokenize.h"

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

bool is_letter(const Cp& c) { return c.cls & kIsLetter; }
bool is_number(const Cp& c) { return c.cls & kIsNumber; }
bool is_space(const Cp& c) { return c.cls & kIsSpace; }
bool is_crlf(const Cp& c) { return c.cp == '\r' || c.cp == '\n'; }
// [^\s\p{L}\p{N}]
bool is_other(const Cp& c) { return !(c.cls & (kIsSpace | kIsLetter | kIsNumber)); }
// [^\r\n\p{L}\p{N}]
bool is_prefix(const Cp& c) { return !is_crlf(c) && !(c.cls & (kIsLetter | kIsNumber)); }

// Case-insensitive match of one ASCII letter, with Unicode simple case
// folding as the regex crate applies it (U+017F LATIN SMALL LETTER LONG S
// folds to 's').
bool same_ci(uint32_t cp, char c) {
  return cp == uint32_t(c) || cp == uint32_t(c - 'a' + 'A') || (c == 's' && cp == 0x17F);
}

// 's|'t|'re|'ve|'m|'ll|'d at i; returns the end or 0.
size_t contraction(const Text& t, size_t i, bool ignore_case) {
  if (i >= t.n || t.s[i] != '\'') return 0;
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

template <class Pred>
size_t run(const Text& t, size_t i, Pred pred) {
  while (i < t.n) {
    const Cp c = t.at(i);
    if (!pred(c)) break;
    i = c.end;
  }
  return i;
}

// run(t, i, pred) with a fast path over ASCII: ascii(b) must agree with pred
// on every ASCII character, which then needs no decoding or table lookup
// (letter runs are most of the work on Latin-script text).
template <class Ascii, class Pred>
size_t run_ascii(const Text& t, size_t i, Ascii ascii, Pred pred) {
  for (;;) {
    while (i < t.n && t.s[i] < 0x80 && ascii(t.s[i])) ++i;
    if (i >= t.n || t.s[i] < 0x80) return i;
    const Cp c = t.at(i);
    if (!pred(c)) return i;
    i = c.end;
  }
}
bool ascii_letter(uint8_t b) { return static_cast<uint8_t>((b | 0x20) - 'a') < 26; }
bool ascii_lower(uint8_t b) { return static_cast<uint8_t>(b - 'a') < 26; }
bool ascii_upper(uint8_t b) { return static_cast<uint8_t>(b - 'A') < 26; }
size_t letters(const Text& t, size_t i) { return run_ascii(t, i, ascii_letter, is_letter); }

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

size_t gpt2(const Text& t, size_t i) {
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

size_t cl100k(const Text& t, size_t i) {
  if (const size_t e = contraction(t, i, true)) return e;
  const Cp c0 = t.at(i);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (is_prefix(c0) && c0.end < t.n && is_letter(t.at(c0.end))) return letters(t, c0.end);
  if (is_letter(c0)) return letters(t, c0.end);
  return number_punct_space(t, i, c0, false);
}

bool upperish(const Cp& c) { return c.cls & kIsUpperish; }
bool lowerish(const Cp& c) { return c.cls & kIsLowerish; }

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
  if (u_end < t.n && lowerish(t.at(u_end))) return run_ascii(t, u_end, ascii_lower, lowerish);  // U* keeps its whole run
  if (last_lw_in_run == SIZE_MAX) return 0;
  return run_ascii(t, last_lw_in_run, ascii_lower, lowerish);  // the Lw run stops inside the U run
}

size_t o200k(const Text& t, size_t i) {
  const Cp c0 = t.at(i);
  auto with_contraction = [&](size_t e) {
    const size_t c = contraction(t, e, true);
    return c ? c : e;
  };
  // [^\r\n\p{L}\p{N}]?[U]*[Lw]+(contraction)?
  if (is_prefix(c0) && c0.end < t.n)
    if (const size_t e = upper_star_lower_plus(t, c0.end)) return with_contraction(e);
  if (const size_t e = upper_star_lower_plus(t, i)) return with_contraction(e);
  // [^\r\n\p{L}\p{N}]?[U]+[Lw]*(contraction)?
  if (is_prefix(c0) && c0.end < t.n && upperish(t.at(c0.end)))
    return with_contraction(run_ascii(t, run_ascii(t, c0.end, ascii_upper, upperish), ascii_lower, lowerish));
  if (upperish(c0)) return with_contraction(run_ascii(t, run_ascii(t, c0.end, ascii_upper, upperish), ascii_lower, lowerish));
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

size_t next_piece(Pattern kind, const uint8_t* s, size_t n, size_t i) {
  const Text t{s, n};
  switch (kind) {
    case Pattern::Gpt2: return gpt2(t, i) - i;
    case Pattern::Cl100k: return cl100k(t, i) - i;
    case Pattern::O200k: return o200k(t, i) - i;
    case Pattern::Whole: return n - i;
    case Pattern::Superword: return superword(t, i) - i;
    case Pattern::Metaspace: {
      // U+2581 is E2 96 81 in UTF-8; a piece runs up to the next one.
      for (size_t j = i + 1; j + 2 < n; ++j)
        if (s[j] == 0xE2 && s[j + 1] == 0x96 && s[j + 2] == 0x81) return j - i;
      return n - i;
    }
  }
  return 1;
}

}  // namespace llmk::bpe
