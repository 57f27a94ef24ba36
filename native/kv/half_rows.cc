#include "half_rows.h"

#include "../common/cpu.h"
#include "float_bits.h"

namespace llmk::kv {

void f16_from_odd_floats(const uint32_t* in, uint16_t* out, size_t n) {
#if defined(__x86_64__) || defined(_M_X64)
  if (cpu_path() == CpuPath::Avx2) return f16_from_odd_floats_f16c(in, out, n);
#endif
  for (size_t i = 0; i < n; ++i) out[i] = odd_float_to_f16(in[i]);
}

}  // namespace llmk::kv
