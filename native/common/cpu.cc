#include "cpu.h"

#include <cstdlib>
#include <cstring>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace llmk {

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // F16C from CPUID leaf 1 (ECX bit 29): clang (14, and Apple's) has no
  // "f16c" for __builtin_cpu_supports and refuses to compile it.
  unsigned eax, ebx, ecx = 0, edx;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
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
