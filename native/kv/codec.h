// The KV tile codec: one tile is `tokens` x `dim` elements of one layer and
// kv-head, token-major (contiguous in a [layers, heads, tokens, dim] cache),
// coded on its own so that tiles encode and decode in parallel and any tile
// can be read alone. container.h puts tiles together.
//
//   lossless: the elements' bits, optionally XORed with the previous token's,
//             split into byte planes (exponent, sign + high mantissa, ...);
//             each plane stored raw or entropy-coded (rans.h).
//   lossy:    integer codes q = round(x / step) with a step per row (keys:
//             rows are channels; values: rows are tokens), either fixed by
//             `maxError` (step = 2 * maxError, every element checked) or by
//             `bits` (step = 2^(i/16) >= row range / (2^bits - 1)); the codes
//             are predicted (row base / previous token / group anchor / zero) and the
//             residuals entropy-coded. Rows that cannot be quantized within
//             the bound (NaN, infinities, huge ranges) are stored raw.
//             Packed (packed.h): the same codes, bit-packed at one width per
//             tile instead of predicted and entropy-coded.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "bytes.h"
#include "float_bits.h"

namespace llmk::kv {

enum class Mode : uint8_t { Lossless = 0, Lossy = 1 };
// Key: quantize per channel; Value: per token; Auto: whichever costs less, per tile.
enum class Kind : uint8_t { Key = 0, Value = 1, Auto = 2 };
// None: the row's smallest code; Previous: the same channel one token back;
// Anchor: the same channel at the start of its group of kAnchorGroup tokens;
// Zero: 0 (codes of data centred on zero, whatever the row's range).
enum class Predictor : uint8_t { None = 0, Previous = 1, Anchor = 2, Zero = 3 };
constexpr uint32_t kAnchorGroup = 16;
// |q| stays below this, so residuals and their sums never overflow.
constexpr int64_t kMaxCode = int64_t{1} << 30;

struct CodecParams {
  DType dtype = DType::F32;
  Mode mode = Mode::Lossless;
  Kind kind = Kind::Auto;
  int bits = 0;            // lossy: 2, 3, 4 or 8; 0 when max_error is used
  double max_error = 0;    // lossy: the absolute error bound; 0 when bits is used
  bool packed = false;     // lossy: codes bit-packed (packed.h), not entropy-coded
};

inline size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }

// Scratch a thread keeps from tile to tile, up to this size (bigger is freed).
constexpr size_t kKeptScratchBytes = size_t{16} << 20;

// A vector allocator that leaves new ints uninitialised: the quantizer
// writes every code of a tile, so zeroing them first would be wasted (5 % of
// an `entropy: false` encode).
template <class T>
struct UninitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitAllocator<U>;
  };
  UninitAllocator() = default;
  template <class U>
  UninitAllocator(const UninitAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... A>
  void construct(U* p, A&&... a) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(a)...);
  }
};

// The integer form of a lossy tile: what the CUDA quantize kernel produces and
// the dequantize kernel consumes, bit for bit the same as the CPU twins.
struct Quantized {
  Kind kind = Kind::Key;              // Key or Value
  uint32_t tokens = 0, dim = 0;
  std::vector<int32_t, UninitAllocator<int32_t>> q;  // tokens * dim codes, token-major; 0 in raw rows
  std::vector<int32_t> base;          // per row: the smallest code (0 for raw rows)
  std::vector<int16_t> step_index;    // per row, bits mode only (0 for raw rows)
  std::vector<uint8_t> raw;           // per row: 1 when stored as raw bits
  uint32_t rows() const { return kind == Kind::Key ? dim : tokens; }
};

// Row r of a tile and element k of that row, as an index into the tile.
inline size_t element_index(Kind kind, uint32_t dim, uint32_t r, uint32_t k) {
  return kind == Kind::Key ? static_cast<size_t>(k) * dim + r : static_cast<size_t>(r) * dim + k;
}

// The step of row r (maxError: 2 * maxError for every row).
inline double row_step(const CodecParams& p, const Quantized& t, uint32_t r) {
  return p.bits ? step_for_index(t.step_index[r]) : 2 * p.max_error;
}

void quantize(const CodecParams& p, Kind kind, const void* data, uint32_t tokens, uint32_t dim, Quantized& out);
void dequantize(const CodecParams& p, const Quantized& t, const void* raw_source, void* out);

// The packed form (packed.h) of a quantized tile, as the CUDA pack kernel
// produces it: the width its codes need (the bit length of the widest
// offset, code - row base), and its token rows packed at `width` into
// tokens * packed_row_bytes(dim, width) bytes. pack_codes returns the OR of
// every offset: where its bit length exceeds `width`, the bytes are wrong.
uint32_t packed_width(const Quantized& t);
uint32_t pack_codes(const Quantized& t, uint32_t width, uint8_t* out);

void encode_tile(const CodecParams& p, const void* data, uint32_t tokens, uint32_t dim, ByteWriter& out);
// Decodes a tile into `out` (tokens * dim elements). Throws on any damage.
void decode_tile(const CodecParams& p, const uint8_t* bytes, size_t n, uint32_t tokens, uint32_t dim, void* out);

// lossless.cc / lossy.cc
void encode_lossless(DType t, const void* data, size_t tokens, size_t dim, ByteWriter& out);
void decode_lossless(DType t, ByteReader& r, size_t tokens, size_t dim, void* out);
void encode_lossy(const CodecParams& p, const void* data, uint32_t tokens, uint32_t dim, ByteWriter& out);
void decode_lossy(const CodecParams& p, ByteReader& r, uint32_t tokens, uint32_t dim, void* out);

}  // namespace llmk::kv
