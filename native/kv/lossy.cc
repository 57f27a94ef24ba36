// Lossy tiles: quantize to integer codes, predict the codes, entropy-code the
// residuals. Prediction is exact integer arithmetic, so the error of a decoded
// element is the quantizer's alone.
//
// Tile layout: u8 kind; u8 flags (1: raw rows follow, 2: row bases stored);
// [row bases]; [bits mode: row step indices] (both zigzag-delta varint lists
// in a blob); predictor per channel (a blob of dim bytes); the residual
// symbols (one stream, zigzag residuals, 255 = escape); the escapes (a blob
// of varints); [raw rows: a row bitmap, then their elements' bytes].
// Packed (CodecParams::packed): row bases always stored, and in place of
// the predictors, symbols and escapes: u8 width, then every token row's
// offsets from the row bases (packed.h).
//
// Every loop runs in memory order (token-major) whichever way the rows go,
// with the dtype resolved once per tile.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../common/cpu.h"
#include "codec.h"
#include "lossy_rows.h"
#include "packed.h"
#include "rans.h"

namespace llmk::kv {

namespace {

// Calls fn<T>() with the tile's dtype as a template argument.
template <class F>
void with_dtype(DType t, F&& fn) {
  if (t == DType::F32) fn(std::integral_constant<DType, DType::F32>());
  else if (t == DType::F16) fn(std::integral_constant<DType, DType::F16>());
  else fn(std::integral_constant<DType, DType::BF16>());
}

// Both quantizers' last step: each row's base (its smallest code), and a
// raw row's codes and step index zeroed, as Quantized promises.
void settle_rows(Quantized& t, const std::vector<int32_t>& base) {
  const uint32_t len = t.kind == Kind::Key ? t.tokens : t.dim;
  for (uint32_t r = 0; r < t.rows(); ++r) {
    t.base[r] = t.raw[r] || base[r] == INT32_MAX ? 0 : base[r];
    if (!t.raw[r]) continue;
    t.step_index[r] = 0;
    for (uint32_t k = 0; k < len; ++k) t.q[element_index(t.kind, t.dim, r, k)] = 0;
  }
}

// bits mode, the whole tile through the row stages (AVX2 where there is):
// extents, then codes.
void quantize_tile_bits(const CodecParams& p, const void* data, Quantized& t) {
  const uint32_t tokens = t.tokens, dim = t.dim, rows = t.rows();
  const bool key = t.kind == Kind::Key;
  const size_t stride = key ? 1 : 0;
  std::vector<float> lo(rows, INFINITY), hi(rows, -INFINITY);
  std::vector<double> step(rows, 0), inverse(rows, 0);
  std::vector<float> inverse32(rows, 0);
  extent_rows(p.dtype, data, tokens, RowExtent{lo.data(), hi.data(), t.raw.data(), stride}, dim);
  for (uint32_t r = 0; r < rows; ++r) {
    int index;
    if (t.raw[r]) continue;
    if (bits_step(p.bits, lo[r], hi[r], &index)) {
      t.step_index[r] = static_cast<int16_t>(index);
      step[r] = step_for_index(index);
      inverse[r] = inverse_step_for_index(index);
      inverse32[r] = static_cast<float>(inverse[r]);
    } else {
      t.raw[r] = 1;
    }
  }
  std::vector<int32_t> base(rows, INT32_MAX);
  std::vector<uint8_t> out_of_range(rows, 0);
  quantize_rows(p.dtype, data, tokens, RowCoder{step.data(), inverse.data(), inverse32.data(), base.data(), out_of_range.data(), stride}, t.q.data(), dim);
  for (uint32_t r = 0; r < rows; ++r) t.raw[r] |= out_of_range[r];
  settle_rows(t, base);
}

// maxError mode, one element: the code whose value, rounded to the dtype,
// lies within maxError of x: round_even(x / step), or a neighbour where
// rounding to the dtype breaks the bound; false when none does (or x is
// not finite, or the code is out of range): the row is then stored raw.
bool code_within(const CodecParams& p, double x, double step, int32_t& code) {
  const double v = x / step;
  if (!(std::fabs(v) < static_cast<double>(kMaxCode))) return false;
  double q = round_even(v);
  auto ok = [&](double c) { return std::fabs(rounded_to(p.dtype, c * step) - x) <= p.max_error; };
  if (!ok(q)) {
    if (ok(q - 1)) q -= 1;
    else if (ok(q + 1)) q += 1;
    else return false;
  }
  if (!(std::fabs(q) < static_cast<double>(kMaxCode))) return false;
  code = static_cast<int32_t>(q);
  return true;
}

// maxError mode: step 2 * maxError; maxError is a promise about the decoded
// dtype value, so every code is checked after rounding to the dtype. A token
// row at a time through the row stages (codes, their decoded values, the
// check); an element that fails the check gets code_within's code (the
// code_within of one that passes is the code it has), and a row (a channel
// of keys, a token of values) with a code out of range, a value that is not
// finite among them, is done again element by element. The same codes as
// code_within everywhere.
void quantize_tile_error(const CodecParams& p, const void* data, Quantized& t) {
  const uint32_t tokens = t.tokens, dim = t.dim, rows = t.rows();
  const bool key = t.kind == Kind::Key;
  const size_t stride = key ? 1 : 0, width = dtype_size(p.dtype);
  const double step = 2 * p.max_error;
  auto row_of = [&](uint32_t tok) { return static_cast<const uint8_t*>(data) + static_cast<size_t>(tok) * dim * width; };
  std::vector<double> steps(rows, step), inverse(rows, 1 / step);
  std::vector<float> inverse32(rows, static_cast<float>(1 / step));
  std::vector<int32_t> base(rows, INT32_MAX);
  std::vector<uint8_t> out_of_range(rows, 0), fixed(rows, 0), decoded(dim * width);
  for (uint32_t tok = 0; tok < tokens; ++tok) {
    const size_t r = key ? 0 : tok;
    const void* row = row_of(tok);
    int32_t* q = t.q.data() + static_cast<size_t>(tok) * dim;
    const RowCoder coder{steps.data() + r, inverse.data() + r, inverse32.data() + r, base.data() + r, out_of_range.data() + r, stride};
    if (quantize_row_within(p.dtype, row, coder, q, p.max_error, decoded.data(), dim)) continue;
    dequantize_row(p.dtype, q, steps.data() + r, stride, decoded.data(), dim);
    for (uint32_t d = 0; d < dim; ++d) {
      const uint32_t at = key ? d : tok;
      if (t.raw[at] || out_of_range[at] || within_one(p.dtype, row, decoded.data(), p.max_error, d)) continue;
      if (code_within(p, load_element(row, p.dtype, d), step, q[d])) fixed[at] = 1;
      else t.raw[at] = 1;
    }
  }
  for (uint32_t r = 0; r < rows; ++r) {
    if (t.raw[r] || !(out_of_range[r] || fixed[r])) continue;
    base[r] = INT32_MAX;
    for (uint32_t k = 0; k < (key ? tokens : dim) && !t.raw[r]; ++k) {
      const size_t i = element_index(t.kind, dim, r, k);
      int32_t& code = t.q[i];
      if (!out_of_range[r] || code_within(p, load_element(data, p.dtype, i), step, code)) base[r] = std::min(base[r], code);
      else t.raw[r] = 1;
    }
  }
  settle_rows(t, base);
}

template <DType T>
void dequantize_tile(const CodecParams& p, const Quantized& t, const void* raw_source, void* out) {
  const uint32_t rows = t.rows();
  const bool key = t.kind == Kind::Key;
  std::vector<double> step(rows);
  for (uint32_t r = 0; r < rows; ++r) step[r] = row_step(p, t, r);
  const size_t width = dtype_size(T);
  size_t i = 0;
  for (uint32_t tok = 0; tok < t.tokens; ++tok)
    for (uint32_t d = 0; d < t.dim; ++d, ++i) {
      const uint32_t r = key ? d : tok;
      if (t.raw[r])
        std::memcpy(static_cast<uint8_t*>(out) + i * width, static_cast<const uint8_t*>(raw_source) + i * width, width);
      else
        store_element<T>(out, i, static_cast<double>(t.q[i]) * step[r]);
    }
}

// The residuals of token `tok` under one predictor, for every channel (codes
// lie in (-2^30, 2^30): their differences fit int32).
inline void residual_row(const Quantized& t, Predictor pred, uint32_t tok, int32_t* out) {
  const size_t dim = t.dim;
  const int32_t* row = t.q.data() + tok * dim;
  const int32_t* ref = nullptr;
  if (pred == Predictor::Previous && tok > 0) ref = row - dim;
  if (pred == Predictor::Anchor && tok % kAnchorGroup) ref = row - (tok % kAnchorGroup) * dim;
  if (ref) {
    for (size_t d = 0; d < dim; ++d) out[d] = row[d] - ref[d];
  } else if (pred == Predictor::Zero) {
    for (size_t d = 0; d < dim; ++d) out[d] = row[d];
  } else if (t.kind == Kind::Key) {
    for (size_t d = 0; d < dim; ++d) out[d] = row[d] - t.base[d];
  } else {
    const int32_t base = t.base[tok];
    for (size_t d = 0; d < dim; ++d) out[d] = row[d] - base;
  }
}

// `coded`: the blob entropy-coded where that pays (put_blob), else raw.
template <class T>
void put_signed_list(ByteWriter& w, const std::vector<T>& values, bool coded = true) {
  ByteWriter list;
  int64_t prev = 0;
  for (int64_t v : values) {
    list.varint(zigzag(v - prev));
    prev = v;
  }
  if (coded) put_blob(w, list.buffer().data(), list.size());
  else put_raw_blob(w, list.buffer().data(), list.size());
}

std::vector<int64_t> get_signed_list(ByteReader& r, size_t count, int64_t lo, int64_t hi, const char* what) {
  std::vector<uint8_t> blob = get_blob(r, count * 10);
  ByteReader lr(blob.data(), blob.size(), what);
  std::vector<int64_t> out(count);
  int64_t prev = 0;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t z = lr.varint();
    if (z > (uint64_t{1} << 40)) corrupt(std::string(what) + " out of range");
    prev += unzigzag(z);
    if (prev < lo || prev > hi) corrupt(std::string(what) + " out of range");
    out[i] = prev;
  }
  if (lr.left()) corrupt(std::string(what) + ": trailing bytes");
  return out;
}

int varint_bytes(uint64_t v) {
  int n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

// The varint bytes a residual symbol z sends to the escapes (none below 255).
inline uint32_t escape_bytes(uint32_t z) {
  const uint32_t v = z - 255;
  return (z >= 255) * (1 + (v >= 1u << 7) + (v >= 1u << 14) + (v >= 1u << 21) + (v >= 1u << 28));
}

// Bits of a list as put_signed_list writes it (its varints, before coding).
template <class T>
double list_cost(const std::vector<T>& values) {
  double bytes = 0;
  int64_t prev = 0;
  for (T v : values) {
    bytes += varint_bytes(zigzag(static_cast<int64_t>(v) - prev));
    prev = v;
  }
  return 8 * bytes;
}

// The bits a residual is guessed to cost when ranking predictors per
// channel: about 2 log2(z) + 1 (the bit length of z + 1, twice; read off the
// exponent of z + 1 as a float, which the compiler vectorises where a table
// would be a load an element), 40 for an escape. Good enough to rank; the
// plan's real cost is counted after.
inline uint32_t guessed_bits(uint32_t z) {
  // Spelled so that GCC keeps it free of jumps (std::min here, with the
  // escape test beside it, becomes one): a jump stops vectorisation.
  const float f = static_cast<float>(static_cast<int32_t>(z > 254 ? 254 : z) + 1);
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return 2 * ((bits >> 23) - 126) + 24 * (z >= 255);
}

constexpr int kPredictors = 4;
constexpr Predictor kAllPredictors[kPredictors] = {Predictor::None, Predictor::Previous, Predictor::Anchor,
                                                   Predictor::Zero};

// Residual symbols: zigzag(code - prediction), 255 escaping to a varint.
// Each channel of a tile has its own predictor (key channels differ: after
// RoPE the slowly rotating pairs are smooth across tokens, the fast ones are
// not); all symbols share one frequency table, because on tiles of a few
// thousand elements more tables cost more than they save (measured).
// The per-channel predictors of a tile as masks, and the sources of a token
// row's predictions (lossy_rows.h): Previous and Anchor fall back to the row
// base where the row has none.
class Predictions {
 public:
  Predictions(const Quantized& t, const uint8_t* predictor)
      : t_(t), base_row_(t.dim), use_base_(t.dim), use_previous_(t.dim), use_anchor_(t.dim) {
    for (uint32_t d = 0; d < t.dim; ++d) {
      use_base_[d] = predictor[d] == static_cast<uint8_t>(Predictor::None) ? -1 : 0;
      use_previous_[d] = predictor[d] == static_cast<uint8_t>(Predictor::Previous) ? -1 : 0;
      use_anchor_[d] = predictor[d] == static_cast<uint8_t>(Predictor::Anchor) ? -1 : 0;
      if (t.kind == Kind::Key) base_row_[d] = t.base[d];
    }
  }
  // previous / anchor: the codes of tokens tok - 1 and tok - tok % kAnchorGroup (ignored where they do not exist).
  RowSources row(uint32_t tok, const int32_t* previous, const int32_t* anchor) {
    if (t_.kind == Kind::Value) std::fill(base_row_.begin(), base_row_.end(), t_.base[tok]);
    return {base_row_.data(), tok > 0 ? previous : base_row_.data(), tok % kAnchorGroup ? anchor : base_row_.data(),
            use_base_.data(), use_previous_.data(), use_anchor_.data()};
  }

 private:
  const Quantized& t_;
  std::vector<int32_t> base_row_, use_base_, use_previous_, use_anchor_;  // masks: all ones or zero
};

struct ResidualPlan {
  std::vector<uint8_t> predictor;  // per channel
  std::vector<uint8_t> symbols;    // element order
  uint32_t hist[256] = {};         // of the symbols (of the sample's until complete)
  ByteWriter escapes;              // varints of symbols >= 255, element order
  double cost_bits = 0;            // residuals, escapes and (when used) row bases: estimated from the sample until complete
  bool uses_base = false;          // a predictor needs the row bases, so they are stored
  bool per_channel = false;        // each channel has its own predictor (their table is paid for)
  bool complete = false;           // symbols, escapes, hist and cost_bits are the whole tile's
};

// Every 4th token of long tiles is the sample predictors are chosen on:
// the choice needs statistics, not every element.
inline uint32_t sample_stride(uint32_t tokens) { return tokens >= 64 ? 4 : 1; }

// Chooses among "one predictor for the whole tile" (four plans) and "each
// channel its cheapest predictor" on the sample, with the chosen plan's
// cost estimated from it; complete_plan_in then computes its symbols over
// the whole tile. Both compiled twice, below: their loops are the lossy
// encoder's widest.
[[gnu::always_inline]] inline void choose_plan_in(const Quantized& t, double base_bits, ResidualPlan& plan) {
  const uint32_t tokens = t.tokens, dim = t.dim;
  const uint32_t stride = sample_stride(tokens);
  const uint32_t samples = (tokens + stride - 1) / stride;
  std::vector<uint8_t> sym[kPredictors];
  uint32_t hist[kPredictors + 1][256] = {};
  double escape_bits[kPredictors + 1] = {};
  std::vector<uint32_t> channel_cost(static_cast<size_t>(kPredictors) * dim, 0);
  std::vector<int32_t> res(dim);
  for (int k = 0; k < kPredictors; ++k) {
    sym[k].resize(static_cast<size_t>(samples) * dim);
    uint32_t* cost = channel_cost.data() + static_cast<size_t>(k) * dim;
    for (uint32_t j = 0; j < samples; ++j) {
      residual_row(t, kAllPredictors[k], j * stride, res.data());
      uint8_t* out = sym[k].data() + static_cast<size_t>(j) * dim;
      uint32_t escaped = 0;
      for (uint32_t d = 0; d < dim; ++d) {
        const uint32_t z = zigzag32(res[d]);
        const uint8_t symbol = static_cast<uint8_t>(std::min<uint32_t>(z, 255));
        out[d] = symbol;
        cost[d] += guessed_bits(z);
        escaped |= z >= 255;
      }
      if (escaped) {  // apart, so that the loop above stays simple; no jumps here either (escapes can be half a row)
        uint32_t bytes = 0;
        for (uint32_t d = 0; d < dim; ++d) bytes += escape_bytes(zigzag32(res[d]));
        escape_bits[k] += 8.0 * bytes;
      }
    }
    count_symbols(sym[k].data(), sym[k].size(), hist[k]);
  }
  std::vector<uint8_t> mixed(dim, 0);
  for (uint32_t d = 0; d < dim; ++d)
    for (int k = 1; k < kPredictors; ++k)
      if (channel_cost[k * dim + d] < channel_cost[mixed[d] * dim + d]) mixed[d] = static_cast<uint8_t>(k);
  // The sample's symbols under the mixed plan, chosen by masks (a loop
  // that vectorises; indexing sym by mixed[d] does not).
  std::vector<uint8_t> use(static_cast<size_t>(kPredictors) * dim), mixed_sym(static_cast<size_t>(samples) * dim);
  for (uint32_t d = 0; d < dim; ++d) use[mixed[d] * dim + d] = 0xff;
  static_assert(kPredictors == 4);
  const uint8_t *s0 = sym[0].data(), *s1 = sym[1].data(), *s2 = sym[2].data(), *s3 = sym[3].data();
  const uint8_t *u0 = use.data(), *u1 = u0 + dim, *u2 = u1 + dim, *u3 = u2 + dim;
  for (size_t first = 0; first < mixed_sym.size(); first += dim) {
    uint8_t* out = mixed_sym.data() + first;
    for (uint32_t d = 0; d < dim; ++d)
      out[d] = (s0[first + d] & u0[d]) | (s1[first + d] & u1[d]) | (s2[first + d] & u2[d]) | (s3[first + d] & u3[d]);
  }
  count_symbols(mixed_sym.data(), mixed_sym.size(), hist[kPredictors]);
  escape_bits[kPredictors] = 16.0 * hist[kPredictors][255];  // a sample estimate is enough here
  auto uses_base_k = [&](int k) {
    if (k < kPredictors) return kAllPredictors[k] != Predictor::Zero;
    return std::any_of(mixed.begin(), mixed.end(), [](uint8_t m) { return kAllPredictors[m] != Predictor::Zero; });
  };
  const double scale = static_cast<double>(tokens) / samples;
  int best = 0;
  double best_bits = INFINITY;
  for (int k = 0; k <= kPredictors; ++k) {
    const double bits = scale * (entropy_bits(hist[k], static_cast<size_t>(samples) * dim) + escape_bits[k]) +
                        (uses_base_k(k) ? base_bits : 0) + (k == kPredictors ? 2.0 * dim : 0);
    if (bits < best_bits) {
      best_bits = bits;
      best = k;
    }
  }
  plan.predictor.resize(dim);
  for (uint32_t d = 0; d < dim; ++d)
    plan.predictor[d] = static_cast<uint8_t>(kAllPredictors[best == kPredictors ? mixed[d] : best]);
  std::copy(hist[best], hist[best] + 256, plan.hist);
  plan.uses_base = uses_base_k(best);
  plan.per_channel = best == kPredictors;
  plan.cost_bits = best_bits;
  plan.complete = false;
}

// The chosen plan over every token, with its exact cost.
[[gnu::always_inline]] inline void complete_plan_in(const Quantized& t, double base_bits, ResidualPlan& plan) {
  const uint32_t tokens = t.tokens, dim = t.dim;
  const size_t n = static_cast<size_t>(tokens) * dim;
  const uint32_t stride = sample_stride(tokens);
  std::vector<int32_t> res(dim);
  plan.symbols.resize(n);
  plan.escapes = ByteWriter();
  Predictions predictions(t, plan.predictor.data());
  for (uint32_t tok = 0; tok < tokens; ++tok) {
    const int32_t* q = t.q.data() + static_cast<size_t>(tok) * dim;
    const RowSources sources = predictions.row(tok, tok > 0 ? q - dim : q, q - static_cast<size_t>(tok % kAnchorGroup) * dim);
    uint8_t* sym = plan.symbols.data() + static_cast<size_t>(tok) * dim;
    // Codes and predictions lie in (-2^30, 2^30): the difference fits int32.
    // The symbols in a loop the compiler vectorises; the rare escapes apart.
    uint32_t escaped = 0;
    for (uint32_t d = 0; d < dim; ++d) {
      const uint32_t z = zigzag32(q[d] - prediction_of(sources, d));
      sym[d] = static_cast<uint8_t>(std::min<uint32_t>(z, 255));
      escaped |= z >= 255;
    }
    if (escaped) {  // the residuals again in a loop that vectorises (into res), then only the escapes one by one
      for (uint32_t d = 0; d < dim; ++d) res[d] = static_cast<int32_t>(zigzag32(q[d] - prediction_of(sources, d)));
      for (uint32_t d = 0; d < dim; ++d)
        if (const uint32_t z = static_cast<uint32_t>(res[d]); z >= 255) plan.escapes.varint(z - 255);
    }
  }
  // The sampled tokens' symbols are the chosen plan's on the sample, already
  // counted (plan.hist): only the tokens between them are.
  if (stride > 1) {
    const uint32_t whole = tokens / stride;  // whole groups of stride - 1 tokens, then the rest
    uint32_t between[256];
    count_symbol_runs(plan.symbols.data() + dim, static_cast<size_t>(stride - 1) * dim, static_cast<size_t>(stride) * dim, whole, between);
    for (int s = 0; s < 256; ++s) plan.hist[s] += between[s];
    const uint32_t last = whole * stride + 1;
    if (last < tokens) {
      count_symbols(plan.symbols.data() + static_cast<size_t>(last) * dim, static_cast<size_t>(tokens - last) * dim, between);
      for (int s = 0; s < 256; ++s) plan.hist[s] += between[s];
    }
  }
  plan.cost_bits = entropy_bits(plan.hist, n) + 8.0 * plan.escapes.size() + (plan.uses_base ? base_bits : 0) +
                   (plan.per_channel ? 2.0 * dim : 0);
  plan.complete = true;
}

void choose_plan_portable(const Quantized& t, double base_bits, ResidualPlan& plan) { choose_plan_in(t, base_bits, plan); }
void complete_plan_portable(const Quantized& t, double base_bits, ResidualPlan& plan) { complete_plan_in(t, base_bits, plan); }

// The same code in 256-bit vectors: ~15 % of a `bits: 4` encode of f32 keys.
LLMK_AVX2_TARGET void choose_plan_avx2(const Quantized& t, double base_bits, ResidualPlan& plan) { choose_plan_in(t, base_bits, plan); }
LLMK_AVX2_TARGET void complete_plan_avx2(const Quantized& t, double base_bits, ResidualPlan& plan) { complete_plan_in(t, base_bits, plan); }

// The predictors of a tile's codes, with the plan's cost estimated from the
// sample; complete_plan then computes its symbols and exact cost.
void choose_plan(const Quantized& t, double base_bits, ResidualPlan& plan) {
  if (cpu_path() == CpuPath::Avx2) choose_plan_avx2(t, base_bits, plan);
  else choose_plan_portable(t, base_bits, plan);
}

void complete_plan(const Quantized& t, double base_bits, ResidualPlan& plan) {
  if (cpu_path() == CpuPath::Avx2) complete_plan_avx2(t, base_bits, plan);
  else complete_plan_portable(t, base_bits, plan);
}

// Squared error of a quantized tile against its input (raw rows add none),
// a token row at a time through row stages: the decoded row by decoding's
// own, then the differences (row_squared_error). Over every stride-th token
// row, scaled to the whole tile (exact with stride 1).
double squared_error(const CodecParams& p, const Quantized& t, const void* data, uint32_t stride) {
  const uint32_t dim = t.dim;
  const bool key = t.kind == Kind::Key;
  const size_t width = dtype_size(p.dtype);
  std::vector<double> step(t.rows());
  for (uint32_t r = 0; r < t.rows(); ++r) step[r] = row_step(p, t, r);
  std::vector<uint8_t> decoded(static_cast<size_t>(dim) * width);
  double sum = 0;
  const uint32_t samples = (t.tokens + stride - 1) / stride;
  for (uint32_t tok = 0; tok < t.tokens; tok += stride) {
    if (!key && t.raw[tok]) continue;
    const size_t first = static_cast<size_t>(tok) * dim;
    dequantize_row(p.dtype, t.q.data() + first, step.data() + (key ? 0 : tok), key ? 1 : 0, decoded.data(), dim);
    const void* row = static_cast<const uint8_t*>(data) + first * width;
    sum += row_squared_error(p.dtype, decoded.data(), row, key ? t.raw.data() : nullptr, dim);
  }
  return sum * (static_cast<double>(t.tokens) / samples);  // a factor of exactly 1 with stride 1
}

inline uint32_t bit_length(uint32_t v) {
  uint32_t n = 0;
  for (; v; v >>= 1) ++n;
  return n;
}

// u8 width, then the packed rows. `width` may be a guess (bits mode: the
// width of `bits`, nearly always right): the rows are packed at it while
// their offsets are ORed, and packed again at the right width if it was not.
void put_packed_codes(const Quantized& t, uint32_t width, ByteWriter& out) {
  std::vector<uint8_t>& buf = out.buffer();
  const size_t at = buf.size();
  for (;;) {
    buf.resize(at + 1 + packed_row_bytes(t.dim, width) * t.tokens);
    buf[at] = static_cast<uint8_t>(width);
    const uint32_t need = bit_length(pack_codes(t, width, buf.data() + at + 1));
    if (need == width) return;
    width = need;
  }
}

// Rows that are stored raw: a bitmap of the rows, then their elements'
// bytes, row by row.
void put_raw_rows(const CodecParams& p, const Quantized& t, const void* data, ByteWriter& out) {
  const uint32_t rows = t.rows(), dim = t.dim;
  const size_t width = dtype_size(p.dtype);
  const uint32_t len = t.kind == Kind::Key ? t.tokens : dim;
  std::vector<uint8_t> map((rows + 7) / 8, 0);
  for (uint32_t r = 0; r < rows; ++r)
    if (t.raw[r]) map[r >> 3] |= static_cast<uint8_t>(1u << (r & 7));
  out.bytes(map.data(), map.size());
  // Gathered first: a channel's elements are a token apart.
  std::vector<uint8_t> raw_rows(static_cast<size_t>(std::count(t.raw.begin(), t.raw.end(), 1)) * len * width);
  uint8_t* o = raw_rows.data();
  for (uint32_t r = 0; r < rows; ++r)
    if (t.raw[r])
      for (uint32_t k = 0; k < len; ++k, o += width)
        std::memcpy(o, static_cast<const uint8_t*>(data) + element_index(t.kind, dim, r, k) * width, width);
  out.bytes(raw_rows.data(), raw_rows.size());
}

// Decoding, predicted codes: a token row at a time, residuals, predictions
// (each channel's predictor chosen by masks, so the loop has no branch and
// vectorizes), then the values. Predictions reach back at most to the
// group's anchor, so the codes live in a ring of kAnchorGroup token rows
// (the anchor of token t's group is always ring row 0).
void decode_predicted_rows(const CodecParams& p, const Quantized& t, const uint8_t* predictor, const uint8_t* symbols,
                           ByteReader& esc, const double* step, void* out) {
  const uint32_t dim = t.dim;
  const bool key = t.kind == Kind::Key;
  const size_t width = dtype_size(p.dtype);
  std::vector<int32_t> ring(static_cast<size_t>(kAnchorGroup) * dim);
  Predictions predictions(t, predictor);
  for (uint32_t tok = 0; tok < t.tokens; ++tok) {
    const size_t first = static_cast<size_t>(tok) * dim;
    const uint32_t in_group = tok % kAnchorGroup;
    int32_t* q = ring.data() + static_cast<size_t>(in_group) * dim;
    const RowSources sources = predictions.row(tok, in_group ? q - dim : ring.data() + (kAnchorGroup - 1) * static_cast<size_t>(dim), ring.data());
    const uint8_t* z = symbols + first;
    if (std::memchr(z, 255, dim) == nullptr) {
      if (!codes_row(z, sources, q, dim)) corrupt("code out of range");
    } else {
      // A row with escapes: residuals up to 2^40, in int64.
      for (uint32_t d = 0; d < dim; ++d) {
        uint64_t e = z[d];
        if (e == 255) {
          const uint64_t extra = esc.varint();
          if (extra > (uint64_t{1} << 40)) corrupt("residual out of range");
          e += extra;
        }
        const int64_t v = unzigzag(e) + prediction_of(sources, d);
        if (v <= -kMaxCode || v >= kMaxCode) corrupt("code out of range");
        q[d] = static_cast<int32_t>(v);
      }
    }
    dequantize_row(p.dtype, q, key ? step : step + tok, key ? 1 : 0, static_cast<uint8_t*>(out) + first * width, dim);
  }
}

// Decoding, packed codes: a token row's offsets, plus their row bases
// (int64: a damaged stream may hold any offset below 2^31), then the values.
void decode_packed_rows(const CodecParams& p, const Quantized& t, const uint8_t* packed, uint32_t code_bits,
                        const double* step, void* out) {
  const uint32_t dim = t.dim;
  const bool key = t.kind == Kind::Key;
  const size_t width = dtype_size(p.dtype), row_bytes = packed_row_bytes(dim, code_bits);
  std::vector<uint32_t> off(dim);
  std::vector<int32_t> q(dim);
  for (uint32_t tok = 0; tok < t.tokens; ++tok) {
    unpack_row(packed + row_bytes * tok, dim, code_bits, off.data());
    const int32_t* base = key ? t.base.data() : nullptr;
    const int64_t row_base = key ? 0 : t.base[tok];
    uint32_t bad = 0;
    for (uint32_t d = 0; d < dim; ++d) {
      const int64_t code = (key ? base[d] : row_base) + static_cast<int64_t>(off[d]);
      bad |= (code >= kMaxCode) | (code <= -kMaxCode);
      q[d] = static_cast<int32_t>(code);
    }
    if (bad) corrupt("code out of range");
    dequantize_row(p.dtype, q.data(), key ? step : step + tok, key ? 1 : 0,
                   static_cast<uint8_t*>(out) + static_cast<size_t>(tok) * dim * width, dim);
  }
}

}  // namespace

void quantize(const CodecParams& p, Kind kind, const void* data, uint32_t tokens, uint32_t dim, Quantized& t) {
  t.kind = kind;
  t.tokens = tokens;
  t.dim = dim;
  const uint32_t rows = t.rows();
  t.q.resize(static_cast<size_t>(tokens) * dim);  // every code is written below
  t.base.assign(rows, 0);
  t.step_index.assign(rows, 0);
  t.raw.assign(rows, 0);
  if (p.bits) return quantize_tile_bits(p, data, t);
  quantize_tile_error(p, data, t);
}

uint32_t packed_width(const Quantized& t) {
  return bit_length(offsets_or(t.q.data(), t.base.data(), t.kind == Kind::Key ? 1 : 0, t.dim, t.tokens));
}

uint32_t pack_codes(const Quantized& t, uint32_t width, uint8_t* out) {
  return pack_offsets_rows(t.q.data(), t.base.data(), t.kind == Kind::Key ? 1 : 0, width, out, t.dim, t.tokens);
}

void dequantize(const CodecParams& p, const Quantized& t, const void* raw_source, void* out) {
  with_dtype(p.dtype, [&](auto T) { dequantize_tile<decltype(T)::value>(p, t, raw_source, out); });
}

// Kind by cost: estimated costs this close (a fraction of the two plans'
// bits together) are settled on exact ones.
constexpr double kCloseCall = 0.02;

void encode_lossy(const CodecParams& p, const void* data, uint32_t tokens, uint32_t dim, ByteWriter& out) {
  // kind 'auto': quantize both ways and keep the cheaper. With maxError both
  // meet the same bound, so cheaper means fewer bits; with `bits` the two
  // kinds give different errors, so the cost is rate plus distortion, with
  // halving the RMS error worth one bit per element (the slope of uniform
  // quantization): bits + n * log2(RMS error). The plans' costs and the
  // errors are first estimated on the sample's token rows; only a close
  // call makes both plans whole and measures both errors over the whole
  // tile, to decide on exact costs (a quarter of the tokens underestimates
  // a wide distribution's entropy more than a narrow one's: decided on
  // estimates alone, synthetic keys came out 2 % smaller but with 7 % more
  // RMS error, a worse trade by the rule above). Packed codes cost exactly
  // their width from the start.
  const size_t n = static_cast<size_t>(tokens) * dim;
  const bool weigh_error = p.kind == Kind::Auto && p.bits && n;
  // The cost besides the plan's: row steps and, weighing errors, distortion.
  auto other_bits_of = [&](const Quantized& c, uint32_t stride) {
    double bits = p.bits ? list_cost(c.step_index) : 0;
    if (weigh_error) bits += 0.5 * static_cast<double>(n) * std::log2(squared_error(p, c, data, stride) / static_cast<double>(n) + 1e-300);
    return bits;
  };
  // Kept by the thread (see encode_tile_into in container.cc): a tile's
  // codes are its largest temporary, four bytes an element.
  thread_local Quantized q[2];
  ResidualPlan plans[2];
  uint32_t widths[2] = {};
  double other_bits[2];
  auto plan_bits = [&](int k) {
    if (!p.packed) return plans[k].cost_bits;
    return 8.0 * static_cast<double>(packed_row_bytes(dim, widths[k])) * tokens + list_cost(q[k].base);
  };
  int kinds = 0;
  for (Kind kind : {Kind::Key, Kind::Value}) {
    if (p.kind != Kind::Auto && p.kind != kind) continue;
    Quantized& c = q[kinds];
    quantize(p, kind, data, tokens, dim, c);
    other_bits[kinds] = other_bits_of(c, sample_stride(tokens));
    if (!p.packed) choose_plan(c, list_cost(c.base), plans[kinds]);
    // Kind by cost needs the exact width; with one kind in bits mode, `bits`
    // is put_packed_codes's guess (nearly always right), which spares a pass.
    else widths[kinds] = p.kind == Kind::Auto || !p.bits ? packed_width(c) : static_cast<uint32_t>(p.bits);
    ++kinds;
  }
  int pick = 0;
  if (kinds == 2) {
    auto total = [&](int k) { return other_bits[k] + plan_bits(k); };
    if (std::fabs(total(0) - total(1)) <= kCloseCall * (plan_bits(0) + plan_bits(1))) {
      for (int k = 0; k < 2; ++k) {
        if (!p.packed) complete_plan(q[k], list_cost(q[k].base), plans[k]);
        if (weigh_error && sample_stride(tokens) > 1) other_bits[k] = other_bits_of(q[k], 1);
      }
    }
    pick = total(1) < total(0);
  }
  const Quantized& t = q[pick];
  ResidualPlan& best_plan = plans[pick];
  if (!p.packed && !best_plan.complete) complete_plan(t, list_cost(t.base), best_plan);
  const bool any_raw = std::find(t.raw.begin(), t.raw.end(), 1) != t.raw.end();
  out.u8(static_cast<uint8_t>(t.kind));
  const bool with_bases = p.packed || best_plan.uses_base;
  out.u8(static_cast<uint8_t>((any_raw ? 1 : 0) | (with_bases ? 2 : 0)));
  if (with_bases) put_signed_list(out, t.base, !p.packed);
  if (p.bits) put_signed_list(out, t.step_index, !p.packed);
  if (p.packed) {
    put_packed_codes(t, widths[pick], out);
  } else {
    put_blob(out, best_plan.predictor.data(), best_plan.predictor.size());
    put_stream(out, best_plan.symbols.data(), best_plan.symbols.size(), best_plan.hist);
    put_blob(out, best_plan.escapes.buffer().data(), best_plan.escapes.size());
  }
  if (any_raw) put_raw_rows(p, t, data, out);
  for (Quantized& c : q)
    if (c.q.capacity() * sizeof(int32_t) > kKeptScratchBytes) c = Quantized();
}

void decode_lossy(const CodecParams& p, ByteReader& r, uint32_t tokens, uint32_t dim, void* out) {
  Quantized t;
  const uint8_t kind = r.u8(), flags = r.u8();
  if (kind > 1) corrupt("unknown lossy tile kind");
  if (flags > 3) corrupt("unknown lossy tile flags");
  t.kind = static_cast<Kind>(kind);
  t.tokens = tokens;
  t.dim = dim;
  const uint32_t rows = t.rows(), len = t.kind == Kind::Key ? tokens : dim;
  const size_t n = static_cast<size_t>(tokens) * dim, elem_bytes = dtype_size(p.dtype);
  t.base.assign(rows, 0);
  if (flags & 2) {
    std::vector<int64_t> base = get_signed_list(r, rows, -kMaxCode, kMaxCode, "row bases");
    t.base.assign(base.begin(), base.end());
  }
  t.step_index.assign(rows, 0);
  if (p.bits) {
    std::vector<int64_t> idx = get_signed_list(r, rows, kStepIndexMin, kStepIndexMax, "row steps");
    t.step_index.assign(idx.begin(), idx.end());
  }
  std::vector<uint8_t> predictor, symbols, escapes;
  uint32_t code_bits = 0;
  const uint8_t* packed = nullptr;
  if (p.packed) {
    if (!(flags & 2)) corrupt("packed codes without row bases");
    code_bits = r.u8();
    if (code_bits > kMaxPackedWidth) corrupt("packed width out of range");
    packed = r.take(packed_row_bytes(dim, code_bits) * tokens);
  } else {
    predictor = get_blob(r, dim);
    if (predictor.size() != dim) corrupt("predictor table has the wrong length");
    for (uint8_t pr : predictor)
      if (pr > static_cast<uint8_t>(Predictor::Zero) || (!(flags & 2) && pr != static_cast<uint8_t>(Predictor::Zero)))
        corrupt("bad predictor table");
    symbols.resize(n);
    get_stream(r, symbols.data(), n);
    escapes = get_blob(r, n * 10);
  }
  ByteReader esc(escapes.data(), escapes.size(), "escapes");
  t.raw.assign(rows, 0);
  const uint8_t* raw_bytes = nullptr;
  std::vector<uint8_t> raw_tile;
  if (flags & 1) {
    const uint8_t* map = r.take((rows + 7) / 8);
    raw_tile.assign(n * elem_bytes, 0);
    for (uint32_t row = 0; row < rows; ++row) {
      t.raw[row] = map[row >> 3] >> (row & 7) & 1;
      if (!t.raw[row]) continue;
      for (uint32_t k = 0; k < len; ++k)
        std::memcpy(raw_tile.data() + element_index(t.kind, dim, row, k) * elem_bytes, r.take(elem_bytes), elem_bytes);
    }
    raw_bytes = raw_tile.data();
  }
  // Codes and values in one pass (dequantize's arithmetic); raw rows are
  // written over afterwards.
  std::vector<double> step(rows);
  for (uint32_t row = 0; row < rows; ++row) step[row] = t.raw[row] ? 0 : row_step(p, t, row);
  if (p.packed) {
    decode_packed_rows(p, t, packed, code_bits, step.data(), out);
  } else {
    decode_predicted_rows(p, t, predictor.data(), symbols.data(), esc, step.data(), out);
    if (esc.left()) corrupt("unused escapes");
  }
  if (raw_bytes) {
    for (uint32_t row = 0; row < rows; ++row)
      if (t.raw[row])
        for (uint32_t k = 0; k < len; ++k) {
          const size_t at = element_index(t.kind, dim, row, k) * elem_bytes;
          std::memcpy(static_cast<uint8_t*>(out) + at, raw_bytes + at, elem_bytes);
        }
  }
}

}  // namespace llmk::kv
