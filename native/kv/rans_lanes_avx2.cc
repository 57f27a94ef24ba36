#include <immintrin.h>

#include "rans.h"
#include "rans_lanes.h"

namespace llmk::kv {

namespace {

// For each mask of lanes needing a word: lane k takes word number
// popcount(mask & ((1 << k) - 1)) of the group.
struct WordPicks {
  alignas(32) uint32_t pick[256][kLanes];
  WordPicks() {
    for (int m = 0; m < 256; ++m)
      for (int k = 0, taken = 0; k < kLanes; ++k) {
        pick[m][k] = static_cast<uint32_t>(taken);
        taken += m >> k & 1;
      }
  }
};

const WordPicks& word_picks() {
  static const WordPicks picks;
  return picks;
}

}  // namespace

size_t decode_lanes_avx2(uint32_t x_out[kLanes], const uint8_t*& q_io, const uint8_t* end, const uint32_t* table, uint8_t* out, size_t n) {
  constexpr int kVectors = kLanes / 8;
  const WordPicks& picks = word_picks();
  const uint8_t* q = q_io;
  // Independent vectors of states, so that their gathers (tens of cycles
  // on some cores) overlap.
  __m256i x[kVectors];
  for (int v = 0; v < kVectors; ++v) x[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x_out + 8 * v));
  const __m256i slot_mask = _mm256_set1_epi32(kProbScale - 1);
  const __m256i low12 = _mm256_set1_epi32(0xfff);
  const __m256i lower_bound = _mm256_set1_epi32(kLaneL);
  // The symbol byte of each lane to the low 4 bytes of each 128-bit half.
  const __m256i symbol_bytes = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                                0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  // Decodes eight symbols of the states x into o.
  auto decode8 = [&](__m256i& x, uint8_t* o) {
    const __m256i e = _mm256_i32gather_epi32(reinterpret_cast<const int*>(table), _mm256_and_si256(x, slot_mask), 4);
    const __m256i freq = _mm256_srli_epi32(e, 20);
    const __m256i bias = _mm256_and_si256(_mm256_srli_epi32(e, 8), low12);
    x = _mm256_add_epi32(_mm256_mullo_epi32(freq, _mm256_srli_epi32(x, kProbBits)), bias);
    const __m256i sym = _mm256_shuffle_epi8(e, symbol_bytes);
    const uint64_t eight = static_cast<uint32_t>(_mm256_cvtsi256_si32(sym)) |
                           static_cast<uint64_t>(static_cast<uint32_t>(_mm256_extract_epi32(sym, 4))) << 32;
    std::memcpy(o, &eight, 8);
  };
  // Gives the lanes of x below the bound the next words, in lane order.
  auto renormalize8 = [&](__m256i& x) {
    // States are below 2^31: a signed compare is exact.
    const __m256i need = _mm256_cmpgt_epi32(lower_bound, x);
    const unsigned mask = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(need)));
    const __m256i words = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
    const __m256i mine = _mm256_permutevar8x32_epi32(words, _mm256_load_si256(reinterpret_cast<const __m256i*>(picks.pick[mask])));
    x = _mm256_blendv_epi8(x, _mm256_or_si256(_mm256_slli_epi32(x, 16), mine), need);
    q += 2 * __builtin_popcount(mask);
  };
  size_t i = 0;
  for (; i + kLanes <= n && end - q >= 2 * kLanes; i += kLanes) {
    for (int v = 0; v < kVectors; ++v) decode8(x[v], out + i + 8 * v);
    for (int v = 0; v < kVectors; ++v) renormalize8(x[v]);
  }
  for (int v = 0; v < kVectors; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(x_out + 8 * v), x[v]);
  q_io = q;
  return i;
}

}  // namespace llmk::kv
