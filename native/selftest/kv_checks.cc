#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "../common/cpu.h"
#include "../common/cuda_api.h"
#include "../kv/container.h"
#include "../kv/lossy_rows.h"
#include "../kv/packed.h"
#include "../kv/rans.h"
#include "../kv/rans_lanes.h"
#include "checks.h"

namespace llmk::selftest {

namespace {

using kv::DType;

std::vector<float> synthetic(size_t heads, size_t tokens, size_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> g(0, 1);
  std::vector<float> out(heads * tokens * dim);
  std::vector<double> walk(dim, 0), scale(dim);
  for (size_t d = 0; d < dim; ++d) scale[d] = (d % 17 == 3 ? 10 : 1) * (0.5 + std::fabs(g(rng)));
  for (size_t h = 0; h < heads; ++h)
    for (size_t t = 0; t < tokens; ++t)
      for (size_t d = 0; d < dim; ++d) {
        walk[d] = 0.95 * walk[d] + 0.31 * g(rng);
        out[(h * tokens + t) * dim + d] = static_cast<float>(scale[d] * walk[d]);
      }
  return out;
}

void check_half_conversions() {
  for (uint32_t h = 0; h < 65536; ++h) {
    const double a = kv::f16_to_double(static_cast<uint16_t>(h)), b = kv::bf16_to_double(static_cast<uint16_t>(h));
    if (!std::isnan(a)) expect(kv::double_to_f16(a) == h, "f16 round trip of pattern " + std::to_string(h));
    if (!std::isnan(b)) expect(kv::double_to_bf16(b) == h, "bf16 round trip of pattern " + std::to_string(h));
    // bf16 is the top half of a float32: widening must agree with the float path.
    const uint32_t f = h << 16;
    float ff;
    std::memcpy(&ff, &f, 4);
    if (!std::isnan(ff)) expect(b == static_cast<double>(ff), "bf16 value of pattern " + std::to_string(h));
  }
  // The fast rounding (through float32 rounded to odd) against the exact
  // integer path, on values at and around every tie of both formats.
  std::mt19937_64 rng(3);
  for (int k = 0; k < 2000000; ++k) {
    const uint64_t r = rng();
    double d;
    if (k & 1) {
      // A 16-bit value, plus or minus a tiny amount, or exactly halfway to its neighbour.
      const uint16_t h = static_cast<uint16_t>(r);
      const double a = (k & 2) ? kv::f16_to_double(h) : kv::bf16_to_double(h);
      const double b = (k & 2) ? kv::f16_to_double(static_cast<uint16_t>(h + 1)) : kv::bf16_to_double(static_cast<uint16_t>(h + 1));
      if (!std::isfinite(a) || !std::isfinite(b)) continue;
      const int pick = static_cast<int>((r >> 16) % 4);
      d = pick == 0 ? (a + b) / 2 : pick == 1 ? std::nextafter((a + b) / 2, 0.0) : pick == 2 ? std::nextafter((a + b) / 2, 1e300) : a;
    } else {
      d = std::ldexp(static_cast<double>(r >> 11) / 9007199254740992.0, static_cast<int>(((r >> 1) & 511) % 300) - 150);
      if (r & 256) d = -d;
    }
    expect(kv::double_to_f16(d) == kv::double_to_small<5, 10>(d), "fast f16 rounding of " + std::to_string(d));
    expect(kv::double_to_bf16(d) == kv::double_to_small<8, 7>(d), "fast bf16 rounding of " + std::to_string(d));
  }
  // Whole rows (AVX2 and F16C where there are) agree with the element-wise
  // rounding, for every dtype, per-channel steps and one step per row.
  std::vector<int32_t> q(4099);
  std::vector<double> steps(q.size());
  std::vector<uint8_t> row(q.size() * 4), want(row.size());
  for (int round = 0; round < 300; ++round) {
    const int scale = static_cast<int>(rng() % 300) - 160;  // steps from tiny to past the float range
    for (size_t i = 0; i < q.size(); ++i) {
      const uint64_t r = rng();
      const int64_t half = int64_t{1} << ((r >> 58) % 31);  // codes of every magnitude below 2^30
      q[i] = static_cast<int32_t>(static_cast<int64_t>(r % (2 * static_cast<uint64_t>(half))) - half);
      steps[i] = std::ldexp(1.0 + static_cast<double>(rng() >> 11) / 9007199254740992.0, scale + static_cast<int>(rng() % 20));
    }
    for (kv::DType t : {kv::DType::F32, kv::DType::F16, kv::DType::BF16})
      for (size_t stride : {size_t(0), size_t(1)}) {
        kv::dequantize_row(t, q.data(), steps.data(), stride, row.data(), q.size());
        for (size_t i = 0; i < q.size(); ++i) kv::store_element(want.data(), t, i, static_cast<double>(q[i]) * steps[i * stride]);
        expect(std::memcmp(row.data(), want.data(), q.size() * kv::dtype_size(t)) == 0, "row dequantization differs from the element-wise rounding");
      }
  }
  // Quantizing rows (AVX2 where there is) agrees with the element-wise
  // division, also where the fast path's product lands near a rounding
  // boundary (values at and around half-integer multiples of the step).
  for (int round = 0; round < 300; ++round) {
    const size_t n = 1 + rng() % 300;
    std::vector<float> x(n);
    std::vector<uint16_t> half(n), brain(n);
    std::vector<double> step(n), inverse(n);
    std::vector<float> inverse32(n);
    // Every fifth round, steps from 2^124 to 2^128 (f32 data near its largest
    // values, whose reciprocals are not all normal floats) and codes of a few units.
    const bool huge = round % 5 == 4;
    for (size_t i = 0; i < n; ++i) {
      step[i] = kv::step_for_index(huge ? 16 * 124 + static_cast<int>(rng() % 64) : static_cast<int>(rng() % 400) - 200);
      inverse[i] = 1 / step[i];
      inverse32[i] = static_cast<float>(inverse[i]);
      const double k = static_cast<double>(static_cast<int64_t>(rng() % (huge ? 4 : 2000)) - (huge ? 2 : 1000)) + (rng() % 2 ? 0.5 : 0.0);
      const int kind = static_cast<int>(rng() % 4);
      const double v = kind == 0 ? k * step[i] : kind == 1 ? std::nextafter(k * step[i], 1e300) : kind == 2 ? std::nextafter(k * step[i], -1e300)
                                                                                                      : std::ldexp(static_cast<double>(rng() % 100000) - 50000, static_cast<int>(rng() % 40) - 20);
      x[i] = static_cast<float>(v);
      half[i] = kv::double_to_f16(v);
      brain[i] = kv::double_to_bf16(v);
    }
    if (round % 10 == 0) x[rng() % n] = round % 20 ? INFINITY : NAN;
    for (kv::DType t : {kv::DType::F32, kv::DType::F16, kv::DType::BF16}) {
      const void* row = t == kv::DType::F32 ? static_cast<const void*>(x.data()) : t == kv::DType::F16 ? half.data() : brain.data();
      for (size_t stride : {size_t(0), size_t(1)}) {
        const size_t rows = stride ? n : 1;
        std::vector<float> lo(rows, INFINITY), hi(rows, -INFINITY), lo2 = lo, hi2 = hi;
        std::vector<uint8_t> bad(rows, 0), bad2 = bad, out(rows, 0), out2 = out;
        std::vector<int32_t> base(rows, INT32_MAX), base2 = base, q(n), q2(n);
        kv::extent_rows(t, row, 1, kv::RowExtent{lo.data(), hi.data(), bad.data(), stride}, n);
        kv::quantize_rows(t, row, 1, kv::RowCoder{step.data(), inverse.data(), inverse32.data(), base.data(), out.data(), stride}, q.data(), n);
        const kv::RowExtent e{lo2.data(), hi2.data(), bad2.data(), stride};
        const kv::RowCoder c{step.data(), inverse.data(), inverse32.data(), base2.data(), out2.data(), stride};
        for (size_t i = 0; i < n; ++i) kv::extend(e, i * stride, kv::load_element(row, t, i)), q2[i] = kv::quantize_one(c, i * stride, kv::load_element(row, t, i));
        expect(bad == bad2 && out == out2, "row quantization flags differ from the element-wise ones");
        for (size_t r = 0; r < rows; ++r)
          if (!bad[r]) expect(lo[r] == lo2[r] && hi[r] == hi2[r], "row extents differ from the element-wise ones");
        for (size_t i = 0; i < n; ++i)
          if (!out[i * stride] && !bad[i * stride]) expect(q[i] == q2[i], "row codes differ from the element-wise division");
        for (size_t r = 0; r < rows; ++r)
          if (!out[r] && !bad[r]) expect(base[r] == base2[r], "row code minimum differs");
        // Several token rows in one call (a tile's way) equal a call a row.
        const size_t m = 1 + rng() % 40, count = n / m, rows_of = stride ? m : count;
        if (count > 1) {
          std::vector<float> lo_all(rows_of, INFINITY), hi_all(rows_of, -INFINITY), lo_each = lo_all, hi_each = hi_all;
          std::vector<uint8_t> bad_all(rows_of, 0), bad_each = bad_all, out_all(rows_of, 0), out_each = out_all;
          std::vector<int32_t> base_all(rows_of, INT32_MAX), base_each = base_all, q_all(count * m), q_each(count * m);
          const kv::RowExtent e_all{lo_all.data(), hi_all.data(), bad_all.data(), stride}, e_each{lo_each.data(), hi_each.data(), bad_each.data(), stride};
          const kv::RowCoder c_all{step.data(), inverse.data(), inverse32.data(), base_all.data(), out_all.data(), stride},
              c_each{step.data(), inverse.data(), inverse32.data(), base_each.data(), out_each.data(), stride};
          kv::extent_rows(t, row, count, e_all, m);
          kv::quantize_rows(t, row, count, c_all, q_all.data(), m);
          for (size_t k = 0; k < count; ++k) {
            const void* one = static_cast<const uint8_t*>(row) + k * m * kv::dtype_size(t);
            kv::extent_rows(t, one, 1, kv::row_view(e_each, k), m);
            kv::quantize_rows(t, one, 1, kv::row_view(c_each, k), q_each.data() + k * m, m);
          }
          expect(lo_all == lo_each && hi_all == hi_each && bad_all == bad_each && out_all == out_each && base_all == base_each && q_all == q_each,
                 "rows quantized in one call differ from a call a row");
        }
        // maxError's quantizing with the check of the decoded row (values on
        // and beside the bound: x is often a half-integer multiple of the
        // step): the same codes, and the check's answer element by element.
        std::vector<uint8_t> decoded(n * kv::dtype_size(t)), scratch(decoded.size());
        kv::dequantize_row(t, q.data(), step.data(), stride, decoded.data(), n);
        for (double bound : {0.5 * step[0], 0.5 * step[n - 1], 1e-300, 1e300}) {
          bool each = true;
          for (size_t i = 0; i < n; ++i) each &= kv::within_one(t, row, decoded.data(), bound, i);
          std::vector<int32_t> base3(rows, INT32_MAX), q3(n);
          std::vector<uint8_t> out3(rows, 0);
          const bool within = kv::quantize_row_within(t, row, kv::RowCoder{step.data(), inverse.data(), inverse32.data(), base3.data(), out3.data(), stride},
                                                      q3.data(), bound, scratch.data(), n);
          expect(within == each, "maxError's row check differs from the element-wise one");
          expect(q3 == q && base3 == base && out3 == out, "maxError's row codes differ from quantize_rows'");
        }
      }
    }
  }
  // A row's squared error (AVX2 where there is) against the four chains
  // added element by element, with NaN and infinities in skipped channels.
  for (int round = 0; round < 200; ++round) {
    const size_t n = 1 + rng() % 300;
    std::vector<float> x(n), y(n);
    std::vector<uint16_t> hx(n), hy(n), bx(n), by(n);
    std::vector<uint8_t> skip(n);
    for (size_t i = 0; i < n; ++i) {
      skip[i] = rng() % 5 == 0;
      const double a = std::ldexp(static_cast<double>(rng() % 20001) - 10000, static_cast<int>(rng() % 16) - 12);
      // Near a, or far in magnitude (then the difference needs more than 26 bits and its square rounds).
      const double near = a + std::ldexp(static_cast<double>(rng() % 201) - 100, -10);
      const double far = std::ldexp(static_cast<double>(rng() % 2000001) - 1000000, static_cast<int>(rng() % 40) - 30);
      const double b = skip[i] && rng() % 2 ? (rng() % 2 ? NAN : INFINITY) : rng() % 3 ? near : far;
      x[i] = static_cast<float>(a), y[i] = static_cast<float>(b);
      hx[i] = kv::double_to_f16(a), hy[i] = kv::double_to_f16(b), bx[i] = kv::double_to_bf16(a), by[i] = kv::double_to_bf16(b);
    }
    for (kv::DType t : {kv::DType::F32, kv::DType::F16, kv::DType::BF16}) {
      const void* row = t == kv::DType::F32 ? static_cast<const void*>(x.data()) : t == kv::DType::F16 ? hx.data() : bx.data();
      const void* dec = t == kv::DType::F32 ? static_cast<const void*>(y.data()) : t == kv::DType::F16 ? hy.data() : by.data();
      for (const uint8_t* s : {static_cast<const uint8_t*>(nullptr), static_cast<const uint8_t*>(skip.data())}) {
        double c[4] = {0, 0, 0, 0};
        size_t d = 0;
        for (; d + 4 <= n; d += 4)
          for (int k = 0; k < 4; ++k) c[k] += kv::squared_one(t, dec, row, s, d + k);
        for (; d < n; ++d) c[0] += kv::squared_one(t, dec, row, s, d);
        const double want = (c[0] + c[1]) + (c[2] + c[3]), got = kv::row_squared_error(t, dec, row, s, n);
        // Without skips a NaN or infinity makes the sum NaN, whose payload may differ.
        expect(std::memcmp(&want, &got, 8) == 0 || (!s && std::isnan(want) && std::isnan(got)), "row squared error differs from the element-wise chains");
      }
    }
  }
  // Ties round to even, and one step past the largest finite value overflows.
  expect(kv::double_to_f16(1.0 + 0x1p-11) == 0x3c00 && kv::double_to_f16(1.0 + 3 * 0x1p-11) == 0x3c02, "f16 ties");
  expect(kv::double_to_f16(65520.0) == 0x7c00 && kv::double_to_f16(65519.99) == 0x7bff, "f16 overflow");
}

// step_index_for against its definition, the smallest index whose step is
// >= d, found by search: d on, just above and just below every step, and
// random d from below the smallest step to beyond the largest; every step's
// reciprocal from the table against the division.
void check_step_index() {
  auto search = [](double d, int* index) {
    int e = kv::kStepIndexMin;
    while (e < kv::kStepIndexMax && kv::step_for_index(e) < d) ++e;
    *index = e;
    return kv::step_for_index(e) >= d;
  };
  auto same = [&](double d) {
    int want = 0, got = 0;
    const bool want_ok = search(d, &want), got_ok = kv::step_index_for(d, &got);
    expect(want_ok == got_ok && want == got, "step_index_for(" + std::to_string(d) + ")");
  };
  for (int e = kv::kStepIndexMin; e <= kv::kStepIndexMax; ++e) {
    const double s = kv::step_for_index(e);
    expect(kv::inverse_step_for_index(e) == 1 / s, "inverse_step_for_index(" + std::to_string(e) + ")");
    same(s);
    same(std::nextafter(s, 0.0));
    same(std::nextafter(s, 1e300));
  }
  std::mt19937_64 rng(17);
  for (int i = 0; i < 20000; ++i) same(std::ldexp(1.0 + static_cast<double>(rng() >> 12) * 0x1p-52, static_cast<int>(rng() % 300) - 150));
  for (double d : {0x1p-1074, 0x1p-1022, 0x1p-129, 1e300, 0x1.fffffffffffffp+1023}) same(d);
}

// The packed form of a row of offsets, a bit at a time (bits above `width` dropped).
std::vector<uint8_t> packed_reference(const std::vector<uint32_t>& off, uint32_t width) {
  std::vector<uint8_t> out(kv::packed_row_bytes(off.size(), width), 0);
  for (size_t i = 0; i < off.size(); ++i)
    for (uint32_t b = 0; b < width; ++b)
      if (off[i] >> b & 1) out[(i * width + b) / 8] |= static_cast<uint8_t>(1u << ((i * width + b) % 8));
  return out;
}

// pack_row / unpack_row against a bit-at-a-time reference, for every
// width and lengths of every residue modulo 8; unpacking ignores the last
// byte's unused bits.
void check_packing() {
  const uint32_t example[3] = {1, 15, 2};
  uint8_t packed[2];
  kv::pack_row(example, 3, 4, packed);
  expect(packed[0] == 0xf1 && packed[1] == 0x02, "pack_row's documented example");
  std::mt19937 rng(5);
  for (uint32_t width = 0; width <= kv::kMaxPackedWidth; ++width)
    for (size_t n : {size_t(0), size_t(1), size_t(2), size_t(3), size_t(5), size_t(7), size_t(8), size_t(9), size_t(31), size_t(32), size_t(33), size_t(128)}) {
      std::vector<uint32_t> off(n), back(n);
      for (auto& v : off) v = width ? static_cast<uint32_t>(rng()) >> (32 - width) : 0;
      const size_t bytes = kv::packed_row_bytes(n, width);
      const std::vector<uint8_t> want = packed_reference(off, width);
      std::vector<uint8_t> got(bytes + 1, 0xa5);
      kv::pack_row(off.data(), n, width, got.data());
      const std::string where = "width " + std::to_string(width) + ", n " + std::to_string(n);
      expect(std::equal(want.begin(), want.end(), got.begin()) && got[bytes] == 0xa5, "pack_row, " + where);
      if (bytes && (n * width) % 8) got[bytes - 1] |= static_cast<uint8_t>(0xff << ((n * width) % 8));
      kv::unpack_row(got.data(), n, width, back.data());
      expect(back == off, "unpack_row, " + where);
    }
}

// pack_offsets_rows and offsets_or (AVX2 where there is) against the same
// reference: one row or three, codes minus a base per channel or per row,
// widths the SIMD path takes (2, 4, 8, 9-16) and others, lengths around its
// 16- and 32-offset blocks, and offsets too wide for `width` (only the
// returned OR counts then); nothing may be written past the last row.
void check_pack_offsets() {
  std::mt19937 rng(9);
  for (uint32_t width : {0u, 1u, 2u, 3u, 4u, 5u, 8u, 9u, 10u, 11u, 12u, 13u, 14u, 15u, 16u, 17u, 31u})
    for (size_t n : {size_t(1), size_t(15), size_t(16), size_t(17), size_t(23), size_t(24), size_t(32), size_t(40), size_t(47), size_t(48), size_t(64),
                     size_t(128), size_t(130)})
      for (size_t stride : {size_t(0), size_t(1)})
        for (size_t count : {size_t(1), size_t(3)})
          for (int wide : {0, 1}) {
            std::vector<int32_t> q(n * count), base(stride ? n : count);
            for (auto& b : base) b = static_cast<int32_t>(rng() % 2000) - 1000;
            std::vector<uint8_t> want;
            uint32_t want_or = 0;
            for (size_t r = 0; r < count; ++r) {
              std::vector<uint32_t> off(n);
              for (size_t i = 0; i < n; ++i) {
                off[i] = width ? static_cast<uint32_t>(rng()) >> (32 - width) : 0;
                if (wide && r == count / 2 && i == n / 2) off[i] |= 1u << std::min(width, 29u);
                want_or |= off[i];
                q[r * n + i] = (stride ? base[i] : base[r]) + static_cast<int32_t>(off[i]);
              }
              const std::vector<uint8_t> row = packed_reference(off, width);
              want.insert(want.end(), row.begin(), row.end());
            }
            std::vector<uint8_t> got(want.size() + 16, 0x5a);
            const uint32_t any = kv::pack_offsets_rows(q.data(), base.data(), stride, width, got.data(), n, count);
            const std::string where = "width " + std::to_string(width) + ", n " + std::to_string(n) + ", stride " + std::to_string(stride) +
                                      ", rows " + std::to_string(count);
            expect(any == want_or, "pack_offsets_rows's OR, " + where);
            expect(kv::offsets_or(q.data(), base.data(), stride, n, count) == want_or, "offsets_or, " + where);
            expect(std::all_of(got.begin() + static_cast<std::ptrdiff_t>(want.size()), got.end(), [](uint8_t b) { return b == 0x5a; }),
                   "pack_offsets_rows wrote past the rows, " + where);
            if (!wide) expect(std::equal(want.begin(), want.end(), got.begin()), "pack_offsets_rows, " + where);
          }
}

void check_crc32c() {
  // The standard check value, and the hardware path against the table on every length and offset.
  const char* digits = "123456789";
  expect(kv::crc32c_table(reinterpret_cast<const uint8_t*>(digits), 9) == 0xE3069283u, "crc32c check value");
  std::mt19937 rng(11);
  std::vector<uint8_t> buf(300);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t off = 0; off < 8; ++off)
    for (size_t n = 0; n + off <= buf.size(); n += 7)
      expect(kv::crc32c(buf.data() + off, n, 0x1234u) == kv::crc32c_table(buf.data() + off, n, 0x1234u), "crc32c paths differ");
  // Long inputs (three streams at once), around whole rounds of 3 KiB.
  buf.resize(20000);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t n : {size_t(3071), size_t(3072), size_t(3073), size_t(6144), size_t(6151), size_t(9216 + 5), size_t(19999)})
    expect(kv::crc32c(buf.data() + n % 7, n, 0xFEEDu) == kv::crc32c_table(buf.data() + n % 7, n, 0xFEEDu), "crc32c paths differ on long inputs");
}

void check_rans() {
  std::mt19937 rng(7);
  for (size_t n : {size_t(0), size_t(1), size_t(3), size_t(5), size_t(4096), size_t(100000)}) {
    for (double skew : {0.05, 0.5, 3.0}) {
      std::geometric_distribution<int> geo(1.0 / (1.0 + skew * 20));
      std::vector<uint8_t> sym(n);
      for (auto& s : sym) s = static_cast<uint8_t>(std::min(geo(rng), 255));
      kv::ByteWriter w;
      kv::put_stream(w, sym.data(), n);
      kv::ByteReader r(w.buffer().data(), w.size(), "check");
      std::vector<uint8_t> back(n);
      kv::get_stream(r, back.data(), n);
      expect(back == sym && r.left() == 0, "rANS round trip, n = " + std::to_string(n));
    }
  }
}

// count_symbols and count_symbol_runs (pairs of small symbols counted
// jointly, the rest one by one) against a plain count: lengths of every
// residue modulo 8, small and wide symbols mixed at every rate.
void check_count_symbols() {
  std::mt19937 rng(11);
  for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(9), size_t(63), size_t(4099), size_t(65536)}) {
    for (double wide : {0.0, 0.01, 0.3, 1.0}) {
      std::vector<uint8_t> sym(n);
      for (auto& s : sym) s = static_cast<uint8_t>(std::uniform_real_distribution<double>(0, 1)(rng) < wide ? rng() : rng() % 16);
      uint32_t want[256] = {}, got[256];
      for (uint8_t s : sym) ++want[s];
      kv::count_symbols(sym.data(), n, got);
      expect(std::equal(want, want + 256, got), "count_symbols, n = " + std::to_string(n) + ", wide = " + std::to_string(wide));
      // Runs of 3 and 13 symbols out of every 4 and 16.
      for (size_t run : {size_t(3), size_t(13)}) {
        const size_t step = run < 8 ? 4 : 16, runs = n / step;
        uint32_t in_runs[256] = {};
        for (size_t k = 0; k < runs; ++k)
          for (size_t i = 0; i < run; ++i) ++in_runs[sym[k * step + i]];
        kv::count_symbol_runs(sym.data(), run, step, runs, got);
        expect(std::equal(in_runs, in_runs + 256, got), "count_symbol_runs, n = " + std::to_string(n) + ", run = " + std::to_string(run));
      }
    }
  }
}

// check_rans_lanes on one frequency table.
void check_rans_lanes_with(const uint32_t freq[256], bool simd, std::mt19937& rng) {
  std::vector<uint8_t> table_symbols;
  for (int s = 0; s < 256; ++s) table_symbols.insert(table_symbols.end(), freq[s], static_cast<uint8_t>(s));
  auto decode = [&](const uint8_t* p, size_t len, size_t n, bool simd, std::vector<uint8_t>& out) {
    out.assign(n, 0);
    try {
      kv::decode_lanes(p, len, freq, out.data(), n, simd);
      return std::string();
    } catch (const Error& e) {
      return std::string(e.what());
    }
  };
  for (size_t n : {size_t(0), size_t(31), size_t(32), size_t(33), size_t(1000), size_t(16384), size_t(20011)}) {
    std::vector<uint8_t> sym(n);
    for (auto& s : sym) s = table_symbols[rng() % table_symbols.size()];
    std::vector<uint8_t> buf, a, b;
    const uint8_t* p = kv::encode_lanes(sym.data(), n, freq, buf, false);
    const size_t len = static_cast<size_t>(buf.data() + buf.size() - p);
    if (simd) {
      std::vector<uint8_t> simd_buf;
      const uint8_t* q = kv::encode_lanes(sym.data(), n, freq, simd_buf, true);
      expect(std::equal(p, p + len, q, static_cast<const uint8_t*>(simd_buf.data() + simd_buf.size())), "rANS lanes SIMD encoder differs, n = " + std::to_string(n));
    }
    expect(decode(p, len, n, false, a).empty() && a == sym, "rANS lanes portable round trip, n = " + std::to_string(n));
    if (!simd) continue;
    expect(decode(p, len, n, true, b).empty() && b == sym, "rANS lanes SIMD round trip, n = " + std::to_string(n));
    for (int round = 0; round < 20 && len > 0; ++round) {
      std::vector<uint8_t> bad(p, p + len);
      bad[rng() % len] ^= static_cast<uint8_t>(1 + rng() % 255);
      const size_t cut = round % 4 == 0 ? rng() % len : len;
      const std::string ea = decode(bad.data(), cut, n, false, a), eb = decode(bad.data(), cut, n, true, b);
      expect(ea == eb && (!ea.empty() || a == b), "rANS lanes decoders differ on a damaged payload, n = " + std::to_string(n));
    }
  }
}

// The 32-lane rANS layout: round trips on every length modulo the lanes,
// and (where the CPU has AVX2) the SIMD encoder and decoder against the
// portable ones, their twins: the same bytes out of the encoders; on intact
// and damaged payloads the decoders must fail alike or decode the same bytes.
// Five tables: 41 symbols with geometric frequencies (many of 1), all 256
// with random ones, one symbol taking all but two units, and symbols 0-15
// alone or with 255 (the SIMD encoder's path for groups all below 16, alone
// and mixed with groups that are not).
void check_rans_lanes() {
  const bool simd = cpu_has_avx2_fma();
  std::mt19937 rng(13);
  for (int shape = 0; shape < 5; ++shape) {
    uint32_t freq[256] = {};
    uint32_t left = kv::kProbScale;
    if (shape == 0) {
      for (int s = 0; s < 40 && left > 1; ++s) left -= freq[s * 5] = std::max(1u, left / 3);
    } else if (shape == 1) {
      for (int s = 0; s < 255; ++s) left -= freq[s] = 1 + rng() % 15;
    } else if (shape == 2) {
      freq[7] = freq[200] = 1;
      left -= 2;
    } else {
      for (int s = 0; s < 16; ++s) left -= freq[s] = std::max(1u, left / 4);
    }
    if (shape == 3) freq[0] += left;
    else freq[255] += left;
    check_rans_lanes_with(freq, simd, rng);
  }
}

void check_round_trips() {
  const uint32_t heads = 3, tokens = 300, dim = 24;
  std::vector<float> f32 = synthetic(heads, tokens, dim, 99);
  f32[5] = NAN;
  f32[77] = INFINITY;
  std::vector<uint16_t> bf16(f32.size());
  for (size_t i = 0; i < f32.size(); ++i) bf16[i] = kv::double_to_bf16(f32[i]);
  for (DType dtype : {DType::F32, DType::BF16}) {
    const void* data = dtype == DType::F32 ? static_cast<const void*>(f32.data()) : bf16.data();
    kv::Layout l;
    l.codec.dtype = dtype;
    l.heads = heads;
    l.tokens = tokens;
    l.head_dim = dim;
    l.tile_tokens = 128;
    std::vector<uint8_t> bytes = kv::encode(l, data, 2, nullptr);
    const kv::Parsed parsed = kv::parse(bytes.data(), bytes.size());
    std::vector<uint8_t> out(l.elements() * kv::dtype_size(dtype));
    kv::decode(parsed, bytes.data(), tokens, out.data(), 1, nullptr);
    expect(std::memcmp(out.data(), data, out.size()) == 0, "lossless round trip");
    for (int bits : {0, 4}) {
      l.codec.mode = kv::Mode::Lossy;
      l.codec.bits = bits;
      l.codec.max_error = bits ? 0 : 0.01;
      bytes = kv::encode(l, data, 1, nullptr);
      kv::decode(kv::parse(bytes.data(), bytes.size()), bytes.data(), tokens, out.data(), 2, nullptr);
      // Packed codes are the same codes: the same values decoded, kind for kind.
      for (kv::Kind kind : {kv::Kind::Key, kv::Kind::Value}) {
        l.codec.kind = kind;
        std::vector<uint8_t> coded(out.size()), packed(out.size());
        bytes = kv::encode(l, data, 1, nullptr);
        kv::decode(kv::parse(bytes.data(), bytes.size()), bytes.data(), tokens, coded.data(), 1, nullptr);
        l.codec.packed = true;
        bytes = kv::encode(l, data, 2, nullptr);
        kv::decode(kv::parse(bytes.data(), bytes.size()), bytes.data(), tokens, packed.data(), 1, nullptr);
        expect(coded == packed, std::string("packed codes decode as the coded ones, bits ") + std::to_string(bits));
        l.codec.packed = false;
      }
      l.codec.kind = kv::Kind::Auto;
      if (bits) continue;
      for (size_t i = 0; i < l.elements(); ++i) {
        const double a = kv::load_element(data, dtype, i), b = kv::load_element(out.data(), dtype, i);
        expect(a == b || (std::isnan(a) && std::isnan(b)) || std::fabs(a - b) <= 0.01, "maxError bound");
      }
    }
  }
}

// The CUDA quantizer, packer and dequantizer against their CPU twins, bit for bit.
void check_cuda_twins(Context& ctx) {
  if (!ctx.has_cuda()) return;
  const uint32_t heads = 4, tokens = 1000, dim = 64, tile = 256;
  std::vector<float> f32 = synthetic(heads, tokens, dim, 5);
  f32[1234] = NAN;
  for (kv::Kind kind : {kv::Kind::Key, kv::Kind::Value})
    for (int bits : {0, 2, 4, 8}) {
      kv::CodecParams p;
      p.mode = kv::Mode::Lossy;
      p.bits = bits;
      p.max_error = bits ? 0 : 0.003;
      std::vector<kv::Quantized> gpu, gpu_of_pack;
      std::vector<uint32_t> widths;
      std::vector<std::vector<uint8_t>> packed;
      cuda::kv_quantize(p, kind, f32.data(), heads, tokens, dim, tile, gpu);
      cuda::kv_quantize_pack(p, kind, f32.data(), heads, tokens, dim, tile, gpu_of_pack, widths, packed);
      std::vector<float> from_gpu(f32.size()), from_cpu(f32.size());
      cuda::kv_dequantize(p, gpu, f32.data(), heads, tokens, dim, tile, from_gpu.data());
      const uint32_t blocks = (tokens + tile - 1) / tile;
      for (uint32_t h = 0; h < heads; ++h)
        for (uint32_t b = 0; b < blocks; ++b) {
          const uint32_t t0 = b * tile, n = std::min(tile, tokens - t0);
          const size_t first = (static_cast<size_t>(h) * tokens + t0) * dim;
          kv::Quantized cpu;
          kv::quantize(p, kind, f32.data() + first, n, dim, cpu);
          const kv::Quantized& g = gpu[h * blocks + b];
          expect(cpu.q == g.q && cpu.base == g.base && cpu.step_index == g.step_index && cpu.raw == g.raw,
                 "CUDA kv_quantize differs from the CPU twin");
          const kv::Quantized& gp = gpu_of_pack[h * blocks + b];
          expect(gp.q == g.q && gp.base == g.base && gp.step_index == g.step_index && gp.raw == g.raw,
                 "CUDA kv_quantize_pack's tiles differ from kv_quantize's");
          const uint32_t width = kv::packed_width(cpu);
          std::vector<uint8_t> cpu_packed(kv::packed_row_bytes(dim, width) * n);
          kv::pack_codes(cpu, width, cpu_packed.data());
          expect(widths[h * blocks + b] == width && packed[h * blocks + b] == cpu_packed,
                 "CUDA kv_quantize_pack's packed rows differ from the CPU twin");
          kv::dequantize(p, cpu, f32.data() + first, from_cpu.data() + first);
        }
      expect(same_bits(from_gpu, from_cpu), "CUDA kv_dequantize differs from the CPU twin");
    }
}

void time_codec(Context& ctx) {
  const uint32_t heads = 8, tokens = 4096, dim = 128;
  std::vector<float> f32 = synthetic(heads, tokens, dim, 3);
  const double gb = f32.size() * 4.0 / 1e9;
  kv::Layout l;
  l.heads = heads;
  l.tokens = tokens;
  l.head_dim = dim;
  for (int bits : {-1, 4, 5}) {  // 5: bits 4, packed
    l.codec.mode = bits < 0 ? kv::Mode::Lossless : kv::Mode::Lossy;
    l.codec.bits = bits < 0 ? 0 : 4;
    l.codec.packed = bits == 5;
    l.codec.kind = kv::Kind::Key;
    std::vector<uint8_t> bytes;
    const double te = time_median(3, [&] { bytes = kv::encode(l, f32.data(), 1, nullptr); });
    const kv::Parsed parsed = kv::parse(bytes.data(), bytes.size());
    std::vector<float> out(f32.size());
    const double td = time_median(3, [&] { kv::decode(parsed, bytes.data(), tokens, out.data(), 1, nullptr); });
    std::printf("  kv %s f32 [8, 4096, 128], 1 thread: %.2f bits/el, encode %.3f GB/s, decode %.3f GB/s\n",
                bits < 0 ? "lossless" : bits == 4 ? "bits 4  " : "bits 4 packed", bytes.size() * 8.0 / f32.size(), gb / te, gb / td);
  }
  kv::CodecParams p;
  p.mode = kv::Mode::Lossy;
  p.bits = 4;
  kv::Quantized q;
  const double tq = time_median(3, [&] {
    for (uint32_t h = 0; h < heads; ++h)
      for (uint32_t t0 = 0; t0 < tokens; t0 += 256)
        kv::quantize(p, kv::Kind::Key, f32.data() + (static_cast<size_t>(h) * tokens + t0) * dim, 256, dim, q);
  });
  std::printf("  kv quantize only (bits 4, key), 1 thread: %.3f GB/s\n", gb / tq);
  if (ctx.has_cuda()) {
    std::vector<kv::Quantized> tiles;
    float ms = 0;
    cuda::kv_quantize(p, kv::Kind::Key, f32.data(), heads, tokens, dim, 256, tiles, &ms);
    std::printf("  kv quantize cuda kernel: %.3f ms, %.1f GB/s of input\n", ms, gb / (ms / 1e3));
    std::vector<float> out(f32.size());
    cuda::kv_dequantize(p, tiles, f32.data(), heads, tokens, dim, 256, out.data(), &ms);
    std::printf("  kv dequantize cuda kernel: %.3f ms, %.1f GB/s of output\n", ms, gb / (ms / 1e3));
    std::vector<uint32_t> widths;
    std::vector<std::vector<uint8_t>> packed;
    cuda::kv_quantize_pack(p, kv::Kind::Key, f32.data(), heads, tokens, dim, 256, tiles, widths, packed, &ms);
    std::printf("  kv quantize+pack cuda kernels: %.3f ms, %.1f GB/s of input\n", ms, gb / (ms / 1e3));
  }
}

}  // namespace

void check_kv(Context& ctx) {
  check_half_conversions();
  check_step_index();
  check_packing();
  check_pack_offsets();
  check_crc32c();
  check_rans();
  check_count_symbols();
  check_rans_lanes();
  check_round_trips();
  check_cuda_twins(ctx);
  if (ctx.timings) time_codec(ctx);
}

}  // namespace llmk::selftest
