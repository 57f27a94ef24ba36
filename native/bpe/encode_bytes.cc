// Raw bytes that are not valid UTF-8, as tiktoken encodes them
// (CoreBPE::_encode_bytes): the pattern splits text, so only the longest
// valid prefix is split; its last pre-token's tokens, with the tokens made
// only of spaces, tabs and newlines just before them where the last piece's
// first token is one too (tiktoken's _increase_last_piece_token_len, for
// splits such as cl100k's \s*[\r\n]+ that may not hold once more bytes
// follow), are taken back and their bytes joined with the rest of the input
// into one piece, merged as a whole. Valid UTF-8 is encode_ordinary.
//
//   "hello wor\xff!"  ->  ids of "hello", then " wor\xff!" merged as one piece
#include <string_view>

#include "encoding.h"
#include "unicode.h"

namespace llmk::bpe {

void Encoding::encode_bytes(const uint8_t* text, size_t n, std::vector<Rank>& out) const {
  // No pattern (a tokenizer trained on raw bytes): one piece either way.
  if (kind_ == Pattern::Whole) return encode_ordinary(text, n, out);
  const size_t valid = utf8_valid_prefix(text, n);
  if (valid == n) return encode_ordinary(text, n, out);
  const size_t first = out.size();
  encode_ordinary(text, valid, out);
  size_t last = 0;  // where the prefix's last pre-token starts
  split(kind_, text, valid, [&](size_t a, size_t) { last = a; });
  auto bytes_of = [&](Rank id) {
    std::string_view b;
    token_bytes(id, b);
    return b;
  };
  auto all_space = [&](Rank id) { return bytes_of(id).find_first_not_of(" \n\t") == std::string_view::npos; };
  // The last piece's tokens: the prefix's tokens never straddle its pieces.
  size_t keep = out.size(), start = valid;
  while (start > last && keep > first) start -= bytes_of(out[--keep]).size();
  if (keep < out.size() && all_space(out[keep]))
    while (keep > first && all_space(out[keep - 1])) start -= bytes_of(out[--keep]).size();
  out.resize(keep);
  encode_one_piece(text + start, n - start, out);
}

size_t Encoding::count_bytes(const uint8_t* text, size_t n, size_t limit) const {
  if (kind_ == Pattern::Whole || utf8_valid_prefix(text, n) == n) return count_ordinary(text, n, limit);
  std::vector<Rank> ids;
  encode_bytes(text, n, ids);
  return ids.size();
}

}  // namespace llmk::bpe
