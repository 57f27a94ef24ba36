#include "lossy_rows.h"

#include "../common/cpu.h"

namespace llmk::kv {

namespace {
inline bool avx2() {
#if defined(__x86_64__) || defined(_M_X64)
  return cpu_path() == CpuPath::Avx2;
#else
  return false;
#endif
}
}  // namespace

void extent_rows(DType t, const void* rows, size_t count, const RowExtent& e, size_t n) {
  if (avx2()) return extent_rows_avx2(t, rows, count, e, n);
  for (size_t k = 0, i = 0; k < count; ++k) {
    const RowExtent row = row_view(e, k);
    for (size_t d = 0; d < n; ++d, ++i) extend(row, d * row.stride, load_element(rows, t, i));
  }
}

void quantize_rows(DType t, const void* rows, size_t count, const RowCoder& c, int32_t* q, size_t n) {
  if (avx2()) return quantize_rows_avx2(t, rows, count, c, q, n);
  for (size_t k = 0, i = 0; k < count; ++k) {
    const RowCoder row = row_view(c, k);
    for (size_t d = 0; d < n; ++d, ++i) q[i] = quantize_one(row, d * row.stride, load_element(rows, t, i));
  }
}

bool quantize_row_within(DType t, const void* row, const RowCoder& c, int32_t* q, double max_error, void* decoded, size_t n) {
  if (avx2()) return quantize_row_within_avx2(t, row, c, q, max_error, n);
  quantize_rows(t, row, 1, c, q, n);
  dequantize_row(t, q, c.step, c.stride, decoded, n);
  bool ok = true;
  for (size_t d = 0; d < n; ++d) ok &= within_one(t, row, decoded, max_error, d);
  return ok;
}

double row_squared_error(DType t, const void* decoded, const void* row, const uint8_t* skip, size_t n) {
  if (avx2()) return row_squared_error_avx2(t, decoded, row, skip, n);
  double c[4] = {0, 0, 0, 0};  // four chains of additions, not one
  size_t d = 0;
  for (; d + 4 <= n; d += 4)
    for (int k = 0; k < 4; ++k) c[k] += squared_one(t, decoded, row, skip, d + k);
  for (; d < n; ++d) c[0] += squared_one(t, decoded, row, skip, d);
  return (c[0] + c[1]) + (c[2] + c[3]);
}

bool codes_row(const uint8_t* z, const RowSources& s, int32_t* q, size_t n) {
  if (avx2()) return codes_row_avx2(z, s, q, n);
  int32_t out_of_range = 0;
  for (size_t d = 0; d < n; ++d) {
    q[d] = code_of(z, s, d);
    out_of_range |= (q[d] <= -kMaxCode) | (q[d] >= kMaxCode);
  }
  return !out_of_range;
}

uint32_t offsets_or(const int32_t* q, const int32_t* base, size_t stride, size_t n, size_t count) {
  if (avx2()) return offsets_or_avx2(q, base, stride, n, count);
  uint32_t any = 0;
  for (size_t r = 0; r < count; ++r)
    for (size_t d = 0; d < n; ++d) any |= static_cast<uint32_t>(q[r * n + d] - (stride ? base[d] : base[r]));
  return any;
}

uint32_t pack_offsets_rows(const int32_t* q, const int32_t* base, size_t stride, uint32_t width, uint8_t* out, size_t n, size_t count) {
  if (avx2()) return pack_offsets_rows_avx2(q, base, stride, width, out, n, count);
  const size_t row_bytes = packed_row_bytes(n, width);
  uint32_t any = 0;
  for (size_t r = 0; r < count; ++r) any |= pack_offsets_from(q + r * n, stride ? base : base + r, stride, width, out + r * row_bytes, 0, n);
  return any;
}

void dequantize_row(DType t, const int32_t* q, const double* step, size_t stride, void* out, size_t n) {
  if (avx2()) return dequantize_row_avx2(t, q, step, stride, out, n);
  for (size_t d = 0; d < n; ++d) store_element(out, t, d, static_cast<double>(q[d]) * step[d * stride]);
}

}  // namespace llmk::kv
