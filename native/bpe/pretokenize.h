// Pre-tokenizers of the built-in encodings, written out by hand instead of
// run through a regex engine: each is exactly its pattern's leftmost-first
// semantics (tiktoken's Rust regex), and each runs in time linear in its
// input, whatever the input.
//
//   Gpt2    (r50k_base, p50k_base)  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   Cl100k  (cl100k_base)           (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//                                   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   Whole   (empty pattern)         the whole text
//   Metaspace ("\u2581")             pieces starting at each U+2581
//   O200k   (o200k_base)            cased words with optional contractions, \p{N}{1,3},
//                                   ?[^\s\p{L}\p{N}]+[\r\n/]*, then the whitespace rules of Cl100k
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace llmk::bpe {

// Whole: no pre-tokenizer, the text is one piece (SentencePiece-style BPE).
// Metaspace: a piece starts at every U+2581 (tokenizers' Metaspace with split).
// Superword: SuperBPE's second-stage pattern (see pretokenize.cc); words and spaces stay together.
enum class Pattern { Gpt2, Cl100k, O200k, Whole, Metaspace, Superword };

// The pattern kind of a pattern string, or false when it is none of the
// built-in ones (the caller reports it as unsupported).
bool pattern_kind(std::string_view pattern, Pattern& kind);

// Calls piece(begin, end) for each pre-token of s[0..n), in order; the pieces
// tile the input.
template <class F>
void split(Pattern kind, const uint8_t* s, size_t n, F&& piece);

// Length in bytes of the pre-token starting at s[i] (i < n).
size_t next_piece(Pattern kind, const uint8_t* s, size_t n, size_t i);

// The ends of the pre-tokens from s[i] on, in order: at most `max` of them
// (fewer only where the text ends). Returns how many. In batches, the
// pattern's matcher runs inlined in one loop rather than a call a piece.
size_t next_pieces(Pattern kind, const uint8_t* s, size_t n, size_t i, size_t* ends, size_t max);
// The same from the patterns' matchers alone: next_pieces splits runs of
// plain ASCII 64 bytes at a time with bit masks, and is held to this
// reference by the native self-test.
size_t next_pieces_by_matcher(Pattern kind, const uint8_t* s, size_t n, size_t i, size_t* ends, size_t max);

template <class F>
void split(Pattern kind, const uint8_t* s, size_t n, F&& piece) {
  size_t ends[256];
  for (size_t i = 0; i < n;) {
    const size_t count = next_pieces(kind, s, n, i, ends, 256);
    for (size_t k = 0; k < count; ++k) {
      piece(i, ends[k]);
      i = ends[k];
    }
  }
}

}  // namespace llmk::bpe
