#include "rans.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "../common/cpu.h"
#include "rans_lanes.h"

namespace llmk::kv {

namespace {

constexpr uint32_t kRansL = 1u << 23;  // lower bound of a normalised state
enum Method : uint8_t { kRaw = 0, kConstant = 1, kRans = 2, kRansLanes = 3 };
// Streams this long use the 32-lane layout (rans_lanes.h), which decodes
// about twice as fast with SIMD; its 112 more bytes of states would weigh on
// shorter ones (5 % of a 256-token tile of head_dim 32's exponents).
constexpr size_t kLanesFrom = 16384;

// Scales counts to frequencies summing to kProbScale, every present symbol >= 1.
void normalize(const uint32_t hist[256], size_t n, uint32_t freq[256]) {
  int64_t sum = 0;
  int biggest = -1;
  for (int s = 0; s < 256; ++s) {
    freq[s] = 0;
    if (!hist[s]) continue;
    uint64_t f = (static_cast<uint64_t>(hist[s]) * kProbScale + n / 2) / n;
    freq[s] = static_cast<uint32_t>(std::max<uint64_t>(f, 1));
    sum += freq[s];
    if (biggest < 0 || hist[s] > hist[biggest]) biggest = s;
  }
  int64_t diff = static_cast<int64_t>(kProbScale) - sum;
  if (diff >= 0) {
    freq[biggest] += static_cast<uint32_t>(diff);
    return;
  }
  // Too much mass (many rare symbols raised to 1): take it back from the
  // symbols where one unit costs the least, the most frequent first.
  std::vector<int> order;
  for (int s = 0; s < 256; ++s)
    if (freq[s] > 1) order.push_back(s);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return freq[a] > freq[b]; });
  while (diff < 0) {
    for (int s : order) {
      if (diff == 0) break;
      if (freq[s] > 1) {
        --freq[s];
        ++diff;
      }
    }
  }
}

// Per-symbol encoder constants: division by the frequency as a multiply by
// a rounded-up reciprocal and a shift (exact for every state below 2^31, the
// method of ryg_rans).
struct EncSymbol {
  uint32_t x_max, rcp_freq, bias;
  uint16_t cmpl_freq, rcp_shift;  // 16 bytes an entry
};

// x_max_unit: the renormalisation bound of a symbol of frequency 1.
EncSymbol enc_symbol(uint32_t start, uint32_t freq, uint32_t x_max_unit) {
  EncSymbol e;
  e.x_max = x_max_unit * freq;
  e.cmpl_freq = static_cast<uint16_t>(kProbScale - freq);
  if (freq < 2) {
    // x / 1 = x: a reciprocal of 2^32 - 1 with no shift gives x - 1, fixed by the bias.
    e.rcp_freq = ~0u;
    e.rcp_shift = 0;
    e.bias = start + kProbScale - 1;
  } else {
    uint32_t shift = 0;
    while (freq > (1u << shift)) ++shift;
    e.rcp_freq = static_cast<uint32_t>(((uint64_t{1} << (shift + 31)) + freq - 1) / freq);
    e.rcp_shift = static_cast<uint16_t>(shift - 1);
    e.bias = start;
  }
  return e;
}

// Every present symbol's constants.
void build_encode_table(const uint32_t freq[256], uint32_t x_max_unit, EncSymbol table[256]) {
  uint32_t cum = 0;
  for (int s = 0; s < 256; ++s) {
    if (freq[s]) table[s] = enc_symbol(cum, freq[s], x_max_unit);
    cum += freq[s];
  }
}

// The state after coding a symbol into the renormalised state x (< 2^31).
inline uint32_t encode_step(uint32_t x, const EncSymbol& e) {
  const uint32_t q = static_cast<uint32_t>((static_cast<uint64_t>(x) * e.rcp_freq) >> 32) >> e.rcp_shift;
  return x + e.bias + q * e.cmpl_freq;
}

// Renormalises (at most two bytes: states stay below 2^31 and x_max is at
// least 2^19) and codes. Whether a byte goes out is a coin toss, so no jumps:
// both bytes are written below p, and p moves past those that count (the
// buffer keeps room for two a symbol).
inline void encode_symbol(uint32_t& x, uint8_t*& p, const EncSymbol& e) {
  p[-1] = static_cast<uint8_t>(x);
  const uint32_t first = x >= e.x_max;
  p -= first, x >>= 8 * first;
  p[-1] = static_cast<uint8_t>(x);
  const uint32_t second = x >= e.x_max;
  p -= second, x >>= 8 * second;
  x = encode_step(x, e);
}

// Writes the final states in front of the payload (state 0 first,
// little-endian) and returns where they begin.
uint8_t* put_states(uint8_t* p, const uint32_t* x, int count) {
  for (int k = count - 1; k >= 0; --k) {
    p -= 4;
    for (int b = 0; b < 4; ++b) p[b] = static_cast<uint8_t>(x[k] >> (8 * b));
  }
  return p;
}

inline uint32_t read_state(const uint8_t* b) {
  return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
}

// Encodes with the normalised table, last symbol first, writing backward
// from the end of `buf`; returns where the payload begins (it runs to the end)
// (states first). Symbol i uses state i % 4.
const uint8_t* rans_encode(const uint8_t* sym, size_t n, const uint32_t freq[256], std::vector<uint8_t>& buf) {
  EncSymbol table[256];
  build_encode_table(freq, (kRansL >> kProbBits) << 8, table);
  buf.resize(2 * n + 32);  // a state emits at most 2 bytes a symbol
  uint8_t* end = buf.data() + buf.size();
  uint8_t* p = end;
  uint32_t x[4] = {kRansL, kRansL, kRansL, kRansL};
  const size_t whole = n & ~size_t{3};
  for (size_t i = n; i-- > whole;) encode_symbol(x[i & 3], p, table[sym[i]]);
  uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
  for (size_t i = whole; i > 0; i -= 4) {
    encode_symbol(x3, p, table[sym[i - 1]]);
    encode_symbol(x2, p, table[sym[i - 2]]);
    encode_symbol(x1, p, table[sym[i - 3]]);
    encode_symbol(x0, p, table[sym[i - 4]]);
  }
  x[0] = x0, x[1] = x1, x[2] = x2, x[3] = x3;
  return put_states(p, x, 4);
}

void rans_decode(const uint8_t* p, size_t len, const uint32_t freq[256], uint8_t* out, size_t n) {
  if (len < 16) corrupt("rANS payload shorter than its states");
  uint32_t tab[kProbScale];  // 16 KiB on the stack: no allocation per stream
  build_decode_table(freq, tab);
  uint32_t x[4];
  for (int k = 0; k < 4; ++k) x[k] = read_state(p + 4 * k);
  const uint8_t* q = p + 16;
  const uint8_t* end = p + len;
  auto decode_one = [tab](uint32_t& s) {
    const uint32_t e = tab[s & (kProbScale - 1)];
    s = (e >> 20) * (s >> kProbBits) + ((e >> 8) & 0xfff);
    return static_cast<uint8_t>(e);
  };
  auto renorm_checked = [&](uint32_t& s) {
    while (s < kRansL) {
      if (q == end) corrupt("rANS payload ends early");
      s = s << 8 | *q++;
    }
  };
  // Four independent states, kept in registers; a state takes at most two
  // bytes a symbol, so with 8 bytes left the renormalisation needs no checks.
  // Renormalising after all four symbols reads the bytes in the same order as
  // after each one: a state's bytes depend only on that state.
  size_t i = 0;
  uint32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
  for (; i + 4 <= n; i += 4) {
    out[i] = decode_one(x0);
    out[i + 1] = decode_one(x1);
    out[i + 2] = decode_one(x2);
    out[i + 3] = decode_one(x3);
    if (end - q >= 8) {
      // On the states themselves (a loop over their addresses would keep
      // them in memory). Whether a state needs a byte is a coin toss: no
      // jump; a second byte is rare (symbols below 1/256): a jump.
      auto take = [&q](uint32_t& s) {
        const uint32_t need = s < kRansL, mask = 0u - need;  // a select by mask: GCC turns ?: into a jump here
        s = ((s << 8 | *q) & mask) | (s & ~mask);
        q += need;
        if (__builtin_expect(s < kRansL, 0)) s = s << 8 | *q++;
      };
      take(x0), take(x1), take(x2), take(x3);
    } else {
      renorm_checked(x0);
      renorm_checked(x1);
      renorm_checked(x2);
      renorm_checked(x3);
    }
  }
  x[0] = x0, x[1] = x1, x[2] = x2, x[3] = x3;
  for (; i < n; ++i) {
    out[i] = decode_one(x[i & 3]);
    renorm_checked(x[i & 3]);
  }
  // The encoder started every state at kRansL and used every byte: anything
  // else means the payload or its table was damaged.
  if (q != end || x[0] != kRansL || x[1] != kRansL || x[2] != kRansL || x[3] != kRansL)
    corrupt("rANS payload does not decode to its initial state");
}


}  // namespace

// The lanes layout's encoder, backward like rans_encode: symbol i goes to
// lane i % 32, and within a group the words are written so that the
// decoder, going forward, meets them in lane order.
const uint8_t* encode_lanes(const uint8_t* sym, size_t n, const uint32_t freq[256], std::vector<uint8_t>& buf, bool simd) {
  EncSymbol table[256];
  build_encode_table(freq, (kLaneL >> kProbBits) << 16, table);
  buf.resize(2 * n + 4 * kLanes);  // at most one 16-bit word a symbol
  uint8_t* p = buf.data() + buf.size();
  uint32_t x[kLanes];
  std::fill(x, x + kLanes, kLaneL);
  auto encode_one = [&](size_t i) {
    uint32_t& s = x[i % kLanes];
    const EncSymbol& e = table[sym[i]];
    // A word goes out about every other symbol: written below p either way,
    // kept by moving p (no jump to mispredict).
    const uint32_t out = s >= e.x_max;
    p[-2] = static_cast<uint8_t>(s), p[-1] = static_cast<uint8_t>(s >> 8);
    p -= 2 * out, s >>= 16 * out;
    s = encode_step(s, e);  // states stay below 2^31, where the reciprocal division is exact
  };
#if defined(__x86_64__) || defined(_M_X64)
  const size_t whole = simd ? n / kLanes * kLanes : 0;
#else
  const size_t whole = 0;
  (void)simd;
#endif
  for (size_t i = n; i-- > whole;) encode_one(i);
#if defined(__x86_64__) || defined(_M_X64)
  if (whole) {
    uint32_t packed[256] = {}, rcp[256] = {};
    for (int s = 0; s < 256; ++s)
      if (freq[s]) {
        packed[s] = table[s].bias | freq[s] << kPackedFreqShift | uint32_t{table[s].rcp_shift} << kPackedRcpShift;
        rcp[s] = table[s].rcp_freq;
      }
    encode_lanes_avx2(x, p, sym, whole / kLanes, packed, rcp);
  }
#endif
  return put_states(p, x, kLanes);
}

void decode_lanes(const uint8_t* p, size_t len, const uint32_t freq[256], uint8_t* out, size_t n, bool simd) {
  if (len < 4 * kLanes) corrupt("rANS payload shorter than its states");
  uint32_t table[kProbScale];  // 16 KiB on the stack: no allocation per stream
  build_decode_table(freq, table);
  uint32_t x[kLanes];
  for (int k = 0; k < kLanes; ++k) {
    x[k] = read_state(p + 4 * k);
    if (x[k] < kLaneL || x[k] >= 1u << 31) corrupt("rANS lane state out of range");
  }
  const uint8_t* q = p + 4 * kLanes;
  const uint8_t* end = p + len;
  size_t i = 0;
#if defined(__x86_64__) || defined(_M_X64)
  if (simd) i = decode_lanes_avx2(x, q, end, table, out, n & ~size_t(kLanes - 1));
#else
  (void)simd;
#endif
  // The portable decoder: the same steps a symbol at a time, with checks.
  for (; i < n; ++i) {
    uint32_t& s = x[i % kLanes];
    const uint32_t e = table[s & (kProbScale - 1)];
    s = (e >> 20) * (s >> kProbBits) + ((e >> 8) & 0xfff);
    out[i] = static_cast<uint8_t>(e);
    if (s < kLaneL) {
      if (end - q < 2) corrupt("rANS payload ends early");
      s = s << 16 | q[0] | uint32_t(q[1]) << 8;
      q += 2;
    }
  }
  if (q != end || std::any_of(x, x + kLanes, [](uint32_t s) { return s != kLaneL; }))
    corrupt("rANS payload does not decode to its initial state");
}

void build_decode_table(const uint32_t freq[256], uint32_t* table) {
  uint32_t c = 0;
  for (uint32_t s = 0; s < 256; ++s) {
    for (uint32_t k = 0; k < freq[s]; ++k) table[c + k] = freq[s] << 20 | k << 8 | s;
    c += freq[s];
  }
}

// Residual symbols are mostly a few small values, and each partial count
// waits on its last increment: eight bytes are read at once, and when all
// eight are below 16 they are counted as four pairs (one increment for two
// symbols, a pair's nibbles as its index), else one by one into eight
// partial histograms. 0.35 ns a symbol with four byte-wise histograms; 0.22
// on `bits: 4` residuals, 0.30 on bytes spread wide.
void count_symbol_runs(const uint8_t* p, size_t run, size_t step, size_t runs, uint32_t hist[256]) {
  uint32_t pairs[4][256] = {};
  uint32_t part[8][256] = {};
  for (size_t k = 0; k < runs; ++k) {
    const uint8_t* q = p + k * step;
    size_t i = 0;
    for (; i + 8 <= run; i += 8) {
      uint64_t w;
      std::memcpy(&w, q + i, 8);
      if ((w & 0xF0F0F0F0F0F0F0F0ull) == 0) {
        const uint64_t nibbles = w | w >> 4;  // byte 2k: symbol 2k | symbol 2k + 1 << 4
        for (int j = 0; j < 4; ++j) ++pairs[j][(nibbles >> (16 * j)) & 255];
      } else {
        for (int j = 0; j < 8; ++j) ++part[j][(w >> (8 * j)) & 255];
      }
    }
    for (; i < run; ++i) ++part[0][q[i]];
  }
  for (int s = 0; s < 256; ++s) {
    uint32_t sum = 0;
    for (int j = 0; j < 8; ++j) sum += part[j][s];
    hist[s] = sum;
  }
  for (int q = 0; q < 256; ++q) {
    const uint32_t count = pairs[0][q] + pairs[1][q] + pairs[2][q] + pairs[3][q];
    hist[q & 15] += count;
    hist[q >> 4] += count;
  }
}

void count_symbols(const uint8_t* p, size_t n, uint32_t hist[256]) { count_symbol_runs(p, n, n, 1, hist); }

double entropy_bits(const uint32_t hist[256], size_t n) {
  double bits = 0;
  for (int s = 0; s < 256; ++s)
    if (hist[s]) bits -= hist[s] * std::log2(static_cast<double>(hist[s]) / static_cast<double>(n));
  return bits;
}

// A stream is entropy-coded only when that saves at least 1/32 of its raw
// size: decoding rANS costs 0.5-2 ns a symbol, copying raw bytes next to nothing,
// and near-random planes (low mantissa bytes) would save well under 3 %.
constexpr double kWorthCoding = 31.0 / 32.0;

void put_stream(ByteWriter& w, const uint8_t* sym, size_t n) {
  uint32_t hist[256];
  count_symbols(sym, n, hist);
  put_stream(w, sym, n, hist);
}

void put_stream(ByteWriter& w, const uint8_t* sym, size_t n, const uint32_t hist[256]) {
  if (n == 0) {
    w.u8(kRaw);
    return;
  }
  int present = 0;
  for (int s = 0; s < 256; ++s) present += hist[s] != 0;
  if (present == 1) {
    w.u8(kConstant);
    w.u8(sym[0]);
    return;
  }
  // Raw unless the entropy promises a clear gain (the table costs bytes too).
  if (entropy_bits(hist, n) / 8 + 2 * present + 24 < kWorthCoding * static_cast<double>(n)) {
    uint32_t freq[256];
    normalize(hist, n, freq);
    std::vector<uint8_t> buf;
    const bool lanes = n >= kLanesFrom;
    const uint8_t* payload = lanes ? encode_lanes(sym, n, freq, buf, cpu_path() == CpuPath::Avx2) : rans_encode(sym, n, freq, buf);
    const size_t payload_size = static_cast<size_t>(buf.data() + buf.size() - payload);
    ByteWriter head;
    head.u8(lanes ? kRansLanes : kRans);
    head.u8(static_cast<uint8_t>(present - 1));
    if (present <= 32) {
      for (int s = 0; s < 256; ++s)
        if (freq[s]) head.u8(static_cast<uint8_t>(s));
    } else {
      uint8_t map[32] = {0};
      for (int s = 0; s < 256; ++s)
        if (freq[s]) map[s >> 3] |= static_cast<uint8_t>(1u << (s & 7));
      head.bytes(map, 32);
    }
    for (int s = 0; s < 256; ++s)
      if (freq[s]) head.varint(freq[s]);
    head.varint(payload_size);
    if (static_cast<double>(head.size() + payload_size) < kWorthCoding * static_cast<double>(n)) {
      w.bytes(head.buffer().data(), head.size());
      w.bytes(payload, payload_size);
      return;
    }
  }
  w.u8(kRaw);
  w.bytes(sym, n);
}

void get_stream(ByteReader& r, uint8_t* out, size_t n) {
  const uint8_t method = r.u8();
  if (method == kRaw) {
    if (n) std::memcpy(out, r.take(n), n);
    return;
  }
  if (method == kConstant) {
    const uint8_t value = r.u8();
    if (n) std::memset(out, value, n);  // out may be null then (an empty vector's data)
    return;
  }
  if (method != kRans && method != kRansLanes) corrupt(std::string(r.what()) + ": unknown stream method " + std::to_string(method));
  const int present = r.u8() + 1;
  if (present < 2) corrupt(std::string(r.what()) + ": rANS stream with one symbol");
  uint8_t symbols[256];
  if (present <= 32) {
    const uint8_t* list = r.take(static_cast<size_t>(present));
    for (int k = 0; k < present; ++k) {
      if (k && list[k] <= list[k - 1]) corrupt(std::string(r.what()) + ": rANS symbols out of order");
      symbols[k] = list[k];
    }
  } else {
    const uint8_t* map = r.take(32);
    int k = 0;
    for (int s = 0; s < 256; ++s)
      if (map[s >> 3] >> (s & 7) & 1) {
        if (k < present) symbols[k] = static_cast<uint8_t>(s);
        ++k;
      }
    if (k != present) corrupt(std::string(r.what()) + ": rANS symbol map disagrees with its count");
  }
  uint32_t freq[256] = {0};
  uint64_t total = 0;
  for (int k = 0; k < present; ++k) {
    const uint64_t f = r.varint();
    if (f == 0 || f >= kProbScale) corrupt(std::string(r.what()) + ": bad rANS frequency");
    freq[symbols[k]] = static_cast<uint32_t>(f);
    total += f;
  }
  if (total != kProbScale) corrupt(std::string(r.what()) + ": rANS frequencies do not sum to the scale");
  const uint64_t len = r.varint();
  if (len > r.left()) corrupt(std::string(r.what()) + ": truncated rANS payload");
  const uint8_t* payload = r.take(static_cast<size_t>(len));
  if (method == kRans) rans_decode(payload, static_cast<size_t>(len), freq, out, n);
  else decode_lanes(payload, static_cast<size_t>(len), freq, out, n, cpu_path() == CpuPath::Avx2);
}

void put_blob(ByteWriter& w, const uint8_t* p, size_t n) {
  w.varint(n);
  put_stream(w, p, n);
}

void put_raw_blob(ByteWriter& w, const uint8_t* p, size_t n) {
  w.varint(n);
  w.u8(kRaw);
  w.bytes(p, n);
}

std::vector<uint8_t> get_blob(ByteReader& r, size_t max_len) {
  const uint64_t n = r.varint();
  if (n > max_len) corrupt(std::string(r.what()) + ": blob longer than its bound");
  std::vector<uint8_t> out(static_cast<size_t>(n));
  get_stream(r, out.data(), out.size());
  return out;
}

}  // namespace llmk::kv
