// Lossy tiles: quantize to integer codes, predict the codes, entropy-code the
// residuals. Prediction is exact integer arithmetic, so the error of a decoded
// element is the quantizer's alone.
#include <algorithm>
#include <cmath>

#include "codec.h"
#include "rans.h"

namespace llmk::kv {

namespace {

// The smallest step index whose step is >= d (exact comparisons with the
// table, so the answer does not depend on the platform's log2).
bool step_index_for(double d, int& index) {
  int e = static_cast<int>(std::ceil(16 * std::log2(d)));
  e = std::clamp(e, kStepIndexMin, kStepIndexMax);
  while (e < kStepIndexMax && step_for_index(e) < d) ++e;
  while (e > kStepIndexMin && step_for_index(e - 1) >= d) --e;
  index = e;
  return step_for_index(e) >= d;
}

// Quantizes row r; false when the row must be stored raw.
bool quantize_row(const CodecParams& p, Kind kind, const void* data, uint32_t dim, uint32_t r, uint32_t len,
                  Quantized& t) {
  double lo = INFINITY, hi = -INFINITY;
  for (uint32_t k = 0; k < len; ++k) {
    const double x = load_element(data, p.dtype, element_index(kind, dim, r, k));
    if (!std::isfinite(x)) return false;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  double step;
  if (p.bits) {
    double d = (hi - lo) / ((1 << p.bits) - 1);
    // A constant row: any step small against its value reproduces it closely.
    if (!(d > 0)) d = std::max(std::fabs(lo) * 0x1p-24, 0x1p-120);
    int index;
    if (!step_index_for(d, index)) return false;
    t.step_index[r] = static_cast<int16_t>(index);
    step = step_for_index(index);
  } else {
    step = 2 * p.max_error;
  }
  int32_t base = INT32_MAX;
  for (uint32_t k = 0; k < len; ++k) {
    const size_t i = element_index(kind, dim, r, k);
    const double x = load_element(data, p.dtype, i);
    const double v = std::nearbyint(x / step);
    if (!(std::fabs(v) < static_cast<double>(kMaxCode))) return false;
    int64_t q = static_cast<int64_t>(v);
    if (!p.bits) {
      // maxError is a promise about the decoded dtype value: check it, and
      // try the neighbouring codes when rounding to the dtype breaks it.
      auto ok = [&](int64_t c) { return std::fabs(rounded_to(p.dtype, static_cast<double>(c) * step) - x) <= p.max_error; };
      if (!ok(q)) {
        if (ok(q - 1))
          q -= 1;
        else if (ok(q + 1))
          q += 1;
        else
          return false;
      }
    }
    t.q[i] = static_cast<int32_t>(q);
    base = std::min(base, static_cast<int32_t>(q));
  }
  t.base[r] = len ? base : 0;
  return true;
}

int64_t residual(const Quantized& t, Predictor pred, uint32_t tok, uint32_t d, int64_t q) {
  const uint32_t dim = t.dim;
  const uint32_t row = t.kind == Kind::Key ? d : tok;
  if (pred == Predictor::Previous && tok > 0) return q - t.q[static_cast<size_t>(tok - 1) * dim + d];
  if (pred == Predictor::Anchor && tok % kAnchorGroup) return q - t.q[static_cast<size_t>(tok - tok % kAnchorGroup) * dim + d];
  if (pred == Predictor::Zero) return q;
  return q - t.base[row];
}

void put_signed_list(ByteWriter& w, const std::vector<int64_t>& values) {
  ByteWriter list;
  int64_t prev = 0;
  for (int64_t v : values) {
    list.varint(zigzag(v - prev));
    prev = v;
  }
  put_blob(w, list.buffer().data(), list.size());
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

// Residual symbols: zigzag(code - prediction), 255 escaping to a varint.
// Each channel of a tile has its own predictor (key channels differ: after
// RoPE the slowly rotating pairs are smooth across tokens, the fast ones are
// not); all symbols share one frequency table, because on tiles of a few
// thousand elements more tables cost more than they save (measured).
struct ResidualPlan {
  std::vector<uint8_t> predictor;  // per channel
  std::vector<uint8_t> symbols;    // element order
  ByteWriter escapes;              // varints of symbols >= 255, element order
  double cost_bits = 0;
};

int varint_bytes(uint64_t v) {
  int n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

// Predictors per channel: `forced` for all, or (forced < 0) each channel's
// cheapest on its own.
void plan_residuals(const Quantized& t, int forced, ResidualPlan& plan) {
  const uint32_t tokens = t.tokens, dim = t.dim;
  plan.predictor.assign(dim, static_cast<uint8_t>(forced < 0 ? 0 : forced));
  for (uint32_t d = 0; forced < 0 && d < dim; ++d) {
    double best = INFINITY;
    for (Predictor pred : {Predictor::None, Predictor::Previous, Predictor::Anchor, Predictor::Zero}) {
      uint32_t hist[256] = {0};
      double escape_bits = 0;
      for (uint32_t tok = 0; tok < tokens; ++tok) {
        const uint64_t z = zigzag(residual(t, pred, tok, d, t.q[static_cast<size_t>(tok) * dim + d]));
        ++hist[z < 255 ? z : 255];
        if (z >= 255) escape_bits += 8 * varint_bytes(z - 255);
      }
      const double bits = entropy_bits(hist, tokens) + escape_bits;
      if (bits < best) {
        best = bits;
        plan.predictor[d] = static_cast<uint8_t>(pred);
      }
    }
  }
  const size_t n = static_cast<size_t>(tokens) * dim;
  plan.symbols.resize(n);
  plan.escapes = ByteWriter();
  uint32_t hist[256] = {0};
  size_t i = 0;
  for (uint32_t tok = 0; tok < tokens; ++tok)
    for (uint32_t d = 0; d < dim; ++d, ++i) {
      const uint64_t z = zigzag(residual(t, static_cast<Predictor>(plan.predictor[d]), tok, d, t.q[i]));
      plan.symbols[i] = static_cast<uint8_t>(z < 255 ? z : 255);
      if (z >= 255) plan.escapes.varint(z - 255);
      ++hist[plan.symbols[i]];
    }
  plan.cost_bits = entropy_bits(hist, n) + 8.0 * plan.escapes.size() + (forced < 0 ? 2.0 * dim : 0);
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

// Row bases are only stored when a predictor uses them.
bool uses_base(const ResidualPlan& plan) {
  return std::any_of(plan.predictor.begin(), plan.predictor.end(),
                     [](uint8_t pr) { return pr != static_cast<uint8_t>(Predictor::Zero); });
}

}  // namespace

void quantize(const CodecParams& p, Kind kind, const void* data, uint32_t tokens, uint32_t dim, Quantized& t) {
  t.kind = kind;
  t.tokens = tokens;
  t.dim = dim;
  const uint32_t rows = t.rows(), len = kind == Kind::Key ? tokens : dim;
  t.q.assign(static_cast<size_t>(tokens) * dim, 0);
  t.base.assign(rows, 0);
  t.step_index.assign(rows, 0);
  t.raw.assign(rows, 0);
  for (uint32_t r = 0; r < rows; ++r) {
    if (quantize_row(p, kind, data, dim, r, len, t)) continue;
    t.raw[r] = 1;
    t.base[r] = 0;
    t.step_index[r] = 0;
    for (uint32_t k = 0; k < len; ++k) t.q[element_index(kind, dim, r, k)] = 0;
  }
}

void dequantize(const CodecParams& p, const Quantized& t, const void* raw_source, void* out) {
  const size_t width = dtype_size(p.dtype);
  const uint32_t rows = t.rows(), len = t.kind == Kind::Key ? t.tokens : t.dim;
  for (uint32_t r = 0; r < rows; ++r) {
    if (t.raw[r]) {
      for (uint32_t k = 0; k < len; ++k) {
        const size_t i = element_index(t.kind, t.dim, r, k);
        std::memcpy(static_cast<uint8_t*>(out) + i * width, static_cast<const uint8_t*>(raw_source) + i * width, width);
      }
      continue;
    }
    const double step = row_step(p, t, r);
    for (uint32_t k = 0; k < len; ++k) {
      const size_t i = element_index(t.kind, t.dim, r, k);
      store_element(out, p.dtype, i, static_cast<double>(t.q[i]) * step);
    }
  }
}

// Squared error of a quantized tile against its input (raw rows add none).
double squared_error(const CodecParams& p, const Quantized& t, const void* data) {
  double sum = 0;
  const uint32_t len = t.kind == Kind::Key ? t.tokens : t.dim;
  for (uint32_t r = 0; r < t.rows(); ++r) {
    if (t.raw[r]) continue;
    const double step = row_step(p, t, r);
    for (uint32_t k = 0; k < len; ++k) {
      const size_t i = element_index(t.kind, t.dim, r, k);
      const double e = rounded_to(p.dtype, static_cast<double>(t.q[i]) * step) - load_element(data, p.dtype, i);
      sum += e * e;
    }
  }
  return sum;
}

void encode_lossy(const CodecParams& p, const void* data, uint32_t tokens, uint32_t dim, ByteWriter& out) {
  // kind 'auto': quantize both ways and keep the cheaper. With maxError both
  // meet the same bound, so cheaper means fewer bits; with `bits` the two
  // kinds give different errors, so the cost is rate plus distortion, with
  // halving the RMS error worth one bit per element (the slope of uniform
  // quantization): bits + n * log2(RMS error).
  const size_t n = static_cast<size_t>(tokens) * dim;
  Quantized best_q, cand;
  ResidualPlan best_plan, plan;
  double best_cost = INFINITY;
  for (Kind kind : {Kind::Key, Kind::Value}) {
    if (p.kind != Kind::Auto && p.kind != kind) continue;
    quantize(p, kind, data, tokens, dim, cand);
    double base_cost = p.bits ? list_cost(cand.step_index) : 0;
    const double bases = list_cost(cand.base);
    if (p.kind == Kind::Auto && p.bits && n)
      base_cost += 0.5 * static_cast<double>(n) * std::log2(squared_error(p, cand, data) / static_cast<double>(n) + 1e-300);
    bool improved = false;
    for (int forced = -1; forced <= 3; ++forced) {
      plan_residuals(cand, forced, plan);
      const double cost = base_cost + plan.cost_bits + (uses_base(plan) ? bases : 0);
      if (cost < best_cost) {
        best_cost = cost;
        std::swap(best_plan, plan);
        improved = true;
      }
    }
    if (improved) best_q = cand;
  }
  const Quantized& t = best_q;
  const uint32_t rows = t.rows();
  const bool any_raw = std::find(t.raw.begin(), t.raw.end(), 1) != t.raw.end();
  out.u8(static_cast<uint8_t>(t.kind));
  const bool with_bases = uses_base(best_plan);
  out.u8(static_cast<uint8_t>((any_raw ? 1 : 0) | (with_bases ? 2 : 0)));
  if (with_bases) put_signed_list(out, std::vector<int64_t>(t.base.begin(), t.base.end()));
  if (p.bits) put_signed_list(out, std::vector<int64_t>(t.step_index.begin(), t.step_index.end()));
  put_blob(out, best_plan.predictor.data(), best_plan.predictor.size());
  put_stream(out, best_plan.symbols.data(), best_plan.symbols.size());
  put_blob(out, best_plan.escapes.buffer().data(), best_plan.escapes.size());
  if (any_raw) {
    const size_t width = dtype_size(p.dtype);
    const uint32_t len = t.kind == Kind::Key ? tokens : dim;
    std::vector<uint8_t> map((rows + 7) / 8, 0);
    for (uint32_t r = 0; r < rows; ++r)
      if (t.raw[r]) map[r >> 3] |= static_cast<uint8_t>(1u << (r & 7));
    out.bytes(map.data(), map.size());
    for (uint32_t r = 0; r < rows; ++r)
      if (t.raw[r])
        for (uint32_t k = 0; k < len; ++k)
          out.bytes(static_cast<const uint8_t*>(data) + element_index(t.kind, dim, r, k) * width, width);
  }
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
  const size_t n = static_cast<size_t>(tokens) * dim;
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
  std::vector<uint8_t> predictor = get_blob(r, dim);
  if (predictor.size() != dim) corrupt("predictor table has the wrong length");
  for (uint8_t pr : predictor)
    if (pr > static_cast<uint8_t>(Predictor::Zero) || (!(flags & 2) && pr != static_cast<uint8_t>(Predictor::Zero)))
      corrupt("bad predictor table");
  std::vector<uint8_t> symbols(n);
  get_stream(r, symbols.data(), n);
  std::vector<uint8_t> escapes = get_blob(r, n * 10);
  ByteReader esc(escapes.data(), escapes.size(), "escapes");
  t.raw.assign(rows, 0);
  const uint8_t* raw_bytes = nullptr;
  std::vector<uint8_t> raw_tile;
  if (flags & 1) {
    const uint8_t* map = r.take((rows + 7) / 8);
    const size_t width = dtype_size(p.dtype);
    raw_tile.assign(n * width, 0);
    for (uint32_t row = 0; row < rows; ++row) {
      t.raw[row] = map[row >> 3] >> (row & 7) & 1;
      if (!t.raw[row]) continue;
      for (uint32_t k = 0; k < len; ++k)
        std::memcpy(raw_tile.data() + element_index(t.kind, dim, row, k) * width, r.take(width), width);
    }
    raw_bytes = raw_tile.data();
  }
  t.q.assign(n, 0);
  size_t i = 0;
  for (uint32_t tok = 0; tok < tokens; ++tok)
    for (uint32_t d = 0; d < dim; ++d, ++i) {
      uint64_t z = symbols[i];
      if (z == 255) {
        const uint64_t extra = esc.varint();
        if (extra > (uint64_t{1} << 40)) corrupt("residual out of range");
        z += extra;
      }
      // residual() with q = 0 is minus the prediction.
      const int64_t q = unzigzag(z) - residual(t, static_cast<Predictor>(predictor[d]), tok, d, 0);
      if (q <= -kMaxCode || q >= kMaxCode) corrupt("code out of range");
      t.q[i] = static_cast<int32_t>(q);
    }
  if (esc.left()) corrupt("unused escapes");
  dequantize(p, t, raw_bytes, out);
}

}  // namespace llmk::kv
