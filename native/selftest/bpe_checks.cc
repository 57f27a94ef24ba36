// The encoder's ring of merged pieces and encodeBatch's share-out of texts
// (SlotClaims) against plain models of them; BPE training's word counter
// against a std::unordered_map on the same pieces: enough distinct words
// (short ones through the counter's cache, long ones through its waiting
// line) for the table to grow many times mid-stream.
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "../bpe/piece_ring.h"
#include "../common/slot_claims.h"
#include "../bpe/train.h"
#include "checks.h"

namespace llmk::selftest {

namespace {

// Distinct words, each said 1 to 3 times in a row (so the cache holds
// counts not yet in the table when a new word evicts them), mostly of at most
// 7 letters (through the cache) and some of up to 20 (through the waiting
// line), plus a heavy head of common words; 150,000 distinct words make the
// table grow many times mid-stream.
std::string random_corpus(uint32_t seed, size_t words) {
  std::mt19937 rng(seed);
  std::string text;
  for (size_t i = 0; i < words; ++i) {
    std::string word;
    for (size_t k = 0, length = rng() % 8 == 0 ? 8 + rng() % 13 : 1 + rng() % 7; k < length; ++k) word += static_cast<char>('a' + rng() % 26);
    for (uint32_t r = 0, times = 1 + rng() % 3; r < times; ++r) text += (r == 0 && i % 13 == 0 ? "\n" : " ") + word;
    if (i % 5 == 0) text += i % 2 ? " the" : " of";
  }
  return text;
}

void expect_counts(const bpe::WordCounter& counter, const std::unordered_map<std::string, uint64_t>& want, const char* how) {
  size_t seen = 0;
  counter.counts().for_each([&](std::string_view w, uint64_t c) {
    auto it = want.find(std::string(w));
    expect(it != want.end() && it->second == c, std::string(how) + ": wrong count for \"" + std::string(w) + "\"");
    ++seen;
  });
  expect(seen == want.size(), std::string(how) + ": wrong number of distinct words");
}

// A ring of merged pieces against a map of what was put last: a piece it
// returns has the tokens last put for it under that serial, the piece just
// put is always found, and nothing else comes back — over many laps of the
// ring, with few distinct pieces so that stale index entries point into
// overwritten records, and (for the small ring) past the wrap of its lap
// counter.
template <class Ring>
void check_piece_ring(const char* name, int pieces_count, int ops, size_t want_found) {
  std::mt19937 rng(11);
  Ring ring;
  std::vector<std::string> pieces;  // distinct
  std::set<std::string> seen;
  while (pieces.size() < size_t(pieces_count)) {
    std::string p(1 + rng() % Ring::kMaxBytes, '\0');
    for (char& c : p) c = static_cast<char>('a' + rng() % 3);
    if (seen.insert(p).second) pieces.push_back(p);
  }
  std::map<std::pair<uint32_t, size_t>, std::vector<uint32_t>> last;
  auto hash = [](const std::string& p) { return std::hash<std::string>()(p) & 0xFFFFFFFFFFull; };  // collisions in the index, too
  size_t found = 0;
  for (int op = 0; op < ops; ++op) {
    const size_t which = rng() % pieces.size();
    const std::string& p = pieces[which];
    const uint32_t serial = 1 + rng() % 2;
    const auto* bytes = reinterpret_cast<const uint8_t*>(p.data());
    if (rng() % 2) {
      std::vector<uint32_t> tokens(rng() % (p.size() + 1));
      for (auto& t : tokens) t = rng();
      ring.put(hash(p), serial, bytes, p.size(), tokens.data(), tokens.size());
      last[{serial, which}] = tokens;
      size_t count = 0;
      const uint32_t* got = ring.find(hash(p), serial, bytes, p.size(), count);
      expect(got && std::vector<uint32_t>(got, got + count) == tokens, std::string(name) + " lost the piece just put");
    } else {
      size_t count = 0;
      const uint32_t* got = ring.find(hash(p), serial, bytes, p.size(), count);
      if (!got) continue;
      ++found;
      auto it = last.find({serial, which});
      expect(it != last.end() && std::vector<uint32_t>(got, got + count) == it->second, std::string(name) + " returned tokens not last put for the piece");
    }
  }
  expect(found > want_found, std::string(name) + " kept almost nothing");
}

// met_before: false at a piece's first meeting, true after, for each serial.
void check_met_before() {
  bpe::PieceRing ring;
  for (uint64_t h = 1; h <= 1000; ++h) {
    const uint64_t mixed = h * 0x2545F4914F6CDD1Dull;
    const bool first = ring.met_before(mixed, 1);
    expect(ring.met_before(mixed, 1), "met_before forgot a piece just met");
    if (h <= 8) expect(!first, "met_before says a piece was met before its first meeting");  // with 8 bits set of 2^20: no false positive expected
  }
}

// SlotClaims (encodeBatch's share-out): alone, a slot takes its own items in
// order, then the rest from the back; on threads racing for them, every item
// goes out exactly once.
void check_slot_claims() {
  for (size_t n : {0, 1, 2, 7, 64}) {
    for (size_t slots : {1, 2, 3}) {
      SlotClaims claims(n, slots);
      std::vector<size_t> order;
      for (size_t step = 0, i; claims.next(1 % slots, step, i);) order.push_back(i);
      std::vector<size_t> want;
      for (size_t i = 1 % slots; i < n; i += slots) want.push_back(i);
      for (size_t i = n; i-- > 0;)
        if (i % slots != 1 % slots) want.push_back(i);
      expect(order == want, "SlotClaims: a lone slot's order is wrong");
    }
  }
  for (int round = 0; round < 20; ++round) {
    // Slots of very unequal speed: the fast ones finish their own items early and race
    // each other, and the slow one, from the back.
    const size_t n = 20000, slots = 4;
    SlotClaims claims(n, slots);
    std::vector<std::atomic<int>> got(n);
    std::vector<std::thread> threads;
    for (size_t s = 0; s < slots; ++s)
      threads.emplace_back([&, s] {
        for (size_t step = 0, i; claims.next(s, step, i);) {
          got[i].fetch_add(1);
          if (s == 0 && i % 64 == 0) std::this_thread::yield();
        }
      });
    for (auto& t : threads) t.join();
    for (auto& g : got) expect(g.load() == 1, "SlotClaims handed an item out other than exactly once");
  }
}

}  // namespace

void check_bpe(Context&) {
  check_slot_claims();
  // 1024 words, laps counted in 3 bits: the lap counter wraps every ~6 laps.
  check_piece_ring<bpe::BasicPieceRing<2, 10, 3>>("a small piece ring", 60, 200000, 1000);
  check_piece_ring<bpe::PieceRing>("the piece ring", 3000, 200000, 1000);
  check_met_before();
  const std::string text = random_corpus(7, 150000);
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  std::unordered_map<std::string, uint64_t> want;
  bpe::split(bpe::Pattern::Gpt2, s, text.size(), [&](size_t b, size_t e) { ++want[text.substr(b, e - b)]; });

  bpe::WordCounter whole(bpe::Pattern::Gpt2);
  whole.add_text(s, text.size());
  expect_counts(whole, want, "add_text");

  // Line by line (the same pieces: every line starts at a separator), and in two halves absorbed.
  bpe::WordCounter lines(bpe::Pattern::Gpt2), second(bpe::Pattern::Gpt2);
  const size_t half = text.find('\n', text.size() / 2);
  lines.add_lines(s, half);
  second.add_lines(s + half, text.size() - half);
  lines.absorb(std::move(second));
  expect_counts(lines, want, "add_lines + absorb");
}

}  // namespace llmk::selftest
