// Bit-packed codes: the lossy tile's fast form (CodecParams::packed), with
// neither prediction nor entropy coding — quantize+pack, as llama.cpp's
// q4_0 does, paying the bits that entropy coding would save. Each token row's
// offsets from their row bases (code - base, never negative) are packed at
// one width for the whole tile, least significant bit first, every token row
// starting on a byte.
//
//   pack_row(off = {1, 15, 2}, 3, 4, out)  ->  out = {0xf1, 0x02}
#pragma once
#include <cstddef>
#include <cstdint>

namespace llmk::kv {

constexpr uint32_t kMaxPackedWidth = 31;  // offsets of codes in (-2^30, 2^30)

// Bytes of one packed token row of n offsets at `width` bits.
inline size_t packed_row_bytes(size_t n, uint32_t width) { return (n * width + 7) / 8; }

// Packs off[0, n) (each below 2^width, width <= kMaxPackedWidth) into
// packed_row_bytes(n, width) bytes; the last byte's unused bits are 0.
void pack_row(const uint32_t* off, size_t n, uint32_t width, uint8_t* out);

// The inverse: reads packed_row_bytes(n, width) bytes, ignores unused bits.
void unpack_row(const uint8_t* in, size_t n, uint32_t width, uint32_t* off);

}  // namespace llmk::kv
