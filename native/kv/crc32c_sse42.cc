// crc32c with the SSE4.2 crc32 instruction, 8 bytes a step. Compiled in the
// AVX2 unit (whose flags imply SSE4.2); only called when cpu_path() says AVX2.
//
// The instruction has a latency of three cycles and a throughput of one,
// so long inputs go as three streams at once, kBlock bytes each a round:
// the second and third start from 0, and the state after A|B is the state
// after A moved past len(B) zero bytes, XOR B's own — a linear map of the
// 32-bit state, done by four tables. ~2.5x the single chain (7 % of a
// maxError `entropy: false` encode went to its checksums).
#include "bytes.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <nmmintrin.h>

namespace llmk::kv {

namespace {

constexpr size_t kBlock = 1024;

inline uint64_t load8(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// The state after kBlock zero bytes, from a state c (XOR of the four
// tables' entries for c's four bytes).
struct PastZeros {
  uint32_t t[4][256];
  PastZeros() {
    for (uint32_t byte = 0; byte < 4; ++byte)
      for (uint32_t v = 0; v < 256; ++v) {
        uint64_t c = v << (8 * byte);
        for (size_t k = 0; k < kBlock; k += 8) c = _mm_crc32_u64(c, 0);
        t[byte][v] = static_cast<uint32_t>(c);
      }
  }
  uint64_t operator()(uint64_t c) const { return t[0][c & 255] ^ t[1][c >> 8 & 255] ^ t[2][c >> 16 & 255] ^ t[3][c >> 24 & 255]; }
};

}  // namespace

uint32_t crc32c_sse42(const uint8_t* p, size_t n, uint32_t crc) {
  uint64_t c = ~crc;
  if (n >= 3 * kBlock) {
    static const PastZeros past_zeros;
    for (; n >= 3 * kBlock; p += 3 * kBlock, n -= 3 * kBlock) {
      uint64_t c1 = 0, c2 = 0;
      for (size_t i = 0; i < kBlock; i += 8) {
        c = _mm_crc32_u64(c, load8(p + i));
        c1 = _mm_crc32_u64(c1, load8(p + kBlock + i));
        c2 = _mm_crc32_u64(c2, load8(p + 2 * kBlock + i));
      }
      c = past_zeros(past_zeros(c) ^ c1) ^ c2;
    }
  }
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
