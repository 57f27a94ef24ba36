#include "bleu.h"

#include <algorithm>
#include <map>
#include <utility>
#include <string>

#include "../common/error.h"
#include "../common/thread_pool.h"

namespace llmk::bleu {

namespace {

// Returns x unchanged, but the compiler can no longer see how it was made: a
// flag computed from two comparisons stays one value tested once, instead of
// being split back into two data-dependent jumps (which mispredict about as
// often as BLEU's n-grams are present or absent).
template <class T>
inline T opaque(T x) {
  asm("" : "+r"(x));
  return x;
}

// flag ? a : b for a flag of 0 or 1, without a jump.
inline uint32_t pick(uint32_t flag, uint32_t a, uint32_t b) {
  const uint32_t mask = 0u - flag;
  return (a & mask) | (b & ~mask);
}

// The n-grams of one order of one sentence, each with a dense id (0, 1, 2, …
// in order of first insertion) so that per-n-gram counts live in short arrays.
// Order 1 uses `insert`/`find` on the token: open addressing, mostly empty.
// From order 2 on, an n-gram is (prefix id, last unigram id) and most
// prefixes have one continuation in a sentence: `insert_child`/`find_child`
// look first in a slot indexed by the prefix id, and only n-grams whose
// prefix already has another continuation go to the hashed table.
// A slot belongs to the current sentence and order only if it carries the
// current generation: starting afresh is one increment, not a clear.
//   Narrow: 32-bit keys, 16-bit ids, for candidates of up to 65,536 tokens
//   (every order's key then fits 32 bits, an order-1 key being the token).
//   Wide: 64-bit keys and 32-bit ids for longer candidates.
template <class Key_, class Id>
class Dict {
  struct Slot {
    Key_ key = 0;
    Id id = 0;
    Id gen = 0;
  };

 public:
  using Key = Key_;
  static constexpr unsigned kIdBits = 8 * sizeof(Id);

  // One order's view of the tables, held in locals by the loops that use it
  // (stores to count arrays then cannot force reloads of the tables' state).
  class Order {
   public:
    Order(Slot* slots, Slot* children, unsigned bits, Id gen)
        : slots_(slots), children_(children), mask_((size_t(1) << bits) - 1), shift_(64 - bits), gen_(gen) {}
    // The id of `key`, given the next free id when new.
    uint32_t insert(Key key) { return claim(probe(key), key); }
    // The id of `key`, or `absent` when it was never inserted.
    uint32_t find(Key key, uint32_t absent) const {
      const Slot* s = probe(key);
      return pick(opaque(uint32_t(s->gen == gen_)), s->id, absent);
    }
    // The same for the n-gram (prefix id, last unigram id).
    uint32_t insert_child(uint32_t prefix, uint32_t uni) {
      Slot* c = children_ + prefix;
      if (__builtin_expect(taken_by_other(*c, uni), 0)) return insert(pair_key(prefix, uni));
      return claim(c, uni);
    }
    uint32_t find_child(uint32_t prefix, uint32_t uni, uint32_t absent) const {
      const Slot* c = children_ + prefix;
      if (__builtin_expect(taken_by_other(*c, uni), 0)) return find(pair_key(prefix, uni), absent);
      return pick(opaque(uint32_t(c->gen == gen_)), c->id, absent);
    }

   private:
    static Key pair_key(uint32_t prefix, uint32_t uni) { return (Key(prefix) << kIdBits) | uni; }
    // Whether the slot holds another key of this order. Computed as one value
    // so that whether a key is present (a coin toss in BLEU data) decides no
    // jump: the only branch taken on it is the rare "look further".
    uint32_t taken_by_other(const Slot& s, Key key) const {
      return opaque(uint32_t(s.gen == gen_) & uint32_t(s.key != key));
    }
    // The id in slot s (holding `key` or empty), given the next free id when empty.
    uint32_t claim(Slot* s, Key key) {
      const uint32_t present = opaque(uint32_t(s->gen == gen_));
      const uint32_t id = pick(present, s->id, next_);
      next_ += present ^ 1;
      *s = {key, static_cast<Id>(id), gen_};
      return id;
    }
    // The slot holding `key`, or the empty slot where it would go.
    Slot* probe(Key key) const {
      size_t i = static_cast<size_t>((uint64_t(key) * 0x9E3779B97F4A7C15ull) >> shift_);
      while (__builtin_expect(taken_by_other(slots_[i], key), 0)) i = (i + 1) & mask_;
      return slots_ + i;
    }
    Slot* slots_;
    Slot* children_;
    size_t mask_;
    unsigned shift_;
    Id gen_;
    uint32_t next_ = 0;
  };

  // Empty tables for up to `entries` keys whose prefix ids are < `prefixes`.
  Order start(size_t entries, size_t prefixes) {
    // Sparse: a probe that meets another key costs a mispredicted jump, and
    // at 1/16 full that is rare (measured: 1/4 full took 15 % longer). Up
    // to 512 KiB (the L2 cache), then 1/4 full.
    const size_t room = entries <= 4096 ? 16 * entries : 4 * entries;
    unsigned bits = 4;
    while ((size_t(1) << bits) < room) ++bits;
    if (slots_.size() < (size_t(1) << bits) || children_.size() < prefixes) {
      // Every slot must read as empty from now on: start both afresh.
      slots_.assign(std::max(slots_.size(), size_t(1) << bits), Slot{});
      children_.assign(std::max(children_.size(), prefixes), Slot{});
      gen_ = 0;
    }
    if (++gen_ == 0) {  // wrapped: forget every generation
      for (Slot& slot : slots_) slot.gen = 0;
      for (Slot& slot : children_) slot.gen = 0;
      gen_ = 1;
    }
    return Order(slots_.data(), children_.data(), bits, gen_);
  }

 private:
  std::vector<Slot> slots_, children_;
  Id gen_ = 0;
};

using NarrowDict = Dict<uint32_t, uint16_t>;
using WideDict = Dict<uint64_t, uint32_t>;
constexpr uint32_t kNarrowMaxLength = 65536;

constexpr uint32_t kDead = ~0u;

// A position whose n-gram can still match, and the id of its (n-1)-gram
// prefix (unused at order 1).
struct Alive {
  uint32_t pos;
  uint32_t prefix;
};

// Per-thread buffers, grown as needed (never shrunk) and reused across sentences.
struct Scratch {
  NarrowDict narrow;
  WideDict wide;
  std::vector<uint32_t> cand_count, max_ref, ref_count;  // per n-gram id, plus one "absent" id
  std::vector<uint32_t> cand_uni, ref_uni;  // unigram id per position
  std::vector<uint32_t> cand_ids, ref_ids;  // this order's id per entry
  // Positions whose n-gram can still match (the first cand_n / ref_n entries).
  std::vector<Alive> cand_list, ref_list;
  size_t cand_n = 0, ref_n = 0;
  // Reference positions are numbered across a sentence's references with one
  // unused position after each, so that no two references' positions are
  // adjacent: reference j holds positions [ref_start[j], ref_start[j+1] - 1).
  // At order 1 its entries (tokens) end at index run_ends[j].
  std::vector<uint32_t> ref_start, run_ends;

  template <class T>
  static T* at_least(std::vector<T>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
  }
};

// Shortens a list in place as it is read: keeps each position whose n-gram
// and the next position's n-gram both live (an (n+1)-gram contains both), with
// its n-gram's id as the prefix of the next order. Entry k is written after
// entry k+1 has been read, so the write never overtakes the read.
class NextList {
 public:
  explicit NextList(Alive* out) : out_(out) {}
  void push(uint32_t pos, uint32_t id, bool alive) {
    out_[at_] = {prev_pos_, prev_id_};
    at_ += prev_alive_ & alive & (pos == prev_pos_ + 1);
    prev_pos_ = pos, prev_id_ = id, prev_alive_ = alive;
  }
  size_t size() const { return at_; }

 private:
  Alive* out_;
  size_t at_ = 0;
  uint32_t prev_pos_ = kDead - 1, prev_id_ = 0;
  bool prev_alive_ = false;
};

// The entries of order 1: every position, read straight from the tokens; an
// n-gram's key is its token. Reference entry k lies in reference j at
// position k + j (one unused position after each reference).
struct Unigrams {
  static constexpr bool kFirstOrder = true;
  const uint32_t* tokens;
  size_t n;
  const uint32_t* run_ends = nullptr;  // references: entry index where reference j ends
  size_t size() const { return n; }
  size_t prefixes() const { return 0; }
  uint32_t pos(size_t k, size_t j) const { return static_cast<uint32_t>(k + j); }
  template <class Table>
  uint32_t insert(Table& t, size_t k) const { return t.insert(tokens[k]); }
  template <class Table>
  uint32_t find(const Table& t, size_t k, uint32_t absent) const { return t.find(tokens[k], absent); }
  size_t run_end(size_t k, size_t& j) const {
    while (k >= run_ends[j]) ++j;  // empty references hold no entry
    return run_ends[j];
  }
};

// The entries of order n >= 2: the listed positions; an n-gram's key is (id of
// its (n-1)-gram prefix, unigram id of its last token).
struct Ngrams {
  static constexpr bool kFirstOrder = false;
  const Alive* list;
  size_t n;
  const uint32_t* uni;  // unigram id per position
  unsigned last;        // n - 1: offset of the last token
  size_t prefix_count;  // prefix ids are below it
  const uint32_t* ref_start = nullptr;
  size_t size() const { return n; }
  size_t prefixes() const { return prefix_count; }
  uint32_t pos(size_t k, size_t) const { return list[k].pos; }
  template <class Table>
  uint32_t insert(Table& t, size_t k) const { return t.insert_child(list[k].prefix, uni[list[k].pos + last]); }
  template <class Table>
  uint32_t find(const Table& t, size_t k, uint32_t absent) const { return t.find_child(list[k].prefix, uni[list[k].pos + last], absent); }
  size_t run_end(size_t k, size_t& j) const {
    while (list[k].pos >= ref_start[j + 1]) ++j;
    size_t e = k;
    while (e < n && list[e].pos < ref_start[j + 1]) ++e;
    return e;
  }
};

// Counts one order and returns the clipped matches; leaves in s.cand_list /
// s.ref_list the positions whose (n+1)-gram can still match. At order 1 it
// also stores the unigram id of every position (`absent`, never read, for
// reference unigrams absent from the candidate).
// Not inlined: alone, its loops keep their pointers in registers.
template <class D, class Cand, class Ref>
__attribute__((noinline)) uint32_t count_order(D& dict, Scratch& s, const Cand& cand, const Ref& ref, bool multi_ref) {
  const size_t n_cand = cand.size(), n_ref = ref.size();
  const uint32_t absent = static_cast<uint32_t>(n_cand);  // ids are < n_cand
  auto table = dict.start(n_cand, cand.prefixes());
  uint32_t* __restrict cand_count = Scratch::at_least(s.cand_count, n_cand + 1);
  uint32_t* __restrict max_ref = Scratch::at_least(s.max_ref, n_cand + 1);
  uint32_t* __restrict ref_count = Scratch::at_least(s.ref_count, n_cand + 1);
  uint32_t* __restrict cand_ids = Scratch::at_least(s.cand_ids, n_cand);
  uint32_t* __restrict ref_ids = Scratch::at_least(s.ref_ids, n_ref);
  uint32_t* __restrict cand_uni = s.cand_uni.data();
  uint32_t* __restrict ref_uni = s.ref_uni.data();
  std::fill_n(cand_count, n_cand + 1, 0u);
  std::fill_n(max_ref, n_cand + 1, 0u);
  if (multi_ref) std::fill_n(ref_count, n_cand + 1, 0u);

  // 1. The dictionary of the candidate's n-grams that can still match, with counts.
  for (size_t k = 0; k < n_cand; ++k) {
    const uint32_t id = cand.insert(table, k);
    ++cand_count[id];
    cand_ids[k] = id;
    if constexpr (Cand::kFirstOrder) cand_uni[k] = id;
  }
  // 2. Reference n-grams in the dictionary, counted per reference; keep the
  //    maximum over references (a single reference counts into max_ref).
  uint32_t* count = multi_ref ? ref_count : max_ref;
  NextList ref_next(s.ref_list.data());
  for (size_t k = 0, j = 0; k < n_ref;) {
    const size_t run_begin = k, run_end = multi_ref ? ref.run_end(k, j) : n_ref;
    for (; k < run_end; ++k) {
      const uint32_t id = ref.find(table, k, absent), pos = ref.pos(k, j);
      ++count[id];
      if constexpr (Ref::kFirstOrder) ref_uni[pos] = id;
      if (multi_ref) ref_ids[k] = id;
      ref_next.push(pos, id, id != absent);
    }
    if (multi_ref)
      for (size_t i = run_begin; i < k; ++i) {
        const uint32_t id = ref_ids[i];
        max_ref[id] = std::max(max_ref[id], count[id]);
        count[id] = 0;
      }
  }
  s.ref_n = ref_next.size();
  // 3. Clipped matches: over distinct n-grams, min(candidate count, max
  //    reference count), taken at each n-gram's first position (then zeroed).
  uint32_t m = 0;
  NextList cand_next(s.cand_list.data());
  for (size_t k = 0; k < n_cand; ++k) {
    const uint32_t id = cand_ids[k];
    m += std::min(cand_count[id], max_ref[id]);
    cand_count[id] = 0;
    cand_next.push(cand.pos(k, 0), id, max_ref[id] != 0);
  }
  s.cand_n = cand_next.size();
  return m;
}

// The orders of one sentence over one dictionary type.
template <class D>
void count_orders(D& dict, Scratch& s, const uint32_t* cand, uint32_t L, const uint32_t* refs, size_t ref_total,
                  const uint32_t* run_ends, int max_order, uint32_t* matches) {
  const bool multi_ref = s.ref_start.size() > 2;
  uint32_t m = count_order(dict, s, Unigrams{cand, L}, Unigrams{refs, ref_total, run_ends}, multi_ref);
  matches[0] = m;
  size_t prefixes = L;  // the previous order's ids are below its number of entries
  for (int n = 2; n <= max_order && m > 0 && s.cand_n > 0; ++n) {
    // The last token of a listed n-gram lies inside its surviving right
    // (n-1)-gram, so its unigram id is known on both sides.
    const unsigned last = static_cast<unsigned>(n - 1);
    const size_t entries = s.cand_n;
    m = count_order(dict, s, Ngrams{s.cand_list.data(), s.cand_n, s.cand_uni.data(), last, prefixes},
                    Ngrams{s.ref_list.data(), s.ref_n, s.ref_uni.data(), last, prefixes, s.ref_start.data()}, multi_ref);
    prefixes = entries;
    matches[n - 1] = m;
  }
}

// One sentence: only positions that can still match are visited: a
// candidate n-gram needs both of its (n-1)-grams to occur in some reference,
// a reference n-gram both of its (n-1)-grams to occur in the candidate.
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

  const size_t n_refs = r1 - r0;
  const uint32_t off0 = b.ref_offsets[r0], ref_total = b.ref_offsets[r1] - off0;
  Scratch::at_least(s.cand_uni, L);
  Scratch::at_least(s.cand_list, L);
  Scratch::at_least(s.ref_uni, ref_total + n_refs);
  Scratch::at_least(s.ref_list, ref_total);
  uint32_t* run_ends = Scratch::at_least(s.run_ends, n_refs);
  s.ref_start.resize(n_refs + 1);
  for (size_t j = 0; j < n_refs; ++j) {
    run_ends[j] = b.ref_offsets[r0 + j + 1] - off0;
    s.ref_start[j] = b.ref_offsets[r0 + j] - off0 + static_cast<uint32_t>(j);
  }
  s.ref_start[n_refs] = ref_total + static_cast<uint32_t>(n_refs);
  const uint32_t* refs = b.ref_tokens + off0;
  if (L <= kNarrowMaxLength) count_orders(s.narrow, s, cand, L, refs, ref_total, run_ends, max_order, matches);
  else count_orders(s.wide, s, cand, L, refs, ref_total, run_ends, max_order, matches);
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
