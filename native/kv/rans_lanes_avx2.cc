#include <immintrin.h>

#include <cstring>

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

// For each mask of eight lanes giving a word: the byte shuffle that packs
// their words, in lane order, at the top of 16 bytes (so that a store that
// ends at the cursor writes nothing above it).
struct WordPacks {
  alignas(16) uint8_t shuffle[256][16];
  WordPacks() {
    for (int m = 0; m < 256; ++m) {
      const int count = __builtin_popcount(static_cast<unsigned>(m));
      std::memset(shuffle[m], 0x80, 16);
      for (int k = 0, at = 16 - 2 * count; k < 8; ++k)
        if (m >> k & 1) {
          shuffle[m][at++] = static_cast<uint8_t>(2 * k);
          shuffle[m][at++] = static_cast<uint8_t>(2 * k + 1);
        }
    }
  }
};

const WordPacks& word_packs() {
  static const WordPacks packs;
  return packs;
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

void encode_lanes_avx2(uint32_t x_io[kLanes], uint8_t*& p_io, const uint8_t* sym, size_t groups, const uint32_t packed[256],
                       const uint32_t rcp[256]) {
  constexpr int kVectors = kLanes / 8;
  const WordPacks& packs = word_packs();
  uint8_t* p = p_io;
  __m256i x[kVectors];
  for (int v = 0; v < kVectors; ++v) x[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x_io + 8 * v));
  const __m256i low13 = _mm256_set1_epi32((1 << kPackedFreqShift) - 1);
  const __m256i scale = _mm256_set1_epi32(kProbScale);
  const __m256i word_shift = _mm256_set1_epi32(16);
  // The low 16 bits of each lane to the low 8 bytes of each 128-bit half.
  const __m256i low_words = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,
                                             0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
  // The constants of symbols 0-15 in registers: a group of 32 symbols all
  // below 16 (nearly every group of `bits` residuals) looks them up by two
  // permutes and a blend instead of a gather, several times slower here.
  const __m256i packed_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(packed));
  const __m256i packed_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(packed + 8));
  const __m256i rcp_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rcp));
  const __m256i rcp_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(rcp + 8));
  const __m256i seven = _mm256_set1_epi32(7);
  // Renormalises and codes the eight symbols s of the states x: the
  // portable encoder's steps, a lane at a time.
  auto encode8 = [&](__m256i& x, const uint8_t* s, bool small) {
    const __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s)));
    __m256i e, r;
    if (small) {
      const __m256i high = _mm256_cmpgt_epi32(idx, seven);
      e = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(packed_lo, idx), _mm256_permutevar8x32_epi32(packed_hi, idx), high);
      r = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(rcp_lo, idx), _mm256_permutevar8x32_epi32(rcp_hi, idx), high);
    } else {
      e = _mm256_i32gather_epi32(reinterpret_cast<const int*>(packed), idx, 4);
      r = _mm256_i32gather_epi32(reinterpret_cast<const int*>(rcp), idx, 4);
    }
    const __m256i freq = _mm256_and_si256(_mm256_srli_epi32(e, kPackedFreqShift), low13);
    // x < x_max = freq << 19 exactly when x >> 19 < freq (freq may be 2^12).
    const __m256i keep = _mm256_cmpgt_epi32(freq, _mm256_srli_epi32(x, 19));
    const unsigned out = ~static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(keep))) & 0xff;
    const __m256i halves = _mm256_shuffle_epi8(x, low_words);
    const __m128i words = _mm256_castsi256_si128(_mm256_permute4x64_epi64(halves, 0x08));
    const __m128i packed_words = _mm_shuffle_epi8(words, _mm_load_si128(reinterpret_cast<const __m128i*>(packs.shuffle[out])));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p - 16), packed_words);
    p -= 2 * __builtin_popcount(out);
    x = _mm256_srlv_epi32(x, _mm256_andnot_si256(keep, word_shift));
    // q = floor(x / freq): the high half of x * rcp_freq, shifted.
    const __m256i even = _mm256_srli_epi64(_mm256_mul_epu32(x, r), 32);
    const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(r, 32));
    const __m256i q = _mm256_srlv_epi32(_mm256_blend_epi32(even, odd, 0xaa), _mm256_srli_epi32(e, kPackedRcpShift));
    const __m256i bias = _mm256_and_si256(e, low13);
    x = _mm256_add_epi32(_mm256_add_epi32(x, bias), _mm256_mullo_epi32(q, _mm256_sub_epi32(scale, freq)));
  };
  const __m256i above15 = _mm256_set1_epi8(static_cast<char>(0xF0));
  for (size_t g = groups; g-- > 0;) {
    const uint8_t* group = sym + g * kLanes;
    const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group));
    if (_mm256_testz_si256(bytes, above15))
      for (int v = kVectors - 1; v >= 0; --v) encode8(x[v], group + 8 * v, true);
    else
      for (int v = kVectors - 1; v >= 0; --v) encode8(x[v], group + 8 * v, false);
  }
  for (int v = 0; v < kVectors; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(x_io + 8 * v), x[v]);
  p_io = p;
}

}  // namespace llmk::kv
