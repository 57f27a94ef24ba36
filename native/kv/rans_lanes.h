// rANS over 32 interleaved lanes with 16-bit renormalisation, the layout
// that SIMD decodes eight symbols at a time (AVX2: one gather, one multiply,
// and the lanes that need a word take consecutive words of the payload),
// four vectors in flight. Symbol i belongs to lane i % 32. A lane's state stays in [kLaneL, 2^31);
// after each symbol a lane whose state fell below kLaneL takes the next
// 16-bit word (little-endian): at most one, since frequencies are >= 1.
// Within a group of 32 symbols, lanes take their words in lane order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace llmk::kv {

constexpr uint32_t kLaneL = 1u << 15;
constexpr int kLanes = 32;

// Encodes n symbols with frequencies summing to kProbScale (every symbol
// present has one) into the end of `buf`; returns where the payload (states,
// then words) begins: it runs to the end of `buf`. Whole groups go through
// encode_lanes_avx2 when `simd` (the caller checked the CPU): the same bytes.
const uint8_t* encode_lanes(const uint8_t* sym, size_t n, const uint32_t freq[256], std::vector<uint8_t>& buf, bool simd);

// A symbol's encoder constants for the SIMD encoder, in two tables that one
// gather each reads: packed[s] = bias | freq << 13 | rcp_shift << 26, and
// rcp[s] = rcp_freq (the portable encoder's EncSymbol, whose x_max is
// freq << 19 in this layout).
constexpr int kPackedFreqShift = 13, kPackedRcpShift = 26;

// Encodes the whole groups sym[0 .. 32 * groups) backward into the lanes x,
// writing words below p (which moves down) exactly as the portable encoder
// does; needs 16 writable bytes below p.
void encode_lanes_avx2(uint32_t x[kLanes], uint8_t*& p, const uint8_t* sym, size_t groups, const uint32_t packed[256],
                       const uint32_t rcp[256]);
// Decodes a payload of len bytes into out[0..n): whole groups through
// decode_lanes_avx2 when `simd` (the caller checked the CPU), the rest and
// every check portably. Throws ERR_LLMK_KV_CORRUPT on damage.
void decode_lanes(const uint8_t* p, size_t len, const uint32_t freq[256], uint8_t* out, size_t n, bool simd);

// The decoding table: slot -> freq << 20 | (slot - cum) << 8 | symbol.
void build_decode_table(const uint32_t freq[256], uint32_t* table);

// Decodes whole groups of 32 symbols into out[0..n) (n a multiple of 32)
// while at least 64 bytes of payload remain at q, advancing q and the lane
// states; returns the number of symbols decoded. The portable decoder
// finishes the rest with its bounds checks.
size_t decode_lanes_avx2(uint32_t x[kLanes], const uint8_t*& q, const uint8_t* end, const uint32_t* table, uint8_t* out, size_t n);

}  // namespace llmk::kv
