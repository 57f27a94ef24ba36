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

constexpr uint32_t kDead = ~0u;

// A position whose n-gram can still match, and the slot of its (n-1)-gram
// prefix (unused at order 1).
struct Alive {
  uint32_t pos;
  uint32_t prefix;
};

// Per-thread buffers, grown as needed and reused across sentences.
struct Scratch {
  Table<uint64_t> wide;    // keys that need 64 bits: a token 2^32-1, or very long sentences
  Table<uint32_t> narrow;  // 32-bit keys: tokens, or (prefix slot, unigram slot) pairs
  std::vector<uint32_t> cand_count, max_ref, ref_count;  // per slot, plus one "absent" slot
  std::vector<uint32_t> cand_uni, ref_uni;  // unigram slot per position (references: or kDead)
  std::vector<uint32_t> cand_id, ref_id;    // this order's slot per position, or kDead
  std::vector<Alive> cand_list, ref_list;   // positions whose n-gram can still match
  // Reference positions are numbered across a sentence's references with one
  // dead position after each: no n-gram spans two references, and none runs
  // past an end, without a bounds check. Reference j ends at ref_end[j].
  std::vector<uint32_t> ref_tok, ref_end;

  // Zeroed counts for a table of `size` slots plus one "absent" slot.
  void reset_counts(size_t size, bool multi_ref) {
    if (cand_count.size() < size + 1) cand_count.resize(size + 1), max_ref.resize(size + 1), ref_count.resize(size + 1);
    std::fill_n(cand_count.begin(), size + 1, 0u);
    std::fill_n(max_ref.begin(), size + 1, 0u);
    if (multi_ref) std::fill_n(ref_count.begin(), size + 1, 0u);
  }
};

// Counts one order over the positions in s.cand_list / s.ref_list (ascending)
// and returns the clipped matches. Leaves in s.cand_id the slot of every
// candidate n-gram that occurs in some reference and in s.ref_id the slot of
// every reference n-gram that occurs in the candidate (kDead elsewhere).
// `record_*`, when given, receive the slot of every listed position.
template <class Key, class CandKey, class RefKey>
uint32_t count_order(Table<Key>& table, Scratch& s, CandKey cand_key, RefKey ref_key, uint32_t* record_cand = nullptr) {
  const bool multi_ref = s.ref_end.size() > 1;
  table.reset(s.cand_list.size());
  s.reset_counts(table.size(), multi_ref);
  uint32_t* cand_count = s.cand_count.data();
  uint32_t* max_ref = s.max_ref.data();
  uint32_t* cand_id = s.cand_id.data();
  uint32_t* ref_id = s.ref_id.data();

  // 1. The dictionary of the candidate's n-grams that can still match, with counts.
  for (const Alive& a : s.cand_list) {
    const uint32_t slot = table.insert(cand_key(a));
    ++cand_count[slot];
    cand_id[a.pos] = slot;
    if (record_cand) record_cand[a.pos] = slot;
  }
  // 2. Reference n-grams in the dictionary, counted per reference; keep the
  //    maximum over references (a single reference counts into max_ref).
  const uint32_t absent = static_cast<uint32_t>(table.size());
  uint32_t* count = multi_ref ? s.ref_count.data() : max_ref;
  const Alive* list = s.ref_list.data();
  const size_t n_list = s.ref_list.size();
  for (size_t k = 0, j = 0; k < n_list;) {
    while (list[k].pos >= s.ref_end[j]) ++j;
    const size_t run_begin = k, end = s.ref_end[j];
    for (; k < n_list && list[k].pos < end; ++k) {
      const uint32_t slot = table.find(ref_key(list[k]), absent);
      ++count[slot];
      ref_id[list[k].pos] = slot == absent ? kDead : slot;
    }
    if (multi_ref)
      for (size_t i = run_begin; i < k; ++i) {
        const uint32_t slot = ref_id[list[i].pos];
        if (slot == kDead) continue;
        max_ref[slot] = std::max(max_ref[slot], count[slot]);
        count[slot] = 0;
      }
  }
  // 3. Clipped matches: over distinct n-grams, min(candidate count, max
  //    reference count), taken at each n-gram's first position (then zeroed).
  uint32_t m = 0;
  for (const Alive& a : s.cand_list) {
    const uint32_t slot = cand_id[a.pos];
    m += std::min(cand_count[slot], max_ref[slot]);
    cand_count[slot] = 0;
    cand_id[a.pos] = max_ref[slot] != 0 ? slot : kDead;
  }
  return m;
}

// The positions of order n from the survivors of order n-1: a position stays
// if its (n-1)-gram and the one to its right both survived (an n-gram
// contains both), and carries its prefix slot. Clears the ids it reads, so
// that only the positions it keeps get ids at order n. Branch-free, in place.
void next_positions(std::vector<Alive>& list, uint32_t* id) {
  size_t at = 0;
  for (const Alive& a : list) {
    const uint32_t p = a.pos, prefix = id[p];
    list[at] = {p, prefix};
    at += (prefix != kDead) & (id[p + 1] != kDead);
    id[p] = kDead;
  }
  list.resize(at);
}

// One sentence, one order at a time. At order 1 an n-gram's key is its token;
// from order 2 on it is (slot of its (n-1)-gram prefix, unigram slot of its
// last token): exact, and 31 bits wide for sentences up to about 8k tokens.
// Only positions that can still match are visited: a candidate n-gram needs
// both of its (n-1)-grams to occur in some reference, a reference n-gram both
// of its (n-1)-grams to occur in the candidate.
void sentence_stats(const Batch& b, size_t i, int max_order, Scratch& s, uint32_t* row) {
  const uint32_t* cand = b.cand_tokens + b.cand_offsets[i];
  const uint32_t L = b.cand_offsets[i + 1] - b.cand_offsets[i];
  const size_t r0 = b.ref_groups[i], r1 = b.ref_groups[i + 1];

  // Closest reference length; ties go to the shorter one.
  uint32_t best = 0;
  for (size_t r = r0; r < r1; ++r) {
    const uint32_t len = b.ref_offsets[r + 1] - b.ref_offsets[r];
    const uint32_t diff = len > L ? len - L : L - len, best_diff = best > L ? best - L : L - best;
    if (r == r0 || diff < best_diff || (diff == best_diff && len < best)) best = len;
  }
  row[0] = L;
  row[1] = best;
  uint32_t* matches = row + 2;
  uint32_t* totals = row + 2 + max_order;
  for (int n = 1; n <= max_order; ++n) {
    totals[n - 1] = L >= uint32_t(n) ? L - n + 1 : 0;
    matches[n - 1] = 0;
  }
  if (L == 0) return;

  // Order 1 over every position; one past each end stays dead. 32-bit keys
  // unless the sentence holds the one id that marks an empty slot.
  s.cand_id.assign(L + 1, kDead);
  s.cand_uni.resize(L);
  s.cand_list.resize(L);
  for (uint32_t p = 0; p < L; ++p) s.cand_list[p] = {p, 0};
  const size_t n_refs = r1 - r0;
  const uint32_t ref_total = b.ref_offsets[r1] - b.ref_offsets[r0];
  s.ref_tok.resize(ref_total + n_refs);
  s.ref_list.resize(ref_total);
  s.ref_end.resize(n_refs);
  bool has_empty_key = false;  // the one id that marks an empty slot in 32-bit tables
  for (uint32_t p = 0; p < L; ++p) has_empty_key |= cand[p] == Table<uint32_t>::kEmpty;
  for (size_t r = r0, at = 0, k = 0; r < r1; ++r) {
    for (uint32_t t = b.ref_offsets[r]; t < b.ref_offsets[r + 1]; ++t, ++at, ++k) {
      s.ref_tok[at] = b.ref_tokens[t];
      s.ref_list[k] = {static_cast<uint32_t>(at), 0};
      has_empty_key |= b.ref_tokens[t] == Table<uint32_t>::kEmpty;
    }
    s.ref_end[r - r0] = static_cast<uint32_t>(at);
    s.ref_tok[at++] = 0;  // the dead gap
  }
  s.ref_id.assign(s.ref_tok.size(), kDead);
  const uint32_t* refs = s.ref_tok.data();
  const bool narrow1 = !has_empty_key;
  uint32_t m = narrow1 ? count_order(s.narrow, s, [&](const Alive& a) { return cand[a.pos]; },
                                     [&](const Alive& a) { return refs[a.pos]; }, s.cand_uni.data())
                       : count_order(s.wide, s, [&](const Alive& a) { return uint64_t(cand[a.pos]); },
                                     [&](const Alive& a) { return uint64_t(refs[a.pos]); }, s.cand_uni.data());
  matches[0] = m;
  const unsigned uni_bits = narrow1 ? s.narrow.bits : s.wide.bits;
  s.ref_uni = s.ref_id;  // a reference unigram absent from the candidate is kDead

  unsigned prefix_bits = uni_bits;  // the previous order's slots are < 2^prefix_bits
  for (int n = 2; n <= max_order && m > 0; ++n) {
    next_positions(s.cand_list, s.cand_id.data());
    next_positions(s.ref_list, s.ref_id.data());
    if (s.cand_list.empty()) break;
    // The last token of a listed n-gram lies inside its surviving right
    // (n-1)-gram, so its unigram slot is known on both sides.
    const uint32_t* cu = s.cand_uni.data();
    const uint32_t* ru = s.ref_uni.data();
    if (prefix_bits + uni_bits <= 31) {
      m = count_order(
          s.narrow, s, [&](const Alive& a) { return (a.prefix << uni_bits) | cu[a.pos + n - 1]; },
          [&](const Alive& a) { return (a.prefix << uni_bits) | ru[a.pos + n - 1]; });
      prefix_bits = s.narrow.bits;
    } else {
      m = count_order(
          s.wide, s, [&](const Alive& a) { return (uint64_t(a.prefix) << 32) | cu[a.pos + n - 1]; },
          [&](const Alive& a) { return (uint64_t(a.prefix) << 32) | ru[a.pos + n - 1]; });
      prefix_bits = s.wide.bits;
    }
    matches[n - 1] = m;
  }
}

// The calling thread's buffers. Not inlined on purpose: in a shared library
// every access to a thread_local goes through __tls_get_addr, and once the
// kernel is inlined into its caller GCC re-derives the address at each use
// (6 % of the run time when measured inside Node).
__attribute__((noinline)) Scratch& thread_scratch() {
  thread_local Scratch scratch;
  return scratch;
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
        Scratch& scratch = thread_scratch();
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
