// Run-time choice of the SIMD code path. Prebuilt binaries must run on any
// x86-64, so AVX2/FMA kernels live in their own translation units (compiled
// with -mavx2 -mfma -mf16c) and are only called when the CPU reports all three
// (every AVX2 CPU has F16C).
#pragma once

namespace llmk {

enum class CpuPath { Scalar, Avx2 };

// The path in use: AVX2+FMA when the CPU has both, unless the environment
// variable LLM_KERNELS_SIMD=scalar forces the portable path (used by tests to
// compare both paths on one machine).
CpuPath cpu_path();
const char* cpu_path_name(CpuPath path);
bool cpu_has_avx2_fma();

}  // namespace llmk
