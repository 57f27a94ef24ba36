// Run-time choice of the SIMD code path. Prebuilt binaries must run on any
// x86-64, so AVX2/FMA kernels live in their own translation units (compiled
// with -mavx2 -mfma -mf16c) and are only called when the CPU reports all three
// (every AVX2 CPU has F16C).
#pragma once

// A function compiled for AVX2 within a portable translation unit: for code
// written once that a plain loop vectorises, called only where cpu_path() is
// Avx2. Functions it inlines are compiled for AVX2 in it, while their own
// out-of-line copies stay portable (a separate -mavx2 unit could lend its
// copies of shared inline functions to portable callers). Without FMA, so
// that no a * b + c is fused and rounded otherwise than in the portable copy.
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LLMK_AVX2_TARGET __attribute__((target("avx2")))
#else
#define LLMK_AVX2_TARGET
#endif

namespace llmk {

enum class CpuPath { Scalar, Avx2 };

// The path in use: AVX2+FMA when the CPU has both, unless the environment
// variable LLM_KERNELS_SIMD=scalar forces the portable path (used by tests to
// compare both paths on one machine).
CpuPath cpu_path();
const char* cpu_path_name(CpuPath path);
bool cpu_has_avx2_fma();

}  // namespace llmk
