// Exact conversions between float64 and the three cache dtypes, shared by the
// CPU codec and the CUDA kernels (so both round identically): f16 and bf16 are
// raw 16-bit patterns, and a float64 is rounded to them in one step (round to
// nearest even, overflow to infinity, subnormals kept), never through float32,
// which would round twice.
#pragma once
#include <math.h>

#include <cstdint>
#include <cstring>

#ifdef __CUDACC__
#define LLMK_HD __host__ __device__ inline
#else
#define LLMK_HD inline
#endif

namespace llmk::kv {

enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2 };

// The bits of a value reread as another type of the same size (std::bit_cast, C++20).
template <class To, class From>
LLMK_HD To bits_as(From v) {
  static_assert(sizeof(To) == sizeof(From), "same size");
  To t;
  memcpy(&t, &v, sizeof(To));
  return t;
}

// A binary format with `E` exponent bits and `M` stored mantissa bits, as a
// float64 (exact: both 16-bit formats fit).
template <int E, int M>
LLMK_HD double small_to_double(uint32_t h) {
  const uint32_t sign = (h >> (E + M)) & 1u, exp = (h >> M) & ((1u << E) - 1), man = h & ((1u << M) - 1);
  const int bias = (1 << (E - 1)) - 1;
  uint64_t out = static_cast<uint64_t>(sign) << 63;
  if (exp == (1u << E) - 1) {
    // Infinity or NaN; the NaN payload moves to the top of the float64 mantissa.
    out |= 0x7ffull << 52 | static_cast<uint64_t>(man) << (52 - M);
  } else if (exp != 0) {
    out |= static_cast<uint64_t>(exp - bias + 1023) << 52 | static_cast<uint64_t>(man) << (52 - M);
  } else if (man != 0) {
    // Subnormal: normalise (the value is man * 2^(1 - bias - M)).
    int shift = 0;
    uint32_t m = man;
    while (!(m & (1u << M))) {
      m <<= 1;
      ++shift;
    }
    out |= static_cast<uint64_t>(1 - bias - shift + 1023) << 52 | static_cast<uint64_t>(m & ((1u << M) - 1)) << (52 - M);
  }
  return bits_as<double>(out);
}

// Shifts right by `shift` (1..63) rounding to nearest, ties to even.
LLMK_HD uint64_t shift_round_even(uint64_t v, int shift) {
  const uint64_t q = v >> shift, rem = v & ((1ull << shift) - 1), half = 1ull << (shift - 1);
  return q + ((rem > half || (rem == half && (q & 1))) ? 1 : 0);
}

template <int E, int M>
LLMK_HD uint32_t double_to_small(double d) {
  const uint64_t b = bits_as<uint64_t>(d);
  const uint32_t sign = static_cast<uint32_t>(b >> 63) << (E + M);
  const int exp = static_cast<int>((b >> 52) & 0x7ff);
  const uint64_t man = b & ((1ull << 52) - 1);
  const uint32_t inf = ((1u << E) - 1) << M;
  if (exp == 0x7ff) {
    if (man == 0) return sign | inf;
    uint32_t payload = static_cast<uint32_t>(man >> (52 - M));
    return sign | inf | (payload ? payload : 1u << (M - 1));  // keep it a NaN
  }
  if (exp == 0) return sign;  // float64 subnormals are far below the smallest subnormal here
  const int bias = (1 << (E - 1)) - 1;
  const uint64_t sig = (1ull << 52) | man;
  const int te = exp - 1023 + bias;
  if (te >= 1) {
    uint64_t r = shift_round_even(sig, 52 - M);
    int e = te;
    if (r >> (M + 1)) {
      r >>= 1;
      ++e;
    }
    if (e >= (1 << E) - 1) return sign | inf;
    return sign | static_cast<uint32_t>(e) << M | static_cast<uint32_t>(r & ((1ull << M) - 1));
  }
  const int shift = 52 - M + (1 - te);
  if (shift > 63) return sign;
  // Rounding may carry into the smallest normal, which this encodes correctly.
  return sign | static_cast<uint32_t>(shift_round_even(sig, shift));
}

LLMK_HD double f16_to_double(uint16_t h) { return small_to_double<5, 10>(h); }
LLMK_HD double bf16_to_double(uint16_t h) { return small_to_double<8, 7>(h); }
// The fast path: a finite float64 to float32 rounded to odd (truncate, then
// set the last bit when anything was cut), which float32 -> 16-bit rounding to
// nearest even turns into the correctly rounded result, as float32 keeps more
// than two extra bits over both formats. Infinities and NaN take the exact
// path above; the self-test checks both paths agree.
LLMK_HD uint32_t to_float_odd(double d) {
  const float f = static_cast<float>(d);
  uint32_t u = bits_as<uint32_t>(f);
  const double back = f;
  // Branch-free (which way the rounding went is data, not a pattern): step back
  // toward zero when it rounded away, then mark inexact results odd.
  const uint32_t inexact = back != d;
  u -= inexact & static_cast<uint32_t>(fabs(back) > fabs(d));
  return u | inexact;
}

LLMK_HD uint16_t double_to_bf16(double d) {
  if (!(fabs(d) <= 1.7976931348623157e308)) return static_cast<uint16_t>(double_to_small<8, 7>(d));
  const uint32_t u = to_float_odd(d);  // never infinite: overflow stops at the largest float, odd
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// float32 bits already rounded to odd (to_float_odd) to f16, to nearest even.
LLMK_HD uint16_t odd_float_to_f16(uint32_t u) {
  const uint32_t sign = (u >> 16) & 0x8000u;
  u &= 0x7fffffffu;
  // Both roundings, then a select: zeros and small values are common in
  // quantized data, and a branch between the two paths would mispredict.
  // Below the smallest normal f16, adding 0.5 (2^-1) aligns the f16 subnormal
  // grid with float32's last bit and the FPU rounds to nearest even.
  const uint32_t magic = 126u << 23;
  const uint32_t subnormal = bits_as<uint32_t>(bits_as<float>(u) + bits_as<float>(magic)) - magic;
  const uint32_t normal = (u + 0xc8000fffu + ((u >> 13) & 1u)) >> 13;
  uint32_t r = u < 0x38800000u ? subnormal : normal;
  r = u >= 0x47800000u ? 0x7c00u : r;  // >= 65536: infinity
  return static_cast<uint16_t>(sign | r);
}

LLMK_HD uint16_t double_to_f16(double d) {
  if (!(fabs(d) <= 1.7976931348623157e308)) return static_cast<uint16_t>(double_to_small<5, 10>(d));
  return odd_float_to_f16(to_float_odd(d));
}

// Element i of a tile as float64; a float64 stored rounded once to the dtype;
// a float64 as the dtype would hold it. The templates serve loops that fix the
// dtype once; the others take it as an argument.
template <DType T>
LLMK_HD double load_element(const void* data, size_t i) {
  if constexpr (T == DType::F32) return static_cast<const float*>(data)[i];
  else if constexpr (T == DType::F16) return f16_to_double(static_cast<const uint16_t*>(data)[i]);
  else return bf16_to_double(static_cast<const uint16_t*>(data)[i]);
}
template <DType T>
LLMK_HD void store_element(void* data, size_t i, double v) {
  if constexpr (T == DType::F32) static_cast<float*>(data)[i] = static_cast<float>(v);
  else if constexpr (T == DType::F16) static_cast<uint16_t*>(data)[i] = double_to_f16(v);
  else static_cast<uint16_t*>(data)[i] = double_to_bf16(v);
}
template <DType T>
LLMK_HD double rounded_to(double v) {
  if constexpr (T == DType::F32) return static_cast<float>(v);
  else if constexpr (T == DType::F16) return f16_to_double(double_to_f16(v));
  else return bf16_to_double(double_to_bf16(v));
}

LLMK_HD double load_element(const void* data, DType t, size_t i) {
  return t == DType::F32 ? load_element<DType::F32>(data, i)
         : t == DType::F16 ? load_element<DType::F16>(data, i)
                           : load_element<DType::BF16>(data, i);
}
LLMK_HD void store_element(void* data, DType t, size_t i, double v) {
  if (t == DType::F32) store_element<DType::F32>(data, i, v);
  else if (t == DType::F16) store_element<DType::F16>(data, i, v);
  else store_element<DType::BF16>(data, i, v);
}
LLMK_HD double rounded_to(DType t, double v) {
  return t == DType::F32 ? rounded_to<DType::F32>(v) : t == DType::F16 ? rounded_to<DType::F16>(v) : rounded_to<DType::BF16>(v);
}

// The quantizer step of `bits` mode: 2^(index / 16), from a fixed table so
// that every platform computes the same step.
constexpr int kStepIndexMin = -2048, kStepIndexMax = 2047;
#define LLMK_STEP_FRACTIONS                                                                                     \
  {0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,                      \
   0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,                      \
   0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,                      \
   0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0}
LLMK_HD double step_for_index(int index) {
  static constexpr double frac[16] = LLMK_STEP_FRACTIONS;
  const int whole = index >> 4;  // floor division, also for negative indices
  // 2^whole as bits: |whole| <= 128 stays within the float64 normal range.
  return frac[index & 15] * bits_as<double>(static_cast<uint64_t>(whole + 1023) << 52);
}

// 1 / step_for_index(index) as the division rounds it, without dividing:
// the fractions' reciprocals rounded once, times 2^-whole (exact: every
// step's reciprocal is a normal float64).
LLMK_HD double inverse_step_for_index(int index) {
  static constexpr double inverse_frac[16] = {0x1.0000000000000p+0, 0x1.ea4afa2a490dap-1, 0x1.d5818dcfba487p-1, 0x1.c199bdd85529dp-1,
                                              0x1.ae89f995ad3aep-1, 0x1.9c49182a3f090p-1, 0x1.8ace5422aa0dbp-1, 0x1.7a11473eb0187p-1,
                                              0x1.6a09e667f3bccp-1, 0x1.5ab07dd485429p-1, 0x1.4bfdad5362a27p-1, 0x1.3dea64c123422p-1,
                                              0x1.306fe0a31b715p-1, 0x1.2387a6e756238p-1, 0x1.172b83c7d517bp-1, 0x1.0b5586cf9890fp-1};
  const int whole = index >> 4;
  return inverse_frac[index & 15] * bits_as<double>(static_cast<uint64_t>(1023 - whole) << 52);
}

// Round to nearest, ties to even, for |v| < 2^51: the FPU's default rounding
// does it, and it is the same on every IEEE platform (CUDA included).
LLMK_HD double round_even(double v) {
  const double big = 0x1.8p52;
  return (v + big) - big;
}

// The smallest step index whose step is >= d (a number > 0); false when even
// the largest is smaller. With d = m 2^E (1 <= m < 2) it is 16 E + k, k the
// count of table fractions below m: step 16 E + k is frac[k] 2^E >= d (or
// 2^(E + 1) for k = 16), and the step before it is below d. Exact, from the
// bits of d and comparisons with the table alone.
LLMK_HD bool step_index_for(double d, int* index) {
  const uint64_t b = bits_as<uint64_t>(d);
  const int E = static_cast<int>(b >> 52 & 0x7ff) - 1023;
  if (E < kStepIndexMin / 16) {  // below the smallest step (subnormals included)
    *index = kStepIndexMin;
    return true;
  }
  static constexpr double frac[16] = LLMK_STEP_FRACTIONS;
  const double m = bits_as<double>((b & ((uint64_t{1} << 52) - 1)) | uint64_t{1023} << 52);
  int k = 0;
  for (int j = 0; j < 16; ++j) k += frac[j] < m;
  const int e = 16 * E + k;
  *index = e > kStepIndexMax ? kStepIndexMax : e;
  return e <= kStepIndexMax;
}

// The step of `bits` mode for a row spanning [lo, hi]; false: store the row raw.
LLMK_HD bool bits_step(int bits, double lo, double hi, int* index) {
  double d = (hi - lo) / ((1 << bits) - 1);
  // A constant row: any step small against its value reproduces it closely.
  if (!(d > 0)) d = fmax(fabs(lo) * 0x1p-24, 0x1p-120);
  return step_index_for(d, index);
}

}  // namespace llmk::kv
