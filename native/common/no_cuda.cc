// The CPU build's stand-in for cuda/: CUDA is not compiled into this binary.
#include "cuda_api.h"
#include "error.h"

namespace llmk::cuda {

bool compiled() { return false; }

std::vector<DeviceInfo> devices(std::string* why) {
  if (why) *why = "this binary was built without CUDA (npm run build:cuda builds the CUDA variant)";
  return {};
}

namespace {
[[noreturn]] void not_compiled() {
  throw Error(ErrorKind::Generic, "ERR_LLMK_NO_CUDA", "CUDA is not compiled into this binary");
}
}  // namespace

void vector_add(const float*, const float*, float*, size_t) { not_compiled(); }
void bleu_stats(const bleu::Batch&, int, uint32_t*) { not_compiled(); }
void kv_quantize(const kv::CodecParams&, kv::Kind, const void*, uint32_t, uint32_t, uint32_t, uint32_t,
                 std::vector<kv::Quantized>&, float*) {
  not_compiled();
}
void kv_quantize_pack(const kv::CodecParams&, kv::Kind, const void*, uint32_t, uint32_t, uint32_t, uint32_t,
                      std::vector<kv::Quantized>&, std::vector<uint32_t>&, std::vector<std::vector<uint8_t>>&, float*) {
  not_compiled();
}
void kv_dequantize(const kv::CodecParams&, const std::vector<kv::Quantized>&, const void*, uint32_t, uint32_t, uint32_t,
                   uint32_t, void*, float*) {
  not_compiled();
}

}  // namespace llmk::cuda
