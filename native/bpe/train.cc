#include "train.h"

#include <algorithm>
#include <queue>

#include "../common/error.h"

namespace llmk::bpe {

void WordCounter::add_text(const uint8_t* s, size_t n) {
  split(pattern_, s, n, [&](size_t b, size_t e) { ++counts_[std::string(reinterpret_cast<const char*>(s + b), e - b)]; });
}

void WordCounter::add_lines(const uint8_t* s, size_t n) {
  size_t start = 0;
  for (size_t i = 0; i < n; ++i)
    if (s[i] == '\n') {
      add_text(s + start, i + 1 - start);
      start = i + 1;
    }
  if (start < n) add_text(s + start, n - start);
}

void WordCounter::absorb(WordCounter&& other) {
  if (counts_.empty()) {
    counts_ = std::move(other.counts_);
    return;
  }
  for (auto& [w, c] : other.counts_) counts_[w] += c;
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
  uint32_t words;  // index into the word-set pool
};

// The reference's order: larger count first, then the smaller pair.
struct Lower {
  bool operator()(const Candidate& a, const Candidate& b) const {
    if (a.count != b.count) return a.count < b.count;
    return a.pair > b.pair;
  }
};

struct Word {
  std::vector<uint32_t> symbols;
  uint64_t count;
};

struct Change {
  Pair pair;
  int32_t delta;
};

// Merges every (a, b) in the word, left to right, as the reference's
// Word::merge: the pair's own count is not decremented, only its neighbours'.
void merge_word(Word& w, uint32_t a, uint32_t b, uint32_t merged, std::vector<Change>& changes) {
  std::vector<uint32_t>& s = w.symbols;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != a || i + 1 >= s.size() || s[i + 1] != b) continue;
    if (i > 0) {
      changes.push_back({make_pair(s[i - 1], a), -1});
      changes.push_back({make_pair(s[i - 1], merged), 1});
    }
    s[i] = merged;
    s.erase(s.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    if (i + 1 < s.size()) {
      changes.push_back({make_pair(b, s[i + 1]), -1});
      changes.push_back({make_pair(merged, s[i + 1]), 1});
    }
  }
}

}  // namespace

TrainResult train(const WordCounter& counter, const TrainOptions& o, TrainProgress* progress,
                  const std::atomic<bool>* cancel) {
  TrainResult out;
  std::unordered_map<std::string, uint32_t> ids;  // token bytes -> id
  for (size_t k = 0; k < o.specials_as_bytes.size(); ++k)
    if (!o.specials_as_bytes[k].empty()) ids.emplace(o.specials_as_bytes[k], static_cast<uint32_t>(k));
  auto next_id = [&] { return o.special_count + static_cast<uint32_t>(out.tokens.size()); };
  auto add_token = [&](std::string bytes) {
    auto [it, fresh] = ids.emplace(bytes, next_id());
    if (fresh) out.tokens.push_back(std::move(bytes));
    return it->second;
  };

  // Initial symbols: the bytes present (or all), in ByteLevel code-point order.
  bool present[256] = {false};
  for (const auto& [w, c] : counter.counts())
    for (unsigned char ch : w) present[ch] = true;
  std::vector<uint8_t> alphabet;
  for (int b = 0; b < 256; ++b)
    if (present[b] || o.initial_alphabet) alphabet.push_back(static_cast<uint8_t>(b));
  std::sort(alphabet.begin(), alphabet.end(),
            [](uint8_t x, uint8_t y) { return byte_level_code_point(x) < byte_level_code_point(y); });
  uint32_t byte_id[256];
  for (uint8_t b : alphabet) byte_id[b] = add_token(std::string(1, static_cast<char>(b)));

  std::vector<Word> words;
  words.reserve(counter.counts().size());
  for (const auto& [w, c] : counter.counts()) {
    Word word{{}, c};
    word.symbols.reserve(w.size());
    for (unsigned char ch : w) word.symbols.push_back(byte_id[ch]);
    words.push_back(std::move(word));
  }

  std::unordered_map<Pair, int64_t> pair_counts;
  std::unordered_map<Pair, std::vector<uint32_t>> where;
  for (uint32_t i = 0; i < words.size(); ++i) {
    const auto& s = words[i].symbols;
    for (size_t k = 0; k + 1 < s.size(); ++k) {
      const Pair p = make_pair(s[k], s[k + 1]);
      pair_counts[p] += static_cast<int64_t>(words[i].count);
      where[p].push_back(i);
    }
  }
  std::vector<std::vector<uint32_t>> pool;  // word sets of candidates
  std::priority_queue<Candidate, std::vector<Candidate>, Lower> queue;
  auto push_sets = [&](std::unordered_map<Pair, std::vector<uint32_t>>& sets) {
    for (auto& [p, ws] : sets) {
      const int64_t count = pair_counts[p];
      if (count <= 0) continue;
      std::sort(ws.begin(), ws.end());
      ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
      pool.push_back(std::move(ws));
      queue.push({static_cast<uint64_t>(count), p, static_cast<uint32_t>(pool.size() - 1)});
    }
    sets.clear();
  };
  push_sets(where);

  const uint64_t initial = o.special_count + out.tokens.size();
  if (progress) progress->total = o.vocab_size > initial ? o.vocab_size - initial : 0;
  std::vector<Change> changes;
  std::unordered_map<Pair, std::vector<uint32_t>> grown;
  while (o.special_count + out.tokens.size() < o.vocab_size && !queue.empty()) {
    if (cancel && cancel->load(std::memory_order_relaxed)) throw Cancelled();
    Candidate top = queue.top();
    queue.pop();
    const uint64_t current = static_cast<uint64_t>(pair_counts[top.pair]);
    if (top.count != current) {
      top.count = current;
      queue.push(top);
      continue;
    }
    if (top.count < 1 || o.min_frequency > top.count) break;
    const uint32_t a = static_cast<uint32_t>(top.pair >> 32), b = static_cast<uint32_t>(top.pair);
    const std::string& left = a < o.special_count ? o.specials_as_bytes[a] : out.tokens[a - o.special_count];
    const std::string& right = b < o.special_count ? o.specials_as_bytes[b] : out.tokens[b - o.special_count];
    const uint32_t merged = add_token(left + right);
    out.merges.push_back({a, b, merged});
    if (progress) progress->done = out.merges.size();
    for (uint32_t wi : pool[top.words]) {
      changes.clear();
      merge_word(words[wi], a, b, merged, changes);
      for (const Change& c : changes) {
        pair_counts[c.pair] += static_cast<int64_t>(c.delta) * static_cast<int64_t>(words[wi].count);
        if (c.delta > 0) grown[c.pair].push_back(wi);
      }
    }
    std::vector<uint32_t>().swap(pool[top.words]);
    push_sets(grown);
  }
  return out;
}

}  // namespace llmk::bpe
