#include "cpu.h"

#include <cstdlib>
#include <cstring>

namespace llmk {

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

CpuPath cpu_path() {
  static const CpuPath path = [] {
    const char* forced = std::getenv("LLM_KERNELS_SIMD");
    if (forced && std::strcmp(forced, "scalar") == 0) return CpuPath::Scalar;
    return cpu_has_avx2_fma() ? CpuPath::Avx2 : CpuPath::Scalar;
  }();
  return path;
}

const char* cpu_path_name(CpuPath path) { return path == CpuPath::Avx2 ? "avx2-fma" : "scalar"; }

}  // namespace llmk
