// Dynamic batch merging (arXiv 2411.18553): shortens a batch of token-id
// sequences by merging, again and again, the adjacent pair most frequent
// across the whole batch into a new batch-local token, as long as the merged
// text stays inside one boundary unit.
//
//   Word:     no whitespace after the first non-whitespace character, unless
//             the text is all whitespace; never two newlines.
//   Pretoken: the text is a single pre-token of the tokenizer's pattern.
//
// Each pass counts every adjacent pair of the batch as it stands; the pair
// with the largest count (at least 2) wins, ties going to the pair seen first
// in scan order (sequence by sequence, left to right); it is merged left to
// right without overlap in every sequence.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "pretokenize.h"

namespace llmk::bpe {

enum class Boundary { Pretoken, Word };

struct BatchToken {
  uint32_t left, right;  // the ids joined (vocabulary or earlier batch-local ids)
  std::string bytes;
};

// `bytes_of(id, out)` gives the bytes of a vocabulary id (false: unknown id).
// New ids start at `first_new_id`; the sequences are rewritten in place.
std::vector<BatchToken> merge_batch(std::vector<std::vector<uint32_t>>& seqs, size_t max_merges, Boundary boundary,
                                    Pattern pattern, uint32_t first_new_id,
                                    const std::function<bool(uint32_t, std::string_view&)>& bytes_of);

// Whether merged text may form one token under a boundary rule.
bool within_boundary(std::string_view text, Boundary boundary, Pattern pattern);

}  // namespace llmk::bpe
