// The pre-tokenizer's windows against its matchers alone
// (next_pieces_by_matcher, the reference): the same pieces for the Gpt2,
// Cl100k and O200k patterns on fresh random text made of what the windows
// decide (letters of both cases, digits, spaces, punctuation, newlines
// after punctuation, slashes among them, and among spaces) mixed with what
// stops them (quotes and contractions, other whitespace, Gpt2's newlines),
// in batches of every size; and on text of other scripts: letters of two
// and three bytes of every kind (upper and lower case, title case, modifier
// and other letters), marks, punctuation and symbols among them, next to
// what stops a window (numbers and spaces past ASCII, characters of four
// bytes, bytes that are not UTF-8).
#include <random>
#include <string>
#include <vector>

#include "../bpe/pretokenize.h"
#include "checks.h"

namespace llmk::selftest {

namespace {

std::string random_text(std::mt19937& rng, size_t length) {
  static const char* const kRare[] = {"0", "42", "1999", "'", "'s", "'S", "'ll", "'VE", "'t", "'re", "'d", "'m", "\t", "\r\n",
                                      "\n", "\n\n", " \n", ".\n\"", "\n ", " \n ", ".\n\n", "!\n \n", "\n\n  ", ",\n/",
                                      "/\n/\n", ".\n.", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80", "\xc2\x85", "\xc2\xa0",
                                      "\xc5\xbf", "\x0b", "\x7f", "/", "  "};
  static const char kPunct[] = ".,;:!?()-\"/[]{}*&%$#@+=<>|~^_`\\";
  std::string s;
  while (s.size() < length) {
    const uint32_t r = rng() % 100;
    if (r < 45) {
      s += static_cast<char>((rng() % 4 == 0 ? 'A' : 'a') + rng() % 26);
    } else if (r < 62) {
      s += ' ';
    } else if (r < 74) {
      s += kPunct[rng() % (sizeof kPunct - 1)];
    } else if (r < 78) {
      s += ".\n";
      s += rng() % 4 ? static_cast<char>((rng() % 2 ? 'A' : 'a') + rng() % 26) : static_cast<char>('0' + rng() % 10);
    } else if (r < 84) {
      s += static_cast<char>('0' + rng() % 10);
    } else if (r < 86 + rng() % 2) {
      s += kRare[rng() % (sizeof kRare / sizeof *kRare)];
    } else {
      s += static_cast<char>('a' + rng() % 26);
    }
  }
  return s;
}

// Words in other scripts, cased or not, with marks, punctuation and
// symbols of two and three bytes around and inside them.
std::string random_wide_text(std::mt19937& rng, size_t length) {
  static const char* const kLetters[] = {
      "\xc3\xa9", "\xc3\x89", "\xc3\x9f", "\xc3\xbf", "\xc3\x80", "\xc4\x80", "\xc4\x81", "\xc5\xbf",  // é É ß ÿ À Ā ā ſ
      "\xc7\x85", "\xc7\x88", "\xca\xb0", "\xce\x91", "\xce\xb1", "\xd0\x94", "\xd0\xb4", "\xd1\xa2",  // ǅ ǈ ʰ Α α Д д Ѣ
      "\xe4\xb8\xad", "\xd7\x90", "\xd8\xa7", "\xe0\xa4\xa8", "\xe0\xa4\xae", "\xe0\xb8\x81",          // 中 א ا न म ก
      "\xe1\xb8\x80", "\xe1\xb8\x81", "\xe2\x84\xaa", "\xef\xbc\xa1", "\xef\xbd\x81"};                 // Ḁ ḁ K(Kelvin) Ａ ａ
  static const char* const kOthers[] = {
      "\xcc\x81", "\xe0\xa5\x8d", "\xe0\xa4\xbf", "\xe0\xb8\xb1", "\xd2\x83",                  // marks
      "\xc2\xab", "\xc2\xbb", "\xe2\x80\x9c", "\xe2\x80\x9d", "\xe2\x80\x94", "\xe2\x80\xa6",  // « » “ ” — …
      "\xc2\xbf", "\xc2\xb7", "\xc3\x97", "\xe2\x82\xac", "\xc2\xa9", "\xef\xbb\xbf",             // ¿ · × € © U+FEFF
      "\xe2\x80\x8b", "\xc2\xad", "\xe3\x80\x81", "\xe3\x80\x82"};                                  // U+200B, soft hyphen, 、 。
  static const char* const kStops[] = {
      "\xc2\xb2", "\xd9\xa3", "\xe2\x85\xab", "\xc2\xa0", "\xc2\x85", "\xe2\x80\x83", "\xe3\x80\x80",  // ² ٣ Ⅻ, spaces
      "\xf0\x9f\x98\x80", "\xf0\x9d\x92\x9c", "\xc3", "\x80", "\xe4\xb8", "'s", "'S", "\t", "\r\n"};
  static const char kPunct[] = ".,;:!?()-\"/[]{}*&%$#@+=<>|~^_`\\";
  std::string s;
  while (s.size() < length) {
    const uint32_t r = rng() % 100;
    if (r < 30) {
      // a word in one script, maybe with ASCII letters and marks inside
      const size_t script = rng() % (sizeof kLetters / sizeof *kLetters);
      for (int k = 1 + static_cast<int>(rng() % 6); k > 0; --k) {
        const uint32_t q = rng() % 10;
        s += q < 6 ? kLetters[(script + rng() % 3) % (sizeof kLetters / sizeof *kLetters)]
             : q < 8 ? std::string(1, static_cast<char>((rng() % 3 == 0 ? 'A' : 'a') + rng() % 26))
                     : kOthers[rng() % 5];
      }
    } else if (r < 50) {
      s += ' ';
    } else if (r < 62) {
      s += static_cast<char>((rng() % 4 == 0 ? 'A' : 'a') + rng() % 26);
    } else if (r < 72) {
      s += kOthers[rng() % (sizeof kOthers / sizeof *kOthers)];
    } else if (r < 80) {
      s += kPunct[rng() % (sizeof kPunct - 1)];
    } else if (r < 85) {
      s += static_cast<char>('0' + rng() % 10);
    } else if (r < 88) {
      s += ".\n";
    } else if (r < 89 + rng() % 2) {
      s += kStops[rng() % (sizeof kStops / sizeof *kStops)];
    } else {
      s += kLetters[rng() % (sizeof kLetters / sizeof *kLetters)];
    }
  }
  return s;
}

std::vector<size_t> piece_ends(bpe::Pattern kind, const std::string& text, size_t batch, bool windows) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  std::vector<size_t> all, ends(batch);
  for (size_t i = 0; i < text.size();) {
    const size_t count = windows ? bpe::next_pieces(kind, s, text.size(), i, ends.data(), batch)
                                 : bpe::next_pieces_by_matcher(kind, s, text.size(), i, ends.data(), batch);
    expect(count > 0 && count <= batch, "next_pieces returned no piece or too many");
    all.insert(all.end(), ends.begin(), ends.begin() + static_cast<std::ptrdiff_t>(count));
    i = ends[count - 1];
  }
  return all;
}

}  // namespace

void check_pretokenize(Context& ctx) {
  std::mt19937 rng(std::random_device{}());
  const uint32_t seed = rng();
  rng.seed(seed);
  const int texts = ctx.timings ? 20000 : 5000;
  const struct {
    bpe::Pattern kind;
    const char* name;
  } patterns[] = {{bpe::Pattern::Gpt2, "gpt2"}, {bpe::Pattern::Cl100k, "cl100k"}, {bpe::Pattern::O200k, "o200k"}};
  for (int t = 0; t < texts; ++t) {
    const std::string text = t % 2 ? random_wide_text(rng, 1 + rng() % 400) : random_text(rng, 1 + rng() % 400);
    const size_t batch = t % 3 == 0 ? 1 + rng() % 8 : 256;  // small batches cut windows short
    for (const auto& p : patterns)
      expect(piece_ends(p.kind, text, batch, true) == piece_ends(p.kind, text, 256, false),
             std::string(p.name) + ": windows and matcher split differently (seed " + std::to_string(seed) + ", text " +
                 std::to_string(t) + ")");
  }
}

}  // namespace llmk::selftest
