#include "bleu.h"

#include <algorithm>
#include <map>
#include <string>

#include "../common/error.h"
#include "../common/thread_pool.h"

namespace llmk::bleu {

namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;
constexpr uint64_t kEmpty = ~uint64_t(0);

// Per-thread buffers, grown as needed and reused across sentences.
struct Scratch {
  std::vector<uint64_t> keys;
  std::vector<uint32_t> vals;
  std::vector<uint32_t> cand_id, ref_id, count, max_ref;
  unsigned bits = 0;

  void reset_table(size_t entries) {
    bits = 4;
    while ((size_t(1) << bits) < 2 * entries) ++bits;
    size_t size = size_t(1) << bits;
    if (keys.size() < size) keys.resize(size), vals.resize(size);
    std::fill(keys.begin(), keys.begin() + size, kEmpty);
  }
  size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> (64 - bits)); }
  uint32_t insert(uint64_t key, uint32_t& next_id) {
    const size_t mask = (size_t(1) << bits) - 1;
    for (size_t s = slot(key);; s = (s + 1) & mask) {
      if (keys[s] == key) return vals[s];
      if (keys[s] == kEmpty) {
        keys[s] = key;
        return vals[s] = next_id++;
      }
    }
  }
  uint32_t find(uint64_t key) const {
    const size_t mask = (size_t(1) << bits) - 1;
    for (size_t s = slot(key);; s = (s + 1) & mask) {
      if (keys[s] == key) return vals[s];
      if (keys[s] == kEmpty) return kNone;
    }
  }
};

inline uint64_t ngram_key(int n, uint32_t prefix_id, uint32_t last) {
  return n == 1 ? last : (uint64_t(prefix_id) << 32) | last;
}

void sentence_stats(const Batch& b, size_t i, int max_order, Scratch& s, uint32_t* row) {
  const uint32_t* cand = b.cand_tokens + b.cand_offsets[i];
  const size_t cand_len = b.cand_offsets[i + 1] - b.cand_offsets[i];
  const size_t r0 = b.ref_groups[i], r1 = b.ref_groups[i + 1];
  const size_t ref_begin = b.ref_offsets[r0], ref_end = b.ref_offsets[r1];
  const uint32_t* refs = b.ref_tokens + ref_begin;

  // Closest reference length; ties go to the shorter one.
  size_t best = 0;
  for (size_t r = r0; r < r1; ++r) {
    size_t len = b.ref_offsets[r + 1] - b.ref_offsets[r];
    size_t diff = len > cand_len ? len - cand_len : cand_len - len;
    size_t best_diff = best > cand_len ? best - cand_len : cand_len - best;
    if (r == r0 || diff < best_diff || (diff == best_diff && len < best)) best = len;
  }
  row[0] = static_cast<uint32_t>(cand_len);
  row[1] = static_cast<uint32_t>(best);
  uint32_t* matches = row + 2;
  uint32_t* totals = row + 2 + max_order;

  if (s.cand_id.size() < cand_len) s.cand_id.resize(cand_len);
  if (s.ref_id.size() < ref_end - ref_begin) s.ref_id.resize(ref_end - ref_begin);
  bool matching = cand_len > 0;
  for (int n = 1; n <= max_order; ++n) {
    const size_t cand_ngrams = cand_len >= size_t(n) ? cand_len - n + 1 : 0;
    totals[n - 1] = static_cast<uint32_t>(cand_ngrams);
    matches[n - 1] = 0;
    // An n-gram match needs a match of its (n-1)-gram prefix.
    if (!matching || cand_ngrams == 0) {
      matching = false;
      continue;
    }
    s.reset_table(cand_ngrams);
    uint32_t unique = 0;
    for (size_t p = 0; p < cand_ngrams; ++p) s.cand_id[p] = s.insert(ngram_key(n, s.cand_id[p], cand[p + n - 1]), unique);
    if (s.count.size() < unique) s.count.resize(unique), s.max_ref.resize(unique);
    std::fill(s.count.begin(), s.count.begin() + unique, 0u);
    std::fill(s.max_ref.begin(), s.max_ref.begin() + unique, 0u);

    for (size_t r = r0; r < r1; ++r) {
      const size_t off = b.ref_offsets[r] - ref_begin;
      const size_t len = b.ref_offsets[r + 1] - b.ref_offsets[r];
      if (len < size_t(n)) continue;
      uint32_t* ids = s.ref_id.data() + off;
      const uint32_t* toks = refs + off;
      for (size_t p = 0; p + n <= len; ++p) {
        uint32_t id = (n > 1 && ids[p] == kNone) ? kNone : s.find(ngram_key(n, ids[p], toks[p + n - 1]));
        ids[p] = id;
        if (id != kNone) ++s.count[id];
      }
      for (size_t p = 0; p + n <= len; ++p) {
        uint32_t id = ids[p];
        if (id != kNone && s.count[id] != 0) {
          s.max_ref[id] = std::max(s.max_ref[id], s.count[id]);
          s.count[id] = 0;
        }
      }
    }
    // sum over distinct n-grams of min(candidate count, max reference count)
    uint32_t m = 0;
    for (size_t p = 0; p < cand_ngrams; ++p) {
      uint32_t& left = s.max_ref[s.cand_id[p]];
      if (left > 0) ++m, --left;
    }
    matches[n - 1] = m;
    matching = m > 0;
  }
}

[[noreturn]] void bad_shape(const std::string& message) { throw range_error("ERR_LLMK_BAD_SHAPE", message); }

void validate_offsets(const uint32_t* offsets, size_t count, size_t total, const char* name) {
  if (offsets[0] != 0) bad_shape(std::string(name) + "[0] must be 0");
  for (size_t i = 0; i < count; ++i)
    if (offsets[i + 1] < offsets[i])
      bad_shape(std::string(name) + " must be non-decreasing (entry " + std::to_string(i + 1) + ")");
  if (offsets[count] != total)
    bad_shape(std::string(name) + " must end at " + std::to_string(total) + ", got " + std::to_string(offsets[count]));
}

}  // namespace

void validate(const Batch& b, int max_order) {
  if (max_order < 1 || max_order > kMaxOrder)
    throw range_error("ERR_LLMK_BAD_OPTION", "maxOrder must be an integer in [1, " + std::to_string(kMaxOrder) + "]");
  validate_offsets(b.cand_offsets, b.n_cand, b.cand_tokens_len, "candidate offsets");
  validate_offsets(b.ref_offsets, b.n_refs, b.ref_tokens_len, "reference offsets");
  validate_offsets(b.ref_groups, b.n_cand, b.n_refs, "reference groups");
  for (size_t i = 0; i < b.n_cand; ++i)
    if (b.ref_groups[i + 1] == b.ref_groups[i])
      bad_shape("candidate " + std::to_string(i) + " has no reference (at least one is required)");
}

void compute_stats(const Batch& b, int max_order, uint32_t* out, size_t threads, const std::atomic<bool>* cancel) {
  const size_t width = stats_width(max_order);
  constexpr size_t kSentencesPerTask = 8;
  const size_t tasks = (b.n_cand + kSentencesPerTask - 1) / kSentencesPerTask;
  run_parallel(
      tasks, threads,
      [&](size_t t) {
        thread_local Scratch scratch;
        size_t end = std::min(b.n_cand, (t + 1) * kSentencesPerTask);
        for (size_t i = t * kSentencesPerTask; i < end; ++i) sentence_stats(b, i, max_order, scratch, out + i * width);
      },
      cancel);
}

void compute_stats_reference(const Batch& b, int max_order, uint32_t* out) {
  const size_t width = stats_width(max_order);
  auto counts = [](const uint32_t* t, size_t len, int n) {
    std::map<std::vector<uint32_t>, uint32_t> c;
    for (size_t p = 0; p + n <= len; ++p) ++c[std::vector<uint32_t>(t + p, t + p + n)];
    return c;
  };
  for (size_t i = 0; i < b.n_cand; ++i) {
    uint32_t* row = out + i * width;
    const uint32_t* cand = b.cand_tokens + b.cand_offsets[i];
    const size_t len = b.cand_offsets[i + 1] - b.cand_offsets[i];
    row[0] = static_cast<uint32_t>(len);
    long best = -1;
    for (size_t r = b.ref_groups[i]; r < b.ref_groups[i + 1]; ++r) {
      long rl = static_cast<long>(b.ref_offsets[r + 1] - b.ref_offsets[r]);
      long d = std::labs(rl - static_cast<long>(len)), bd = std::labs(best - static_cast<long>(len));
      if (best < 0 || d < bd || (d == bd && rl < best)) best = rl;
    }
    row[1] = static_cast<uint32_t>(best);
    for (int n = 1; n <= max_order; ++n) {
      auto c = counts(cand, len, n);
      std::map<std::vector<uint32_t>, uint32_t> max_ref;
      for (size_t r = b.ref_groups[i]; r < b.ref_groups[i + 1]; ++r)
        for (auto& [g, k] : counts(b.ref_tokens + b.ref_offsets[r], b.ref_offsets[r + 1] - b.ref_offsets[r], n))
          max_ref[g] = std::max(max_ref[g], k);
      uint32_t m = 0;
      for (auto& [g, k] : c) m += std::min(k, max_ref.count(g) ? max_ref[g] : 0u);
      row[2 + n - 1] = m;
      row[2 + max_order + n - 1] = static_cast<uint32_t>(len >= size_t(n) ? len - n + 1 : 0);
    }
  }
}

}  // namespace llmk::bleu
