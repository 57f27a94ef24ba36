// A byte-level BPE encoding: ids of byte strings, a pre-tokenizer, special
// tokens, and one of two merge rules:
//  - tiktoken's: the pair whose joined bytes have the lowest id merges first;
//  - Hugging Face's BPE model: the pair listed first in `merges` merges
//    first (ids are then arbitrary), and a whole pre-token found in the
//    vocabulary is only taken as is when `ignore_merges` is set.
// Either way ties go to the leftmost pair.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pretokenize.h"

namespace llmk::bpe {

using Rank = uint32_t;
constexpr Rank kNoRank = 0xFFFFFFFFu;

class Encoding {
 public:
  // Parses the binary form written by scripts/build-encodings.mjs. Throws
  // llmk::Error (ERR_LLMK_BAD_ENCODING) on anything malformed or unsupported.
  static Encoding load(const uint8_t* data, size_t size);

  // Ids of the text with no special-token handling.
  void encode_ordinary(const uint8_t* text, size_t n, std::vector<Rank>& out) const;
  // Number of tokens encode_ordinary would produce; stops as soon as the
  // count passes `limit` (and returns that count, some value > limit).
  size_t count_ordinary(const uint8_t* text, size_t n, size_t limit = SIZE_MAX) const;
  // encode_ordinary and count_ordinary of raw bytes, which may not be UTF-8,
  // with tiktoken's rule for bytes (encode_bytes.cc).
  void encode_bytes(const uint8_t* text, size_t n, std::vector<Rank>& out) const;
  size_t count_bytes(const uint8_t* text, size_t n, size_t limit = SIZE_MAX) const;
  // Ids of the n bytes as one pre-token, whatever the pattern.
  void encode_one_piece(const uint8_t* bytes, size_t n, std::vector<Rank>& out) const;
  // Total bytes of the ids; throws RangeError (ERR_LLMK_BAD_TOKEN) for an unknown id.
  size_t decoded_size(const uint32_t* ids, size_t n) const;
  // What the ids decode to into `out` (replacing its contents), in one pass:
  // their bytes, or what a SentencePiece model's decoders make of them (the
  // data's decoded bytes); throws ERR_LLMK_BAD_TOKEN for an id outside the
  // vocabulary.
  void decode(const uint32_t* ids, size_t n, std::string& out) const;
  // For each of the `count` ids, whose bytes spell the n bytes of UTF-8
  // `text`: the UTF-16 offset in the text where its bytes start (a token
  // that starts inside a character gets that character's offset). False
  // when the ids' bytes do not add up to the text.
  bool utf16_offsets(const uint8_t* text, size_t n, const uint32_t* ids, size_t count, uint32_t* out) const;

  Rank rank_of(std::string_view bytes) const;  // kNoRank when absent
  // The bytes of an ordinary or special token; false for an unknown id.
  bool token_bytes(Rank id, std::string_view& bytes) const;
  size_t vocab_size() const { return vocab_size_; }
  const std::vector<std::pair<std::string, Rank>>& specials() const { return specials_; }
  const std::string& pattern() const { return pattern_; }
  Pattern pattern_family() const { return kind_; }

  struct ThreadCaches;
  // While a lease lives, this thread encodes with a set of caches borrowed
  // from a process-wide stock instead of its own: the set last returned by
  // a lease of the same `slot`, else the one returned most recently. A batch
  // holds one per slot of its work (native/common/slot_claims.h), so it
  // starts with caches warmed by earlier batches on whichever thread runs
  // the slot (libuv hands each job to any of its threads), and each set
  // meets the texts it met in the batch before when the batch repeats.
  class CacheLease {
   public:
    explicit CacheLease(size_t slot);
    ~CacheLease();
    CacheLease(const CacheLease&) = delete;
    CacheLease& operator=(const CacheLease&) = delete;

   private:
    ThreadCaches* caches_;
    size_t slot_;
  };

 private:
  template <bool kListed>
  void encode_ordinary_by(const uint8_t* text, size_t n, std::vector<Rank>& out) const;
  template <bool kListed>
  size_t count_ordinary_by(const uint8_t* text, size_t n, size_t limit) const;
  static ThreadCaches& thread_caches();
  // The pre-tokens of a text in order, each piece's cache entries
  // prefetched a few pieces before it is encoded (see encoding.cc).
  uint64_t prefetch_piece(const ThreadCaches& caches, const uint8_t* text, size_t n, size_t a, size_t b) const;
  template <class Piece>
  void for_each_piece(const ThreadCaches& caches, const uint8_t* text, size_t n, Piece&& piece) const;
  // The rank of the n bytes that join two adjacent parts of ranks `left` and
  // `right`, or kNoRank (through the thread's pair cache).
  Rank pair_rank(ThreadCaches& caches, Rank left, Rank right, const uint8_t* bytes, size_t n) const;
  // rank_of for bytes followed by at least 8 readable bytes (a piece's part).
  Rank rank_of_padded(const uint8_t* bytes, size_t n) const;
  // The merges of a piece (tiktoken's ranks, or listed merges; h: its hash)
  // through the thread's ring of merged pieces (merge_bytes,
  // merge_listed_piece: the merges themselves).
  template <class Emit>
  void merge(ThreadCaches& caches, const uint8_t* piece, size_t n, uint64_t h, Emit&& emit) const;
  template <class Emit>
  void merge_bytes(ThreadCaches& caches, const uint8_t* piece, size_t n, Emit&& emit) const;
  template <class Emit>
  void merge_listed(ThreadCaches& caches, const uint8_t* piece, size_t n, uint64_t h, Emit&& emit) const;
  template <class Emit>
  void merge_listed_piece(ThreadCaches& caches, const uint8_t* piece, size_t n, Emit&& emit) const;
  template <class MergeAll, class Emit>
  void through_ring(ThreadCaches& caches, const uint8_t* piece, size_t n, uint64_t h, MergeAll&& merge_all, Emit&& emit) const;
  // kListed: the rule of listed merges (listed_merges_), else of ranks.
  // known_hash: the piece's hash_bytes when the caller has it (for_each_piece
  // hashed it to prefetch), else 0.
  template <bool kListed, class Emit>
  void encode_piece(ThreadCaches& caches, const uint8_t* piece, size_t n, uint64_t known_hash, Emit&& emit) const;
  template <class TokensOf, class Emit>
  void cached_tokens(ThreadCaches& caches, const uint8_t* bytes, size_t n, uint64_t head, uint64_t h, uint32_t serial, TokensOf&& tokens_of,
                     Emit&& emit) const;
  // Marks the piece-cache entries of merge_listed's runs (serial_ | kRunSerial).
  static constexpr uint32_t kRunSerial = 0x80000000u;
  // encode_piece of text[a, b), which ends the n-byte text or not.
  template <bool kListed, class Emit>
  void encode_piece_of(ThreadCaches& caches, const uint8_t* text, size_t n, size_t a, size_t b, uint64_t hash, Emit&& emit) const;
  // One rank-table entry: enough to accept or reject a candidate without
  // touching the arena for tokens of up to 8 bytes (nearly all lookups).
  struct Slot {
    uint64_t head;   // the first 8 bytes, zero-padded
    uint32_t rank;   // kNoRank: empty
    uint32_t check;  // length (8 bits) and 24 bits of the hash
  };
  const Slot* find_slot(const uint8_t* bytes, size_t n) const;
  // With the bytes' hash and head (their first 8 bytes, zero-padded).
  const Slot* find_slot(const uint8_t* bytes, size_t n, uint64_t hash, uint64_t head) const;
  bool same_tail(uint64_t slot, const uint8_t* bytes, size_t n) const;

  Pattern kind_ = Pattern::Gpt2;
  std::string pattern_;
  std::string arena_;  // every token's bytes, back to back
  struct Span {
    uint32_t offset, length;  // into arena_; length 0: no token
  };
  std::vector<Span> span_;  // per rank
  // For decoding, per rank: the first 15 bytes (zero-padded) and the length
  // (0: no token), so that a short token costs one cache miss, not two.
  // Apart from span_, which encoding reads and which stays small.
  struct Short {
    uint8_t head[15];
    uint8_t length;
  };
  static_assert(sizeof(Short) == 16, "decode copies whole entries");
  std::vector<Short> short_;
  // Where an id decodes to other bytes than its own (SentencePiece), per
  // rank: those bytes in decode_arena_; empty otherwise.
  std::vector<Span> decode_span_;
  std::string decode_arena_;
  bool decoded_bytes(Rank id, std::string_view& bytes) const;
  std::vector<Slot> table_;  // open addressing, linear probing, up to 80 % full
  // Per slot, bytes 8-15 of its token (zero-padded), so that a piece of 9-16
  // bytes is checked without the arena: two independent cache misses
  // (slot, then this at the same index) instead of three dependent ones
  // (slot, span, arena).
  std::vector<uint64_t> next_;
  uint64_t mask_ = 0;
  // A Bloom filter of the tokens, two bits in one 64-bit word a token (128
  // KiB for cl100k_base, 256 KiB for o200k_base: ~4 % false positives), read
  // before the table: most lookups made while merging are for strings that
  // are not tokens, and the filter, unlike the table, stays in the core's
  // cache.
  std::vector<uint64_t> filter_;
  uint64_t filter_mask_ = 0;  // words - 1
  std::vector<std::pair<std::string, Rank>> specials_;
  size_t vocab_size_ = 0;
  uint32_t serial_ = 0;  // tells this encoding's entries apart in the per-thread piece cache

  // Hugging Face merges: (left id, right id) -> (priority, result id).
  struct MergeSlot {
    uint64_t pair;  // left << 32 | right; ~0: empty
    uint32_t priority, result;
  };
  bool listed_merges_ = false, ignore_merges_ = false;
  // SentencePiece-style models start from UTF-8 characters rather than
  // bytes; a character missing from the vocabulary becomes its bytes'
  // <0xXX> tokens (byte_fallback) or the unknown token (fused when repeated).
  bool char_symbols_ = false, byte_fallback_ = false, fuse_unk_ = false;
  Rank unk_id_ = kNoRank;
  Rank fallback_id_[256];
  std::vector<MergeSlot> merges_;
  uint64_t merge_mask_ = 0;
  int merge_shift_ = 64;  // 64 - log2(slots)
  // A Bloom filter of the merges' pairs (8 bits a merge, 64 KiB for Llama-2's
  // 2 MiB table), read first: about half the pairs looked up join nothing.
  std::vector<uint64_t> merge_filter_;
  int merge_filter_shift_ = 64;
  // Per id: 1 when some merge names it (on either side). A symbol that no
  // merge names never joins, and splits a piece into runs merged apart.
  std::vector<uint8_t> merging_;
  // Pairs of symbols (left << 32 | right) some merge could join across;
  // empty when not known (see find_crossings).
  std::vector<uint64_t> crossings_;
  int crossing_shift_ = 64;
  void find_crossings();
  bool may_cross(Rank left, Rank right) const;
  bool end_symbols(Rank id, Rank& first, Rank& last) const;
  Rank byte_id_[256];
  // With character symbols: the id of each code point of two or three UTF-8
  // bytes (256 KiB; a rank-table lookup per character cost 20 % of Llama-2's encode).
  std::vector<Rank> char_id_;
  // Ranks of every two-byte string (256 KiB, cache-resident): merges start
  // by looking up each adjacent byte pair, which would otherwise each miss
  // the cache in the large rank table.
  std::vector<Rank> pair_rank_;
  const MergeSlot* find_merge(Rank left, Rank right) const;
};

}  // namespace llmk::bpe
