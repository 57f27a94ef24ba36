// Compiled with -mavx2 -mfma; only called after cpu_path() says AVX2.
#include <immintrin.h>

#include "vector_add.h"

namespace llmk {

void vector_add_avx2(const float* a, const float* b, float* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

}  // namespace llmk
