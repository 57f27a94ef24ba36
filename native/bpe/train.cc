#include "train.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <queue>
#include <unordered_map>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "../common/error.h"

namespace llmk::bpe {

uint64_t StringCounts::hash_of(std::string_view s) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 29);
}

void StringCounts::add(std::string_view s, uint64_t count) {
  if (!s.empty() && s.size() <= 8) {
    Hot& h = hot_of(s);
    if (h.length == s.size() && h.head == head_of(s)) {
      h.pending += count;
      return;
    }
  }
  const uint64_t hash = hash_of(s);
  __builtin_prefetch(&table_[hash & (table_.size() - 1)]);
  if (n_waiting_ == kAhead) {
    count_waiting(waiting_[next_waiting_]);
    next_waiting_ = (next_waiting_ + 1) % kAhead;
    --n_waiting_;
  }
  waiting_[(next_waiting_ + n_waiting_++) % kAhead] = {s, hash, count};
}

// Into the table, in the order the strings came (so the table is laid out as
// if each had gone in at once); a short one then takes its place in the cache.
void StringCounts::count_waiting(const Waiting& w) {
  const size_t slot = insert(w.s, w.hash, w.count);
  if (w.s.empty() || w.s.size() > 8) return;
  Hot& h = hot_of(w.s);
  const uint64_t head = head_of(w.s);
  if (h.length == w.s.size() && h.head == head) return;  // an earlier wait put it there
  if (h.length) table_[h.slot].count += h.pending;
  h = {head, 0, static_cast<uint32_t>(w.s.size()), static_cast<uint32_t>(slot)};
}

void StringCounts::settle() {
  for (size_t k = 0; k < n_waiting_; ++k) count_waiting(waiting_[(next_waiting_ + k) % kAhead]);
  n_waiting_ = next_waiting_ = 0;
}

size_t StringCounts::insert(std::string_view s, uint64_t h, uint64_t count) {
  uint64_t head = 0;
  std::memcpy(&head, s.data(), std::min<size_t>(s.size(), 8));
  auto same = [&](const Entry& e) {
    return e.hash == h && e.length == s.size() && e.head == head &&
           (s.size() <= 8 || std::memcmp(arena_.data() + e.offset + 8, s.data() + 8, s.size() - 8) == 0);
  };
  size_t i = h & (table_.size() - 1);
  while (table_[i].count) {
    if (same(table_[i])) {
      table_[i].count += count;
      return i;
    }
    i = (i + 1) & (table_.size() - 1);
  }
  if (arena_.size() + s.size() > UINT32_MAX)
    throw range_error("ERR_LLMK_BAD_ARGUMENT", "more than 4 GiB of distinct pre-tokens");
  table_[i] = {h, count, head, static_cast<uint32_t>(arena_.size()), static_cast<uint32_t>(s.size())};
  arena_.append(s);
  if (++used_ * 2 <= table_.size()) return i;
  grow();
  // Slots moved: find the word again.
  i = h & (table_.size() - 1);
  while (!same(table_[i])) i = (i + 1) & (table_.size() - 1);
  return i;
}

// Straight into the table, by the hashes `other` keeps, each slot and string
// fetched a few entries ahead: through add(), every string evicted another
// from the cache, three cache misses a word.
void StringCounts::absorb(const StringCounts& other) {
  settle();
  flush();
  other.flush();
  const std::vector<Entry>& from = other.table_;
  for (size_t j = 0; j < from.size(); ++j) {
    if (j + 8 < from.size() && from[j + 8].count) {
      __builtin_prefetch(&table_[from[j + 8].hash & (table_.size() - 1)]);
      __builtin_prefetch(other.arena_.data() + from[j + 8].offset);
    }
    const Entry& e = from[j];
    if (e.count) insert(std::string_view(other.arena_.data() + e.offset, e.length), e.hash, e.count);
  }
}

void StringCounts::flush() const {
  for (Hot& h : hot_) {
    if (h.length) table_[h.slot].count += h.pending;
    h.pending = 0;
  }
}

void StringCounts::grow() {
  flush();  // the cache points at slots that are about to move
  std::fill(hot_.begin(), hot_.end(), Hot{});
  std::vector<Entry> old(table_.size() * 2);
  old.swap(table_);
  for (const Entry& e : old) {
    if (!e.count) continue;
    size_t i = e.hash & (table_.size() - 1);
    while (table_[i].count) i = (i + 1) & (table_.size() - 1);
    table_[i] = e;
  }
}

void WordCounter::add_pieces(const uint8_t* s, size_t n) {
  split(pattern_, s, n, [&](size_t b, size_t e) { counts_.add(std::string_view(reinterpret_cast<const char*>(s + b), e - b), 1); });
}

void WordCounter::add_text(const uint8_t* s, size_t n) {
  add_pieces(s, n);
  counts_.settle();
}

void WordCounter::add_lines(const uint8_t* s, size_t n) {
  for (size_t start = 0; start < n;) {
    const void* nl = std::memchr(s + start, '\n', n - start);
    const size_t end = nl ? static_cast<size_t>(static_cast<const uint8_t*>(nl) - s) + 1 : n;
    add_pieces(s + start, end - start);
    start = end;
  }
  counts_.settle();
}

void WordCounter::add_whole(const uint8_t* s, size_t n) {
  counts_.add(std::string_view(reinterpret_cast<const char*>(s), n), 1);
  counts_.settle();
}

void WordCounter::absorb(WordCounter&& other) {
  if (counts_.empty()) {
    counts_ = std::move(other.counts_);
    return;
  }
  counts_.absorb(other.counts_);
}

uint32_t byte_level_code_point(uint8_t b) {
  const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
  if (printable) return b;
  uint32_t extra = 0;  // the non-printable bytes take 256, 257, ... in byte order
  for (uint32_t x = 0; x < b; ++x) extra += !((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174);
  return 256 + extra;
}

namespace {

using Pair = uint64_t;
inline Pair make_pair(uint32_t a, uint32_t b) { return static_cast<uint64_t>(a) << 32 | b; }

// A candidate merge: its count when pushed and the words it was counted in.
struct Candidate {
  uint64_t count;
  Pair pair;
  uint32_t words;  // its set in WordSets
};

// The reference's order: larger count first, then the smaller pair.
struct Lower {
  bool operator()(const Candidate& a, const Candidate& b) const {
    if (a.count != b.count) return a.count < b.count;
    return a.pair > b.pair;
  }
};

// Every word in one array, each as a header (its length, shrinking as merges
// apply, and its count) followed by its symbols; a word is known by its
// offset there. A visit then starts on one cache line (a separate array of
// word records cost a second miss per visit), and visiting the words of a
// pair walks memory in order.
class Words {
 public:
  static constexpr uint32_t kHeader = 3;  // length, count low, count high
  void add(const std::vector<uint32_t>& symbols, uint64_t count) {
    if (data_.size() + kHeader + symbols.size() > UINT32_MAX)
      throw range_error("ERR_LLMK_BAD_ARGUMENT", "more than 4 Gi symbols of distinct pre-tokens");
    data_.insert(data_.end(), {static_cast<uint32_t>(symbols.size()), static_cast<uint32_t>(count), static_cast<uint32_t>(count >> 32)});
    data_.insert(data_.end(), symbols.begin(), symbols.end());
  }
  void reserve(size_t words, size_t symbols) { data_.reserve(kHeader * words + symbols); }
  size_t size() const { return data_.size(); }  // more than the pairs in the words
  uint32_t& length(uint32_t w) { return data_[w]; }
  uint64_t count(uint32_t w) const { return data_[w + 1] | static_cast<uint64_t>(data_[w + 2]) << 32; }
  uint32_t* symbols(uint32_t w) { return data_.data() + w + kHeader; }
  void prefetch(uint32_t w) const {  // its first two cache lines: most words end there
    __builtin_prefetch(data_.data() + w);
    __builtin_prefetch(data_.data() + w + 16);
  }
  // f(word) for each word, in order: only before any merge (it steps by the lengths).
  template <class F>
  void for_each_unmerged(F&& f) {
    for (size_t w = 0; w < data_.size(); w += kHeader + data_[w]) f(static_cast<uint32_t>(w));
  }

 private:
  std::vector<uint32_t> data_;
};

// Pair -> count, open addressing with linear probing; key and count side by
// side, so a lookup touches one cache line. Pairs whose count falls to 0
// leave (most pairs die out as merges go on), and the table fills to 3/4:
// it is the merge loop's largest random-access structure, and the smaller
// it stays, the more of it the caches hold.
class PairCounts {
 public:
  PairCounts() { rehash(1 << 16); }
  int64_t& operator[](Pair p) { return slots_[find_or_add(p)].count; }
  int64_t get(Pair p) const { return slots_[slot(p)].count; }  // an empty slot's count is 0
  // Adds delta to p's count and returns the new count.
  int64_t add(Pair p, int64_t delta) {
    const size_t i = find_or_add(p);
    const int64_t now = slots_[i].count += delta;
    if (now == 0) erase(i);
    return now;
  }
  void prefetch(Pair p) const { __builtin_prefetch(&slots_[home(p)]); }

 private:
  static constexpr Pair kEmpty = ~Pair{0};
  struct Slot {
    Pair key = kEmpty;
    int64_t count = 0;
  };
  size_t home(Pair p) const { return static_cast<size_t>((p * 0x9E3779B97F4A7C15ull) >> shift_); }
  size_t slot(Pair p) const {
    size_t i = home(p);
    while (slots_[i].key != kEmpty && slots_[i].key != p) i = (i + 1) & (slots_.size() - 1);
    return i;
  }
  size_t find_or_add(Pair p) {
    size_t i = slot(p);
    if (slots_[i].key == kEmpty) {
      if (4 * ++used_ > 3 * slots_.size()) {
        rehash(slots_.size() * 2);
        i = slot(p);
        ++used_;
      }
      slots_[i].key = p;
    }
    return i;
  }
  // Empties slot i, moving back the later pairs of its run that can no
  // longer be found past the hole (no tombstones: lookups stay short).
  void erase(size_t i) {
    const size_t mask = slots_.size() - 1;
    for (size_t j = (i + 1) & mask; slots_[j].key != kEmpty; j = (j + 1) & mask) {
      const size_t h = home(slots_[j].key);
      if (((j - h) & mask) >= ((j - i) & mask)) {  // its home is at or before the hole
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = Slot{};
    --used_;
  }
  void rehash(size_t capacity) {
    std::vector<Slot> old(capacity);
    old.swap(slots_);
    shift_ = 64 - __builtin_ctzll(capacity);
    used_ = 0;
    for (const Slot& e : old)
      if (e.key != kEmpty) {
        slots_[slot(e.key)] = e;
        ++used_;
      }
  }
  std::vector<Slot> slots_;
  size_t used_ = 0;
  int shift_ = 48;
};

// The first k >= i with s[k] == a and s[k + 1] == b, or n if there is none.
inline uint32_t find_pair(const uint32_t* s, uint32_t i, uint32_t n, uint32_t a, uint32_t b) {
#ifdef __SSE2__
  // Four positions at a time (long words without spaces, as in Chinese or
  // Thai, and raw-bytes chunks are scanned once per merge they hold).
  const __m128i va = _mm_set1_epi32(static_cast<int>(a)), vb = _mm_set1_epi32(static_cast<int>(b));
  auto hits = [&](uint32_t at) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + at));
    const __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + at + 1));
    return _mm_and_si128(_mm_cmpeq_epi32(x, va), _mm_cmpeq_epi32(y, vb));
  };
  for (; i + 16 < n; i += 16) {
    const __m128i any = _mm_or_si128(_mm_or_si128(hits(i), hits(i + 4)), _mm_or_si128(hits(i + 8), hits(i + 12)));
    if (_mm_movemask_epi8(any)) break;
  }
  for (; i + 4 < n; i += 4)
    if (const int hit = _mm_movemask_ps(_mm_castsi128_ps(hits(i)))) return i + static_cast<uint32_t>(__builtin_ctz(static_cast<unsigned>(hit)));
#endif
  for (; i + 1 < n; ++i)
    if (s[i] == a && s[i + 1] == b) return i;
  return n;
}

// The word sets of queued candidates in one array (a vector per set was an
// allocation per candidate, hundreds of thousands of them): a set is a span,
// released once its candidate merges, and released spans are squeezed out
// when they outweigh the live ones.
class WordSets {
 public:
  void reserve(size_t words) { words_.reserve(words); }
  // A new set of n words, to be written at data(id).
  uint32_t add(uint32_t n) {
    if (words_.size() + n > words_.capacity() && words_.size() > 2 * live_) compact();
    if (spans_.size() == UINT32_MAX) throw range_error("ERR_LLMK_BAD_ARGUMENT", "more than 4 Gi candidate merges");
    spans_.push_back({words_.size(), n});
    words_.resize(words_.size() + n);
    live_ += n;
    return static_cast<uint32_t>(spans_.size() - 1);
  }
  uint32_t* data(uint32_t id) { return words_.data() + spans_[id].offset; }
  void prefetch(uint32_t id) const { __builtin_prefetch(&spans_[id]); }
  uint32_t size(uint32_t id) const { return spans_[id].size; }
  void release(uint32_t id) {
    live_ -= spans_[id].size;
    spans_[id].size = 0;
  }

 private:
  void compact() {  // spans lie in id order, so each moves down
    size_t out = 0;
    for (Span& sp : spans_) {
      std::memmove(words_.data() + out, words_.data() + sp.offset, sp.size * sizeof(uint32_t));
      sp.offset = out;
      out += sp.size;
    }
    words_.resize(out);
  }
  struct Span {
    size_t offset;
    uint32_t size;
  };
  std::vector<uint32_t> words_;
  std::vector<Span> spans_;
  size_t live_ = 0;
};

constexpr uint32_t kNone = ~uint32_t{0};

// Pairs, each with a change to its count and the words where it was counted
// (or grew), gathered flat: one array of (group, word) entries, sorted into
// the groups' sets at the end (a vector per pair was an allocation per
// pair). Groups keep the order they were opened in; words arrive in
// increasing order, so a repeat is always the group's last word.
class PairGroups {
 public:
  uint32_t open(Pair p) {
    if (groups_.size() == UINT32_MAX) throw range_error("ERR_LLMK_BAD_ARGUMENT", "more than 4 Gi distinct pairs");
    groups_.push_back({p, 0, kNone, 0, nullptr});
    return static_cast<uint32_t>(groups_.size() - 1);
  }
  size_t size() const { return groups_.size(); }
  size_t entries() const { return entries_.size(); }
  void reserve_entries(size_t n) { entries_.reserve(n); }
  void add(uint32_t g, int64_t delta, uint32_t word) {
    Group& gr = groups_[g];
    gr.delta += delta;
    if (gr.last == word) return;
    gr.last = word;
    ++gr.words;
    entries_.push_back({g, word});
  }
  // Applies the changes to `counts`; then, group by group in order,
  // place(pair, its count now, its number of words) gives a set of that
  // size in `sets` for its words (or kNone to drop them); then empty again.
  template <class Place>
  void drain(PairCounts& counts, WordSets& sets, Place&& place) {
    for (size_t g = 0; g < groups_.size(); ++g) {
      // The counts table is large: each pair's slot is fetched a few pairs ahead.
      if (g + 8 < groups_.size()) counts.prefetch(groups_[g + 8].pair);
      Group& gr = groups_[g];
      gr.delta = counts.add(gr.pair, gr.delta);  // now the count
    }
    for (Group& gr : groups_) gr.last = place(gr.pair, gr.delta, gr.words);  // now its set
    for (Group& gr : groups_)  // once every set is placed: sets may move while they are
      if (gr.last != kNone) gr.out = sets.data(gr.last);
    for (const Entry& e : entries_)
      if (uint32_t*& out = groups_[e.group].out) *out++ = e.word;
    groups_.clear();
    entries_.clear();
  }

 private:
  struct Group {
    Pair pair;
    int64_t delta;
    uint32_t last;   // its last word (while draining, its set)
    uint32_t words;  // how many
    uint32_t* out;   // where the next of its words goes, while draining
  };
  struct Entry {
    uint32_t group, word;
  };
  std::vector<Group> groups_;
  std::vector<Entry> entries_;
};

// The changes one merge of (a, b) into m makes to the pair counts. Every
// pair it loses holds a or b and every pair it gains holds m, so each is
// found by its other symbol in arrays indexed by token id, not by hashing;
// summed there, a pair costs one lookup in the large counts table however
// many words it changed in. The pairs gained keep the order they first grew
// in (the heap's layout, and so the order among equal candidates, follows
// the reference).
class MergeChanges {
 public:
  void begin(uint32_t a, uint32_t b, uint32_t m, size_t vocab) {
    a_ = a, b_ = b, m_ = m;
    ++stamp_;
    for (std::vector<Index>* map : {&lost_before_, &lost_after_, &gained_before_, &gained_after_})
      if (map->size() < vocab) map->resize(vocab);
  }
  void lose_before(uint32_t x, int64_t d) { lost(lost_before_, x, make_pair(x, a_), d); }  // (x, a)
  void lose_after(uint32_t y, int64_t d) { lost(lost_after_, y, make_pair(b_, y), d); }    // (b, y)
  void gain_before(uint32_t x, int64_t d, uint32_t word) { gained(gained_before_, x, make_pair(x, m_), d, word); }  // (x, m)
  void gain_after(uint32_t y, int64_t d, uint32_t word) {  // (m, y); (m, m) is kept once, as a gain before
    if (y == m_) return gain_before(y, d, word);
    gained(gained_after_, y, make_pair(m_, y), d, word);
  }
  // Applies the changes to `counts`, the losses first, then as PairGroups::drain.
  template <class Place>
  void drain(PairCounts& counts, WordSets& sets, Place&& place) {
    for (size_t k = 0; k < lost_.size(); ++k) {
      if (k + 8 < lost_.size()) counts.prefetch(lost_[k + 8].pair);
      counts.add(lost_[k].pair, lost_[k].delta);
    }
    lost_.clear();
    gained_.drain(counts, sets, place);
  }

 private:
  struct Index {
    uint32_t stamp = 0;  // of the merge that set it
    uint32_t at = 0;
  };
  struct Loss {
    Pair pair;
    int64_t delta;
  };
  // map[x]'s entry, made by make() if not yet in this merge.
  template <class Make>
  uint32_t find(std::vector<Index>& map, uint32_t x, Make&& make) {
    Index& i = map[x];
    if (i.stamp != stamp_) i = {stamp_, make()};
    return i.at;
  }
  void lost(std::vector<Index>& map, uint32_t x, Pair p, int64_t d) {
    lost_[find(map, x, [&] {
      lost_.push_back({p, 0});
      return static_cast<uint32_t>(lost_.size() - 1);
    })].delta += d;
  }
  void gained(std::vector<Index>& map, uint32_t x, Pair p, int64_t d, uint32_t word) {
    gained_.add(find(map, x, [&] { return gained_.open(p); }), d, word);
  }
  uint32_t a_ = 0, b_ = 0, m_ = 0, stamp_ = 0;
  std::vector<Index> lost_before_, lost_after_, gained_before_, gained_after_;
  std::vector<Loss> lost_;
  PairGroups gained_;
};

// Copies n symbols from `from` down to `to` (to < from), front to back, four
// at a time: most moves are a few symbols, for which a memmove call cost more
// than the copy.
inline void move_down(uint32_t* to, const uint32_t* from, uint32_t n) {
  uint32_t k = 0;
#ifdef __SSE2__
  for (; k + 4 <= n; k += 4)  // each load comes before the store that may overlap it
    _mm_storeu_si128(reinterpret_cast<__m128i*>(to + k), _mm_loadu_si128(reinterpret_cast<const __m128i*>(from + k)));
#endif
  for (; k < n; ++k) to[k] = from[k];
}

// Merges every (a, b) in word w, left to right, as the reference's
// Word::merge: the pair's own count is not decremented, only its neighbours'
// (by the word's count). `fits(x, y)`: whether a token joining x and y may
// exist (maxTokenBytes); a neighbour pair that may not is never counted, as
// in the reference. One pass: the symbols between occurrences move down once
// (a shift per occurrence made long chunks quadratic).
template <class Fits>
void merge_word(Words& words, uint32_t w, uint32_t a, uint32_t b, uint32_t merged, Fits&& fits, MergeChanges& changes) {
  uint32_t* s = words.symbols(w);
  const uint32_t n = words.length(w);
  const int64_t count = static_cast<int64_t>(words.count(w));
  uint32_t out = 0;  // s[0, out) is merged; s[i, n) is still to read
  for (uint32_t i = 0;;) {
    const uint32_t k = find_pair(s, i, n, a, b);
    if (out != i) move_down(s + out, s + i, k - i);
    out += k - i;
    if (k == n) break;
    if (out > 0) {
      changes.lose_before(s[out - 1], -count);
      if (fits(s[out - 1], merged)) changes.gain_before(s[out - 1], count, w);
    }
    s[out++] = merged;
    i = k + 2;
    if (i < n) {
      changes.lose_after(s[i], -count);
      if (fits(merged, s[i])) changes.gain_after(s[i], count, w);
    }
  }
  words.length(w) = out;
}

// The state both stages share: the vocabulary so far and the merges.
class Trainer {
 public:
  Trainer(const TrainOptions& o, TrainProgress* progress, const std::atomic<bool>* cancel)
      : o_(o), progress_(progress), cancel_(cancel) {
    for (uint32_t k = 0; k < o.special_count; ++k) lengths_.push_back(static_cast<uint32_t>(bytes_of(k).size()));
    for (uint32_t k = 0; k < o.specials_as_bytes.size(); ++k)
      if (!o.specials_as_bytes[k].empty()) {
        IdSlot& slot = id_slot(o.specials_as_bytes[k]);
        if (slot.id == kNone) slot.id = k;
      }
  }

  // The id of the token with these bytes: an existing one keeps its id.
  uint32_t add_token(std::string bytes) {
    IdSlot& slot = id_slot(bytes);
    if (slot.id != kNone) return slot.id;
    slot.id = static_cast<uint32_t>(vocab());
    lengths_.push_back(static_cast<uint32_t>(bytes.size()));
    out_.tokens.push_back(std::move(bytes));
    return slot.id;
  }
  // bytes_of(id).size(), without touching the strings (asked for every pair counted).
  uint32_t length_of(uint32_t id) const { return lengths_[id]; }
  const std::string& bytes_of(uint32_t id) const {
    return id < o_.special_count ? o_.specials_as_bytes[id] : out_.tokens[id - o_.special_count];
  }
  size_t vocab() const { return o_.special_count + out_.tokens.size(); }
  TrainResult& result() { return out_; }

  // Words of a counter, each turned into symbols by to_symbols(bytes, out).
  template <class ToSymbols>
  static Words words_of(const WordCounter& counter, ToSymbols&& to_symbols) {
    Words words;
    words.reserve(counter.counts().size(), counter.counts().total_bytes());
    std::vector<uint32_t> tmp;
    counter.counts().for_each([&](std::string_view w, uint64_t c) {
      tmp.clear();
      to_symbols(w, tmp);
      words.add(tmp, c);
    });
    return words;
  }

  // Merges until the vocabulary reaches `limit`, as the reference's loop;
  // fits(x, y): whether the pair may ever merge (others are never counted).
  template <class Fits>
  void merge_until(Words& words, size_t limit, Fits&& fits);

 private:
  const TrainOptions& o_;
  TrainProgress* progress_;
  const std::atomic<bool>* cancel_;
  TrainResult out_;
  std::vector<uint32_t> lengths_;  // of the tokens' bytes, by id

  // Token bytes -> id: open addressing over the ids, their bytes compared
  // through bytes_of (a std::unordered_map of strings allocated a node and
  // copied the bytes at every merge).
  struct IdSlot {
    uint32_t hash = 0;  // the high half of the bytes' hash
    uint32_t id = kNone;
  };
  static uint64_t hash_of(std::string_view bytes) { return std::hash<std::string_view>{}(bytes); }
  // The slot holding these bytes' id, or the empty slot where it goes (filled by the caller).
  IdSlot& id_slot(std::string_view bytes) {
    if (4 * (ids_used_ + 1) > 3 * ids_.size()) {
      std::vector<IdSlot> old(std::max<size_t>(1024, 2 * ids_.size()));
      old.swap(ids_);
      for (const IdSlot& e : old)
        if (e.id != kNone) place(hash_of(bytes_of(e.id))) = e;
    }
    const uint64_t h = hash_of(bytes);
    const size_t mask = ids_.size() - 1;
    size_t i = h & mask;
    for (; ids_[i].id != kNone; i = (i + 1) & mask)
      if (ids_[i].hash == static_cast<uint32_t>(h >> 32) && bytes_of(ids_[i].id) == bytes) return ids_[i];
    ++ids_used_;
    ids_[i].hash = static_cast<uint32_t>(h >> 32);
    return ids_[i];
  }
  IdSlot& place(uint64_t h) {  // the first empty slot from h's home (rehashing)
    size_t i = h & (ids_.size() - 1);
    while (ids_[i].id != kNone) i = (i + 1) & (ids_.size() - 1);
    return ids_[i];
  }
  std::vector<IdSlot> ids_;
  size_t ids_used_ = 0;
};

template <class Fits>
void Trainer::merge_until(Words& words, size_t limit, Fits&& fits) {
  PairCounts pair_counts;
  WordSets sets;  // of the candidates
  std::priority_queue<Candidate, std::vector<Candidate>, Lower> queue;
  {
    // Every initial pair with the words it is in; the candidates are
    // heapified at once (linear), not pushed one by one.
    // (Arrays are reserved to size: growing them copied tens of megabytes.)
    PairGroups initial;
    initial.reserve_entries(words.size());
    PairCounts group_of;  // pair -> its group + 1
    words.for_each_unmerged([&](uint32_t w) {
      const uint32_t* s = words.symbols(w);
      const int64_t count = static_cast<int64_t>(words.count(w));
      for (size_t k = 0; k + 1 < words.length(w); ++k) {
        if (!fits(s[k], s[k + 1])) continue;
        const Pair p = make_pair(s[k], s[k + 1]);
        int64_t& g = group_of[p];
        if (!g) g = initial.open(p) + 1;
        initial.add(static_cast<uint32_t>(g - 1), count, w);
      }
    });
    std::vector<Candidate> candidates;
    candidates.reserve(2 * initial.size());  // the heap's room for what the merges add
    sets.reserve(2 * initial.entries());
    initial.drain(pair_counts, sets, [&](Pair p, int64_t count, uint32_t n) {
      candidates.push_back({static_cast<uint64_t>(count), p, sets.add(n)});
      return candidates.back().words;
    });
    queue = std::priority_queue<Candidate, std::vector<Candidate>, Lower>(Lower(), std::move(candidates));
  }
  MergeChanges changes;
  while (vocab() < limit && !queue.empty()) {
    if (cancel_ && cancel_->load(std::memory_order_relaxed)) throw Cancelled();
    Candidate top = queue.top();
    queue.pop();
    if (!queue.empty()) {  // most likely the next to look at: its count and set are fetched meanwhile
      pair_counts.prefetch(queue.top().pair);
      sets.prefetch(queue.top().words);
    }
    const uint64_t current = static_cast<uint64_t>(pair_counts.get(top.pair));
    if (top.count != current) {
      top.count = current;
      queue.push(top);
      continue;
    }
    if (top.count < 1 || o_.min_frequency > top.count) break;
    const uint32_t a = static_cast<uint32_t>(top.pair >> 32), b = static_cast<uint32_t>(top.pair);
    const uint32_t merged = add_token(bytes_of(a) + bytes_of(b));
    out_.merges.push_back({a, b, merged});
    if (progress_) progress_->done = out_.merges.size();
    changes.begin(a, b, merged, vocab());
    const uint32_t* ws = sets.data(top.words);
    const size_t n_words = sets.size(top.words);
    // The visits are memory-bound: the words are fetched eight ahead (most
    // merges visit fewer: their words are all fetched at once).
    for (size_t k = 0; k < std::min<size_t>(8, n_words); ++k) words.prefetch(ws[k]);
    for (size_t k = 0; k < n_words; ++k) {
      if (k + 8 < n_words) words.prefetch(ws[k + 8]);
      merge_word(words, ws[k], a, b, merged, fits, changes);
    }
    sets.release(top.words);
    changes.drain(pair_counts, sets, [&](Pair p, int64_t count, uint32_t n) {
      if (count <= 0) return kNone;
      const uint32_t id = sets.add(n);
      queue.push({static_cast<uint64_t>(count), p, id});
      return id;
    });
  }
}

// Applies merges in priority order to one word (the BPE model's rule: the
// listed pair that comes first joins first, everywhere, left to right).
class MergeReplay {
 public:
  explicit MergeReplay(const std::vector<std::array<uint32_t, 3>>& merges) {
    for (size_t r = 0; r < merges.size(); ++r) rank_[make_pair(merges[r][0], merges[r][1])] = {static_cast<uint32_t>(r), merges[r][2]};
  }
  // Lowest rank first, leftmost first among equals (tokenizers' Word::merge_all),
  // over a linked list and a heap: O(n log n) on the long superword pieces.
  void apply(std::vector<uint32_t>& s) const {
    const size_t n = s.size();
    if (n < 2) return;
    std::vector<int64_t> next(n), prev(n);
    for (size_t i = 0; i < n; ++i) next[i] = i + 1 < n ? static_cast<int64_t>(i + 1) : -1, prev[i] = static_cast<int64_t>(i) - 1;
    std::vector<bool> alive(n, true);
    using Item = std::pair<uint32_t, size_t>;  // (rank, position)
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
    auto push = [&](int64_t i) {
      if (i < 0 || next[i] < 0) return;
      auto it = rank_.find(make_pair(s[i], s[next[i]]));
      if (it != rank_.end()) heap.push({it->second.first, static_cast<size_t>(i)});
    };
    for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int64_t>(i));
    while (!heap.empty()) {
      const auto [r, i] = heap.top();
      heap.pop();
      if (!alive[i] || next[i] < 0) continue;
      auto it = rank_.find(make_pair(s[i], s[next[i]]));
      if (it == rank_.end() || it->second.first != r) continue;  // the pair changed since it was queued
      const int64_t j = next[i];
      s[i] = it->second.second;
      alive[j] = false;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = static_cast<int64_t>(i);
      push(prev[i]);
      push(static_cast<int64_t>(i));
    }
    size_t out = 0;
    for (size_t i = 0; i < n; ++i)
      if (alive[i]) s[out++] = s[i];
    s.resize(out);
  }

 private:
  std::unordered_map<Pair, std::pair<uint32_t, uint32_t>> rank_;
};

// SuperBPE's limits on superword tokens: never ": " inside, at most 4 words.
bool superword_fits(const std::string& text) {
  if (text.find(": ") != std::string::npos) return false;
  int words = 0;
  bool in_word = false;
  for (unsigned char c : text) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words <= 4;
}

}  // namespace

TrainResult train(const WordCounter& counter, const TrainOptions& o, TrainProgress* progress,
                  const std::atomic<bool>* cancel, const WordCounter* superwords) {
  Trainer t(o, progress, cancel);
  // Initial symbols: the bytes present (or all), in ByteLevel code-point order (or byte order).
  bool present[256] = {false};
  counter.counts().bytes_present(present);
  std::vector<uint8_t> alphabet;
  for (int b = 0; b < 256; ++b)
    if (present[b] || o.initial_alphabet) alphabet.push_back(static_cast<uint8_t>(b));
  std::sort(alphabet.begin(), alphabet.end(), [&](uint8_t x, uint8_t y) {
    return o.byte_order ? x < y : byte_level_code_point(x) < byte_level_code_point(y);
  });
  uint32_t byte_id[256] = {0};
  for (uint8_t b : alphabet) byte_id[b] = t.add_token(std::string(1, static_cast<char>(b)));
  if (progress) progress->total = o.vocab_size > t.vocab() ? o.vocab_size - t.vocab() : 0;

  const auto fits = [&](uint32_t x, uint32_t y) {
    return !o.max_token_bytes || t.length_of(x) + t.length_of(y) <= o.max_token_bytes;
  };
  {
    Words words = Trainer::words_of(counter, [&](std::string_view w, std::vector<uint32_t>& out) {
      out.resize(w.size());
      for (size_t k = 0; k < w.size(); ++k) out[k] = byte_id[static_cast<unsigned char>(w[k])];
    });
    t.merge_until(words, superwords ? std::min<size_t>(o.transition, o.vocab_size) : o.vocab_size, fits);
  }
  if (superwords && t.vocab() < o.vocab_size) {
    // Stage 2: the superword pieces, first encoded with the merges so far
    // (bytes missing from the alphabet are dropped, as encoding would),
    // then merged on, across spaces.
    const MergeReplay replay(t.result().merges);
    Words words = Trainer::words_of(*superwords, [&](std::string_view w, std::vector<uint32_t>& out) {
      for (unsigned char ch : w)
        if (present[ch] || o.initial_alphabet) out.push_back(byte_id[ch]);
      replay.apply(out);
    });
    t.merge_until(words, o.vocab_size, [&](uint32_t x, uint32_t y) {
      return fits(x, y) && superword_fits(t.bytes_of(x) + t.bytes_of(y));
    });
  }
  return std::move(t.result());
}

}  // namespace llmk::bpe
