// Lossless tiles: byte planes chosen so that the exponent sits alone in one
// byte (it carries most of the redundancy of trained weights and activations,
// the observation behind DFloat11 and ZipNN), optionally XORed with the
// previous token's bits, each plane entropy-coded or stored raw.
#include <cmath>

#include "codec.h"
#include "rans.h"

namespace llmk::kv {

namespace {

// Plane layouts (p0 first):
//   f32:  exponent | sign + mantissa[22:16] | mantissa[15:8] | mantissa[7:0]
//   bf16: exponent | sign + mantissa[6:0]
//   f16:  sign + exponent + mantissa[9:8] | mantissa[7:0]
int plane_count(DType t) { return t == DType::F32 ? 4 : 2; }

template <DType T>
inline void split(uint32_t u, uint8_t* b) {
  if constexpr (T == DType::F32) {
    b[0] = static_cast<uint8_t>(u >> 23);
    b[1] = static_cast<uint8_t>((u >> 31) << 7 | ((u >> 16) & 0x7f));
    b[2] = static_cast<uint8_t>(u >> 8);
    b[3] = static_cast<uint8_t>(u);
  } else if constexpr (T == DType::BF16) {
    b[0] = static_cast<uint8_t>(u >> 7);
    b[1] = static_cast<uint8_t>((u >> 15) << 7 | (u & 0x7f));
  } else {
    b[0] = static_cast<uint8_t>(u >> 8);
    b[1] = static_cast<uint8_t>(u);
  }
}

template <DType T>
inline uint32_t bits_at(const void* data, size_t i) {
  if constexpr (T == DType::F32) {
    uint32_t u;
    std::memcpy(&u, static_cast<const uint8_t*>(data) + 4 * i, 4);
    return u;
  } else {
    return static_cast<const uint16_t*>(data)[i];
  }
}

// Bytes the planes of every `stride`-th token would take under a predictor,
// each plane coded or raw, whichever is smaller.
template <DType T>
double sampled_cost(const void* data, size_t tokens, size_t dim, bool xor_previous, size_t stride) {
  constexpr int np = T == DType::F32 ? 4 : 2;
  uint32_t hist[np][256] = {};
  uint8_t b[4];
  size_t n = 0;
  for (size_t tok = xor_previous ? 1 : 0; tok < tokens; tok += stride)
    for (size_t d = 0; d < dim; ++d, ++n) {
      const size_t i = tok * dim + d;
      split<T>(bits_at<T>(data, i) ^ (xor_previous ? bits_at<T>(data, i - dim) : 0), b);
      for (int k = 0; k < np; ++k) ++hist[k][b[k]];
    }
  double total = 0;
  for (int k = 0; k < np; ++k) total += std::fmin(entropy_bits(hist[k], n) / 8, static_cast<double>(n));
  return total;
}

template <DType T>
void encode_planes(const void* data, size_t tokens, size_t dim, ByteWriter& out) {
  constexpr int np = T == DType::F32 ? 4 : 2;
  const size_t n = tokens * dim;
  // Choose the predictor on a sample of tokens (every 4th of long tiles).
  const size_t stride = tokens >= 64 ? 4 : 1;
  const bool xor_previous =
      tokens > 1 && sampled_cost<T>(data, tokens, dim, true, stride) < sampled_cost<T>(data, tokens, dim, false, stride);
  std::vector<uint8_t> planes(n * np);
  uint8_t b[4];
  for (size_t i = 0; i < n; ++i) {
    split<T>(bits_at<T>(data, i) ^ (xor_previous && i >= dim ? bits_at<T>(data, i - dim) : 0), b);
    for (int k = 0; k < np; ++k) planes[k * n + i] = b[k];
  }
  out.u8(static_cast<uint8_t>(xor_previous ? Predictor::Previous : Predictor::None));
  for (int k = 0; k < np; ++k) put_stream(out, planes.data() + k * n, n);
}

}  // namespace

void encode_lossless(DType t, const void* data, size_t tokens, size_t dim, ByteWriter& out) {
  if (t == DType::F32) encode_planes<DType::F32>(data, tokens, dim, out);
  else if (t == DType::F16) encode_planes<DType::F16>(data, tokens, dim, out);
  else encode_planes<DType::BF16>(data, tokens, dim, out);
}

void decode_lossless(DType t, ByteReader& r, size_t tokens, size_t dim, void* out) {
  const size_t n = tokens * dim;
  const int np = plane_count(t);
  const uint8_t pred = r.u8();
  if (pred > static_cast<uint8_t>(Predictor::Previous)) corrupt("unknown lossless predictor");
  std::vector<uint8_t> pl(n * np);
  for (int k = 0; k < np; ++k) get_stream(r, pl.data() + k * n, n);
  const uint8_t* p0 = pl.data();
  const uint8_t* p1 = p0 + n;
  if (t == DType::F32) {
    const uint8_t* p2 = p1 + n;
    const uint8_t* p3 = p2 + n;
    uint32_t* o = static_cast<uint32_t*>(out);
    for (size_t i = 0; i < n; ++i)
      o[i] = static_cast<uint32_t>(p1[i] >> 7) << 31 | static_cast<uint32_t>(p0[i]) << 23 |
             static_cast<uint32_t>(p1[i] & 0x7f) << 16 | static_cast<uint32_t>(p2[i]) << 8 | p3[i];
    if (pred)
      for (size_t i = dim; i < n; ++i) o[i] ^= o[i - dim];
    return;
  }
  uint16_t* o = static_cast<uint16_t*>(out);
  if (t == DType::BF16)
    for (size_t i = 0; i < n; ++i)
      o[i] = static_cast<uint16_t>((p1[i] >> 7) << 15 | p0[i] << 7 | (p1[i] & 0x7f));
  else
    for (size_t i = 0; i < n; ++i) o[i] = static_cast<uint16_t>(p0[i] << 8 | p1[i]);
  if (pred)
    for (size_t i = dim; i < n; ++i) o[i] ^= o[i - dim];
}

}  // namespace llmk::kv
