#include "container.h"

#include <cmath>
#include <cstring>
#include <string>

#include "../common/thread_pool.h"

namespace llmk::kv {

namespace {

// Fuzz builds (scripts/fuzz.sh; the macro is libFuzzer's convention) skip the
// checksums, so that mutations reach the tile parsers behind them, as a
// stream with forged checksums would.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
constexpr bool kCheckSums = false;
#else
constexpr bool kCheckSums = true;
#endif

constexpr uint8_t kVersion = 1;
constexpr uint8_t kFlagPacked = 1;  // header byte 10: lossy codes bit-packed
constexpr uint64_t kMaxTiles = uint64_t{1} << 28;
constexpr uint64_t kMaxTileElements = uint64_t{1} << 28;

[[noreturn]] void bad_layout(const std::string& what) { throw range_error("ERR_LLMK_BAD_SHAPE", what); }

void check_codec(const CodecParams& c, bool from_stream) {
  auto fail = [&](const std::string& what) {
    if (from_stream) corrupt(what);
    throw range_error("ERR_LLMK_BAD_OPTION", what);
  };
  if (static_cast<uint8_t>(c.dtype) > 2) fail("unknown dtype");
  if (static_cast<uint8_t>(c.mode) > 1) fail("unknown mode");
  if (static_cast<uint8_t>(c.kind) > 2) fail("unknown kind");
  if (c.mode == Mode::Lossless) {
    if (c.bits != 0 || c.max_error != 0) fail("lossless mode takes neither bits nor maxError");
    if (c.packed) fail("packed codes (entropy: false) apply to lossy mode only");
    return;
  }
  const bool bits_ok = c.bits == 2 || c.bits == 3 || c.bits == 4 || c.bits == 8;
  const bool error_ok = std::isfinite(c.max_error) && c.max_error > 0 && c.max_error < 1e300;
  if (bits_ok == error_ok || (bits_ok && c.max_error != 0) || (error_ok && c.bits != 0))
    fail("lossy mode takes exactly one of bits (2, 3, 4, 8) or maxError (a finite number > 0)");
}

void check_layout(const Layout& l, bool from_stream) {
  check_codec(l.codec, from_stream);
  auto fail = [&](const std::string& what) {
    if (from_stream) corrupt(what);
    bad_layout(what);
  };
  if (l.layers < 1 || l.heads < 1 || l.head_dim < 1) fail("layers, heads and headDim must be >= 1");
  if (l.tile_tokens < 1 || l.tile_tokens > kMaxTileTokens) fail("tileTokens must be in [1, 65536]");
  if (!l.has_layers && l.layers != 1) fail("a rank-3 stream has one layer");
  if (l.tile_count() > kMaxTiles) fail("too many tiles");
  if (static_cast<uint64_t>(l.tile_tokens) * l.head_dim > kMaxTileElements) fail("tileTokens x headDim is too large");
  if (l.elements() > (uint64_t{1} << 40)) fail("tensor too large");
}

// Tokens held by block b (the last block may be short).
uint32_t block_tokens(const Layout& l, uint64_t b) {
  const uint64_t start = b * l.tile_tokens;
  return static_cast<uint32_t>(std::min<uint64_t>(l.tile_tokens, l.tokens - start));
}

// Each tile is written into a buffer the thread keeps and then copied out
// at its size: a tile's buffer grown by doubling, and its temporaries freed
// after it, made glibc hand the top of the heap back to the system and fault
// its pages in again for the next tile (a third of an `entropy: false`
// encode, depending on the sizes involved).
void encode_tile_into(const CodecParams& p, const void* data, uint32_t tokens, uint32_t dim,
                      std::vector<uint8_t>& out) {
  thread_local ByteWriter w;
  w.buffer().clear();
  encode_tile(p, data, tokens, dim, w);
  out.assign(w.buffer().begin(), w.buffer().end());
  if (w.buffer().capacity() > kKeptScratchBytes) w.buffer() = std::vector<uint8_t>();
}

}  // namespace

void encode_tile(const CodecParams& p, const void* data, uint32_t tokens, uint32_t dim, ByteWriter& out) {
  if (p.mode == Mode::Lossless)
    encode_lossless(p.dtype, data, tokens, dim, out);
  else
    encode_lossy(p, data, tokens, dim, out);
}

void decode_tile(const CodecParams& p, const uint8_t* bytes, size_t n, uint32_t tokens, uint32_t dim, void* out) {
  ByteReader r(bytes, n, "tile");
  if (p.mode == Mode::Lossless)
    decode_lossless(p.dtype, r, tokens, dim, out);
  else
    decode_lossy(p, r, tokens, dim, out);
  if (r.left()) corrupt("tile has trailing bytes");
}

void validate_layout(const Layout& l) { check_layout(l, false); }

Tiles encode_tiles(const Layout& l, const void* data, size_t threads, const std::atomic<bool>* cancel) {
  check_layout(l, false);
  const uint64_t blocks = l.blocks();
  const size_t width = dtype_size(l.codec.dtype);
  Tiles tiles(l.tile_count());
  run_parallel(tiles.size(), threads, [&](size_t i) {
    const uint64_t head_index = i / blocks, b = i % blocks;
    const uint64_t first = (head_index * l.tokens + b * l.tile_tokens) * l.head_dim;
    encode_tile_into(l.codec, static_cast<const uint8_t*>(data) + first * width, block_tokens(l, b), l.head_dim,
                     tiles[i]);
  }, cancel);
  return tiles;
}

TileRefs refs(const Tiles& tiles) {
  TileRefs out;
  out.reserve(tiles.size());
  for (const auto& t : tiles) out.push_back(&t);
  return out;
}

std::vector<uint8_t> encode(const Layout& l, const void* data, size_t threads, const std::atomic<bool>* cancel) {
  const Tiles tiles = encode_tiles(l, data, threads, cancel);
  const TileRefs at = refs(tiles);
  std::vector<uint8_t> out(assembled_size(at));
  assemble_into(l, at, out.data());
  return out;
}

size_t assembled_size(const TileRefs& tiles) {
  size_t total = kHeaderBytes + 8 * tiles.size();
  for (const auto* t : tiles) total += t->size();
  return total;
}

void assemble_into(const Layout& l, const TileRefs& tiles, uint8_t* out) {
  ByteWriter w;
  w.buffer().reserve(kHeaderBytes + 8 * tiles.size());
  w.bytes("LLKV", 4);
  w.u8(kVersion);
  w.u8(static_cast<uint8_t>(l.codec.dtype));
  w.u8(static_cast<uint8_t>(l.codec.mode));
  w.u8(static_cast<uint8_t>(l.codec.kind));
  w.u8(static_cast<uint8_t>(l.codec.bits));
  w.u8(l.has_layers ? 4 : 3);
  w.u8(l.codec.packed ? kFlagPacked : 0);
  w.u8(0);
  w.u32(l.layers);
  w.u32(l.heads);
  w.u32(l.tokens);
  w.u32(l.head_dim);
  w.u32(l.tile_tokens);
  w.f64(l.codec.max_error);
  w.u32(static_cast<uint32_t>(tiles.size()));
  w.u32(0);  // header checksum, patched below
  for (const auto* t : tiles) {
    if (t->size() > UINT32_MAX) throw range_error("ERR_LLMK_BAD_SHAPE", "a tile exceeds 4 GiB");
    w.u32(static_cast<uint32_t>(t->size()));
    w.u32(crc32c(t->data(), t->size()));
  }
  const std::vector<uint8_t>& head = w.buffer();
  uint32_t crc = crc32c(head.data(), 44);
  crc = crc32c(head.data() + kHeaderBytes, head.size() - kHeaderBytes, crc);
  w.patch_u32(44, crc);
  std::memcpy(out, head.data(), head.size());
  out += head.size();
  for (const auto* t : tiles) {
    if (!t->empty()) std::memcpy(out, t->data(), t->size());
    out += t->size();
  }
}

Parsed parse(const uint8_t* p, size_t n) {
  ByteReader r(p, n, "header");
  if (n < kHeaderBytes) corrupt("shorter than its header (" + std::to_string(n) + " bytes)");
  if (std::memcmp(r.take(4), "LLKV", 4) != 0) corrupt("not a KV stream (bad magic)");
  const uint8_t version = r.u8();
  if (version != kVersion) corrupt("unsupported version " + std::to_string(version));
  Parsed out;
  Layout& l = out.layout;
  l.codec.dtype = static_cast<DType>(r.u8());
  l.codec.mode = static_cast<Mode>(r.u8());
  l.codec.kind = static_cast<Kind>(r.u8());
  l.codec.bits = r.u8();
  const uint8_t rank = r.u8();
  if (rank != 3 && rank != 4) corrupt("bad rank");
  l.has_layers = rank == 4;
  const uint8_t flags = r.u8();
  if (flags & ~kFlagPacked) corrupt("unknown header flags");
  l.codec.packed = flags & kFlagPacked;
  if (r.u8() != 0) corrupt("reserved field is not zero");
  l.layers = r.u32();
  l.heads = r.u32();
  l.tokens = r.u32();
  l.head_dim = r.u32();
  l.tile_tokens = r.u32();
  l.codec.max_error = r.f64();
  const uint32_t tile_count = r.u32();
  const uint32_t header_crc = r.u32();
  check_layout(l, true);
  if (tile_count != l.tile_count()) corrupt("tile count disagrees with the shape");
  const uint8_t* table = r.take(static_cast<size_t>(tile_count) * 8);  // bounds-checked before any CRC
  uint32_t crc = crc32c(p, 44);
  crc = crc32c(table, static_cast<size_t>(tile_count) * 8, crc);
  if (crc != header_crc && kCheckSums) corrupt("header checksum mismatch");
  ByteReader t(table, static_cast<size_t>(tile_count) * 8, "tile table");
  out.offsets.resize(tile_count + 1);
  out.crcs.resize(tile_count);
  uint64_t at = kHeaderBytes + static_cast<uint64_t>(tile_count) * 8;
  for (uint32_t i = 0; i < tile_count; ++i) {
    out.offsets[i] = at;
    at += t.u32();
    out.crcs[i] = t.u32();
  }
  out.offsets[tile_count] = at;
  if (at > n) corrupt("truncated: " + std::to_string(n) + " bytes, the table needs " + std::to_string(at));
  if (at < n) corrupt("trailing bytes after the last tile");
  return out;
}

void decode(const Parsed& parsed, const uint8_t* p, uint32_t tokens, void* out, size_t threads,
            const std::atomic<bool>* cancel) {
  const Layout& l = parsed.layout;
  if (tokens > l.tokens) throw range_error("ERR_LLMK_BAD_OPTION", "tokens exceeds the stream's token count");
  const uint64_t blocks = l.blocks();
  const uint64_t used_blocks = (static_cast<uint64_t>(tokens) + l.tile_tokens - 1) / l.tile_tokens;
  const size_t width = dtype_size(l.codec.dtype);
  const uint64_t heads = static_cast<uint64_t>(l.layers) * l.heads;
  run_parallel(heads * used_blocks, threads, [&](size_t job) {
    const uint64_t head_index = job / used_blocks, b = job % used_blocks;
    const size_t tile = head_index * blocks + b;
    const uint8_t* bytes = p + parsed.offsets[tile];
    const size_t size = parsed.offsets[tile + 1] - parsed.offsets[tile];
    if (crc32c(bytes, size) != parsed.crcs[tile] && kCheckSums) corrupt("checksum mismatch in tile " + std::to_string(tile));
    const uint32_t tile_tokens = block_tokens(l, b);
    const uint64_t start = b * l.tile_tokens;
    const uint32_t wanted = static_cast<uint32_t>(std::min<uint64_t>(tile_tokens, tokens - start));
    uint8_t* dst = static_cast<uint8_t*>(out) + ((head_index * tokens + start) * l.head_dim) * width;
    if (wanted == tile_tokens) {
      decode_tile(l.codec, bytes, size, tile_tokens, l.head_dim, dst);
    } else {
      std::vector<uint8_t> tmp(static_cast<size_t>(tile_tokens) * l.head_dim * width);
      decode_tile(l.codec, bytes, size, tile_tokens, l.head_dim, tmp.data());
      std::memcpy(dst, tmp.data(), static_cast<size_t>(wanted) * l.head_dim * width);
    }
  }, cancel);
}

StreamEncoder::StreamEncoder(const Layout& l) : layout_(l) {
  layout_.tokens = 0;
  layout_.layers = 1;
  layout_.has_layers = false;
  check_layout(layout_, false);
  full_.resize(layout_.heads);
  pending_.resize(layout_.heads);
}

void StreamEncoder::append(const void* data, uint32_t tokens) {
  const size_t width = dtype_size(layout_.codec.dtype);
  const size_t row = static_cast<size_t>(layout_.head_dim) * width;
  if (static_cast<uint64_t>(layout_.tokens) + tokens > UINT32_MAX)
    throw range_error("ERR_LLMK_BAD_SHAPE", "a stream holds at most 2^32 - 1 tokens");
  const uint8_t* src = static_cast<const uint8_t*>(data);
  uint32_t done = 0;
  while (done < tokens) {
    const uint32_t take = std::min(tokens - done, layout_.tile_tokens - pending_tokens_);
    for (uint32_t h = 0; h < layout_.heads; ++h) {
      const uint8_t* from = src + (static_cast<size_t>(h) * tokens + done) * row;
      pending_[h].insert(pending_[h].end(), from, from + take * row);
    }
    done += take;
    pending_tokens_ += take;
    if (pending_tokens_ == layout_.tile_tokens) {
      for (uint32_t h = 0; h < layout_.heads; ++h) {
        full_[h].emplace_back();
        encode_tile_into(layout_.codec, pending_[h].data(), pending_tokens_, layout_.head_dim, full_[h].back());
        pending_[h].clear();
      }
      pending_tokens_ = 0;
    }
  }
  layout_.tokens += tokens;
  if (layout_.tile_count() > kMaxTiles) throw range_error("ERR_LLMK_BAD_SHAPE", "too many tiles");
}

TileRefs StreamEncoder::tiles(Tiles& partial) const {
  partial.assign(pending_tokens_ ? layout_.heads : 0, {});
  TileRefs tiles;
  tiles.reserve(layout_.tile_count());
  for (uint32_t h = 0; h < layout_.heads; ++h) {
    for (const auto& t : full_[h]) tiles.push_back(&t);
    if (pending_tokens_) {
      encode_tile_into(layout_.codec, pending_[h].data(), pending_tokens_, layout_.head_dim, partial[h]);
      tiles.push_back(&partial[h]);
    }
  }
  return tiles;
}

}  // namespace llmk::kv
