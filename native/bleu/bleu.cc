#include "bleu.h"

#include <algorithm>
#include <map>
#include <utility>
#include <string>

#include "../common/error.h"
#include "../common/thread_pool.h"

namespace llmk::bleu {

namespace {

// An open-addressing set of n-gram keys; a key's slot is its dense id.
// Kept at most 1/4 full: probes rarely go past the first slot, and the only
// branch in a probe is "keep probing", so whether a key was present (a coin
// toss in BLEU data) never decides a jump.
template <class Key>
struct Table {
  static constexpr Key kEmpty = ~Key(0);
  std::vector<Key> keys;
  unsigned bits = 0;

  void reset(size_t entries) {
    bits = 4;
    while ((size_t(1) << bits) < 4 * entries) ++bits;
    if (keys.size() < size()) keys.resize(size());
    std::fill_n(keys.begin(), size(), kEmpty);
  }
  size_t size() const { return size_t(1) << bits; }
  size_t first(Key key) const { return static_cast<size_t>((uint64_t(key) * 0x9E3779B97F4A7C15ull) >> (64 - bits)); }
  uint32_t insert(Key key) {
    Key* k = keys.data();
    const size_t mask = size() - 1;
    size_t s = first(key);
    while (k[s] != key && k[s] != kEmpty) s = (s + 1) & mask;
    k[s] = key;
    return static_cast<uint32_t>(s);
  }
  // The slot of `key`, or `absent` when it is not in the table.
  uint32_t find(Key key, uint32_t absent) const {
    const Key* k = keys.data();
    const size_t mask = size() - 1;
    size_t s = first(key);
    while (k[s] != key && k[s] != kEmpty) s = (s + 1) & mask;
    return k[s] == key ? static_cast<uint32_t>(s) : absent;
  }
};

// A position whose n-gram can still match, and the slot of that n-gram in
// the current order's table.
struct Alive {
  uint32_t pos;
  uint32_t slot;
};

// Per-thread buffers, grown as needed and reused across sentences.
struct Scratch {
  Table<uint64_t> wide;    // tokens that need 64-bit keys, and long sentences
  Table<uint32_t> narrow;  // 32-bit keys: tokens, or (prefix slot, unigram slot) pairs
  std::vector<uint32_t> cand_count, max_ref, ref_count;
  std::vector<Alive> cand, ref;
  std::vector<uint32_t> ref_end;          // end of each reference's run in `ref`
  std::vector<uint32_t> cand_uni, ref_uni;  // unigram slot per position (refs: or "absent")

  // Zeroed counts for a table of `size` slots plus one "absent" slot.
  void reset_counts(size_t size, bool multi_ref) {
    if (cand_count.size() < size + 1) cand_count.resize(size + 1), max_ref.resize(size + 1), ref_count.resize(size + 1);
    std::fill_n(cand_count.begin(), size + 1, 0u);
    std::fill_n(max_ref.begin(), size + 1, 0u);
    if (multi_ref) std::fill_n(ref_count.begin(), size + 1, 0u);
  }
};

// The sentence being scored: its candidate and the runs of its references.
struct Sentence {
  const Batch& b;
  const uint32_t* cand;
  size_t cand_len;
  size_t r0, r1;
  bool multi_ref() const { return r1 - r0 > 1; }
};

// One order of one sentence. `key(prefix_slot, pos, is_ref, ref_base)` gives the
// n-gram's key, or nothing when it cannot be in the table. Returns the
// clipped matches; leaves in s.cand / s.ref the positions still alive.
template <class Key, class MakeKey>
uint32_t count_order(const Sentence& st, int n, Table<Key>& table, Scratch& s, MakeKey key_of) {
  // 1. The dictionary of the candidate's surviving n-grams, with counts.
  table.reset(s.cand.size());
  s.reset_counts(table.size(), st.multi_ref());
  uint32_t* cand_count = s.cand_count.data();
  uint32_t* max_ref = s.max_ref.data();
  Alive* alive = s.cand.data();
  size_t kept = 0;
  for (size_t k = 0, end = s.cand.size(); k < end; ++k) {
    const Alive a = alive[k];
    if (a.pos + n > st.cand_len) continue;
    const auto [key, possible] = key_of(a, /*ref=*/false, 0);
    if (!possible) continue;  // its last token matches nothing: the n-gram cannot match
    uint32_t slot = table.insert(key);
    ++cand_count[slot];
    alive[kept++] = {a.pos, slot};
  }
  s.cand.resize(kept);

  // 2. Each reference: count its n-grams that are in the dictionary, and keep
  //    the per-n-gram maximum over references.
  const uint32_t absent = static_cast<uint32_t>(table.size());
  uint32_t* count = st.multi_ref() ? s.ref_count.data() : max_ref;
  Alive* ref_alive = s.ref.data();
  size_t ref_kept = 0, run_begin = 0;
  for (size_t r = st.r0; r < st.r1; ++r) {
    const uint32_t len = st.b.ref_offsets[r + 1] - st.b.ref_offsets[r];
    const size_t base = st.b.ref_offsets[r] - st.b.ref_offsets[st.r0];
    const size_t run_end = s.ref_end[r - st.r0], first_kept = ref_kept;
    for (size_t k = run_begin; k < run_end; ++k) {
      const Alive a = ref_alive[k];
      if (a.pos + n > len) continue;
      const auto [key, possible] = key_of(a, /*ref=*/true, base);
      uint32_t slot = table.find(key, absent);
      slot = possible ? slot : absent;
      ++count[slot];
      ref_alive[ref_kept] = {a.pos, slot};
      ref_kept += slot != absent;
    }
    if (st.multi_ref())
      for (size_t k = first_kept; k < ref_kept; ++k) {
        uint32_t slot = ref_alive[k].slot;
        max_ref[slot] = std::max(max_ref[slot], count[slot]);
        count[slot] = 0;
      }
    run_begin = run_end;
    s.ref_end[r - st.r0] = static_cast<uint32_t>(ref_kept);
  }
  s.ref.resize(ref_kept);

  // 3. Clipped matches: over distinct n-grams, min(candidate count, max
  //    reference count), taken at each n-gram's first position (then zeroed).
  //    Positions whose n-gram occurs in no reference die.
  uint32_t m = 0;
  kept = 0;
  for (size_t k = 0, end = s.cand.size(); k < end; ++k) {
    const Alive a = alive[k];
    m += std::min(cand_count[a.slot], max_ref[a.slot]);
    cand_count[a.slot] = 0;
    alive[kept] = a;
    kept += max_ref[a.slot] != 0;
  }
  s.cand.resize(kept);
  return m;
}

// One sentence, one order at a time. Only "alive" positions are visited: a
// candidate n-gram whose (n-1)-gram prefix occurs in no reference cannot
// match, and a reference n-gram whose prefix is not in the candidate cannot be
// matched, so each order works on the survivors of the previous one. From
// order 2 on, an n-gram's key is (slot of its prefix, unigram slot of its last
// token): exact, and 31 bits wide for sentences up to 8k tokens.
void sentence_stats(const Batch& b, size_t i, int max_order, Scratch& s, uint32_t* row) {
  const Sentence st{b, b.cand_tokens + b.cand_offsets[i], b.cand_offsets[i + 1] - b.cand_offsets[i], b.ref_groups[i],
                    b.ref_groups[i + 1]};
  const uint32_t* ref_tokens = b.ref_tokens + b.ref_offsets[st.r0];
  const size_t ref_total = b.ref_offsets[st.r1] - b.ref_offsets[st.r0];

  // Closest reference length; ties go to the shorter one.
  size_t best = 0;
  for (size_t r = st.r0; r < st.r1; ++r) {
    size_t len = b.ref_offsets[r + 1] - b.ref_offsets[r];
    size_t diff = len > st.cand_len ? len - st.cand_len : st.cand_len - len;
    size_t best_diff = best > st.cand_len ? best - st.cand_len : st.cand_len - best;
    if (r == st.r0 || diff < best_diff || (diff == best_diff && len < best)) best = len;
  }
  row[0] = static_cast<uint32_t>(st.cand_len);
  row[1] = static_cast<uint32_t>(best);
  uint32_t* matches = row + 2;
  uint32_t* totals = row + 2 + max_order;
  for (int n = 1; n <= max_order; ++n) {
    totals[n - 1] = static_cast<uint32_t>(st.cand_len >= size_t(n) ? st.cand_len - n + 1 : 0);
    matches[n - 1] = 0;
  }
  if (st.cand_len == 0) return;

  // Every position starts alive.
  s.cand.resize(st.cand_len);
  for (size_t p = 0; p < st.cand_len; ++p) s.cand[p] = {static_cast<uint32_t>(p), 0};
  s.ref.resize(ref_total);
  s.ref_end.resize(st.r1 - st.r0);
  for (size_t r = st.r0, k = 0; r < st.r1; ++r) {
    for (uint32_t p = 0, len = b.ref_offsets[r + 1] - b.ref_offsets[r]; p < len; ++p) s.ref[k++] = {p, 0};
    s.ref_end[r - st.r0] = static_cast<uint32_t>(k);
  }

  // Order 1: keys are the tokens. Remember each position's unigram slot.
  s.cand_uni.assign(st.cand_len, ~0u);
  s.ref_uni.assign(ref_total, ~0u);
  // 32-bit keys unless the candidate holds the one id that marks an empty slot.
  const bool narrow1 = std::find(st.cand, st.cand + st.cand_len, Table<uint32_t>::kEmpty) == st.cand + st.cand_len;
  uint32_t m;
  if (narrow1) {
    m = count_order(st, 1, s.narrow, s, [&](const Alive& a, bool ref, size_t base) {
      const uint32_t tok = ref ? ref_tokens[base + a.pos] : st.cand[a.pos];
      return std::pair<uint32_t, bool>(tok, tok != Table<uint32_t>::kEmpty);
    });
  } else {
    m = count_order(st, 1, s.wide, s, [&](const Alive& a, bool ref, size_t base) {
      return std::pair<uint64_t, bool>(ref ? ref_tokens[base + a.pos] : st.cand[a.pos], true);
    });
  }
  for (const Alive& a : s.cand) s.cand_uni[a.pos] = a.slot;  // unmatched unigrams stay ~0
  {
    size_t run_begin = 0;
    for (size_t r = st.r0; r < st.r1; ++r) {
      const size_t base = b.ref_offsets[r] - b.ref_offsets[st.r0];
      for (size_t k = run_begin; k < s.ref_end[r - st.r0]; ++k) s.ref_uni[base + s.ref[k].pos] = s.ref[k].slot;
      run_begin = s.ref_end[r - st.r0];
    }
  }
  matches[0] = m;
  const unsigned uni_bits = narrow1 ? s.narrow.bits : s.wide.bits;

  unsigned prefix_bits = uni_bits;  // slots of the previous order are < 2^prefix_bits
  for (int n = 2; n <= max_order && m > 0; ++n) {
    // A reference or candidate token whose unigram matched nothing ends every
    // n-gram it belongs to.
    auto last_uni = [&](const Alive& a, bool ref, size_t base) {
      return ref ? s.ref_uni[base + a.pos + n - 1] : s.cand_uni[a.pos + n - 1];
    };
    if (prefix_bits + uni_bits <= 31) {
      m = count_order(st, n, s.narrow, s, [&](const Alive& a, bool ref, size_t base) {
        const uint32_t uni = last_uni(a, ref, base);
        return std::pair<uint32_t, bool>((a.slot << uni_bits) | (uni & ((1u << uni_bits) - 1)), uni != ~0u);
      });
      prefix_bits = s.narrow.bits;
    } else {
      m = count_order(st, n, s.wide, s, [&](const Alive& a, bool ref, size_t base) {
        const uint32_t uni = last_uni(a, ref, base);
        return std::pair<uint64_t, bool>((uint64_t(a.slot) << 32) | uni, uni != ~0u);
      });
      prefix_bits = s.wide.bits;
    }
    matches[n - 1] = m;
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
  constexpr size_t kSentencesPerTask = 8;
  const size_t tasks = (b.n_cand + kSentencesPerTask - 1) / kSentencesPerTask;
  const size_t width = stats_width(max_order);
  run_parallel(
      tasks, threads,
      [&](size_t t) {
        thread_local Scratch scratch;
        const size_t end = std::min(b.n_cand, (t + 1) * kSentencesPerTask);
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
