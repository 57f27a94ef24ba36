// Compiled in the AVX2 unit (with -mfma -mf16c); only called when cpu_path()
// says AVX2. Eight elements at a time. Codes: residual symbols widened and
// zigzag-decoded, plus the masked predictions. Values: codes to float64 (exact), times the
// step (one IEEE multiply, as the portable path), then to the dtype — float32
// directly; f16 and bf16 through float32 rounded to odd (to_float_odd, four
// lanes at once), which a final round to nearest even turns into the
// correctly rounded value.
#include "lossy_rows.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "float_bits.h"

namespace llmk::kv {

namespace {

// to_float_odd on four lanes: round to nearest, step back toward zero where
// that went away from zero, and mark inexact results odd.
inline __m128i float_odd4(__m256d x) {
  const __m128 f = _mm256_cvtpd_ps(x);
  const __m256d back = _mm256_cvtps_pd(f);
  const __m256d magnitude = _mm256_castsi256_pd(_mm256_set1_epi64x(0x7fffffffffffffffll));
  const __m256d inexact = _mm256_cmp_pd(back, x, _CMP_NEQ_OQ);
  const __m256d away = _mm256_and_pd(inexact, _mm256_cmp_pd(_mm256_and_pd(back, magnitude), _mm256_and_pd(x, magnitude), _CMP_GT_OQ));
  const __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  const __m128i inexact32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(inexact), low_halves));
  const __m128i away32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_castpd_si256(away), low_halves));
  const __m128i u = _mm_add_epi32(_mm_castps_si128(f), away32);  // away32 is -1 where it went away
  return _mm_or_si128(u, _mm_srli_epi32(inexact32, 31));
}

template <DType T>
void rows(const int32_t* q, const double* step, size_t stride, void* out, size_t n) {
  size_t d = 0;
  for (; d + 8 <= n; d += 8) {
    const __m256i codes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + d));
    const __m256d s0 = stride ? _mm256_loadu_pd(step + d) : _mm256_broadcast_sd(step);
    const __m256d s1 = stride ? _mm256_loadu_pd(step + d + 4) : s0;
    const __m256d x0 = _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(codes)), s0);
    const __m256d x1 = _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(codes, 1)), s1);
    if constexpr (T == DType::F32) {
      float* o = static_cast<float*>(out) + d;
      _mm_storeu_ps(o, _mm256_cvtpd_ps(x0));
      _mm_storeu_ps(o + 4, _mm256_cvtpd_ps(x1));
    } else {
      const __m256i odd = _mm256_set_m128i(float_odd4(x1), float_odd4(x0));
      __m128i halves;
      if constexpr (T == DType::F16) {
        halves = _mm256_cvtps_ph(_mm256_castsi256_ps(odd), _MM_FROUND_TO_NEAREST_INT);
      } else {
        // bf16: the top 16 bits, rounded to nearest even.
        const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(odd, 16), _mm256_set1_epi32(1));
        const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(odd, _mm256_set1_epi32(0x7fff)), lsb), 16);
        halves = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint16_t*>(out) + d), halves);
    }
  }
  for (; d < n; ++d) store_element<T>(out, d, static_cast<double>(q[d]) * step[d * stride]);
}

}  // namespace

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
  if (t == DType::F32) rows<DType::F32>(q, step, stride, out, n);
  else if (t == DType::F16) rows<DType::F16>(q, step, stride, out, n);
  else rows<DType::BF16>(q, step, stride, out, n);
}

}  // namespace llmk::kv
#endif
