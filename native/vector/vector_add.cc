#include "vector_add.h"

#include <algorithm>

#include "../common/cpu.h"
#include "../common/thread_pool.h"

namespace llmk {

void vector_add_reference(const float* a, const float* b, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void vector_add(const float* a, const float* b, float* out, size_t n, size_t threads,
                const std::atomic<bool>* cancel) {
  const bool avx2 = cpu_path() == CpuPath::Avx2;
  const size_t chunks = (n + kVectorChunk - 1) / kVectorChunk;
  run_parallel(
      chunks, threads,
      [&](size_t c) {
        size_t begin = c * kVectorChunk, len = std::min(kVectorChunk, n - begin);
        if (avx2)
          vector_add_avx2(a + begin, b + begin, out + begin, len);
        else
          vector_add_reference(a + begin, b + begin, out + begin, len);
      },
      cancel);
}

}  // namespace llmk
