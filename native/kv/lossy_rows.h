// The per-token-row stages of lossy coding (quantizing in bits mode, and
// decoding), with an AVX2 path (and F16C) that gives the same results as the
// portable one; the self-test compares them.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "codec.h"
#include "float_bits.h"
#include "packed.h"

namespace llmk::kv {

// Quantizing, pass 1: the running minimum and maximum of the row's values,
// and a flag for values that are not finite — per channel (stride 1, keys:
// lo[d], hi[d], nonfinite[d]) or for the whole row (stride 0, values). In
// float32: every dtype's values are floats, and so their extremes.
struct RowExtent {
  float *lo, *hi;
  uint8_t* nonfinite;
  size_t stride;
};
// extent_rows covers `count` consecutive token rows of n elements: one call
// a tile (a call a token row, with its stride tests in the inner loops, was
// ~15 % of a packed encode's instructions). With stride 0, row k's extent
// is at lo[k], hi[k], nonfinite[k].
void extent_rows(DType t, const void* rows, size_t count, const RowExtent& e, size_t n);
// Token row k's view of a RowExtent or RowCoder (the same one for channels).
inline RowExtent row_view(const RowExtent& e, size_t k) {
  return e.stride ? e : RowExtent{e.lo + k, e.hi + k, e.nonfinite + k, 0};
}
inline void extend(const RowExtent& e, size_t r, double x) {  // one element, as both paths do it
  const float f = static_cast<float>(x);  // exact: x is a value of the dtype
  e.nonfinite[r] |= !std::isfinite(f);
  e.lo[r] = std::min(e.lo[r], f);
  e.hi[r] = std::max(e.hi[r], f);
}

// Quantizing, pass 2: q[d] = round_even(x[d] / step), the running minimum of
// the codes, and a flag for codes outside (-kMaxCode, kMaxCode) (their q is
// then unspecified: such rows are stored raw). Per channel or per row, as
// RowExtent. `inverse` holds 1 / step: the fast path multiplies, and divides
// wherever the product lies close enough to a rounding boundary to differ;
// `inverse32` holds float(inverse), for its float32 lanes.
struct RowCoder {
  const double *step, *inverse;
  const float* inverse32;
  int32_t* base;
  uint8_t* out_of_range;
  size_t stride;
};
// quantize_rows: `count` consecutive token rows into q (count * n codes), as
// extent_rows (stride 0: row k's step, inverse, base and flag at index k).
void quantize_rows(DType t, const void* rows, size_t count, const RowCoder& c, int32_t* q, size_t n);
inline RowCoder row_view(const RowCoder& c, size_t k) {
  return c.stride ? c : RowCoder{c.step + k, c.inverse + k, c.inverse32 + k, c.base + k, c.out_of_range + k, 0};
}
inline int32_t quantize_one(const RowCoder& c, size_t r, double x) {  // one element, as both paths do it
  const double v = round_even(x / c.step[r]);
  if (!(std::fabs(v) < static_cast<double>(kMaxCode))) {
    c.out_of_range[r] = 1;
    return 0;
  }
  c.base[r] = std::min(c.base[r], static_cast<int32_t>(v));
  return static_cast<int32_t>(v);
}

// maxError mode, one token row: quantize_rows's codes (count 1), and
// whether every code's decoded value (dequantize_row's) lies within
// max_error of the original, compared in float64 — in one pass on AVX2.
// `decoded` (room for n elements of t) is the portable path's scratch.
// Where it returns false, the tile's quantizer looks at that row element
// by element.
bool quantize_row_within(DType t, const void* row, const RowCoder& c, int32_t* q, double max_error, void* decoded, size_t n);
inline bool within_one(DType t, const void* row, const void* decoded, double max_error, size_t d) {
  return std::fabs(load_element(decoded, t, d) - load_element(row, t, d)) <= max_error;
}

// Kind by cost, bits mode: the squared error of a decoded row against its
// original (both of dtype t, differences in float64), elements where skip[d]
// is set (raw channels of keys; may be null) counting 0 — their difference
// may be NaN. Summed in four chains, element d in chain d % 4 (the rest past
// the last whole four in chain 0), then (c0 + c1) + (c2 + c3): both paths
// add the same numbers in the same order.
double row_squared_error(DType t, const void* decoded, const void* row, const uint8_t* skip, size_t n);
inline double squared_one(DType t, const void* decoded, const void* row, const uint8_t* skip, size_t d) {
  const double e = load_element(decoded, t, d) - load_element(row, t, d);
  return skip && skip[d] ? 0.0 : e * e;
}

// Where each channel's prediction comes from: the three rows, and per
// channel a mask (all ones or zero) choosing among them; a channel whose
// three masks are zero predicts 0.
struct RowSources {
  const int32_t *base, *previous, *anchor;
  const int32_t *use_base, *use_previous, *use_anchor;
};

inline int32_t prediction_of(const RowSources& s, size_t d) {
  return (s.base[d] & s.use_base[d]) | (s.previous[d] & s.use_previous[d]) | (s.anchor[d] & s.use_anchor[d]);
}

// Channel d's code: its zigzag-decoded residual symbol plus its prediction.
// |residual| <= 127 and |prediction| < 2^30: the sum fits int32.
inline int32_t code_of(const uint8_t* z, const RowSources& s, size_t d) {
  return (static_cast<int32_t>(z[d] >> 1) ^ -static_cast<int32_t>(z[d] & 1)) + prediction_of(s, d);
}

// q[d] = code_of(z, s, d), for residual symbols without
// escapes (z[d] < 255); false when a code leaves (-kMaxCode, kMaxCode).
bool codes_row(const uint8_t* z, const RowSources& s, int32_t* q, size_t n);

// Packed codes (packed.h) of `count` consecutive token rows of n codes:
// row r's offsets q[r * n + d] - base[d * stride] (stride 1: a base per
// channel; stride 0: row r's base is base[r]) packed at `width` into
// packed_row_bytes(n, width) bytes at out + r * packed_row_bytes(n, width).
// Returns the OR of the offsets (where its bit length exceeds `width` the
// bytes are wrong). Nothing is written past the last row.
uint32_t pack_offsets_rows(const int32_t* q, const int32_t* base, size_t stride, uint32_t width, uint8_t* out, size_t n, size_t count);
// The OR of the same rows' offsets: their packed width is its bit length.
uint32_t offsets_or(const int32_t* q, const int32_t* base, size_t stride, size_t n, size_t count);
// Both paths' way for any width, one row: offsets [first, n) (first a
// multiple of 8) 64 at a time through pack_row; 8 * width bytes a chunk,
// each on a byte. Static: the AVX2 unit's copy must never serve a portable
// caller.
static inline uint32_t pack_offsets_from(const int32_t* q, const int32_t* base, size_t stride, uint32_t width, uint8_t* out,
                                  size_t first, size_t n) {
  uint32_t off[64], any = 0;
  for (; first < n; first += 64) {
    const size_t m = std::min<size_t>(64, n - first);
    for (size_t k = 0; k < m; ++k) any |= off[k] = static_cast<uint32_t>(q[first + k] - base[(first + k) * stride]);
    pack_row(off, m, width, out + first / 8 * width);
  }
  return any;
}

// out[d] = the dtype's rounding (to nearest even, once, from float64) of
// q[d] * step[d * stride]: stride 1, a step per channel (keys); stride 0,
// one step for the whole row (values).
void dequantize_row(DType t, const int32_t* q, const double* step, size_t stride, void* out, size_t n);

// lossy_rows_avx2.cc
void extent_rows_avx2(DType t, const void* rows, size_t count, const RowExtent& e, size_t n);
void quantize_rows_avx2(DType t, const void* rows, size_t count, const RowCoder& c, int32_t* q, size_t n);
bool quantize_row_within_avx2(DType t, const void* row, const RowCoder& c, int32_t* q, double max_error, size_t n);
bool codes_row_avx2(const uint8_t* z, const RowSources& s, int32_t* q, size_t n);
double row_squared_error_avx2(DType t, const void* decoded, const void* row, const uint8_t* skip, size_t n);
void dequantize_row_avx2(DType t, const int32_t* q, const double* step, size_t stride, void* out, size_t n);
uint32_t offsets_or_avx2(const int32_t* q, const int32_t* base, size_t stride, size_t n, size_t count);
uint32_t pack_offsets_rows_avx2(const int32_t* q, const int32_t* base, size_t stride, uint32_t width, uint8_t* out, size_t n, size_t count);

}  // namespace llmk::kv
