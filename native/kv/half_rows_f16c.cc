// Compiled in the AVX2 unit (with -mf16c); only called when cpu_path() says AVX2.
#include "half_rows.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include "float_bits.h"

namespace llmk::kv {

void f16_from_odd_floats_f16c(const uint32_t* in, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) out[i] = odd_float_to_f16(in[i]);
}

}  // namespace llmk::kv
#endif
