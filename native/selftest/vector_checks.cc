#include <random>

#include "../common/thread_pool.h"
#include "../vector/vector_add.h"
#include "checks.h"

namespace llmk::selftest {

void check_vector_add(Context& ctx) {
  std::mt19937 rng(12345);
  std::normal_distribution<float> dist(0.f, 100.f);
  for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(1000), size_t(3 * kVectorChunk + 5)}) {
    std::vector<float> a(n), b(n), ref(n), out(n);
    for (size_t i = 0; i < n; ++i) a[i] = dist(rng), b[i] = dist(rng);
    vector_add_reference(a.data(), b.data(), ref.data(), n);
    for (size_t threads : {size_t(1), size_t(2), size_t(4)}) {
      vector_add(a.data(), b.data(), out.data(), n, threads);
      expect(same_bits(out, ref), "CPU vector_add differs from reference");
    }
    if (ctx.has_cuda()) {
      std::fill(out.begin(), out.end(), 0.f);
      cuda::vector_add(a.data(), b.data(), out.data(), n);
      expect(same_bits(out, ref), "CUDA vector_add differs from CPU");
    }
  }
  if (!ctx.timings) return;
  const size_t n = size_t(1) << 24;
  std::vector<float> a(n, 1.f), b(n, 2.f), out(n);
  const double gb = 3.0 * n * sizeof(float) / 1e9;
  for (size_t threads : {size_t(1), hardware_threads()}) {
    double t = time_median(5, [&] { vector_add(a.data(), b.data(), out.data(), n, threads); });
    std::printf("  vector_add cpu %zu thread(s): %.2f ms, %.1f GB/s\n", threads, t * 1e3, gb / t);
  }
  if (ctx.has_cuda()) {
    double t = time_median(5, [&] { cuda::vector_add(a.data(), b.data(), out.data(), n); });
    std::printf("  vector_add cuda incl. transfers: %.2f ms, %.1f GB/s\n", t * 1e3, gb / t);
  }
}

}  // namespace llmk::selftest
