// The foundation's proof kernel: out = a + b over float32, chunked over the
// thread pool, with an AVX2 path chosen at run time and a CUDA twin. IEEE
// addition is correctly rounded, so every path gives bit-identical results.
#pragma once
#include <atomic>
#include <cstddef>

namespace llmk {

// Reference: one element at a time, nothing clever.
void vector_add_reference(const float* a, const float* b, float* out, size_t n);

// The fast path: chunks of kVectorChunk elements spread over `threads`
// threads; the cancel flag is checked between chunks.
void vector_add(const float* a, const float* b, float* out, size_t n, size_t threads,
                const std::atomic<bool>* cancel = nullptr);

constexpr size_t kVectorChunk = 1 << 16;

// AVX2 body for one chunk (vector_add_avx2.cc, compiled with -mavx2).
void vector_add_avx2(const float* a, const float* b, float* out, size_t n);

}  // namespace llmk
