// The pre-tokenizer's ASCII windows against its matchers alone
// (next_pieces_by_matcher, the reference): the same pieces for the Gpt2,
// Cl100k and O200k patterns on fresh random text made of what the windows
// decide (letters of both cases, digits, spaces, punctuation, a newline
// between punctuation and a letter or digit) mixed with what stops them (quotes and
// contractions, other whitespace, newlines elsewhere, non-ASCII letters and
// spaces), in batches of every size.
#include <random>
#include <string>
#include <vector>

#include "../bpe/pretokenize.h"
#include "checks.h"

namespace llmk::selftest {

namespace {

std::string random_text(std::mt19937& rng, size_t length) {
  static const char* const kRare[] = {"0", "42", "1999", "'", "'s", "'S", "'ll", "'VE", "'t", "'re", "'d", "'m", "\t", "\r\n",
                                      "\n", "\n\n", " \n", ".\n\"", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                                      "\xc2\x85", "\xc2\xa0", "\xc5\xbf", "\x0b", "\x7f", "/", "  "};
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
    const std::string text = random_text(rng, 1 + rng() % 400);
    const size_t batch = t % 3 == 0 ? 1 + rng() % 8 : 256;  // small batches cut windows short
    for (const auto& p : patterns)
      expect(piece_ends(p.kind, text, batch, true) == piece_ends(p.kind, text, 256, false),
             std::string(p.name) + ": windows and matcher split differently (seed " + std::to_string(seed) + ", text " +
                 std::to_string(t) + ")");
  }
}

}  // namespace llmk::selftest
