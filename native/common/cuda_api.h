// What the addon and the self-test need from the CUDA side. The CUDA build
// links cuda/*.cu; the CPU build links native/common/no_cuda.cc, which reports
// that CUDA is not compiled in. No other file needs an #ifdef.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../bleu/bleu.h"
#include "../kv/codec.h"

namespace llmk::cuda {

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;
  size_t memory_bytes = 0;
};

bool compiled();  // true in the CUDA build
// Devices visible to this process; when none, `why` says why (not compiled,
// no driver, no device, ...).
std::vector<DeviceInfo> devices(std::string* why);

// out[i] = a[i] + b[i] on device 0. Throws llmk::Error when unavailable.
void vector_add(const float* a, const float* b, float* out, size_t n);

// bleu::compute_stats on device 0, identical statistics. The batch must
// already have passed bleu::validate.
void bleu_stats(const bleu::Batch& batch, int max_order, uint32_t* out);

// The lossy KV quantizer on device 0: kv::quantize of every tile of a
// [heads, tokens, dim] tensor (tile_tokens tokens a tile, tiles ordered by
// head then block), giving the same codes, bases, steps and raw rows as the
// CPU twin. The entropy coding of the codes stays on the CPU. `kernel_ms`,
// when given, receives the kernel time without transfers.
void kv_quantize(const kv::CodecParams& p, kv::Kind kind, const void* data, uint32_t heads, uint32_t tokens,
                 uint32_t dim, uint32_t tile_tokens, std::vector<kv::Quantized>& tiles, float* kernel_ms = nullptr);

// kv_quantize, then kv::pack_codes of every tile at kv::packed_width (the
// `entropy: false` form's codes) on device 0: the same tiles, widths and
// packed rows as the CPU twins. `kernel_ms`: all four kernels, no transfers.
void kv_quantize_pack(const kv::CodecParams& p, kv::Kind kind, const void* data, uint32_t heads, uint32_t tokens,
                      uint32_t dim, uint32_t tile_tokens, std::vector<kv::Quantized>& tiles, std::vector<uint32_t>& widths,
                      std::vector<std::vector<uint8_t>>& packed, float* kernel_ms = nullptr);

// kv::dequantize of those tiles on device 0 into `out` ([heads, tokens, dim]);
// raw rows are copied from `raw_source` (same layout).
void kv_dequantize(const kv::CodecParams& p, const std::vector<kv::Quantized>& tiles, const void* raw_source,
                   uint32_t heads, uint32_t tokens, uint32_t dim, uint32_t tile_tokens, void* out,
                   float* kernel_ms = nullptr);

}  // namespace llmk::cuda
