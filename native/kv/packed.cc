#include "packed.h"

namespace llmk::kv {

namespace {

// Widths that divide a byte (bits modes 2, 4 and 8 give 2, 4 and 8): whole
// bytes of 8 / W offsets, in loops the compiler vectorises.
template <uint32_t W>
void pack_bytes(const uint32_t* off, size_t n, uint8_t* out) {
  constexpr size_t per = 8 / W;
  const size_t whole = n / per;
  for (size_t j = 0; j < whole; ++j) {
    uint32_t b = 0;
    for (size_t k = 0; k < per; ++k) b |= off[j * per + k] << (k * W);
    out[j] = static_cast<uint8_t>(b);
  }
  if (const size_t rest = n % per) {
    uint32_t b = 0;
    for (size_t k = 0; k < rest; ++k) b |= off[whole * per + k] << (k * W);
    out[whole] = static_cast<uint8_t>(b);
  }
}

template <uint32_t W>
void unpack_bytes(const uint8_t* in, size_t n, uint32_t* off) {
  constexpr size_t per = 8 / W;
  constexpr uint32_t mask = (1u << W) - 1;
  const size_t whole = n / per;
  for (size_t j = 0; j < whole; ++j)
    for (size_t k = 0; k < per; ++k) off[j * per + k] = (in[j] >> (k * W)) & mask;
  for (size_t k = 0; k < n % per; ++k) off[whole * per + k] = (in[whole] >> (k * W)) & mask;
}

}  // namespace

void pack_row(const uint32_t* off, size_t n, uint32_t width, uint8_t* out) {
  switch (width) {
    case 0: return;
    case 1: return pack_bytes<1>(off, n, out);
    case 2: return pack_bytes<2>(off, n, out);
    case 4: return pack_bytes<4>(off, n, out);
    case 8: return pack_bytes<8>(off, n, out);
    default: break;
  }
  // Fewer than 32 bits wait in `acc` before each field joins (at most 63
  // after); whole 32-bit words go out, then the last bytes.
  uint64_t acc = 0;
  uint32_t fill = 0;
  auto put = [&](uint64_t field, uint32_t bits) {
    acc |= field << fill;
    fill += bits;
    if (fill >= 32) {
      const uint32_t word = static_cast<uint32_t>(acc);
      for (int b = 0; b < 4; ++b) out[b] = static_cast<uint8_t>(word >> (8 * b));
      out += 4;
      acc >>= 32;
      fill -= 32;
    }
  };
  size_t i = 0;
  // Up to 16 bits, two offsets join as one field: half the steps through
  // the accumulator's chain.
  if (width <= 16)
    for (; i + 2 <= n; i += 2) put(off[i] | static_cast<uint64_t>(off[i + 1]) << width, 2 * width);
  for (; i < n; ++i) put(off[i], width);
  for (; fill > 0; fill = fill > 8 ? fill - 8 : 0, acc >>= 8) *out++ = static_cast<uint8_t>(acc);
}

void unpack_row(const uint8_t* in, size_t n, uint32_t width, uint32_t* off) {
  switch (width) {
    case 0:
      for (size_t i = 0; i < n; ++i) off[i] = 0;
      return;
    case 1: return unpack_bytes<1>(in, n, off);
    case 2: return unpack_bytes<2>(in, n, off);
    case 4: return unpack_bytes<4>(in, n, off);
    case 8: return unpack_bytes<8>(in, n, off);
    default: break;
  }
  // Bits are read only when an offset needs them: 32 at a time while four
  // bytes are left, then byte by byte; never past the row's last byte.
  const uint8_t* end = in + packed_row_bytes(n, width);
  const uint64_t mask = (uint64_t{1} << width) - 1;
  uint64_t acc = 0;
  uint32_t fill = 0;
  for (size_t i = 0; i < n; ++i) {
    if (fill < width) {
      if (end - in >= 4) {
        acc |= static_cast<uint64_t>(in[0] | in[1] << 8 | in[2] << 16 | static_cast<uint32_t>(in[3]) << 24) << fill;
        in += 4;
        fill += 32;
      } else {
        for (; fill < width; fill += 8) acc |= static_cast<uint64_t>(*in++) << fill;
      }
    }
    off[i] = static_cast<uint32_t>(acc & mask);
    acc >>= width;
    fill -= width;
  }
}

}  // namespace llmk::kv
