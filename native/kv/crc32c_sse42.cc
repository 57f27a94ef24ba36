// crc32c with the SSE4.2 crc32 instruction, 8 bytes a step. Compiled in the
// AVX2 unit (whose flags imply SSE4.2); only called when cpu_path() says AVX2.
#include "bytes.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <nmmintrin.h>

namespace llmk::kv {

uint32_t crc32c_sse42(const uint8_t* p, size_t n, uint32_t crc) {
  uint64_t c = ~crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  for (; n; ++p, --n) c32 = _mm_crc32_u8(c32, *p);
  return ~c32;
}

}  // namespace llmk::kv
#endif
