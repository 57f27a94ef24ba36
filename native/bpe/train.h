// BPE training, exactly as Hugging Face's BpeTrainer (tokenizers/src/models/
// bpe/trainer.rs) over a ByteLevel pre-tokenizer: pre-tokens are counted,
// the initial symbols are the bytes seen (or all 256) in the code-point order
// of their ByteLevel characters, and merges are taken by count, ties to the
// smallest (left id, right id), a merged string that already exists keeping
// its id. The bookkeeping (a max-heap of candidate merges holding the words
// each was counted in, refreshed lazily) follows the reference step for step
// so that even its corner cases give the same merges.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "pretokenize.h"

namespace llmk::bpe {

// Distinct byte strings and their counts: open addressing over an arena of
// the strings (a std::unordered_map<std::string, ...> spends most of the
// counting time allocating and hashing).
class StringCounts {
 public:
  StringCounts() : table_(1024), hot_(kHot) {}
  // Counts s, perhaps only at the next settle() (its table slot is fetched
  // meanwhile), so s must stay valid until then.
  void add(std::string_view s, uint64_t count);
  void settle();
  size_t size() const { return used_; }
  size_t total_bytes() const { return arena_.size(); }  // of the distinct strings
  // present[b] set for every byte b that occurs in some string.
  void bytes_present(bool present[256]) const {
    for (unsigned char c : arena_) present[c] = true;
  }
  bool empty() const { return used_ == 0; }
  // Adds the counts of `other` (left as it is).
  void absorb(const StringCounts& other);
  template <class F>
  void for_each(F&& f) const {
    flush();
    for (const Entry& e : table_)
      if (e.count) f(std::string_view(arena_.data() + e.offset, e.length), e.count);
  }

 private:
  struct Entry {
    uint64_t hash = 0;
    uint64_t count = 0;  // 0: empty slot
    uint64_t head = 0;   // the first 8 bytes, zero-padded: most words compare without the arena
    uint32_t offset = 0, length = 0;
  };
  // Words of at most 8 bytes (exactly identified by their length and bytes)
  // are counted first in a small direct-mapped cache that stays in L1: the
  // frequent ones then rarely touch the table, whose lookups miss the caches.
  struct Hot {
    uint64_t head = 0;
    uint64_t pending = 0;  // counted here, not yet in the table
    uint32_t length = 0;   // 0: empty
    uint32_t slot = 0;     // the word's table slot
  };
  static constexpr size_t kHot = 4096;
  // Strings that miss the cache wait here a few adds, their slots fetched,
  // so that the table's cache misses overlap.
  struct Waiting {
    std::string_view s;
    uint64_t hash, count;
  };
  static constexpr size_t kAhead = 8;
  Waiting waiting_[kAhead];
  size_t n_waiting_ = 0, next_waiting_ = 0;  // a ring: next_waiting_ is the oldest
  size_t insert(std::string_view s, uint64_t hash, uint64_t count);  // returns the word's slot
  static uint64_t hash_of(std::string_view s);
  void count_waiting(const Waiting& w);
  static uint64_t head_of(std::string_view s) {  // s of at most 8 bytes, zero-padded
    uint64_t head = 0;
    std::memcpy(&head, s.data(), s.size());
    return head;
  }
  Hot& hot_of(std::string_view s) { return hot_[((head_of(s) ^ s.size()) * 0x9E3779B97F4A7C15ull) >> (64 - 12)]; }
  void grow();
  void flush() const;
  mutable std::vector<Entry> table_;
  mutable std::vector<Hot> hot_;
  std::string arena_;
  size_t used_ = 0;
};

// Pre-token counts of a corpus. Each added text is one sequence.
class WordCounter {
 public:
  explicit WordCounter(Pattern pattern) : pattern_(pattern) {}
  void add_text(const uint8_t* s, size_t n);
  // Each line, its '\n' included, as one sequence (tokenizers' train(files)).
  void add_lines(const uint8_t* s, size_t n);
  // The bytes as one word, with no pre-tokenizer (Binary BPE's chunks).
  void add_whole(const uint8_t* s, size_t n);
  void absorb(WordCounter&& other);
  const StringCounts& counts() const { return counts_; }
  Pattern pattern() const { return pattern_; }

 private:
  void add_pieces(const uint8_t* s, size_t n);  // counted by the next settle()
  Pattern pattern_;
  StringCounts counts_;
};

struct TrainOptions {
  uint32_t vocab_size = 30000;     // specials included
  uint64_t min_frequency = 0;
  bool initial_alphabet = true;    // all 256 byte symbols from the start
  // Special tokens take ids 0..k-1. Those whose text is made of ByteLevel
  // characters are given here as bytes: a merge producing one reuses its id.
  std::vector<std::string> specials_as_bytes;
  uint32_t special_count = 0;
  // Initial symbols in byte order rather than ByteLevel code-point order (raw-bytes training).
  bool byte_order = false;
  // No token longer than this many bytes (0: no limit).
  uint32_t max_token_bytes = 0;
  // SuperBPE: the vocabulary size where stage 2 starts.
  uint32_t transition = 0;
};

struct TrainResult {
  std::vector<std::string> tokens;                 // bytes of ids special_count, special_count + 1, ...
  std::vector<std::array<uint32_t, 3>> merges;     // (left id, right id, merged id), in order
};

struct TrainProgress {
  std::atomic<uint64_t> done{0}, total{0};
};

// The ByteLevel character of each byte, as a code point (GPT-2's bytes_to_unicode).
uint32_t byte_level_code_point(uint8_t b);

// With `superwords` (the same corpus counted with Pattern::Superword), SuperBPE
// (arXiv 2503.13423): plain BPE up to options.transition tokens, then the
// superword pieces, encoded with those merges, are merged on across spaces,
// never into a token holding ": " or more than 4 words.
TrainResult train(const WordCounter& words, const TrainOptions& options, TrainProgress* progress,
                  const std::atomic<bool>* cancel, const WordCounter* superwords = nullptr);

}  // namespace llmk::bpe
