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

void split(DType t, uint32_t u, uint8_t* b) {
  if (t == DType::F32) {
    b[0] = static_cast<uint8_t>(u >> 23);
    b[1] = static_cast<uint8_t>((u >> 31) << 7 | ((u >> 16) & 0x7f));
    b[2] = static_cast<uint8_t>(u >> 8);
    b[3] = static_cast<uint8_t>(u);
  } else if (t == DType::BF16) {
    b[0] = static_cast<uint8_t>(u >> 7);
    b[1] = static_cast<uint8_t>((u >> 15) << 7 | (u & 0x7f));
  } else {
    b[0] = static_cast<uint8_t>(u >> 8);
    b[1] = static_cast<uint8_t>(u);
  }
}

uint32_t load_bits(DType t, const void* data, size_t i) {
  if (t == DType::F32) {
    uint32_t u;
    std::memcpy(&u, static_cast<const uint8_t*>(data) + 4 * i, 4);
    return u;
  }
  return static_cast<const uint16_t*>(data)[i];
}

// The planes of the tile under a predictor, one after another.
std::vector<uint8_t> planes(DType t, const void* data, size_t tokens, size_t dim, Predictor pred) {
  const size_t n = tokens * dim;
  const int np = plane_count(t);
  std::vector<uint8_t> out(n * np);
  uint8_t b[4];
  for (size_t i = 0; i < n; ++i) {
    uint32_t u = load_bits(t, data, i);
    if (pred == Predictor::Previous && i >= dim) u ^= load_bits(t, data, i - dim);
    split(t, u, b);
    for (int k = 0; k < np; ++k) out[k * n + i] = b[k];
  }
  return out;
}

// Bytes the planes would take, each coded or raw, whichever is smaller.
double plane_cost(const std::vector<uint8_t>& planes, size_t n, int np) {
  double total = 0;
  for (int k = 0; k < np; ++k) {
    uint32_t hist[256] = {0};
    const uint8_t* p = planes.data() + k * n;
    for (size_t i = 0; i < n; ++i) ++hist[p[i]];
    total += std::fmin(entropy_bits(hist, n) / 8, static_cast<double>(n));
  }
  return total;
}

}  // namespace

void encode_lossless(DType t, const void* data, size_t tokens, size_t dim, ByteWriter& out) {
  const size_t n = tokens * dim;
  const int np = plane_count(t);
  std::vector<uint8_t> plain = planes(t, data, tokens, dim, Predictor::None);
  Predictor pred = Predictor::None;
  if (tokens > 1) {
    std::vector<uint8_t> xored = planes(t, data, tokens, dim, Predictor::Previous);
    if (plane_cost(xored, n, np) < plane_cost(plain, n, np)) {
      plain.swap(xored);
      pred = Predictor::Previous;
    }
  }
  out.u8(static_cast<uint8_t>(pred));
  for (int k = 0; k < np; ++k) put_stream(out, plain.data() + k * n, n);
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
