#include "merge_batch.h"

#include <algorithm>
#include <unordered_map>

#include "../common/error.h"
#include "unicode.h"

namespace llmk::bpe {

bool within_boundary(std::string_view text, Boundary boundary, Pattern pattern) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const size_t n = text.size();
  if (n == 0) return false;
  if (boundary == Boundary::Pretoken) return next_piece(pattern, s, n, 0) == n;
  bool seen_text = false, all_space = true;
  int newlines = 0;
  for (size_t i = 0; i < n;) {
    size_t len;
    const uint32_t cp = decode_utf8(s, n, i, len);
    const bool space = cp != kInvalid && (char_class(cp) & kIsSpace);
    if (cp == '\n') ++newlines;
    if (space && seen_text) return false;  // whitespace inside or after a word
    if (!space) seen_text = true, all_space = false;
    i += len;
  }
  return all_space ? newlines < 2 : newlines == 0;
}

namespace {

struct PairStat {
  uint64_t count = 0;
  uint64_t first = 0;  // scan position of the first occurrence
};

inline uint64_t key(uint32_t a, uint32_t b) { return static_cast<uint64_t>(a) << 32 | b; }

}  // namespace

std::vector<BatchToken> merge_batch(std::vector<std::vector<uint32_t>>& seqs, size_t max_merges, Boundary boundary,
                                    Pattern pattern, uint32_t first_new_id,
                                    const std::function<bool(uint32_t, std::string_view&)>& bytes_of) {
  std::vector<BatchToken> made;
  auto text_of = [&](uint32_t id) -> std::string_view {
    if (id >= first_new_id && id - first_new_id < made.size()) return made[id - first_new_id].bytes;
    std::string_view b;
    if (!bytes_of(id, b)) throw range_error("ERR_LLMK_BAD_TOKEN", "token id " + std::to_string(id) + " is not in the vocabulary");
    return b;
  };
  for (const auto& s : seqs)
    for (uint32_t id : s) text_of(id);  // every id must be known before anything changes
  std::unordered_map<uint64_t, PairStat> stats;
  std::vector<std::pair<uint64_t, PairStat>> ranked;
  while (made.size() < max_merges) {
    if (first_new_id + made.size() == UINT32_MAX) break;
    stats.clear();
    uint64_t pos = 0;
    for (const auto& s : seqs)
      for (size_t i = 0; i + 1 < s.size(); ++i, ++pos) {
        PairStat& st = stats[key(s[i], s[i + 1])];
        if (st.count++ == 0) st.first = pos;
      }
    ranked.clear();
    for (const auto& kv : stats)
      if (kv.second.count >= 2) ranked.push_back(kv);
    std::sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) {
      return x.second.count != y.second.count ? x.second.count > y.second.count : x.second.first < y.second.first;
    });
    const std::pair<uint64_t, PairStat>* chosen = nullptr;
    std::string merged;
    for (const auto& cand : ranked) {
      const uint32_t a = static_cast<uint32_t>(cand.first >> 32), b = static_cast<uint32_t>(cand.first);
      merged.assign(text_of(a));
      merged.append(text_of(b));
      if (within_boundary(merged, boundary, pattern)) {
        chosen = &cand;
        break;
      }
    }
    if (!chosen) break;
    const uint32_t a = static_cast<uint32_t>(chosen->first >> 32), b = static_cast<uint32_t>(chosen->first);
    const uint32_t id = first_new_id + static_cast<uint32_t>(made.size());
    made.push_back({a, b, merged});
    for (auto& s : seqs) {
      size_t out = 0;
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          s[out++] = id;
          i += 2;
        } else {
          s[out++] = s[i++];
        }
      }
      s.resize(out);
    }
  }
  return made;
}

}  // namespace llmk::bpe
