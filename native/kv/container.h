// The KV container: a versioned header with the shape, dtype and codec
// parameters, a table of tile sizes and CRC-32C checksums (the header and the
// table have their own checksum), then the tiles, ordered by layer, head and
// token block. Every field is validated before use: a damaged or truncated
// stream throws ERR_LLMK_KV_CORRUPT, whatever the damage.
//
//   0  "LLKV"   4 u8 version (1)   5 u8 dtype   6 u8 mode   7 u8 kind
//   8  u8 bits  9 u8 rank (3|4)   10 u8 flags (1: lossy codes packed)  11 u8 zero
//   12 u32 layers  16 u32 heads  20 u32 tokens  24 u32 headDim  28 u32 tileTokens
//   32 f64 maxError  40 u32 tileCount  44 u32 crc32c(bytes 0..43 + tile table)
//   48 tileCount x (u32 size, u32 crc32c)   then the tiles
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

#include "codec.h"

namespace llmk::kv {

struct Layout {
  CodecParams codec;
  uint32_t layers = 1, heads = 1, tokens = 0, head_dim = 1;
  bool has_layers = false;  // a rank-4 [layers, heads, tokens, dim] tensor
  uint32_t tile_tokens = 256;

  uint64_t blocks() const { return (static_cast<uint64_t>(tokens) + tile_tokens - 1) / tile_tokens; }
  uint64_t tile_count() const { return static_cast<uint64_t>(layers) * heads * blocks(); }
  uint64_t elements() const { return static_cast<uint64_t>(layers) * heads * tokens * head_dim; }
};

constexpr size_t kHeaderBytes = 48;
constexpr uint32_t kMaxTileTokens = 65536;

// Checks a layout a caller asked for (throws RangeError-kind llmk::Error).
void validate_layout(const Layout& l);

using Tiles = std::vector<std::vector<uint8_t>>;
// Encoded tiles in (layer, head, block) order, wherever they are kept.
using TileRefs = std::vector<const std::vector<uint8_t>*>;
TileRefs refs(const Tiles& tiles);

// Encodes a whole [layers, heads, tokens, dim] tensor: its container.
std::vector<uint8_t> encode(const Layout& l, const void* data, size_t threads, const std::atomic<bool>* cancel);

// The same in two steps, for a caller that writes the container into memory
// of its own (the addon: straight into the JS array, not through a vector):
// the tiles, then assemble_into.
Tiles encode_tiles(const Layout& l, const void* data, size_t threads, const std::atomic<bool>* cancel);

// The size of the container of these tiles.
size_t assembled_size(const TileRefs& tiles);

// Writes the container (header, tile table, tiles) to out, which holds
// assembled_size(tiles) bytes.
void assemble_into(const Layout& l, const TileRefs& tiles, uint8_t* out);

struct Parsed {
  Layout layout;
  std::vector<uint64_t> offsets;  // tile i's bytes: [offsets[i], offsets[i + 1])
  std::vector<uint32_t> crcs;
};

// Validates the header, the table and the total length (not the tiles).
Parsed parse(const uint8_t* p, size_t n);

// Decodes the first `tokens` tokens of every layer and head into `out`
// ([layers, heads, tokens, dim] of the stream's dtype); only the tiles that
// hold them are read and checked.
void decode(const Parsed& parsed, const uint8_t* p, uint32_t tokens, void* out, size_t threads,
            const std::atomic<bool>* cancel);

// A stream that grows as tokens arrive ([heads, n, dim] at a time, one
// layer): full tiles are encoded once, as they fill up; tiles() encodes the
// partial last tiles, for assemble_into to make a container decode() reads.
class StreamEncoder {
 public:
  explicit StreamEncoder(const Layout& l);
  void append(const void* data, uint32_t tokens);
  // The container's tiles: the full ones as kept, the partial last ones
  // encoded now into `partial` (which the result points into).
  TileRefs tiles(Tiles& partial) const;
  const Layout& layout() const { return layout_; }
  uint32_t tokens() const { return layout_.tokens; }

 private:
  Layout layout_;
  std::vector<Tiles> full_;                    // per head, per full block
  std::vector<std::vector<uint8_t>> pending_;  // per head: raw tokens of the open block
  uint32_t pending_tokens_ = 0;
};

}  // namespace llmk::kv
