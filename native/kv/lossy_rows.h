// The per-token-row stages of lossy decoding, with an AVX2 path (and F16C)
// that gives the same bits as the portable one; the self-test compares them.
#pragma once
#include <cstddef>
#include <cstdint>

#include "codec.h"

namespace llmk::kv {

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

// out[d] = the dtype's rounding (to nearest even, once, from float64) of
// q[d] * step[d * stride]: stride 1, a step per channel (keys); stride 0,
// one step for the whole row (values).
void dequantize_row(DType t, const int32_t* q, const double* step, size_t stride, void* out, size_t n);

// lossy_rows_avx2.cc
bool codes_row_avx2(const uint8_t* z, const RowSources& s, int32_t* q, size_t n);
void dequantize_row_avx2(DType t, const int32_t* q, const double* step, size_t stride, void* out, size_t n);

}  // namespace llmk::kv
