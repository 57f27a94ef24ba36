#include "encoding.h"
#include "piece_ring.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>

#include "../common/error.h"
#include "unicode.h"

namespace llmk::bpe {

namespace {

std::atomic<uint32_t> g_next_serial{1};

Error unencodable(uint8_t byte) {
  char hex[3];
  std::snprintf(hex, sizeof hex, "%02x", byte);
  return range_error("ERR_LLMK_UNENCODABLE", std::string("byte 0x") + hex + " has no token in this encoding");
}

[[noreturn]] void bad(const std::string& what) {
  throw Error(ErrorKind::Range, "ERR_LLMK_BAD_ENCODING", "malformed encoding data: " + what);
}

// Bounds-checked little-endian reader over untrusted bytes.
struct Reader {
  const uint8_t* p;
  size_t left;
  const uint8_t* take(size_t n, const char* what) {
    if (n > left) bad(std::string("truncated ") + what);
    const uint8_t* r = p;
    p += n, left -= n;
    return r;
  }
  uint32_t u32(const char* what) {
    const uint8_t* b = take(4, what);
    return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
  }
  uint16_t u16(const char* what) {
    const uint8_t* b = take(2, what);
    return uint16_t(b[0] | b[1] << 8);
  }
};

// The first min(n, 8) bytes, zero-padded, little-endian. Fixed-size loads
// only (two overlapping ones for 4-7 bytes): a memcpy of variable length is
// a library call, and this runs twice for every pre-token.
inline uint64_t load_head(const uint8_t* s, size_t n) {
  if (n >= 8) {
    uint64_t w;
    std::memcpy(&w, s, 8);
    return w;
  }
  if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, s, 4);
    std::memcpy(&hi, s + n - 4, 4);
    return lo | uint64_t(hi) << (8 * (n - 4));
  }
  if (n == 0) return 0;
  return s[0] | uint64_t(s[n >> 1]) << (8 * (n >> 1)) | uint64_t(s[n - 1]) << (8 * (n - 1));
}

// load_head for a string followed by at least 8 readable bytes (the pieces
// of a text being encoded, see encode_ordinary): one load and a mask.
inline uint64_t load_head_padded(const uint8_t* s, size_t n) {
  uint64_t w;
  std::memcpy(&w, s, 8);
  return n >= 8 ? w : w & ((uint64_t(1) << (8 * n)) - 1);
}

// `head` is load_head(s, n). Later chunks of 1-7 bytes are read as the
// string's last 8 bytes, shifted.
inline uint64_t hash_bytes(const uint8_t* s, size_t n, uint64_t head) {
  uint64_t h = (head ^ (uint64_t(n) << 56)) * 0x9E3779B97F4A7C15ull;
  size_t i = 8;
  for (; i + 8 <= n; i += 8) h = (h ^ load_head(s + i, 8)) * 0xC2B2AE3D27D4EB4Full;
  if (i < n) h = (h ^ load_head(s + n - 8, 8) >> (8 * (i + 8 - n))) * 0xC2B2AE3D27D4EB4Full;
  return h ^ (h >> 29);
}

// Where a hash sits in the token filter: a word (from bits apart from the
// slot index's low bits) and two bits of it.
inline uint64_t filter_word(uint64_t hash, uint64_t words_mask) { return (hash >> 21) & words_mask; }
inline uint64_t filter_bits_of(uint64_t hash) { return uint64_t(1) << (hash >> 46 & 63) | uint64_t(1) << (hash >> 52 & 63); }

inline uint32_t check_of(uint64_t hash, size_t n) { return uint32_t(n) | uint32_t(hash >> 40) << 8; }

// Where a pair of ids (left << 32 | right) starts its probe in a table of
// 2^(64 - shift) slots: the product's top bits (its low bits would depend
// on the right id alone).
inline uint64_t pair_slot(uint64_t pair, int shift) { return (pair * 0x9E3779B97F4A7C15ull) >> shift; }

// Where a merge's pair of ids sits in the merge filter: a word (top bits of
// a product) and two bits of it (from its middle: bits that depend on both ids).
struct MergeFilterBits {
  uint64_t word, bits;
};
inline MergeFilterBits merge_filter_bits(uint64_t pair, int shift) {
  const uint64_t g = (pair ^ pair >> 29) * 0xC2B2AE3D27D4EB4Full;
  return {g >> shift, uint64_t(1) << (g >> 20 & 63) | uint64_t(1) << (g >> 26 & 63)};
}

}  // namespace

Encoding Encoding::load(const uint8_t* data, size_t size) {
  Reader r{data, size};
  const uint8_t* magic = r.take(8, "header");
  if (std::memcmp(magic, "LLMKBPE", 7) != 0 || (magic[7] != 1 && magic[7] != 2))
    bad("not an llm-kernels BPE file (bad magic)");
  const bool has_merges = magic[7] == 2;
  Encoding e;
  const uint32_t count = r.u32("rank count");
  if (count == 0 || count >= (1u << 24)) bad("rank count out of range");
  const uint32_t pattern_len = r.u32("pattern length");
  e.pattern_.assign(reinterpret_cast<const char*>(r.take(pattern_len, "pattern")), pattern_len);
  if (!pattern_kind(e.pattern_, e.kind_))
    throw Error(ErrorKind::Range, "ERR_LLMK_UNSUPPORTED", "unsupported pre-tokenizer pattern: " + e.pattern_);
  const uint32_t n_specials = r.u32("special count");
  if (n_specials > 65536) bad("too many special tokens");
  Rank max_id = count - 1;
  for (uint32_t k = 0; k < n_specials; ++k) {
    const Rank id = r.u32("special id");
    const uint16_t len = r.u16("special length");
    e.specials_.emplace_back(std::string(reinterpret_cast<const char*>(r.take(len, "special")), len), id);
    max_id = std::max(max_id, id);
  }
  e.span_.resize(count);
  e.short_.resize(count);
  for (uint32_t rank = 0; rank < count; ++rank) {
    const uint8_t len = *r.take(1, "token length");
    const uint8_t* bytes = r.take(len, "token");
    e.span_[rank] = {static_cast<uint32_t>(e.arena_.size()), len};
    Short& s = e.short_[rank];
    std::memcpy(s.head, bytes, std::min<size_t>(len, sizeof s.head));
    s.length = len;
    e.arena_.append(reinterpret_cast<const char*>(bytes), len);
  }
  if (has_merges) {
    // Version 2: u8 flags (bit 0: ignore_merges, 1: character symbols, 2: byte_fallback, 3: fuse_unk,
    // 4: decoded bytes follow), u32 unknown-token id (or ~0), u32 count, {u32 left, u32 right, u32 result}
    // per merge, by priority.
    const uint8_t flags = *r.take(1, "flags");
    e.listed_merges_ = true;
    e.ignore_merges_ = flags & 1;
    e.char_symbols_ = flags & 2;
    e.byte_fallback_ = flags & 4;
    e.fuse_unk_ = flags & 8;
    e.unk_id_ = r.u32("unknown token");
    if (e.unk_id_ != kNoRank && (e.unk_id_ >= count || !e.span_[e.unk_id_].length)) bad("unknown token id outside the vocabulary");
    const uint32_t n_merges = r.u32("merge count");
    if (n_merges >= (1u << 24)) bad("merge count out of range");
    size_t slots = 16;
    while (4 * slots < 5 * size_t(n_merges)) slots <<= 1;  // up to 80 % full: the filter turns most misses away
    e.merges_.assign(slots, MergeSlot{~uint64_t(0), 0, 0});
    e.merging_.assign(count, 0);
    e.merge_mask_ = slots - 1;
    e.merge_shift_ = 64 - __builtin_ctzll(slots);
    // The filter: 8 bits a merge, at least 64 words.
    size_t words = 64;
    while (words * 64 < 8 * size_t(n_merges)) words <<= 1;
    e.merge_filter_.assign(words, 0);
    e.merge_filter_shift_ = 64 - __builtin_ctzll(words);
    for (uint32_t k = 0; k < n_merges; ++k) {
      const Rank left = r.u32("merge"), right = r.u32("merge"), result = r.u32("merge");
      if (left >= count || right >= count || result >= count || !e.span_[left].length || !e.span_[right].length || !e.span_[result].length)
        bad("merge " + std::to_string(k) + " names an id outside the vocabulary");
      if (e.span_[left].length + e.span_[right].length != e.span_[result].length ||
          std::memcmp(e.arena_.data() + e.span_[left].offset, e.arena_.data() + e.span_[result].offset, e.span_[left].length) != 0 ||
          std::memcmp(e.arena_.data() + e.span_[right].offset, e.arena_.data() + e.span_[result].offset + e.span_[left].length,
                      e.span_[right].length) != 0)
        bad("merge " + std::to_string(k) + " does not join its two tokens into its result");
      const uint64_t pair = uint64_t(left) << 32 | right;
      uint64_t s = pair_slot(pair, e.merge_shift_);
      while (e.merges_[s].pair != ~uint64_t(0) && e.merges_[s].pair != pair) s = (s + 1) & e.merge_mask_;
      if (e.merges_[s].pair == pair) continue;  // a repeated merge keeps its first priority
      e.merges_[s] = {pair, k, result};
      e.merging_[left] = e.merging_[right] = 1;
      const MergeFilterBits f = merge_filter_bits(pair, e.merge_filter_shift_);
      e.merge_filter_[f.word] |= f.bits;
    }
    if (flags & 16) {
      // Then per id: u8 length and the bytes it decodes to (SentencePiece's
      // decoders), which decode() copies instead of the token's bytes.
      e.decode_span_.resize(count);
      for (uint32_t rank = 0; rank < count; ++rank) {
        const uint8_t len = *r.take(1, "decoded length");
        const uint8_t* bytes = r.take(len, "decoded bytes");
        e.decode_span_[rank] = {static_cast<uint32_t>(e.decode_arena_.size()), len};
        e.decode_arena_.append(reinterpret_cast<const char*>(bytes), len);
        Short& s = e.short_[rank];
        std::memset(s.head, 0, sizeof s.head);
        std::memcpy(s.head, bytes, std::min<size_t>(len, sizeof s.head));
        s.length = e.span_[rank].length ? len : 0;
      }
    }
  }
  if (r.left != 0) bad("trailing bytes");
  do e.serial_ = g_next_serial.fetch_add(1);
  while (e.serial_ == 0 || (e.serial_ & kRunSerial));  // 0 marks an empty piece-cache entry; kRunSerial, runs
  e.vocab_size_ = size_t(max_id) + 1;
  // The rank table: up to 80 % full. Lookups of strings that are not tokens,
  // whose probes run longest in a full table, mostly stop at the filter; a
  // smaller table stays in the shared cache (cl100k_base 2 + 1 MiB).
  size_t slots = 1;
  while (slots * 4 < 5 * size_t(count)) slots <<= 1;
  e.table_.assign(slots, Slot{0, kNoRank, 0});
  e.next_.assign(slots, 0);
  e.mask_ = slots - 1;
  // The filter: 8+ bits a token. Until it is complete (the insertions below
  // probe the table) it passes everything.
  size_t filter_words = 1;
  while (filter_words * 64 < 8 * size_t(count)) filter_words <<= 1;
  std::vector<uint64_t> filter(filter_words, 0);
  e.filter_.assign(1, ~uint64_t(0));
  e.filter_mask_ = 0;
  // Ranks of one- and two-byte strings straight from the tokens (looking up
  // all 65536 pairs would miss the cache 65536 times).
  e.pair_rank_.assign(65536, kNoRank);
  std::fill(e.byte_id_, e.byte_id_ + 256, kNoRank);
  for (uint32_t rank = 0; rank < count; ++rank) {
    const size_t n = e.span_[rank].length;
    if (n == 0) continue;
    const uint8_t* bytes = reinterpret_cast<const uint8_t*>(e.arena_.data()) + e.span_[rank].offset;
    const uint64_t head = load_head(bytes, n), h = hash_bytes(bytes, n, head);
    // The probe ends at the token's slot (a duplicate) or at the empty slot where it goes.
    const size_t s = static_cast<size_t>(e.find_slot(bytes, n, h, head) - e.table_.data());
    if (e.table_[s].rank != kNoRank) bad("duplicate token bytes");
    e.table_[s] = Slot{head, rank, check_of(h, n)};
    if (n > 8) e.next_[s] = load_head(bytes + 8, std::min<size_t>(n - 8, 8));
    filter[filter_word(h, filter_words - 1)] |= filter_bits_of(h);
    if (n == 1) e.byte_id_[bytes[0]] = rank;
    if (n == 2) e.pair_rank_[bytes[0] << 8 | bytes[1]] = rank;
  }
  e.filter_ = std::move(filter);
  e.filter_mask_ = filter_words - 1;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    e.fallback_id_[b] = e.rank_of(name);
    if (e.byte_fallback_ && e.fallback_id_[b] == kNoRank) bad(std::string("byte_fallback without the token ") + name);
  }
  if (e.char_symbols_) {
    // Two- and three-byte characters' ids, from the tokens that are one such character.
    e.char_id_.assign(0x10000, kNoRank);
    for (uint32_t rank = 0; rank < count; ++rank) {
      const uint8_t* bytes = reinterpret_cast<const uint8_t*>(e.arena_.data()) + e.span_[rank].offset;
      size_t len = 0;
      const size_t n = e.span_[rank].length;
      if (n < 2 || n > 3) continue;
      const uint32_t cp = decode_utf8(bytes, n, 0, len);
      if (len == n) e.char_id_[cp] = rank;
    }
  }
  if (e.listed_merges_) e.find_crossings();
  return e;
}

// The symbols (bytes or characters) a token starts and ends with, as the
// encoder would make them from its bytes; false when one is not a token
// itself (it would come from byte fallback or the unknown token).
bool Encoding::end_symbols(Rank id, Rank& first, Rank& last) const {
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(arena_.data()) + span_[id].offset;
  const size_t n = span_[id].length;
  if (!char_symbols_) {
    first = byte_id_[bytes[0]], last = byte_id_[bytes[n - 1]];
  } else {
    size_t len = 0, at = 0;
    decode_utf8(bytes, n, 0, len);
    first = rank_of(std::string_view(reinterpret_cast<const char*>(bytes), len));
    for (size_t i = 0; i < n; i += len) at = i, decode_utf8(bytes, n, i, len);
    last = rank_of(std::string_view(reinterpret_cast<const char*>(bytes + at), n - at));
  }
  return first != kNoRank && last != kNoRank;
}

// Which adjacent symbols some merge could join across: (x, y) where a merge's
// left side ends with x and its right side starts with y. Between any other
// two symbols no merge ever joins, so the runs on either side merge apart
// (Llama-2's words: no merge joins a letter to a following U+2581). Left
// empty, no run is split this way, when the symbols a token is made of
// cannot be told from its bytes: when merges name fallback bytes or the
// unknown token, or a token's end is not a symbol.
void Encoding::find_crossings() {
  bool known = unk_id_ == kNoRank || !merging_[unk_id_];
  for (int b = 0; b < 256 && known; ++b) known = fallback_id_[b] == kNoRank || !merging_[fallback_id_[b]];
  std::vector<uint64_t> pairs;
  for (size_t k = 0; k < merges_.size() && known; ++k) {
    if (merges_[k].pair == ~uint64_t(0)) continue;
    Rank first, last, ignored;
    known = end_symbols(Rank(merges_[k].pair >> 32), ignored, last) && end_symbols(Rank(merges_[k].pair), first, ignored);
    pairs.push_back(uint64_t(last) << 32 | first);
  }
  if (!known) return;
  std::sort(pairs.begin(), pairs.end());  // many merges share their ends (Llama-3: 280k merges, ~1/10 as many pairs)
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  size_t slots = 16;
  while (slots < 2 * pairs.size()) slots <<= 1;
  crossings_.assign(slots, ~uint64_t(0));
  crossing_shift_ = 64 - __builtin_ctzll(slots);
  for (uint64_t pair : pairs) {
    uint64_t s = pair_slot(pair, crossing_shift_);
    while (crossings_[s] != ~uint64_t(0) && crossings_[s] != pair) s = (s + 1) & (slots - 1);
    crossings_[s] = pair;
  }
}

bool Encoding::may_cross(Rank left, Rank right) const {
  const uint64_t pair = uint64_t(left) << 32 | right, mask = crossings_.size() - 1;
  for (uint64_t s = pair_slot(pair, crossing_shift_);; s = (s + 1) & mask) {
    if (crossings_[s] == pair) return true;
    if (crossings_[s] == ~uint64_t(0)) return false;
  }
}

const Encoding::MergeSlot* Encoding::find_merge(Rank left, Rank right) const {
  const uint64_t pair = uint64_t(left) << 32 | right;
  const MergeFilterBits f = merge_filter_bits(pair, merge_filter_shift_);
  if ((merge_filter_[f.word] & f.bits) != f.bits) return nullptr;
  for (uint64_t s = pair_slot(pair, merge_shift_);; s = (s + 1) & merge_mask_) {
    const MergeSlot& m = merges_[s];
    if (m.pair == pair) return &m;
    if (m.pair == ~uint64_t(0)) return nullptr;
  }
}

// The slot holding the bytes, or an empty slot.
const Encoding::Slot* Encoding::find_slot(const uint8_t* bytes, size_t n) const {
  const uint64_t head = load_head(bytes, n);
  return find_slot(bytes, n, hash_bytes(bytes, n, head), head);
}

const Encoding::Slot* Encoding::find_slot(const uint8_t* bytes, size_t n, uint64_t h, uint64_t head) const {
  static const Slot kAbsent{0, kNoRank, 0};
  if (n == 0 || n > 255) return &kAbsent;  // no token is that long (the check keeps 8 bits of length)
  const uint64_t want = filter_bits_of(h);
  if ((filter_[filter_word(h, filter_mask_)] & want) != want) return &kAbsent;
  const uint32_t check = check_of(h, n);
  if (n > 8) __builtin_prefetch(&next_[h & mask_]);  // in parallel with the slot's miss
  for (uint64_t s = h & mask_;; s = (s + 1) & mask_) {
    const Slot& slot = table_[s];
    if (slot.rank == kNoRank) return &slot;
    if (slot.check == check && slot.head == head && (n <= 8 || same_tail(s, bytes, n))) return &slot;
  }
}

// Whether bytes 8..n-1 of the piece equal those of the token in slot s (n > 8,
// same length): bytes 8-15 from next_, the rest from the arena.
bool Encoding::same_tail(uint64_t s, const uint8_t* bytes, size_t n) const {
  const uint64_t tail = n >= 16 ? load_head(bytes + 8, 8) : load_head(bytes + n - 8, 8) >> (8 * (16 - n));
  if (next_[s] != tail) return false;
  if (n <= 16) return true;
  const uint8_t* token = reinterpret_cast<const uint8_t*>(arena_.data()) + span_[table_[s].rank].offset;
  return std::memcmp(token + 16, bytes + 16, n - 16) == 0;
}

Rank Encoding::rank_of(std::string_view bytes) const {
  return find_slot(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())->rank;
}

bool Encoding::decoded_bytes(Rank id, std::string_view& bytes) const {
  if (id < decode_span_.size() && span_[id].length != 0) {
    bytes = std::string_view(decode_arena_.data() + decode_span_[id].offset, decode_span_[id].length);
    return true;
  }
  return token_bytes(id, bytes);
}

bool Encoding::token_bytes(Rank id, std::string_view& bytes) const {
  if (id < span_.size() && span_[id].length != 0) {
    bytes = std::string_view(arena_.data() + span_[id].offset, span_[id].length);
    return true;
  }
  for (const auto& [text, special] : specials_)
    if (special == id) return bytes = text, true;
  return false;
}

// Joins adjacent symbols 0..n-1 (a linked list: next[i] is the symbol after
// i, n for none) lowest priority first, leftmost on ties, until no adjacent
// pair has a priority: the O(n log n) core of both merge rules for long
// pieces. score(l, r) is the pair's priority or kNoRank; join(l, r) makes l
// the joined symbol. Heap entries are priority << 32 | left, 8 bytes; one is
// stale once the pair at `left` changed, which always changes its priority
// (a pair's priority names its joined token, and a changed pair joins more
// bytes), so `current` (the priority of the pair at each symbol) tells.
template <class Score, class JoinFn>
void join_lowest_pairs(size_t n, std::vector<size_t>& next, Score&& score, JoinFn&& join) {
  if (n >= (uint64_t(1) << 32)) throw range_error("ERR_LLMK_BAD_ARGUMENT", "text too long: a pre-token of 4 GiB or more cannot be merged");
  std::vector<size_t> prev(n);
  std::vector<Rank> current(n, kNoRank);
  std::vector<uint64_t> heap;
  for (size_t i = 0; i < n; ++i) next[i] = i + 1, prev[i] = i - 1;
  auto rescore = [&](size_t left) {  // the pair at left changed
    current[left] = next[left] < n ? score(left, next[left]) : kNoRank;
    return uint64_t(current[left]) << 32 | left;
  };
  for (size_t i = 0; i + 1 < n; ++i)
    if (const uint64_t e = rescore(i); e >> 32 != kNoRank) heap.push_back(e);
  const auto later = std::greater<uint64_t>();  // a min-heap
  std::make_heap(heap.begin(), heap.end(), later);
  auto push = [&](size_t left) {
    const uint64_t e = rescore(left);
    if (e >> 32 == kNoRank) return;
    heap.push_back(e);
    std::push_heap(heap.begin(), heap.end(), later);
  };
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const uint64_t e = heap.back();
    heap.pop_back();
    const size_t left = static_cast<uint32_t>(e), right = next[left];
    if (current[left] != e >> 32) continue;
    join(left, right);
    current[right] = kNoRank;  // gone
    next[left] = next[right];
    if (next[right] < n) prev[next[right]] = left;
    push(left);
    if (left > 0) push(prev[left]);
  }
}

// Per-thread caches in front of the rank table (3-6 MiB with its tails: it
// lives in the last-level cache at best, while text repeats its words and
// their parts). 2368 KiB a thread, 192 of them for listed merges (and the
// ring of merged pieces, up to 5.1 MiB as it fills). Entries are
// exact, and the encoding's serial says whose they are.
struct Encoding::ThreadCaches {
  // Recent pre-tokens of up to 8 bytes that encode to at most 3 tokens, and
  // those tokens: 8 bytes and a length fix the piece. Whole tokens and
  // merged pieces alike (on the UDHR this skips 40 % of the merges). 1 MiB
  // of the Brown corpus holds 13,700 distinct ones: with 16384 entries 7 %
  // of them missed on a second pass.
  struct Piece {
    uint64_t head;
    uint32_t serial;  // 0: empty
    uint32_t first;   // tokens << 28 | length << 24 | the first token's rank
  };
  // Recent pairs of adjacent parts met while merging, by the parts' ranks,
  // and the rank of their joined bytes (or kNoRank). Pieces that are not
  // whole tokens mostly split into recurring parts (on the UDHR 84 % of
  // these lookups repeat a recent pair).
  struct Pair {
    uint64_t parts;   // left rank << 32 | right rank
    uint32_t serial;  // 0: empty
    uint32_t rank;
  };
  // Recent pre-tokens of 17-32 bytes, and of 9-16 bytes that Mid does not
  // take, that encode to at most 8 tokens (ranks in 3 bytes each): whole
  // words and merged ones alike. On the UDHR 44 % of the merges of such
  // pieces repeat one of the last 4096.
  struct alignas(64) Long {
    uint64_t bytes[4];  // zero-padded
    uint8_t ids[24];
    uint32_t serial;  // 0: empty
    uint8_t length, count;
  };
  // Recent pre-tokens of 9-16 bytes that encode to 1-4 tokens, in half a
  // cache line each: most longer English words. 1 MiB of the Brown corpus
  // holds 8,800 distinct ones (27,000 in all); when they shared Long's 4096
  // entries, 40 % of them missed on a second pass over the text. Sets of
  // two (+3-4 % on English against one way); 32768 entries (+11 % on
  // English, +2-5 % on the UDHR against 16384).
  // Four tokens fit when each is below 2^20: 20 bits each in the low bits
  // of the three words, the fourth's 20 in the bits left (4 + 4 + 12). On
  // the first 83 UDHR declarations 9.3 k of the 34 k such pieces are four
  // tokens (5.5 k distinct), which otherwise go to Long: rank-table lookups
  // per repeated pass 114 k -> 92 k with cl100k.
  struct alignas(32) Mid {
    uint64_t bytes[2];  // zero-padded
    uint32_t serial;    // 0: empty
    uint32_t tokens[3];  // low 24 bits (20 with four tokens); the top 8 of the first: the length, of the second: the count
  };
  static constexpr unsigned kPieceBits = 15, kPairBits = 13, kMidBits = 15, kLongBits = 12;
  static constexpr size_t kMidBytes = 16, kLongBytes = 32, kLongTokens = 8;
  Piece pieces[1u << kPieceBits] = {};
  // The second and third tokens of the pieces above, apart: most pieces are
  // one token, and the entries they touch stay 16 bytes, aligned.
  uint32_t more_tokens[1u << kPieceBits][2] = {};
  Pair pairs[1u << kPairBits] = {};
  alignas(64) Mid mids[1u << kMidBits] = {};  // two-way sets
  Long longs[1u << kLongBits] = {};
  // Recent merges looked up by merge_listed, by the ids they join: their
  // priority and result (Llama-2's merge table is 2 MiB; English text asks
  // for the same few thousand pairs over and over).
  struct Listed {
    uint64_t parts;   // left id << 32 | right id
    uint32_t serial;  // 0: empty
    Rank priority, result;
  };
  static constexpr unsigned kListedBits = 13;
  Listed listed[1u << kListedBits] = {};
  // Merged pre-tokens of up to PieceRing::kMaxBytes bytes that the caches
  // above missed (too many tokens for them, or pushed out).
  PieceRing merged_pieces;
  // merge_listed's symbols, kept between pieces.
  std::vector<Rank> symbols;
  std::vector<uint32_t> symbol_starts;
};

namespace {
thread_local Encoding::ThreadCaches* lent_caches = nullptr;

// Sets of caches not lent out, each with the slot of the lease that returned it.
struct CacheStock {
  static constexpr size_t kKept = 16, kKeptRings = 4;
  CacheStock() { sets.reserve(kKept); }  // a lease's end (a destructor) then never allocates
  std::mutex mu;
  std::vector<std::pair<std::unique_ptr<Encoding::ThreadCaches>, size_t>> sets;
};
CacheStock& cache_stock() {
  static CacheStock* stock = new CacheStock;  // never destroyed: leases may end during exit
  return *stock;
}
}  // namespace

Encoding::CacheLease::CacheLease(size_t slot) : slot_(slot) {
  CacheStock& stock = cache_stock();
  {
    std::lock_guard<std::mutex> lock(stock.mu);
    auto& sets = stock.sets;
    if (!sets.empty()) {
      auto pick = sets.end() - 1;
      for (auto it = sets.begin(); it != sets.end(); ++it)
        if (it->second == slot) pick = it;
      caches_ = pick->first.release();
      sets.erase(pick);
    } else {
      caches_ = nullptr;
    }
  }
  if (!caches_) caches_ = new ThreadCaches();  // outside the lock: 2.3 MiB to zero
  lent_caches = caches_;
}

Encoding::CacheLease::~CacheLease() {
  lent_caches = nullptr;
  std::unique_ptr<ThreadCaches> caches(caches_);
  CacheStock& stock = cache_stock();
  std::lock_guard<std::mutex> lock(stock.mu);
  // Kept up to a bound: a call on 64 threads should not hold 60 MiB for
  // good, nor more than a few rings of merged pieces.
  if (stock.sets.size() >= CacheStock::kKept) return;
  if (stock.sets.size() >= CacheStock::kKeptRings) caches->merged_pieces.release();
  stock.sets.emplace_back(std::move(caches), slot_);
}

// Not inlined: inside a shared library each thread_local access costs a
// __tls_get_addr call, which inlining would repeat at every use.
__attribute__((noinline)) Encoding::ThreadCaches& Encoding::thread_caches() {
  if (ThreadCaches* lent = lent_caches) return *lent;
  thread_local ThreadCaches caches;
  return caches;
}

// The core of both merge rules for up to kCap symbols (a power of two up
// to kSmallParts): parts by where they start, part[i] the id of the part at
// symbol i, after[i] and before[i] where the parts beside it start, and
// key[i] orders the join of it with the next part: that join's priority
// << log2(kCap) | i, so the least key is the lowest priority, leftmost on
// ties (priorities are < 2^24). Keys from 2^24 * kCap up join nothing (a
// missing priority shifts to one of them). The caller sets part[0..n);
// first(i) is the join of symbols i and i + 1 and
// joined(l, r, a, b) that of parts with ids l and r covering symbols
// [a, b), each as {priority, id}. A join moves nothing, and the least key
// is found by a branch-free scan. On return the parts are 0, after[0],
// after[after[0]], ... up to n.
struct Join {
  Rank priority, id;  // priority kNoRank: the parts do not join
};
constexpr size_t kSmallParts = 128;
constexpr uint32_t kNoKey = ~uint32_t(0);

// kIdIsPriority: a join's priority is the id it makes (tiktoken's ranks).
// kCap >= n: 64 for most words, kSmallParts for the rest (smaller arrays
// to set up for the common case).
template <size_t kCap, bool kIdIsPriority, class First, class Joined>
[[gnu::always_inline]] inline void join_small(size_t n, Rank* part, uint8_t* after, First&& first, Joined&& joined) {
  static_assert(kCap <= kSmallParts && (kCap & (kCap - 1)) == 0);
  constexpr unsigned kPositionBits = __builtin_ctz(kCap);
  constexpr uint32_t kJoinsBelow = uint32_t(1) << (24 + kPositionBits);
  uint32_t key[kCap];
  Rank id_of_join[kIdIsPriority ? 1 : kCap];  // what the join keyed at i makes (its priority is in the key)
  uint8_t before[kCap];
  const size_t width = (n + 7) & ~size_t(7);  // scanned in whole groups of 8
  // after[i] = i + 1 and before[i] = i - 1 (mod 256), copied from one table.
  static constexpr struct Steps {
    uint8_t at[kSmallParts + 2];
    constexpr Steps() : at() {
      for (size_t i = 0; i < kSmallParts + 2; ++i) at[i] = uint8_t(i - 1);
    }
  } kSteps;
  std::memcpy(after, kSteps.at + 2, kCap);
  std::memcpy(before, kSteps.at, kCap);
  auto set_key = [&](size_t i, Join j) {
    key[i] = j.priority << kPositionBits | uint32_t(i);
    if constexpr (!kIdIsPriority) id_of_join[i] = j.id;
  };
  for (size_t i = 0; i + 1 < n; ++i) set_key(i, first(i));
  for (size_t i = n - 1; i < width; ++i) key[i] = kNoKey;
  for (;;) {
    // A scalar scan: a vector load of keys just written one at a time
    // would wait for the stores to drain (no store forwarding), which cost
    // more than the scan; the empty asm keeps GCC from vectorizing it.
    uint32_t least = kNoKey, other = kNoKey;
    for (size_t i = 0; i < width; i += 2) {
      least = std::min(least, key[i]);
      other = std::min(other, key[i + 1]);
      asm("" : "+r"(least), "+r"(other));
    }
    least = std::min(least, other);
    if (least >= kJoinsBelow) break;
    // The part at `best` absorbs the next one.
    const size_t best = least & (kCap - 1), gone = after[best], next = after[gone];
    after[best] = uint8_t(next);
    key[gone] = kNoKey;
    part[best] = kIdIsPriority ? least >> kPositionBits : id_of_join[best];
    if (next < n) {
      before[next] = uint8_t(best);
      set_key(best, joined(part[best], part[next], best, after[next]));
    } else {
      key[best] = kNoKey;
    }
    if (best > 0) {
      const size_t prev = before[best];
      set_key(prev, joined(part[prev], part[best], prev, next));
    }
  }
}

// merge_all(emit): the tokens (at most one a byte) to emit of a piece (hash
// h) that neither the fixed-size caches nor the thread's ring of merged
// pieces held (encode_piece looks in the ring first), kept in the ring from
// the piece's second meeting on. Called from the merges rather than beside
// those caches, where one more place that emits made GCC stop inlining
// push_back into the pre-tokenizer's loop (+15 % instructions on English).
template <class MergeAll, class Emit>
void Encoding::through_ring(ThreadCaches& caches, const uint8_t* piece, size_t n, uint64_t h, MergeAll&& merge_all, Emit&& emit) const {
  if (n > PieceRing::kMaxBytes || !caches.merged_pieces.met_before(h, serial_)) return merge_all(emit);
  size_t count = 0;
  Rank parts[PieceRing::kMaxBytes];
  merge_all([&](Rank r) { parts[count++] = r; });
  caches.merged_pieces.put(h, serial_, piece, n, parts, count);
  for (size_t i = 0; i < count; ++i) emit(parts[i]);
}

template <class Emit>
void Encoding::merge(ThreadCaches& caches, const uint8_t* piece, size_t n, uint64_t h, Emit&& emit) const {
  through_ring(caches, piece, n, h, [&](auto&& out) { merge_bytes(caches, piece, n, out); }, emit);
}

// Merges the bytes of one pre-token, lowest rank first and leftmost on ties
// (tiktoken's rule), and emits the ranks of the final parts. Every part is a
// token, so its rank is kept and a pair is known by its two ranks (the pair
// cache). Pieces of up to kSmallParts bytes are rescanned per merge (fast
// for words and clauses); longer ones use a heap over a linked list, so that hostile input (a
// megabyte of one letter is one piece) costs O(n log n) rather than O(n^2).
template <class Emit>
void Encoding::merge_bytes(ThreadCaches& caches, const uint8_t* piece, size_t n, Emit&& emit_part) const {
  // The rank of the bytes [a, b), which join parts ranked `left` and `right`:
  // two bytes by the pair table, longer ones through the pair cache.
  auto joined = [&](Rank left, Rank right, size_t a, size_t b) {
    if (b - a == 2) return pair_rank_[piece[a] << 8 | piece[a + 1]];
    return pair_rank(caches, left, right, piece + a, b - a);
  };
  // A part left without a rank is a single byte the vocabulary lacks (only
  // possible with a loaded rank file): the text cannot be encoded.
  auto emit = [&](Rank r, size_t at) {
    if (r == kNoRank) throw unencodable(piece[at]);
    emit_part(r);
  };
  // A rank is its own priority. Up to 64 bytes (words) inline; up to
  // kSmallParts (clauses of text without spaces) in a call of its own, so
  // that the common case's code stays as compact as it was.
  auto small = [&](auto cap) __attribute__((always_inline)) {
    Rank part[decltype(cap)::value];
    uint8_t after[decltype(cap)::value];
    for (size_t i = 0; i < n; ++i) part[i] = byte_id_[piece[i]];
    join_small<decltype(cap)::value, true>(
        n, part, after,
        [&](size_t i) {
          const Rank r = pair_rank_[piece[i] << 8 | piece[i + 1]];
          return Join{r, r};
        },
        [&](Rank left, Rank right, size_t a, size_t b) {
          const Rank r = joined(left, right, a, b);
          return Join{r, r};
        });
    for (size_t i = 0; i < n; i = after[i]) emit(part[i], i);
  };
  if (n <= 64) return small(std::integral_constant<size_t, 64>());
  if (n <= kSmallParts) return [&]() __attribute__((noinline)) { small(std::integral_constant<size_t, kSmallParts>()); }();
  // Long pieces: parts are [i, end[i]) over the bytes, ranked part[i].
  std::vector<size_t> next(n), end(n);
  std::vector<Rank> part(n);
  for (size_t i = 0; i < n; ++i) end[i] = i + 1, part[i] = byte_id_[piece[i]];
  join_lowest_pairs(
      n, next, [&](size_t l, size_t r) { return joined(part[l], part[r], l, end[r]); },
      [&](size_t l, size_t r) { part[l] = joined(part[l], part[r], l, end[r]), end[l] = end[r]; });
  for (size_t i = 0; i < n; i = next[i]) emit(part[i], i);
}

// Hugging Face's BPE model: the pieces' bytes (or characters) start as
// symbols, and the adjacent pair listed first among the merges joins first
// (leftmost on ties), as tokenizers' Word::merge_all. A symbol that no merge
// names (a newline or a digit in Llama-2, a byte-fallback token) never
// joins, and neither do two symbols no merge joins across (find_crossings),
// so the runs between such places merge on their own: a text with no
// pre-tokenizer, one piece, is merged word by word rather than as a whole.
// Runs of up to kSmallParts symbols are rescanned per merge, longer ones use
// a heap over a linked list.
template <class Emit>
void Encoding::merge_listed(ThreadCaches& caches, const uint8_t* piece, size_t n, uint64_t h, Emit&& emit) const {
  through_ring(caches, piece, n, h, [&](auto&& out) { merge_listed_piece(caches, piece, n, out); }, emit);
}

template <class Emit>
void Encoding::merge_listed_piece(ThreadCaches& caches, const uint8_t* piece, size_t n, Emit&& emit) const {
  std::vector<Rank>& id = caches.symbols;
  // Where each symbol's bytes start, for the runs of a piece too long for the
  // piece caches (below).
  const bool cache_runs = n > ThreadCaches::kLongBytes;
  std::vector<uint32_t>& start = caches.symbol_starts;
  id.clear();
  start.clear();
  // The symbols, with their starts or without (a loop of each: a test a
  // symbol cost 3 % of Llama-3's encode).
  auto symbols = [&](auto with_starts) {
    auto push = [&](Rank r, size_t at) {
      id.push_back(r);
      if constexpr (decltype(with_starts)::value) start.push_back(static_cast<uint32_t>(at));
    };
    // A symbol the vocabulary lacks becomes the unknown token, or is dropped
    // when there is none (tokenizers' BPE does the same).
    auto unknown = [&](size_t at) {
      if (unk_id_ != kNoRank && !(fuse_unk_ && !id.empty() && id.back() == unk_id_)) push(unk_id_, at);
    };
    if (!char_symbols_) {
      for (size_t i = 0; i < n; ++i) {
        if (byte_id_[piece[i]] == kNoRank) unknown(i);
        else push(byte_id_[piece[i]], i);
      }
      return;
    }
    for (size_t i = 0; i < n;) {
      size_t len;
      const uint32_t cp = decode_utf8(piece, n, i, len);
      const Rank r = len == 1 ? byte_id_[piece[i]]
                     : len < 4 ? char_id_[cp]
                               : rank_of(std::string_view(reinterpret_cast<const char*>(piece + i), len));
      if (r != kNoRank) {
        push(r, i);
      } else if (byte_fallback_) {
        for (size_t k = 0; k < len; ++k) push(fallback_id_[piece[i + k]], i + k);
      } else {
        unknown(i);
      }
      i += len;
    }
  };
  if (cache_runs) symbols(std::true_type());
  else symbols(std::false_type());
  auto joined = [&](Rank left, Rank right) {
    const uint64_t parts = uint64_t(left) << 32 | right;
    ThreadCaches::Listed& e = caches.listed[pair_slot(parts ^ serial_, 64 - ThreadCaches::kListedBits)];
    if (e.parts != parts || e.serial != serial_) {
      const MergeSlot* m = find_merge(left, right);
      e = m ? ThreadCaches::Listed{parts, serial_, m->priority, m->result} : ThreadCaches::Listed{parts, serial_, kNoRank, kNoRank};
    }
    return Join{e.priority, e.result};
  };
  auto merge_symbols = [&](size_t from, size_t to, auto&& out) {
    const size_t run = to - from;
    Rank* part = id.data() + from;
    if (run == 1) {
      out(part[0]);
    } else if (run <= kSmallParts) {
      // As in merge: up to 64 inline, longer runs in a call of their own.
      auto small = [&](auto cap) __attribute__((always_inline)) {
        uint8_t after[decltype(cap)::value];
        join_small<decltype(cap)::value, false>(
            run, part, after, [&](size_t i) { return joined(part[i], part[i + 1]); },
            [&](Rank l, Rank r, size_t, size_t) { return joined(l, r); });
        for (size_t i = 0; i < run; i = after[i]) out(part[i]);
      };
      if (run <= 64) small(std::integral_constant<size_t, 64>());
      else [&]() __attribute__((noinline)) { small(std::integral_constant<size_t, kSmallParts>()); }();
    } else {
      std::vector<size_t> next(run);
      join_lowest_pairs(
          run, next, [&](size_t l, size_t r) { return joined(part[l], part[r]).priority; },
          [&](size_t l, size_t r) { part[l] = joined(part[l], part[r]).id; });
      for (size_t i = 0; i < run; i = next[i]) out(part[i]);
    }
  };
  // A run's tokens follow from its bytes, up to the next run's first symbol
  // (characters dropped or fused into an unknown token included): its first
  // symbol is one a character made, and each later one depends on the bytes
  // and the symbol before. In a piece too long for the piece caches (a text
  // with no pre-tokenizer is one piece), runs go through those caches
  // themselves: Llama-2 on English, 82 % of them found there. Under a serial
  // of their own: with ignore_merges a whole pre-token of the same bytes may
  // encode otherwise.
  auto merge_run = [&](size_t from, size_t to) {
    if (!cache_runs || to - from == 1) return merge_symbols(from, to, emit);
    const size_t a = start[from], b = to < start.size() ? start[to] : n;
    if (b - a > ThreadCaches::kLongBytes) return merge_symbols(from, to, emit);
    const uint64_t head = load_head_padded(piece + a, b - a);
    cached_tokens(caches, piece + a, b - a, head, hash_bytes(piece + a, b - a, head), serial_ | kRunSerial, [&](Rank* parts) {
      size_t count = 0;
      merge_symbols(from, to, [&](Rank r) { parts[count++] = r; });
      return count;
    }, emit);
  };
  // Runs between symbols no merge names; those over 64 symbols (a text with
  // no pre-tokenizer) cut further where no merge joins across, into words
  // the run caches can hold.
  for (size_t from = 0; from < id.size();) {
    size_t to = from + 1;
    if (merging_[id[from]])
      while (to < id.size() && merging_[id[to]]) ++to;
    if (to - from <= 64 || crossings_.empty()) {
      merge_run(from, to);
    } else {
      for (size_t a = from, b; a < to; a = b) {
        for (b = a + 1; b < to && may_cross(id[b - 1], id[b]);) ++b;
        merge_run(a, b);
      }
    }
    from = to;
  }
  if (id.capacity() > (size_t(1) << 16)) std::vector<Rank>().swap(id), std::vector<uint32_t>().swap(start);  // a whole text's: not kept
}

// One pre-token under the encoding's merge rule.
template <bool kListed, class Emit>
[[gnu::always_inline]] inline void Encoding::encode_piece(ThreadCaches& caches, const uint8_t* piece, size_t n, uint64_t known_hash, Emit&& emit) const {
  const uint64_t head = load_head_padded(piece, n);
  const uint64_t h = known_hash ? known_hash : hash_bytes(piece, n, head);
  // The piece's tokens without the fixed caches: from the ring of merged
  // pieces, else the whole piece if it is a token (for listed merges only
  // with ignore_merges), else its merged parts. The ring comes before the
  // rank table: a whole token is never kept there, and on text whose
  // pieces overflow the fixed caches (all 532 UDHR declarations: 53,000 a
  // pass, nearly all kept) each lookup in the table was one for nothing.
  auto uncached = [&](auto&& out) {
    if (n <= PieceRing::kMaxBytes) {
      caches.merged_pieces.prefetch(h, serial_);  // both lines at once, not one after the other
      size_t count = 0;
      if (caches.merged_pieces.may_hold(h, serial_))
        if (const Rank* kept = caches.merged_pieces.find(h, serial_, piece, n, count)) {
          for (size_t i = 0; i < count; ++i) out(kept[i]);
          return;
        }
    }
    if (!kListed || ignore_merges_) {
      const Rank whole = find_slot(piece, n, h, head)->rank;
      if (whole != kNoRank) return out(whole);
    }
    if constexpr (kListed) merge_listed(caches, piece, n, h, out);
    else merge(caches, piece, n, h, out);
  };
  if (n > ThreadCaches::kLongBytes) return uncached(emit);
  cached_tokens(caches, piece, n, head, h, serial_, [&](Rank* parts) {  // at most n of them
    size_t count = 0;
    uncached([&](Rank r) { parts[count++] = r; });
    return count;
  }, emit);
}

// The tokens of n <= kLongBytes bytes (followed by 8 readable bytes; head
// and h their load_head_padded and hash) from the piece caches, else from
// tokens_of(parts) and kept there, as entries of `serial`.
template <class TokensOf, class Emit>
[[gnu::always_inline]] inline void Encoding::cached_tokens(ThreadCaches& caches, const uint8_t* bytes, size_t n, uint64_t head, uint64_t h,
                                                          uint32_t serial, TokensOf&& tokens_of, Emit&& emit) const {
  const uint64_t at = (h ^ serial) * 0x9E3779B97F4A7C15ull;  // the caches' index bits (top)
  if (n > 8) {
    uint64_t words[4] = {head, load_head_padded(bytes + 8, n - 8), 0, 0};
    ThreadCaches::Mid* mid = nullptr;
    if (n <= ThreadCaches::kMidBytes) {
      // Two ways in one cache line, the one used last first.
      ThreadCaches::Mid* set = caches.mids + ((at >> (64 - ThreadCaches::kMidBits)) & ~uint64_t(1));
      for (int way = 0; way < 2; ++way) {
        const ThreadCaches::Mid& e = set[way];
        if (e.serial == serial && e.tokens[0] >> 24 == n && ((e.bytes[0] ^ words[0]) | (e.bytes[1] ^ words[1])) == 0) {
          const uint32_t count = e.tokens[1] >> 24;
          if (count <= 3) {
            emit(e.tokens[0] & 0xFFFFFF);
            if (count > 1) emit(e.tokens[1] & 0xFFFFFF);
            if (count > 2) emit(e.tokens[2]);
          } else {
            emit(e.tokens[0] & 0xFFFFF), emit(e.tokens[1] & 0xFFFFF), emit(e.tokens[2] & 0xFFFFF);
            emit((e.tokens[0] >> 20 & 15) | (e.tokens[1] >> 20 & 15) << 4 | (e.tokens[2] >> 20) << 8);
          }
          if (way) std::swap(set[0], set[1]);
          return;
        }
      }
      mid = set;
    }
    ThreadCaches::Long& e = caches.longs[at >> (64 - ThreadCaches::kLongBits)];
    if (n > 16) words[2] = load_head_padded(bytes + 16, n - 16);
    if (n > 24) words[3] = load_head_padded(bytes + 24, n - 24);
    if (e.serial == serial && e.length == n &&
        ((e.bytes[0] ^ words[0]) | (e.bytes[1] ^ words[1]) | (e.bytes[2] ^ words[2]) | (e.bytes[3] ^ words[3])) == 0) {
      for (size_t i = 0; i < e.count; ++i)
        emit(Rank(e.ids[3 * i]) | Rank(e.ids[3 * i + 1]) << 8 | Rank(e.ids[3 * i + 2]) << 16);
      return;
    }
    Rank parts[ThreadCaches::kLongBytes];
    const size_t count = tokens_of(parts);
    const bool four = count == 4 && (parts[0] | parts[1] | parts[2] | parts[3]) < (1u << 20);
    if (mid && (count - 1 < 3 || four)) {  // 1 to 4: first way, the old first moves to the second
      mid[1] = mid[0];
      mid->bytes[0] = words[0], mid->bytes[1] = words[1];
      const Rank last = four ? parts[3] : 0;
      mid->tokens[0] = parts[0] | (last & 15) << 20 | uint32_t(n) << 24;
      mid->tokens[1] = (count > 1 ? parts[1] : 0) | (last >> 4 & 15) << 20 | uint32_t(count) << 24;
      mid->tokens[2] = (count > 2 ? parts[2] : 0) | (last >> 8) << 20;
      mid->serial = serial;
    } else if (count <= ThreadCaches::kLongTokens) {
      std::memcpy(e.bytes, words, sizeof words);
      // i < kLongTokens again: with the sanitizers at -O3, GCC loses the
      // bound above and warns of writes past ids.
      for (size_t i = 0; i < count && i < ThreadCaches::kLongTokens; ++i)
        e.ids[3 * i] = uint8_t(parts[i]), e.ids[3 * i + 1] = uint8_t(parts[i] >> 8), e.ids[3 * i + 2] = uint8_t(parts[i] >> 16);
      e.serial = serial, e.length = uint8_t(n), e.count = uint8_t(count);
    }
    for (size_t i = 0; i < count; ++i) emit(parts[i]);
    return;
  }
  const size_t slot = at >> (64 - ThreadCaches::kPieceBits);
  ThreadCaches::Piece& e = caches.pieces[slot];
  uint32_t* more = caches.more_tokens[slot];
  if (e.serial == serial && e.head == head && (e.first >> 24 & 15) == n) {
    const uint32_t tokens = e.first >> 28;
    emit(e.first & 0xFFFFFF);
    if (tokens > 1) emit(more[0]);
    if (tokens > 2) emit(more[1]);
    return;
  }
  Rank parts[8];
  const size_t count = tokens_of(parts);
  if (count - 1 < 3)  // 1 to 3 (listed merges may drop every symbol of a piece)
    e = {head, serial, uint32_t(count) << 28 | uint32_t(n) << 24 | parts[0]}, more[0] = count > 1 ? parts[1] : 0, more[1] = count > 2 ? parts[2] : 0;
  for (size_t i = 0; i < count; ++i) emit(parts[i]);
}

// Inlined into the merge: most calls hit the cache.
[[gnu::always_inline]] inline Rank Encoding::pair_rank(ThreadCaches& caches, Rank left, Rank right, const uint8_t* bytes, size_t n) const {
  // A part without a rank (a byte outside the vocabulary) does not identify its bytes.
  if (left == kNoRank || right == kNoRank) return rank_of_padded(bytes, n);
  const uint64_t parts = uint64_t(left) << 32 | right;
  ThreadCaches::Pair& e = caches.pairs[pair_slot(parts ^ serial_, 64 - ThreadCaches::kPairBits)];
  if (e.parts == parts && e.serial == serial_) return e.rank;
  const Rank r = rank_of_padded(bytes, n);
  e = {parts, serial_, r};
  return r;
}

Rank Encoding::rank_of_padded(const uint8_t* bytes, size_t n) const {
  const uint64_t head = load_head_padded(bytes, n);
  return find_slot(bytes, n, hash_bytes(bytes, n, head), head)->rank;
}

// Starts loading the piece-cache entry that encode_piece will look up for
// text[a, b), and for a piece with bytes from 0x80 up, what the ring of
// merged pieces will: such pieces miss the fixed caches far more often
// (the ring's lines fetched for every English piece cost ~5 % there).
[[gnu::always_inline]] inline uint64_t Encoding::prefetch_piece(const ThreadCaches& caches, const uint8_t* text, size_t n, size_t a, size_t b) const {
  const size_t len = b - a;
  if (len > ThreadCaches::kLongBytes || b + 8 > n) return 0;  // encode_piece_of's padded copy is not prefetched
  const uint64_t head = load_head_padded(text + a, len), h = hash_bytes(text + a, len, head);
  if (head & 0x8080808080808080ull) caches.merged_pieces.prefetch(h, serial_);
  const uint64_t at = (h ^ serial_) * 0x9E3779B97F4A7C15ull;
  if (len <= 8) __builtin_prefetch(&caches.pieces[at >> (64 - ThreadCaches::kPieceBits)]);
  else if (len <= ThreadCaches::kMidBytes) __builtin_prefetch(caches.mids + ((at >> (64 - ThreadCaches::kMidBits)) & ~uint64_t(1)));
  else __builtin_prefetch(&caches.longs[at >> (64 - ThreadCaches::kLongBits)]);
  return h;
}

// The pre-tokens of the text, each passed to piece(a, b, hash) until it
// returns false (hash: the piece's hash_bytes, or 0 where not computed),
// with the cache entries of the piece kAhead places on prefetched first.
// A piece-cache lookup that misses stalls the encode, and on text no cache
// has seen they miss often: all 532 UDHR declarations spent a quarter of
// their time in those three loads, and run 11-22 % faster natively with
// the prefetch (8-11 % through Node; English 0-10 %).
template <class Piece>
[[gnu::always_inline]] inline void Encoding::for_each_piece(const ThreadCaches& caches, const uint8_t* text, size_t n, Piece&& piece) const {
  constexpr size_t kAhead = 8, kBatch = 256;
  size_t ends[kBatch + 1];
  for (size_t i = 0; i < n;) {
    ends[0] = i;
    const size_t count = next_pieces(kind_, text, n, i, ends + 1, kBatch);
    uint64_t hash[kBatch];  // 0: not computed (encode_piece hashes the piece itself)
    for (size_t k = 0; k < count && k < kAhead; ++k) hash[k] = prefetch_piece(caches, text, n, ends[k], ends[k + 1]);
    for (size_t k = 0; k < count; ++k) {
      if (k + kAhead < count) hash[k + kAhead] = prefetch_piece(caches, text, n, ends[k + kAhead], ends[k + kAhead + 1]);
      if (!piece(ends[k], ends[k + 1], hash[k])) return;
    }
    i = ends[count];
  }
}

// encode_piece reads up to 8 bytes past a piece's end (load_head_padded): a
// piece that ends within 8 bytes of the text's end is encoded from a
// zero-padded copy.
template <bool kListed, class Emit>
[[gnu::always_inline]] inline void Encoding::encode_piece_of(ThreadCaches& caches, const uint8_t* text, size_t n, size_t a, size_t b, uint64_t hash,
                                                            Emit&& emit) const {
  if (__builtin_expect(b + 8 <= n, 1)) return encode_piece<kListed>(caches, text + a, b - a, hash, emit);
  [&]() __attribute__((noinline)) {
    uint8_t small[64 + 8];  // most last pieces: no allocation on short calls
    std::vector<uint8_t> large;
    uint8_t* copy = b - a <= 64 ? small : (large.resize(b - a + 8), large.data());
    std::memcpy(copy, text + a, b - a);
    std::memset(copy + (b - a), 0, 8);
    encode_piece<kListed>(caches, copy, b - a, 0, emit);
  }();
}

// Each rule in a loop of its own, and the loop's calls inlined by force:
// left to GCC's budget for the whole file, the per-piece call and the
// push_back of every id came and went with unrelated edits (+3-9 %
// instructions on English).
template <bool kListed>
void Encoding::encode_ordinary_by(const uint8_t* text, size_t n, std::vector<Rank>& out) const {
  ThreadCaches& caches = thread_caches();
  for_each_piece(caches, text, n, [&](size_t a, size_t b, uint64_t hash) __attribute__((always_inline)) {
    encode_piece_of<kListed>(caches, text, n, a, b, hash, [&](Rank r) __attribute__((flatten, always_inline)) { out.push_back(r); });
    return true;
  });
}

void Encoding::encode_ordinary(const uint8_t* text, size_t n, std::vector<Rank>& out) const {
  if (listed_merges_) encode_ordinary_by<true>(text, n, out);
  else encode_ordinary_by<false>(text, n, out);
}

void Encoding::encode_one_piece(const uint8_t* bytes, size_t n, std::vector<Rank>& out) const {
  if (n == 0) return;
  ThreadCaches& caches = thread_caches();
  auto emit = [&](Rank r) { out.push_back(r); };
  if (listed_merges_) encode_piece_of<true>(caches, bytes, n, 0, n, 0, emit);
  else encode_piece_of<false>(caches, bytes, n, 0, n, 0, emit);
}

template <bool kListed>
size_t Encoding::count_ordinary_by(const uint8_t* text, size_t n, size_t limit) const {
  ThreadCaches& caches = thread_caches();
  size_t count = 0;
  for_each_piece(caches, text, n, [&](size_t a, size_t b, uint64_t hash) {
    encode_piece_of<kListed>(caches, text, n, a, b, hash, [&](Rank) { ++count; });
    return count <= limit;
  });
  return count;
}

size_t Encoding::count_ordinary(const uint8_t* text, size_t n, size_t limit) const {
  return listed_merges_ ? count_ordinary_by<true>(text, n, limit) : count_ordinary_by<false>(text, n, limit);
}

namespace {
[[noreturn]] void bad_token(Rank id) {
  throw range_error("ERR_LLMK_BAD_TOKEN", "token id " + std::to_string(id) + " is not in the vocabulary");
}
}  // namespace

size_t Encoding::decoded_size(const uint32_t* ids, size_t n) const {
  const Span* spans = span_.data();
  const size_t n_spans = span_.size();
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] < n_spans && spans[ids[i]].length != 0) {
      total += spans[ids[i]].length;
      continue;
    }
    std::string_view bytes;
    if (!token_bytes(ids[i], bytes)) bad_token(ids[i]);
    total += bytes.size();
  }
  return total;
}

namespace {
// The UTF-16 units of text[at, at + k) for k = 0..64 (as far as the text
// goes; the rest stay at the last value): in units[k]. A byte counts one
// when it starts a character (is not 10xxxxxx), one more when it is a
// 4-byte lead (1111xxxx); eight bytes at a time by bit tricks, their running
// sums by a multiply.
void unit_prefix(const uint8_t* text, size_t n, size_t at, uint8_t units[72]) {
  uint64_t sum = 0;
  units[0] = 0;
  size_t k = 0;
  for (; k < 64 && at + k + 8 <= n; k += 8) {
    uint64_t w;
    std::memcpy(&w, text + at + k, 8);
    const uint64_t x = (w & 0xC0C0C0C0C0C0C0C0ull) ^ 0x8080808080808080ull;  // zero: 10xxxxxx
    const uint64_t y = (w & 0xF0F0F0F0F0F0F0F0ull) ^ 0xF0F0F0F0F0F0F0F0ull;  // zero: 1111xxxx
    const uint64_t starts = ((x | x << 1) & 0x8080808080808080ull) >> 7;
    const uint64_t lead4 = (~(((y & 0x7F7F7F7F7F7F7F7Full) + 0x7F7F7F7F7F7F7F7Full) | y | 0x7F7F7F7F7F7F7F7Full)) >> 7;
    // byte i of the product: the counts of bytes 0..i (at most 16), plus what came before (at most 112)
    const uint64_t running = (starts + lead4) * 0x0101010101010101ull + sum * 0x0101010101010101ull;
    std::memcpy(units + k + 1, &running, 8);
    sum = running >> 56;
  }
  for (; k < 64; ++k) {
    if (at + k < n) sum += ((text[at + k] & 0xC0) != 0x80) + (text[at + k] >= 0xF0);
    units[k + 1] = static_cast<uint8_t>(sum);
  }
}
}  // namespace

bool Encoding::utf16_offsets(const uint8_t* text, size_t n, const uint32_t* ids, size_t count, uint32_t* out) const {
  // The units before each byte, a block of 64 bytes at a time (a loop over
  // each token's bytes waited on its length: ~2.5 ns a byte).
  uint8_t block[72];  // unit_prefix of text[at_block, at_block + 64)
  unit_prefix(text, n, 0, block);
  size_t at_block = 0, block_units = 0;  // the units of text[0, at_block)
  // Token lengths from decode's table of short tokens, fetched ahead as
  // decode does.
  const Short* shorts = short_.data();
  const size_t n_shorts = short_.size();
  size_t at = 0;
  for (size_t i = 0; i < count; ++i) {
    if (i + 16 < count) __builtin_prefetch(shorts + (ids[i + 16] < n_shorts ? ids[i + 16] : 0));
    while (at - at_block >= 64) {
      block_units += block[64];
      unit_prefix(text, n, at_block += 64, block);
    }
    size_t units = block_units + block[at - at_block];
    if (at < n && (text[at] & 0xC0) == 0x80) {  // inside a character: where its lead starts
      size_t lead = at;
      while (lead > 0 && at - lead < 3 && (text[lead] & 0xC0) == 0x80) --lead;
      if ((text[lead] & 0xC0) != 0x80) units -= text[lead] >= 0xF0 ? 2 : 1;
    }
    out[i] = static_cast<uint32_t>(units);
    const Rank id = ids[i];
    at += id < n_shorts && shorts[id].length - 1u < sizeof(Short::head) ? shorts[id].length : decoded_size(ids + i, 1);
    if (at > n) return false;
  }
  return at == n;
}

void Encoding::decode(const uint32_t* ids, size_t n, std::string& out) const {
  // One pass, into a buffer sized for ~4 bytes a token and grown as needed.
  out.resize(n * 4 + 64);
  size_t at = 0;
  const Short* shorts = short_.data();
  const size_t n_shorts = short_.size();
  // Most tokens are short: a fixed 16-byte copy of the entry (head and
  // length byte), then an advance by the token's length; the buffer keeps
  // 16 bytes of room for the overshoot. Locals, not members, in these
  // loops: stores through a byte pointer may alias anything and would force
  // reloads of the members.
  auto one = [&](Rank id) {
    if (id < n_shorts && shorts[id].length - 1u < sizeof(Short::head)) {
      if (out.size() - at < 16) out.resize(2 * out.size());
      std::memcpy(out.data() + at, &shorts[id], 16);
      at += shorts[id].length;
      return;
    }
    std::string_view bytes;
    if (!decoded_bytes(id, bytes)) bad_token(id);
    if (out.size() - at < bytes.size() + 16) out.resize(2 * out.size() + bytes.size() + 16);
    std::memcpy(out.data() + at, bytes.data(), bytes.size());
    at += bytes.size();
  };
  // Eight tokens at a time: their lengths first, so that where each copy
  // goes is known without waiting on the previous token's entry (a token at
  // a time, each copy waited on a load: ~2.2 ns a token). The table (1.6 MB
  // for cl100k) is larger than the L2 cache: entries are fetched 16 ahead.
  size_t i = 0;
  for (; i + 24 <= n; i += 8) {
    uint32_t length[8];
    bool short_ones = true;
    for (size_t k = 0; k < 8; ++k) {
      const Rank ahead = ids[i + 16 + k], id = ids[i + k];
      __builtin_prefetch(shorts + (ahead < n_shorts ? ahead : 0));
      length[k] = id < n_shorts ? shorts[id].length : 0;
      short_ones &= length[k] - 1u < sizeof(Short::head);
    }
    if (!short_ones || out.size() - at < 8 * 16) {
      for (size_t k = 0; k < 8; ++k) one(ids[i + k]);
      continue;
    }
    for (size_t k = 0; k < 8; ++k) {
      std::memcpy(out.data() + at, &shorts[ids[i + k]], 16);
      at += length[k];
    }
  }
  for (; i < n; ++i) one(ids[i]);
  out.resize(at);
}

}  // namespace llmk::bpe
