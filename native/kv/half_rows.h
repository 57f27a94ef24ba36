// Float32 to f16 for whole rows: the F16C instruction on the AVX2 path, the
// bit-exact scalar rounding elsewhere. Inputs are float32 bits rounded to odd
// (to_float_odd), so both give float64 rounded once to f16.
#pragma once
#include <cstddef>
#include <cstdint>

namespace llmk::kv {

void f16_from_odd_floats(const uint32_t* in, uint16_t* out, size_t n);
void f16_from_odd_floats_f16c(const uint32_t* in, uint16_t* out, size_t n);  // half_rows_f16c.cc

}  // namespace llmk::kv
