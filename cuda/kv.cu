// CUDA twins of the lossy KV quantizer (native/kv/lossy.cc: quantize and
// dequantize). One block per (tile, row) for quantization: the row's range
// by a block reduction, its step from the shared table (float_bits.h), then
// every code, exactly as the CPU computes them; one thread per element for
// dequantization. Packing (kv::pack_codes, the `entropy: false` form): each
// tile's offsets (code - row base) ORed into its width by one thread per
// element, the tiles' byte offsets summed, then one thread per packed byte
// gathers the bits of the offsets that byte holds. The entropy coding of the
// codes stays on the CPU.
#include <climits>

#include "../native/common/cuda_api.h"
#include "common.cuh"

namespace llmk::cuda {

namespace {

constexpr int kBlock = 128;

struct Geometry {
  uint32_t heads, tokens, dim, tile_tokens, blocks;
  __host__ __device__ uint32_t tile_len(uint32_t b) const {
    const uint32_t start = b * tile_tokens;
    return tokens - start < tile_tokens ? tokens - start : tile_tokens;
  }
};

// Global index of element k of row r of tile (head, block).
__device__ size_t element_of(const Geometry& g, bool key, uint32_t head, uint32_t b, uint32_t r, uint32_t k) {
  const uint32_t tok = b * g.tile_tokens + (key ? k : r);
  const uint32_t d = key ? r : k;
  return (static_cast<size_t>(head) * g.tokens + tok) * g.dim + d;
}

__global__ void quantize_rows_kernel(kv::CodecParams p, bool key, const void* data, Geometry g, int32_t* q,
                                     int32_t* base, int16_t* step_index, uint8_t* raw, uint32_t rows_max) {
  const uint32_t tile = blockIdx.y, r = blockIdx.x;
  const uint32_t head = tile / g.blocks, b = tile % g.blocks;
  const uint32_t len_tokens = g.tile_len(b);
  const uint32_t rows = key ? g.dim : len_tokens, len = key ? len_tokens : g.dim;
  if (r >= rows) return;
  __shared__ double s_lo[kBlock], s_hi[kBlock];
  __shared__ int s_raw, s_base, s_index;
  __shared__ double s_step;
  if (threadIdx.x == 0) {
    s_raw = 0;
    s_base = INT_MAX;
    s_index = 0;
  }
  double lo = INFINITY, hi = -INFINITY;
  bool bad = false;
  for (uint32_t k = threadIdx.x; k < len; k += blockDim.x) {
    const double x = kv::load_element(data, p.dtype, element_of(g, key, head, b, r, k));
    if (!isfinite(x)) bad = true;
    lo = fmin(lo, x);
    hi = fmax(hi, x);
  }
  s_lo[threadIdx.x] = lo;
  s_hi[threadIdx.x] = hi;
  __syncthreads();
  if (bad) atomicOr(&s_raw, 1);
  for (int stride = kBlock / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      s_lo[threadIdx.x] = fmin(s_lo[threadIdx.x], s_lo[threadIdx.x + stride]);
      s_hi[threadIdx.x] = fmax(s_hi[threadIdx.x], s_hi[threadIdx.x + stride]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0 && !s_raw) {
    if (p.bits) {
      int index;
      if (kv::bits_step(p.bits, s_lo[0], s_hi[0], &index)) {
        s_index = index;
        s_step = kv::step_for_index(index);
      } else {
        s_raw = 1;
      }
    } else {
      s_step = 2 * p.max_error;
    }
  }
  __syncthreads();
  const bool was_raw = s_raw;
  if (!was_raw) {
    for (uint32_t k = threadIdx.x; k < len; k += blockDim.x) {
      const size_t i = element_of(g, key, head, b, r, k);
      const double x = kv::load_element(data, p.dtype, i);
      const double v = __ddiv_rn(x, s_step);
      if (!(fabs(v) < static_cast<double>(kv::kMaxCode))) {
        atomicOr(&s_raw, 1);
        continue;
      }
      double c = kv::round_even(v);
      if (!p.bits) {
        auto ok = [&](double cc) { return fabs(kv::rounded_to(p.dtype, __dmul_rn(cc, s_step)) - x) <= p.max_error; };
        if (!ok(c)) {
          if (ok(c - 1)) c -= 1;
          else if (ok(c + 1)) c += 1;
          else atomicOr(&s_raw, 1);
        }
      }
      if (!(fabs(c) < static_cast<double>(kv::kMaxCode))) atomicOr(&s_raw, 1);
      q[i] = static_cast<int32_t>(c);
      atomicMin(&s_base, static_cast<int32_t>(c));
    }
  }
  __syncthreads();
  if (s_raw)
    for (uint32_t k = threadIdx.x; k < len; k += blockDim.x) q[element_of(g, key, head, b, r, k)] = 0;
  if (threadIdx.x == 0) {
    const size_t at = static_cast<size_t>(tile) * rows_max + r;
    raw[at] = static_cast<uint8_t>(s_raw);
    base[at] = s_raw || s_base == INT_MAX ? 0 : s_base;
    step_index[at] = static_cast<int16_t>(s_raw ? 0 : s_index);
  }
}

__global__ void dequantize_kernel(kv::CodecParams p, const bool* key_of_tile, const int32_t* q, const int16_t* step_index,
                                  const uint8_t* raw, uint32_t rows_max, const void* raw_source, Geometry g, void* out) {
  const size_t n = static_cast<size_t>(g.heads) * g.tokens * g.dim;
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const uint32_t d = static_cast<uint32_t>(i % g.dim);
  const size_t ht = i / g.dim;
  const uint32_t tok = static_cast<uint32_t>(ht % g.tokens), head = static_cast<uint32_t>(ht / g.tokens);
  const uint32_t b = tok / g.tile_tokens;
  const size_t tile = static_cast<size_t>(head) * g.blocks + b;
  const uint32_t r = key_of_tile[tile] ? d : tok - b * g.tile_tokens;
  const size_t at = tile * rows_max + r;
  if (raw[at]) {
    if (p.dtype == kv::DType::F32)
      static_cast<uint32_t*>(out)[i] = static_cast<const uint32_t*>(raw_source)[i];
    else
      static_cast<uint16_t*>(out)[i] = static_cast<const uint16_t*>(raw_source)[i];
    return;
  }
  const double step = p.bits ? kv::step_for_index(step_index[at]) : 2 * p.max_error;
  kv::store_element(out, p.dtype, i, __dmul_rn(static_cast<double>(q[i]), step));
}

// The offset of element i from its row base (bases tile by tile, rows_max
// to a tile, as quantize_rows_kernel writes them); *tile_out: i's tile.
__device__ uint32_t offset_of(bool key, const int32_t* q, const int32_t* base, uint32_t rows_max, const Geometry& g,
                              size_t i, size_t* tile_out) {
  const uint32_t d = static_cast<uint32_t>(i % g.dim);
  const size_t ht = i / g.dim;
  const uint32_t tok = static_cast<uint32_t>(ht % g.tokens), head = static_cast<uint32_t>(ht / g.tokens);
  const uint32_t b = tok / g.tile_tokens;
  const size_t tile = static_cast<size_t>(head) * g.blocks + b;
  *tile_out = tile;
  const uint32_t r = key ? d : tok - b * g.tile_tokens;
  return static_cast<uint32_t>(q[i] - base[tile * rows_max + r]);
}

__global__ void offsets_or_kernel(bool key, const int32_t* q, const int32_t* base, uint32_t rows_max,
                                  Geometry g, uint32_t* any) {
  const size_t n = static_cast<size_t>(g.heads) * g.tokens * g.dim;
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  size_t tile;
  const uint32_t off = offset_of(key, q, base, rows_max, g, i, &tile);
  if (off) atomicOr(&any[tile], off);
}

// One thread: each tile's width (the bit length of its offsets' OR) and the
// byte where its packed rows start.
__global__ void packed_layout_kernel(const uint32_t* any, Geometry g, size_t count, uint32_t* width,
                                     unsigned long long* start) {
  unsigned long long at = 0;
  for (size_t t = 0; t < count; ++t) {
    width[t] = any[t] ? 32 - __clz(any[t]) : 0;
    start[t] = at;
    at += static_cast<unsigned long long>(g.tile_len(static_cast<uint32_t>(t % g.blocks))) *
          ((static_cast<unsigned long long>(g.dim) * width[t] + 7) / 8);
  }
  start[count] = at;
}

// Block (token row, tile); each thread a packed byte of the row: bits
// [8j, 8j + 8) of the row's offsets laid end to end, least significant first.
__global__ void pack_kernel(bool key, const int32_t* q, const int32_t* base, uint32_t rows_max, Geometry g,
                            const uint32_t* width, const unsigned long long* start, uint8_t* out) {
  const uint32_t tile = blockIdx.y, row = blockIdx.x;
  const uint32_t head = tile / g.blocks, b = tile % g.blocks;
  if (row >= g.tile_len(b)) return;
  const uint32_t w = width[tile];
  const size_t row_bytes = (static_cast<size_t>(g.dim) * w + 7) / 8;
  const size_t first = (static_cast<size_t>(head) * g.tokens + static_cast<size_t>(b) * g.tile_tokens + row) * g.dim;
  uint8_t* dst = out + start[tile] + row * row_bytes;
  for (size_t j = threadIdx.x; j < row_bytes; j += blockDim.x) {
    const size_t lo_bit = 8 * j;
    const uint32_t e0 = static_cast<uint32_t>(lo_bit / w), e1 = min(g.dim - 1, static_cast<uint32_t>((lo_bit + 7) / w));
    uint32_t byte = 0;
    for (uint32_t e = e0; e <= e1; ++e) {
      size_t unused;
      const uint64_t off = offset_of(key, q, base, rows_max, g, first + e, &unused);
      const int64_t shift = static_cast<int64_t>(e) * w - static_cast<int64_t>(lo_bit);
      byte |= static_cast<uint32_t>(shift >= 0 ? off << shift : off >> -shift);
    }
    dst[j] = static_cast<uint8_t>(byte);
  }
}

Geometry geometry(uint32_t heads, uint32_t tokens, uint32_t dim, uint32_t tile_tokens) {
  return {heads, tokens, dim, tile_tokens, (tokens + tile_tokens - 1) / tile_tokens};
}

struct Timer {
  cudaEvent_t start, stop;
  Timer() {
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
    check(cudaEventRecord(start), "cudaEventRecord");
  }
  float done() {
    check(cudaEventRecord(stop), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    return ms;
  }
  ~Timer() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
};

}  // namespace

namespace {

// A tensor quantized on the device: its codes, bases, steps and raw flags
// (rows_max rows a tile), as quantize_rows_kernel leaves them.
struct DeviceQuantized {
  Geometry g;
  bool key;
  size_t n, count;
  uint32_t rows_max;
  DeviceBuffer data, q, base, step, raw;

  DeviceQuantized(const kv::CodecParams& p, kv::Kind kind, const void* host, uint32_t heads, uint32_t tokens,
                  uint32_t dim, uint32_t tile_tokens)
      : g(geometry(heads, tokens, dim, tile_tokens)),
        key(kind == kv::Kind::Key),
        n(static_cast<size_t>(heads) * tokens * dim),
        count(static_cast<size_t>(heads) * g.blocks),
        rows_max(key ? dim : tile_tokens),
        data(n * kv::dtype_size(p.dtype)),
        q(n * 4),
        base(count * rows_max * 4),
        step(count * rows_max * 2),
        raw(count * rows_max) {
    check(cudaMemcpy(data.ptr, host, n * kv::dtype_size(p.dtype), cudaMemcpyHostToDevice), "cudaMemcpy data");
  }

  void quantize(const kv::CodecParams& p) {
    quantize_rows_kernel<<<dim3(rows_max, static_cast<unsigned>(count)), kBlock>>>(
        p, key, data.ptr, g, q.as<int32_t>(), base.as<int32_t>(), step.as<int16_t>(), raw.as<uint8_t>(), rows_max);
    check(cudaGetLastError(), "quantize_rows_kernel launch");
  }

  void copy_out(kv::Kind kind, std::vector<kv::Quantized>& tiles) {
    std::vector<int32_t> h_q(n), h_base(count * rows_max);
    std::vector<int16_t> h_step(count * rows_max);
    std::vector<uint8_t> h_raw(count * rows_max);
    check(cudaMemcpy(h_q.data(), q.ptr, n * 4, cudaMemcpyDeviceToHost), "cudaMemcpy q");
    check(cudaMemcpy(h_base.data(), base.ptr, h_base.size() * 4, cudaMemcpyDeviceToHost), "cudaMemcpy base");
    check(cudaMemcpy(h_step.data(), step.ptr, h_step.size() * 2, cudaMemcpyDeviceToHost), "cudaMemcpy step");
    check(cudaMemcpy(h_raw.data(), raw.ptr, h_raw.size(), cudaMemcpyDeviceToHost), "cudaMemcpy raw");
    tiles.assign(count, {});
    for (size_t t = 0; t < count; ++t) {
      kv::Quantized& out = tiles[t];
      const uint32_t head = static_cast<uint32_t>(t / g.blocks), b = static_cast<uint32_t>(t % g.blocks);
      out.kind = kind;
      out.tokens = g.tile_len(b);
      out.dim = g.dim;
      const size_t first = (static_cast<size_t>(head) * g.tokens + static_cast<size_t>(b) * g.tile_tokens) * g.dim;
      out.q.assign(h_q.begin() + first, h_q.begin() + first + static_cast<size_t>(out.tokens) * g.dim);
      const uint32_t rows = out.rows();
      out.base.assign(h_base.begin() + t * rows_max, h_base.begin() + t * rows_max + rows);
      out.step_index.assign(h_step.begin() + t * rows_max, h_step.begin() + t * rows_max + rows);
      out.raw.assign(h_raw.begin() + t * rows_max, h_raw.begin() + t * rows_max + rows);
    }
  }
};

}  // namespace

void kv_quantize(const kv::CodecParams& p, kv::Kind kind, const void* data, uint32_t heads, uint32_t tokens,
                 uint32_t dim, uint32_t tile_tokens, std::vector<kv::Quantized>& tiles, float* kernel_ms) {
  require_device();
  if (static_cast<size_t>(heads) * tokens * dim == 0) {
    tiles.assign(static_cast<size_t>(heads) * geometry(heads, tokens, dim, tile_tokens).blocks, {});
    return;
  }
  DeviceQuantized d(p, kind, data, heads, tokens, dim, tile_tokens);
  Timer timer;
  d.quantize(p);
  const float ms = timer.done();
  if (kernel_ms) *kernel_ms = ms;
  d.copy_out(kind, tiles);
}

void kv_quantize_pack(const kv::CodecParams& p, kv::Kind kind, const void* data, uint32_t heads, uint32_t tokens,
                      uint32_t dim, uint32_t tile_tokens, std::vector<kv::Quantized>& tiles, std::vector<uint32_t>& widths,
                      std::vector<std::vector<uint8_t>>& packed, float* kernel_ms) {
  require_device();
  const size_t count = static_cast<size_t>(heads) * geometry(heads, tokens, dim, tile_tokens).blocks;
  if (static_cast<size_t>(heads) * tokens * dim == 0) {
    tiles.assign(count, {});
    widths.assign(count, 0);
    packed.assign(count, {});
    return;
  }
  DeviceQuantized d(p, kind, data, heads, tokens, dim, tile_tokens);
  DeviceBuffer any(count * 4), width(count * 4), start((count + 1) * 8),
      out(d.n * 4);  // at most 31 bits an offset, plus a partial byte a row: within 4 bytes an element
  check(cudaMemset(any.ptr, 0, count * 4), "cudaMemset");
  Timer timer;
  d.quantize(p);
  const int block = 256;
  offsets_or_kernel<<<static_cast<unsigned>((d.n + block - 1) / block), block>>>(d.key, d.q.as<int32_t>(), d.base.as<int32_t>(),
                                                                                d.rows_max, d.g, any.as<uint32_t>());
  check(cudaGetLastError(), "offsets_or_kernel launch");
  packed_layout_kernel<<<1, 1>>>(any.as<uint32_t>(), d.g, count, width.as<uint32_t>(), start.as<unsigned long long>());
  check(cudaGetLastError(), "packed_layout_kernel launch");
  pack_kernel<<<dim3(tile_tokens, static_cast<unsigned>(count)), kBlock>>>(
      d.key, d.q.as<int32_t>(), d.base.as<int32_t>(), d.rows_max, d.g, width.as<uint32_t>(), start.as<unsigned long long>(),
      out.as<uint8_t>());
  check(cudaGetLastError(), "pack_kernel launch");
  const float ms = timer.done();
  if (kernel_ms) *kernel_ms = ms;
  d.copy_out(kind, tiles);
  widths.resize(count);
  std::vector<unsigned long long> h_start(count + 1);
  check(cudaMemcpy(widths.data(), width.ptr, count * 4, cudaMemcpyDeviceToHost), "cudaMemcpy widths");
  check(cudaMemcpy(h_start.data(), start.ptr, (count + 1) * 8, cudaMemcpyDeviceToHost), "cudaMemcpy starts");
  std::vector<uint8_t> h_out(h_start[count]);
  check(cudaMemcpy(h_out.data(), out.ptr, h_out.size(), cudaMemcpyDeviceToHost), "cudaMemcpy packed");
  packed.assign(count, {});
  for (size_t t = 0; t < count; ++t) packed[t].assign(h_out.begin() + h_start[t], h_out.begin() + h_start[t + 1]);
}

void kv_dequantize(const kv::CodecParams& p, const std::vector<kv::Quantized>& tiles, const void* raw_source,
                   uint32_t heads, uint32_t tokens, uint32_t dim, uint32_t tile_tokens, void* out, float* kernel_ms) {
  require_device();
  const Geometry g = geometry(heads, tokens, dim, tile_tokens);
  const size_t n = static_cast<size_t>(heads) * tokens * dim, count = static_cast<size_t>(heads) * g.blocks;
  if (tiles.size() != count) throw Error(ErrorKind::Range, "ERR_LLMK_BAD_SHAPE", "kv_dequantize: tile count mismatch");
  if (n == 0) return;
  const uint32_t rows_max = std::max(dim, tile_tokens);
  const size_t width = kv::dtype_size(p.dtype);
  std::vector<int32_t> q(n);
  std::vector<int16_t> step(count * rows_max, 0);
  std::vector<uint8_t> raw(count * rows_max, 0);
  std::vector<char> key(count);
  for (size_t t = 0; t < count; ++t) {
    const kv::Quantized& tile = tiles[t];
    const uint32_t head = static_cast<uint32_t>(t / g.blocks), b = static_cast<uint32_t>(t % g.blocks);
    const size_t first = (static_cast<size_t>(head) * tokens + static_cast<size_t>(b) * tile_tokens) * dim;
    std::copy(tile.q.begin(), tile.q.end(), q.begin() + first);
    std::copy(tile.step_index.begin(), tile.step_index.end(), step.begin() + t * rows_max);
    std::copy(tile.raw.begin(), tile.raw.end(), raw.begin() + t * rows_max);
    key[t] = tile.kind == kv::Kind::Key;
  }
  DeviceBuffer d_q(n * 4), d_step(step.size() * 2), d_raw(raw.size()), d_key(count),
      d_src(n * width), d_out(n * width);
  check(cudaMemcpy(d_q.ptr, q.data(), n * 4, cudaMemcpyHostToDevice), "cudaMemcpy q");
  check(cudaMemcpy(d_step.ptr, step.data(), step.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy step");
  check(cudaMemcpy(d_raw.ptr, raw.data(), raw.size(), cudaMemcpyHostToDevice), "cudaMemcpy raw");
  check(cudaMemcpy(d_key.ptr, key.data(), count, cudaMemcpyHostToDevice), "cudaMemcpy key");
  check(cudaMemcpy(d_src.ptr, raw_source, n * width, cudaMemcpyHostToDevice), "cudaMemcpy raw source");
  Timer timer;
  const int block = 256;
  dequantize_kernel<<<static_cast<unsigned>((n + block - 1) / block), block>>>(
      p, d_key.as<bool>(), d_q.as<int32_t>(), d_step.as<int16_t>(), d_raw.as<uint8_t>(), rows_max,
      d_src.ptr, g, d_out.ptr);
  check(cudaGetLastError(), "dequantize_kernel launch");
  const float ms = timer.done();
  if (kernel_ms) *kernel_ms = ms;
  check(cudaMemcpy(out, d_out.ptr, n * width, cudaMemcpyDeviceToHost), "cudaMemcpy out");
}

}  // namespace llmk::cuda
