// Device discovery for info() and backend selection.
#include "../native/common/cuda_api.h"
#include "common.cuh"

namespace llmk::cuda {

bool compiled() { return true; }

std::vector<DeviceInfo> devices(std::string* why) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    if (why) *why = std::string("no usable CUDA device: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later queries start clean
    return {};
  }
  std::vector<DeviceInfo> out;
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) continue;
    out.push_back({prop.name, prop.major, prop.minor, prop.totalGlobalMem});
  }
  if (out.empty() && why) *why = "the CUDA runtime reports no device";
  return out;
}

void require_device() {
  std::string why;
  if (devices(&why).empty()) throw Error(ErrorKind::Generic, "ERR_LLMK_NO_CUDA_DEVICE", why);
}

}  // namespace llmk::cuda
