// Compiled in the AVX2 unit (with -mfma -mf16c); only called when cpu_path()
// says AVX2. Eight elements at a time, loaded as float32 (exact for every
// dtype) and widened to float64 where the portable path computes in float64.
// Quantizing: extents in float32 lanes (exact); codes by the reciprocal,
// divided where it could round differently. Decoding: residual symbols widened and
// zigzag-decoded, plus the masked predictions; values = code times step (one
// IEEE multiply, as the portable path), then to the dtype — float32 directly,
// f16 and bf16 through float32 rounded to odd (to_float_odd, four lanes at
// once), which a final round to nearest even turns into the correctly
// rounded value.
#include "lossy_rows.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace llmk::kv {

namespace {

// to_float_odd on four lanes: round to nearest, step back toward zero where
// that went away from zero, and mark inexact results odd.
inline __m128i float_odd4(__m256d x) {
  const __m128 f = _mm256_cvtpd_ps(x);
  const __m256d back = _mm256_cvtps_pd(f);
  const __m256d magnitude = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffll));
  const __m256d inexact = _mm256_cmp_pd(back, x, _CMP_NEQ_OQ);
  const __m256d away = _mm256_cmp_pd(_mm256_and_pd(back, magnitude), _mm256_and_pd(x, magnitude), _CMP_GT_OQ);  // implies inexact
  const __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  const __m128i inexact32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(inexact), low_halves));
  const __m128i away32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(away), low_halves));
  const __m128i u = _mm_add_epi32(_mm_castps_si128(f), away32);  // away32 is -1 where it went away
  return _mm_or_si128(u, _mm_srli_epi32(inexact32, 31));
}

// Eight codes times their steps (one IEEE multiply each, as the portable
// path), rounded to the dtype: float32 lanes for f32, the eight halves'
// bits for f16 and bf16.
template <DType T>
inline auto decoded8(__m256i codes, __m256d s0, __m256d s1) {
  const __m256d x0 = _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(codes)), s0);
  const __m256d x1 = _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(codes, 1)), s1);
  if constexpr (T == DType::F32) {
    return _mm256_set_m128(_mm256_cvtpd_ps(x1), _mm256_cvtpd_ps(x0));
  } else {
    const __m256i odd = _mm256_set_m128i(float_odd4(x1), float_odd4(x0));
    if constexpr (T == DType::F16) {
      return _mm256_cvtps_ph(_mm256_castsi256_ps(odd), _MM_FROUND_TO_NEAREST_INT);
    } else {
      // bf16: the top 16 bits, rounded to nearest even.
      const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(odd, 16), _mm256_set1_epi32(1));
      const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff)), lsb), 16);
      return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
    }
  }
}

// Eight values of the dtype as float32 (exact for every dtype).
template <DType T, class V>
inline __m256 as_float8(V v) {
  if constexpr (T == DType::F32) return v;
  else if constexpr (T == DType::F16) return _mm256_cvtph_ps(v);
  else return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
}

// Eight elements of a row as float32.
template <DType T>
inline __m256 load8(const void* row, size_t d) {
  if constexpr (T == DType::F32) return _mm256_loadu_ps(static_cast<const float*>(row) + d);
  else return as_float8<T>(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(row) + d)));
}

inline __m256d step4(const double* p, size_t stride, size_t d) { return stride ? _mm256_loadu_pd(p + d) : _mm256_broadcast_sd(p); }

template <DType T>
void dequantize(const int32_t* q, const double* step, size_t stride, void* out, size_t n) {
  size_t d = 0;
  for (; d + 8 <= n; d += 8) {
    const __m256i codes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + d));
    const auto v = decoded8<T>(codes, step4(step, stride, d), step4(step, stride, d + 4));
    if constexpr (T == DType::F32) _mm256_storeu_ps(static_cast<float*>(out) + d, v);
    else _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(out) + d), v);
  }
  for (; d < n; ++d) store_element<T>(out, d, static_cast<double>(q[d]) * step[d * stride]);
}

// Whether any lane of `largest` (the largest magnitude's bits seen in
// each lane) is infinity or not-a-number.
inline int nonfinite8(__m256i largest) {
  return _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(largest, _mm256_set1_epi32(0x7f7fffff))));
}
inline __m256i magnitude_bits(__m256 x) { return _mm256_and_si256(_mm256_castps_si256(x), _mm256_set1_epi32(0x7fffffff)); }

// One token row's extent (values: e.stride is 0).
template <DType T>
void extent_row(const void* row, const RowExtent& e, size_t n) {
  __m256 row_lo = _mm256_set1_ps(INFINITY), row_hi = _mm256_set1_ps(-INFINITY);
  __m256i largest = _mm256_setzero_si256();
  size_t d = 0;
#pragma GCC unroll 4
  for (; d + 8 <= n; d += 8) {
    const __m256 x = load8<T>(row, d);
    row_lo = _mm256_min_ps(x, row_lo);
    row_hi = _mm256_max_ps(x, row_hi);
    largest = _mm256_max_epi32(largest, magnitude_bits(x));
  }
  auto fold = [](__m256 v, auto op) {
    __m128 x = op(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = op(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(op(x, _mm_shuffle_ps(x, x, 1)));
  };
  e.lo[0] = std::min(e.lo[0], fold(row_lo, [](__m128 a, __m128 b) { return _mm_min_ps(a, b); }));
  e.hi[0] = std::max(e.hi[0], fold(row_hi, [](__m128 a, __m128 b) { return _mm_max_ps(a, b); }));
  e.nonfinite[0] |= nonfinite8(largest) != 0;
  for (; d < n; ++d) extend(e, 0, load_element<T>(row, d));
}

// Keys' extents over `count` token rows (e.stride is 1), a block of up to
// 32 channels at a time down every row: minima, maxima and the largest
// magnitudes stay in registers (a token row at a time, they were loaded and
// stored for each eight elements). A lane that is NaN leaves lo/hi as they
// were (the channel is raw anyway), as std::min/max do.
template <DType T>
void extent_channels(const uint8_t* rows, size_t count, const RowExtent& e, size_t n) {
  const size_t bytes = n * dtype_size(T);
  size_t d = 0;
  auto block = [&](auto vectors) {
    constexpr int kV = decltype(vectors)::value;
    __m256 lo[kV], hi[kV];
    __m256i largest[kV];
    for (int j = 0; j < kV; ++j) {
      lo[j] = _mm256_loadu_ps(e.lo + d + 8 * j);
      hi[j] = _mm256_loadu_ps(e.hi + d + 8 * j);
      largest[j] = _mm256_setzero_si256();
    }
    for (size_t k = 0; k < count; ++k)
#pragma GCC unroll 4
      for (int j = 0; j < kV; ++j) {
        const __m256 x = load8<T>(rows + k * bytes, d + 8 * j);
        lo[j] = _mm256_min_ps(x, lo[j]);
        hi[j] = _mm256_max_ps(x, hi[j]);
        largest[j] = _mm256_max_epi32(largest[j], magnitude_bits(x));
      }
    for (int j = 0; j < kV; ++j) {
      _mm256_storeu_ps(e.lo + d + 8 * j, lo[j]);
      _mm256_storeu_ps(e.hi + d + 8 * j, hi[j]);
      const int bad = nonfinite8(largest[j]);
      for (int k = 0; k < 8; ++k) e.nonfinite[d + 8 * j + k] |= (bad >> k) & 1;
    }
  };
  for (; d + 32 <= n; d += 32) block(std::integral_constant<int, 4>());
  for (; d + 8 <= n; d += 8) block(std::integral_constant<int, 1>());
  for (; d < n; ++d)
    for (size_t k = 0; k < count; ++k) extend(e, d, load_element<T>(rows + k * bytes, d));
}

// Four codes in float64 lanes: the product with 1 / step differs from the
// quotient by at most |v| 2^-51 <= 2^-21 for |v| < 2^30 (larger codes are
// out of range either way), so it rounds the same unless a half-integer
// lies within 2^-20 of it; then the lanes are divided. out_mask: codes out
// of range.
inline __m128i codes4(__m256d x, __m256d inverse, __m256d step, int& out_mask) {
  const __m256d magnitude = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffll));
  __m256d v = _mm256_mul_pd(x, inverse);
  const __m256d off = _mm256_and_pd(_mm256_sub_pd(_mm256_sub_pd(v, _mm256_floor_pd(v)), _mm256_set1_pd(0.5)), magnitude);
  if (_mm256_movemask_pd(_mm256_cmp_pd(off, _mm256_set1_pd(0x1p-20), _CMP_LE_OQ))) v = _mm256_div_pd(x, step);
  const __m256d codes = _mm256_round_pd(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  out_mask = _mm256_movemask_pd(_mm256_cmp_pd(_mm256_and_pd(codes, magnitude), _mm256_set1_pd(static_cast<double>(kMaxCode)), _CMP_NLT_UQ));
  return _mm256_cvtpd_epi32(codes);
}

// Codes in float32 lanes first, x * inverse (inverse = float(1 / step))
// rounded to the nearest integer. That product lies within |v| 2^-22 of the
// quotient v (two roundings of 2^-24, the reciprocal a normal float), so it
// rounds the same unless a half-integer lies within |v| 2^-21 of it. `fine`
// is all ones in the lanes where none does: |v - round(v)| < 1/2 - |v| 2^-21,
// which also fails from |v| = 2^20 (floats an eighth apart, codes near the
// range's end), for not-a-number and for infinity. Lanes that are not fine,
// and reciprocals below the normal floats (steps from 2^126: their rounding
// is coarser; see normal8), go the float64 way. Half the instructions of
// float64 lanes on ordinary rows.
inline __m256 nearest8(__m256 x, __m256 inverse, __m256& fine) {
  const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 v = _mm256_mul_ps(x, inverse);
  const __m256 nearest = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 off = _mm256_and_ps(_mm256_sub_ps(v, nearest), magnitude);  // exact
  const __m256 room = _mm256_sub_ps(_mm256_set1_ps(0.5f), _mm256_mul_ps(_mm256_and_ps(v, magnitude), _mm256_set1_ps(0x1p-21f)));
  fine = _mm256_cmp_ps(off, room, _CMP_LT_OQ);
  return nearest;
}
inline __m256 normal8(__m256 inverse) { return _mm256_cmp_ps(inverse, _mm256_set1_ps(0x1p-126f), _CMP_GE_OQ); }
inline bool all8(__m256 mask) { return _mm256_movemask_ps(mask) == 0xFF; }

// Eight codes of x: nearest8's (fast: all eight were fine), or the float64
// way (codes4, with c's step and inverse at `at`) where those could differ.
// out: codes out of range.
template <bool kChannels>
inline __m256i codes8(__m256 x, __m256 inverse, const RowCoder& c, size_t at, int& out, bool& fast) {
  __m256 fine;
  const __m256 nearest = nearest8(x, inverse, fine);
  fast = all8(_mm256_and_ps(fine, normal8(inverse)));
  if (__builtin_expect(fast, 1)) {
    out = 0;
    return _mm256_cvtps_epi32(nearest);
  }
  int out0, out1;
  const __m128i q0 = codes4(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), step4(c.inverse, kChannels, at), step4(c.step, kChannels, at), out0);
  const __m128i q1 = codes4(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), step4(c.inverse, kChannels, at + 4), step4(c.step, kChannels, at + 4), out1);
  out = out0 | out1 << 4;
  return _mm256_set_m128i(q1, q0);
}

inline uint32_t or8(__m256i v) {
  __m128i b = _mm_or_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  b = _mm_or_si128(b, _mm_shuffle_epi32(b, 0x4E));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(_mm_or_si128(b, _mm_shuffle_epi32(b, 0xB1))));
}
inline int32_t min8(__m256i v) {
  __m128i b = _mm_min_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  b = _mm_min_epi32(b, _mm_shuffle_epi32(b, 0x4E));
  return _mm_cvtsi128_si32(_mm_min_epi32(b, _mm_shuffle_epi32(b, 0xB1)));
}

// One token row's codes. `eight(x, codes, d, fast)` sees each eight
// elements (float32), their codes and whether codes8 took them the float32
// way (maxError's check of the decoded values goes in the same pass).
template <DType T, bool kChannels, class Eight>
void quantize(const void* row, const RowCoder& c, int32_t* q, size_t n, Eight&& eight) {
  __m256i row_base = _mm256_set1_epi32(INT32_MAX);
  int row_out = 0;
  const __m256 row_inverse = _mm256_set1_ps(c.inverse32[0]);
  size_t d = 0;
  for (; d + 8 <= n; d += 8) {
    const __m256 x = load8<T>(row, d);
    int out;
    bool fast;
    const __m256i codes = codes8<kChannels>(x, kChannels ? _mm256_loadu_ps(c.inverse32 + d) : row_inverse, c, d, out, fast);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + d), codes);
    eight(x, codes, d, fast);
    if (kChannels) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(c.base + d),
                          _mm256_min_epi32(codes, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c.base + d))));
      if (out)
        for (int k = 0; k < 8; ++k) c.out_of_range[d + k] |= (out >> k) & 1;
    } else {
      row_base = _mm256_min_epi32(row_base, codes);
      row_out |= out;
    }
  }
  if (!kChannels) {
    c.base[0] = std::min(c.base[0], min8(row_base));
    c.out_of_range[0] |= row_out != 0;
  }
  for (; d < n; ++d) q[d] = quantize_one(c, d * c.stride, load_element<T>(row, d));
}

// A value row's codes (stride 0), every eight in float32 lanes whatever
// they hold, and whether all were fine (nearest8), asked once at the end;
// false: nothing in c is changed, and quantize() does the row again. The
// float64 way is needed about once in 10^5 elements (and at ties, which
// half-precision data with a power-of-two step meets more often).
template <DType T>
bool quantize_row_fast(const void* row, const RowCoder& c, int32_t* q, size_t n) {
  const __m256 inverse = _mm256_set1_ps(c.inverse32[0]);
  __m256i row_base = _mm256_set1_epi32(INT32_MAX);
  __m256 all_fine = normal8(inverse);
  size_t d = 0;
#pragma GCC unroll 4
  for (; d + 8 <= n; d += 8) {
    __m256 fine;
    const __m256i codes = _mm256_cvtps_epi32(nearest8(load8<T>(row, d), inverse, fine));
    all_fine = _mm256_and_ps(all_fine, fine);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + d), codes);
    row_base = _mm256_min_epi32(row_base, codes);
  }
  if (!all8(all_fine)) return false;
  c.base[0] = std::min(c.base[0], min8(row_base));
  for (; d < n; ++d) q[d] = quantize_one(c, 0, load_element<T>(row, d));
  return true;
}

// Keys' codes over `count` token rows, as extent_channels: reciprocals and
// code minima of 16 channels in registers down every row. Whether a row's
// sixteen codes were all fine (nearest8) is asked once, and where not, the
// two eights are done again by codes8.
template <DType T>
void quantize_channels(const uint8_t* rows, size_t count, const RowCoder& c, int32_t* q, size_t n) {
  const size_t bytes = n * dtype_size(T);
  size_t d = 0;
  auto block = [&](auto vectors) {
    constexpr int kV = decltype(vectors)::value;
    __m256 inverse[kV], normal = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    __m256i base[kV];
    for (int j = 0; j < kV; ++j) {
      inverse[j] = _mm256_loadu_ps(c.inverse32 + d + 8 * j);
      base[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c.base + d + 8 * j));
      normal = _mm256_and_ps(normal, normal8(inverse[j]));
    }
    for (size_t k = 0; k < count; ++k) {
      __m256 x[kV];
      __m256i codes[kV];
      __m256 all_fine = normal;
#pragma GCC unroll 4
      for (int j = 0; j < kV; ++j) {
        __m256 fine;
        x[j] = load8<T>(rows + k * bytes, d + 8 * j);
        codes[j] = _mm256_cvtps_epi32(nearest8(x[j], inverse[j], fine));
        all_fine = _mm256_and_ps(all_fine, fine);
      }
      if (__builtin_expect(!all8(all_fine), 0))
        for (int j = 0; j < kV; ++j) {
          int out;
          bool fast;
          codes[j] = codes8<true>(x[j], inverse[j], c, d + 8 * j, out, fast);
          for (int b = 0; b < 8; ++b) c.out_of_range[d + 8 * j + b] |= (out >> b) & 1;
        }
#pragma GCC unroll 4
      for (int j = 0; j < kV; ++j) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + k * n + d + 8 * j), codes[j]);
        base[j] = _mm256_min_epi32(base[j], codes[j]);
      }
    }
    for (int j = 0; j < kV; ++j) _mm256_storeu_si256(reinterpret_cast<__m256i*>(c.base + d + 8 * j), base[j]);
  };
  for (; d + 16 <= n; d += 16) block(std::integral_constant<int, 2>());
  for (; d + 8 <= n; d += 8) block(std::integral_constant<int, 1>());
  for (; d < n; ++d)
    for (size_t k = 0; k < count; ++k) q[k * n + d] = quantize_one(c, d, load_element<T>(rows + k * bytes, d));
}

// maxError: quantize, and whether every code's value rounded to the dtype
// lies within max_error of the element (compared in float64).
//
// Float32 data, steps at most 2 max_error: where codes8 took eight codes
// the float32 way, their decoded values lie within max_error and are not
// checked. Its test puts x within step (1/2 - 0.75 |x / step| 2^-21) +
// step 2^-26 of q step, and rounding q step to float32 moves it by at most
// 2^-24 (|x| + step / 2): inside the bound once |x| >= 0.3 max_error, and
// below that q is 0. (A throwaway check of 4 * 10^8 float32 values around
// half-steps, bounds 2^-100 to 2^100, found none outside; the self-test
// holds the row's answer to the element-wise check.) Bounds far from 1,
// where float32 values or reciprocals stop being normal numbers, are
// checked as before.
template <DType T, bool kChannels>
bool quantize_within(const void* row, const RowCoder& c, int32_t* q, double max_error, size_t n) {
  const __m256d magnitude = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffll));
  const __m256d bound = _mm256_set1_pd(max_error), twice = _mm256_set1_pd(2 * max_error);
  __m256d ok = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
  const bool trust_fast = T == DType::F32 && max_error >= 0x1p-100 && max_error <= 0x1p100 && (kChannels || c.step[0] <= 2 * max_error);
  auto steps_within = [&](size_t d) {
    return !kChannels || _mm256_movemask_pd(_mm256_and_pd(_mm256_cmp_pd(step4(c.step, true, d), twice, _CMP_LE_OQ),
                                                          _mm256_cmp_pd(step4(c.step, true, d + 4), twice, _CMP_LE_OQ))) == 0xF;
  };
  quantize<T, kChannels>(row, c, q, n, [&](__m256 x, __m256i codes, size_t d, bool fast) {
    if (trust_fast && fast && steps_within(d)) return;
    const __m256 y = as_float8<T>(decoded8<T>(codes, step4(c.step, kChannels, d), step4(c.step, kChannels, d + 4)));
    const __m256d e0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(y)), _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
    const __m256d e1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(y, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
    ok = _mm256_and_pd(ok, _mm256_and_pd(_mm256_cmp_pd(_mm256_and_pd(e0, magnitude), bound, _CMP_LE_OQ),
                                         _mm256_cmp_pd(_mm256_and_pd(e1, magnitude), bound, _CMP_LE_OQ)));
  });
  bool all = _mm256_movemask_pd(ok) == 0xf;
  for (size_t d = n / 8 * 8; d < n; ++d)
    all &= std::fabs(rounded_to<T>(static_cast<double>(q[d]) * c.step[d * c.stride]) - load_element<T>(row, d)) <= max_error;
  return all;
}

template <class F>
void by_dtype(DType t, F&& f) {
  if (t == DType::F32) f(std::integral_constant<DType, DType::F32>());
  else if (t == DType::F16) f(std::integral_constant<DType, DType::F16>());
  else f(std::integral_constant<DType, DType::BF16>());
}

}  // namespace

void extent_rows_avx2(DType t, const void* rows, size_t count, const RowExtent& e, size_t n) {
  by_dtype(t, [&](auto T) {
    constexpr DType D = decltype(T)::value;
    const uint8_t* row = static_cast<const uint8_t*>(rows);
    const size_t bytes = n * dtype_size(D);
    if (e.stride)
      extent_channels<D>(row, count, e, n);
    else
      for (size_t k = 0; k < count; ++k) extent_row<D>(row + k * bytes, row_view(e, k), n);
  });
}

void quantize_rows_avx2(DType t, const void* rows, size_t count, const RowCoder& c, int32_t* q, size_t n) {
  by_dtype(t, [&](auto T) {
    constexpr DType D = decltype(T)::value;
    const uint8_t* row = static_cast<const uint8_t*>(rows);
    const size_t bytes = n * dtype_size(D);
    if (c.stride)
      quantize_channels<D>(row, count, c, q, n);
    else
      for (size_t k = 0; k < count; ++k) {
        const RowCoder one = row_view(c, k);
        if (!quantize_row_fast<D>(row + k * bytes, one, q + k * n, n)) quantize<D, false>(row + k * bytes, one, q + k * n, n, [](__m256, __m256i, size_t, bool) {});
      }
  });
}

bool quantize_row_within_avx2(DType t, const void* row, const RowCoder& c, int32_t* q, double max_error, size_t n) {
  bool ok = false;
  by_dtype(t, [&](auto T) {
    constexpr DType D = decltype(T)::value;
    ok = c.stride ? quantize_within<D, true>(row, c, q, max_error, n) : quantize_within<D, false>(row, c, q, max_error, n);
  });
  return ok;
}

namespace {

// Four chains in the four lanes, eight elements (two fours) at a time. The
// empty asm holds each square apart: this unit is compiled with FMA, and a
// multiply-add fused into one rounding would differ from the portable
// path's two.
template <DType T>
double squared_error(const void* decoded, const void* row, const uint8_t* skip, size_t n) {
  __m256d chains = _mm256_setzero_pd();
  auto add_four = [&](__m128 x4, __m128 y4, size_t at) {
    const __m256d e = _mm256_sub_pd(_mm256_cvtps_pd(y4), _mm256_cvtps_pd(x4));
    __m256d square = _mm256_mul_pd(e, e);
    asm("" : "+x"(square));
    if (skip) {  // lanes whose skip byte is set: 0 (their square may be NaN)
      uint32_t four;
      std::memcpy(&four, skip + at, 4);
      const __m256i kept = _mm256_cmpeq_epi64(_mm256_cvtepu8_epi64(_mm_cvtsi32_si128(static_cast<int>(four))), _mm256_setzero_si256());
      square = _mm256_and_pd(square, _mm256_castsi256_pd(kept));
    }
    chains = _mm256_add_pd(chains, square);
  };
  size_t d = 0;
  for (; d + 8 <= n; d += 8) {
    const __m256 x = load8<T>(row, d), y = load8<T>(decoded, d);
    add_four(_mm256_castps256_ps128(x), _mm256_castps256_ps128(y), d);
    add_four(_mm256_extractf128_ps(x, 1), _mm256_extractf128_ps(y, 1), d + 4);
  }
  alignas(32) double c[4];
  _mm256_store_pd(c, chains);
  for (; d + 4 <= n; d += 4)
    for (int k = 0; k < 4; ++k) c[k] += squared_one(T, decoded, row, skip, d + k);
  for (; d < n; ++d) c[0] += squared_one(T, decoded, row, skip, d);
  return (c[0] + c[1]) + (c[2] + c[3]);
}

}  // namespace

double row_squared_error_avx2(DType t, const void* decoded, const void* row, const uint8_t* skip, size_t n) {
  double sum = 0;
  by_dtype(t, [&](auto T) { sum = squared_error<decltype(T)::value>(decoded, row, skip, n); });
  return sum;
}

bool codes_row_avx2(const uint8_t* z, const RowSources& s, int32_t* q, size_t n) {
  auto load = [](const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); };
  const __m256i one = _mm256_set1_epi32(1), low = _mm256_set1_epi32(static_cast<int32_t>(-kMaxCode)),
                high = _mm256_set1_epi32(static_cast<int32_t>(kMaxCode));
  __m256i out_of_range = _mm256_setzero_si256();
  size_t d = 0;
  for (; d + 8 <= n; d += 8) {
    const __m256i symbols = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(z + d)));
    const __m256i residual = _mm256_xor_si256(_mm256_srli_epi32(symbols, 1), _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_and_si256(symbols, one)));
    const __m256i prediction = _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(load(s.base + d), load(s.use_base + d)),
                                                                _mm256_and_si256(load(s.previous + d), load(s.use_previous + d))),
                                               _mm256_and_si256(load(s.anchor + d), load(s.use_anchor + d)));
    const __m256i v = _mm256_add_epi32(residual, prediction);
    out_of_range = _mm256_or_si256(out_of_range, _mm256_or_si256(_mm256_cmpgt_epi32(v, _mm256_sub_epi32(high, one)),
                                                                 _mm256_cmpgt_epi32(_mm256_add_epi32(low, one), v)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + d), v);
  }
  bool ok = _mm256_testz_si256(out_of_range, out_of_range);
  for (; d < n; ++d) {
    q[d] = code_of(z, s, d);
    ok &= q[d] > -kMaxCode && q[d] < kMaxCode;
  }
  return ok;
}

void dequantize_row_avx2(DType t, const int32_t* q, const double* step, size_t stride, void* out, size_t n) {
  by_dtype(t, [&](auto T) { dequantize<decltype(T)::value>(q, step, stride, out, n); });
}

namespace {
// Eight offsets qr[at..] - their bases (a base per channel, stride 1, or
// the row's one, row_base), also ORed into `any`.
inline __m256i offsets8(const int32_t* qr, const int32_t* br, size_t stride, __m256i row_base, size_t at, __m256i& any) {
  const __m256i b = stride ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(br + at)) : row_base;
  const __m256i v = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qr + at)), b);
  any = _mm256_or_si256(any, v);
  return v;
}
}  // namespace

uint32_t offsets_or_avx2(const int32_t* q, const int32_t* base, size_t stride, size_t n, size_t count) {
  __m256i any = _mm256_setzero_si256();
  uint32_t rest = 0;
  for (size_t r = 0; r < count; ++r) {
    const int32_t* qr = q + r * n;
    const int32_t* br = stride ? base : base + r;
    const __m256i row_base = _mm256_set1_epi32(br[0]);
    size_t d = 0;
    for (; d + 8 <= n; d += 8) offsets8(qr, br, stride, row_base, d, any);
    for (; d < n; ++d) rest |= static_cast<uint32_t>(qr[d] - br[d * stride]);
  }
  return or8(any) | rest;
}

// Widths 2, 4 and 8 (bits modes 2, 4 and 8): 32 offsets at a time (or the
// first 16 of them, kHalf) narrowed to bytes with unsigned saturation (an
// offset that saturates has bits above `width`, which the returned OR
// shows), then neighbours summed into one field by multiply-adds: byte
// pairs as b0 + 16 b1 (width 4); as b0 + 4 b1, then those pairs as
// p0 + 16 p1 (width 2).
// Widths 9-16 (maxError's usual ones): sixteen offsets at a time, joined
// in pairs and fours in 64-bit lanes, then eights in 128-bit lanes (8 *
// width bits: `width` whole bytes), each eight stored by one 16-byte write
// at its byte. A write reaches up to 7 bytes past its sixteen, into what
// the next sixteen (or the next row) writes; so the last row stops 24
// offsets short of its end, and the portable packer does every row's rest.
uint32_t pack_offsets_rows_avx2(const int32_t* q, const int32_t* base, size_t stride, uint32_t width, uint8_t* out, size_t n, size_t count) {
  const size_t row_bytes = packed_row_bytes(n, width);
  __m256i any = _mm256_setzero_si256();
  uint32_t rest = 0;
  for (size_t r = 0; r < count; ++r) {
    const int32_t* qr = q + r * n;
    const int32_t* br = stride ? base : base + r;
    uint8_t* o = out + r * row_bytes;
    const __m256i row_base = _mm256_set1_epi32(br[0]);
    auto offsets = [&](size_t at) { return offsets8(qr, br, stride, row_base, at, any); };
    size_t d = 0;
    if (width == 2 || width == 4 || width == 8) {
      auto pack = [&](size_t at, auto half) {
        constexpr bool kHalf = decltype(half)::value;
        const __m256i zero = _mm256_setzero_si256();
        const __m256i w0 = _mm256_packus_epi32(offsets(at), offsets(at + 8));
        const __m256i w1 = kHalf ? zero : _mm256_packus_epi32(offsets(at + 16), offsets(at + 24));
        // Bytes in order: the packs interleave 128-bit lanes four offsets at a time.
        const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(w0, w1), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        uint8_t* to = o + at / 8 * width;
        if (width == 8) {
          if (kHalf) _mm_storeu_si128(reinterpret_cast<__m128i*>(to), _mm256_castsi256_si128(bytes));
          else _mm256_storeu_si256(reinterpret_cast<__m256i*>(to), bytes);
        } else if (width == 4) {
          const __m256i pairs = _mm256_maddubs_epi16(bytes, _mm256_set1_epi16(0x1001));
          const __m128i packed = _mm_packus_epi16(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
          if (kHalf) _mm_storel_epi64(reinterpret_cast<__m128i*>(to), packed);
          else _mm_storeu_si128(reinterpret_cast<__m128i*>(to), packed);
        } else {
          const __m256i fours = _mm256_madd_epi16(_mm256_maddubs_epi16(bytes, _mm256_set1_epi16(0x0401)), _mm256_set1_epi32(0x00100001));
          const __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(fours), _mm256_extracti128_si256(fours, 1));
          const __m128i packed = _mm_packus_epi16(words, words);
          if (kHalf) {
            const int four = _mm_cvtsi128_si32(packed);
            std::memcpy(to, &four, 4);
          } else {
            _mm_storel_epi64(reinterpret_cast<__m128i*>(to), packed);
          }
        }
      };
      for (; d + 32 <= n; d += 32) pack(d, std::false_type());
      if (d + 16 <= n) pack(d, std::true_type()), d += 16;
    } else if (width > 8 && width <= 16) {
      const __m128i pair_shift = _mm_cvtsi32_si128(static_cast<int>(width)), four_shift = _mm_cvtsi32_si128(static_cast<int>(2 * width)),
                    eight_shift = _mm_cvtsi32_si128(static_cast<int>(4 * width)), eight_carry = _mm_cvtsi32_si128(static_cast<int>(64 - 4 * width));
      auto fours = [&](size_t at) {  // 64-bit lanes 0 and 2: offsets at..at+3 and at+4..at+7
        const __m256i v = offsets(at);
        const __m256i pairs = _mm256_or_si256(_mm256_blend_epi32(v, _mm256_setzero_si256(), 0xAA), _mm256_sll_epi64(_mm256_srli_epi64(v, 32), pair_shift));
        return _mm256_or_si256(pairs, _mm256_sll_epi64(_mm256_bsrli_epi128(pairs, 8), four_shift));
      };
      const size_t stop = r + 1 == count ? 24 : 16;
      for (; d + stop <= n; d += 16) {
        const __m256i f = _mm256_permute4x64_epi64(_mm256_unpacklo_epi64(fours(d), fours(d + 8)), 0xD8);  // the four fours in order
        // Each 128-bit lane: its low four, and its high four shifted up by 4 * width bits.
        const __m256i low = _mm256_or_si256(f, _mm256_bsrli_epi128(_mm256_sll_epi64(f, eight_shift), 8));
        const __m256i eights = _mm256_blend_epi32(low, _mm256_srl_epi64(f, eight_carry), 0xCC);
        uint8_t* to = o + d / 8 * width;
        _mm_storeu_si128(reinterpret_cast<__m128i*>(to), _mm256_castsi256_si128(eights));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(to + width), _mm256_extracti128_si256(eights, 1));
      }
    }
    rest |= pack_offsets_from(qr, br, stride, width, o, d, n);  // the rest, and other widths
  }
  return or8(any) | rest;
}

}  // namespace llmk::kv
#endif
