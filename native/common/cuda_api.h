// What the addon and the self-test need from the CUDA side. The CUDA build
// links cuda/*.cu; the CPU build links native/common/no_cuda.cc, which reports
// that CUDA is not compiled in. No other file needs an #ifdef.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../bleu/bleu.h"

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

}  // namespace llmk::cuda
