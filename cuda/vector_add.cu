// CUDA twin of native/vector/vector_add.cc: one thread per element.
#include "../native/common/cuda_api.h"
#include "common.cuh"

namespace llmk::cuda {

namespace {
__global__ void vector_add_kernel(const float* a, const float* b, float* out, size_t n) {
  size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = __fadd_rn(a[i], b[i]);  // no contraction: same bits as the CPU
}
}  // namespace

void vector_add(const float* a, const float* b, float* out, size_t n) {
  require_device();
  if (n == 0) return;
  const size_t bytes = n * sizeof(float);
  DeviceBuffer da(bytes), db(bytes), dout(bytes);
  check(cudaMemcpy(da.ptr, a, bytes, cudaMemcpyHostToDevice), "cudaMemcpy a");
  check(cudaMemcpy(db.ptr, b, bytes, cudaMemcpyHostToDevice), "cudaMemcpy b");
  const int block = 256;
  const size_t grid = (n + block - 1) / block;
  vector_add_kernel<<<static_cast<unsigned>(grid), block>>>(da.as<float>(), db.as<float>(), dout.as<float>(), n);
  check(cudaGetLastError(), "vector_add_kernel launch");
  check(cudaMemcpy(out, dout.ptr, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy out");
}

}  // namespace llmk::cuda
