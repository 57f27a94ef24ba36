// Recent long pre-tokens and their tokens, for one thread: records of
// (serial, bytes, tokens) written one after another into a ring, found
// through a direct-mapped index by hash. A record stays until the ring's
// head comes round to it again; an index slot whose record the head has
// passed, or that another piece took over, is a miss. Lookups are exact
// (the bytes are compared).
//
// Why: a pre-token of more than 32 bytes (a clause of a script written
// without spaces, a long compound) misses the fixed-size piece caches and
// costs a merge with a scan of every part per join; on the 532 UDHR
// declarations they are 11 % of the bytes with o200k. They are rare in
// most text, so the ring's 560 KiB are allocated at the first one.
//
//   PieceRing ring;
//   ring.put(h, serial, bytes, n, tokens, count);
//   size_t got;
//   if (const uint32_t* t = ring.find(h, serial, bytes, n, got)) { ... t[0..got) ... }
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace llmk::bpe {

class PieceRing {
 public:
  static constexpr size_t kMaxBytes = 256;  // longer pieces (hostile runs) are not kept

  // The tokens of the piece (n <= kMaxBytes bytes, hash h) kept under
  // `serial`, and their count in `count`; null when the ring does not hold it.
  const uint32_t* find(uint64_t h, uint32_t serial, const uint8_t* bytes, size_t n, size_t& count) const {
    if (index_.empty()) return nullptr;
    const uint64_t key = mix(h, serial);
    const Slot& s = index_[key >> (64 - kIndexBits)];
    if (s.check != static_cast<uint32_t>(key) || !intact(s)) return nullptr;
    const uint32_t* r = arena_.data() + s.at;
    if (r[0] != serial || (r[1] & 0xFFFF) != n || std::memcmp(r + 2, bytes, n) != 0) return nullptr;
    count = r[1] >> 16;
    return r + 2 + words(n);
  }

  // Keeps the piece's `count` tokens (count <= n), overwriting the oldest records.
  void put(uint64_t h, uint32_t serial, const uint8_t* bytes, size_t n, const uint32_t* tokens, size_t count) {
    if (index_.empty()) index_.resize(size_t(1) << kIndexBits), arena_.resize(kArenaWords);
    const size_t size = 2 + words(n) + count;
    if (head_ + size > kArenaWords) head_ = 0, ++lap_;
    uint32_t* r = arena_.data() + head_;
    r[0] = serial;
    r[1] = static_cast<uint32_t>(n | count << 16);
    std::memcpy(r + 2, bytes, n);
    if (count) std::memcpy(r + 2 + words(n), tokens, count * sizeof(uint32_t));  // tokens may be null then
    const uint64_t key = mix(h, serial);
    index_[key >> (64 - kIndexBits)] = Slot{static_cast<uint32_t>(key), static_cast<uint32_t>(head_), lap_};
    head_ += size;
  }

 private:
  static constexpr unsigned kIndexBits = 12;
  static constexpr size_t kArenaWords = size_t(1) << 17;  // 512 KiB: all 532 declarations' long pieces with o200k need ~370
  struct Slot {
    uint32_t check, at, lap;  // lap 0: empty (laps start at 2, so lap + 1 never matches it either)
  };
  static size_t words(size_t n) { return (n + 3) / 4; }
  static uint64_t mix(uint64_t h, uint32_t serial) { return (h ^ serial) * 0x9E3779B97F4A7C15ull; }
  // Written in this lap, or in the last one at or past the head (not yet overwritten).
  bool intact(const Slot& s) const { return s.lap == lap_ || (s.lap + 1 == lap_ && s.at >= head_); }

  std::vector<Slot> index_;
  std::vector<uint32_t> arena_;
  size_t head_ = 0;
  uint32_t lap_ = 2;
};

}  // namespace llmk::bpe
