// Token-ID BLEU statistics: for each candidate, the clipped n-gram matches and
// n-gram totals per order, the candidate length and the closest reference
// length (ties go to the shorter reference). Scoring (NLTK or sacreBLEU
// semantics) happens afterwards in float64, in lib/bleu/.
//
// Method: n-grams are never hashed into a vocab^n space. Each sentence gets a
// small dictionary of the n-grams its candidate actually contains, built one
// order at a time and numbering them densely: an order-1 key is the token, an
// order-n key is (id of its (n-1)-gram prefix, id of its last unigram), exact
// for any 32-bit vocabulary. Reference positions only look up (an n-gram
// absent from the candidate cannot match, and neither can anything that
// extends it), so memory is proportional to the candidate; an order visits
// only the positions whose two (n-1)-grams both matched.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace llmk::bleu {

// A packed batch. Candidate i is cand_tokens[cand_offsets[i] .. cand_offsets[i+1]);
// its references are refs ref_groups[i] .. ref_groups[i+1]-1, reference r being
// ref_tokens[ref_offsets[r] .. ref_offsets[r+1]).
struct Batch {
  const uint32_t* cand_tokens = nullptr;
  size_t cand_tokens_len = 0;
  const uint32_t* cand_offsets = nullptr;  // n_cand + 1 entries
  size_t n_cand = 0;
  const uint32_t* ref_tokens = nullptr;
  size_t ref_tokens_len = 0;
  const uint32_t* ref_offsets = nullptr;  // n_refs + 1 entries
  size_t n_refs = 0;
  const uint32_t* ref_groups = nullptr;  // n_cand + 1 entries
};

constexpr int kMaxOrder = 16;

// Row layout of the statistics, one row of stats_width(order) uint32 per
// candidate: [hyp_len, ref_len, matches_1..matches_N, totals_1..totals_N]
// (sacreBLEU's layout).
inline size_t stats_width(int max_order) { return 2 + 2 * static_cast<size_t>(max_order); }

// Throws llmk::Error (RangeError, ERR_LLMK_BAD_SHAPE) unless every offset is
// in bounds and non-decreasing and every candidate has at least one reference.
void validate(const Batch& batch, int max_order);

// Fills out[n_cand * stats_width(max_order)]; sentences spread over `threads`.
void compute_stats(const Batch& batch, int max_order, uint32_t* out, size_t threads,
                   const std::atomic<bool>* cancel = nullptr);

// The obvious implementation (std::map of n-gram vectors), for the self-test.
void compute_stats_reference(const Batch& batch, int max_order, uint32_t* out);

}  // namespace llmk::bleu
